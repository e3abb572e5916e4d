//! Domain types shared by every layer: ids, timestamps, attribute values and
//! the span record the pipeline carries from ingest to the store.
//!
//! This module does no I/O and depends on nothing internal. Wire formats
//! (OTLP protobuf/JSON) are converted into these types in `ingest`, and the
//! compact on-disk encoding lives in `store`.

/// An enum whose variants have fixed API and database names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in the API and the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The accepted names, for error messages: `a, b or c`.
            pub fn names() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                match names.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                    _ => names.join(""),
                }
            }
        }
    };
}

pub mod alert;
pub mod dashboard;
pub mod error_group;
pub mod exception;
mod histogram;
mod ids;
pub mod metric;
pub mod metric_batch;
pub mod security;
mod time;
mod window;

pub use histogram::{DurationHistogram, FIXED_BOUNDS_MS, RELATIVE_ERROR};
pub use ids::{IdError, SpanId, TraceId};
pub use time::{format_rfc3339, parse_time_param, UnixNanos};
pub use window::{TimeWindow, MAX_FUTURE};
mod log;
pub use log::*;

/// A field that is not acceptable, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An attribute value with the types OTLP's `AnyValue` can carry.
///
/// Arrays and key/value lists keep their structure so the API can return
/// them with their JSON types.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    /// Raw bytes; rendered as base64 on the API, as OTLP/JSON does.
    Bytes(Vec<u8>),
    Array(Vec<AttrValue>),
    KvList(Vec<(String, AttrValue)>),
    /// An `AnyValue` with no value set.
    Empty,
}

impl AttrValue {
    /// The value as JSON, keeping its type.
    pub fn to_json(&self) -> serde_json::Value {
        use base64::Engine as _;
        match self {
            AttrValue::String(s) => serde_json::Value::String(s.clone()),
            AttrValue::Bool(b) => serde_json::Value::Bool(*b),
            AttrValue::Int(i) => serde_json::Value::from(*i),
            AttrValue::Double(d) => serde_json::Number::from_f64(*d)
                .map(serde_json::Value::Number)
                // NaN and infinities have no JSON number; keep them readable.
                .unwrap_or_else(|| serde_json::Value::String(d.to_string())),
            AttrValue::Bytes(b) => {
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            AttrValue::Array(items) => {
                serde_json::Value::Array(items.iter().map(AttrValue::to_json).collect())
            }
            AttrValue::KvList(kvs) => serde_json::Value::Object(
                kvs.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            ),
            AttrValue::Empty => serde_json::Value::Null,
        }
    }

    /// The value's text form used by `attr=key=value` filters: strings as
    /// they are, numbers and booleans as their JSON text, structures as JSON.
    pub fn matches_text(&self, wanted: &str) -> bool {
        match self {
            AttrValue::String(s) => s == wanted,
            AttrValue::Bool(b) => (if *b { "true" } else { "false" }) == wanted,
            AttrValue::Int(i) => wanted.parse::<i64>().is_ok_and(|w| w == *i),
            AttrValue::Double(d) => wanted.parse::<f64>().is_ok_and(|w| w == *d),
            other => serde_json::to_string(&other.to_json()).is_ok_and(|text| text == wanted),
        }
    }
}

/// How an attribute filter compares: `key=value` matches the text form;
/// the others compare numbers (integers, doubles, or strings that are
/// numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrOp {
    Equal,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl AttrOp {
    /// The number SQL functions carry it as.
    pub fn code(self) -> i64 {
        match self {
            AttrOp::Equal => 0,
            AttrOp::Greater => 1,
            AttrOp::GreaterOrEqual => 2,
            AttrOp::Less => 3,
            AttrOp::LessOrEqual => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<AttrOp> {
        Some(match code {
            0 => AttrOp::Equal,
            1 => AttrOp::Greater,
            2 => AttrOp::GreaterOrEqual,
            3 => AttrOp::Less,
            4 => AttrOp::LessOrEqual,
            _ => return None,
        })
    }

    /// Whether `value op bound` holds (never for NaN).
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            AttrOp::Equal => value == bound,
            AttrOp::Greater => value > bound,
            AttrOp::GreaterOrEqual => value >= bound,
            AttrOp::Less => value < bound,
            AttrOp::LessOrEqual => value <= bound,
        }
    }
}

impl AttrValue {
    /// The value as a number for `>`, `>=`, `<`, `<=` filters: integers,
    /// doubles and strings that parse as numbers (HTTP status codes are
    /// sometimes sent as text).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            AttrValue::Int(i) => Some(*i as f64),
            AttrValue::Double(d) => Some(*d),
            AttrValue::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
    }
}

/// Ordered key/value attributes as received (OTLP keeps order; so do we).
pub type Attributes = Vec<(String, AttrValue)>;

/// OTLP span kind, stored as its protobuf number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub fn from_i32(value: i32) -> SpanKind {
        match value {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// OTLP status code, stored as its protobuf number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_i32(value: i32) -> StatusCode {
        match value {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub time: UnixNanos,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanLink {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Attributes,
}

/// The resource a span came from. `service` is `service.name`, or
/// `unknown_service` as the OpenTelemetry spec prescribes when it is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub service: String,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Scope {
    pub name: String,
    pub version: String,
}

/// One span, validated and ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    pub kind: SpanKind,
    pub start: UnixNanos,
    pub end: UnixNanos,
    pub status_code: StatusCode,
    pub status_message: String,
    pub attributes: Attributes,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    /// Index into the batch's `resources`.
    pub resource: usize,
    /// Index into the batch's `scopes`.
    pub scope: usize,
}

impl Span {
    pub fn duration_nanos(&self) -> i64 {
        self.end.0.saturating_sub(self.start.0).max(0)
    }
}

/// The spans of one ingest request, with their resources and scopes stored
/// once each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanBatch {
    pub resources: Vec<Resource>,
    pub scopes: Vec<Scope>,
    pub spans: Vec<Span>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_keep_their_json_types() {
        assert_eq!(AttrValue::Int(3).to_json(), serde_json::json!(3));
        assert_eq!(AttrValue::Bool(true).to_json(), serde_json::json!(true));
        assert_eq!(
            AttrValue::Array(vec![AttrValue::String("a".into()), AttrValue::Double(1.5)]).to_json(),
            serde_json::json!(["a", 1.5])
        );
        assert_eq!(
            AttrValue::KvList(vec![("k".into(), AttrValue::Int(1))]).to_json(),
            serde_json::json!({"k": 1})
        );
    }

    #[test]
    fn attribute_text_matching_follows_the_value_type() {
        assert!(AttrValue::Int(200).matches_text("200"));
        assert!(!AttrValue::Int(200).matches_text("20"));
        assert!(AttrValue::Bool(false).matches_text("false"));
        assert!(AttrValue::String("GET".into()).matches_text("GET"));
        assert!(AttrValue::Double(0.5).matches_text("0.5"));
    }
}
