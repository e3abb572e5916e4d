//! The demo's OTLP metrics, as an instrumented shop would export them:
//! an HTTP server duration histogram per service and route (from the
//! generated server spans, with exemplars pointing at them), a jobs
//! counter (orders handled by the email consumer) and a queue-depth gauge.
//! Sent every few rounds through `POST /v1/metrics`, cumulative, like the
//! OpenTelemetry SDKs' default.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, AggregationTemporality, Exemplar, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::kv_str;

/// The OpenTelemetry semantic conventions' advice for
/// `http.server.request.duration`, in seconds.
const BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Default)]
struct DurationState {
    counts: [u64; BOUNDS.len() + 1],
    sum: f64,
    /// The latest span seen per bucket: (unix nanos, seconds, trace, span).
    exemplars: BTreeMap<usize, (u64, f64, Vec<u8>, Vec<u8>)>,
}

/// Cumulative state since the demo started.
pub struct DemoMetrics {
    start: u64,
    durations: BTreeMap<(&'static str, String), DurationState>,
    jobs: u64,
    queue_depth: f64,
}

impl DemoMetrics {
    pub fn new(start: u64) -> DemoMetrics {
        DemoMetrics {
            start,
            durations: BTreeMap::new(),
            jobs: 0,
            queue_depth: 3.0,
        }
    }

    /// Counts one server span of `service` for `route`.
    pub fn server_span(
        &mut self,
        service: &'static str,
        route: &str,
        end: u64,
        nanos: u64,
        trace_id: &[u8],
        span_id: &[u8],
    ) {
        let seconds = nanos as f64 / 1e9;
        let state = self
            .durations
            .entry((service, route.to_string()))
            .or_default();
        let bucket = BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS.len());
        state.counts[bucket] += 1;
        state.sum += seconds;
        state
            .exemplars
            .insert(bucket, (end, seconds, trace_id.to_vec(), span_id.to_vec()));
    }

    /// One order handled by the email consumer.
    pub fn job_done(&mut self) {
        self.jobs += 1;
    }

    /// Moves the queue depth a little: `step` in -2..=2.
    pub fn queue_moves(&mut self, step: i64) {
        self.queue_depth = (self.queue_depth + step as f64).clamp(0.0, 40.0);
    }

    /// The export request at `now` (unix nanos), one resource per service.
    pub fn request(&mut self, now: u64) -> ExportMetricsServiceRequest {
        let mut by_service: BTreeMap<&'static str, Vec<HistogramDataPoint>> = BTreeMap::new();
        for ((service, route), state) in &mut self.durations {
            let exemplars = std::mem::take(&mut state.exemplars)
                .into_values()
                .map(|(at, seconds, trace_id, span_id)| Exemplar {
                    time_unix_nano: at,
                    value: Some(exemplar::Value::AsDouble(seconds)),
                    trace_id,
                    span_id,
                    ..Default::default()
                })
                .collect();
            by_service
                .entry(service)
                .or_default()
                .push(HistogramDataPoint {
                    attributes: vec![
                        kv_str("http.route", route),
                        kv_str(
                            "http.request.method",
                            route.split(' ').next().unwrap_or("GET"),
                        ),
                    ],
                    start_time_unix_nano: self.start,
                    time_unix_nano: now,
                    count: state.counts.iter().sum(),
                    sum: Some(state.sum),
                    bucket_counts: state.counts.to_vec(),
                    explicit_bounds: BOUNDS.to_vec(),
                    exemplars,
                    ..Default::default()
                });
        }
        let mut resource_metrics: Vec<ResourceMetrics> = by_service
            .into_iter()
            .map(|(service, points)| {
                resource(
                    service,
                    vec![Metric {
                        name: "http.server.request.duration".into(),
                        description: "Duration of HTTP server requests.".into(),
                        unit: "s".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: points,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        })),
                        ..Default::default()
                    }],
                )
            })
            .collect();
        let number = |value: f64, start: u64| NumberDataPoint {
            start_time_unix_nano: start,
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsDouble(value)),
            attributes: vec![kv_str("queue", "orders")],
            ..Default::default()
        };
        resource_metrics.push(resource(
            "email",
            vec![
                Metric {
                    name: "jobs.processed".into(),
                    description: "Order e-mails sent.".into(),
                    unit: "{job}".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![number(self.jobs as f64, self.start)],
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                },
                Metric {
                    name: "queue.depth".into(),
                    description: "Messages waiting in the queue.".into(),
                    unit: "{message}".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![number(self.queue_depth, 0)],
                    })),
                    ..Default::default()
                },
            ],
        ));
        ExportMetricsServiceRequest { resource_metrics }
    }
}

fn resource(service: &str, metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                kv_str("service.name", service),
                kv_str("service.instance.id", &format!("{service}-1")),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: super::Generator::scope(),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}
