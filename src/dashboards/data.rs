//! A panel's data: each of its queries with the variables substituted,
//! answered through the read side (PromQL, log counts and rows, RED from
//! the span rollups, trace search). A failing query gives its message and
//! the others are still answered.

use std::collections::BTreeMap;

use super::model::{Panel, PanelKind, QueryRef, RedMetric};
use super::variables::{substitute, Bindings, Format};
use crate::model::{LogRecord, SpanKind, UnixNanos};
use crate::query::promql::{EngineOptions, Value};
use crate::query::red::{RedQuery as RollupQuery, SpanSelection};
use crate::query::{logql, QueryError, ReadSide};
use crate::store::logs::{LogFilter, PageRequest, SortOrder};
use crate::store::sqlite::read::{StatusFilter, TraceFilter, TraceListItem};

/// The range and resolution of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanelRange {
    pub start: UnixNanos,
    pub end: UnixNanos,
    pub step_seconds: i64,
}

/// One series of a query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    pub labels: BTreeMap<String, String>,
    pub legend: String,
    /// (unix seconds, value); a value may be NaN.
    pub points: Vec<(i64, f64)>,
}

/// What a query answered.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryData {
    Series(Vec<SeriesData>),
    Logs {
        total: u64,
        series: Vec<SeriesData>,
        records: Vec<(u64, LogRecord)>,
    },
    Traces(Vec<TraceListItem>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryAnswer {
    pub kind: &'static str,
    /// The query as run, variables substituted.
    pub query: String,
    pub data: Result<QueryData, String>,
}

const DEFAULT_LOG_ROWS: u64 = 50;
const DEFAULT_TRACES: u64 = 20;
const MAX_ROWS: u64 = 500;

fn option_limit(panel: &Panel, default: u64) -> usize {
    panel
        .options
        .get("limit")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(default)
        .clamp(1, MAX_ROWS) as usize
}

/// `{{label}}` in a legend replaced by the series' label values.
pub fn legend(template: Option<&str>, labels: &BTreeMap<String, String>) -> String {
    match template {
        Some(template) => {
            let mut out = String::new();
            let mut rest = template;
            while let Some(open) = rest.find("{{") {
                out.push_str(&rest[..open]);
                let after = &rest[open + 2..];
                let Some(close) = after.find("}}") else {
                    out.push_str(&rest[open..]);
                    rest = "";
                    break;
                };
                let name = after[..close].trim();
                out.push_str(labels.get(name).map_or("", String::as_str));
                rest = &after[close + 2..];
            }
            out.push_str(rest);
            out
        }
        None if labels.is_empty() => String::new(),
        None => {
            let inner: Vec<String> = labels
                .iter()
                .filter(|(name, _)| name.as_str() != "__name__")
                .map(|(name, value)| format!("{name}=\"{value}\""))
                .collect();
            let name = labels.get("__name__").map_or("", String::as_str);
            format!("{name}{{{}}}", inner.join(", "))
        }
    }
}

fn promql(
    read: &ReadSide,
    panel: &Panel,
    text: &str,
    template: Option<&str>,
    range: PanelRange,
) -> Result<QueryData, QueryError> {
    let to_ms = |at: UnixNanos| at.0.div_euclid(1_000_000);
    let options = EngineOptions::default();
    let value = if panel.kind.is_range() {
        read.promql_range(
            text,
            (
                to_ms(range.start),
                to_ms(range.end),
                range.step_seconds * 1000,
            ),
            &options,
        )?
    } else {
        read.promql_instant(text, to_ms(range.end), &options)?
    };
    let series = |labels: crate::model::metric::Labels, points: Vec<(i64, f64)>| {
        let labels: BTreeMap<String, String> = labels.into_pairs().into_iter().collect();
        SeriesData {
            legend: legend(template, &labels),
            labels,
            points,
        }
    };
    let seconds = |t: i64| t.div_euclid(1000);
    Ok(QueryData::Series(match value {
        Value::Scalar(sample) => vec![series(
            Default::default(),
            vec![(seconds(sample.t), sample.v)],
        )],
        Value::Vector(samples) => samples
            .into_iter()
            .map(|s| series(s.labels, vec![(seconds(s.sample.t), s.sample.v)]))
            .collect(),
        Value::Matrix(matrix) => matrix
            .into_iter()
            .map(|s| {
                series(
                    s.labels,
                    s.samples.iter().map(|p| (seconds(p.t), p.v)).collect(),
                )
            })
            .collect(),
        Value::String(..) => {
            return Err(QueryError::Invalid(
                "a panel query gives a string, not numbers".into(),
            ));
        }
    }))
}

fn log_filter(text: &str, range: PanelRange) -> Result<LogFilter, QueryError> {
    let mut filter = LogFilter::new(range.start, range.end);
    let expr = logql::parse(text).map_err(|error| QueryError::Syntax {
        parameter: "query",
        error,
    })?;
    filter.query = expr.as_ref().map(logql::to_query);
    Ok(filter)
}

fn logs(
    read: &ReadSide,
    panel: &Panel,
    text: &str,
    range: PanelRange,
) -> Result<QueryData, QueryError> {
    let filter = log_filter(text, range)?;
    let buckets = if panel.kind.is_range() || panel.kind == PanelKind::Logs {
        let count = ((range.end.0 - range.start.0) / (range.step_seconds.max(1) * 1_000_000_000))
            .clamp(1, 500);
        read.log_histogram(&filter, count as usize)?
    } else {
        Vec::new()
    };
    let points: Vec<(i64, f64)> = buckets
        .iter()
        .map(|bucket| {
            (
                bucket.start.0.div_euclid(1_000_000_000),
                bucket.counts.values().sum::<u64>() as f64,
            )
        })
        .collect();
    let (total, records) = if panel.kind == PanelKind::Logs {
        let page = read.search_logs(
            &filter,
            &PageRequest {
                order: SortOrder::Desc,
                limit: option_limit(panel, DEFAULT_LOG_ROWS),
                after: None,
            },
        )?;
        (
            page.total,
            page.hits
                .into_iter()
                .map(|hit| (hit.id, hit.record))
                .collect(),
        )
    } else {
        (read.count_logs(&filter)?, Vec::new())
    };
    let points = if panel.kind.is_range() || panel.kind == PanelKind::Logs {
        points
    } else {
        vec![(range.end.0.div_euclid(1_000_000_000), total as f64)]
    };
    Ok(QueryData::Logs {
        total,
        series: vec![SeriesData {
            labels: BTreeMap::new(),
            legend: text.to_string(),
            points,
        }],
        records,
    })
}

/// The step of a RED series near `step_seconds`: whole minutes, and whole
/// ten minutes or hours once it is that long, so that long ranges read
/// the coarser rollups (a day at 200 points reads 144 ten-minute buckets
/// instead of 1,440 minutes).
pub fn red_step(step_seconds: i64) -> i64 {
    let round_up = |value: i64, unit: i64| (value + unit - 1) / unit * unit;
    let step = step_seconds.max(60);
    if step > 1_800 {
        round_up(step, 3_600)
    } else if step > 300 {
        round_up(step, 600)
    } else {
        round_up(step, 60)
    }
}

fn red(
    read: &ReadSide,
    panel: &Panel,
    service: &str,
    operation: Option<&str>,
    metric: RedMetric,
    range: PanelRange,
) -> Result<QueryData, QueryError> {
    let seconds = |at: UnixNanos| at.0.div_euclid(1_000_000_000);
    let spans = SpanSelection {
        service: Some(service.to_string()),
        operation: operation.map(str::to_string),
        kinds: if operation.is_some() {
            Vec::new()
        } else {
            vec![SpanKind::Server, SpanKind::Consumer]
        },
        start: seconds(range.start),
        end: seconds(range.end),
    };
    let value = |red: &crate::query::red::Red, step: i64| -> f64 {
        let v = match metric {
            RedMetric::RequestRate => Some(red.request_count as f64 / step.max(1) as f64),
            RedMetric::ErrorRate => (red.request_count > 0).then(|| red.error_ratio()),
            RedMetric::P50 => red.quantile_ms(0.5),
            RedMetric::P95 => red.quantile_ms(0.95),
            RedMetric::P99 => red.quantile_ms(0.99),
        };
        v.unwrap_or(f64::NAN)
    };
    let points = if panel.kind.is_range() {
        let step = red_step(range.step_seconds);
        read.red(&RollupQuery { spans, step })?
            .iter()
            .map(|point| (point.time, value(&point.red, point.step)))
            .collect()
    } else {
        let total = read.span_totals(&spans)?;
        vec![(spans.end, value(&total, (spans.end - spans.start).max(1)))]
    };
    let labels: BTreeMap<String, String> = [("service".to_string(), service.to_string())]
        .into_iter()
        .chain(operation.map(|op| ("operation".to_string(), op.to_string())))
        .collect();
    Ok(QueryData::Series(vec![SeriesData {
        labels,
        legend: format!("{service} {}", metric.as_str()),
        points,
    }]))
}

fn traces(
    read: &ReadSide,
    panel: &Panel,
    query: &super::model::TraceQuery,
    bindings: &Bindings,
    range: PanelRange,
) -> Result<(String, QueryData), QueryError> {
    let sub = |text: &Option<String>| {
        text.as_deref()
            .map(|t| substitute(t, bindings, Format::First))
            .filter(|t| !t.is_empty())
    };
    let filter = TraceFilter {
        service: sub(&query.service),
        operation: sub(&query.operation),
        status: match query.status.as_deref() {
            Some("error") => Some(StatusFilter::Error),
            Some("ok") => Some(StatusFilter::Ok),
            _ => None,
        },
        min_duration_nanos: query.min_duration_ms.map(|ms| (ms * 1e6) as i64),
        max_duration_nanos: None,
        attributes: Vec::new(),
        start: range.start,
        end: range.end,
        limit: option_limit(panel, DEFAULT_TRACES),
        after: None,
    };
    let described = [
        filter.service.as_ref().map(|s| format!("service={s}")),
        filter.operation.as_ref().map(|s| format!("operation={s}")),
        query.status.as_ref().map(|s| format!("status={s}")),
        query
            .min_duration_ms
            .map(|ms| format!("min_duration_ms={ms}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let page = read.search_traces(&filter)?;
    Ok((described, QueryData::Traces(page.traces)))
}

/// Answers every query of `panel`.
pub fn panel_data(
    read: &ReadSide,
    panel: &Panel,
    bindings: &Bindings,
    range: PanelRange,
) -> Vec<QueryAnswer> {
    panel
        .queries
        .iter()
        .filter_map(|query| {
            let kind = query.kind()?;
            let answer = match kind {
                QueryRef::Promql(text) => {
                    let text = substitute(text, bindings, Format::Regex);
                    let data = promql(read, panel, &text, query.legend.as_deref(), range);
                    ("promql", text, data)
                }
                QueryRef::Logs(text) => {
                    let text = substitute(text, bindings, Format::First);
                    let data = logs(read, panel, &text, range);
                    ("logs", text, data)
                }
                QueryRef::Red(query) => {
                    let service = substitute(&query.service, bindings, Format::First);
                    let operation = query
                        .operation
                        .as_deref()
                        .map(|op| substitute(op, bindings, Format::First));
                    let text = format!(
                        "red({service}{}, {})",
                        operation
                            .as_deref()
                            .map(|op| format!(", {op}"))
                            .unwrap_or_default(),
                        query.metric.as_str()
                    );
                    let data = red(
                        read,
                        panel,
                        &service,
                        operation.as_deref(),
                        query.metric,
                        range,
                    );
                    ("red", text, data)
                }
                QueryRef::Traces(query) => match traces(read, panel, query, bindings, range) {
                    Ok((text, data)) => ("traces", text, Ok(data)),
                    Err(error) => ("traces", String::new(), Err(error)),
                },
            };
            let (kind, query, data) = answer;
            Some(QueryAnswer {
                kind,
                query,
                data: data.map_err(|error| error.to_string()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_steps_align_with_the_rollups() {
        assert_eq!(red_step(15), 60);
        assert_eq!(red_step(61), 120);
        assert_eq!(red_step(432), 600);
        assert_eq!(red_step(3_024), 3_600);
    }

    #[test]
    fn legends_take_label_values() {
        let labels: BTreeMap<String, String> = [
            ("mode".to_string(), "fast".to_string()),
            ("__name__".to_string(), "x".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(legend(Some("{{mode}} requests"), &labels), "fast requests");
        assert_eq!(legend(Some("{{ missing }}-{{mode"), &labels), "-{{mode");
        assert_eq!(legend(None, &labels), "x{mode=\"fast\"}");
        assert_eq!(legend(None, &BTreeMap::new()), "");
    }
}
