//! OTLP/HTTP ingest: decoding requests (protobuf or JSON), converting
//! traces, logs and metrics into model types with per-item validation, and the
//! success bodies with `partial_success`.
//!
//! Wire types (`opentelemetry_proto`) stay inside this module.

mod decode;
mod exponential;
mod logs;
pub mod metric_names;
mod metrics;
mod response;
mod traces;
mod values;

pub use decode::{decode_logs, decode_metrics, decode_traces, Encoding};
pub use logs::{convert_logs, ConvertedLogs};
pub use metrics::{convert_metrics, ConvertedMetrics};
pub use response::{encode_logs_response, encode_metrics_response, encode_trace_response};
pub use traces::{convert_traces, Converted};
