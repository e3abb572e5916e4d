//! OTLP metric data points on their way to storage, already translated into
//! Prometheus series: each data point carries every series sample it
//! produces (a histogram point its buckets, sum and count), so the writer
//! stores or refuses a data point as a whole.

use super::metric::Labels;

/// The Prometheus metric type a family is exposed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

impl MetricType {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }

    pub fn parse(text: &str) -> Option<MetricType> {
        Some(match text {
            "gauge" => MetricType::Gauge,
            "counter" => MetricType::Counter,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            _ => return None,
        })
    }
}

/// A metric family: what `/metadata` and `/api/metrics/names` describe.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The translated family name (a histogram's, without `_bucket`).
    pub name: String,
    pub metric_type: MetricType,
    /// The OTLP unit as sent (`s`, `By`, `1`, …).
    pub unit: String,
    pub help: String,
}

/// How a data point's values relate to the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// The value is the state now (gauges, summaries).
    Gauge,
    /// The value counts from the point's start time.
    Cumulative,
    /// The value counts since the previous point; stored as a running sum.
    Delta,
}

/// Where a data point was in the request, for `partial_success` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PointLocation {
    pub resource: u32,
    pub scope: u32,
    pub metric: u32,
    pub point: u32,
}

impl std::fmt::Display for PointLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "resourceMetrics[{}].scopeMetrics[{}].metrics[{}].dataPoints[{}]",
            self.resource, self.scope, self.metric, self.point
        )
    }
}

/// An exemplar: one measurement with the trace it was made in.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub t_ms: i64,
    pub value: f64,
    pub trace_id: Option<super::TraceId>,
    pub span_id: Option<super::SpanId>,
    /// The exemplar's own (filtered) attributes.
    pub labels: Labels,
}

/// One OTLP data point as the series samples it becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// Index into [`MetricBatch::families`].
    pub family: usize,
    pub temporality: Temporality,
    /// The start of a cumulative or delta point (ms; 0 when unknown).
    pub start_ms: i64,
    pub t_ms: i64,
    /// Every series sample the point produces, all at `t_ms`.
    pub samples: Vec<(Labels, f64)>,
    /// Exemplars with the index in `samples` of the series each belongs
    /// to (a histogram's exemplar goes with the bucket its value falls in,
    /// as Prometheus keeps them).
    pub exemplars: Vec<(usize, Exemplar)>,
    pub location: PointLocation,
}

/// The data points of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricBatch {
    pub families: Vec<MetricFamily>,
    pub points: Vec<MetricPoint>,
}

impl MetricBatch {
    /// Series samples in the batch (what the writer's group cap counts).
    pub fn sample_count(&self) -> usize {
        self.points.iter().map(|point| point.samples.len()).sum()
    }
}

/// What the writer did with one batch's data points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricOutcome {
    /// Data points stored (duplicates of stored points count here too:
    /// storing them again changes nothing).
    pub accepted: u64,
    /// Data points refused (out of order, conflicting duplicate, over a
    /// series limit); each is counted in `partial_success`.
    pub rejected: u64,
    /// Of the refused, those refused by a series limit.
    pub over_limit: u64,
    /// Why, for the first few refused points.
    pub reasons: Vec<String>,
    /// Series created.
    pub new_series: u64,
}

impl MetricOutcome {
    /// `partial_success` messages name at most this many points.
    pub const MAX_REASONS: usize = 5;

    pub fn reject(&mut self, location: PointLocation, reason: &str) {
        self.rejected += 1;
        if self.reasons.len() < Self::MAX_REASONS {
            self.reasons.push(format!("{location}: {reason}"));
        }
    }
}
