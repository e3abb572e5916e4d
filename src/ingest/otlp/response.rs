//! OTLP success answers: `Export*ServiceResponse` with `partial_success`,
//! as messages (gRPC) or bodies in the request's encoding (HTTP). (Error bodies, the
//! `google.rpc.Status`, are built by `web::error` with every other error.)

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use super::Encoding;

/// What an export request answers when it was stored: how many items
/// were refused, and why (empty when all were kept as sent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    pub rejected: u64,
    pub message: String,
}

impl Accepted {
    /// Whether the answer carries a `partial_success`.
    fn partial(&self) -> bool {
        self.rejected > 0 || !self.message.is_empty()
    }

    fn rejected(&self) -> i64 {
        i64::try_from(self.rejected).unwrap_or(i64::MAX)
    }
}

/// The body in the request's encoding.
fn encode<T: Message + serde::Serialize>(response: &T, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

pub fn trace_response(accepted: Accepted) -> ExportTraceServiceResponse {
    let partial_success = accepted.partial().then(|| ExportTracePartialSuccess {
        rejected_spans: accepted.rejected(),
        error_message: accepted.message,
    });
    ExportTraceServiceResponse { partial_success }
}

pub fn logs_response(accepted: Accepted) -> ExportLogsServiceResponse {
    let partial_success = accepted.partial().then(|| ExportLogsPartialSuccess {
        rejected_log_records: accepted.rejected(),
        error_message: accepted.message,
    });
    ExportLogsServiceResponse { partial_success }
}

pub fn metrics_response(accepted: Accepted) -> ExportMetricsServiceResponse {
    let partial_success = accepted.partial().then(|| ExportMetricsPartialSuccess {
        rejected_data_points: accepted.rejected(),
        error_message: accepted.message,
    });
    ExportMetricsServiceResponse { partial_success }
}

/// The `ExportTraceServiceResponse` body in the request's encoding.
pub fn encode_trace_response(accepted: Accepted, encoding: Encoding) -> Vec<u8> {
    encode(&trace_response(accepted), encoding)
}

pub fn encode_logs_response(accepted: Accepted, encoding: Encoding) -> Vec<u8> {
    encode(&logs_response(accepted), encoding)
}

pub fn encode_metrics_response(accepted: Accepted, encoding: Encoding) -> Vec<u8> {
    encode(&metrics_response(accepted), encoding)
}
