//! `/api/logs` and `/api/logs/histogram` parameters → [`LogFilter`] and
//! [`PageRequest`].

use super::params::{self, Params};
use super::{logql, QueryError};
use crate::model::{Severity, TimeWindow, TraceId, UnixNanos};
use crate::store::logs::{LogCursor, LogFilter, PageRequest, SortOrder};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_BUCKETS: usize = 60;

/// The log query of `q`.
fn parse_q(text: &str) -> Result<Option<logql::Expr>, QueryError> {
    logql::parse(text).map_err(|error| QueryError::Syntax {
        parameter: "q",
        error,
    })
}

/// Parses `q`, `service`, `level`, `trace_id` and the time range.
pub fn parse_log_filter(params: &Params, now: UnixNanos) -> Result<LogFilter, QueryError> {
    let (start, end) = params::time_range(params, now)?;
    let mut filter = LogFilter::new(start, end);
    if let Some(text) = params::get(params, "q") {
        let expr = parse_q(text)?;
        filter.query = expr.as_ref().map(logql::to_query);
    }
    filter.service = params::get(params, "service").map(str::to_string);
    if let Some(level) = params::get(params, "level") {
        let severity = Severity::from_level_name(level).ok_or_else(|| {
            QueryError::Invalid(format!(
                "parameter level: {level:?} is not one of {}",
                Severity::LEVEL_NAMES
            ))
        })?;
        filter.min_severity = Some(severity.min_number());
    }
    if let Some(text) = params::get(params, "trace_id") {
        let trace_id = TraceId::from_hex(text)
            .map_err(|error| QueryError::Invalid(format!("parameter trace_id: {error}")))?;
        filter.trace_id = Some(trace_id);
    }
    Ok(filter)
}

/// Parses `order`, `limit` and `cursor`.
pub fn parse_page(params: &Params) -> Result<PageRequest, QueryError> {
    let order = match params::get(params, "order") {
        None | Some("desc") => SortOrder::Desc,
        Some("asc") => SortOrder::Asc,
        Some(other) => {
            return Err(QueryError::Invalid(format!(
                "parameter order: must be asc or desc, got {other:?}"
            )))
        }
    };
    let after = params::get(params, "cursor")
        .map(|text| {
            params::decode_cursor(text, 2).map(|values| LogCursor {
                timestamp: UnixNanos(values[0]),
                journal_id: u64::try_from(values[1]).unwrap_or(0),
            })
        })
        .transpose()?;
    Ok(PageRequest {
        order,
        limit: params::limit(params, DEFAULT_LIMIT, MAX_LIMIT)?,
        after,
    })
}

/// How far a trace's logs may lie outside the trace's own time range:
/// the clocks of the hosts that wrote them disagree.
pub const TRACE_LOGS_SKEW_NANOS: i64 = 3_600_000_000_000;

/// `/api/traces/{id}/logs` parameters → the search for the logs carrying
/// `trace_id` (a `trace_id` parameter is ignored). Without `start`, `end`
/// or `lookback` the range is the trace's own (`bounds`) widened by
/// [`TRACE_LOGS_SKEW_NANOS`] each side, or all of `kept` for a trace that
/// is not stored; oldest first unless `order` is given.
pub fn parse_trace_logs(
    params: &Params,
    trace_id: TraceId,
    bounds: Option<(UnixNanos, UnixNanos)>,
    kept: TimeWindow,
    now: UnixNanos,
) -> Result<(LogFilter, PageRequest), QueryError> {
    let params: Vec<(String, String)> = params
        .iter()
        .filter(|(key, _)| key != "trace_id")
        .cloned()
        .collect();
    let explicit_range = params
        .iter()
        .any(|(key, _)| key == "start" || key == "end" || key == "lookback");
    let mut filter = parse_log_filter(&params, now)?;
    if !explicit_range {
        (filter.start, filter.end) = match bounds {
            Some((start, end)) => (
                UnixNanos(start.0.saturating_sub(TRACE_LOGS_SKEW_NANOS)),
                UnixNanos(end.0.saturating_add(TRACE_LOGS_SKEW_NANOS)),
            ),
            None => (kept.earliest, kept.latest),
        };
    }
    filter.trace_id = Some(trace_id);
    let mut page = parse_page(&params)?;
    if params::get(&params, "order").is_none() {
        page.order = SortOrder::Asc;
    }
    Ok((filter, page))
}

pub fn encode_log_cursor(cursor: &LogCursor) -> String {
    params::encode_cursor(&[
        cursor.timestamp.0,
        i64::try_from(cursor.journal_id).unwrap_or(i64::MAX),
    ])
}

pub fn parse_buckets(params: &Params) -> Result<usize, QueryError> {
    match params::get(params, "buckets") {
        None => Ok(DEFAULT_BUCKETS),
        Some(text) => match text.parse::<usize>() {
            Ok(value) if (1..=crate::store::logs::MAX_HISTOGRAM_BUCKETS).contains(&value) => {
                Ok(value)
            }
            _ => Err(QueryError::Invalid(format!(
                "parameter buckets: must be an integer from 1 to {}, got {text:?}",
                crate::store::logs::MAX_HISTOGRAM_BUCKETS
            ))),
        },
    }
}

/// The filters of a live tail, evaluated per record in memory.
pub struct TailQuery {
    expr: Option<logql::Expr>,
    service: Option<String>,
    min_severity: Option<i32>,
    trace_id: Option<TraceId>,
}

impl TailQuery {
    pub fn matches(&self, record: &crate::model::LogRecord) -> bool {
        self.service
            .as_ref()
            .is_none_or(|service| &record.service == service)
            && self
                .min_severity
                .is_none_or(|min| record.severity_number >= min)
            && self.trace_id.is_none_or(|id| record.trace_id == Some(id))
            && self
                .expr
                .as_ref()
                .is_none_or(|expr| logql::matches(expr, record))
    }
}

/// Parses `q`, `service`, `level` and `trace_id` for `/api/logs/tail`.
pub fn parse_tail_filter(params: &Params) -> Result<TailQuery, QueryError> {
    // Reuse the search parser for validation and the scalar filters.
    let filter = parse_log_filter(params, UnixNanos::now())?;
    let expr = match params::get(params, "q") {
        Some(text) => parse_q(text)?,
        None => None,
    };
    Ok(TailQuery {
        expr,
        service: filter.service,
        min_severity: filter.min_severity,
        trace_id: filter.trace_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::params::from_pairs as params;

    #[test]
    fn filters_and_pages_parse() {
        let now = UnixNanos(100_000_000_000_000);
        let filter = parse_log_filter(
            &params(&[
                ("q", "timeout service:api"),
                ("level", "warn"),
                ("service", "api"),
            ]),
            now,
        )
        .expect("valid");
        assert!(filter.query.is_some());
        assert_eq!(filter.min_severity, Some(13));
        let page = parse_page(&params(&[("order", "asc"), ("limit", "10")])).expect("valid");
        assert_eq!((page.order, page.limit), (SortOrder::Asc, 10));
        let cursor = LogCursor {
            timestamp: UnixNanos(5),
            journal_id: 7,
        };
        let page = parse_page(&params(&[("cursor", &encode_log_cursor(&cursor))])).expect("valid");
        assert_eq!(page.after, Some(cursor));
    }

    #[test]
    fn trace_logs_default_to_the_trace_range_widened_and_oldest_first() {
        let now = UnixNanos(100_000_000_000_000);
        let trace_id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("id");
        let kept = TimeWindow {
            earliest: UnixNanos(1),
            latest: UnixNanos(2),
        };
        let bounds = Some((UnixNanos(50_000_000_000_000), UnixNanos(50_000_000_000_010)));
        let (filter, page) = parse_trace_logs(
            &params(&[("trace_id", "ignored")]),
            trace_id,
            bounds,
            kept,
            now,
        )
        .expect("valid");
        assert_eq!(filter.trace_id, Some(trace_id));
        assert_eq!(
            filter.start,
            UnixNanos(50_000_000_000_000 - TRACE_LOGS_SKEW_NANOS)
        );
        assert_eq!(
            filter.end,
            UnixNanos(50_000_000_000_010 + TRACE_LOGS_SKEW_NANOS)
        );
        assert_eq!(page.order, SortOrder::Asc);

        let (filter, page) =
            parse_trace_logs(&params(&[("order", "desc")]), trace_id, None, kept, now)
                .expect("valid");
        assert_eq!((filter.start, filter.end), (kept.earliest, kept.latest));
        assert_eq!(page.order, SortOrder::Desc);

        let (filter, _) =
            parse_trace_logs(&params(&[("lookback", "15m")]), trace_id, bounds, kept, now)
                .expect("valid");
        assert_eq!(filter.end, now);
    }

    #[test]
    fn bad_parameters_name_themselves_and_the_parser_position() {
        let now = UnixNanos(100_000_000_000_000);
        let error = parse_log_filter(&params(&[("q", "\"unbalanced")]), now).expect_err("bad q");
        assert!(
            error.invalid_message().contains("parameter q")
                && error.invalid_message().contains("position"),
            "{}",
            error.invalid_message()
        );
        for (name, value) in [("level", "loud"), ("trace_id", "xyz")] {
            let error = parse_log_filter(&params(&[(name, value)]), now).expect_err(name);
            assert!(
                error.invalid_message().contains(name),
                "{}",
                error.invalid_message()
            );
        }
        assert!(parse_page(&params(&[("order", "sideways")])).is_err());
        assert!(parse_buckets(&params(&[("buckets", "0")])).is_err());
    }
}
