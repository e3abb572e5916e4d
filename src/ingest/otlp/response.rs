//! OTLP/HTTP success bodies: `Export*ServiceResponse` with
//! `partial_success`, in the request's encoding. (Error bodies, the
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

/// The `ExportTraceServiceResponse` body in the request's encoding.
pub fn encode_trace_response(rejected: u64, message: String, encoding: Encoding) -> Vec<u8> {
    let partial_success =
        (rejected > 0 || !message.is_empty()).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message: message,
        });
    let response = ExportTraceServiceResponse { partial_success };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

pub fn encode_logs_response(rejected: u64, message: String, encoding: Encoding) -> Vec<u8> {
    let partial_success = (rejected > 0 || !message.is_empty()).then(|| ExportLogsPartialSuccess {
        rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: message,
    });
    let response = ExportLogsServiceResponse { partial_success };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

pub fn encode_metrics_response(rejected: u64, message: String, encoding: Encoding) -> Vec<u8> {
    let partial_success =
        (rejected > 0 || !message.is_empty()).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message: message,
        });
    let response = ExportMetricsServiceResponse { partial_success };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}
