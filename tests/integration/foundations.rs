//! Honest health and flush: a panicking writer turns `/health/deep`
//! critical and shows in `/metrics`; a flush answers the failure of the
//! group it waited for and covers the log index; the writer's caches show
//! their sizes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

#[test]
fn a_panicking_writer_turns_deep_health_critical_and_names_the_panic() {
    let server = TestServer::start();
    let (status, _) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::OK);

    server.writer().inject_panic().expect("queued");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = server.get_json("/health/deep");
        if status == StatusCode::SERVICE_UNAVAILABLE
            && body["checks"]["writer"]["status"] == "critical"
        {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "health never turned critical: {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(body["status"], "critical", "{body}");
    let message = body["checks"]["writer"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("panicked") && message.contains("writer panic injected"),
        "{body}"
    );
    assert_eq!(body["checks"]["threads"]["status"], "critical", "{body}");
    assert_eq!(body["checks"]["writer"]["alive"], Value::Bool(false));

    let metrics = server.get("/metrics").text().expect("metrics text");
    assert_eq!(
        metric_value(&metrics, "lookout_thread_up{thread=\"writer\"}"),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "lookout_thread_panics_total{thread=\"writer\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric_value(&metrics, "lookout_thread_up{thread=\"retention\"}"),
        Some(1.0)
    );

    // Ingest now answers 503, never a 200 for data nobody stores.
    let (_, export) = single_span_trace("orphan", "GET /", SECOND);
    let response = server.post_protobuf("/v1/traces", &export);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
}

#[test]
fn a_flush_reports_the_failure_of_the_group_it_waited_for() {
    // The delay holds the first command long enough for the flush behind
    // it to join the same group.
    let server = TestServer::start_with(|config| {
        config.pipeline.writer_delay = Duration::from_millis(300);
    });
    server.flush();
    server.writer().inject_write_failure(true);
    let (_, export) = single_span_trace("fragile", "GET /lost", SECOND);
    let batch = lookout::ingest::otlp::convert_traces(export, &Default::default()).batch;
    let receiver = server
        .writer()
        .try_submit_spans(batch, None)
        .expect("queued");
    let flushed = server.try_flush();
    let error = flushed.expect_err("the group failed");
    assert!(
        error.to_string().contains("storing the data failed"),
        "{error}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert!(runtime.block_on(receiver).expect("answered").is_err());

    server.writer().inject_write_failure(false);
    server.flush();
}

#[test]
fn a_flush_makes_logs_searchable_without_waiting_for_the_refresh() {
    // A refresh far longer than the test: only the flush commits.
    let server = TestServer::start_with(|config| {
        config.log_refresh = Duration::from_secs(50);
        config.log_max_lag = Duration::ZERO;
    });
    // The indexer commits its first records at once; let that pass.
    server.flush();
    let now = now_nanos();
    let records = (0..3)
        .map(|index| log_record(now, 9, "INFO", &format!("flushed record {index}"), vec![]))
        .collect();
    let response = server.post_protobuf(
        "/v1/logs",
        &logs_request(vec![resource_logs("flusher", records)]),
    );
    assert_eq!(response.status(), StatusCode::OK);
    server.flush();
    let found = server.search_logs(&[("q", "flushed"), ("lookback", "1h")]);
    assert_eq!(found["total"], 3, "{found}");
}

#[test]
fn metrics_show_the_writer_caches_with_their_entries_and_limits() {
    let server = TestServer::start();
    for operation in ["GET /a", "GET /b", "GET /c"] {
        let (_, export) = single_span_trace("cached", operation, SECOND);
        let response = server.post_protobuf("/v1/traces", &export);
        assert_eq!(response.status(), StatusCode::OK);
    }
    server.flush();
    let metrics = server.get("/metrics").text().expect("metrics text");
    let value = |name: &str| metric_value(&metrics, name);
    assert_eq!(
        value("lookout_cache_entries{cache=\"operations\"}"),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        value("lookout_cache_entries{cache=\"services\"}"),
        Some(1.0)
    );
    assert_eq!(
        value("lookout_cache_limit_entries{cache=\"operations\"}"),
        Some(65_536.0)
    );
    assert_eq!(
        value("lookout_cache_resets_total{cache=\"operations\"}"),
        Some(0.0)
    );
}

/// `rust-version` in Cargo.toml is what the locked dependencies need: the
/// highest `rust-version` among them, no lower (it would promise builds
/// that fail) and no higher (it would refuse toolchains that work).
#[test]
fn rust_version_is_what_the_locked_dependencies_need() {
    let cargo = env!("CARGO");
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_string))
        .expect("rustc names its host");
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let version = |text: &str| -> Vec<u32> {
        text.split('.')
            .map(|part| part.parse().expect("numeric version"))
            .chain(std::iter::repeat(0))
            .take(3)
            .collect()
    };
    let packages = metadata["packages"].as_array().expect("packages");
    let ours = packages
        .iter()
        .find(|package| package["name"] == "lookout")
        .and_then(|package| package["rust_version"].as_str())
        .map(version)
        .expect("lookout states a rust-version");
    let (needed, by) = packages
        .iter()
        .filter(|package| package["name"] != "lookout")
        .filter_map(|package| {
            let text = package["rust_version"].as_str()?;
            Some((version(text), package["name"].as_str()?.to_string()))
        })
        .max()
        .expect("dependencies state rust-versions");
    assert_eq!(
        ours, needed,
        "rust-version should be {needed:?} (needed by {by})"
    );
}

/// ARCHITECTURE.md names only paths that exist: every backticked path
/// under `src/`, `tests/`, `benches/`, `schema/`, `assets/`, `scripts/` or
/// `docs/` is checked (patterns such as `NNNN_name.sql` are skipped).
#[test]
fn architecture_names_only_paths_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let prefixes = [
        "src/", "tests/", "benches/", "schema/", "assets/", "scripts/", "docs/",
    ];
    let mut checked = 0;
    for (index, token) in text.split('`').enumerate() {
        // Odd pieces are inside backticks.
        if index % 2 == 0 || !prefixes.iter().any(|prefix| token.starts_with(prefix)) {
            continue;
        }
        if token.contains("NNNN") || token.contains('*') || token.contains(' ') {
            continue;
        }
        for path in token.split(", ") {
            assert!(
                root.join(path.trim_end_matches('/')).exists(),
                "ARCHITECTURE.md names {path}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "only {checked} paths found: is the code map still there?"
    );
}
