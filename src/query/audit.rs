//! The parameters of `GET /api/audit`: filters, page size and cursor. The
//! time range defaults to everything kept.

use super::params::{self, Params};
use super::QueryError;
use crate::model::security::{AuditFilter, AuditOutcome};
use crate::model::UnixNanos;

const DEFAULT_EVENTS: usize = 100;
const MAX_EVENTS: usize = 1_000;

pub fn parse_audit_filter(params: &Params, now: UnixNanos) -> Result<AuditFilter, QueryError> {
    let ranged = ["start", "end", "lookback"]
        .iter()
        .any(|name| params::get(params, name).is_some());
    let (start, end) = if ranged {
        let (start, end) = params::time_range(params, now)?;
        (Some(start), Some(end))
    } else {
        (None, None)
    };
    let outcome = params::get(params, "outcome")
        .map(|text| {
            AuditOutcome::parse(text).ok_or_else(|| {
                QueryError::Invalid(format!(
                    "parameter outcome: {text:?} is not {}",
                    AuditOutcome::names()
                ))
            })
        })
        .transpose()?;
    let before_id = params::get(params, "cursor")
        .map(|text| params::decode_cursor(text, 1).map(|values| values[0]))
        .transpose()?;
    Ok(AuditFilter {
        start,
        end,
        action: params::get(params, "action").map(str::to_string),
        actor: params::get(params, "actor").map(str::to_string),
        outcome,
        before_id,
        limit: params::limit(params, DEFAULT_EVENTS, MAX_EVENTS)?,
    })
}

/// The cursor of the page after one that ended at `last_id`.
pub fn next_cursor(last_id: i64) -> String {
    params::encode_cursor(&[last_id])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_and_cursor_parse() {
        let now = UnixNanos(1_000_000_000_000);
        let filter = parse_audit_filter(
            &p(&[
                ("action", "auth."),
                ("outcome", "failed"),
                ("cursor", &next_cursor(42)),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(filter.action.as_deref(), Some("auth."));
        assert_eq!(filter.outcome, Some(AuditOutcome::Failed));
        assert_eq!(filter.before_id, Some(42));
        assert_eq!(filter.limit, DEFAULT_EVENTS);
        assert_eq!(filter.start, None);
        assert!(parse_audit_filter(&p(&[("outcome", "maybe")]), now).is_err());
        assert!(parse_audit_filter(&p(&[("limit", "5000")]), now).is_err());
    }
}
