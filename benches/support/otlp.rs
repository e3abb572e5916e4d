//! OTLP request bodies from records grouped by service: what every ingest
//! benchmark sends, one resource per service and one scope each.

// Each benchmark uses a subset of these helpers.
#![allow(dead_code)]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// An encoded `ExportTraceServiceRequest`: the spans of service `i` under
/// `resource(i)`; services without spans are left out.
pub fn traces_body(
    by_service: Vec<Vec<Span>>,
    resource: impl Fn(usize) -> Option<Resource>,
) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(service, spans)| ResourceSpans {
                resource: resource(service),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}

/// An encoded `ExportLogsServiceRequest`, grouped as [`traces_body`] is.
pub fn logs_body(
    by_service: Vec<Vec<LogRecord>>,
    resource: impl Fn(usize) -> Option<Resource>,
) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, records)| !records.is_empty())
            .map(|(service, records)| ResourceLogs {
                resource: resource(service),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}
