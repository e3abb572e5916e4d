//! OTLP `AnyValue`s and attributes → model values, within the limits
//! (values truncated, extra attributes dropped, deep nesting cut; each cut
//! counted for the partial-success message).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use crate::ingest::Limits;
use crate::model::{AttrValue, Attributes};

/// Deepest AnyValue nesting kept; deeper values are cut (and counted).
const MAX_VALUE_DEPTH: usize = 16;

/// Cuts `text` to at most `max` bytes on a character boundary, counting
/// the cut in `trimmed`.
pub(crate) fn truncate(mut text: String, max: usize, trimmed: &mut u64) -> String {
    if crate::ingest::limits::truncate_utf8(&mut text, max) {
        *trimmed += 1;
    }
    text
}

pub(crate) fn convert_attributes(
    attributes: Vec<KeyValue>,
    limits: &Limits,
    trimmed: &mut u64,
) -> Attributes {
    if attributes.len() > limits.max_attributes {
        *trimmed += (attributes.len() - limits.max_attributes) as u64;
    }
    attributes
        .into_iter()
        .take(limits.max_attributes)
        .map(|kv| {
            let value = convert_value(kv.value, limits, trimmed, 0);
            (kv.key, value)
        })
        .collect()
}

pub(crate) fn convert_value(
    value: Option<AnyValue>,
    limits: &Limits,
    trimmed: &mut u64,
    depth: usize,
) -> AttrValue {
    let Some(value) = value.and_then(|v| v.value) else {
        return AttrValue::Empty;
    };
    if depth >= MAX_VALUE_DEPTH {
        *trimmed += 1;
        return AttrValue::Empty;
    }
    match value {
        any_value::Value::StringValue(s) => {
            AttrValue::String(truncate(s, limits.max_attribute_value_bytes, trimmed))
        }
        any_value::Value::BoolValue(b) => AttrValue::Bool(b),
        any_value::Value::IntValue(i) => AttrValue::Int(i),
        any_value::Value::DoubleValue(d) => AttrValue::Double(d),
        any_value::Value::BytesValue(mut b) => {
            if b.len() > limits.max_attribute_value_bytes {
                b.truncate(limits.max_attribute_value_bytes);
                *trimmed += 1;
            }
            AttrValue::Bytes(b)
        }
        any_value::Value::ArrayValue(array) => AttrValue::Array(
            array
                .values
                .into_iter()
                .take(limits.max_attributes)
                .map(|item| convert_value(Some(item), limits, trimmed, depth + 1))
                .collect(),
        ),
        any_value::Value::KvlistValue(list) => AttrValue::KvList(
            list.values
                .into_iter()
                .take(limits.max_attributes)
                .map(|kv| {
                    let value = convert_value(kv.value, limits, trimmed, depth + 1);
                    (kv.key, value)
                })
                .collect(),
        ),
        // Only meaningful for the profiling signal: treat as absent, as the
        // OTLP spec asks of other signals.
        any_value::Value::StringValueStrindex(_) => AttrValue::Empty,
    }
}

/// `service.name` of a resource, or `unknown_service` as the OpenTelemetry
/// spec prescribes when it is absent or empty.
pub(crate) fn service_name(resource: &Attributes) -> String {
    resource
        .iter()
        .find_map(|(key, value)| match (key.as_str(), value) {
            ("service.name", AttrValue::String(name)) if !name.is_empty() => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "unknown_service".to_string())
}
