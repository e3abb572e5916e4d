//! The Jaeger query API's JSON (Jaeger's `model/json`, what its UI and
//! Grafana's Jaeger data source read): the `{data, total, limit, offset,
//! errors}` envelope, traces with microsecond times, `references`,
//! `processes` and typed `tags`, and dependency links. OTLP data is
//! mapped as the OpenTelemetry Collector's Jaeger translator maps it:
//! span kind, status and scope become tags, events become logs (an
//! `event` field with the name), links become `FOLLOWS_FROM` references,
//! the resource (without `service.name`) the process's tags.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use crate::model::{AttrValue, Attributes, SpanKind, StatusCode, UnixNanos};
use crate::query::graph::Edge;
use crate::store::sqlite::read::{OperationInfo, StoredSpan, StoredTrace};

/// Jaeger's envelope around every answer.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    pub data: Option<T>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<Vec<ErrorDto>>,
}

impl<T: Serialize> Envelope<T> {
    /// `data` with `total` items.
    pub fn new(data: T, total: usize) -> Envelope<T> {
        Envelope {
            data: Some(data),
            total,
            limit: 0,
            offset: 0,
            errors: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorDto {
    pub code: u16,
    pub msg: String,
}

/// The answer of a failed request: no data, one error.
pub fn error_envelope(code: u16, msg: String) -> Envelope<()> {
    Envelope {
        data: None,
        total: 0,
        limit: 0,
        offset: 0,
        errors: Some(vec![ErrorDto { code, msg }]),
    }
}

#[derive(Debug, Serialize)]
pub struct OperationDto {
    pub name: String,
    #[serde(rename = "spanKind")]
    pub span_kind: &'static str,
}

impl OperationDto {
    pub fn new(operation: &OperationInfo) -> OperationDto {
        OperationDto {
            name: operation.name.clone(),
            span_kind: kind_name(operation.span_kind),
        }
    }
}

/// Jaeger's span kind names; unspecified is empty.
pub fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "",
        other => other.as_str(),
    }
}

#[derive(Debug, Serialize)]
pub struct KeyValueDto {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: Value,
}

impl KeyValueDto {
    fn new(key: &str, value: &AttrValue) -> KeyValueDto {
        let (kind, value) = match value {
            AttrValue::String(text) => ("string", Value::String(text.clone())),
            AttrValue::Bool(flag) => ("bool", Value::Bool(*flag)),
            AttrValue::Int(number) => ("int64", Value::from(*number)),
            AttrValue::Double(_) => ("float64", value.to_json()),
            AttrValue::Bytes(bytes) => (
                "binary",
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            ),
            // Jaeger has no lists or maps: their JSON text, as the
            // Collector's translator writes them.
            AttrValue::Array(_) | AttrValue::KvList(_) => {
                ("string", Value::String(value.to_json().to_string()))
            }
            AttrValue::Empty => ("string", Value::String(String::new())),
        };
        KeyValueDto {
            key: key.to_string(),
            kind,
            value,
        }
    }

    fn text(key: &str, value: &str) -> KeyValueDto {
        KeyValueDto::new(key, &AttrValue::String(value.to_string()))
    }

    fn all(attributes: &Attributes) -> Vec<KeyValueDto> {
        attributes
            .iter()
            .map(|(key, value)| KeyValueDto::new(key, value))
            .collect()
    }
}

#[derive(Debug, Serialize)]
pub struct ReferenceDto {
    #[serde(rename = "refType")]
    pub ref_type: &'static str,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Serialize)]
pub struct LogDto {
    pub timestamp: i64,
    pub fields: Vec<KeyValueDto>,
}

#[derive(Debug, Serialize)]
pub struct SpanDto {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    pub references: Vec<ReferenceDto>,
    #[serde(rename = "startTime")]
    pub start_time: i64,
    pub duration: i64,
    pub tags: Vec<KeyValueDto>,
    pub logs: Vec<LogDto>,
    #[serde(rename = "processID")]
    pub process_id: String,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct ProcessDto {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    pub tags: Vec<KeyValueDto>,
}

#[derive(Debug, Serialize)]
pub struct TraceDto {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<SpanDto>,
    pub processes: HashMap<String, ProcessDto>,
    pub warnings: Option<Vec<String>>,
}

fn micros(nanos: UnixNanos) -> i64 {
    nanos.0.div_euclid(1_000)
}

impl TraceDto {
    pub fn new(trace: StoredTrace) -> TraceDto {
        let trace_id = trace.trace_id.to_hex();
        // One process per service and resource, numbered in span order
        // ("p1", "p2", … as Jaeger numbers them).
        let mut process_ids: HashMap<(String, *const Attributes), String> = HashMap::new();
        let mut processes = HashMap::new();
        let spans = trace
            .spans
            .into_iter()
            .map(|span| {
                let key = (span.service.clone(), Arc::as_ptr(&span.resource));
                let next = process_ids.len() + 1;
                let process_id = process_ids
                    .entry(key)
                    .or_insert_with(|| {
                        let id = format!("p{next}");
                        processes.insert(id.clone(), process(&span));
                        id
                    })
                    .clone();
                span_dto(&trace_id, span, process_id)
            })
            .collect();
        TraceDto {
            trace_id,
            spans,
            processes,
            warnings: None,
        }
    }
}

fn process(span: &StoredSpan) -> ProcessDto {
    ProcessDto {
        service_name: span.service.clone(),
        tags: span
            .resource
            .iter()
            .filter(|(key, _)| key != "service.name")
            .map(|(key, value)| KeyValueDto::new(key, value))
            .collect(),
    }
}

fn span_dto(trace_id: &str, span: StoredSpan, process_id: String) -> SpanDto {
    let mut references = Vec::with_capacity(span.links.len() + 1);
    if let Some(parent) = span.parent_span_id {
        references.push(ReferenceDto {
            ref_type: "CHILD_OF",
            trace_id: trace_id.to_string(),
            span_id: parent.to_hex(),
        });
    }
    references.extend(span.links.iter().map(|link| ReferenceDto {
        ref_type: "FOLLOWS_FROM",
        trace_id: link.trace_id.to_hex(),
        span_id: link.span_id.to_hex(),
    }));
    let mut tags = KeyValueDto::all(&span.attributes);
    if !span.scope.name.is_empty() {
        tags.push(KeyValueDto::text("otel.scope.name", &span.scope.name));
    }
    if !span.scope.version.is_empty() {
        tags.push(KeyValueDto::text("otel.scope.version", &span.scope.version));
    }
    if span.kind != SpanKind::Unspecified {
        tags.push(KeyValueDto::text("span.kind", span.kind.as_str()));
    }
    match span.status_code {
        StatusCode::Unset => {}
        StatusCode::Ok => tags.push(KeyValueDto::text("otel.status_code", "OK")),
        StatusCode::Error => {
            tags.push(KeyValueDto::text("otel.status_code", "ERROR"));
            tags.push(KeyValueDto::new("error", &AttrValue::Bool(true)));
        }
    }
    if !span.status_message.is_empty() {
        tags.push(KeyValueDto::text(
            "otel.status_description",
            &span.status_message,
        ));
    }
    let logs = span
        .events
        .iter()
        .map(|event| {
            let mut fields = Vec::with_capacity(event.attributes.len() + 1);
            if !event.name.is_empty() {
                fields.push(KeyValueDto::text("event", &event.name));
            }
            fields.extend(KeyValueDto::all(&event.attributes));
            LogDto {
                timestamp: micros(event.time),
                fields,
            }
        })
        .collect();
    SpanDto {
        trace_id: trace_id.to_string(),
        span_id: span.span_id.to_hex(),
        operation_name: span.name,
        references,
        start_time: micros(span.start),
        duration: span.duration_nanos.div_euclid(1_000),
        tags,
        logs,
        process_id,
        warnings: None,
    }
}

#[derive(Debug, Serialize)]
pub struct DependencyDto {
    pub parent: String,
    pub child: String,
    #[serde(rename = "callCount")]
    pub call_count: i64,
}

impl DependencyDto {
    pub fn new(edge: &Edge) -> DependencyDto {
        DependencyDto {
            parent: edge.parent.clone(),
            child: edge.child.clone(),
            call_count: edge.call_count,
        }
    }
}
