//! The OpenTelemetry Python SDK's own OTLP exporters (HTTP and gRPC)
//! against the real server: what users run, not a payload built by hand.
//!
//! Needs `python3` with `opentelemetry-sdk`,
//! `opentelemetry-exporter-otlp-proto-http` and
//! `opentelemetry-exporter-otlp-proto-grpc` (scripts/test.sh installs
//! them); without them the tests say so and pass, unless
//! `LOOKOUT_REQUIRE_PYTHON_OTEL=1`.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::{
    log_record, logs_request, metric_value, now_nanos, resource_logs, TestServer, MS, SECOND,
};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/python/export_metrics.py"
);

const EXCEPTIONS_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/python/record_exceptions.py"
);

const GRPC_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/python/export_grpc.py"
);

fn python_sdk_available() -> bool {
    python_modules_available(
        "opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter, \
         opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http._log_exporter, \
         opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "the OpenTelemetry SDK and OTLP/HTTP exporter",
    )
}

fn python_grpc_exporters_available() -> bool {
    python_modules_available(
        "opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.grpc.metric_exporter, \
         opentelemetry.exporter.otlp.proto.grpc._log_exporter, \
         opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "the OpenTelemetry SDK and OTLP/gRPC exporter",
    )
}

fn python_modules_available(modules: &str, what: &str) -> bool {
    let available = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        assert!(
            std::env::var_os("LOOKOUT_REQUIRE_PYTHON_OTEL").is_none(),
            "{what} is required (LOOKOUT_REQUIRE_PYTHON_OTEL) but missing"
        );
        eprintln!("skipped: python3 with {what} is missing");
    }
    available
}

fn grpc_server(key: Option<&str>) -> (TestServer, String) {
    let server = TestServer::start_with(|config| {
        config.grpc_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.api_keys = key.into_iter().map(str::to_string).collect();
        config.log_refresh = Duration::from_millis(100);
        config.log_max_lag = Duration::from_millis(300);
    });
    let endpoint = format!("http://{}", server.grpc_addr().expect("gRPC is on"));
    (server, endpoint)
}

fn run_grpc_script(endpoint: &str, key: &str, signals: &str) -> std::process::Output {
    Command::new("python3")
        .args([GRPC_SCRIPT, endpoint, key, signals])
        .output()
        .expect("python3 runs")
}

fn assert_succeeded(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "the exporters failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_python_sdk_grpc_exporters_export_traces_logs_and_metrics() {
    if !python_grpc_exporters_available() {
        return;
    }
    let (server, endpoint) = grpc_server(Some("py-key"));
    let output = run_grpc_script(&endpoint, "py-key", "traces,logs,metrics");
    assert_succeeded(&output);
    let search = server.get_ok("/api/traces?service=py-grpc");
    let traces = search["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 1, "{search}");
    let trace_id = traces[0]["trace_id"].as_str().expect("a trace id");
    let trace = server.trace(trace_id);
    let mut names: Vec<&str> = trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .filter_map(|span| span["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["POST /checkout", "charge card"], "{trace}");
    server.wait_for_logs(&[("q", "declined"), ("service", "py-grpc")], 1);
    let (_, series) = server.get_query(
        "/prometheus/api/v1/series",
        &[("match[]", r#"{job="py-grpc"}"#)],
    );
    let names: Vec<&str> = series["data"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|labels| labels["__name__"].as_str())
        .collect();
    for expected in ["grpc_orders_total", "grpc_checkout_duration_seconds_count"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    // Without the key the exporter fails (and says so), storing nothing.
    let output = run_grpc_script(&endpoint, "-", "traces");
    assert!(!output.status.success(), "exported without a key");
    let search = server.get_ok("/api/traces?service=py-grpc");
    assert_eq!(search["traces"].as_array().map(Vec::len), Some(1));
}

#[test]
fn the_python_sdk_grpc_exporter_retries_while_log_indexing_is_behind() {
    if !python_grpc_exporters_available() {
        return;
    }
    let (server, endpoint) = grpc_server(None);
    // Indexing stalls until the backlog is more than ingest may take.
    server.indexer().paused.store(true, Ordering::SeqCst);
    let t = now_nanos() - SECOND;
    let mut backlog = 0;
    loop {
        let records = (0..1000)
            .map(|i| log_record(t + i * MS, 9, "", "backlog", vec![]))
            .collect();
        let response = server.post_protobuf(
            "/v1/logs",
            &logs_request(vec![resource_logs("bulk", records)]),
        );
        if response.status() != reqwest::StatusCode::OK {
            break;
        }
        backlog += 1000;
        assert!(backlog <= 10_000, "ingest never refused a growing backlog");
    }
    let script = std::thread::spawn(move || run_grpc_script(&endpoint, "-", "logs"));
    // The exporter is told UNAVAILABLE (with when to retry) at least once...
    let unavailable = "lookout_grpc_requests_total{method=\"/opentelemetry.proto.collector.logs.v1.LogsService/Export\",code=\"UNAVAILABLE\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric_value(&server.metrics_text(), unavailable).unwrap_or(0.0) < 1.0 {
        assert!(Instant::now() < deadline, "the exporter was never refused");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...and once indexing catches up, its retry is stored, once.
    server.indexer().paused.store(false, Ordering::SeqCst);
    let output = script.join().expect("the script's thread");
    assert_succeeded(&output);
    server.wait_for_logs(&[("q", "declined"), ("service", "py-grpc")], 1);
    server.wait_for_logs(&[("q", "backlog")], backlog);
}

#[test]
fn the_python_sdk_metric_exporter_exports_without_error() {
    if !python_sdk_available() {
        return;
    }
    let server = TestServer::start();
    let output = Command::new("python3")
        .arg(SCRIPT)
        .arg(server.url("/v1/metrics"))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the exporter failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, series) = server.get_query(
        "/prometheus/api/v1/series",
        &[("match[]", r#"{job="py-shop"}"#)],
    );
    let names: Vec<String> = series["data"]
        .as_array()
        .expect("series")
        .iter()
        .map(|labels| labels["__name__"].as_str().unwrap_or("").to_string())
        .collect();
    for expected in [
        "orders_total",
        "checkout_duration_seconds_bucket",
        "checkout_duration_seconds_count",
        "checkout_duration_seconds_sum",
        "payment_duration_seconds_bucket",
        "carts_open",
        "queue_depth",
        "target_info",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    // The exponential histogram's buckets answer histogram_quantile: the
    // median of 0.2, 0.7 and 1.5 lies in the bucket that holds 0.7, which
    // at the SDK's scale is a few percent wide.
    let (status, body) = server.get_query(
        "/prometheus/api/v1/query",
        &[(
            "query",
            "histogram_quantile(0.5, payment_duration_seconds_bucket)",
        )],
    );
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let median: f64 = body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    assert!((0.6..=0.75).contains(&median), "median {median}: {body}");
}

#[test]
fn an_exception_the_python_sdk_records_on_a_span_and_logs_is_one_error_group() {
    if !python_sdk_available() {
        return;
    }
    let server = TestServer::start();
    let output = Command::new("python3")
        .arg(EXCEPTIONS_SCRIPT)
        .arg(server.url(""))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the exporters failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    server.flush();
    let body = server.get_ok("/api/errors?service=py-orders");
    let groups = body["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "one group for both: {body:#}");
    let group = &groups[0];
    assert_eq!(group["count"], 2, "{group:#}");
    // The span's exception names the type with its module, the log's
    // without; the group shows the first.
    assert!(
        group["type"]
            .as_str()
            .is_some_and(|name| name.ends_with("OrderNotFound")),
        "{group:#}"
    );
    assert_eq!(group["message"], "order <n> not found");
    assert_eq!(group["releases"], serde_json::json!(["3.1.0"]));
    assert_eq!(group["environments"], serde_json::json!(["test"]));
    assert!(
        group["sample"]["stacktrace"]
            .as_str()
            .is_some_and(|stack| stack.contains("find_order")),
        "{group:#}"
    );
    let detail = server.get_ok(&format!(
        "/api/errors/{}",
        group["id"].as_str().expect("an id")
    ));
    let sources: Vec<&str> = detail["releases_detail"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|row| row["release"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(sources, vec!["3.1.0"]);
}
