//! OTLP metrics through the real server: every metric type, delta and
//! cumulative, resets, duplicates and out-of-order points, the series
//! limits, exemplars, bad input, and the Prometheus-compatible API that
//! reads them back.

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, AggregationTemporality, Exemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{database_bytes, kv_str, metric_value, TestServer, PROTOBUF};

/// A fixed, recent minute so points are inside the kept window.
pub fn base_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    // Whole minutes, an hour back: room for points after it.
    (now / 60_000) * 60_000 - 3_600_000
}

pub fn ns(ms: i64) -> u64 {
    (ms as u64) * 1_000_000
}

pub fn kv(key: &str, value: &str) -> KeyValue {
    kv_str(key, value)
}

/// One request with one resource (`service.name` = job) and these metrics.
pub fn request(job: &str, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", job), kv("service.instance.id", "i-1")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} help"),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

pub fn number(attrs: Vec<KeyValue>, start_ms: i64, t_ms: i64, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: if start_ms > 0 { ns(start_ms) } else { 0 },
        time_unix_nano: ns(t_ms),
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

pub fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    metric(
        name,
        "",
        Data::Gauge(Gauge {
            data_points: points,
        }),
    )
}

pub fn counter(
    name: &str,
    temporality: AggregationTemporality,
    points: Vec<NumberDataPoint>,
) -> Metric {
    metric(
        name,
        "",
        Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        }),
    )
}

pub fn histogram_point(
    t_ms: i64,
    start_ms: i64,
    bounds: &[f64],
    counts: &[u64],
    sum: f64,
) -> HistogramDataPoint {
    HistogramDataPoint {
        start_time_unix_nano: ns(start_ms),
        time_unix_nano: ns(t_ms),
        count: counts.iter().sum(),
        sum: Some(sum),
        bucket_counts: counts.to_vec(),
        explicit_bounds: bounds.to_vec(),
        ..Default::default()
    }
}

pub fn histogram(
    name: &str,
    unit: &str,
    temporality: AggregationTemporality,
    points: Vec<HistogramDataPoint>,
) -> Metric {
    metric(
        name,
        unit,
        Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: temporality as i32,
        }),
    )
}

/// Sends a request; returns the HTTP status and the decoded response.
pub fn export(
    server: &TestServer,
    request: &ExportMetricsServiceRequest,
) -> (StatusCode, ExportMetricsServiceResponse) {
    let response = server.post_protobuf("/v1/metrics", request);
    let status = response.status();
    let bytes = response.bytes().expect("body");
    let decoded = ExportMetricsServiceResponse::decode(bytes.as_ref()).unwrap_or_default();
    (status, decoded)
}

/// Rejected points of a successful export (0 when there is no
/// `partial_success`).
pub fn rejected(response: &ExportMetricsServiceResponse) -> i64 {
    response
        .partial_success
        .as_ref()
        .map_or(0, |partial| partial.rejected_data_points)
}

pub fn message(response: &ExportMetricsServiceResponse) -> String {
    response
        .partial_success
        .as_ref()
        .map(|partial| partial.error_message.clone())
        .unwrap_or_default()
}

/// `/prometheus/api/v1/series?match[]=…` as (sorted) label-set strings
/// `name{a="1", …}`.
pub fn series(server: &TestServer, selector: &str) -> Vec<String> {
    let (status, body) = server.get_query("/prometheus/api/v1/series", &[("match[]", selector)]);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "success");
    let mut out: Vec<String> = body["data"]
        .as_array()
        .expect("data is a list")
        .iter()
        .map(|labels| {
            let object = labels.as_object().expect("labels object");
            let name = object.get("__name__").and_then(Value::as_str).unwrap_or("");
            let rest: Vec<String> = object
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| format!("{k}={}", v))
                .collect();
            format!("{name}{{{}}}", rest.join(", "))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_metric_type_becomes_prometheus_series() {
    let server = TestServer::start();
    let t = base_ms();
    let request = request(
        "shop",
        vec![
            gauge(
                "queue.depth",
                vec![number(vec![kv("queue", "emails")], 0, t, 4.0)],
            ),
            counter(
                "jobs.processed",
                AggregationTemporality::Cumulative,
                vec![number(vec![kv("kind", "pdf")], t - 60_000, t, 10.0)],
            ),
            metric(
                "pool.in_use",
                "{connections}",
                Data::Sum(Sum {
                    data_points: vec![number(vec![], t - 60_000, t, 3.0)],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: false,
                }),
            ),
            histogram(
                "http.server.request.duration",
                "s",
                AggregationTemporality::Cumulative,
                vec![histogram_point(t, t - 60_000, &[0.1, 0.5], &[3, 2, 1], 1.7)],
            ),
            metric(
                "rpc.latency",
                "ms",
                Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: ns(t),
                        count: 5,
                        sum: 50.0,
                        quantile_values: vec![
                            ValueAtQuantile {
                                quantile: 0.5,
                                value: 8.0,
                            },
                            ValueAtQuantile {
                                quantile: 0.99,
                                value: 20.0,
                            },
                        ],
                        ..Default::default()
                    }],
                }),
            ),
        ],
    );
    let (status, response) = export(&server, &request);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected(&response), 0, "{}", message(&response));

    let all = series(&server, r#"{job="shop"}"#);
    let expected = [
        r#"http_server_request_duration_seconds_bucket{instance="i-1", job="shop", le="+Inf"}"#,
        r#"http_server_request_duration_seconds_bucket{instance="i-1", job="shop", le="0.1"}"#,
        r#"http_server_request_duration_seconds_bucket{instance="i-1", job="shop", le="0.5"}"#,
        r#"http_server_request_duration_seconds_count{instance="i-1", job="shop"}"#,
        r#"http_server_request_duration_seconds_sum{instance="i-1", job="shop"}"#,
        r#"jobs_processed_total{instance="i-1", job="shop", kind="pdf"}"#,
        r#"pool_in_use{instance="i-1", job="shop"}"#,
        r#"queue_depth{instance="i-1", job="shop", queue="emails"}"#,
        r#"rpc_latency_milliseconds_count{instance="i-1", job="shop"}"#,
        r#"rpc_latency_milliseconds_sum{instance="i-1", job="shop"}"#,
        r#"rpc_latency_milliseconds{instance="i-1", job="shop", quantile="0.5"}"#,
        r#"rpc_latency_milliseconds{instance="i-1", job="shop", quantile="0.99"}"#,
    ];
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(all, expected);

    let metadata = server.get_ok("/prometheus/api/v1/metadata");
    assert_eq!(
        metadata["data"]["jobs_processed_total"][0]["type"],
        "counter"
    );
    assert_eq!(
        metadata["data"]["http_server_request_duration_seconds"][0]["type"],
        "histogram"
    );
    assert_eq!(metadata["data"]["queue_depth"][0]["type"], "gauge");
    assert_eq!(metadata["data"]["pool_in_use"][0]["type"], "gauge");
    assert_eq!(
        metadata["data"]["rpc_latency_milliseconds"][0]["type"],
        "summary"
    );
    assert_eq!(
        metadata["data"]["queue_depth"][0]["help"],
        "queue.depth help"
    );

    let names = server.get_ok("/api/metrics/names");
    let histogram = names["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["name"] == "http_server_request_duration_seconds")
        .expect("the histogram is listed");
    assert_eq!(histogram["series"], 5);
    assert_eq!(histogram["unit"], "s");

    let labels = server.get_ok("/prometheus/api/v1/labels");
    assert_eq!(
        labels["data"],
        serde_json::json!(["__name__", "instance", "job", "kind", "le", "quantile", "queue"])
    );
    let values = server.get_ok("/prometheus/api/v1/label/queue/values");
    assert_eq!(values["data"], serde_json::json!(["emails"]));
    let buildinfo = server.get_ok("/prometheus/api/v1/status/buildinfo");
    assert_eq!(buildinfo["status"], "success");
    assert!(buildinfo["data"]["version"].as_str().is_some());
}

#[test]
fn out_of_order_and_conflicting_duplicates_are_refused_per_point() {
    let server = TestServer::start();
    let t = base_ms();
    let points = |values: &[(i64, f64)]| {
        request(
            "svc",
            vec![gauge(
                "temperature",
                values
                    .iter()
                    .map(|(at, v)| number(vec![], 0, *at, *v))
                    .collect(),
            )],
        )
    };
    let (_, first) = export(&server, &points(&[(t, 1.0), (t + 15_000, 2.0)]));
    assert_eq!(rejected(&first), 0);
    // The same point again is a duplicate: accepted, stored once.
    let (status, again) = export(&server, &points(&[(t + 15_000, 2.0)]));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected(&again), 0, "{}", message(&again));
    // Older than the newest, and the newest with another value: refused.
    let (status, bad) = export(
        &server,
        &points(&[(t, 5.0), (t + 15_000, 9.0), (t + 30_000, 3.0)]),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected(&bad), 2, "{}", message(&bad));
    let text = message(&bad);
    assert!(text.contains("out of order"), "{text}");
    assert!(text.contains("duplicate sample"), "{text}");
    assert!(
        text.contains("dataPoints[0]") && text.contains("dataPoints[1]"),
        "{text}"
    );
}

#[test]
fn series_limits_refuse_new_series_and_count_them() {
    let server = TestServer::start_with(|config| {
        config.store.metric_series_limits.per_metric = 3;
        config.store.metric_series_limits.total = 5;
    });
    let t = base_ms();
    let points = |metric: &str, count: usize| {
        request(
            "svc",
            vec![gauge(
                metric,
                (0..count)
                    .map(|i| number(vec![kv("id", &i.to_string())], 0, t, i as f64))
                    .collect(),
            )],
        )
    };
    let (_, response) = export(&server, &points("per_user", 5));
    assert_eq!(rejected(&response), 2, "{}", message(&response));
    assert!(
        message(&response).contains("series limit"),
        "{}",
        message(&response)
    );
    let (_, response) = export(&server, &points("other", 3));
    // Two fit under the total of five.
    assert_eq!(rejected(&response), 1, "{}", message(&response));
    // Existing series still take new points.
    let more = request(
        "svc",
        vec![gauge(
            "per_user",
            vec![number(vec![kv("id", "0")], 0, t + 15_000, 1.0)],
        )],
    );
    let (_, response) = export(&server, &more);
    assert_eq!(rejected(&response), 0, "{}", message(&response));
    assert_eq!(series(&server, r#"{job="svc"}"#).len(), 5);
    let metrics = server.metrics_text();
    assert!(
        metrics.contains(r#"lookout_ingest_rejected_total{reason="series_limit"} 3"#),
        "{metrics}"
    );
}

#[test]
fn bad_metric_requests_are_refused_whole_and_bad_points_one_by_one() {
    let server = TestServer::start();
    let response = server.post_bytes("/v1/metrics", PROTOBUF, None, b"\xff\xff\xff".to_vec());
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = server.post_bytes("/v1/metrics", "text/plain", None, b"x".to_vec());
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = server.post_json("/v1/metrics", &serde_json::json!({"resourceMetrics": 5}));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let t = base_ms();
    let mixed = request(
        "svc",
        vec![
            histogram(
                "latency",
                "s",
                AggregationTemporality::Cumulative,
                vec![
                    // One count too few for the bounds.
                    histogram_point(t, t - 1000, &[0.1, 0.5], &[1, 1], 0.2),
                    histogram_point(t, t - 1000, &[0.5, 0.1], &[1, 1, 1], 0.2),
                    histogram_point(t, t - 1000, &[0.1], &[1, 1], 0.2),
                    // Counts whose sum overflows (once a panic in the server).
                    HistogramDataPoint {
                        bucket_counts: vec![u64::MAX, 2],
                        count: 1,
                        ..histogram_point(t, t - 1000, &[0.1], &[0, 0], 0.2)
                    },
                ],
            ),
            gauge("no_time", vec![number(vec![], 0, 0, 1.0)]),
            metric(
                "exp",
                "s",
                Data::ExponentialHistogram(ExponentialHistogram {
                    // A count that its (absent) buckets do not add up to.
                    data_points: vec![ExponentialHistogramDataPoint {
                        time_unix_nano: ns(t),
                        count: 1,
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
            counter(
                "unspecified",
                AggregationTemporality::Unspecified,
                vec![number(vec![], t - 1000, t, 1.0)],
            ),
        ],
    );
    let (status, response) = export(&server, &mixed);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected(&response), 6, "{}", message(&response));
    // Only the one valid histogram point is stored.
    assert_eq!(series(&server, r#"{job="svc"}"#).len(), 4);

    // JSON (OTLP/JSON) works like protobuf.
    let json = serde_json::json!({
        "resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
            "scopeMetrics": [{"metrics": [{
                "name": "clicks", "sum": {
                    "aggregationTemporality": 2, "isMonotonic": true,
                    "dataPoints": [{"asInt": "7", "timeUnixNano": ns(t).to_string(),
                                    "startTimeUnixNano": ns(t - 1000).to_string()}]
                }
            }]}]
        }]
    });
    let response = server.post_json("/v1/metrics", &json);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        series(&server, r#"{job="js"}"#),
        [r#"clicks_total{job="js"}"#]
    );
}

#[test]
fn exemplars_are_kept_with_their_trace() {
    let server = TestServer::start();
    let t = base_ms();
    let mut point = histogram_point(t, t - 60_000, &[0.1, 0.5], &[1, 1, 0], 0.35);
    point.exemplars = vec![Exemplar {
        time_unix_nano: ns(t - 5_000),
        value: Some(exemplar::Value::AsDouble(0.3)),
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
        ..Default::default()
    }];
    let request = request(
        "svc",
        vec![histogram(
            "latency",
            "s",
            AggregationTemporality::Cumulative,
            vec![point],
        )],
    );
    let (_, response) = export(&server, &request);
    assert_eq!(rejected(&response), 0, "{}", message(&response));
    let start = format!("{}", (t - 60_000) as f64 / 1000.0);
    let end = format!("{}", (t + 60_000) as f64 / 1000.0);
    let (status, body) = server.get_query(
        "/prometheus/api/v1/query_exemplars",
        &[
            (
                "query",
                "histogram_quantile(0.9, rate(latency_seconds_bucket[5m]))",
            ),
            ("start", start.as_str()),
            ("end", end.as_str()),
        ],
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let groups = body["data"].as_array().expect("exemplar groups");
    assert_eq!(groups.len(), 1, "{body}");
    // The exemplar's value 0.3 is in the bucket up to 0.5.
    assert_eq!(groups[0]["seriesLabels"]["le"], "0.5", "{body}");
    let exemplar = &groups[0]["exemplars"][0];
    assert_eq!(exemplar["labels"]["trace_id"], "ab".repeat(16));
    assert_eq!(exemplar["labels"]["span_id"], "cd".repeat(8));
    assert_eq!(exemplar["value"], "0.3");
}

fn exponential(
    t_ms: i64,
    start_ms: i64,
    scale: i32,
    offset: i32,
    counts: &[u64],
) -> ExponentialHistogramDataPoint {
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
    ExponentialHistogramDataPoint {
        start_time_unix_nano: ns(start_ms),
        time_unix_nano: ns(t_ms),
        count: counts.iter().sum(),
        sum: Some(1.0),
        scale,
        positive: Some(Buckets {
            offset,
            bucket_counts: counts.to_vec(),
        }),
        ..Default::default()
    }
}

fn exponential_metric(
    temporality: AggregationTemporality,
    points: Vec<ExponentialHistogramDataPoint>,
) -> Metric {
    metric(
        "rpc.duration",
        "s",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: points,
            aggregation_temporality: temporality as i32,
        }),
    )
}

#[test]
fn exponential_histograms_become_buckets_that_histogram_quantile_reads() {
    let server = TestServer::start();
    let t = base_ms();
    // Scale 0 (base 2), offset -4: buckets (1/16, 1/8], (1/8, 1/4], (1/4, 1/2], (1/2, 1].
    let first = exponential(t, t - 60_000, 0, -4, &[0, 0, 0, 0]);
    let mut second = exponential(t + 60_000, t - 60_000, 0, -4, &[10, 20, 60, 10]);
    second.exemplars = vec![Exemplar {
        time_unix_nano: ns(t + 30_000),
        value: Some(exemplar::Value::AsDouble(0.3)),
        trace_id: vec![0x12; 16],
        span_id: vec![0x34; 8],
        ..Default::default()
    }];
    let body = request(
        "svc",
        vec![exponential_metric(
            AggregationTemporality::Cumulative,
            vec![first, second],
        )],
    );
    let (status, response) = export(&server, &body);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected(&response), 0, "{}", message(&response));
    let families = series(&server, r#"{__name__=~"rpc_duration_seconds_bucket"}"#);
    let les: Vec<&str> = families
        .iter()
        .map(|s| {
            let le = s.split("le=").nth(1).unwrap_or("");
            le.split([',', '}']).next().unwrap_or("")
        })
        .collect();
    assert_eq!(
        les,
        [r#""+Inf""#, r#""0.125""#, r#""0.25""#, r#""0.5""#, r#""1""#],
        "{families:?}"
    );
    // 100 observations; the median is the 50th: 30 are at most 1/4, 90 at
    // most 1/2, so it is 1/4 + (50-30)/60 of the way to 1/2.
    let at = t + 60_000;
    let median = values(
        &server,
        "histogram_quantile(0.5, sum by (le) (increase(rpc_duration_seconds_bucket[2m])))",
        at,
    );
    let expected = 0.25 + (20.0 / 60.0) * 0.25;
    let got: f64 = median[0].parse().expect("a number");
    assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
    assert_eq!(values(&server, "rpc_duration_seconds_count", at), ["100"]);

    // The exemplar 0.3 goes with the bucket up to 0.5.
    let start = format!("{}", t as f64 / 1000.0);
    let end = format!("{}", (t + 60_000) as f64 / 1000.0);
    let (status, found) = server.get_query(
        "/prometheus/api/v1/query_exemplars",
        &[
            ("query", "rpc_duration_seconds_bucket"),
            ("start", start.as_str()),
            ("end", end.as_str()),
        ],
    );
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["data"][0]["seriesLabels"]["le"], "0.5", "{found}");
    assert_eq!(
        found["data"][0]["exemplars"][0]["labels"]["trace_id"],
        "12".repeat(16)
    );

    // Delta points and inconsistent points are refused one by one, with why.
    let refused = request(
        "other",
        vec![
            exponential_metric(
                AggregationTemporality::Delta,
                vec![exponential(t, t - 60_000, 0, 0, &[1])],
            ),
            exponential_metric(
                AggregationTemporality::Cumulative,
                vec![
                    exponential(t, t - 60_000, 25, 0, &[1]),
                    ExponentialHistogramDataPoint {
                        count: 5,
                        ..exponential(t, t - 60_000, 0, 0, &[1])
                    },
                ],
            ),
        ],
    );
    let (status, response) = export(&server, &refused);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected(&response), 3, "{}", message(&response));
    let why = message(&response);
    assert!(why.contains("cumulative temporality"), "{why}");
    assert!(why.contains("scale 25"), "{why}");
    assert!(why.contains("add up"), "{why}");
    assert!(series(&server, r#"{job="other"}"#).is_empty());
}

#[test]
fn series_selectors_are_validated() {
    let server = TestServer::start();
    let (status, body) = server.get_query("/prometheus/api/v1/series", &[]);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    let (status, body) =
        server.get_query("/prometheus/api/v1/series", &[("match[]", "rate(x[5m])")]);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errorType"], "bad_data");
    let (status, body) = server.get_query("/prometheus/api/v1/labels", &[("start", "tomorrow")]);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("start"),
        "{body}"
    );
}

/// `/prometheus/api/v1/query` at `t_ms`: (labels as `name{…}`, value) of
/// a vector result, sorted.
pub fn instant(server: &TestServer, query: &str, t_ms: i64) -> Vec<(String, String)> {
    let time = format!("{}", t_ms as f64 / 1000.0);
    let (status, body) = server.get_query(
        "/prometheus/api/v1/query",
        &[("query", query), ("time", time.as_str())],
    );
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    assert_eq!(body["data"]["resultType"], "vector", "{query}: {body}");
    let mut out: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|sample| {
            (
                sample["metric"].to_string(),
                sample["value"][1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn values(server: &TestServer, query: &str, t_ms: i64) -> Vec<String> {
    instant(server, query, t_ms)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn nan_and_stale_values_are_stored_without_failing_the_write() {
    // A NaN once failed the whole group: SQLite stores NaN as NULL.
    let server = TestServer::start();
    let t = base_ms();
    let mut stale = number(vec![], 0, t + 15_000, 0.0);
    stale.value = None;
    stale.flags = 1; // no recorded value
    let request = request(
        "svc",
        vec![gauge("ratio", vec![number(vec![], 0, t, f64::NAN), stale])],
    );
    let (status, response) = export(&server, &request);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rejected(&response), 0, "{}", message(&response));
    assert_eq!(values(&server, "ratio", t), ["NaN"]);
    // The staleness marker ends the series: nothing at or after it.
    assert!(values(&server, "ratio", t + 20_000).is_empty());
}

#[test]
fn delta_points_are_summed_and_cumulative_resets_store_a_zero() {
    let server = TestServer::start();
    let t = base_ms();
    let deltas = |points: Vec<NumberDataPoint>| {
        request(
            "svc",
            vec![counter("deltas", AggregationTemporality::Delta, points)],
        )
    };
    export(&server, &deltas(vec![number(vec![], t - 15_000, t, 2.0)]));
    export(&server, &deltas(vec![number(vec![], t, t + 15_000, 3.0)]));
    // A retried delta (same time) is not counted twice.
    export(&server, &deltas(vec![number(vec![], t, t + 15_000, 3.0)]));
    export(
        &server,
        &deltas(vec![number(vec![], t + 15_000, t + 30_000, 5.0)]),
    );
    assert_eq!(values(&server, "deltas_total", t + 30_000), ["10"]);

    let cumulative = |start: i64, at: i64, v: f64| {
        request(
            "svc",
            vec![counter(
                "restarts",
                AggregationTemporality::Cumulative,
                vec![number(vec![], start, at, v)],
            )],
        )
    };
    export(&server, &cumulative(t - 60_000, t, 100.0));
    export(&server, &cumulative(t - 60_000, t + 15_000, 110.0));
    // The process restarted at t + 20 s and counted 120 since: a reset the
    // value alone would not show.
    export(&server, &cumulative(t + 20_000, t + 30_000, 120.0));
    assert_eq!(values(&server, "restarts_total", t + 20_000), ["0"]);
    assert_eq!(
        values(&server, "resets(restarts_total[1m])", t + 30_000),
        ["1"]
    );
    assert_eq!(values(&server, "restarts_total", t + 30_000), ["120"]);
}

#[test]
fn samples_survive_compaction_and_restart_and_retention_removes_them() {
    let mut server = TestServer::start();
    let t = base_ms() - 2 * 3_600_000;
    let points: Vec<NumberDataPoint> = (0..480)
        .map(|i| number(vec![], 0, t + i * 15_000, (i % 7) as f64))
        .collect();
    let (_, response) = export(&server, &request("svc", vec![gauge("level", points)]));
    assert_eq!(rejected(&response), 0, "{}", message(&response));
    let expected = values(&server, "sum_over_time(level[2h])", t + 479 * 15_000);
    assert_eq!(expected.len(), 1);
    let now = t + 2 * 3_600_000 + 3_600_000;
    let chunks = actix_rt::System::new()
        .block_on(server.writer().compact_metrics(now + 3_600_000))
        .expect("compaction");
    assert!(chunks >= 2, "{chunks} chunks");
    assert_eq!(
        values(&server, "sum_over_time(level[2h])", t + 479 * 15_000),
        expected
    );
    server.restart_with(|_| {});
    assert_eq!(
        values(&server, "sum_over_time(level[2h])", t + 479 * 15_000),
        expected
    );
    // A new point after the restart continues the series in order.
    let (_, response) = export(
        &server,
        &request(
            "svc",
            vec![gauge(
                "level",
                vec![number(vec![], 0, t + 100 * 15_000, 1.0)],
            )],
        ),
    );
    assert_eq!(
        rejected(&response),
        1,
        "older than the newest after a restart"
    );

    // Retention of one hour removes them all, and the series with them.
    server.restart_with(|config| config.retention = std::time::Duration::from_secs(3600));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !series(&server, "level").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(series(&server, "level").is_empty());
}

#[test]
fn a_backfill_moved_into_chunks_gives_its_free_pages_back() {
    let server = TestServer::start();
    let t = base_ms() - 3 * 3_600_000;
    // 300 series × 480 samples: their write-ahead rows are megabytes, their
    // chunks a tenth of that.
    for batch in 0..3 {
        let metrics = (0..100)
            .map(|series| {
                let attrs = vec![kv("pod", &format!("pod-{batch}-{series}"))];
                let points = (0..480)
                    .map(|i| number(attrs.clone(), 0, t + i * 15_000, (i * series) as f64))
                    .collect();
                gauge("backfilled", points)
            })
            .collect();
        let (_, response) = export(&server, &request("svc", metrics));
        assert_eq!(rejected(&response), 0, "{}", message(&response));
    }
    server.flush();
    let before = database_bytes(&server);
    let expected = values(&server, "count(backfilled)", t + 479 * 15_000);
    assert_eq!(expected, ["300"]);
    let sum = values(
        &server,
        "sum(sum_over_time(backfilled[2h]))",
        t + 479 * 15_000,
    );

    let now = t + 3 * 3_600_000 + 3_600_000;
    let chunks = actix_rt::System::new()
        .block_on(server.writer().compact_metrics(now))
        .expect("compaction");
    assert!(chunks >= 300, "{chunks} chunks");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while database_bytes(&server) * 2 > before && std::time::Instant::now() < deadline {
        server.flush();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let after = database_bytes(&server);
    assert!(
        after * 2 <= before,
        "the database kept {after} of {before} bytes after its samples moved into chunks"
    );
    let reclaimed = metric_value(
        &server.metrics_text(),
        "lookout_storage_reclaimed_bytes_total",
    )
    .expect("reclaimed counter");
    assert!(reclaimed > 0.0, "{reclaimed}");
    assert_eq!(
        values(&server, "count(backfilled)", t + 479 * 15_000),
        expected,
        "every series still answers"
    );
    assert_eq!(
        values(
            &server,
            "sum(sum_over_time(backfilled[2h]))",
            t + 479 * 15_000
        ),
        sum
    );
}

#[test]
fn promql_errors_are_bad_data_in_prometheus_shape() {
    let server = TestServer::start();
    for (path, params) in [
        ("/prometheus/api/v1/query", vec![("query", "sum(")]),
        ("/prometheus/api/v1/query", vec![("query", "rate(x)")]),
        (
            "/prometheus/api/v1/query",
            vec![("query", "up"), ("time", "soon")],
        ),
        (
            "/prometheus/api/v1/query_range",
            vec![
                ("query", "up"),
                ("start", "10"),
                ("end", "5"),
                ("step", "1"),
            ],
        ),
        (
            "/prometheus/api/v1/query_range",
            vec![
                ("query", "up"),
                ("start", "0"),
                ("end", "100000"),
                ("step", "1"),
            ],
        ),
        ("/prometheus/api/v1/query_range", vec![("query", "up")]),
    ] {
        let (status, body) = server.get_query(path, &params);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {body}");
        assert_eq!(body["status"], "error", "{body}");
        assert_eq!(body["errorType"], "bad_data", "{body}");
        assert!(!body["error"].as_str().unwrap_or("").is_empty());
    }
    // Grafana's "Save & test": POST /query with 1+1, then buildinfo.
    let response = server.post_bytes(
        "/prometheus/api/v1/query",
        "application/x-www-form-urlencoded",
        None,
        b"query=1%2B1&time=1700000000".to_vec(),
    );
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().expect("json");
    assert_eq!(body["data"]["resultType"], "scalar");
    assert_eq!(body["data"]["result"][1], "2");
}

#[test]
fn deeply_nested_queries_are_refused_not_crashing_the_server() {
    let server = TestServer::start();
    for depth in [200usize, 5_000, 8_000, 50_000] {
        let query = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
        let response = server.post_bytes(
            "/prometheus/api/v1/query",
            "application/x-www-form-urlencoded",
            None,
            format!("query={}", query.replace('(', "%28").replace(')', "%29")).into_bytes(),
        );
        let status = response.status();
        assert!(
            [
                StatusCode::OK,
                StatusCode::BAD_REQUEST,
                StatusCode::PAYLOAD_TOO_LARGE
            ]
            .contains(&status),
            "depth {depth}: {status}"
        );
        let chain = format!("1{}", "+1".repeat(depth.min(8_000)));
        let response = server.post_bytes(
            "/prometheus/api/v1/query",
            "application/x-www-form-urlencoded",
            None,
            format!("query={}", chain.replace('+', "%2B")).into_bytes(),
        );
        assert!(
            [StatusCode::OK, StatusCode::BAD_REQUEST].contains(&response.status()),
            "chain of {depth}: {}",
            response.status()
        );
        let unary = format!("{}1", "-".repeat(depth.min(8_000)));
        let (status, _) =
            server.get_query("/prometheus/api/v1/query", &[("query", unary.as_str())]);
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "depth {depth}: {status}"
        );
    }
    // Still serving.
    assert_eq!(server.get("/health").status(), StatusCode::OK);
}
