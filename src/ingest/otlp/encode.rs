//! Model → OTLP/HTTP protobuf requests: what forwarding sends upstream
//! when it cannot send the request as received (that is when storing
//! changed it, or it came as JSON or over gRPC). Spans and log records are
//! encoded from what lookout stores (after validation, limits and
//! redaction), so an upstream never receives what lookout itself would
//! not keep. Metrics are forwarded as received (lookout does not redact
//! them), re-encoded from the decoded request.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpLogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan, Status};
use prost::Message;

use crate::model::{AttrValue, Attributes, LogBody, LogRecord, Scope, SpanBatch};

fn any(value: &AttrValue) -> AnyValue {
    let value = match value {
        AttrValue::String(text) => Some(any_value::Value::StringValue(text.clone())),
        AttrValue::Bool(flag) => Some(any_value::Value::BoolValue(*flag)),
        AttrValue::Int(number) => Some(any_value::Value::IntValue(*number)),
        AttrValue::Double(number) => Some(any_value::Value::DoubleValue(*number)),
        AttrValue::Bytes(bytes) => Some(any_value::Value::BytesValue(bytes.clone())),
        AttrValue::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(any).collect(),
        })),
        AttrValue::KvList(pairs) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: key_values(pairs),
        })),
        AttrValue::Empty => None,
    };
    AnyValue { value }
}

fn key_values(attributes: &Attributes) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: Some(any(value)),
            ..Default::default()
        })
        .collect()
}

fn json_any(value: &serde_json::Value) -> AnyValue {
    use serde_json::Value;
    let value = match value {
        Value::Null => None,
        Value::Bool(flag) => Some(any_value::Value::BoolValue(*flag)),
        Value::Number(number) => Some(match number.as_i64() {
            Some(int) => any_value::Value::IntValue(int),
            None => any_value::Value::DoubleValue(number.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(text) => Some(any_value::Value::StringValue(text.clone())),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(json_any).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: map
                .iter()
                .map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: Some(json_any(value)),
                    ..Default::default()
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

fn scope(scope: &Scope) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: scope.name.clone(),
        version: scope.version.clone(),
        ..Default::default()
    })
}

fn resource(attributes: &Attributes) -> Option<OtlpResource> {
    Some(OtlpResource {
        attributes: key_values(attributes),
        ..Default::default()
    })
}

/// An `ExportTraceServiceRequest` of the batch: one `ResourceSpans` per
/// resource, one `ScopeSpans` per scope within it.
pub fn encode_spans(batch: &SpanBatch) -> Vec<u8> {
    let mut resource_spans: Vec<ResourceSpans> = batch
        .resources
        .iter()
        .map(|r| ResourceSpans {
            resource: resource(&r.attributes),
            ..Default::default()
        })
        .collect();
    // Each (resource, scope) pair's place among its resource's scopes:
    // found once, not by comparing names for every span.
    let mut places: HashMap<(usize, usize), usize> = HashMap::new();
    for span in &batch.spans {
        let Some(target) = resource_spans.get_mut(span.resource) else {
            continue;
        };
        let place = *places
            .entry((span.resource, span.scope))
            .or_insert_with(|| {
                target.scope_spans.push(ScopeSpans {
                    scope: scope(&batch.scopes.get(span.scope).cloned().unwrap_or_default()),
                    ..Default::default()
                });
                target.scope_spans.len() - 1
            });
        let scope_spans = &mut target.scope_spans[place];
        scope_spans.spans.push(OtlpSpan {
            trace_id: span.trace_id.0.to_vec(),
            span_id: span.span_id.0.to_vec(),
            parent_span_id: span
                .parent_span_id
                .map(|id| id.0.to_vec())
                .unwrap_or_default(),
            name: span.name.clone(),
            kind: span.kind as i32,
            start_time_unix_nano: u64::try_from(span.start.0).unwrap_or(0),
            end_time_unix_nano: u64::try_from(span.end.0).unwrap_or(0),
            attributes: key_values(&span.attributes),
            events: span
                .events
                .iter()
                .map(|event| Event {
                    time_unix_nano: u64::try_from(event.time.0).unwrap_or(0),
                    name: event.name.clone(),
                    attributes: key_values(&event.attributes),
                    ..Default::default()
                })
                .collect(),
            links: span
                .links
                .iter()
                .map(|link| Link {
                    trace_id: link.trace_id.0.to_vec(),
                    span_id: link.span_id.0.to_vec(),
                    trace_state: link.trace_state.clone(),
                    attributes: key_values(&link.attributes),
                    ..Default::default()
                })
                .collect(),
            status: Some(Status {
                code: span.status_code as i32,
                message: span.status_message.clone(),
            }),
            ..Default::default()
        });
    }
    resource_spans.retain(|r| !r.scope_spans.is_empty());
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

/// An `ExportLogsServiceRequest` of the records, consecutive records of
/// the same resource and scope sharing one `ResourceLogs`/`ScopeLogs`.
pub fn encode_logs(records: &[LogRecord]) -> Vec<u8> {
    let mut resource_logs: Vec<ResourceLogs> = Vec::new();
    let mut last: Option<(&Attributes, &Scope)> = None;
    for record in records {
        let same_resource = last.is_some_and(|(resource, _)| *resource == record.resource);
        if !same_resource {
            resource_logs.push(ResourceLogs {
                resource: resource(&record.resource),
                ..Default::default()
            });
        }
        let Some(target) = resource_logs.last_mut() else {
            continue;
        };
        let same_scope = same_resource && last.is_some_and(|(_, scope)| *scope == record.scope);
        if !same_scope || target.scope_logs.is_empty() {
            target.scope_logs.push(ScopeLogs {
                scope: scope(&record.scope),
                ..Default::default()
            });
        }
        last = Some((&record.resource, &record.scope));
        let Some(scope_logs) = target.scope_logs.last_mut() else {
            continue;
        };
        scope_logs.log_records.push(OtlpLogRecord {
            time_unix_nano: u64::try_from(record.timestamp.0).unwrap_or(0),
            observed_time_unix_nano: u64::try_from(record.observed_timestamp.0).unwrap_or(0),
            severity_number: record.severity_number,
            severity_text: record.severity_text.clone(),
            body: Some(match &record.body {
                LogBody::Text(text) => AnyValue {
                    value: Some(any_value::Value::StringValue(text.clone())),
                },
                LogBody::Json(value) => json_any(value),
            }),
            attributes: key_values(&record.attributes),
            trace_id: record.trace_id.map(|id| id.0.to_vec()).unwrap_or_default(),
            span_id: record.span_id.map(|id| id.0.to_vec()).unwrap_or_default(),
            ..Default::default()
        });
    }
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

/// The metric export as it was received.
pub fn encode_metrics(export: &ExportMetricsServiceRequest) -> Vec<u8> {
    export.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp::{convert_logs, convert_traces, decode_logs, decode_traces, Encoding};
    use crate::ingest::Limits;
    use crate::model::{TimeWindow, UnixNanos};

    const TRACE: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"shop"}},
        {"key":"host.name","value":{"stringValue":"edge-1"}}]},
      "scopeSpans":[{"scope":{"name":"lib","version":"1.2"},"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
         "name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000000",
         "endTimeUnixNano":"1700000000005000000",
         "attributes":[{"key":"n","value":{"intValue":"3"}},
                       {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"doubleValue":1.5}]}}}],
         "events":[{"timeUnixNano":"1700000000001000000","name":"retry",
                    "attributes":[{"key":"attempt","value":{"intValue":"2"}}]}],
         "links":[{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175","traceState":"x=1"}],
         "status":{"code":2,"message":"boom"}},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176",
         "parentSpanId":"eee19b7ec3c1b174","name":"child","kind":3,
         "startTimeUnixNano":"1700000000001000000","endTimeUnixNano":"1700000000002000000"}]}]}]}"#;

    #[test]
    fn spans_encoded_decode_to_the_same_batch() {
        let limits = Limits::default();
        let decoded = decode_traces(TRACE.as_bytes(), Encoding::Json).expect("json");
        let batch = convert_traces(decoded, &limits).batch;
        assert_eq!(batch.spans.len(), 2);
        let again = decode_traces(&encode_spans(&batch), Encoding::Protobuf).expect("protobuf");
        assert_eq!(convert_traces(again, &limits).batch, batch);
    }

    #[test]
    fn log_records_encoded_decode_to_the_same_records() {
        let body = r#"{"resourceLogs":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"shop"}}]},
          "scopeLogs":[{"scope":{"name":"app"},"logRecords":[
            {"timeUnixNano":"1700000000000000000","observedTimeUnixNano":"1700000000000000001",
             "severityNumber":17,"severityText":"ERROR","body":{"stringValue":"card declined"},
             "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
             "attributes":[{"key":"order","value":{"intValue":"7"}}]},
            {"timeUnixNano":"1700000000000000002","severityNumber":9,
             "body":{"kvlistValue":{"values":[{"key":"event","value":{"stringValue":"login"}},
                                               {"key":"ok","value":{"boolValue":true}}]}}}]}]}]}"#;
        let limits = Limits::default();
        let now = UnixNanos(1_700_000_100_000_000_000);
        let window = TimeWindow::kept(std::time::Duration::from_secs(86_400), now);
        let convert = |bytes: &[u8], encoding| {
            convert_logs(
                decode_logs(bytes, encoding).expect("decodes"),
                &limits,
                window,
                now,
            )
            .records
        };
        let records = convert(body.as_bytes(), Encoding::Json);
        assert_eq!(records.len(), 2);
        assert_eq!(convert(&encode_logs(&records), Encoding::Protobuf), records);
    }
}
