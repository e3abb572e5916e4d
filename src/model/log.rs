//! The log record the pipeline carries from ingest to the log index, and
//! the OTLP severity scale.
//!
//! Ingest may receive a severity as a number (OTLP `severity_number`), as
//! text (`"warning"`, `"err"`, `"CRITICAL"`), or both. [`LogRecord::normalize`]
//! fills in whichever half is missing so that every later layer can filter
//! by number (`level:warn` is `severity_number >= 13`) and show text.

use super::{Attributes, Scope, SpanId, TraceId, UnixNanos};

/// The body of a log record: a message, or a structured value (a JSON
/// object logged as-is, or an OTLP `AnyValue` that is not a string).
#[derive(Debug, Clone, PartialEq)]
pub enum LogBody {
    Text(String),
    Json(serde_json::Value),
}

impl LogBody {
    /// The text that full-text search sees: the message itself, or the
    /// structured value's compact JSON text (so its keys and values are
    /// searchable words).
    pub fn search_text(&self) -> String {
        match self {
            LogBody::Text(text) => text.clone(),
            LogBody::Json(serde_json::Value::String(text)) => text.clone(),
            LogBody::Json(value) => value.to_string(),
        }
    }

    /// The body as JSON for the API: a string for text bodies, the value
    /// itself for structured ones.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            LogBody::Text(text) => serde_json::Value::String(text.clone()),
            LogBody::Json(value) => value.clone(),
        }
    }
}

impl Default for LogBody {
    fn default() -> Self {
        LogBody::Text(String::new())
    }
}

/// One log record, validated and ready to journal and index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord {
    /// When the event happened; decides the record's day partition.
    pub timestamp: UnixNanos,
    /// When a collector or lookout first saw the record.
    pub observed_timestamp: UnixNanos,
    /// OTLP severity number: 1..=24, 0 when unset.
    pub severity_number: i32,
    /// The severity as the source spelled it, or the canonical short name
    /// derived from the number.
    pub severity_text: String,
    /// `service.name` of the resource, or `unknown_service`.
    pub service: String,
    pub body: LogBody,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub attributes: Attributes,
    pub resource: Attributes,
    pub scope: Scope,
}

impl LogRecord {
    /// Applies the OTLP data-model rules every stored record must satisfy:
    /// a missing timestamp falls back to the observed one, and severity
    /// number and text are completed from each other (see
    /// [`LogRecord::normalize_severity`]).
    pub fn normalize(&mut self) {
        if self.timestamp.0 == 0 {
            self.timestamp = self.observed_timestamp;
        }
        self.normalize_severity();
    }

    /// Completes severity from whichever half is present. A number outside
    /// OTLP's 1..=24 is treated as unset; text that names no known level
    /// leaves the number at 0 but keeps the text for display.
    pub fn normalize_severity(&mut self) {
        if !(0..=24).contains(&self.severity_number) {
            self.severity_number = 0;
        }
        if self.severity_number == 0 {
            if let Some(number) = severity_number_from_text(&self.severity_text) {
                self.severity_number = number;
            }
        }
        if self.severity_text.trim().is_empty() {
            self.severity_text = Severity::from_number(self.severity_number)
                .map(|severity| severity.as_str().to_string())
                .unwrap_or_default();
        }
    }
}

/// The six OTLP severity ranges. Each covers four numbers (`INFO` is 9..=12,
/// `INFO2` is 10, …); the range's first number is what `level:info` means
/// as a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Trace,
        Severity::Debug,
        Severity::Info,
        Severity::Warn,
        Severity::Error,
        Severity::Fatal,
    ];

    /// The range a severity number falls in; `None` for 0 (unset) and for
    /// numbers outside OTLP's scale.
    pub fn from_number(number: i32) -> Option<Severity> {
        match number {
            1..=4 => Some(Severity::Trace),
            5..=8 => Some(Severity::Debug),
            9..=12 => Some(Severity::Info),
            13..=16 => Some(Severity::Warn),
            17..=20 => Some(Severity::Error),
            21..=24 => Some(Severity::Fatal),
            _ => None,
        }
    }

    /// The first number of the range, used as a minimum in filters.
    pub fn min_number(self) -> i32 {
        match self {
            Severity::Trace => 1,
            Severity::Debug => 5,
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
            Severity::Fatal => 21,
        }
    }

    /// OTLP's canonical short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }

    /// A level name as users and logging libraries spell it, in any case:
    /// the OTLP names plus common aliases (`warning`, `err`, `critical`,
    /// `panic`, `notice` → info, …). Used both for record text and for the
    /// `level` query parameter.
    pub fn parse(text: &str) -> Option<Severity> {
        severity_number_from_text(text).and_then(Severity::from_number)
    }

    /// The level names a query accepts, for error messages.
    pub const LEVEL_NAMES: &'static str = "trace, debug, info, warn, error, fatal";

    /// A level as a query names it: one of [`Severity::LEVEL_NAMES`] (or
    /// `warning`), in any case. Stricter than [`Severity::parse`], which
    /// reads what loggers write: a query naming an unknown level (`verbose`,
    /// `critical`) is refused rather than quietly mapped to some range.
    pub fn from_level_name(text: &str) -> Option<Severity> {
        let severity = match text.trim().to_ascii_lowercase().as_str() {
            "trace" => Severity::Trace,
            "debug" => Severity::Debug,
            "info" => Severity::Info,
            "warn" | "warning" => Severity::Warn,
            "error" => Severity::Error,
            "fatal" => Severity::Fatal,
            _ => return None,
        };
        Some(severity)
    }
}

/// Maps severity text to an OTLP number. Besides the six range names this
/// accepts OTLP's numbered variants (`INFO2` = 10, `ERROR4` = 20) and the
/// spellings of syslog, Python, Java (JUL/log4j), Go and Node loggers, so
/// that records from any of them filter by level correctly.
pub fn severity_number_from_text(text: &str) -> Option<i32> {
    let lower = text.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return None;
    }
    let number = match lower.as_str() {
        "trace" | "trc" | "finest" | "finer" | "verbose" => 1,
        "debug" | "dbg" | "fine" | "config" => 5,
        "info" | "inf" | "information" | "informational" => 9,
        // syslog's notice sits between info and warning: OTLP maps it to INFO2.
        "notice" => 10,
        "warn" | "warning" | "wrn" => 13,
        "error" | "err" | "severe" => 17,
        // syslog alert and emergency are more severe than critical.
        "fatal" | "critical" | "crit" | "panic" | "dpanic" => 21,
        "alert" => 22,
        "emerg" | "emergency" => 23,
        _ => return numbered_variant(&lower),
    };
    Some(number)
}

/// `info2`, `warn3`, `fatal4`: the second to fourth numbers of a range.
fn numbered_variant(lower: &str) -> Option<i32> {
    let split = lower.len().checked_sub(1)?;
    let (name, digit) = (lower.get(..split)?, lower.get(split..)?);
    let offset = match digit {
        "2" => 1,
        "3" => 2,
        "4" => 3,
        _ => return None,
    };
    let base = match name {
        "trace" => Severity::Trace,
        "debug" => Severity::Debug,
        "info" => Severity::Info,
        "warn" => Severity::Warn,
        "error" => Severity::Error,
        "fatal" => Severity::Fatal,
        _ => return None,
    };
    Some(base.min_number() + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(number: i32, text: &str) -> LogRecord {
        LogRecord {
            severity_number: number,
            severity_text: text.to_string(),
            ..LogRecord::default()
        }
    }

    fn normalized(number: i32, text: &str) -> (i32, String) {
        let mut record = record(number, text);
        record.normalize_severity();
        (record.severity_number, record.severity_text)
    }

    #[test]
    fn a_number_alone_gets_the_range_name() {
        for (number, text) in [
            (1, "TRACE"),
            (4, "TRACE"),
            (5, "DEBUG"),
            (9, "INFO"),
            (12, "INFO"),
            (13, "WARN"),
            (17, "ERROR"),
            (20, "ERROR"),
            (21, "FATAL"),
            (24, "FATAL"),
        ] {
            assert_eq!(normalized(number, ""), (number, text.to_string()));
        }
    }

    #[test]
    fn text_alone_gets_a_number_whatever_the_spelling() {
        for (text, number) in [
            ("warning", 13),
            ("WARN", 13),
            ("Warning", 13),
            ("err", 17),
            ("ERROR", 17),
            ("critical", 21),
            ("CRITICAL", 21),
            ("panic", 21),
            ("notice", 10),
            ("info", 9),
            ("debug", 5),
            ("trace", 1),
            ("fatal", 21),
            ("severe", 17),
            ("emerg", 23),
            ("INFO2", 10),
            ("error4", 20),
            (" warn ", 13),
        ] {
            assert_eq!(normalized(0, text), (number, text.to_string()), "{text}");
        }
    }

    #[test]
    fn both_present_are_kept_and_unknowns_stay_unset() {
        assert_eq!(normalized(17, "oops"), (17, "oops".to_string()));
        assert_eq!(normalized(0, "loud"), (0, "loud".to_string()));
        assert_eq!(normalized(0, ""), (0, String::new()));
        assert_eq!(normalized(99, ""), (0, String::new()));
        assert_eq!(normalized(-3, "error"), (17, "error".to_string()));
        assert_eq!(severity_number_from_text("info5"), None);
        assert_eq!(severity_number_from_text("2"), None);
    }

    #[test]
    fn level_names_parse_to_their_range() {
        assert_eq!(Severity::parse("warning"), Some(Severity::Warn));
        assert_eq!(Severity::parse("notice"), Some(Severity::Info));
        assert_eq!(Severity::parse("crit"), Some(Severity::Fatal));
        assert_eq!(Severity::parse("nope"), None);
        // Queries take the level names only.
        assert_eq!(Severity::from_level_name("WARN"), Some(Severity::Warn));
        assert_eq!(Severity::from_level_name("warning"), Some(Severity::Warn));
        assert_eq!(Severity::from_level_name("verbose"), None);
        assert_eq!(Severity::from_level_name("crit"), None);
        assert_eq!(Severity::Warn.min_number(), 13);
        assert!(Severity::Error > Severity::Warn);
    }

    #[test]
    fn normalize_falls_back_to_the_observed_time() {
        let mut record = LogRecord {
            observed_timestamp: UnixNanos(42),
            severity_number: 9,
            ..LogRecord::default()
        };
        record.normalize();
        assert_eq!(record.timestamp, UnixNanos(42));
        assert_eq!(record.severity_text, "INFO");
    }

    #[test]
    fn structured_bodies_search_as_json_text() {
        let body = LogBody::Json(serde_json::json!({"user": "ann", "n": 3}));
        let text = body.search_text();
        assert!(
            text.contains(r#""user":"ann""#) && text.contains(r#""n":3"#),
            "{text}"
        );
        assert_eq!(
            LogBody::Text("hi".into()).to_json(),
            serde_json::json!("hi")
        );
    }

    proptest::proptest! {
        #[test]
        fn normalization_never_panics_and_is_idempotent(number in proptest::num::i32::ANY, text in ".{0,12}") {
            let mut once = record(number, &text);
            once.normalize_severity();
            let mut twice = once.clone();
            twice.normalize_severity();
            proptest::prop_assert_eq!(&once, &twice);
            proptest::prop_assert!((0..=24).contains(&once.severity_number));
        }
    }
}
