//! OTLP metrics: `ExportMetricsServiceRequest` → Prometheus series samples,
//! one [`MetricPoint`] per data point, validated point by point. Invalid
//! points are rejected one by one into the report that becomes
//! `partial_success` (`rejected_data_points`); the writer may refuse more
//! (out of order, over a series limit) and adds them to the same count.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, AggregationTemporality,
    ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
};

use super::exponential::{self, ClassicBuckets};
use super::metric_names::{label_name, metric_name};
use super::values::convert_attributes;
use crate::ingest::{Limits, Report};
use crate::model::metric::{format_value, Labels, METRIC_NAME, STALE_NAN_BITS};
use crate::model::metric_batch::{
    Exemplar, MetricBatch, MetricFamily, MetricPoint, MetricType, PointLocation, Temporality,
};
use crate::model::{AttrValue, Attributes, SpanId, TimeWindow, TraceId, UnixNanos};

/// OTLP `DataPointFlags.NO_RECORDED_VALUE_MASK`.
const NO_RECORDED_VALUE: u32 = 1;

/// The result of converting one request.
#[derive(Debug, Default)]
pub struct ConvertedMetrics {
    pub batch: MetricBatch,
    pub report: Report,
}

/// Converts and validates every data point of a request.
pub fn convert_metrics(
    request: ExportMetricsServiceRequest,
    limits: &Limits,
    window: TimeWindow,
) -> ConvertedMetrics {
    let mut out = ConvertedMetrics::default();
    for (resource_index, resource_metrics) in request.resource_metrics.into_iter().enumerate() {
        let resource_attributes = resource_metrics
            .resource
            .map(|resource| {
                convert_attributes(resource.attributes, limits, &mut out.report.trimmed)
            })
            .unwrap_or_default();
        let resource = ResourceLabels::new(&resource_attributes);
        let mut latest_ms = None::<i64>;
        for (scope_index, scope_metrics) in resource_metrics.scope_metrics.into_iter().enumerate() {
            for (metric_index, metric) in scope_metrics.metrics.into_iter().enumerate() {
                let location = PointLocation {
                    resource: resource_index as u32,
                    scope: scope_index as u32,
                    metric: metric_index as u32,
                    point: 0,
                };
                let mut converter = Converter {
                    out: &mut out,
                    limits,
                    window,
                    resource: &resource,
                    location,
                    latest_ms: &mut latest_ms,
                };
                converter.metric(metric);
            }
        }
        if let (Some(t_ms), Some(info)) = (latest_ms, resource.target_info()) {
            let point = target_info_point(&mut out.batch, info, t_ms);
            out.batch.points.push(point);
        }
    }
    out
}

/// The labels a resource gives its series (`job`, `instance`) and the
/// rest of its attributes, which go to `target_info`.
struct ResourceLabels {
    job: String,
    instance: String,
    other: Vec<(String, String)>,
}

impl ResourceLabels {
    fn new(attributes: &Attributes) -> ResourceLabels {
        let text = |key: &str| {
            attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| label_value(v))
                .unwrap_or_default()
        };
        let name = text("service.name");
        let namespace = text("service.namespace");
        let job = match (namespace.is_empty(), name.is_empty()) {
            (_, true) => String::new(),
            (true, false) => name,
            (false, false) => format!("{namespace}/{name}"),
        };
        let other = attributes
            .iter()
            .filter(|(key, _)| {
                !matches!(
                    key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .map(|(key, value)| (label_name(key), label_value(value)))
            .collect();
        ResourceLabels {
            job,
            instance: text("service.instance.id"),
            other,
        }
    }

    /// `target_info`'s labels, when the resource has attributes beyond the
    /// ones that name the job and instance.
    fn target_info(&self) -> Option<Labels> {
        if self.other.is_empty() {
            return None;
        }
        let mut pairs = self.other.clone();
        pairs.push((METRIC_NAME.to_string(), "target_info".to_string()));
        pairs.push(("job".to_string(), self.job.clone()));
        pairs.push(("instance".to_string(), self.instance.clone()));
        Some(Labels::from_pairs(pairs))
    }
}

fn target_info_point(batch: &mut MetricBatch, labels: Labels, t_ms: i64) -> MetricPoint {
    let family = family_index(
        batch,
        MetricFamily {
            name: "target_info".to_string(),
            metric_type: MetricType::Gauge,
            unit: String::new(),
            help: "Target metadata".to_string(),
        },
    );
    MetricPoint {
        family,
        temporality: Temporality::Gauge,
        start_ms: 0,
        t_ms,
        samples: vec![(labels, 1.0)],
        exemplars: Vec::new(),
        location: PointLocation::default(),
    }
}

/// A family's index in the batch, adding it on first use.
fn family_index(batch: &mut MetricBatch, family: MetricFamily) -> usize {
    if let Some(index) = batch.families.iter().position(|f| f.name == family.name) {
        return index;
    }
    batch.families.push(family);
    batch.families.len() - 1
}

/// A label value as Prometheus's translator writes attribute values.
fn label_value(value: &AttrValue) -> String {
    match value {
        AttrValue::String(text) => text.clone(),
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Int(i) => i.to_string(),
        AttrValue::Double(d) => d.to_string(),
        AttrValue::Empty => String::new(),
        other => other.to_json().to_string(),
    }
}

/// Converts the metrics of one resource.
struct Converter<'a> {
    out: &'a mut ConvertedMetrics,
    limits: &'a Limits,
    window: TimeWindow,
    resource: &'a ResourceLabels,
    location: PointLocation,
    /// The newest point time of the resource, for `target_info`.
    latest_ms: &'a mut Option<i64>,
}

/// A point's series labels (without `__name__`), start and time (ms).
type PointParts = (Vec<(String, String)>, i64, i64);

/// What a bucketed point (explicit or exponential) has besides buckets.
struct BucketedPoint {
    count: u64,
    sum: Option<f64>,
    flags: u32,
}

/// What every kind of data point has in common.
struct PointHeader {
    attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
    start_time_unix_nano: u64,
    time_unix_nano: u64,
}

impl Converter<'_> {
    fn metric(&mut self, metric: opentelemetry_proto::tonic::metrics::v1::Metric) {
        let Some(data) = metric.data else {
            return;
        };
        let family = |metric_type| MetricFamily {
            name: metric_name(&metric.name, &metric.unit, metric_type),
            metric_type,
            unit: metric.unit.clone(),
            help: metric.description.clone(),
        };
        if metric.name.is_empty() {
            let points = match &data {
                Data::Gauge(g) => g.data_points.len(),
                Data::Sum(s) => s.data_points.len(),
                Data::Histogram(h) => h.data_points.len(),
                Data::ExponentialHistogram(h) => h.data_points.len(),
                Data::Summary(s) => s.data_points.len(),
            };
            for point in 0..points {
                self.reject(point, "the metric has no name");
            }
            return;
        }
        match data {
            Data::Gauge(gauge) => {
                let family = self.family(family(MetricType::Gauge));
                for (index, point) in gauge.data_points.into_iter().enumerate() {
                    self.number_point(index, family, Temporality::Gauge, point);
                }
            }
            Data::Sum(sum) => {
                let Some(temporality) =
                    self.temporality(sum.aggregation_temporality, sum.data_points.len())
                else {
                    return;
                };
                // A non-monotonic cumulative sum is a gauge to Prometheus; a
                // non-monotonic delta sum is summed up like a counter.
                let (metric_type, temporality) = match (sum.is_monotonic, temporality) {
                    (true, t) => (MetricType::Counter, t),
                    (false, Temporality::Delta) => (MetricType::Gauge, Temporality::Delta),
                    (false, _) => (MetricType::Gauge, Temporality::Gauge),
                };
                let family = self.family(family(metric_type));
                for (index, point) in sum.data_points.into_iter().enumerate() {
                    self.number_point(index, family, temporality, point);
                }
            }
            Data::Histogram(histogram) => {
                let Some(temporality) = self.temporality(
                    histogram.aggregation_temporality,
                    histogram.data_points.len(),
                ) else {
                    return;
                };
                let family = self.family(family(MetricType::Histogram));
                for (index, point) in histogram.data_points.into_iter().enumerate() {
                    self.histogram_point(index, family, temporality, point);
                }
            }
            Data::Summary(summary) => {
                let family = self.family(family(MetricType::Summary));
                for (index, point) in summary.data_points.into_iter().enumerate() {
                    self.summary_point(index, family, point);
                }
            }
            Data::ExponentialHistogram(histogram) => {
                let Some(temporality) = self.temporality(
                    histogram.aggregation_temporality,
                    histogram.data_points.len(),
                ) else {
                    return;
                };
                let family = self.family(family(MetricType::Histogram));
                for (index, point) in histogram.data_points.into_iter().enumerate() {
                    self.exponential_histogram_point(index, family, temporality, point);
                }
            }
        }
    }

    /// A metric's temporality, or `None` with each of its points refused.
    fn temporality(&mut self, value: i32, points: usize) -> Option<Temporality> {
        match temporality(value) {
            Ok(temporality) => Some(temporality),
            Err(reason) => {
                for index in 0..points {
                    self.reject(index, reason);
                }
                None
            }
        }
    }

    fn family(&mut self, family: MetricFamily) -> usize {
        family_index(&mut self.out.batch, family)
    }

    fn reject(&mut self, point: usize, reason: &str) {
        let location = PointLocation {
            point: point as u32,
            ..self.location
        };
        self.out.report.reject(format!("{location}: {reason}"));
    }

    /// The point's series labels (without `__name__`) and times, or why
    /// it is refused.
    fn header(
        &mut self,
        attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
        start_time_unix_nano: u64,
        time_unix_nano: u64,
    ) -> Result<PointParts, String> {
        let header = PointHeader {
            attributes,
            start_time_unix_nano,
            time_unix_nano,
        };
        if header.time_unix_nano == 0 {
            return Err("time_unix_nano is required".into());
        }
        let time = UnixNanos::from_u64(header.time_unix_nano);
        self.window.check(time)?;
        let attributes =
            convert_attributes(header.attributes, self.limits, &mut self.out.report.trimmed);
        let mut labels: Vec<(String, String)> = Vec::with_capacity(attributes.len() + 3);
        for (key, value) in &attributes {
            let name = label_name(key);
            let value = label_value(value);
            // Keys that sanitize to the same name keep both values, joined
            // with ";" as Prometheus's translator does.
            match labels.iter_mut().find(|(n, _)| *n == name) {
                Some((_, existing)) => {
                    existing.push(';');
                    existing.push_str(&value);
                }
                None => labels.push((name, value)),
            }
        }
        labels.retain(|(name, _)| name != METRIC_NAME);
        labels.retain(|(name, _)| name != "job" && name != "instance");
        labels.push(("job".into(), self.resource.job.clone()));
        labels.push(("instance".into(), self.resource.instance.clone()));
        let t_ms = nanos_to_ms(header.time_unix_nano);
        let start_ms = nanos_to_ms(header.start_time_unix_nano);
        *self.latest_ms = Some(self.latest_ms.map_or(t_ms, |latest| latest.max(t_ms)));
        Ok((labels, start_ms, t_ms))
    }

    /// Adds a converted data point to the batch.
    fn push(
        &mut self,
        index: usize,
        family: usize,
        temporality: Temporality,
        (start_ms, t_ms): (i64, i64),
        samples: Vec<(Labels, f64)>,
        exemplars: Vec<(usize, Exemplar)>,
    ) {
        self.out.batch.points.push(MetricPoint {
            family,
            temporality,
            start_ms,
            t_ms,
            samples,
            exemplars,
            location: PointLocation {
                point: index as u32,
                ..self.location
            },
        });
    }

    fn series(
        &self,
        base: &[(String, String)],
        name: &str,
        extra: Option<(&str, String)>,
    ) -> Labels {
        let mut pairs = Vec::with_capacity(base.len() + 2);
        pairs.extend(base.iter().cloned());
        pairs.push((METRIC_NAME.to_string(), name.to_string()));
        if let Some((label, value)) = extra {
            pairs.retain(|(n, _)| n != label);
            pairs.push((label.to_string(), value));
        }
        Labels::from_pairs(pairs)
    }

    fn number_point(
        &mut self,
        index: usize,
        family: usize,
        temporality: Temporality,
        point: NumberDataPoint,
    ) {
        let parts = self.header(
            point.attributes,
            point.start_time_unix_nano,
            point.time_unix_nano,
        );
        let (labels, start_ms, t_ms) = match parts {
            Ok(parts) => parts,
            Err(reason) => return self.reject(index, &reason),
        };
        let value = match point.value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            Some(number_data_point::Value::AsInt(v)) => v as f64,
            None if point.flags & NO_RECORDED_VALUE != 0 => f64::from_bits(STALE_NAN_BITS),
            None => return self.reject(index, "the data point has no value"),
        };
        let value = stale_or(point.flags, value);
        let name = self.out.batch.families[family].name.clone();
        let series = self.series(&labels, &name, None);
        let exemplars = self.exemplars(point.exemplars, 0);
        self.push(
            index,
            family,
            temporality,
            (start_ms, t_ms),
            vec![(series, value)],
            exemplars,
        );
    }

    fn histogram_point(
        &mut self,
        index: usize,
        family: usize,
        temporality: Temporality,
        point: HistogramDataPoint,
    ) {
        let bounds = point.explicit_bounds;
        let counts = point.bucket_counts;
        if !counts.is_empty() && counts.len() != bounds.len() + 1 {
            return self.reject(
                index,
                "bucket_counts must have one more entry than explicit_bounds",
            );
        }
        if bounds
            .windows(2)
            .any(|pair| pair[0].partial_cmp(&pair[1]) != Some(std::cmp::Ordering::Less))
            || bounds.iter().any(|b| b.is_nan())
        {
            return self.reject(index, "explicit_bounds must be increasing");
        }
        let total = counts
            .iter()
            .try_fold(0u64, |sum, count| sum.checked_add(*count));
        if !counts.is_empty() && total != Some(point.count) {
            return self.reject(index, "the bucket counts do not add up to count");
        }
        let parts = self.header(
            point.attributes,
            point.start_time_unix_nano,
            point.time_unix_nano,
        );
        let (labels, start_ms, t_ms) = match parts {
            Ok(parts) => parts,
            Err(reason) => return self.reject(index, &reason),
        };
        // Without counts a point has only its `+Inf` bucket.
        let buckets = match counts.split_last() {
            Some((_, finite)) => ClassicBuckets {
                bounds,
                counts: finite.to_vec(),
            },
            None => ClassicBuckets {
                bounds: Vec::new(),
                counts: Vec::new(),
            },
        };
        let shape = BucketedPoint {
            count: point.count,
            sum: point.sum,
            flags: point.flags,
        };
        self.bucket_samples(
            index,
            family,
            temporality,
            (labels, start_ms, t_ms),
            &buckets,
            shape,
            point.exemplars,
        );
    }

    fn exponential_histogram_point(
        &mut self,
        index: usize,
        family: usize,
        temporality: Temporality,
        point: ExponentialHistogramDataPoint,
    ) {
        if temporality == Temporality::Delta {
            return self.reject(
                index,
                "delta exponential histograms are not supported: export them with cumulative temporality",
            );
        }
        let buckets = match exponential::classic_buckets(&point) {
            Ok(buckets) => buckets,
            Err(reason) => return self.reject(index, &reason),
        };
        let parts = self.header(
            point.attributes,
            point.start_time_unix_nano,
            point.time_unix_nano,
        );
        let parts = match parts {
            Ok(parts) => parts,
            Err(reason) => return self.reject(index, &reason),
        };
        let shape = BucketedPoint {
            count: point.count,
            sum: point.sum,
            flags: point.flags,
        };
        self.bucket_samples(
            index,
            family,
            temporality,
            parts,
            &buckets,
            shape,
            point.exemplars,
        );
    }

    /// A histogram point as `_bucket{le}` (cumulative, then `+Inf`),
    /// `_sum` and `_count` samples; each exemplar goes with the first
    /// bucket whose bound holds its value.
    #[allow(clippy::too_many_arguments)]
    fn bucket_samples(
        &mut self,
        index: usize,
        family: usize,
        temporality: Temporality,
        (labels, start_ms, t_ms): PointParts,
        buckets: &ClassicBuckets,
        point: BucketedPoint,
        exemplars: Vec<opentelemetry_proto::tonic::metrics::v1::Exemplar>,
    ) {
        let name = self.out.batch.families[family].name.clone();
        let bucket_name = format!("{name}_bucket");
        let flags = point.flags;
        let mut samples = Vec::with_capacity(buckets.bounds.len() + 3);
        let mut cumulative = 0u64;
        for (bound, count) in buckets.bounds.iter().zip(&buckets.counts) {
            cumulative += count;
            samples.push((
                self.series(&labels, &bucket_name, Some(("le", format_value(*bound)))),
                stale_or(flags, cumulative as f64),
            ));
        }
        samples.push((
            self.series(&labels, &bucket_name, Some(("le", "+Inf".into()))),
            stale_or(flags, point.count as f64),
        ));
        if let Some(sum) = point.sum {
            samples.push((
                self.series(&labels, &format!("{name}_sum"), None),
                stale_or(flags, sum),
            ));
        }
        samples.push((
            self.series(&labels, &format!("{name}_count"), None),
            stale_or(flags, point.count as f64),
        ));
        let exemplars = exemplars
            .into_iter()
            .filter_map(|exemplar| {
                let converted = self.exemplar(exemplar)?;
                let bucket = buckets
                    .bounds
                    .iter()
                    .position(|bound| converted.value <= *bound)
                    .unwrap_or(buckets.bounds.len());
                Some((bucket, converted))
            })
            .collect();
        self.push(
            index,
            family,
            temporality,
            (start_ms, t_ms),
            samples,
            exemplars,
        );
    }

    fn summary_point(&mut self, index: usize, family: usize, point: SummaryDataPoint) {
        if point
            .quantile_values
            .iter()
            .any(|q| !(0.0..=1.0).contains(&q.quantile))
        {
            return self.reject(index, "quantiles must be between 0 and 1");
        }
        let parts = self.header(
            point.attributes,
            point.start_time_unix_nano,
            point.time_unix_nano,
        );
        let (labels, start_ms, t_ms) = match parts {
            Ok(parts) => parts,
            Err(reason) => return self.reject(index, &reason),
        };
        let name = self.out.batch.families[family].name.clone();
        let flags = point.flags;
        let mut samples: Vec<(Labels, f64)> = point
            .quantile_values
            .iter()
            .map(|q| {
                (
                    self.series(&labels, &name, Some(("quantile", format_value(q.quantile)))),
                    stale_or(flags, q.value),
                )
            })
            .collect();
        samples.push((
            self.series(&labels, &format!("{name}_sum"), None),
            stale_or(flags, point.sum),
        ));
        samples.push((
            self.series(&labels, &format!("{name}_count"), None),
            stale_or(flags, point.count as f64),
        ));
        self.push(
            index,
            family,
            Temporality::Gauge,
            (start_ms, t_ms),
            samples,
            Vec::new(),
        );
    }

    fn exemplars(
        &mut self,
        exemplars: Vec<opentelemetry_proto::tonic::metrics::v1::Exemplar>,
        sample: usize,
    ) -> Vec<(usize, Exemplar)> {
        exemplars
            .into_iter()
            .filter_map(|exemplar| self.exemplar(exemplar).map(|e| (sample, e)))
            .collect()
    }

    /// An exemplar, or `None` when it has no value or time (ignored, as
    /// it cannot be drawn). Ids of the wrong length are dropped, the
    /// exemplar kept.
    fn exemplar(
        &mut self,
        exemplar: opentelemetry_proto::tonic::metrics::v1::Exemplar,
    ) -> Option<Exemplar> {
        let value = match exemplar.value? {
            exemplar::Value::AsDouble(v) => v,
            exemplar::Value::AsInt(v) => v as f64,
        };
        if exemplar.time_unix_nano == 0 {
            return None;
        }
        let attributes = convert_attributes(
            exemplar.filtered_attributes,
            self.limits,
            &mut self.out.report.trimmed,
        );
        Some(Exemplar {
            t_ms: nanos_to_ms(exemplar.time_unix_nano),
            value,
            trace_id: TraceId::from_bytes(&exemplar.trace_id).ok(),
            span_id: SpanId::from_bytes(&exemplar.span_id).ok(),
            labels: Labels::from_pairs(
                attributes
                    .iter()
                    .map(|(key, value)| (label_name(key), label_value(value))),
            ),
        })
    }
}

/// The value, or the staleness marker when the point says it has none.
fn stale_or(flags: u32, value: f64) -> f64 {
    if flags & NO_RECORDED_VALUE != 0 {
        f64::from_bits(STALE_NAN_BITS)
    } else {
        value
    }
}

fn temporality(value: i32) -> Result<Temporality, &'static str> {
    match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Cumulative) => Ok(Temporality::Cumulative),
        Ok(AggregationTemporality::Delta) => Ok(Temporality::Delta),
        _ => Err("aggregation_temporality must be DELTA or CUMULATIVE"),
    }
}

/// Nanoseconds → milliseconds, Prometheus's precision.
fn nanos_to_ms(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}
