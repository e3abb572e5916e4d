//! Service metrics from spans: `/api/metrics/red` and `/api/metrics/summary`
//! checked against a brute-force computation over the raw spans of a
//! generated corpus (counts exact, percentiles within the stated bound),
//! for steps and ranges that cross minute and hour rollups; duplicates
//! counted once; the overflow series beyond the per-service limit.

use std::collections::BTreeMap;

use lookout::model::RELATIVE_ERROR;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

const SECOND_NS: u64 = 1_000_000_000;

/// One generated span, as the brute force sees it.
#[derive(Debug, Clone)]
struct Raw {
    service: &'static str,
    operation: &'static str,
    kind: SpanKind,
    error: bool,
    start: u64,
    duration: u64,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
}

/// About 3,000 spans over the last 3 hours, hour-aligned start so that
/// ranges can be chosen across hour boundaries.
fn corpus(origin: u64) -> Vec<Raw> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let operations = ["GET /cart", "POST /pay", "GET /"];
    (0..3_000u64)
        .map(|i| {
            let r = next();
            let kind = match r % 5 {
                0 => SpanKind::Client,
                1 => SpanKind::Internal,
                2 => SpanKind::Consumer,
                _ => SpanKind::Server,
            };
            // Log-uniform durations from 0.1 ms to about 3 s.
            let exponent = 5.0 + (next() % 10_000) as f64 / 10_000.0 * 4.5;
            Raw {
                service: if i % 3 == 0 { "payments" } else { "checkout" },
                operation: operations[(r >> 8) as usize % operations.len()],
                kind,
                error: (r >> 16) % 10 == 0,
                start: origin + (next() % (3 * 3_600)) * SECOND_NS + next() % SECOND_NS,
                duration: 10f64.powf(exponent) as u64,
                trace_id: new_trace_id(),
                span_id: new_span_id(),
            }
        })
        .collect()
}

fn export(server: &TestServer, spans: &[Raw]) {
    // Small requests: many groups, so rollup deltas are both merged into
    // rows and still pending when the test reads.
    for chunk in spans.chunks(90) {
        let mut by_service: BTreeMap<&str, Vec<_>> = BTreeMap::new();
        for raw in chunk {
            let mut otlp = span(
                &raw.trace_id,
                &raw.span_id,
                None,
                raw.operation,
                raw.kind,
                raw.start,
                raw.start + raw.duration,
            );
            if raw.error {
                otlp.status = status(OtlpStatusCode::Error, "failed");
            }
            by_service.entry(raw.service).or_default().push(otlp);
        }
        let resources = by_service
            .into_iter()
            .map(|(service, spans)| resource_spans(service, vec![], spans))
            .collect();
        server.export(&request(resources));
    }
}

/// The value at quantile `q` by nearest rank.
fn nearest_rank(sorted: &[u64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

fn assert_close(got: &Value, want: f64, context: &str) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{context}: no number in {got}"));
    let error = (got - want).abs() / want.max(1e-9);
    assert!(
        error <= RELATIVE_ERROR,
        "{context}: {got} vs exact {want} ({:.3} %)",
        error * 100.0
    );
}

/// Checks one answer's counts and percentiles against the spans it covers.
fn check_numbers(answer: &Value, spans: &[&Raw], seconds: f64, context: &str) {
    let count = spans.len() as u64;
    let errors = spans.iter().filter(|raw| raw.error).count() as u64;
    assert_eq!(
        answer["request_count"].as_u64(),
        Some(count),
        "{context}: {answer}"
    );
    assert_eq!(
        answer["error_count"].as_u64(),
        Some(errors),
        "{context}: {answer}"
    );
    let rate = answer["request_rate"].as_f64().expect("rate");
    assert!(
        (rate - count as f64 / seconds).abs() < 1e-9,
        "{context}: {answer}"
    );
    if count == 0 {
        assert!(answer["p50_ms"].is_null(), "{context}: {answer}");
        return;
    }
    let mut durations: Vec<u64> = spans.iter().map(|raw| raw.duration).collect();
    durations.sort_unstable();
    for (field, q) in [("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)] {
        assert_close(
            &answer[field],
            nearest_rank(&durations, q),
            &format!("{context} {field}"),
        );
    }
}

fn is_entry(raw: &Raw) -> bool {
    matches!(raw.kind, SpanKind::Server | SpanKind::Consumer)
}

#[test]
fn red_series_and_summaries_equal_a_brute_force_over_the_spans() {
    let server = TestServer::start();
    let hour = 3_600 * SECOND_NS;
    let origin = (now_nanos() / hour - 4) * hour;
    let spans = corpus(origin);
    export(&server, &spans);
    // The same spans again: duplicates are not counted twice.
    export(&server, &spans[..600]);

    let millis = |nanos: u64| (nanos / 1_000_000).to_string();
    // Steps of a minute, 5, 10 and 30 minutes and an hour, over ranges that start and
    // end inside hours (and inside minutes).
    for (step, step_seconds, start, end) in [
        (
            "60s",
            60,
            origin + 3_000 * SECOND_NS,
            origin + 6_000 * SECOND_NS,
        ),
        (
            "5m",
            300,
            origin + 1_234 * SECOND_NS,
            origin + 9_999 * SECOND_NS,
        ),
        // Ten-minute rollups: whole ten minutes, inside and across hours.
        (
            "10m",
            600,
            origin + 1_234 * SECOND_NS,
            origin + 9_999 * SECOND_NS,
        ),
        ("30m", 1_800, origin + 600 * SECOND_NS, origin + 3 * hour),
        ("1h", 3_600, origin, origin + 3 * hour),
    ] {
        let (status, answer) = server.get_query(
            "/api/metrics/red",
            &[
                ("service", "checkout"),
                ("step", step),
                ("start", &millis(start)),
                ("end", &millis(end)),
            ],
        );
        assert_eq!(status, StatusCode::OK, "{answer}");
        let series = answer["series"].as_array().expect("series");
        let step_nanos = step_seconds * SECOND_NS;
        let first = start / step_nanos * step_nanos;
        assert_eq!(
            series.len() as u64,
            (end + 1 - first).div_ceil(step_nanos),
            "step {step}"
        );
        for (index, point) in series.iter().enumerate() {
            let from = first + index as u64 * step_nanos;
            assert_eq!(point["time"], Value::from(rfc3339(from)), "step {step}");
            let covered: Vec<&Raw> = spans
                .iter()
                .filter(|raw| raw.service == "checkout" && is_entry(raw))
                .filter(|raw| raw.start >= from && raw.start < from + step_nanos)
                .collect();
            check_numbers(
                point,
                &covered,
                step_seconds as f64,
                &format!("step {step} #{index}"),
            );
        }
    }

    // One operation, client spans only.
    let (status, answer) = server.get_query(
        "/api/metrics/red",
        &[
            ("service", "payments"),
            ("operation", "POST /pay"),
            ("span_kind", "client"),
            ("step", "1h"),
            ("start", &millis(origin)),
            ("end", &millis(origin + 3 * hour - 1)),
        ],
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    for (index, point) in answer["series"]
        .as_array()
        .expect("series")
        .iter()
        .enumerate()
    {
        let from = origin + index as u64 * hour;
        let covered: Vec<&Raw> = spans
            .iter()
            .filter(|raw| raw.service == "payments" && raw.operation == "POST /pay")
            .filter(|raw| raw.kind == SpanKind::Client)
            .filter(|raw| raw.start >= from && raw.start < from + hour)
            .collect();
        check_numbers(point, &covered, 3_600.0, &format!("client hour {index}"));
    }

    // Summaries by operation over a range with whole hours inside and
    // partial hours at both ends (whole minutes, so both rollups agree
    // with the brute force).
    let start = origin + 1_800 * SECOND_NS;
    let end = origin + 9_000 * SECOND_NS;
    let (status, answer) = server.get_query(
        "/api/metrics/summary",
        &[
            ("group_by", "operation"),
            ("span_kind", "all"),
            ("start", &millis(start)),
            ("end", &millis(end - 1)),
        ],
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    let groups = answer["groups"].as_array().expect("groups");
    let mut expected: BTreeMap<(&str, &str, &str), Vec<&Raw>> = BTreeMap::new();
    for raw in spans
        .iter()
        .filter(|raw| raw.start >= start && raw.start < end)
    {
        let kind = match raw.kind {
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Consumer => "consumer",
            SpanKind::Internal => "internal",
            _ => "other",
        };
        expected
            .entry((raw.service, raw.operation, kind))
            .or_default()
            .push(raw);
    }
    assert_eq!(groups.len(), expected.len(), "{answer}");
    for group in groups {
        let key = (
            group["service"].as_str().expect("service"),
            group["operation"].as_str().expect("operation"),
            group["span_kind"].as_str().expect("kind"),
        );
        let covered = expected
            .get(&key)
            .unwrap_or_else(|| panic!("unexpected {group}"));
        check_numbers(group, covered, 7_200.0, &format!("summary {key:?}"));
    }

    // By service: entry spans only, operation null.
    let (_, answer) = server.get_query(
        "/api/metrics/summary",
        &[("start", &millis(start)), ("end", &millis(end - 1))],
    );
    let groups = answer["groups"].as_array().expect("groups");
    assert!(
        groups.iter().all(|group| group["operation"].is_null()),
        "{answer}"
    );
    let checkout_server: Vec<&Raw> = spans
        .iter()
        .filter(|raw| raw.service == "checkout" && raw.kind == SpanKind::Server)
        .filter(|raw| raw.start >= start && raw.start < end)
        .collect();
    let group = groups
        .iter()
        .find(|group| group["service"] == "checkout" && group["span_kind"] == "server")
        .unwrap_or_else(|| panic!("no checkout server group in {answer}"));
    check_numbers(group, &checkout_server, 7_200.0, "checkout by service");
}

#[test]
fn operations_beyond_the_series_limit_fold_into_the_overflow_series() {
    let server = TestServer::start_with(|config| config.store.span_series_limit = 3);
    let now = now_nanos();
    let minute = 60 * SECOND_NS;
    let start = (now / minute - 2) * minute;
    let names: Vec<String> = (0..20).map(|i| format!("GET /orders/{i}")).collect();
    let spans: Vec<_> = names
        .iter()
        .map(|name| {
            span(
                &new_trace_id(),
                &new_span_id(),
                None,
                name,
                SpanKind::Server,
                start,
                start + 5_000_000,
            )
        })
        .collect();
    server.export(&request(vec![resource_spans("orders", vec![], spans)]));
    let (status, answer) = server.get_query(
        "/api/metrics/summary",
        &[("group_by", "operation"), ("lookback", "10m")],
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    let groups = answer["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 4, "three series and the overflow: {answer}");
    let overflow = groups
        .iter()
        .find(|group| group["operation"] == "__overflow__")
        .unwrap_or_else(|| panic!("no overflow series in {answer}"));
    assert_eq!(overflow["request_count"], 17);
    let total: u64 = groups
        .iter()
        .map(|group| group["request_count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 20, "every span counts somewhere");
    assert_eq!(
        metric_value(
            &server.metrics_text(),
            "lookout_span_metrics_overflow_spans_total"
        ),
        Some(17.0)
    );

    // More new names: still four series.
    let more: Vec<_> = (20..40)
        .map(|i| {
            span(
                &new_trace_id(),
                &new_span_id(),
                None,
                &format!("GET /orders/{i}"),
                SpanKind::Server,
                start,
                start + 5_000_000,
            )
        })
        .collect();
    server.export(&request(vec![resource_spans("orders", vec![], more)]));
    let (_, answer) = server.get_query(
        "/api/metrics/summary",
        &[("group_by", "operation"), ("lookback", "10m")],
    );
    assert_eq!(
        answer["groups"].as_array().map(Vec::len),
        Some(4),
        "{answer}"
    );
}

#[test]
fn bad_metric_parameters_are_400s_naming_them() {
    let server = TestServer::start();
    for (path, name, value) in [
        ("/api/metrics/red", "step", "30s"),
        ("/api/metrics/red", "step", "a while"),
        ("/api/metrics/red", "span_kind", "servers"),
        ("/api/metrics/red", "start", "noon"),
        ("/api/metrics/summary", "group_by", "host"),
        ("/api/metrics/summary", "span_kind", "x"),
    ] {
        let (status, body) = server.get_query(path, &[(name, value)]);
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{path} {name}={value}: {body}"
        );
        assert!(error_message(&body).contains(name), "{path} {name}: {body}");
    }
    let (status, body) =
        server.get_query("/api/metrics/red", &[("lookback", "7d"), ("step", "1m")]);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("at most"), "{body}");
}

/// The edges of `/api/dependencies` over the last hour as
/// (parent, child, virtual) → (calls, errors).
fn edges(server: &TestServer) -> BTreeMap<(String, String, bool), (u64, u64)> {
    let (status, answer) = server.get_query("/api/dependencies", &[("lookback", "1h")]);
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            (
                (
                    edge["parent"].as_str().expect("parent").to_string(),
                    edge["child"].as_str().expect("child").to_string(),
                    edge["virtual"].as_bool().expect("virtual"),
                ),
                (
                    edge["call_count"].as_u64().expect("calls"),
                    edge["error_count"].as_u64().expect("errors"),
                ),
            )
        })
        .collect()
}

#[test]
fn each_call_between_services_counts_once_whatever_the_arrival_order() {
    let server = TestServer::start();
    let at = now_nanos() - 10 * 60 * SECOND_NS;
    let ms = 1_000_000;
    const TRACES: u64 = 12;
    // Per trace: frontend GET / (server) → frontend client call → checkout
    // POST /order (server, an error in every third trace) → checkout's
    // postgres query (client, db.system) and its call to payments (client,
    // peer.service) → payments POST /charge (server), which arrives last.
    let mut children_first = Vec::new();
    let mut parents_later = Vec::new();
    let mut payments_last = Vec::new();
    for i in 0..TRACES {
        let trace = new_trace_id();
        let (root, call, order, query, pay, charge) = (
            new_span_id(),
            new_span_id(),
            new_span_id(),
            new_span_id(),
            new_span_id(),
            new_span_id(),
        );
        let start = at + i * SECOND_NS;
        let root_span = span(
            &trace,
            &root,
            None,
            "GET /",
            SpanKind::Server,
            start,
            start + 50 * ms,
        );
        let call_span = span(
            &trace,
            &call,
            Some(&root),
            "POST checkout",
            SpanKind::Client,
            start + ms,
            start + 40 * ms,
        );
        let mut order_span = span(
            &trace,
            &order,
            Some(&call),
            "POST /order",
            SpanKind::Server,
            start + 2 * ms,
            start + 39 * ms,
        );
        if i % 3 == 0 {
            order_span.status = status(OtlpStatusCode::Error, "out of stock");
        }
        let mut query_span = span(
            &trace,
            &query,
            Some(&order),
            "SELECT",
            SpanKind::Client,
            start + 3 * ms,
            start + 5 * ms,
        );
        query_span
            .attributes
            .push(kv_str("db.system", "postgresql"));
        let mut pay_span = span(
            &trace,
            &pay,
            Some(&order),
            "POST payments",
            SpanKind::Client,
            start + 6 * ms,
            start + 30 * ms,
        );
        pay_span.attributes.push(kv_str("peer.service", "payments"));
        let charge_span = span(
            &trace,
            &charge,
            Some(&pay),
            "POST /charge",
            SpanKind::Server,
            start + 7 * ms,
            start + 29 * ms,
        );
        // Half the traces send the child before its parent.
        if i % 2 == 0 {
            children_first.push(("checkout", vec![order_span, query_span, pay_span]));
            parents_later.push(("frontend", vec![root_span, call_span]));
        } else {
            children_first.push(("frontend", vec![root_span, call_span]));
            parents_later.push(("checkout", vec![order_span, query_span, pay_span]));
        }
        payments_last.push(("payments", vec![charge_span]));
    }
    let send = |batch: &[(&str, Vec<_>)]| {
        let resources = batch
            .iter()
            .map(|(service, spans)| resource_spans(service, vec![], spans.clone()))
            .collect();
        server.export(&request(resources));
    };
    send(&children_first);
    send(&parents_later);
    let errors = (0..TRACES).filter(|i| i % 3 == 0).count() as u64;
    let before = edges(&server);
    let key = |parent: &str, child: &str, is_virtual: bool| {
        (parent.to_string(), child.to_string(), is_virtual)
    };
    assert_eq!(
        before.get(&key("frontend", "checkout", false)),
        Some(&(TRACES, errors)),
        "{before:?}"
    );
    assert_eq!(
        before.get(&key("checkout", "postgresql", true)),
        Some(&(TRACES, 0)),
        "{before:?}"
    );
    assert_eq!(
        before.get(&key("checkout", "payments", true)),
        Some(&(TRACES, 0)),
        "{before:?}"
    );
    assert_eq!(before.len(), 3, "{before:?}");

    // The instrumented payments service arrives: the virtual calls become
    // real ones. Sending everything again changes nothing.
    send(&payments_last);
    send(&children_first);
    send(&parents_later);
    send(&payments_last);
    let after = edges(&server);
    assert_eq!(
        after.get(&key("checkout", "payments", false)),
        Some(&(TRACES, 0)),
        "{after:?}"
    );
    assert_eq!(
        after.get(&key("checkout", "payments", true)),
        None,
        "{after:?}"
    );
    assert_eq!(
        after.get(&key("frontend", "checkout", false)),
        Some(&(TRACES, errors)),
        "{after:?}"
    );
    assert_eq!(
        after.get(&key("checkout", "postgresql", true)),
        Some(&(TRACES, 0)),
        "{after:?}"
    );
    assert_eq!(after.len(), 3, "{after:?}");

    // Both halves in one request: one call.
    let trace = new_trace_id();
    let (call, order) = (new_span_id(), new_span_id());
    let call_span = span(
        &trace,
        &call,
        None,
        "POST checkout",
        SpanKind::Client,
        at,
        at + 9 * ms,
    );
    let order_span = span(
        &trace,
        &order,
        Some(&call),
        "POST /order",
        SpanKind::Server,
        at,
        at + 8 * ms,
    );
    send(&[
        ("checkout", vec![order_span]),
        ("frontend", vec![call_span]),
    ]);
    let whole = edges(&server);
    assert_eq!(
        whole.get(&key("frontend", "checkout", false)),
        Some(&(TRACES + 1, errors)),
        "{whole:?}"
    );
}

/// A PromQL instant query's single value (`None` for an empty vector).
fn promql_value(server: &TestServer, query: &str, t_seconds: u64) -> Option<f64> {
    let time = t_seconds.to_string();
    let (status, body) = server.get_query(
        "/prometheus/api/v1/query",
        &[("query", query), ("time", time.as_str())],
    );
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let result = body["data"]["result"].as_array().expect("result");
    assert!(result.len() <= 1, "{query}: {body}");
    result.first().map(|sample| {
        sample["value"][1]
            .as_str()
            .unwrap_or("")
            .parse()
            .expect("a number")
    })
}

#[test]
fn span_derived_prometheus_series_count_the_spans() {
    let server = TestServer::start();
    let hour = 3_600 * SECOND_NS;
    let origin = (now_nanos() / hour - 4) * hour;
    let (_, names) = server.get_query("/api/metrics/names", &[]);
    assert_eq!(
        names["metrics"],
        serde_json::json!([]),
        "no spans, no series"
    );
    let spans = corpus(origin);
    export(&server, &spans);
    // The span-derived families are listed with the stored ones.
    let (_, names) = server.get_query("/api/metrics/names", &[]);
    let listed: Vec<(&str, &str)> = names["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or(""),
                m["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("traces_span_metrics_calls_total", "counter"),
            ("traces_span_metrics_duration_milliseconds", "histogram")
        ],
        "{names}"
    );
    // Times across hour boundaries: before them the series are read from
    // hour rollups, after them from minutes.
    for offset_seconds in [
        1_800u64,
        3_600 + 60 * 17,
        2 * 3_600 + 60 * 59,
        3 * 3_600 + 120,
    ] {
        let t = origin / SECOND_NS + offset_seconds;
        let before = |raw: &&Raw| raw.start < t * SECOND_NS;
        let server_spans: Vec<&Raw> = spans
            .iter()
            .filter(before)
            .filter(|raw| raw.service == "checkout" && raw.kind == SpanKind::Server)
            .collect();
        let context = format!("at origin + {offset_seconds} s");
        assert_eq!(
            promql_value(
                &server,
                r#"sum(traces_span_metrics_calls_total{service_name="checkout", span_kind="SPAN_KIND_SERVER"})"#,
                t
            ),
            Some(server_spans.len() as f64),
            "{context}"
        );
        let errors = server_spans.iter().filter(|raw| raw.error).count();
        assert_eq!(
            promql_value(
                &server,
                r#"sum(traces_span_metrics_calls_total{service_name="checkout", span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_ERROR"})"#,
                t
            ),
            Some(errors as f64),
            "{context}"
        );
        let fast = server_spans
            .iter()
            .filter(|raw| raw.duration as f64 / 1e6 <= 100.0)
            .count();
        assert_eq!(
            promql_value(
                &server,
                r#"sum(traces_span_metrics_duration_milliseconds_bucket{service_name="checkout", span_kind="SPAN_KIND_SERVER", le="100"})"#,
                t
            ),
            Some(fast as f64),
            "{context}"
        );
        let sum_ms: f64 = server_spans
            .iter()
            .map(|raw| raw.duration as f64 / 1e6)
            .sum();
        let got = promql_value(
            &server,
            r#"sum(traces_span_metrics_duration_milliseconds_sum{service_name="checkout", span_kind="SPAN_KIND_SERVER"})"#,
            t,
        )
        .expect("a duration sum");
        assert!(
            (got - sum_ms).abs() <= 1e-6 * sum_ms.max(1.0),
            "{context}: {got} vs {sum_ms}"
        );
    }
    // What Jaeger's Monitor tab asks: a rate by service, and a latency
    // quantile from the buckets.
    let t = origin / SECOND_NS + 3 * 3_600;
    let rate = promql_value(
        &server,
        r#"sum(rate(traces_span_metrics_calls_total{service_name="checkout", span_kind="SPAN_KIND_SERVER"}[5m])) by (service_name)"#,
        t,
    );
    assert!(rate.is_some_and(|rate| rate > 0.0), "{rate:?}");
    let p95 = promql_value(
        &server,
        r#"histogram_quantile(0.95, sum(rate(traces_span_metrics_duration_milliseconds_bucket{service_name="checkout"}[30m])) by (le))"#,
        t,
    );
    assert!(
        p95.is_some_and(|p95| p95 > 0.0 && p95 <= 15_000.0),
        "{p95:?}"
    );
    // The names are listed with the stored ones.
    let (_, names) = server.get_query("/prometheus/api/v1/label/__name__/values", &[]);
    let names = names["data"].to_string();
    assert!(names.contains("traces_span_metrics_calls_total"), "{names}");
}

#[test]
fn the_service_graph_is_a_prometheus_counter_per_edge() {
    let server = TestServer::start();
    let minute = 60 * SECOND_NS;
    let start = (now_nanos() / minute - 10) * minute;
    let mut spans = Vec::new();
    for i in 0..5u64 {
        let trace = new_trace_id();
        let parent = new_span_id();
        let mut client = span(
            &trace,
            &parent,
            None,
            "GET /pay",
            SpanKind::Client,
            start + i * SECOND_NS,
            start + i * SECOND_NS + 5_000_000,
        );
        if i == 0 {
            client.status = status(OtlpStatusCode::Error, "failed");
        }
        let child = span(
            &trace,
            &new_span_id(),
            Some(&parent),
            "POST /pay",
            SpanKind::Server,
            start + i * SECOND_NS + 1_000_000,
            start + i * SECOND_NS + 4_000_000,
        );
        spans.push(resource_spans("checkout", vec![], vec![client]));
        spans.push(resource_spans("payments", vec![], vec![child]));
    }
    server.export(&request(spans));
    let t = start / SECOND_NS + 120;
    assert_eq!(
        promql_value(
            &server,
            r#"traces_service_graph_request_total{client="checkout", server="payments"}"#,
            t
        ),
        Some(5.0)
    );
    assert_eq!(
        promql_value(
            &server,
            r#"traces_service_graph_request_failed_total{client="checkout", server="payments"}"#,
            t
        ),
        Some(1.0)
    );
}

/// Current semantic conventions name the database `db.system.name`; a call
/// carrying only that once made no virtual node.
#[test]
fn db_system_name_makes_a_virtual_node() {
    let server = TestServer::start();
    let minute = 60 * SECOND_NS;
    let start = (now_nanos() / minute - 5) * minute;
    let mut query = span(
        &new_trace_id(),
        &new_span_id(),
        None,
        "GET",
        SpanKind::Client,
        start,
        start + 2_000_000,
    );
    query.attributes.push(kv_str("db.system.name", "redis"));
    server.export(&request(vec![resource_spans("cart", vec![], vec![query])]));
    let t = start / SECOND_NS + 120;
    assert_eq!(
        promql_value(
            &server,
            r#"traces_service_graph_request_total{client="cart", server="redis"}"#,
            t
        ),
        Some(1.0)
    );
}
