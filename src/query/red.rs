//! Service metrics from the span rollups: RED series over time
//! (`/api/metrics/red`) and totals per service or operation
//! (`/api/metrics/summary`).
//!
//! A service's numbers count its entry spans (kinds server and consumer)
//! unless `span_kind` says otherwise. Percentiles come from the merged
//! duration histograms: within [`RELATIVE_ERROR`](crate::model::RELATIVE_ERROR) of the exact value at
//! the same rank, and never outside the exact min and max.

use std::collections::BTreeMap;

use super::params::{self, Params};
use super::QueryError;
use crate::model::{DurationHistogram, SpanKind, StatusCode, UnixNanos};
use crate::store::sqlite::read::{RollupFilter, RollupRef, RollupRow};
use crate::store::StoreError;

/// Most points one RED series answers.
pub const MAX_POINTS: i64 = 1_500;
const MINUTE: i64 = 60;
const TEN_MINUTES: i64 = 600;
const HOUR: i64 = 3_600;

/// Which spans count: a service, maybe one operation, some span kinds
/// (all when empty), over `[start, end)` in unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanSelection {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub kinds: Vec<SpanKind>,
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedQuery {
    pub spans: SpanSelection,
    /// Seconds per point: a multiple of 60.
    pub step: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Service,
    Operation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryQuery {
    pub spans: SpanSelection,
    pub group_by: GroupBy,
}

/// Counts and the duration distribution of a set of spans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Red {
    pub request_count: u64,
    pub error_count: u64,
    min_nanos: i64,
    max_nanos: i64,
    histogram: DurationHistogram,
}

impl Red {
    fn add(&mut self, row: &RollupRef<'_>) -> Result<(), StoreError> {
        let count = u64::try_from(row.span_count).unwrap_or(0);
        if count == 0 {
            return Ok(());
        }
        if self.request_count == 0 {
            self.min_nanos = row.duration_min_nanos;
            self.max_nanos = row.duration_max_nanos;
        } else {
            self.min_nanos = self.min_nanos.min(row.duration_min_nanos);
            self.max_nanos = self.max_nanos.max(row.duration_max_nanos);
        }
        self.request_count += count;
        if row.status == StatusCode::Error {
            self.error_count += count;
        }
        row.merge_histogram_into(&mut self.histogram)
    }

    pub fn error_ratio(&self) -> f64 {
        if self.request_count == 0 {
            0.0
        } else {
            self.error_count as f64 / self.request_count as f64
        }
    }

    /// The duration at quantile `q` in milliseconds, `None` without
    /// requests.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let nanos = self.histogram.quantile(q)?;
        Some(nanos.clamp(self.min_nanos as f64, self.max_nanos as f64) / 1e6)
    }
}

/// One step of a RED series.
#[derive(Debug, Clone, PartialEq)]
pub struct RedPoint {
    /// The step's start, unix seconds.
    pub time: i64,
    pub step: i64,
    pub red: Red,
}

/// One group of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryGroup {
    pub service: String,
    /// `None` when grouped by service.
    pub operation: Option<String>,
    pub span_kind: SpanKind,
    /// Seconds the summary covers (for rates).
    pub seconds: i64,
    pub red: Red,
}

fn parse_kinds(params: &Params) -> Result<Vec<SpanKind>, QueryError> {
    let kind = match params::get(params, "span_kind") {
        None => return Ok(vec![SpanKind::Server, SpanKind::Consumer]),
        Some("all") => return Ok(Vec::new()),
        Some("server") => SpanKind::Server,
        Some("client") => SpanKind::Client,
        Some("producer") => SpanKind::Producer,
        Some("consumer") => SpanKind::Consumer,
        Some("internal") => SpanKind::Internal,
        Some(other) => {
            return Err(QueryError::Invalid(format!(
                "parameter span_kind: {other:?} is not one of server, client, producer, \
                 consumer, internal, all"
            )))
        }
    };
    Ok(vec![kind])
}

fn parse_selection(params: &Params, now: UnixNanos) -> Result<SpanSelection, QueryError> {
    let (start, end) = params::time_range_seconds(params, now)?;
    Ok(SpanSelection {
        service: params::get(params, "service").map(str::to_string),
        operation: params::get(params, "operation").map(str::to_string),
        kinds: parse_kinds(params)?,
        start,
        end,
    })
}

/// Parses `/api/metrics/red`: `service`, `operation`, `span_kind`, the time
/// range and `step` (a duration, a multiple of 60 s, default 60 s).
pub fn parse_red(params: &Params, now: UnixNanos) -> Result<RedQuery, QueryError> {
    let spans = parse_selection(params, now)?;
    let step = match params::get(params, "step") {
        None => MINUTE,
        Some(text) => {
            let step = humantime::parse_duration(text)
                .ok()
                .and_then(|step| i64::try_from(step.as_secs()).ok())
                .filter(|step| *step >= MINUTE && step % MINUTE == 0);
            step.ok_or_else(|| {
                QueryError::Invalid(format!(
                    "parameter step: {text:?} is not a whole number of minutes like 60s, 5m or 1h"
                ))
            })?
        }
    };
    let points = (spans.end - spans.start.div_euclid(step) * step + step - 1) / step;
    if points > MAX_POINTS {
        return Err(QueryError::Invalid(format!(
            "parameter step: {points} points over this range, at most {MAX_POINTS}; use a longer step"
        )));
    }
    Ok(RedQuery { spans, step })
}

/// Parses `/api/metrics/summary`: `group_by` (service or operation, default
/// service), `service`, `span_kind` and the time range.
pub fn parse_summary(params: &Params, now: UnixNanos) -> Result<SummaryQuery, QueryError> {
    let group_by = match params::get(params, "group_by") {
        None | Some("service") => GroupBy::Service,
        Some("operation") => GroupBy::Operation,
        Some(other) => {
            return Err(QueryError::Invalid(format!(
                "parameter group_by: must be service or operation, got {other:?}"
            )))
        }
    };
    Ok(SummaryQuery {
        spans: parse_selection(params, now)?,
        group_by,
    })
}

fn filter(spans: &SpanSelection, resolution: i64, start: i64, end: i64) -> RollupFilter {
    RollupFilter {
        resolution,
        start,
        end,
        service: spans.service.clone(),
        operation: spans.operation.clone(),
        kinds: spans.kinds.clone(),
    }
}

/// What a rollup reader calls with each row.
pub type RollupVisitor<'a> = dyn FnMut(RollupRef<'_>) -> Result<(), StoreError> + 'a;

/// Runs a RED query on `read` (the store's rollup reader, which calls the
/// visitor with each row). Steps start at
/// multiples of the step; a step of whole hours reads hour rollups, one of
/// whole ten minutes ten-minute rollups.
pub fn red(
    query: &RedQuery,
    read: impl Fn(&RollupFilter, &mut RollupVisitor<'_>) -> Result<(), QueryError>,
) -> Result<Vec<RedPoint>, QueryError> {
    let step = query.step;
    let first = query.spans.start.div_euclid(step) * step;
    let end = query.spans.end;
    let resolution = if step % HOUR == 0 {
        HOUR
    } else if step % TEN_MINUTES == 0 {
        TEN_MINUTES
    } else {
        MINUTE
    };
    let mut points: Vec<RedPoint> = (0..)
        .map(|index| first + index * step)
        .take_while(|time| *time < end)
        .map(|time| RedPoint {
            time,
            step,
            red: Red::default(),
        })
        .collect();
    let last_end = first + points.len() as i64 * step;
    read(
        &filter(&query.spans, resolution, first, last_end),
        &mut |row: RollupRef<'_>| {
            let index = (row.bucket_start - first).div_euclid(step);
            match usize::try_from(index).ok().and_then(|i| points.get_mut(i)) {
                Some(point) => point.red.add(&row),
                None => Ok(()),
            }
        },
    )?;
    Ok(points)
}

/// `[start, end)` (unix seconds) widened to whole minutes, and the rollup
/// reads that cover it: whole hours inside from hour rollups, the minutes
/// at its edges from minute rollups, as `(resolution, from, to)`.
pub fn rollup_ranges(start: i64, end: i64) -> (i64, i64, Vec<(i64, i64, i64)>) {
    let start = start.div_euclid(MINUTE) * MINUTE;
    let end = (end + MINUTE - 1).div_euclid(MINUTE) * MINUTE;
    let hours_start = (start + HOUR - 1).div_euclid(HOUR) * HOUR;
    let hours_end = end.div_euclid(HOUR) * HOUR;
    let parts = if hours_start < hours_end {
        vec![
            (HOUR, hours_start, hours_end),
            (MINUTE, start, hours_start),
            (MINUTE, hours_end, end),
        ]
    } else {
        vec![(MINUTE, start, end)]
    };
    (start, end, parts)
}

/// The totals of the spans `spans` selects over [`rollup_ranges`] of
/// their range, read row by row without keeping the rows (what an alert
/// rule over a service reads).
pub fn totals(
    spans: &SpanSelection,
    read: impl Fn(&RollupFilter, &mut RollupVisitor<'_>) -> Result<(), QueryError>,
) -> Result<Red, QueryError> {
    let (_, _, parts) = rollup_ranges(spans.start, spans.end);
    let mut red = Red::default();
    for (resolution, from, to) in parts {
        read(
            &filter(spans, resolution, from, to),
            &mut |row: RollupRef<'_>| red.add(&row),
        )?;
    }
    Ok(red)
}

/// Runs a summary query over [`rollup_ranges`].
pub fn summary(
    query: &SummaryQuery,
    read: impl Fn(&RollupFilter) -> Result<Vec<RollupRow>, QueryError>,
) -> Result<Vec<SummaryGroup>, QueryError> {
    let spans = &query.spans;
    let (start, end, parts) = rollup_ranges(spans.start, spans.end);
    let mut rows = Vec::new();
    for (resolution, from, to) in parts {
        rows.extend(read(&filter(spans, resolution, from, to))?);
    }
    let mut groups: BTreeMap<(String, Option<String>, i32), Red> = BTreeMap::new();
    for row in &rows {
        let operation = match query.group_by {
            GroupBy::Service => None,
            GroupBy::Operation => Some(row.operation.clone()),
        };
        groups
            .entry((row.service.clone(), operation, row.kind as i32))
            .or_default()
            .add(&row.as_ref())?;
    }
    Ok(groups
        .into_iter()
        .map(|((service, operation, kind), red)| SummaryGroup {
            service,
            operation,
            span_kind: SpanKind::from_i32(kind),
            seconds: (end - start).max(1),
            red,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::params::from_pairs as params;

    const NOW: UnixNanos = UnixNanos(1_764_000_000_000_000_000);

    #[test]
    fn bad_parameters_name_themselves() {
        for (name, value) in [
            ("step", "30s"),
            ("step", "90s"),
            ("step", "soon"),
            ("span_kind", "servers"),
        ] {
            let error = parse_red(&params(&[(name, value)]), NOW).expect_err(value);
            assert!(error.invalid_message().contains(name), "{error}");
        }
        let error = parse_red(&params(&[("lookback", "7d"), ("step", "60s")]), NOW)
            .expect_err("too many points");
        assert!(error.invalid_message().contains("at most"), "{error}");
        let error = parse_summary(&params(&[("group_by", "host")]), NOW).expect_err("group_by");
        assert!(error.invalid_message().contains("group_by"), "{error}");
    }

    #[test]
    fn entry_spans_count_by_default() {
        let query = parse_red(&params(&[]), NOW).expect("defaults");
        assert_eq!(query.spans.kinds, [SpanKind::Server, SpanKind::Consumer]);
        assert_eq!(query.step, 60);
        let all = parse_red(&params(&[("span_kind", "all"), ("step", "1h")]), NOW).expect("all");
        assert!(all.spans.kinds.is_empty());
        assert_eq!(all.step, 3600);
    }

    fn row(bucket_start: i64, status: StatusCode, durations: &[i64]) -> RollupRow {
        let mut histogram = DurationHistogram::default();
        for nanos in durations {
            histogram.record(*nanos);
        }
        RollupRow {
            service: "checkout".into(),
            operation: "GET /".into(),
            kind: SpanKind::Server,
            status,
            bucket_start,
            span_count: durations.len() as i64,
            duration_sum_nanos: durations.iter().sum(),
            duration_min_nanos: *durations.iter().min().unwrap_or(&0),
            duration_max_nanos: *durations.iter().max().unwrap_or(&0),
            histogram,
        }
    }

    #[test]
    fn steps_merge_their_buckets_and_empty_steps_are_zero() {
        let query = RedQuery {
            spans: SpanSelection {
                service: None,
                operation: None,
                kinds: Vec::new(),
                start: 600,
                end: 900,
            },
            step: 120,
        };
        let rows = vec![
            row(600, StatusCode::Ok, &[1_000_000, 3_000_000]),
            row(660, StatusCode::Error, &[9_000_000]),
            row(840, StatusCode::Unset, &[2_000_000]),
        ];
        let points = red(&query, |_, visit| {
            for row in &rows {
                visit(row.as_ref())?;
            }
            Ok(())
        })
        .expect("red");
        let times: Vec<i64> = points.iter().map(|p| p.time).collect();
        assert_eq!(times, [600, 720, 840]);
        assert_eq!(points[0].red.request_count, 3);
        assert_eq!(points[0].red.error_count, 1);
        assert_eq!(
            points[0].red.quantile_ms(1.0),
            Some(9.0),
            "clamped to the max"
        );
        assert_eq!(points[1].red.request_count, 0);
        assert_eq!(points[1].red.quantile_ms(0.5), None);
        assert_eq!(points[2].red.request_count, 1);
    }

    #[test]
    fn summaries_read_hours_inside_and_minutes_at_the_edges() {
        let query = SummaryQuery {
            spans: SpanSelection {
                service: None,
                operation: None,
                kinds: Vec::new(),
                start: 3_000,
                end: 11_000,
            },
            group_by: GroupBy::Service,
        };
        let asked = std::cell::RefCell::new(Vec::new());
        summary(&query, |filter| {
            asked
                .borrow_mut()
                .push((filter.resolution, filter.start, filter.end));
            Ok(Vec::new())
        })
        .expect("summary");
        assert_eq!(
            asked.into_inner(),
            [(3600, 3600, 10800), (60, 3000, 3600), (60, 10800, 11040)]
        );
    }
}
