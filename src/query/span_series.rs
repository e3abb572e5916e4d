//! The span-derived series of the Prometheus view, computed from the span
//! rollups and the service graph, named as the OpenTelemetry Collector's
//! spanmetrics and servicegraph connectors name them after Prometheus
//! translation:
//!
//! - `traces_span_metrics_calls_total{service_name, span_name, span_kind, status_code}`
//! - `traces_span_metrics_duration_milliseconds_bucket{…, le}`, `_sum`, `_count`
//!   (the connector's 16 default buckets, 2 ms … 15 s)
//! - `traces_service_graph_request_total{client, server}` and
//!   `traces_service_graph_request_failed_total{client, server}`
//!
//! They are counters: the value at the end of each minute is the sum of
//! every stored minute up to it, with a sample every minute from the
//! series' first stored minute on (as the connectors export a series on
//! every interval once it exists), never for a minute not yet over.

use ahash::AHashMap as HashMap;
use rusqlite::Connection;

use super::promql::{SeriesSource, SourceError};
use crate::model::metric::{Labels, MatchOp, Matcher, Sample, SeriesSamples, METRIC_NAME};
use crate::model::metric_batch::MetricType;
use crate::model::{SpanKind, StatusCode, FIXED_BOUNDS_MS};
use crate::store::sqlite::metrics::read::FamilyInfo;
use crate::store::sqlite::read::{self, RollupFilter};
use crate::store::StoreError;

pub const CALLS: &str = "traces_span_metrics_calls_total";
pub const DURATION_BUCKET: &str = "traces_span_metrics_duration_milliseconds_bucket";
pub const DURATION_SUM: &str = "traces_span_metrics_duration_milliseconds_sum";
pub const DURATION_COUNT: &str = "traces_span_metrics_duration_milliseconds_count";
pub const GRAPH_REQUESTS: &str = "traces_service_graph_request_total";
pub const GRAPH_FAILED: &str = "traces_service_graph_request_failed_total";

/// Every span-derived metric name.
pub const NAMES: [&str; 6] = [
    CALLS,
    DURATION_BUCKET,
    DURATION_SUM,
    DURATION_COUNT,
    GRAPH_REQUESTS,
    GRAPH_FAILED,
];

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;

/// The span-derived metric families that have series, described as stored
/// families are (for `/api/metrics/names` and `/metadata`); `series`
/// counts every series of the family, a histogram's buckets, sum and count.
pub fn families(conn: &Connection) -> Result<Vec<FamilyInfo>, StoreError> {
    let spans = read::span_series_since(conn, 0)?.len() as u64;
    let edges = read::edge_pairs_since(conn, 0)?.len() as u64;
    let family = |name: &str, metric_type, unit: &str, help: &str, series| FamilyInfo {
        name: name.to_string(),
        metric_type,
        unit: unit.to_string(),
        help: help.to_string(),
        series,
    };
    let mut out = Vec::new();
    if spans > 0 {
        out.push(family(
            CALLS,
            MetricType::Counter,
            "",
            "Spans by service, operation, span kind and status, from the stored spans",
            spans,
        ));
        out.push(family(
            DURATION_BUCKET.trim_end_matches("_bucket"),
            MetricType::Histogram,
            "ms",
            "Span durations by service, operation, span kind and status, from the stored spans",
            spans * (FIXED_BOUNDS_MS.len() as u64 + 3),
        ));
    }
    if edges > 0 {
        out.push(family(
            GRAPH_REQUESTS,
            MetricType::Counter,
            "",
            "Calls between services (client to server), from parent and child spans",
            edges,
        ));
        out.push(family(
            GRAPH_FAILED,
            MetricType::Counter,
            "",
            "Failed calls between services (client to server)",
            edges,
        ));
    }
    Ok(out)
}

/// The names of `NAMES` a selector's `__name__` matchers accept.
pub fn names_matched(matchers: &[Matcher]) -> Vec<&'static str> {
    NAMES
        .iter()
        .copied()
        .filter(|name| {
            matchers
                .iter()
                .filter(|m| m.name == METRIC_NAME)
                .all(|m| m.matches_value(name))
        })
        .collect()
}

fn kind_label(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

fn status_label(status: StatusCode) -> &'static str {
    match status {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

/// The counts one series adds in one minute: one value per output series
/// of its family (calls: one; duration: 17 buckets, sum, count).
type MinuteValues = Vec<f64>;

/// One source series' values before the range and per minute in it.
type SeriesValues = (MinuteValues, HashMap<i64, MinuteValues>);

/// Accumulates per-minute values of many series into cumulative samples.
#[derive(Default)]
struct Accumulator {
    /// Base labels of a source series → its values.
    series: HashMap<Vec<(String, String)>, SeriesValues>,
}

impl Accumulator {
    fn add(&mut self, key: Vec<(String, String)>, minute: Option<i64>, values: &[f64]) {
        let (base, minutes) = self
            .series
            .entry(key)
            .or_insert_with(|| (vec![0.0; values.len()], HashMap::new()));
        let target = match minute {
            None => base,
            Some(minute) => minutes
                .entry(minute)
                .or_insert_with(|| vec![0.0; values.len()]),
        };
        for (sum, value) in target.iter_mut().zip(values) {
            *sum += value;
        }
    }

    /// Cumulative samples at each minute's end in `[start_ms, end_ms]`;
    /// `names[i]` (with its extra label) names output `i`. Minute rows
    /// start at `range_start_minute`; everything before it is in the base.
    fn finish(
        self,
        names: &[(&str, Option<(&str, String)>)],
        range_start_minute: i64,
        (start_ms, end_ms): (i64, i64),
        now_minute: i64,
        matchers: &[Matcher],
        out: &mut Vec<SeriesSamples>,
    ) {
        for (key, (base, minutes)) in self.series {
            let outputs: Vec<(usize, Labels)> = names
                .iter()
                .enumerate()
                .map(|(index, (name, extra))| {
                    let mut pairs = key.clone();
                    pairs.push((METRIC_NAME.to_string(), name.to_string()));
                    if let Some((label, value)) = extra {
                        pairs.push((label.to_string(), value.clone()));
                    }
                    (index, Labels::from_pairs(pairs))
                })
                .filter(|(_, labels)| crate::model::metric::matches_all(matchers, labels))
                .collect();
            if outputs.is_empty() {
                continue;
            }
            let mut ordered: Vec<(i64, MinuteValues)> = minutes.into_iter().collect();
            ordered.sort_by_key(|(minute, _)| *minute);
            // The series exists from its first stored minute; one counted
            // before the range (in `base`) exists from the range's start.
            let exists_from = if base.iter().any(|v| *v != 0.0) {
                range_start_minute
            } else {
                match ordered.first() {
                    Some((minute, _)) => *minute,
                    None => continue,
                }
            };
            let mut running = base;
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); outputs.len()];
            let mut next = ordered.into_iter().peekable();
            let mut minute = exists_from;
            while minute <= now_minute {
                while let Some((_, values)) = next.next_if(|(m, _)| *m <= minute) {
                    for (sum, value) in running.iter_mut().zip(values) {
                        *sum += value;
                    }
                }
                let t = (minute + MINUTE) * 1000;
                if t > end_ms {
                    break;
                }
                if t >= start_ms {
                    for (slot, (index, _)) in outputs.iter().enumerate() {
                        samples[slot].push(Sample {
                            t,
                            v: running[*index],
                        });
                    }
                }
                minute += MINUTE;
            }
            for ((_, labels), samples) in outputs.into_iter().zip(samples) {
                if !samples.is_empty() {
                    out.push(SeriesSamples { labels, samples });
                }
            }
        }
    }
}

/// The span-derived series over one read connection.
pub struct SpanSeries<'a> {
    pub conn: &'a Connection,
    /// Wall time, unix ms: minutes not yet over have no sample.
    pub now_ms: i64,
}

impl SpanSeries<'_> {
    fn equal_value<'m>(matchers: &'m [Matcher], name: &str) -> Option<&'m str> {
        matchers
            .iter()
            .find(|m| m.name == name && m.op == MatchOp::Equal)
            .map(|m| m.value.as_str())
    }

    /// Hour rows before `start_minute` and minute rows of
    /// `[start_minute, end_minute)`.
    fn rollups(
        &self,
        service: Option<&str>,
        start_minute: i64,
        end_minute: i64,
    ) -> Result<(Vec<read::RollupRow>, Vec<read::RollupRow>), StoreError> {
        let filter = |resolution, start, end| RollupFilter {
            resolution,
            start,
            end,
            service: service.map(str::to_string),
            operation: None,
            kinds: Vec::new(),
        };
        let before = read::span_rollups(self.conn, &filter(HOUR, i64::MIN / 2, start_minute))?;
        let minutes = read::span_rollups(self.conn, &filter(MINUTE, start_minute, end_minute))?;
        Ok((before, minutes))
    }

    fn span_metrics(
        &self,
        names: &[&'static str],
        matchers: &[Matcher],
        (start_ms, end_ms): (i64, i64),
        out: &mut Vec<SeriesSamples>,
    ) -> Result<(), StoreError> {
        let service = Self::equal_value(matchers, "service_name");
        // From the start of the first hour of the range, minute by minute;
        // before it, whole hours.
        let start_hour = (start_ms / 1000).div_euclid(HOUR) * HOUR;
        let end_minute = (end_ms / 1000).div_euclid(MINUTE) * MINUTE + MINUTE;
        let (before, minutes) = self.rollups(service, start_hour, end_minute)?;
        let now_minute = (self.now_ms / 1000).div_euclid(MINUTE) * MINUTE - MINUTE;
        let key = |row: &read::RollupRow| {
            vec![
                ("service_name".to_string(), row.service.clone()),
                ("span_name".to_string(), row.operation.clone()),
                ("span_kind".to_string(), kind_label(row.kind).to_string()),
                (
                    "status_code".to_string(),
                    status_label(row.status).to_string(),
                ),
            ]
        };
        if names.contains(&CALLS) {
            let mut calls = Accumulator::default();
            for (row, minute) in before
                .iter()
                .map(|row| (row, None))
                .chain(minutes.iter().map(|row| (row, Some(row.bucket_start))))
            {
                calls.add(key(row), minute, &[row.span_count as f64]);
            }
            calls.finish(
                &[(CALLS, None)],
                start_hour,
                (start_ms, end_ms),
                now_minute,
                matchers,
                out,
            );
        }
        let duration: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| [DURATION_BUCKET, DURATION_SUM, DURATION_COUNT].contains(name))
            .collect();
        if !duration.is_empty() {
            let mut outputs: Vec<(&str, Option<(&str, String)>)> = Vec::new();
            if duration.contains(&DURATION_BUCKET) {
                for bound in FIXED_BOUNDS_MS {
                    outputs.push((DURATION_BUCKET, Some(("le", bound.to_string()))));
                }
                outputs.push((DURATION_BUCKET, Some(("le", "+Inf".to_string()))));
            }
            if duration.contains(&DURATION_SUM) {
                outputs.push((DURATION_SUM, None));
            }
            if duration.contains(&DURATION_COUNT) {
                outputs.push((DURATION_COUNT, None));
            }
            let mut accumulator = Accumulator::default();
            for (row, minute) in before
                .iter()
                .map(|row| (row, None))
                .chain(minutes.iter().map(|row| (row, Some(row.bucket_start))))
            {
                let mut values = Vec::with_capacity(outputs.len());
                if duration.contains(&DURATION_BUCKET) {
                    let mut cumulative = 0u64;
                    for count in row.histogram.fixed_counts() {
                        cumulative += count;
                        values.push(cumulative as f64);
                    }
                }
                if duration.contains(&DURATION_SUM) {
                    values.push(row.duration_sum_nanos as f64 / 1e6);
                }
                if duration.contains(&DURATION_COUNT) {
                    values.push(row.span_count as f64);
                }
                accumulator.add(key(row), minute, &values);
            }
            accumulator.finish(
                &outputs,
                start_hour,
                (start_ms, end_ms),
                now_minute,
                matchers,
                out,
            );
        }
        Ok(())
    }

    fn service_graph(
        &self,
        names: &[&'static str],
        matchers: &[Matcher],
        (start_ms, end_ms): (i64, i64),
        out: &mut Vec<SeriesSamples>,
    ) -> Result<(), StoreError> {
        let start_hour = (start_ms / 1000).div_euclid(HOUR) * HOUR;
        let end_minute = (end_ms / 1000).div_euclid(MINUTE) * MINUTE + MINUTE;
        let before = read::service_edges(self.conn, HOUR, i64::MIN / 2, start_hour)?;
        let minutes = read::service_edges(self.conn, MINUTE, start_hour, end_minute)?;
        let now_minute = (self.now_ms / 1000).div_euclid(MINUTE) * MINUTE - MINUTE;
        for (name, failed) in [(GRAPH_REQUESTS, false), (GRAPH_FAILED, true)] {
            if !names.contains(&name) {
                continue;
            }
            let mut accumulator = Accumulator::default();
            for (row, minute) in before
                .iter()
                .map(|row| (row, None))
                .chain(minutes.iter().map(|row| (row, Some(row.bucket_start))))
            {
                let key = vec![
                    ("client".to_string(), row.parent.clone()),
                    ("server".to_string(), row.child.clone()),
                ];
                let value = if failed {
                    row.error_count
                } else {
                    row.call_count
                };
                accumulator.add(key, minute, &[value as f64]);
            }
            accumulator.finish(
                &[(name, None)],
                start_hour,
                (start_ms, end_ms),
                now_minute,
                matchers,
                out,
            );
        }
        Ok(())
    }
}

impl SpanSeries<'_> {
    /// The span-derived series matching `matchers` with their samples in
    /// `[start_ms, end_ms]`.
    pub fn series(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesSamples>, StoreError> {
        let names = names_matched(matchers);
        let mut out = Vec::new();
        if names.is_empty() {
            return Ok(out);
        }
        self.span_metrics(&names, matchers, (start_ms, end_ms), &mut out)?;
        self.service_graph(&names, matchers, (start_ms, end_ms), &mut out)?;
        Ok(out)
    }
}

impl SpanSeries<'_> {
    /// The label sets of the span-derived series matching `matchers` that
    /// have data since `since_ms`, without reading samples: what the label
    /// and series APIs list.
    pub fn label_sets(
        &self,
        matchers: &[Matcher],
        since_ms: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let names = names_matched(matchers);
        let mut out = Vec::new();
        if names.is_empty() {
            return Ok(out);
        }
        let since = since_ms.div_euclid(1000);
        let mut push = |pairs: Vec<(String, String)>| {
            let labels = Labels::from_pairs(pairs);
            if crate::model::metric::matches_all(matchers, &labels) {
                out.push(labels);
            }
        };
        if names
            .iter()
            .any(|name| name.starts_with("traces_span_metrics"))
        {
            for (service, operation, kind, status) in read::span_series_since(self.conn, since)? {
                let base = vec![
                    ("service_name".to_string(), service),
                    ("span_name".to_string(), operation),
                    ("span_kind".to_string(), kind_label(kind).to_string()),
                    ("status_code".to_string(), status_label(status).to_string()),
                ];
                for name in &names {
                    let with_name = |extra: Option<(&str, String)>| {
                        let mut pairs = base.clone();
                        pairs.push((METRIC_NAME.to_string(), name.to_string()));
                        pairs.extend(extra.map(|(label, value)| (label.to_string(), value)));
                        pairs
                    };
                    match *name {
                        CALLS | DURATION_SUM | DURATION_COUNT => push(with_name(None)),
                        DURATION_BUCKET => {
                            for bound in FIXED_BOUNDS_MS {
                                push(with_name(Some(("le", bound.to_string()))));
                            }
                            push(with_name(Some(("le", "+Inf".to_string()))));
                        }
                        _ => {}
                    }
                }
            }
        }
        if names
            .iter()
            .any(|name| name.starts_with("traces_service_graph"))
        {
            for (client, server) in read::edge_pairs_since(self.conn, since)? {
                for name in names
                    .iter()
                    .filter(|name| name.starts_with("traces_service_graph"))
                {
                    push(vec![
                        (METRIC_NAME.to_string(), name.to_string()),
                        ("client".to_string(), client.clone()),
                        ("server".to_string(), server.clone()),
                    ]);
                }
            }
        }
        Ok(out)
    }
}

impl SeriesSource for SpanSeries<'_> {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesSamples>, SourceError> {
        self.series(matchers, start_ms, end_ms)
            .map_err(|error| SourceError(error.to_string()))
    }
}
