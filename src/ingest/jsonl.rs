//! JSON lines log ingest (`POST /api/ingest/logs`): one structured-log
//! object per line, from any of the common JSON loggers (structlog, pino,
//! bunyan, logrus, tracing-subscriber, ECS, Python logging), mapped onto the
//! OTLP log data model.
//!
//! Loggers disagree on key names (`msg`/`message`/`event`, `time`/`ts`/
//! `@timestamp`, pino's numeric levels against level names) and on nesting
//! (ECS writes `log.level` both as a dotted key and as `{"log":{"level":…}}`).
//! Each line is therefore first flattened into dotted keys, which makes the
//! flat and the nested spelling the same key; the well-known keys are then
//! taken out in a fixed order of preference, and every key left becomes an
//! attribute with its JSON type.
//!
//! A bad line is reported with its 1-based number and never stops the lines
//! after it. Nothing here panics on any input: the JSON parser bounds nesting
//! depth, and every conversion that can fail is checked.

use std::collections::HashSet;

use serde_json::{Map, Number, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::Limits;
use crate::model::{
    AttrValue, Attributes, IdError, LogBody, LogRecord, Scope, SpanId, TimeWindow, TraceId,
    UnixNanos,
};

/// Time keys, most preferred first. `created` is Python logging's unix
/// seconds; it comes after the generic keys, which are what a formatter
/// adds on purpose.
const TIME_KEYS: &[&str] = &["timestamp", "time", "ts", "@timestamp", "created"];
/// Python logging's formatted time: only a fallback, see [`take_time`].
const DISPLAY_TIME_KEY: &str = "asctime";
const LEVEL_KEYS: &[&str] = &["level", "severity", "levelname", "log.level"];
/// `fields.message` is normally lifted to `message` (see
/// [`Fields::lift_event_fields`]); it stays listed for the line that has
/// both.
const MESSAGE_KEYS: &[&str] = &["message", "msg", "event", "fields.message"];
const SERVICE_KEYS: &[&str] = &["service", "service.name"];
/// bunyan's and pino's logger name, which those loggers set to the
/// application's name.
const NODE_SERVICE_KEY: &str = "name";
const TRACE_ID_KEYS: &[&str] = &["trace_id", "traceId", "trace.id"];
const CORRELATION_ID_KEY: &str = "correlation_id";
const SPAN_ID_KEYS: &[&str] = &["span_id", "spanId", "span.id"];
/// tracing-subscriber's (and apex/log's) bag of event fields.
const EVENT_FIELDS_PREFIX: &str = "fields.";
const UNKNOWN_SERVICE: &str = "unknown_service";

/// Severity text longer than this is not a level name; it is cut, as OTLP
/// log ingest does.
const MAX_SEVERITY_TEXT_BYTES: usize = 64;
/// Messages are kept up to the attribute value limit but never cut below
/// this, as OTLP log ingest does: a stack trace is longer than a typical
/// attribute value.
const MIN_BODY_BYTES: usize = 64 * 1024;
/// Input quoted in an error message is cut to this many bytes so a bad
/// line cannot make the response as large as the request.
const MAX_QUOTED_BYTES: usize = 64;

/// One rejected line: its 1-based number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// The records of the accepted lines and the errors of the rejected ones.
/// Blank lines are in neither.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonLinesResult {
    pub records: Vec<LogRecord>,
    /// The 1-based line of each record (same index as `records`), so a
    /// record rejected later (for example for its time) is reported by line
    /// too.
    pub record_lines: Vec<usize>,
    pub errors: Vec<LineError>,
}

impl JsonLinesResult {
    /// Moves the records whose timestamp is outside `window` to the
    /// errors, reported by their line; errors end up sorted by line.
    pub fn reject_outside(self, window: &TimeWindow) -> JsonLinesResult {
        let mut kept = JsonLinesResult {
            errors: self.errors,
            ..JsonLinesResult::default()
        };
        for (record, line) in self.records.into_iter().zip(self.record_lines) {
            match window.check(record.timestamp) {
                Ok(()) => {
                    kept.records.push(record);
                    kept.record_lines.push(line);
                }
                Err(message) => kept.errors.push(LineError { line, message }),
            }
        }
        kept.errors.sort_by_key(|error| error.line);
        kept
    }
}

/// Parses a JSON lines body. Each non-blank line must be one JSON object;
/// `now` is the observed time of every record and the time of records that
/// carry none.
pub fn parse_json_lines(body: &[u8], limits: &Limits, now: UnixNanos) -> JsonLinesResult {
    let mut result = JsonLinesResult::default();
    for (index, raw) in body.split(|byte| *byte == b'\n').enumerate() {
        match parse_line(raw, limits, now) {
            Ok(Some(record)) => {
                result.records.push(record);
                result.record_lines.push(index + 1);
            }
            Ok(None) => {}
            Err(message) => result.errors.push(LineError {
                line: index + 1,
                message,
            }),
        }
    }
    result
}

/// One line to one record; `Ok(None)` for a blank line. A byte-order mark
/// and a trailing `\r` (files written on Windows) are ignored.
fn parse_line(raw: &[u8], limits: &Limits, now: UnixNanos) -> Result<Option<LogRecord>, String> {
    let text = std::str::from_utf8(raw).map_err(|error| {
        format!(
            "line is not valid UTF-8 (invalid byte at offset {})",
            error.valid_up_to()
        )
    })?;
    // JSON whitespace, `\r` included, is the parser's business; leaving it
    // in keeps the column of a syntax error the column in the line.
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text).map_err(|error| json_error(&error))?;
    let Value::Object(object) = value else {
        return Err(format!("expected a JSON object, got {}", kind(&value)));
    };
    convert_object(object, limits, now).map(Some)
}

/// serde_json's message names "line 1" for every line, since each is parsed
/// on its own; only the column is kept so the message fits the line number
/// it is reported with.
fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let reason = text
        .rfind(" at line ")
        .map_or(text.as_str(), |at| &text[..at]);
    format!("invalid JSON at column {}: {reason}", error.column())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Maps one object onto a record. The well-known keys are taken in a fixed
/// order because some decisions depend on earlier ones: bunyan's `name` is
/// only the service when the level was a pino/bunyan number.
///
/// A line without a message key gets an empty text body, and all its keys
/// stay attributes. The alternative, the whole object as a JSON body, would
/// either store every value twice (body and attributes) or make
/// `attributes.<key>` filters miss keys depending on whether an unrelated
/// `msg` key happened to be present; with an empty body every line of this
/// endpoint has the same shape and the same keys are filterable.
fn convert_object(
    object: Map<String, Value>,
    limits: &Limits,
    now: UnixNanos,
) -> Result<LogRecord, String> {
    let mut fields = Fields::flatten(object);
    let timestamp = take_time(&mut fields)?;
    let level = fields
        .take(LEVEL_KEYS, |_, value| Level::from_value(value))
        .unwrap_or_default();
    let message = fields.take(MESSAGE_KEYS, |_, value| value.as_str().map(str::to_owned));
    let service = take_service(&mut fields, level.from_node_logger)
        .map(|name| truncate(name, limits.max_attribute_value_bytes))
        .filter(|name| !name.is_empty());
    let trace_id = take_trace_id(&mut fields)?;
    let span_id = take_span_id(&mut fields);
    let body_limit = limits.max_attribute_value_bytes.max(MIN_BODY_BYTES);
    let mut record = LogRecord {
        timestamp,
        observed_timestamp: now,
        severity_number: level.number,
        severity_text: level.text,
        service: service.clone().unwrap_or_else(|| UNKNOWN_SERVICE.into()),
        body: LogBody::Text(message.map(|m| truncate(m, body_limit)).unwrap_or_default()),
        trace_id,
        span_id,
        attributes: fields.into_attributes(limits),
        // OTLP carries the service as a resource attribute; the same key
        // here makes `resource.service.name:…` match records from both.
        resource: service
            .map(|name| vec![("service.name".to_string(), AttrValue::String(name))])
            .unwrap_or_default(),
        scope: Scope::default(),
    };
    record.normalize();
    Ok(record)
}

/// The keys of one line after flattening, in the order serde_json's map
/// yields them (sorted by key: the map does not keep input order).
struct Fields(Vec<(String, Value)>);

impl Fields {
    /// Flattens nested objects into dotted keys (`{"http":{"method":"GET"}}`
    /// is `http.method`), so nested and dotted spellings are one key.
    /// Arrays and scalars are leaves; an empty object is kept as a leaf so
    /// its key is not lost.
    fn flatten(object: Map<String, Value>) -> Fields {
        let mut entries = Vec::with_capacity(object.len());
        flatten_into("", object, &mut entries);
        let mut fields = Fields(entries);
        fields.lift_event_fields();
        fields
    }

    /// tracing-subscriber writes an event's fields under `fields` unless
    /// configured with `flatten_event(true)`, which writes them at the top
    /// level. Lifting `fields.x` to `x` gives both configurations the same
    /// record, and lets `attributes.user_id:7` match tracing events as it
    /// matches every other logger. A lifted key that would collide with a
    /// top-level key keeps its prefix.
    fn lift_event_fields(&mut self) {
        let has_event_fields = self
            .0
            .iter()
            .any(|(key, _)| key.starts_with(EVENT_FIELDS_PREFIX));
        if !has_event_fields {
            return;
        }
        let present: HashSet<String> = self.0.iter().map(|(key, _)| key.clone()).collect();
        for (key, _) in &mut self.0 {
            if let Some(inner) = key.strip_prefix(EVENT_FIELDS_PREFIX) {
                if !present.contains(inner) {
                    *key = inner.to_string();
                }
            }
        }
    }

    /// Takes out the first of `keys` (in their order of preference) whose
    /// value `pick` accepts; `pick` gets the key for error messages. A key
    /// whose value is not accepted stays, and becomes an attribute.
    fn take<T>(
        &mut self,
        keys: &[&str],
        mut pick: impl FnMut(&str, &Value) -> Option<T>,
    ) -> Option<T> {
        for key in keys {
            let Some(index) = self.0.iter().position(|(name, _)| name == key) else {
                continue;
            };
            if let Some(picked) = pick(key, &self.0[index].1) {
                self.0.remove(index);
                return Some(picked);
            }
        }
        None
    }

    /// The remaining keys as attributes, within the limits: at most
    /// `max_attributes` of them, keys and string values cut to
    /// `max_attribute_value_bytes`. A key that appears twice after
    /// flattening (`{"a.b":1,"a":{"b":2}}`) keeps one value, the first in
    /// key order.
    fn into_attributes(self, limits: &Limits) -> Attributes {
        let mut seen = HashSet::new();
        let mut attributes = Vec::new();
        for (key, value) in self.0 {
            if attributes.len() >= limits.max_attributes {
                break;
            }
            let key = truncate(key, limits.max_attribute_value_bytes);
            if seen.insert(key.clone()) {
                attributes.push((key, attr_value(value, limits)));
            }
        }
        attributes
    }
}

/// Recursion depth is bounded by serde_json's nesting limit (128).
fn flatten_into(prefix: &str, object: Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (key, value) in object {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) if !inner.is_empty() => flatten_into(&path, inner, out),
            leaf => out.push((path, leaf)),
        }
    }
}

/// A JSON value as an attribute, keeping its type. Arrays stay arrays and
/// objects inside them stay key/value lists; both are cut to
/// `max_attributes` items, as OTLP ingest does.
fn attr_value(value: Value, limits: &Limits) -> AttrValue {
    match value {
        Value::Null => AttrValue::Empty,
        Value::Bool(flag) => AttrValue::Bool(flag),
        Value::Number(number) => number_value(&number),
        Value::String(text) => AttrValue::String(truncate(text, limits.max_attribute_value_bytes)),
        Value::Array(items) => AttrValue::Array(
            items
                .into_iter()
                .take(limits.max_attributes)
                .map(|item| attr_value(item, limits))
                .collect(),
        ),
        Value::Object(map) => AttrValue::KvList(
            map.into_iter()
                .take(limits.max_attributes)
                .map(|(key, item)| {
                    let key = truncate(key, limits.max_attribute_value_bytes);
                    (key, attr_value(item, limits))
                })
                .collect(),
        ),
    }
}

/// Integers that fit i64 stay integers; anything else (fractions, integers
/// past i64) is a double, the only other number type attributes have.
fn number_value(number: &Number) -> AttrValue {
    match (number.as_i64(), number.as_f64()) {
        (Some(integer), _) => AttrValue::Int(integer),
        (None, Some(double)) => AttrValue::Double(double),
        (None, None) => AttrValue::String(number.to_string()),
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    super::limits::truncate_utf8(&mut text, max);
    text
}

/// A short, bounded rendering of a value for an error message.
fn quote(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > MAX_QUOTED_BYTES {
        format!("{}…", truncate(text, MAX_QUOTED_BYTES))
    } else {
        text
    }
}

/// The event time in unix nanoseconds; 0 (the record then takes `now` in
/// `normalize`) when the line has none. A time key whose value cannot be
/// read as a time rejects the line: storing the record at the wrong time
/// would hide it from every time-range query.
///
/// Python's `asctime` is the exception: it is only used when no other time
/// key is present and it parses, and otherwise stays an attribute, because
/// its format is whatever the application's `datefmt` says.
fn take_time(fields: &mut Fields) -> Result<UnixNanos, String> {
    let strict = fields.take(TIME_KEYS, |key, value| {
        (!value.is_null()).then(|| {
            time_from_value(value)
                .ok_or_else(|| format!("unparseable time in `{key}`: {}", quote(value)))
        })
    });
    if let Some(parsed) = strict {
        return parsed.map(UnixNanos);
    }
    let display = fields.take(&[DISPLAY_TIME_KEY], |_, value| {
        value.as_str().and_then(time_from_text)
    });
    Ok(UnixNanos(display.unwrap_or(0)))
}

fn time_from_value(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => time_from_text(text),
        Value::Number(number) => time_from_number(number),
        _ => None,
    }
}

/// Numeric times are unix seconds, milliseconds, microseconds or
/// nanoseconds; loggers do not say which (pino writes ms, zap and Python
/// seconds, some Go loggers ns), so the magnitude decides. Current times
/// differ by a factor of 1000 between units, so the cut-offs below are
/// unambiguous from 1973 to the year 5138.
fn nanos_per_unit(magnitude: f64) -> i64 {
    if magnitude < 1e11 {
        1_000_000_000
    } else if magnitude < 1e14 {
        1_000_000
    } else if magnitude < 1e17 {
        1_000
    } else {
        1
    }
}

/// Negative numbers are refused: the magnitude rule means nothing for them.
fn time_from_number(number: &Number) -> Option<i64> {
    if let Some(integer) = number.as_i64() {
        return (integer >= 0)
            .then(|| integer.checked_mul(nanos_per_unit(integer as f64)))
            .flatten();
    }
    number.as_f64().and_then(time_from_float)
}

/// The whole and fractional parts are scaled separately so a float of
/// seconds keeps the sub-microsecond digits it has.
fn time_from_float(value: f64) -> Option<i64> {
    if !value.is_finite() || value < 0.0 || value >= i64::MAX as f64 {
        return None;
    }
    let per_unit = nanos_per_unit(value);
    let whole = value.trunc() as i64;
    let fraction = (value.fract() * per_unit as f64).round() as i64;
    whole.checked_mul(per_unit)?.checked_add(fraction)
}

/// RFC 3339, plus the near misses loggers write: a space instead of `T`,
/// a comma before the fraction (Python's `asctime`), `+hhmm` offsets, or
/// no offset at all (read as UTC: the only assumption a server can make).
/// Text that is a number is read as a numeric time.
fn time_from_text(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(datetime) = OffsetDateTime::parse(text, &Rfc3339) {
        return i64::try_from(datetime.unix_timestamp_nanos()).ok();
    }
    if let Some(nanos) = lenient_datetime(text) {
        return Some(nanos);
    }
    if let Ok(integer) = text.parse::<i64>() {
        return time_from_number(&Number::from(integer));
    }
    text.parse::<f64>().ok().and_then(time_from_float)
}

fn lenient_datetime(text: &str) -> Option<i64> {
    let compact_offset = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
    );
    let no_offset = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let normalized: String = text
        .char_indices()
        .map(|(at, c)| match c {
            ' ' | 't' if at == 10 => 'T',
            ',' => '.',
            other => other,
        })
        .collect();
    let datetime = OffsetDateTime::parse(&normalized, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&normalized, compact_offset))
        .or_else(|_| PrimitiveDateTime::parse(&normalized, no_offset).map(|t| t.assume_utc()))
        .ok()?;
    i64::try_from(datetime.unix_timestamp_nanos()).ok()
}

/// A line's severity before `normalize` completes it.
#[derive(Debug, Default)]
struct Level {
    number: i32,
    text: String,
    /// The level was a pino/bunyan number, so the line came from one of
    /// those Node loggers.
    from_node_logger: bool,
}

impl Level {
    /// Text levels are kept as spelled (`normalize` derives the number);
    /// numbers are read by [`Level::from_number`]. Other types are not a
    /// level and stay attributes.
    fn from_value(value: &Value) -> Option<Level> {
        match value {
            Value::String(text) => Some(Level {
                text: truncate(text.clone(), MAX_SEVERITY_TEXT_BYTES),
                ..Level::default()
            }),
            Value::Number(number) => Some(Level::from_number(number)),
            _ => None,
        }
    }

    /// pino and bunyan levels are 10 (trace) to 60 (fatal) in steps of 10,
    /// mapped to the first number of the OTLP range; other numbers in
    /// 1..=24 are OTLP severity numbers. Anything else keeps its text for
    /// display with the number unset.
    fn from_number(number: &Number) -> Level {
        let integer = number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|value| value.fract() == 0.0 && value.abs() <= 1e6)
                .map(|value| value as i64)
        });
        match integer {
            Some(pino @ 10..=60) if pino % 10 == 0 => Level {
                number: i32::try_from((pino / 10 - 1) * 4 + 1).unwrap_or(0),
                text: String::new(),
                from_node_logger: true,
            },
            Some(otlp @ 1..=24) => Level {
                number: i32::try_from(otlp).unwrap_or(0),
                ..Level::default()
            },
            _ => Level {
                text: truncate(number.to_string(), MAX_SEVERITY_TEXT_BYTES),
                ..Level::default()
            },
        }
    }
}

/// The service key, or bunyan's/pino's `name` when the line came from one
/// of those loggers. Elsewhere `name` is kept as an attribute: in Python
/// logging it is the logger's name (`myapp.db`), not the service.
fn take_service(fields: &mut Fields, from_node_logger: bool) -> Option<String> {
    let non_empty = |_: &str, value: &Value| {
        value
            .as_str()
            .filter(|name| !name.trim().is_empty())
            .map(str::to_owned)
    };
    fields.take(SERVICE_KEYS, non_empty).or_else(|| {
        from_node_logger
            .then(|| fields.take(&[NODE_SERVICE_KEY], non_empty))
            .flatten()
    })
}

/// A trace id key must hold 32 hex characters, or the line is rejected:
/// a mistyped id would silently unlink the record from its trace. Empty
/// and all-zero ids mean "no trace" (OpenTelemetry writes the zero id
/// outside a span) and are dropped.
///
/// `correlation_id` is only a trace id when it is one; other correlation
/// ids (UUIDs, request ids) stay the attribute `correlation_id`.
fn take_trace_id(fields: &mut Fields) -> Result<Option<TraceId>, String> {
    let strict = fields.take(TRACE_ID_KEYS, |key, value| {
        (!value.is_null()).then(|| trace_id_from_value(key, value))
    });
    if let Some(parsed) = strict {
        return parsed;
    }
    Ok(fields.take(&[CORRELATION_ID_KEY], |_, value| {
        value
            .as_str()
            .and_then(|text| TraceId::from_hex(text.trim()).ok())
    }))
}

fn trace_id_from_value(key: &str, value: &Value) -> Result<Option<TraceId>, String> {
    let Value::String(text) = value else {
        return Err(format!(
            "invalid trace id in `{key}`: expected a string of 32 hex characters, got {}",
            kind(value)
        ));
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match TraceId::from_hex(text) {
        Ok(id) => Ok(Some(id)),
        Err(IdError::AllZero { .. }) => Ok(None),
        Err(error) => Err(format!("invalid trace id in `{key}`: {error}")),
    }
}

/// A span id key is only taken when it holds 16 hex characters (empty and
/// all-zero mean "no span"); anything else stays an attribute instead of
/// rejecting the line, because tracing-subscriber's `span` object holds the
/// current span's own fields, and a span field called `id` flattens to
/// `span.id`.
fn take_span_id(fields: &mut Fields) -> Option<SpanId> {
    fields
        .take(SPAN_ID_KEYS, |_, value| {
            let text = value.as_str()?.trim();
            if text.is_empty() {
                return Some(None);
            }
            match SpanId::from_hex(text) {
                Ok(id) => Some(Some(id)),
                Err(IdError::AllZero { .. }) => Some(None),
                Err(_) => None,
            }
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-11-21T10:00:00Z.
    const T0: i64 = 1_795_255_200_000_000_000;
    const NOW: UnixNanos = UnixNanos(1_800_000_000_000_000_000);

    fn parse(body: &str) -> JsonLinesResult {
        parse_json_lines(body.as_bytes(), &Limits::default(), NOW)
    }

    fn parse_one(line: &str) -> LogRecord {
        let mut result = parse(line);
        assert_eq!(result.errors, vec![], "{line}");
        assert_eq!(result.records.len(), 1, "{line}");
        result.records.remove(0)
    }

    fn attr<'a>(record: &'a LogRecord, key: &str) -> Option<&'a AttrValue> {
        record
            .attributes
            .iter()
            .find_map(|(name, value)| (name == key).then_some(value))
    }

    fn text(value: &str) -> AttrValue {
        AttrValue::String(value.into())
    }

    fn body(record: &LogRecord) -> &str {
        match &record.body {
            LogBody::Text(text) => text,
            LogBody::Json(_) => panic!("expected a text body"),
        }
    }

    fn keys(record: &LogRecord) -> Vec<&str> {
        record.attributes.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn structlog() {
        let record = parse_one(
            r#"{"event": "user logged in", "level": "info", "timestamp": "2026-11-21T10:00:00.123456Z", "logger": "auth", "user_id": 42, "ok": true}"#,
        );
        assert_eq!(body(&record), "user logged in");
        assert_eq!(record.timestamp, UnixNanos(T0 + 123_456_000));
        assert_eq!(record.observed_timestamp, NOW);
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (9, "info")
        );
        assert_eq!(record.service, "unknown_service");
        assert!(record.resource.is_empty());
        assert_eq!(keys(&record), ["logger", "ok", "user_id"]);
        assert_eq!(attr(&record, "user_id"), Some(&AttrValue::Int(42)));
        assert_eq!(attr(&record, "ok"), Some(&AttrValue::Bool(true)));
    }

    #[test]
    fn pino() {
        let record = parse_one(
            r#"{"level":30,"time":1763719200123,"pid":1,"hostname":"h","msg":"request completed","req":{"method":"GET","url":"/"},"responseTime":12.5}"#,
        );
        assert_eq!(body(&record), "request completed");
        assert_eq!(record.timestamp, UnixNanos(1_763_719_200_123_000_000));
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (9, "INFO")
        );
        assert_eq!(
            keys(&record),
            ["hostname", "pid", "req.method", "req.url", "responseTime"]
        );
        assert_eq!(
            attr(&record, "responseTime"),
            Some(&AttrValue::Double(12.5))
        );
        for (level, number) in [(10, 1), (20, 5), (30, 9), (40, 13), (50, 17), (60, 21)] {
            let line =
                format!(r#"{{"level":{level},"time":1763719200123,"name":"api","msg":"m"}}"#);
            let record = parse_one(&line);
            assert_eq!(record.severity_number, number, "{line}");
            assert_eq!(record.service, "api", "{line}");
        }
    }

    #[test]
    fn bunyan() {
        let record = parse_one(
            r#"{"name":"app","hostname":"h","pid":1,"level":50,"msg":"db down","time":"2026-11-21T10:00:00.000Z","v":0}"#,
        );
        assert_eq!(body(&record), "db down");
        assert_eq!(record.timestamp, UnixNanos(T0));
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (17, "ERROR")
        );
        assert_eq!(record.service, "app");
        assert_eq!(
            record.resource,
            vec![("service.name".to_string(), text("app"))]
        );
        assert_eq!(keys(&record), ["hostname", "pid", "v"]);
    }

    #[test]
    fn logrus() {
        let record = parse_one(
            r#"{"level":"warning","msg":"disk almost full","time":"2026-11-21T11:00:00+01:00","free_bytes":1024}"#,
        );
        assert_eq!(body(&record), "disk almost full");
        assert_eq!(record.timestamp, UnixNanos(T0));
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (13, "warning")
        );
        assert_eq!(attr(&record, "free_bytes"), Some(&AttrValue::Int(1024)));
    }

    #[test]
    fn tracing_subscriber() {
        let record = parse_one(
            r#"{"timestamp":"2026-11-21T10:00:00.000001Z","level":"INFO","fields":{"message":"query done","rows":3},"target":"app::db","span":{"id":7,"name":"query"},"spans":[{"name":"request","path":"/"},{"id":7,"name":"query"}]}"#,
        );
        assert_eq!(body(&record), "query done");
        assert_eq!(record.timestamp, UnixNanos(T0 + 1_000));
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (9, "INFO")
        );
        assert_eq!(record.span_id, None);
        assert_eq!(attr(&record, "rows"), Some(&AttrValue::Int(3)));
        assert_eq!(attr(&record, "target"), Some(&text("app::db")));
        assert_eq!(attr(&record, "span.id"), Some(&AttrValue::Int(7)));
        assert_eq!(attr(&record, "span.name"), Some(&text("query")));
        assert_eq!(
            attr(&record, "spans"),
            Some(&AttrValue::Array(vec![
                AttrValue::KvList(vec![
                    ("name".into(), text("request")),
                    ("path".into(), text("/")),
                ]),
                AttrValue::KvList(vec![
                    ("id".into(), AttrValue::Int(7)),
                    ("name".into(), text("query")),
                ]),
            ]))
        );
        // With flatten_event(true) the same event gives the same record.
        let flat = parse_one(
            r#"{"timestamp":"2026-11-21T10:00:00.000001Z","level":"INFO","message":"query done","rows":3,"target":"app::db","span":{"id":7,"name":"query"},"spans":[{"name":"request","path":"/"},{"id":7,"name":"query"}]}"#,
        );
        assert_eq!(flat, record);
    }

    #[test]
    fn event_fields_that_collide_keep_their_prefix() {
        let record = parse_one(
            r#"{"message":"top","target":"a","fields":{"message":"inner","target":"b","x":1}}"#,
        );
        assert_eq!(body(&record), "top");
        assert_eq!(
            keys(&record),
            ["fields.message", "fields.target", "x", "target"]
        );
    }

    #[test]
    fn ecs_dotted() {
        let record = parse_one(
            r#"{"@timestamp":"2026-11-21T10:00:00.000Z","log.level":"error","message":"payment failed","service.name":"checkout","trace.id":"0AF7651916CD43DD8448EB211C80319C","span.id":"b7ad6b7169203331","ecs.version":"1.6.0","http.request.method":"POST","event.dataset":"checkout.log"}"#,
        );
        assert_eq!(body(&record), "payment failed");
        assert_eq!(record.timestamp, UnixNanos(T0));
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (17, "error")
        );
        assert_eq!(record.service, "checkout");
        assert_eq!(
            record.trace_id.map(|id| id.to_hex()).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(
            record.span_id.map(|id| id.to_hex()).as_deref(),
            Some("b7ad6b7169203331")
        );
        assert_eq!(
            keys(&record),
            ["ecs.version", "event.dataset", "http.request.method"]
        );
    }

    #[test]
    fn ecs_nested_is_the_same_record_as_ecs_dotted() {
        let nested = parse_one(
            r#"{"@timestamp":"2026-11-21T10:00:00.000Z","log":{"level":"error"},"message":"payment failed","service":{"name":"checkout"},"trace":{"id":"0AF7651916CD43DD8448EB211C80319C"},"span":{"id":"b7ad6b7169203331"},"ecs":{"version":"1.6.0"},"http":{"request":{"method":"POST"}},"event":{"dataset":"checkout.log"}}"#,
        );
        let dotted = parse_one(
            r#"{"@timestamp":"2026-11-21T10:00:00.000Z","log.level":"error","message":"payment failed","service.name":"checkout","trace.id":"0AF7651916CD43DD8448EB211C80319C","span.id":"b7ad6b7169203331","ecs.version":"1.6.0","http.request.method":"POST","event.dataset":"checkout.log"}"#,
        );
        assert_eq!(nested, dotted);
    }

    #[test]
    fn python_logging_json() {
        let record = parse_one(
            r#"{"asctime": "2026-11-21 10:00:00,123", "created": 1795255200.123456, "name": "myapp.db", "levelname": "CRITICAL", "message": "pool exhausted", "process": 4242}"#,
        );
        assert_eq!(body(&record), "pool exhausted");
        assert!(
            (record.timestamp.0 - (T0 + 123_456_000)).abs() < 1_000,
            "{:?}",
            record.timestamp
        );
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (21, "CRITICAL")
        );
        // `name` is the logger, not the service, outside bunyan and pino.
        assert_eq!(record.service, "unknown_service");
        assert_eq!(attr(&record, "name"), Some(&text("myapp.db")));
        assert_eq!(
            attr(&record, "asctime"),
            Some(&text("2026-11-21 10:00:00,123"))
        );
        let only_asctime = parse_one(
            r#"{"asctime": "2026-11-21 10:00:00,250", "levelname": "INFO", "message": "m"}"#,
        );
        assert_eq!(only_asctime.timestamp, UnixNanos(T0 + 250_000_000));
        assert_eq!(attr(&only_asctime, "asctime"), None);
        let custom_datefmt = parse_one(r#"{"asctime": "21/Nov/2026 10:00", "message": "m"}"#);
        assert_eq!(custom_datefmt.timestamp, NOW);
        assert_eq!(
            attr(&custom_datefmt, "asctime"),
            Some(&text("21/Nov/2026 10:00"))
        );
    }

    #[test]
    fn bad_lines_are_reported_by_number_and_do_not_stop_the_rest() {
        let mut input = String::from("{\"msg\":\"one\"}\r\n\n   \n");
        input.push_str("{\"msg\": \n");
        input.push_str("[1,2]\n");
        input.push_str("{\"msg\":\"two\",\"time\":\"yesterday\"}\n");
        input.push_str("{\"msg\":\"three\",\"trace_id\":\"abc\"}\n");
        input.push_str("{\"msg\":\"four\",\"traceId\":12}\n");
        input.push_str("\u{feff}{\"msg\":\"five\"}\n");
        let mut bytes = input.into_bytes();
        bytes.extend_from_slice(b"{\"msg\":\"\xff\"}\n{\"msg\":\"six\"} {}\n{\"msg\":\"seven\"}");
        let result = parse_json_lines(&bytes, &Limits::default(), NOW);
        let bodies: Vec<&str> = result.records.iter().map(body).collect();
        assert_eq!(bodies, ["one", "five", "seven"]);
        assert_eq!(result.record_lines, [1, 9, 12]);
        let lines: Vec<usize> = result.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [4, 5, 6, 7, 8, 10, 11]);
        let messages: Vec<&str> = result.errors.iter().map(|e| e.message.as_str()).collect();
        assert!(
            messages[0].starts_with("invalid JSON at column"),
            "{}",
            messages[0]
        );
        assert!(!messages[0].contains("line 1"), "{}", messages[0]);
        assert_eq!(messages[1], "expected a JSON object, got an array");
        assert_eq!(messages[2], "unparseable time in `time`: \"yesterday\"");
        assert!(
            messages[3].starts_with("invalid trace id in `trace_id`"),
            "{}",
            messages[3]
        );
        assert!(messages[4].contains("got a number"), "{}", messages[4]);
        assert!(messages[5].contains("not valid UTF-8"), "{}", messages[5]);
        assert!(
            messages[6].contains("trailing characters"),
            "{}",
            messages[6]
        );
    }

    #[test]
    fn numeric_times_are_read_by_magnitude() {
        for (time, expected) in [
            ("1795255200", T0),
            ("1795255200.5", T0 + 500_000_000),
            ("1795255200123", T0 + 123_000_000),
            ("1795255200123456", T0 + 123_456_000),
            ("1795255200123456789", T0 + 123_456_789),
            ("\"1795255200123\"", T0 + 123_000_000),
            ("\"2026-11-21T10:00:00Z\"", T0),
            ("\"2026-11-21 10:00:00.5Z\"", T0 + 500_000_000),
            ("\"2026-11-21T11:00:00.000+0100\"", T0),
            ("\"2026-11-21T10:00:00\"", T0),
        ] {
            let record = parse_one(&format!(r#"{{"ts":{time}}}"#));
            assert_eq!(record.timestamp, UnixNanos(expected), "{time}");
        }
        assert_eq!(parse_one(r#"{"msg":"no time"}"#).timestamp, NOW);
        assert_eq!(parse_one(r#"{"time":null}"#).timestamp, NOW);
        for bad in [
            "-5",
            "1e300",
            "true",
            "\"NaN\"",
            "[1]",
            "18446744073709551615",
        ] {
            let result = parse(&format!(r#"{{"time":{bad}}}"#));
            assert_eq!(result.errors.len(), 1, "{bad}");
        }
    }

    #[test]
    fn levels_from_names_pino_numbers_and_otlp_numbers() {
        for (line, number, text) in [
            (r#"{"level":"WARN"}"#, 13, "WARN"),
            (r#"{"severity":"ERROR"}"#, 17, "ERROR"),
            (r#"{"levelname":"DEBUG"}"#, 5, "DEBUG"),
            (r#"{"log.level":"notice"}"#, 10, "notice"),
            (r#"{"level":40}"#, 13, "WARN"),
            (r#"{"level":30.0}"#, 9, "INFO"),
            (r#"{"level":17}"#, 17, "ERROR"),
            (r#"{"level":99}"#, 0, "99"),
            (r#"{"level":"loud"}"#, 0, "loud"),
            (r#"{"msg":"no level"}"#, 0, ""),
        ] {
            let record = parse_one(line);
            assert_eq!(
                (record.severity_number, record.severity_text.as_str()),
                (number, text),
                "{line}"
            );
        }
        let not_a_level = parse_one(r#"{"level":true,"severity":"info"}"#);
        assert_eq!(not_a_level.severity_number, 9);
        assert_eq!(attr(&not_a_level, "level"), Some(&AttrValue::Bool(true)));
    }

    #[test]
    fn a_line_without_a_message_keeps_every_key_as_an_attribute() {
        let record = parse_one(r#"{"user":"ann","cart":{"items":2},"message":{"a":1}}"#);
        assert_eq!(record.body, LogBody::Text(String::new()));
        assert_eq!(keys(&record), ["cart.items", "message.a", "user"]);
        assert_eq!(record.service, "unknown_service");
    }

    #[test]
    fn correlation_ids_become_trace_ids_only_when_they_are_one() {
        let uuid = parse_one(r#"{"correlation_id":"9b2f6c1e-1c1d-4b7e-9a57-1a2b3c4d5e6f"}"#);
        assert_eq!(uuid.trace_id, None);
        assert_eq!(
            attr(&uuid, "correlation_id"),
            Some(&text("9b2f6c1e-1c1d-4b7e-9a57-1a2b3c4d5e6f"))
        );
        let hex = parse_one(r#"{"correlation_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#);
        assert_eq!(
            hex.trace_id.map(|id| id.to_hex()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(attr(&hex, "correlation_id"), None);
        let both = parse_one(
            r#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","correlation_id":"5bf92f3577b34da6a3ce929d0e0e4736"}"#,
        );
        assert_eq!(
            both.trace_id.map(|id| id.to_hex()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert!(attr(&both, "correlation_id").is_some());
        let zero = parse_one(
            r#"{"traceId":"00000000000000000000000000000000","spanId":"0000000000000000"}"#,
        );
        assert_eq!((zero.trace_id, zero.span_id), (None, None));
        assert!(zero.attributes.is_empty());
        let odd_span = parse_one(r#"{"span_id":"not-a-span"}"#);
        assert_eq!(odd_span.span_id, None);
        assert_eq!(attr(&odd_span, "span_id"), Some(&text("not-a-span")));
    }

    #[test]
    fn attributes_keep_json_types_within_the_limits() {
        let limits = Limits {
            max_attributes: 4,
            max_attribute_value_bytes: 4,
            ..Limits::default()
        };
        let line = r#"{"msg":"héllo wörld, a message longer than the attribute limit","service":"checkout-service","a":"héllo","b":[1,"xyz12",null,{"k":2.5}],"c":null,"d":{"e":1},"e":1,"f":2}"#;
        let result = parse_json_lines(line.as_bytes(), &limits, NOW);
        let record = &result.records[0];
        assert!(body(record).starts_with("héllo wörld, a message longer"));
        assert_eq!(record.service, "chec");
        assert_eq!(
            record.attributes,
            vec![
                ("a".to_string(), text("hél")),
                (
                    "b".to_string(),
                    AttrValue::Array(vec![
                        AttrValue::Int(1),
                        text("xyz1"),
                        AttrValue::Empty,
                        AttrValue::KvList(vec![("k".into(), AttrValue::Double(2.5))]),
                    ])
                ),
                ("c".to_string(), AttrValue::Empty),
                ("d.e".to_string(), AttrValue::Int(1)),
            ]
        );
    }

    #[test]
    fn duplicate_flattened_keys_keep_the_first_value() {
        let record = parse_one(r#"{"a.b":1,"a":{"b":2},"x":{}}"#);
        assert_eq!(keys(&record), ["a.b", "x"]);
        assert_eq!(attr(&record, "a.b"), Some(&AttrValue::Int(2)));
        assert_eq!(attr(&record, "x"), Some(&AttrValue::KvList(vec![])));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        let result = parse(&deep);
        assert_eq!(result.records.len(), 0);
        assert!(
            result.errors[0].message.contains("recursion limit"),
            "{:?}",
            result.errors
        );
        let nested = format!("{}1{}", r#"{"a":"#.repeat(100), "}".repeat(100));
        let record = parse_one(&nested);
        assert_eq!(keys(&record), [vec!["a"; 100].join(".").as_str()]);
    }

    /// JSON-ish text: the characters JSON is made of, well-known keys
    /// included, so the parser sees both near misses and valid objects.
    fn json_ish_line() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(":".to_string()),
            Just(",".to_string()),
            Just("\"".to_string()),
            Just("null".to_string()),
            Just("\"level\":".to_string()),
            Just("\"time\":".to_string()),
            Just("\"trace_id\":".to_string()),
            Just("\"fields\":{".to_string()),
            "-?[0-9]{1,20}(\\.[0-9]{1,6})?(e[0-9]{1,3})?",
            "\"[a-zA-Z0-9 .:+\\-_é\\\\]{0,12}\"",
        ];
        proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
    }

    /// Well-formed objects built from the well-known keys and values of
    /// every type, nested.
    fn json_object() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("level".to_string()),
            Just("time".to_string()),
            Just("ts".to_string()),
            Just("msg".to_string()),
            Just("name".to_string()),
            Just("fields".to_string()),
            Just("service".to_string()),
            Just("trace".to_string()),
            Just("id".to_string()),
            Just("span_id".to_string()),
            Just("correlation_id".to_string()),
            Just("asctime".to_string()),
            "[a-z.]{0,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[0-9a-fA-F]{32}".prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z.]{0,6}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        });
        proptest::collection::btree_map(key, value, 0..8)
            .prop_map(|map| Value::Object(map.into_iter().collect()))
    }

    fn check_invariants(body: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
        let result = parse_json_lines(body, limits, NOW);
        let lines = body.split(|b| *b == b'\n').count();
        prop_assert!(result.records.len() + result.errors.len() <= lines);
        prop_assert_eq!(result.records.len(), result.record_lines.len());
        for error in &result.errors {
            prop_assert!((1..=lines).contains(&error.line));
        }
        for record in &result.records {
            prop_assert!((0..=24).contains(&record.severity_number));
            prop_assert!(record.attributes.len() <= limits.max_attributes);
            prop_assert!(!record.service.is_empty());
            prop_assert_eq!(record.observed_timestamp, NOW);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            check_invariants(&body, &Limits::default())?;
        }

        #[test]
        fn json_ish_lines_never_panic(lines in proptest::collection::vec(json_ish_line(), 0..6)) {
            check_invariants(lines.join("\n").as_bytes(), &Limits::default())?;
        }

        #[test]
        fn well_formed_objects_never_panic(
            objects in proptest::collection::vec(json_object(), 1..4),
            max_attributes in 0usize..6,
            max_attribute_value_bytes in 0usize..8,
        ) {
            let body: Vec<String> = objects.iter().map(Value::to_string).collect();
            let limits = Limits { max_attributes, max_attribute_value_bytes, ..Limits::default() };
            check_invariants(body.join("\n").as_bytes(), &limits)?;
        }
    }
}
