//! Error tracking: an occurrence of an exception (from a span event or a
//! log record), the group that occurrences with one fingerprint form, and
//! what a user does with a group (resolve, ignore, reopen).
//!
//! Occurrences are grouped by the writer, in the transaction that stores
//! their span or log record; the fingerprint itself is
//! [`super::exception::ExceptionRecord::fingerprint`].

use super::exception::{normalise_message, ExceptionRecord};
use super::{AttrValue, Attributes, LogRecord, SpanId, TraceId, UnixNanos};

/// The most error groups kept; beyond it a service's new fingerprints
/// count in its overflow group.
pub const MAX_ERROR_GROUPS: u64 = 10_000;
/// The fingerprint of a service's overflow group.
pub const OVERFLOW_FINGERPRINT: &str = "overflow";
/// The type shown for a service's overflow group.
pub const OVERFLOW_TYPE: &str = "(other errors)";

named_enum!(
    /// Where a group stands with its users.
    ErrorStatus {
        Open = "open",
        Resolved = "resolved",
        Ignored = "ignored",
        Regressed = "regressed",
    }
);

named_enum!(
    /// What a user does with a group.
    ErrorAction {
        Resolve = "resolve",
        Ignore = "ignore",
        Reopen = "reopen",
    }
);

impl ErrorAction {
    /// The status the action leaves a group in.
    pub fn status(self) -> ErrorStatus {
        match self {
            ErrorAction::Resolve => ErrorStatus::Resolved,
            ErrorAction::Ignore => ErrorStatus::Ignored,
            ErrorAction::Reopen => ErrorStatus::Open,
        }
    }
}

named_enum!(
    /// What recorded an occurrence.
    ErrorSource {
        Span = "span",
        Log = "log",
    }
);

/// One recorded exception, with where and when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorOccurrence {
    pub service: String,
    pub fingerprint: String,
    pub type_name: String,
    /// The message as recorded.
    pub message: String,
    pub stacktrace: Option<String>,
    pub time: UnixNanos,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    /// `service.version` of the resource, or empty.
    pub release: String,
    /// `deployment.environment.name` (or the older
    /// `deployment.environment`) of the resource, or empty.
    pub environment: String,
    pub source: ErrorSource,
}

/// Where an exception was recorded: the fields an occurrence takes from
/// its span or log record and their resource.
pub struct OccurrenceContext<'a> {
    pub service: &'a str,
    pub resource: &'a Attributes,
    pub time: UnixNanos,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub source: ErrorSource,
}

fn resource_string<'a>(resource: &'a Attributes, keys: &[&str]) -> &'a str {
    keys.iter()
        .find_map(|key| {
            resource.iter().find_map(|(name, value)| match value {
                AttrValue::String(text) if name == key => Some(text.as_str()),
                _ => None,
            })
        })
        .unwrap_or("")
}

impl ErrorOccurrence {
    /// The occurrence `attributes` describe, if they describe an exception.
    pub fn from_attributes(
        attributes: &Attributes,
        context: &OccurrenceContext<'_>,
    ) -> Option<ErrorOccurrence> {
        let record = ExceptionRecord::from_attributes(attributes)?;
        Some(ErrorOccurrence {
            service: context.service.to_string(),
            fingerprint: record.fingerprint(),
            type_name: record.type_name,
            message: record.message,
            stacktrace: record.stacktrace,
            time: context.time,
            trace_id: context.trace_id,
            span_id: context.span_id,
            release: resource_string(context.resource, &["service.version"]).to_string(),
            environment: resource_string(
                context.resource,
                &["deployment.environment.name", "deployment.environment"],
            )
            .to_string(),
            source: context.source,
        })
    }

    /// The exception a log record carries in its attributes, if any.
    pub fn from_log(record: &LogRecord) -> Option<ErrorOccurrence> {
        let context = OccurrenceContext {
            service: &record.service,
            resource: &record.resource,
            time: record.timestamp,
            trace_id: record.trace_id,
            span_id: record.span_id,
            source: ErrorSource::Log,
        };
        ErrorOccurrence::from_attributes(&record.attributes, &context)
    }

    /// The message as the group shows it.
    pub fn normalised_message(&self) -> String {
        normalise_message(&self.message)
    }
}

/// The newest occurrence of a group, shown with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorSample {
    pub time: UnixNanos,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub message: String,
    pub stacktrace: Option<String>,
    pub source: ErrorSource,
}

/// A stored group, with its counts in the range it was read for.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorGroup {
    pub id: i64,
    pub fingerprint: String,
    pub type_name: String,
    pub message: String,
    pub service: String,
    /// Occurrences in the range read.
    pub count: u64,
    pub total_count: u64,
    pub first_seen: UnixNanos,
    pub last_seen: UnixNanos,
    pub releases: Vec<String>,
    pub environments: Vec<String>,
    pub first_release: String,
    pub new_in_release: bool,
    pub status: ErrorStatus,
    pub resolved_at: Option<UnixNanos>,
    pub sample: ErrorSample,
    /// Counts in equal parts of the range read.
    pub sparkline: Vec<u64>,
}

/// A group with what its page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorGroupDetail {
    pub group: ErrorGroup,
    /// Counts per step over the range read.
    pub series: Vec<(UnixNanos, u64)>,
    pub releases: Vec<ReleaseCount>,
}

/// Occurrences of a group per release and environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseCount {
    pub release: String,
    pub environment: String,
    pub count: u64,
    pub first_seen: UnixNanos,
    pub last_seen: UnixNanos,
}

/// How error groups are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorSort {
    #[default]
    LastSeen,
    Count,
}

/// Which groups a list shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorFilter {
    pub service: Option<String>,
    pub release: Option<String>,
    pub environment: Option<String>,
    /// Empty: every status.
    pub statuses: Vec<ErrorStatus>,
    pub start: UnixNanos,
    pub end: UnixNanos,
    pub sort: ErrorSort,
    pub limit: usize,
    /// Groups to skip (the cursor).
    pub offset: usize,
}

/// A group's occurrences in a window, as the `error_group` alert kind
/// reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorGroupCount {
    pub id: i64,
    pub service: String,
    pub type_name: String,
    pub message: String,
    pub count: u64,
    /// First seen, or regressed, within the window.
    pub new_in_window: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), AttrValue::String(v.to_string())))
            .collect()
    }

    #[test]
    fn an_occurrence_takes_release_and_environment_from_its_resource() {
        let resource = attrs(&[
            ("service.name", "checkout"),
            ("service.version", "1.2.3"),
            ("deployment.environment", "prod"),
        ]);
        let context = OccurrenceContext {
            service: "checkout",
            resource: &resource,
            time: UnixNanos(5),
            trace_id: None,
            span_id: None,
            source: ErrorSource::Log,
        };
        let occurrence = ErrorOccurrence::from_attributes(
            &attrs(&[
                ("exception.type", "KeyError"),
                ("exception.message", "id 12"),
            ]),
            &context,
        )
        .expect("an exception");
        assert_eq!(occurrence.release, "1.2.3");
        assert_eq!(occurrence.environment, "prod");
        assert_eq!(occurrence.normalised_message(), "id <n>");
        assert!(
            ErrorOccurrence::from_attributes(&attrs(&[("http.route", "/")]), &context).is_none()
        );
    }

    #[test]
    fn actions_name_the_status_they_leave() {
        assert_eq!(ErrorAction::Resolve.status(), ErrorStatus::Resolved);
        assert_eq!(ErrorAction::parse("ignore"), Some(ErrorAction::Ignore));
        assert_eq!(
            ErrorStatus::parse("regressed"),
            Some(ErrorStatus::Regressed)
        );
    }
}
