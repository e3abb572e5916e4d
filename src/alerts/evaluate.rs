//! A rule's value at one time, read through the read side: span rollups
//! for `error_rate`, `latency` and `request_rate`, the log indexes for
//! `log_count`, the PromQL engine for `metric` and `promql`.

use std::collections::BTreeMap;

use crate::model::alert::{AlertLabels, RuleKind, RuleSpec};
use crate::model::{SpanKind, UnixNanos};
use crate::query::promql::{EngineOptions, Value};
use crate::query::red::{GroupBy, SpanSelection, SummaryQuery};
use crate::query::{logql, QueryError, ReadSide};
use crate::store::logs::LogFilter;

/// One series of a rule and its value; `None` is no data.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesValue {
    /// Identifies the series among the rule's (empty for single-valued
    /// kinds).
    pub fingerprint: String,
    pub labels: AlertLabels,
    pub value: Option<f64>,
}

impl SeriesValue {
    fn single(value: Option<f64>) -> Vec<SeriesValue> {
        vec![SeriesValue {
            fingerprint: String::new(),
            labels: AlertLabels::new(),
            value,
        }]
    }
}

/// The fingerprint of a series: its labels, as sorted `name=value` lines.
pub fn fingerprint(labels: &AlertLabels) -> String {
    labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

const MINUTE_NANOS: i64 = 60_000_000_000;

/// The rule's series at `now`. Single-valued kinds give one series (its
/// value `None` without data); `promql` gives one per result series (none
/// without data).
pub fn evaluate(
    read: &ReadSide,
    spec: &RuleSpec,
    now: UnixNanos,
) -> Result<Vec<SeriesValue>, QueryError> {
    let window = i64::from(spec.window_minutes) * MINUTE_NANOS;
    let start = UnixNanos(now.0 - window);
    match spec.kind {
        RuleKind::ErrorRate | RuleKind::Latency | RuleKind::RequestRate => {
            let groups = read.metrics_summary(&SummaryQuery {
                spans: SpanSelection {
                    service: spec.service.clone(),
                    operation: spec.operation.clone(),
                    // A service's numbers count its entry spans; a named
                    // operation counts whatever kind it is.
                    kinds: if spec.operation.is_some() {
                        Vec::new()
                    } else {
                        vec![SpanKind::Server, SpanKind::Consumer]
                    },
                    start: start.0.div_euclid(1_000_000_000),
                    end: now.0.div_euclid(1_000_000_000),
                },
                group_by: GroupBy::Service,
            })?;
            let mut total = crate::query::red::Red::default();
            for group in &groups {
                total.merge(&group.red);
            }
            let seconds = window as f64 / 1e9;
            Ok(SeriesValue::single(match spec.kind {
                RuleKind::ErrorRate => (total.request_count > 0).then(|| total.error_ratio()),
                RuleKind::Latency => spec
                    .percentile
                    .and_then(|percentile| total.quantile_ms(percentile / 100.0)),
                _ => Some(total.request_count as f64 / seconds),
            }))
        }
        RuleKind::LogCount => {
            let mut filter = LogFilter::new(start, now);
            let expr = logql::parse(spec.query.as_deref().unwrap_or("")).map_err(|error| {
                QueryError::Syntax {
                    parameter: "query",
                    error,
                }
            })?;
            filter.query = expr.as_ref().map(logql::to_query);
            filter.service = spec.service.clone();
            Ok(SeriesValue::single(Some(read.count_logs(&filter)? as f64)))
        }
        RuleKind::Metric => {
            let selector = spec.metric.as_deref().unwrap_or("");
            let query = format!("last_over_time({selector}[{}m])", spec.window_minutes);
            let values: Vec<f64> = vector(read, &query, now)?
                .into_iter()
                .map(|(_, value)| value)
                .filter(|value| !value.is_nan())
                .collect();
            let worst = if spec.condition.is_upper() {
                values.into_iter().reduce(f64::max)
            } else {
                values.into_iter().reduce(f64::min)
            };
            Ok(SeriesValue::single(worst))
        }
        RuleKind::Promql => {
            let query = spec.query.as_deref().unwrap_or("");
            Ok(vector(read, query, now)?
                .into_iter()
                .map(|(labels, value)| SeriesValue {
                    fingerprint: fingerprint(&labels),
                    labels,
                    value: Some(value),
                })
                .collect())
        }
    }
}

/// An instant query's result as (labels, value) pairs; a scalar is one
/// series without labels.
fn vector(
    read: &ReadSide,
    query: &str,
    now: UnixNanos,
) -> Result<Vec<(AlertLabels, f64)>, QueryError> {
    let time_ms = now.0.div_euclid(1_000_000);
    match read.promql_instant(query, time_ms, &EngineOptions::default())? {
        Value::Scalar(sample) => Ok(vec![(AlertLabels::new(), sample.v)]),
        Value::Vector(samples) => Ok(samples
            .into_iter()
            .map(|sample| {
                let labels: BTreeMap<String, String> = sample
                    .labels
                    .into_pairs()
                    .into_iter()
                    .collect();
                (labels, sample.sample.v)
            })
            .collect()),
        Value::Matrix(_) | Value::String(..) => Err(QueryError::Invalid(
            "parameter query: an alert needs an instant vector or a scalar, not a range vector or string".into(),
        )),
    }
}

/// (unix seconds, value) points of a preview line.
pub type PreviewPoints = Vec<(i64, Option<f64>)>;

/// The rule's value at each of `times`: one line of points per series.
pub fn preview(
    read: &ReadSide,
    spec: &RuleSpec,
    times: &[UnixNanos],
) -> Result<Vec<(AlertLabels, PreviewPoints)>, QueryError> {
    let mut lines: BTreeMap<String, (AlertLabels, PreviewPoints)> = BTreeMap::new();
    for (index, time) in times.iter().enumerate() {
        let seconds = time.0.div_euclid(1_000_000_000);
        for series in evaluate(read, spec, *time)? {
            let line = lines
                .entry(series.fingerprint.clone())
                .or_insert_with(|| (series.labels.clone(), vec![(0, None); index]));
            line.1.resize(index, (0, None));
            line.1.push((seconds, series.value));
        }
        for line in lines.values_mut() {
            if line.1.len() <= index {
                line.1.push((seconds, None));
            }
        }
    }
    // Fill the times of points a series was absent for.
    let seconds: Vec<i64> = times
        .iter()
        .map(|t| t.0.div_euclid(1_000_000_000))
        .collect();
    Ok(lines
        .into_values()
        .map(|(labels, mut points)| {
            for (point, time) in points.iter_mut().zip(&seconds) {
                point.0 = *time;
            }
            (labels, points)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let labels = |pairs: &[(&str, &str)]| -> AlertLabels {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(fingerprint(&AlertLabels::new()), "");
        let a = fingerprint(&labels(&[("b", "2"), ("a", "1")]));
        assert_eq!(a, fingerprint(&labels(&[("a", "1"), ("b", "2")])));
        assert_ne!(a, fingerprint(&labels(&[("a", "1,b=\"2\"")])));
    }
}
