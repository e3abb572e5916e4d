//! The parameters of the errors API: which groups a list shows, in what
//! order and range, and the step of a group's counts.

use super::params::{self, Params};
use super::QueryError;
use crate::model::error_group::{ErrorFilter, ErrorSort, ErrorStatus};
use crate::model::UnixNanos;

const DEFAULT_GROUPS: usize = 50;
const MAX_GROUPS: usize = 500;
const NANOS_PER_MINUTE: i64 = 60_000_000_000;
/// Points of a group's count series at most.
const MAX_SERIES_POINTS: i64 = 1_500;

/// The range of an errors request: as everywhere, but the last 24 hours
/// when none is given.
pub fn error_range(params: &Params, now: UnixNanos) -> Result<(UnixNanos, UnixNanos), QueryError> {
    let given = ["start", "end", "lookback"]
        .iter()
        .any(|name| params::get(params, name).is_some());
    if given {
        return params::time_range(params, now);
    }
    let defaulted = [("lookback".to_string(), "24h".to_string())];
    params::time_range(&defaulted, now)
}

fn statuses(params: &Params) -> Result<Vec<ErrorStatus>, QueryError> {
    let mut out = Vec::new();
    for text in params::all(params, "status").flat_map(|value| value.split(',')) {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let status = ErrorStatus::parse(text).ok_or_else(|| {
            QueryError::Invalid(format!(
                "parameter status: {text:?} is not {}",
                ErrorStatus::names()
            ))
        })?;
        if !out.contains(&status) {
            out.push(status);
        }
    }
    Ok(out)
}

/// `GET /api/errors`'s parameters.
pub fn parse_error_filter(params: &Params, now: UnixNanos) -> Result<ErrorFilter, QueryError> {
    let (start, end) = error_range(params, now)?;
    let sort = match params::get(params, "sort") {
        None | Some("last_seen") => ErrorSort::LastSeen,
        Some("count") => ErrorSort::Count,
        Some(other) => {
            return Err(QueryError::Invalid(format!(
                "parameter sort: {other:?} is not last_seen or count"
            )))
        }
    };
    let offset = match params::get(params, "cursor") {
        None => 0,
        Some(text) => {
            let values = params::decode_cursor(text, 1)?;
            usize::try_from(values[0]).map_err(|_| {
                QueryError::Invalid(
                    "parameter cursor: not a cursor from a previous next_cursor".into(),
                )
            })?
        }
    };
    let text = |name: &str| params::get(params, name).map(str::to_string);
    Ok(ErrorFilter {
        service: text("service"),
        release: text("release"),
        environment: text("environment"),
        statuses: statuses(params)?,
        start,
        end,
        sort,
        limit: params::limit(params, DEFAULT_GROUPS, MAX_GROUPS)?,
        offset,
    })
}

/// The cursor of the page after one that ended at `offset`.
pub fn next_cursor(offset: usize) -> String {
    params::encode_cursor(&[offset as i64])
}

/// The step of a group's count series in whole minutes: `step` (`5m`,
/// `1h`, or seconds) or the range over 60.
pub fn series_step_minutes(
    params: &Params,
    (start, end): (UnixNanos, UnixNanos),
) -> Result<i64, QueryError> {
    let span_minutes = ((end.0 - start.0) / NANOS_PER_MINUTE).max(1);
    let step = match params::get(params, "step") {
        None => (span_minutes / 60).max(1),
        Some(text) => {
            let seconds = text
                .parse::<f64>()
                .ok()
                .filter(|value| value.is_finite() && *value > 0.0)
                .or_else(|| {
                    humantime::parse_duration(text)
                        .ok()
                        .map(|d| d.as_secs_f64())
                })
                .ok_or_else(|| {
                    QueryError::Invalid(format!(
                        "parameter step: {text:?} is not a duration like 5m"
                    ))
                })?;
            ((seconds / 60.0).round() as i64).max(1)
        }
    };
    if span_minutes / step > MAX_SERIES_POINTS {
        return Err(QueryError::Invalid(format!(
            "parameter step: the range holds more than {MAX_SERIES_POINTS} steps of {step} minutes"
        )));
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_range_is_a_day_and_statuses_may_be_listed() {
        let now = UnixNanos(100 * 86_400_000_000_000);
        let filter =
            parse_error_filter(&params(&[("status", "open,regressed")]), now).expect("valid");
        assert_eq!(filter.end.0 - filter.start.0, 86_400_000_000_000);
        assert_eq!(
            filter.statuses,
            vec![ErrorStatus::Open, ErrorStatus::Regressed]
        );
        let error = parse_error_filter(&params(&[("status", "closed")]), now).expect_err("bad");
        assert!(error.to_string().contains("status"), "{error}");
        let error = parse_error_filter(&params(&[("sort", "name")]), now).expect_err("bad");
        assert!(error.to_string().contains("sort"), "{error}");
        let cursor = next_cursor(50);
        let filter = parse_error_filter(&params(&[("cursor", &cursor)]), now).expect("valid");
        assert_eq!(filter.offset, 50);
    }

    #[test]
    fn a_series_step_is_whole_minutes() {
        let range = (UnixNanos(0), UnixNanos(24 * 3_600 * 1_000_000_000));
        assert_eq!(series_step_minutes(&params(&[]), range).expect("valid"), 24);
        assert_eq!(
            series_step_minutes(&params(&[("step", "5m")]), range).expect("valid"),
            5
        );
        assert_eq!(
            series_step_minutes(&params(&[("step", "30")]), range).expect("valid"),
            1
        );
        assert!(series_step_minutes(
            &params(&[("step", "1s")]),
            (UnixNanos(0), UnixNanos(7 * 86_400_000_000_000))
        )
        .is_err());
    }
}
