//! Differential test of the PromQL engine against a real Prometheus.
//!
//! A deterministic corpus (counters with resets, gauges with negative
//! values, gaps and NaN, a classic histogram, several label dimensions) is
//! written as OpenMetrics, turned into TSDB blocks by `promtool` and served
//! by a `prometheus` started on a free loopback port. The same expressions
//! are then asked of Prometheus and of lookout, as instant queries at
//! several times and as range queries, and the answers compared: same
//! result type, same label sets, values equal within 1e-9 relative.
//!
//! lookout's side is a [`Backend`]: today the engine over a `MemorySource`
//! holding the corpus; [`corpus_to_otlp`] builds the OTLP request that
//! sends the same corpus to a running server, whose
//! `/prometheus/api/v1/*` answers can be read with [`HttpBackend`] as
//! Prometheus's are.
//!
//! Without `promtool`/`prometheus` on the PATH the test passes with a
//! notice, unless `LOOKOUT_REQUIRE_PROMETHEUS=1`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lookout::model::metric::{Labels, Sample, SeriesSamples};
use lookout::query::promql::{
    instant_query, range_query, EngineOptions, MemorySource, PromqlError, Value,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use reqwest::blocking::Client;
use tempfile::TempDir;

/// Where the corpus compared with Prometheus ends (2023-11-14T22:13:20Z);
/// any end works (a server with retention needs a recent one), as times
/// in the corpus, the expressions and the queries are relative to it.
const FIXED_END_MS: i64 = 1_700_000_000_000;
/// The corpus spans two hours.
const SPAN_MS: i64 = 2 * 3600 * 1000;
const SCRAPE_MS: i64 = 15_000;
const HISTOGRAM_BOUNDS: [f64; 6] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

// ---------------------------------------------------------------------
// The corpus.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One point of a corpus series.
#[derive(Debug, Clone)]
enum Point {
    Number(f64),
    /// Cumulative bucket counts (one per bound, then +Inf), sum and count.
    Histogram {
        buckets: Vec<u64>,
        sum: f64,
    },
}

#[derive(Debug, Clone)]
struct CorpusSeries {
    /// All labels but the name, `job` and `instance` included.
    labels: Vec<(String, String)>,
    points: Vec<(i64, Point)>,
}

#[derive(Debug, Clone)]
struct Family {
    /// The family name: a counter's without `_total`, a histogram's
    /// without `_bucket`/`_sum`/`_count`.
    name: &'static str,
    kind: Kind,
    series: Vec<CorpusSeries>,
}

struct Corpus {
    families: Vec<Family>,
}

/// SplitMix64: a tiny deterministic generator, so the corpus is the same
/// on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn targets() -> Vec<(&'static str, &'static str)> {
    vec![
        ("api", "a1:9090"),
        ("api", "a2:9091"),
        ("web", "w1:9090"),
        ("web", "w2:9091"),
    ]
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Scrape times of a series: every 15 s from the corpus start plus a
/// per-series phase (in ms), up to the end.
fn scrape_times(end_ms: i64, phase: i64) -> impl Iterator<Item = i64> {
    let start = end_ms - SPAN_MS;
    (0..)
        .map(move |k| start + phase + k * SCRAPE_MS)
        .take_while(move |t| *t <= end_ms)
}

/// The same values for any `end_ms`: only the times move.
fn generate_corpus(end_ms: i64) -> Corpus {
    let start_ms = end_ms - SPAN_MS;
    let mut rng = Rng(0x1ee7_c0de);
    let mut families = Vec::new();

    // Counters, two of them reset to zero once.
    let mut counters = Vec::new();
    let mut index = 0;
    for (job, instance) in targets() {
        for method in ["GET", "POST"] {
            for code in ["200", "500"] {
                let phase = (rng.next_f64() * SCRAPE_MS as f64) as i64;
                let per_second = 0.2 + rng.next_f64() * 5.0;
                let mut value = (rng.next_f64() * 1000.0).floor();
                let reset_at = match index {
                    3 => Some(200),
                    9 => Some(350),
                    _ => None,
                };
                let mut points = Vec::new();
                for (k, t) in scrape_times(end_ms, phase).enumerate() {
                    if Some(k) == reset_at {
                        value = 0.0;
                    }
                    value += (per_second * 15.0 * (0.5 + rng.next_f64())).floor();
                    points.push((t, Point::Number(value)));
                }
                counters.push(CorpusSeries {
                    labels: pairs(&[
                        ("job", job),
                        ("instance", instance),
                        ("method", method),
                        ("code", code),
                    ]),
                    points,
                });
                index += 1;
            }
        }
    }
    families.push(Family {
        name: "http_requests",
        kind: Kind::Counter,
        series: counters,
    });

    // Gauges: sine-ish temperatures around zero.
    let zones = ["north", "south", "east", "west"];
    let mut temperatures = Vec::new();
    for (i, (job, instance)) in targets().into_iter().enumerate() {
        let phase = (rng.next_f64() * SCRAPE_MS as f64) as i64;
        let offset = rng.next_f64() * 6.0 - 3.0;
        let period = 1800.0 + rng.next_f64() * 3600.0;
        let points = scrape_times(end_ms, phase)
            .map(|t| {
                let x = (t - start_ms) as f64 / 1000.0;
                let v = offset
                    + 8.0 * (2.0 * std::f64::consts::PI * x / period + i as f64).sin()
                    + rng.next_f64()
                    - 0.5;
                (t, Point::Number(v))
            })
            .collect();
        temperatures.push(CorpusSeries {
            labels: pairs(&[("job", job), ("instance", instance), ("zone", zones[i])]),
            points,
        });
    }
    families.push(Family {
        name: "cpu_temp_celsius",
        kind: Kind::Gauge,
        series: temperatures,
    });

    // Queue depths: one series with a 20-minute gap (longer than the
    // lookback), one with a 4-minute gap (shorter).
    let mut depths = Vec::new();
    for (i, (job, instance)) in targets().into_iter().enumerate() {
        let phase = (rng.next_f64() * SCRAPE_MS as f64) as i64;
        let mut depth = (rng.next_f64() * 50.0).floor();
        let mut points = Vec::new();
        for (k, t) in scrape_times(end_ms, phase).enumerate() {
            depth = (depth + (rng.next_f64() * 11.0).floor() - 5.0).max(0.0);
            let missing = match i {
                0 => (200..280).contains(&k),
                1 => (100..116).contains(&k),
                _ => false,
            };
            if !missing {
                points.push((t, Point::Number(depth)));
            }
        }
        depths.push(CorpusSeries {
            labels: pairs(&[("job", job), ("instance", instance)]),
            points,
        });
    }
    families.push(Family {
        name: "queue_depth",
        kind: Kind::Gauge,
        series: depths,
    });

    // `up`: constant 1, aligned to whole scrape intervals.
    families.push(Family {
        name: "up",
        kind: Kind::Gauge,
        series: targets()
            .into_iter()
            .map(|(job, instance)| CorpusSeries {
                labels: pairs(&[("job", job), ("instance", instance)]),
                points: scrape_times(end_ms, 0)
                    .map(|t| (t, Point::Number(1.0)))
                    .collect(),
            })
            .collect(),
    });

    // A gauge with NaN now and then.
    let phase = (rng.next_f64() * SCRAPE_MS as f64) as i64;
    families.push(Family {
        name: "odd_gauge",
        kind: Kind::Gauge,
        series: vec![CorpusSeries {
            labels: pairs(&[("job", "api"), ("instance", "a1:9090")]),
            points: scrape_times(end_ms, phase)
                .enumerate()
                .map(|(k, t)| {
                    let v = if k % 37 == 5 {
                        f64::NAN
                    } else {
                        (rng.next_f64() * 100.0).round() / 4.0
                    };
                    (t, Point::Number(v))
                })
                .collect(),
        }],
    });

    // A classic histogram per target.
    let mut histograms = Vec::new();
    for (job, instance) in targets() {
        let phase = (rng.next_f64() * SCRAPE_MS as f64) as i64;
        let skew = 0.5 + rng.next_f64() * 2.0;
        let mut per_bucket = vec![0u64; HISTOGRAM_BOUNDS.len() + 1];
        let mut sum = 0.0;
        let mut points = Vec::new();
        for t in scrape_times(end_ms, phase) {
            let observations = (rng.next_f64() * 20.0) as usize;
            for _ in 0..observations {
                let x = rng.next_f64().powf(skew) * 3.0;
                let bucket = HISTOGRAM_BOUNDS
                    .iter()
                    .position(|bound| x <= *bound)
                    .unwrap_or(HISTOGRAM_BOUNDS.len());
                per_bucket[bucket] += 1;
                sum += x;
            }
            let mut cumulative = Vec::with_capacity(per_bucket.len());
            let mut running = 0;
            for count in &per_bucket {
                running += count;
                cumulative.push(running);
            }
            points.push((
                t,
                Point::Histogram {
                    buckets: cumulative,
                    sum,
                },
            ));
        }
        histograms.push(CorpusSeries {
            labels: pairs(&[("job", job), ("instance", instance)]),
            points,
        });
    }
    families.push(Family {
        name: "request_duration_seconds",
        kind: Kind::Histogram,
        series: histograms,
    });

    Corpus { families }
}

fn format_bound(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".to_string()
    } else {
        format!("{bound}")
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

impl Corpus {
    /// Every series as PromQL sees it (a histogram as its `_bucket`,
    /// `_sum` and `_count` series).
    fn series(&self) -> Vec<SeriesSamples> {
        let mut out = Vec::new();
        for family in &self.families {
            for series in &family.series {
                let with = |name: String, extra: Option<(&str, String)>| {
                    let mut labels = series.labels.clone();
                    labels.push(("__name__".to_string(), name));
                    if let Some((label, value)) = extra {
                        labels.push((label.to_string(), value));
                    }
                    Labels::from_pairs(labels)
                };
                match family.kind {
                    Kind::Counter | Kind::Gauge => {
                        let name = if family.kind == Kind::Counter {
                            format!("{}_total", family.name)
                        } else {
                            family.name.to_string()
                        };
                        out.push(SeriesSamples {
                            labels: with(name, None),
                            samples: series
                                .points
                                .iter()
                                .filter_map(|(t, point)| match point {
                                    Point::Number(v) => Some(Sample { t: *t, v: *v }),
                                    Point::Histogram { .. } => None,
                                })
                                .collect(),
                        });
                    }
                    Kind::Histogram => {
                        let bounds = HISTOGRAM_BOUNDS
                            .iter()
                            .copied()
                            .chain(std::iter::once(f64::INFINITY));
                        for (b, bound) in bounds.enumerate() {
                            out.push(SeriesSamples {
                                labels: with(
                                    format!("{}_bucket", family.name),
                                    Some(("le", format_bound(bound))),
                                ),
                                samples: histogram_samples(series, |buckets, _| buckets[b] as f64),
                            });
                        }
                        out.push(SeriesSamples {
                            labels: with(format!("{}_sum", family.name), None),
                            samples: histogram_samples(series, |_, sum| sum),
                        });
                        out.push(SeriesSamples {
                            labels: with(format!("{}_count", family.name), None),
                            samples: histogram_samples(series, |buckets, _| {
                                buckets.last().copied().unwrap_or(0) as f64
                            }),
                        });
                    }
                }
            }
        }
        out
    }

    /// The corpus in the OpenMetrics text format, each series' samples in
    /// time order (as `promtool tsdb create-blocks-from` needs), seconds
    /// with millisecond decimals.
    fn to_openmetrics(&self) -> String {
        let mut text = String::new();
        let series = self.series();
        for family in &self.families {
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            text.push_str(&format!("# TYPE {} {kind}\n", family.name));
            for s in series.iter().filter(|s| {
                let name = s.labels.metric_name().unwrap_or("");
                match family.kind {
                    Kind::Counter => name == format!("{}_total", family.name),
                    Kind::Gauge => name == family.name,
                    Kind::Histogram => ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| name == format!("{}{suffix}", family.name)),
                }
            }) {
                let name = s.labels.metric_name().unwrap_or("");
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .filter(|(label, _)| *label != "__name__")
                    .map(|(label, value)| format!("{label}={value:?}"))
                    .collect();
                for sample in &s.samples {
                    text.push_str(&format!(
                        "{name}{{{}}} {} {}.{:03}\n",
                        labels.join(","),
                        format_value(sample.v),
                        sample.t.div_euclid(1000),
                        sample.t.rem_euclid(1000)
                    ));
                }
            }
        }
        text.push_str("# EOF\n");
        text
    }
}

fn histogram_samples(series: &CorpusSeries, f: impl Fn(&[u64], f64) -> f64) -> Vec<Sample> {
    series
        .points
        .iter()
        .filter_map(|(t, point)| match point {
            Point::Histogram { buckets, sum } => Some(Sample {
                t: *t,
                v: f(buckets, *sum),
            }),
            Point::Number(_) => None,
        })
        .collect()
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// The corpus as one OTLP export: a resource per target (`service.name` =
/// job, `service.instance.id` = instance), gauges as Gauge, counters as
/// cumulative monotonic Sum named without `_total` (the translation to
/// Prometheus names appends it), the histogram as cumulative Histogram with
/// explicit bounds, all with an empty unit so names get no unit suffix;
/// other labels become data-point attributes.
fn corpus_to_otlp(corpus: &Corpus) -> ExportMetricsServiceRequest {
    let nanos = |t: i64| (t as u64) * 1_000_000;
    let mut resource_metrics = Vec::new();
    for (job, instance) in targets() {
        let mut metrics = Vec::new();
        for family in &corpus.families {
            let mine: Vec<&CorpusSeries> = family
                .series
                .iter()
                .filter(|s| {
                    s.labels.contains(&("job".to_string(), job.to_string()))
                        && s.labels
                            .contains(&("instance".to_string(), instance.to_string()))
                })
                .collect();
            if mine.is_empty() {
                continue;
            }
            let attributes = |s: &CorpusSeries| -> Vec<KeyValue> {
                s.labels
                    .iter()
                    .filter(|(name, _)| name != "job" && name != "instance")
                    .map(|(name, value)| string_attribute(name, value))
                    .collect()
            };
            let data = match family.kind {
                Kind::Gauge | Kind::Counter => {
                    let mut points = Vec::new();
                    for s in &mine {
                        // One start time per series, so a counter reset is
                        // only a drop in value, as in the OpenMetrics text
                        // Prometheus reads: both then hold the same samples.
                        let start = s.points.first().map_or(0, |(t, _)| *t);
                        for (t, point) in &s.points {
                            let Point::Number(v) = point else { continue };
                            points.push(NumberDataPoint {
                                attributes: attributes(s),
                                start_time_unix_nano: if family.kind == Kind::Counter {
                                    nanos(start)
                                } else {
                                    0
                                },
                                time_unix_nano: nanos(*t),
                                value: Some(number_data_point::Value::AsDouble(*v)),
                                ..Default::default()
                            });
                        }
                    }
                    if family.kind == Kind::Gauge {
                        metric::Data::Gauge(Gauge {
                            data_points: points,
                        })
                    } else {
                        metric::Data::Sum(Sum {
                            data_points: points,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        })
                    }
                }
                Kind::Histogram => {
                    let mut points = Vec::new();
                    for s in &mine {
                        let start = s.points.first().map_or(0, |(t, _)| *t);
                        for (t, point) in &s.points {
                            let Point::Histogram { buckets, sum } = point else {
                                continue;
                            };
                            // OTLP counts per bucket, Prometheus cumulatively.
                            let mut previous = 0;
                            let bucket_counts: Vec<u64> = buckets
                                .iter()
                                .map(|cumulative| {
                                    let count = cumulative - previous;
                                    previous = *cumulative;
                                    count
                                })
                                .collect();
                            points.push(HistogramDataPoint {
                                attributes: attributes(s),
                                start_time_unix_nano: nanos(start),
                                time_unix_nano: nanos(*t),
                                count: buckets.last().copied().unwrap_or(0),
                                sum: Some(*sum),
                                bucket_counts,
                                explicit_bounds: HISTOGRAM_BOUNDS.to_vec(),
                                ..Default::default()
                            });
                        }
                    }
                    metric::Data::Histogram(Histogram {
                        data_points: points,
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    })
                }
            };
            metrics.push(Metric {
                name: family.name.to_string(),
                unit: String::new(),
                data: Some(data),
                ..Default::default()
            });
        }
        resource_metrics.push(ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    string_attribute("service.name", job),
                    string_attribute("service.instance.id", instance),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    ExportMetricsServiceRequest { resource_metrics }
}

// ---------------------------------------------------------------------
// Answers and the two sides.

type LabelMap = BTreeMap<String, String>;

/// A query's answer in a form both sides produce.
#[derive(Debug, Clone)]
enum Answer {
    Scalar(f64),
    String(String),
    Vector(Vec<(LabelMap, f64)>),
    Matrix(Vec<(LabelMap, Vec<(i64, f64)>)>),
    /// The query failed; only the fact is compared.
    Error(String),
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Scalar(v) => write!(f, "scalar {v}"),
            Answer::String(s) => write!(f, "string {s:?}"),
            Answer::Error(e) => write!(f, "error: {e}"),
            Answer::Vector(samples) => {
                writeln!(f, "vector of {}", samples.len())?;
                for (labels, v) in samples {
                    writeln!(f, "      {labels:?} {v}")?;
                }
                Ok(())
            }
            Answer::Matrix(series) => {
                writeln!(f, "matrix of {}", series.len())?;
                for (labels, points) in series {
                    let shown: Vec<String> = points
                        .iter()
                        .take(6)
                        .map(|(t, v)| format!("{t}:{v}"))
                        .collect();
                    writeln!(
                        f,
                        "      {labels:?} {} points [{}{}]",
                        points.len(),
                        shown.join(" "),
                        if points.len() > 6 { " …" } else { "" }
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// Something that answers PromQL: Prometheus, lookout's engine, or
/// lookout's HTTP API.
trait Backend {
    fn instant(&self, query: &str, time_ms: i64) -> Answer;
    fn range(&self, query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Answer;
}

/// lookout's engine over the corpus in memory.
struct EngineBackend {
    source: MemorySource,
    options: EngineOptions,
}

fn label_map(labels: &Labels) -> LabelMap {
    labels
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn from_engine(result: Result<Value, PromqlError>) -> Answer {
    match result {
        Err(error) => Answer::Error(error.to_string()),
        Ok(Value::Scalar(sample)) => Answer::Scalar(sample.v),
        Ok(Value::String(s, _)) => Answer::String(s),
        Ok(Value::Vector(vector)) => Answer::Vector(
            vector
                .iter()
                .map(|s| (label_map(&s.labels), s.sample.v))
                .collect(),
        ),
        Ok(Value::Matrix(matrix)) => Answer::Matrix(
            matrix
                .iter()
                .map(|s| {
                    (
                        label_map(&s.labels),
                        s.samples.iter().map(|p| (p.t, p.v)).collect(),
                    )
                })
                .collect(),
        ),
    }
}

impl Backend for EngineBackend {
    fn instant(&self, query: &str, time_ms: i64) -> Answer {
        from_engine(instant_query(&self.source, query, time_ms, &self.options))
    }

    fn range(&self, query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Answer {
        from_engine(range_query(
            &self.source,
            query,
            start_ms,
            end_ms,
            step_ms,
            &self.options,
        ))
    }
}

/// A Prometheus-compatible HTTP API (`…/api/v1`).
struct HttpBackend {
    client: Client,
    /// E.g. `http://127.0.0.1:9090/api/v1`.
    api: String,
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn parse_sample_value(value: &serde_json::Value) -> f64 {
    match value.as_str() {
        Some("NaN") => f64::NAN,
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(text) => text.parse().unwrap_or(f64::NAN),
        None => f64::NAN,
    }
}

fn parse_time(value: &serde_json::Value) -> i64 {
    (value.as_f64().unwrap_or(f64::NAN) * 1000.0).round() as i64
}

fn parse_metric(value: &serde_json::Value) -> LabelMap {
    value
        .as_object()
        .map(|object| {
            object
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl HttpBackend {
    fn get(&self, path: &str, params: &[(&str, String)]) -> Answer {
        let response = match self
            .client
            .get(format!("{}/{path}", self.api))
            .query(params)
            .send()
        {
            Ok(response) => response,
            Err(error) => return Answer::Error(format!("request failed: {error}")),
        };
        let body: serde_json::Value = match response.json() {
            Ok(body) => body,
            Err(error) => return Answer::Error(format!("not JSON: {error}")),
        };
        if body["status"] != "success" {
            return Answer::Error(body["error"].as_str().unwrap_or("error").to_string());
        }
        let data = &body["data"];
        let result = &data["result"];
        match data["resultType"].as_str() {
            Some("scalar") => Answer::Scalar(parse_sample_value(&result[1])),
            Some("string") => Answer::String(result[1].as_str().unwrap_or("").to_string()),
            Some("vector") => Answer::Vector(
                result
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        (
                            parse_metric(&s["metric"]),
                            parse_sample_value(&s["value"][1]),
                        )
                    })
                    .collect(),
            ),
            Some("matrix") => Answer::Matrix(
                result
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        let points = s["values"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|p| (parse_time(&p[0]), parse_sample_value(&p[1])))
                            .collect();
                        (parse_metric(&s["metric"]), points)
                    })
                    .collect(),
            ),
            other => Answer::Error(format!("unknown result type {other:?}")),
        }
    }
}

impl Backend for HttpBackend {
    fn instant(&self, query: &str, time_ms: i64) -> Answer {
        self.get(
            "query",
            &[("query", query.to_string()), ("time", seconds(time_ms))],
        )
    }

    fn range(&self, query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Answer {
        self.get(
            "query_range",
            &[
                ("query", query.to_string()),
                ("start", seconds(start_ms)),
                ("end", seconds(end_ms)),
                ("step", seconds(step_ms)),
            ],
        )
    }
}

// ---------------------------------------------------------------------
// Comparison.

/// Equal within 1e-9 relative; NaN equals NaN; below 1e-12 in absolute
/// terms two values are equal (floating-point noise around zero).
fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let difference = (a - b).abs();
    difference <= 1e-12 || difference <= 1e-9 * a.abs().max(b.abs())
}

/// Why two answers differ, if they do. Vectors are compared in label
/// order unless the expression sorts by value.
fn difference(expected: &Answer, got: &Answer, ordered: bool) -> Option<String> {
    match (expected, got) {
        (Answer::Error(_), Answer::Error(_)) => None,
        (Answer::Scalar(a), Answer::Scalar(b)) => {
            (!same_value(*a, *b)).then(|| format!("scalar {a} vs {b}"))
        }
        (Answer::String(a), Answer::String(b)) => (a != b).then(|| "strings differ".into()),
        (Answer::Vector(a), Answer::Vector(b)) => {
            let (mut a, mut b) = (a.clone(), b.clone());
            if !ordered {
                a.sort_by(|x, y| x.0.cmp(&y.0));
                b.sort_by(|x, y| x.0.cmp(&y.0));
            }
            if a.len() != b.len() {
                return Some(format!("{} vs {} samples", a.len(), b.len()));
            }
            for ((la, va), (lb, vb)) in a.iter().zip(&b) {
                if la != lb {
                    return Some(format!("labels {la:?} vs {lb:?}"));
                }
                if !same_value(*va, *vb) {
                    return Some(format!("{la:?}: {va} vs {vb}"));
                }
            }
            None
        }
        (Answer::Matrix(a), Answer::Matrix(b)) => {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.sort_by(|x, y| x.0.cmp(&y.0));
            b.sort_by(|x, y| x.0.cmp(&y.0));
            if a.len() != b.len() {
                return Some(format!("{} vs {} series", a.len(), b.len()));
            }
            for ((la, pa), (lb, pb)) in a.iter().zip(&b) {
                if la != lb {
                    return Some(format!("labels {la:?} vs {lb:?}"));
                }
                if pa.len() != pb.len() {
                    return Some(format!("{la:?}: {} vs {} points", pa.len(), pb.len()));
                }
                for ((ta, va), (tb, vb)) in pa.iter().zip(pb) {
                    if ta != tb || !same_value(*va, *vb) {
                        return Some(format!("{la:?}: {ta}:{va} vs {tb}:{vb}"));
                    }
                }
            }
            None
        }
        _ => Some("different result types".into()),
    }
}

// ---------------------------------------------------------------------
// Prometheus.

fn tool_available(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A `prometheus` serving TSDB blocks made from the corpus; killed on drop.
struct PrometheusServer {
    child: Child,
    api: String,
    /// Holds the blocks; removed after the process is gone.
    _dir: TempDir,
}

impl PrometheusServer {
    fn start(openmetrics: &str) -> PrometheusServer {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let input = dir.path().join("corpus.om");
        std::fs::File::create(&input)
            .and_then(|mut file| file.write_all(openmetrics.as_bytes()))
            .expect("write the OpenMetrics file");
        let data = dir.path().join("data");
        let output = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&data)
            .output()
            .expect("run promtool");
        assert!(
            output.status.success(),
            "promtool failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // Subqueries without a step use the evaluation interval: 1m.
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  evaluation_interval: 1m\n")
            .expect("write the configuration");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new("prometheus")
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .arg("--query.lookback-delta=5m")
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let server = PrometheusServer {
            child,
            api: format!("http://127.0.0.1:{port}/api/v1"),
            _dir: dir,
        };
        let client = Client::new();
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if client
                .get(&ready)
                .send()
                .is_ok_and(|response| response.status().is_success())
            {
                break;
            }
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------
// The expressions.

fn expressions(end_ms: i64) -> Vec<String> {
    // An `@` time, in seconds.
    let half_hour_ago = end_ms / 1000 - 1800;
    let mut list: Vec<String> = [
        // Selectors and matchers.
        "http_requests_total",
        r#"http_requests_total{method="GET", code!="500"}"#,
        r#"http_requests_total{job=~"api|web", instance!~".*:9091"}"#,
        r#"{__name__=~"cpu_temp_celsius|queue_depth", job="web"}"#,
        "queue_depth",
        "odd_gauge",
        // Offset and @.
        "http_requests_total offset 10m",
        "cpu_temp_celsius offset -7m",
        "rate(http_requests_total[5m] offset 20m)",
        "cpu_temp_celsius @ start()",
        "rate(http_requests_total[5m] @ end())",
        // Range-vector functions.
        "rate(http_requests_total[5m])",
        "irate(http_requests_total[5m])",
        "increase(http_requests_total[10m])",
        "delta(cpu_temp_celsius[10m])",
        "idelta(cpu_temp_celsius[5m])",
        "changes(queue_depth[30m])",
        "resets(http_requests_total[1h])",
        "deriv(cpu_temp_celsius[10m])",
        "predict_linear(cpu_temp_celsius[15m], 600)",
        "deriv(queue_depth[1h])",
        "changes(odd_gauge[1h])",
        "quantile_over_time(0.5, odd_gauge[15m])",
        "rate(http_requests_total[1m])",
        "increase(http_requests_total[16s])",
        "time() - timestamp(up)",
        "abs(-cpu_temp_celsius offset 1h)",
        "avg_over_time(cpu_temp_celsius[10m])",
        "min_over_time(cpu_temp_celsius[10m])",
        "max_over_time(odd_gauge[10m])",
        "sum_over_time(queue_depth[7m])",
        "count_over_time(queue_depth[10m])",
        "last_over_time(queue_depth[10m])",
        "quantile_over_time(0.9, cpu_temp_celsius[20m])",
        "stddev_over_time(cpu_temp_celsius[10m])",
        "stdvar_over_time(queue_depth[10m])",
        "present_over_time(queue_depth[2m])",
        "absent_over_time(queue_depth[3m])",
        r#"absent_over_time(nonexistent{job="api"}[5m])"#,
        // Instant-vector functions.
        "abs(cpu_temp_celsius)",
        "ceil(cpu_temp_celsius)",
        "floor(cpu_temp_celsius)",
        "round(cpu_temp_celsius)",
        "round(cpu_temp_celsius, 0.25)",
        "clamp(cpu_temp_celsius, -2, 5)",
        "clamp_min(cpu_temp_celsius, 0)",
        "clamp_max(cpu_temp_celsius, 1)",
        "sqrt(abs(cpu_temp_celsius))",
        "exp(cpu_temp_celsius / 10)",
        "ln(queue_depth + 1)",
        "log2(queue_depth + 1)",
        "log10(queue_depth)",
        "sgn(cpu_temp_celsius)",
        "time()",
        "timestamp(queue_depth)",
        "timestamp(cpu_temp_celsius offset 3m)",
        "vector(time())",
        "scalar(sum(up))",
        "scalar(up)",
        "sort(cpu_temp_celsius)",
        "sort_desc(rate(http_requests_total[5m]))",
        r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
        r#"label_replace(up, "job", "", "job", "api")"#,
        r#"label_join(up, "id", "-", "job", "instance")"#,
        r#"label_replace(up, "instance", "x", "instance", ".*")"#,
        "absent(nonexistent)",
        r#"absent(nonexistent{job="api", code=~"5.."})"#,
        "absent(up)",
        "minute()",
        "hour(timestamp(up))",
        "day_of_week()",
        "day_of_month()",
        "day_of_year()",
        "days_in_month()",
        "month()",
        "year(vector(1e9))",
        // Histograms.
        "histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))",
        "histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket[10m])))",
        "histogram_quantile(0.99, request_duration_seconds_bucket)",
        r#"histogram_quantile(0.3, sum by (le, job) (increase(request_duration_seconds_bucket{le!="0.1"}[15m])))"#,
        "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
        // Aggregations.
        "sum by (job) (rate(http_requests_total[5m]))",
        "sum(http_requests_total)",
        "avg without (instance) (rate(http_requests_total[5m]))",
        "min by (code) (http_requests_total)",
        "max(cpu_temp_celsius) by (job)",
        "count(queue_depth)",
        "group by (job) (http_requests_total)",
        "stddev by (job) (cpu_temp_celsius)",
        "stdvar(rate(http_requests_total[5m]))",
        "topk(3, cpu_temp_celsius)",
        "bottomk(2, rate(http_requests_total[5m])) by (job)",
        "quantile(0.75, cpu_temp_celsius)",
        "quantile by (method) (0.2, rate(http_requests_total[5m]))",
        r#"count_values("value", round(cpu_temp_celsius))"#,
        r#"count_values without (instance) ("depth", queue_depth)"#,
        "sum(odd_gauge)",
        "sum without (instance, method) (http_requests_total)",
        "count by (job) (rate(http_requests_total[5m]) > 1)",
        "topk(1, rate(http_requests_total[5m])) by (code)",
        "avg(cpu_temp_celsius)",
        // NaN and infinities through aggregations and functions.
        r#"count_values("v", odd_gauge)"#,
        r#"count_values("v", queue_depth / 0)"#,
        "topk(2, odd_gauge or cpu_temp_celsius)",
        "bottomk(2, odd_gauge or cpu_temp_celsius)",
        "quantile(0.5, odd_gauge or cpu_temp_celsius)",
        "sort_desc(odd_gauge or cpu_temp_celsius)",
        "sort(odd_gauge or cpu_temp_celsius)",
        "max(odd_gauge or cpu_temp_celsius)",
        "min(odd_gauge or cpu_temp_celsius)",
        "stddev(odd_gauge or cpu_temp_celsius)",
        "avg(queue_depth / 0)",
        "sum(queue_depth / 0)",
        "histogram_quantile(NaN, request_duration_seconds_bucket)",
        "histogram_quantile(1.5, request_duration_seconds_bucket)",
        "histogram_quantile(-1, request_duration_seconds_bucket)",
        "clamp(cpu_temp_celsius, 5, -2)",
        "round(cpu_temp_celsius, 0)",
        r#"label_join(up, "id", ",", "nothing", "job", "none")"#,
        r#"absent(up{job="nope"})"#,
        // Binary operators.
        "http_requests_total + 1",
        "2 * cpu_temp_celsius - 1",
        "1 + 2 * 3 ^ 2 ^ 0.5",
        "-cpu_temp_celsius",
        "http_requests_total % 7",
        "cpu_temp_celsius ^ 2",
        "cpu_temp_celsius atan2 ignoring(zone) queue_depth",
        "cpu_temp_celsius > 0",
        "cpu_temp_celsius > bool 0",
        "0 < cpu_temp_celsius",
        "queue_depth == bool 10",
        "rate(http_requests_total[5m]) > rate(http_requests_total[10m])",
        "rate(http_requests_total[5m]) < bool rate(http_requests_total[10m])",
        "cpu_temp_celsius - on(job, instance) queue_depth",
        "cpu_temp_celsius / ignoring(zone) queue_depth",
        "http_requests_total * on(job, instance) group_left(zone) cpu_temp_celsius",
        "queue_depth + on(job, instance) group_right(zone) cpu_temp_celsius",
        "sum by (job, instance) (rate(http_requests_total[5m])) / on(job, instance) up",
        "up and on(job, instance) cpu_temp_celsius > 0",
        "queue_depth or cpu_temp_celsius",
        r#"http_requests_total unless on(code) http_requests_total{code="500"}"#,
        r#"up unless queue_depth"#,
        // Errors Prometheus reports too.
        "http_requests_total + on(job) up",
        "up + ignoring(instance) up",
        "rate(http_requests_total[5m]) + on(job) group_left up",
        // Literals.
        "0x10 + 1",
        "Inf",
        "-Inf",
        "NaN",
        "1e3 / 7",
        "vector(1) + vector(2)",
        "scalar(vector(3)) * 2",
        "1 - (2 > bool 1)",
        // Subqueries.
        "max_over_time(rate(http_requests_total[5m])[30m:1m])",
        "avg_over_time(cpu_temp_celsius[20m:])",
        "rate(http_requests_total[10m:30s] offset 5m)",
        "sum_over_time(queue_depth[15m:2m])",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // Not compared: an `@`-pinned range argument of a call that is not
    // step-invariant as a whole (`predict_linear(x[15m] @ t, 600)`, or a
    // non-constant scalar argument) in a range query. Prometheus 2.42 then
    // slides the pinned window with the step over whatever chunks its
    // storage loaded for the pinned range, so its answer depends on chunk
    // layout; lookout evaluates the pinned window at every step.
    list.push(format!(
        "rate(http_requests_total[15m:1m] @ {half_hour_ago}) + time() * 0"
    ));
    list.push(format!("cpu_temp_celsius @ {half_hour_ago}"));
    list.push(format!(
        "sum(rate(http_requests_total[5m] @ {half_hour_ago}))"
    ));
    list.push(format!(
        "min_over_time((cpu_temp_celsius @ {half_hour_ago})[10m:1m])"
    ));
    list.push(format!(
        "max_over_time(cpu_temp_celsius[10m:1m] @ {half_hour_ago})"
    ));
    list
}

/// Expressions that only make sense as instant queries (their value is a
/// range vector or a string).
fn instant_only() -> Vec<&'static str> {
    vec![
        "http_requests_total[1m]",
        "cpu_temp_celsius[10m:2m]",
        r#""a string""#,
    ]
}

fn evaluation_times(end_ms: i64) -> Vec<i64> {
    vec![
        end_ms - 60_000,
        end_ms - 17 * 60_000 - 30_123,
        end_ms - 61 * 60_000,
        // On a sample of `up`: windows and lookback start on samples.
        end_ms - 30 * 60_000,
        // After the data: lookback runs out here; `up`'s last sample is
        // exactly five minutes old at end + 5m (still seen in 2.42).
        end_ms + 4 * 60_000 + 50_000,
        end_ms + 5 * 60_000,
        end_ms + 6 * 60_000,
    ]
}

fn ranges(end_ms: i64) -> Vec<(i64, i64, i64)> {
    vec![
        (end_ms - 3_600_000, end_ms, 60_000),
        (end_ms - SPAN_MS + 5 * 60_000, end_ms + 10 * 60_000, 137_000),
        // Steps on `up`'s sample times.
        (end_ms - 20 * 60_000, end_ms + 6 * 60_000, 15_000),
    ]
}

/// Compares every expression on two backends holding the corpus that
/// ends at `end_ms`; returns the descriptions of the differences and how
/// many comparisons were made.
fn compare_backends(
    expected: &dyn Backend,
    got: &dyn Backend,
    end_ms: i64,
) -> (Vec<String>, usize) {
    let mut differences = Vec::new();
    let mut comparisons = 0;
    let mut check = |what: String, ordered: bool, a: Answer, b: Answer| {
        comparisons += 1;
        if let Some(why) = difference(&a, &b, ordered) {
            differences.push(format!(
                "{what}\n    differs: {why}\n    prometheus: {a}\n    lookout:    {b}"
            ));
        }
    };
    let mut all = expressions(end_ms);
    all.extend(instant_only().into_iter().map(String::from));
    for expr in &all {
        let ordered = expr.starts_with("sort");
        for &t in &evaluation_times(end_ms) {
            check(
                format!("{expr} at {}", seconds(t)),
                ordered,
                expected.instant(expr, t),
                got.instant(expr, t),
            );
        }
    }
    for expr in &expressions(end_ms) {
        for &(start, end, step) in &ranges(end_ms) {
            check(
                format!(
                    "{expr} over [{}, {}] step {}",
                    seconds(start),
                    seconds(end),
                    seconds(step)
                ),
                false,
                expected.range(expr, start, end, step),
                got.range(expr, start, end, step),
            );
        }
    }
    (differences, comparisons)
}

#[test]
fn the_corpus_has_every_kind_of_series_and_translates_to_otlp() {
    let corpus = generate_corpus(FIXED_END_MS);
    let series = corpus.series();
    assert!(series.len() >= 30, "{} series", series.len());
    let text = corpus.to_openmetrics();
    assert!(text.ends_with("# EOF\n"));
    assert!(text.contains("# TYPE request_duration_seconds histogram"));
    let request = corpus_to_otlp(&corpus);
    assert_eq!(request.resource_metrics.len(), targets().len());
    let points: usize = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            Some(metric::Data::Sum(s)) => s.data_points.len(),
            Some(metric::Data::Histogram(h)) => h.data_points.len(),
            _ => 0,
        })
        .sum();
    let numbers: usize = corpus
        .families
        .iter()
        .flat_map(|f| &f.series)
        .map(|s| s.points.len())
        .sum();
    assert_eq!(points, numbers);
}

#[test]
fn the_engine_answers_as_prometheus_does() {
    let required = std::env::var("LOOKOUT_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1");
    if !tool_available("prometheus") || !tool_available("promtool") {
        assert!(
            !required,
            "LOOKOUT_REQUIRE_PROMETHEUS=1 but prometheus/promtool are not on the PATH"
        );
        eprintln!("skipping the PromQL comparison: prometheus and promtool are not installed");
        return;
    }
    let started = Instant::now();
    let corpus = generate_corpus(FIXED_END_MS);
    let prometheus = PrometheusServer::start(&corpus.to_openmetrics());
    let expected = HttpBackend {
        client: Client::new(),
        api: prometheus.api.clone(),
    };
    let engine = EngineBackend {
        source: MemorySource::new(corpus.series()),
        options: EngineOptions::default(),
    };
    let (differences, comparisons) = compare_backends(&expected, &engine, FIXED_END_MS);
    for difference in &differences {
        eprintln!("{difference}");
    }
    eprintln!(
        "compared {} expressions in {comparisons} queries in {:?}; {} differ",
        expressions(FIXED_END_MS).len() + instant_only().len(),
        started.elapsed(),
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{} of {comparisons} answers differ from Prometheus's",
        differences.len()
    );
}

/// The same comparison end to end: the corpus sent over OTLP/HTTP to the
/// real server, stored, and queried over `/prometheus/api/v1/`, so
/// ingest's name translation, the storage (head and compressed chunks)
/// and the HTTP API are checked along with the engine.
#[test]
fn the_server_answers_as_prometheus_does() {
    let required = std::env::var("LOOKOUT_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1");
    if !tool_available("prometheus") || !tool_available("promtool") {
        assert!(
            !required,
            "LOOKOUT_REQUIRE_PROMETHEUS=1 but prometheus/promtool are not on the PATH"
        );
        eprintln!("skipping the PromQL comparison: prometheus and promtool are not installed");
        return;
    }
    let started = Instant::now();
    // Recent enough to be inside the kept window; whole minutes.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let end_ms = (now_ms / 60_000) * 60_000 - 5 * 60_000;
    let corpus = generate_corpus(end_ms);
    let prometheus = PrometheusServer::start(&corpus.to_openmetrics());
    let server = crate::support::TestServer::start();
    let request = corpus_to_otlp(&corpus);
    // One request per resource keeps each body well under the size limit.
    for resource in request.resource_metrics {
        let single = ExportMetricsServiceRequest {
            resource_metrics: vec![resource],
        };
        let response = server.post_protobuf("/v1/metrics", &single);
        let status = response.status();
        let body = response.bytes().expect("body");
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "{}: {}",
            String::from_utf8_lossy(&body),
            server.get("/health/deep").text().unwrap_or_default()
        );
        let decoded =
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse::decode(
                body.as_ref(),
            )
            .expect("an OTLP response");
        assert!(
            decoded.partial_success.is_none(),
            "points refused: {:?}",
            decoded.partial_success
        );
    }
    // Move the finished hours into chunks, so both the head and the
    // chunks are read.
    let chunks = actix_rt::System::new()
        .block_on(server.writer().compact_metrics(now_ms + 3 * 3_600_000))
        .expect("compaction");
    assert!(chunks > 0, "the corpus fills chunks");
    let expected = HttpBackend {
        client: Client::new(),
        api: prometheus.api.clone(),
    };
    let lookout = HttpBackend {
        client: Client::new(),
        api: server.url("/prometheus/api/v1"),
    };
    let (differences, comparisons) = compare_backends(&expected, &lookout, end_ms);
    for difference in &differences {
        eprintln!("{difference}");
    }
    eprintln!(
        "compared {comparisons} answers of the server in {:?}; {} differ",
        started.elapsed(),
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{} of {comparisons} answers differ from Prometheus's",
        differences.len()
    );
}
