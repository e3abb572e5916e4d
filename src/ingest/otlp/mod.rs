//! OTLP ingest: decoding OTLP/HTTP requests (protobuf or JSON), converting
//! traces, logs and metrics into model types with per-item validation, and
//! the success answers with `partial_success`.
//!
//! Wire types (`opentelemetry_proto`) stay inside this module; the one
//! exception is [`grpc`], the generated OTLP/gRPC services and their
//! messages, which `web::grpc` implements.

mod decode;
mod encode;
mod exponential;
mod logs;
pub mod metric_names;
mod metrics;
mod response;
mod traces;
mod values;

pub use decode::{decode_logs, decode_metrics, decode_traces, Encoding};
pub use encode::{encode_logs, encode_metrics, encode_spans};
pub use logs::{convert_logs, ConvertedLogs};
pub use metrics::{convert_metrics, ConvertedMetrics};
pub use response::{
    encode_logs_response, encode_metrics_response, encode_trace_response, logs_response,
    metrics_response, trace_response, Accepted,
};

/// The OTLP/gRPC services (tonic's generated servers) and the messages
/// they carry.
pub mod grpc {
    pub use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
        LogsService, LogsServiceServer,
    };
    pub use opentelemetry_proto::tonic::collector::logs::v1::{
        ExportLogsServiceRequest, ExportLogsServiceResponse,
    };
    pub use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
        MetricsService, MetricsServiceServer,
    };
    pub use opentelemetry_proto::tonic::collector::metrics::v1::{
        ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    };
    pub use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    pub use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
}
pub use traces::{convert_traces, Converted};
