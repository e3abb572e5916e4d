//! The OpenTelemetry Python SDK's own OTLP/HTTP metric exporter against
//! the real server: what users run, not a payload built by hand.
//!
//! Needs `python3` with `opentelemetry-sdk` and
//! `opentelemetry-exporter-otlp-proto-http` (scripts/test.sh installs
//! them); without them the test says so and passes, unless
//! `LOOKOUT_REQUIRE_PYTHON_OTEL=1`.

use std::process::Command;

use crate::support::TestServer;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/python/export_metrics.py"
);

const EXCEPTIONS_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/python/record_exceptions.py"
);

fn python_sdk_available() -> bool {
    let available = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter, \
             opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http._log_exporter, \
             opentelemetry.exporter.otlp.proto.http.trace_exporter",
        ])
        .output()
        .is_ok_and(|output| output.status.success());
    if !available {
        assert!(
            std::env::var_os("LOOKOUT_REQUIRE_PYTHON_OTEL").is_none(),
            "the OpenTelemetry Python SDK is required (LOOKOUT_REQUIRE_PYTHON_OTEL) but missing"
        );
        eprintln!("skipped: python3 with the OpenTelemetry SDK and OTLP/HTTP exporter is missing");
    }
    available
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
