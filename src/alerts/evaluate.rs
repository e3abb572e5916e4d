//! A rule's value at one time, read through the read side: span rollups
//! for `error_rate`, `latency` and `request_rate`, the log indexes for
//! `log_count`, the PromQL engine for `metric` and `promql`, the error
//! groups' minute counts for `error_group`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::model::alert::{AlertLabels, RuleKind, RuleSpec};
use crate::model::{SpanKind, UnixNanos};
use crate::query::promql::{EngineOptions, Value};
use crate::query::red::{Red, SpanSelection};
use crate::query::{logql, QueryError, ReadSide};
use crate::store::logs::LogFilter;

/// One read's outcome, shared by the rules that need it.
type Shared<T> = Arc<OnceLock<Result<T, String>>>;
type SharedMap<K, T> = Mutex<HashMap<K, Shared<T>>>;
/// Service, operation, start and end (unix seconds).
type SpanKey = (Option<String>, Option<String>, i64, i64);
/// Query, service, start and end (unix nanos).
type LogKey = (String, Option<String>, i64, i64);
/// Expression and evaluation time (unix ms).
type VectorKey = (String, i64);

/// Reads shared by the rules of one round (all evaluated at the same
/// time): rules over the same spans (a service's error rate, latency and
/// request rate), the same log query or the same PromQL expression read
/// the data once. Safe to use from the evaluation threads at once: the
/// first to ask reads, the others wait for its answer.
#[derive(Default)]
pub struct RoundCache {
    spans: SharedMap<SpanKey, Red>,
    logs: SharedMap<LogKey, u64>,
    vectors: SharedMap<VectorKey, Vec<(AlertLabels, f64)>>,
}

/// `read` once per key of `map` (through the cache), or directly without
/// one.
fn cached<K: std::hash::Hash + Eq, T: Clone>(
    map: Option<&SharedMap<K, T>>,
    key: K,
    read: impl FnOnce() -> Result<T, QueryError>,
) -> Result<T, QueryError> {
    let Some(map) = map else {
        return read();
    };
    let slot = Arc::clone(map.lock().entry(key).or_default());
    slot.get_or_init(|| read().map_err(|error| error.to_string()))
        .clone()
        .map_err(QueryError::Invalid)
}

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
/// The `query` of an `error_group` rule that counts only groups first
/// seen (or regressed) within the window.
pub const NEW_GROUPS: &str = "new";

/// The rule's series at `now`. Single-valued kinds give one series (its
/// value `None` without data); `promql` gives one per result series (none
/// without data).
pub fn evaluate(
    read: &ReadSide,
    spec: &RuleSpec,
    now: UnixNanos,
) -> Result<Vec<SeriesValue>, QueryError> {
    evaluate_with(read, spec, now, None)
}

/// [`evaluate`], sharing reads with the other rules of a round through
/// `cache`.
pub fn evaluate_with(
    read: &ReadSide,
    spec: &RuleSpec,
    now: UnixNanos,
    cache: Option<&RoundCache>,
) -> Result<Vec<SeriesValue>, QueryError> {
    let window = i64::from(spec.window_minutes) * MINUTE_NANOS;
    let start = UnixNanos(now.0 - window);
    match spec.kind {
        RuleKind::ErrorRate | RuleKind::Latency | RuleKind::RequestRate => {
            let selection = SpanSelection {
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
            };
            let key = (
                selection.service.clone(),
                selection.operation.clone(),
                selection.start,
                selection.end,
            );
            let total = cached(cache.map(|c| &c.spans), key, || {
                read.span_totals(&selection)
            })?;
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
            let text = spec.query.clone().unwrap_or_default();
            let key = (text.clone(), spec.service.clone(), start.0, now.0);
            let count = cached(cache.map(|c| &c.logs), key, || {
                let mut filter = LogFilter::new(start, now);
                let expr = logql::parse(&text).map_err(|error| QueryError::Syntax {
                    parameter: "query",
                    error,
                })?;
                filter.query = expr.as_ref().map(logql::to_query);
                filter.service = spec.service.clone();
                read.count_logs(&filter)
            })?;
            Ok(SeriesValue::single(Some(count as f64)))
        }
        RuleKind::Metric => {
            let selector = spec.metric.as_deref().unwrap_or("");
            let query = format!("last_over_time({selector}[{}m])", spec.window_minutes);
            let values: Vec<f64> = vector(read, &query, now, cache)?
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
        RuleKind::ErrorGroup => {
            let only_new = spec.query.as_deref() == Some(NEW_GROUPS);
            Ok(read
                .error_group_counts(spec.service.as_deref(), (start, now))?
                .into_iter()
                .filter(|group| !only_new || group.new_in_window)
                .map(|group| {
                    let labels: AlertLabels = [
                        ("error_group".to_string(), group.id.to_string()),
                        ("error_type".to_string(), group.type_name),
                        ("service".to_string(), group.service),
                    ]
                    .into_iter()
                    .collect();
                    SeriesValue {
                        fingerprint: fingerprint(&labels),
                        labels,
                        value: Some(group.count as f64),
                    }
                })
                .collect())
        }
        RuleKind::Promql => {
            let query = spec.query.as_deref().unwrap_or("");
            Ok(vector(read, query, now, cache)?
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
    cache: Option<&RoundCache>,
) -> Result<Vec<(AlertLabels, f64)>, QueryError> {
    let time_ms = now.0.div_euclid(1_000_000);
    cached(
        cache.map(|c| &c.vectors),
        (query.to_string(), time_ms),
        || instant_vector(read, query, time_ms),
    )
}

fn instant_vector(
    read: &ReadSide,
    query: &str,
    time_ms: i64,
) -> Result<Vec<(AlertLabels, f64)>, QueryError> {
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
    // Per series: its labels and its value at each time (None where the
    // series was absent or had no data).
    let mut lines: BTreeMap<String, (AlertLabels, Vec<Option<f64>>)> = BTreeMap::new();
    for (index, time) in times.iter().enumerate() {
        for series in evaluate(read, spec, *time)? {
            let line = lines
                .entry(series.fingerprint)
                .or_insert_with(|| (series.labels, vec![None; times.len()]));
            line.1[index] = series.value;
        }
    }
    Ok(lines
        .into_values()
        .map(|(labels, values)| {
            let points = times
                .iter()
                .zip(values)
                .map(|(time, value)| (time.0.div_euclid(1_000_000_000), value))
                .collect();
            (labels, points)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_read_runs_once_and_its_error_reaches_every_rule() {
        let cache = RoundCache::default();
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let read = || {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<u64, QueryError>(7)
        };
        let key = ("q".to_string(), None, 0, 1);
        assert_eq!(cached(Some(&cache.logs), key.clone(), read).ok(), Some(7));
        assert_eq!(cached(Some(&cache.logs), key, read).ok(), Some(7));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        let failing = || Err::<u64, QueryError>(QueryError::Invalid("the read failed".into()));
        let other = ("r".to_string(), None, 0, 1);
        assert!(cached(Some(&cache.logs), other.clone(), failing).is_err());
        let again = cached(Some(&cache.logs), other, || Ok(1)).expect_err("cached error");
        assert!(again.to_string().contains("the read failed"), "{again}");
        // Without a cache every call reads.
        assert_eq!(cached::<(), u64>(None, (), || Ok(3)).ok(), Some(3));
    }

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
