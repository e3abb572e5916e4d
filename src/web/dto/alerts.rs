//! Alert request bodies read from JSON into `alerts::rules::RuleInput`,
//! with a [`FieldError`] naming the field whose type is wrong or that is
//! not known. (The response shapes live in `alerts::wire`, which
//! notifications share.)

use serde_json::{Map, Value};

use crate::alerts::rules::{ChannelInput, FieldError, RuleInput};

/// Fields a fetched rule carries that a client may send back unchanged.
const READ_ONLY: &[&str] = &[
    "id",
    "state",
    "last_value",
    "last_error",
    "last_evaluated_at",
    "created_at",
    "updated_at",
];

fn string(field: &str, value: &Value) -> Result<Option<String>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        _ => Err(FieldError::new(field, "must be a string")),
    }
}

fn number(field: &str, value: &Value) -> Result<Option<f64>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => number
            .as_f64()
            .map(Some)
            .ok_or_else(|| FieldError::new(field, "must be a number")),
        _ => Err(FieldError::new(field, "must be a number")),
    }
}

fn integer(field: &str, value: &Value) -> Result<Option<i64>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(number) => number
            .as_i64()
            .map(Some)
            .ok_or_else(|| FieldError::new(field, "must be a whole number")),
        _ => Err(FieldError::new(field, "must be a whole number")),
    }
}

fn object<'a>(field: &str, value: &'a Value) -> Result<&'a Map<String, Value>, FieldError> {
    value
        .as_object()
        .ok_or_else(|| FieldError::new(field, "must be an object"))
}

/// A rule body: an object of the rule's fields.
pub fn rule_input(body: &Value) -> Result<RuleInput, FieldError> {
    let fields = object("body", body)?;
    let mut input = RuleInput::default();
    for (name, value) in fields {
        let field = name.as_str();
        match field {
            "name" => input.name = string(field, value)?,
            "description" => input.description = string(field, value)?,
            "kind" => input.kind = string(field, value)?,
            "service" => input.service = string(field, value)?,
            "operation" => input.operation = string(field, value)?,
            "query" => input.query = string(field, value)?,
            "metric" => input.metric = string(field, value)?,
            "percentile" => input.percentile = number(field, value)?,
            "condition" => input.condition = string(field, value)?,
            "threshold" => input.threshold = number(field, value)?,
            "recovery_threshold" => input.recovery_threshold = number(field, value)?,
            "window_minutes" => input.window_minutes = integer(field, value)?,
            "for_minutes" => input.for_minutes = integer(field, value)?,
            "keep_firing_minutes" => input.keep_firing_minutes = integer(field, value)?,
            "no_data" => input.no_data = string(field, value)?,
            "severity" => input.severity = string(field, value)?,
            "cooldown_minutes" => input.cooldown_minutes = integer(field, value)?,
            "repeat_minutes" => input.repeat_minutes = integer(field, value)?,
            "enabled" => {
                input.enabled = match value {
                    Value::Null => None,
                    Value::Bool(on) => Some(*on),
                    _ => return Err(FieldError::new(field, "must be true or false")),
                }
            }
            "labels" => {
                if !value.is_null() {
                    let mut labels = Vec::new();
                    for (label, text) in object(field, value)? {
                        let name = format!("labels.{label}");
                        let text = string(&name, text)?
                            .ok_or_else(|| FieldError::new(name, "must be a string"))?;
                        labels.push((label.clone(), text));
                    }
                    input.labels = Some(labels);
                }
            }
            "channels" => {
                if !value.is_null() {
                    let items = value
                        .as_array()
                        .ok_or_else(|| FieldError::new(field, "must be a list"))?;
                    let mut channels = Vec::new();
                    for (index, item) in items.iter().enumerate() {
                        channels.push(channel_input(index, item)?);
                    }
                    input.channels = Some(channels);
                }
            }
            _ if READ_ONLY.contains(&field) => {}
            _ => return Err(FieldError::new(field, "is not a field of a rule")),
        }
    }
    Ok(input)
}

fn channel_input(index: usize, item: &Value) -> Result<ChannelInput, FieldError> {
    let prefix = format!("channels[{index}]");
    let fields = object(&prefix, item)?;
    let mut input = ChannelInput::default();
    for (name, value) in fields {
        let field = format!("{prefix}.{name}");
        match name.as_str() {
            "type" => input.kind = string(&field, value)?,
            "url" => input.url = string(&field, value)?,
            "secret" => input.secret = string(&field, value)?,
            _ => return Err(FieldError::new(field, "is not a field of a channel")),
        }
    }
    Ok(input)
}

/// The optional `{"by": "…"}` of an ack or resolve.
pub fn actor(body: &[u8]) -> Result<Option<String>, FieldError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| FieldError::new("body", format!("is not JSON: {error}")))?;
    let fields = object("body", &value)?;
    let mut by = None;
    for (name, value) in fields {
        match name.as_str() {
            "by" => by = string("by", value)?,
            _ => {
                return Err(FieldError::new(
                    name.as_str(),
                    "is not known here; only by is",
                ))
            }
        }
    }
    if let Some(name) = &by {
        if name.chars().count() > 200 {
            return Err(FieldError::new("by", "must be at most 200 characters"));
        }
    }
    Ok(by.filter(|name| !name.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_and_unknown_fields_are_named() {
        let field = |body: Value| rule_input(&body).expect_err("invalid").field;
        assert_eq!(field(json!({"threshold": "high"})), "threshold");
        assert_eq!(field(json!({"window_minutes": 1.5})), "window_minutes");
        assert_eq!(field(json!({"enabled": "yes"})), "enabled");
        assert_eq!(field(json!({"labels": {"team": 1}})), "labels.team");
        assert_eq!(
            field(json!({"channels": [{"type": "webhook", "uri": "x"}]})),
            "channels[0].uri"
        );
        assert_eq!(field(json!({"treshold": 1})), "treshold");
        assert_eq!(field(json!([1])), "body");
    }

    #[test]
    fn read_only_fields_are_ignored() {
        let input = rule_input(&json!({"id": "x", "state": "firing", "name": "n"})).expect("ok");
        assert_eq!(input.name.as_deref(), Some("n"));
    }
}
