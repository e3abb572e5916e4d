//! Alert evaluation at scale, against the release `lookout` binary in its
//! own process (`cargo bench --bench alerts`):
//! 1. loads `LOOKOUT_BENCH_ALERT_SPANS` spans (default 10M; traces of 10
//!    spans over 20 services × 5 operations) and `LOOKOUT_BENCH_ALERT_LOGS`
//!    log records (default 10M, 20 services) spread over the last hour,
//!    and 100 gauge series, over OTLP/HTTP;
//! 2. creates 1,000 rules of mixed kinds (300 `error_rate`, 200 `latency`,
//!    100 `request_rate`, 200 `log_count`, 100 `metric`, 100 `promql`),
//!    disabled;
//! 3. alternates ingest phases of `LOOKOUT_BENCH_ALERT_PHASE_SECONDS`
//!    (default 60) with the rules disabled and enabled (A B A B): spans/s
//!    in each, and, while enabled, the duration of every evaluation round
//!    (`/health/deep`'s `alert_engine.last_round_ms`) at
//!    `--alert-interval 10s` (a third of the default, so three times the
//!    default's load on ingest).
//!
//! Results are printed as markdown and written to `target/bench-alerts.md`.

#[path = "support/env.rs"]
mod env;
#[path = "support/otlp.rs"]
mod otlp;
#[path = "support/proc.rs"]
mod proc;
#[path = "support/raw_http.rs"]
mod raw_http;
#[path = "support/report.rs"]
#[allow(dead_code)]
mod report;
#[path = "support/rng.rs"]
mod rng;
#[path = "support/server.rs"]
mod server;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use env::env_usize;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use prost::Message;
use raw_http::RawHttp;
use report::{thousands, verdict};
use rng::Rng;
use serde_json::{json, Value};
use server::Server;

const SERVICES: usize = 20;
const OPERATIONS: usize = 5;
const SPANS_PER_TRACE: usize = 10;
const SPANS_PER_REQUEST: usize = 1_000;
const LOGS_PER_REQUEST: usize = 1_000;
const WORDS: [&str; 12] = [
    "payment",
    "declined",
    "timeout",
    "retry",
    "connected",
    "cache",
    "miss",
    "order",
    "shipped",
    "user",
    "login",
    "failed",
];
const PROTOBUF: &str = "application/x-protobuf";

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: usize) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", &format!("svc-{service}"))],
        ..Default::default()
    })
}

/// One request of `SPANS_PER_REQUEST` spans in traces of ten, one service
/// per trace, starting between `from` and `to` (unix nanos).
fn span_request(rng: &mut Rng, from: u64, to: u64) -> Vec<u8> {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES];
    for _ in 0..SPANS_PER_REQUEST / SPANS_PER_TRACE {
        let service = rng.index(SERVICES);
        let trace_id: [u8; 16] = rng.id();
        let start = from + rng.below((to - from).max(1));
        let root_id: [u8; 8] = rng.id();
        let operation = rng.index(OPERATIONS);
        let failed = rng.chance(0.03);
        let duration = 1_000_000 + rng.below(200_000_000);
        for index in 0..SPANS_PER_TRACE {
            let span_id = if index == 0 { root_id } else { rng.id() };
            by_service[service].push(Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: if index == 0 {
                    Vec::new()
                } else {
                    root_id.to_vec()
                },
                name: if index == 0 {
                    format!("GET /api/{operation}")
                } else {
                    format!("step {index}")
                },
                kind: if index == 0 {
                    span::SpanKind::Server as i32
                } else {
                    span::SpanKind::Internal as i32
                },
                start_time_unix_nano: start,
                end_time_unix_nano: start + duration / (index as u64 + 1),
                status: (failed && index == 0).then(|| Status {
                    code: status::StatusCode::Error as i32,
                    message: "boom".into(),
                }),
                ..Default::default()
            });
        }
    }
    otlp::traces_body(by_service, resource)
}

fn log_request(rng: &mut Rng, from: u64, to: u64) -> Vec<u8> {
    let mut by_service: Vec<Vec<LogRecord>> = vec![Vec::new(); SERVICES];
    for _ in 0..LOGS_PER_REQUEST {
        let service = rng.index(SERVICES);
        let words: Vec<&str> = (0..6).map(|_| WORDS[rng.index(WORDS.len())]).collect();
        let error = rng.chance(0.05);
        by_service[service].push(LogRecord {
            time_unix_nano: from + rng.below((to - from).max(1)),
            severity_number: if error { 17 } else { 9 },
            severity_text: if error { "ERROR" } else { "INFO" }.into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(words.join(" "))),
            }),
            ..Default::default()
        });
    }
    ExportLogsServiceRequest {
        resource_logs: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, records)| !records.is_empty())
            .map(|(service, log_records)| ResourceLogs {
                resource: resource(service),
                scope_logs: vec![ScopeLogs {
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}

fn gauges_request() -> Vec<u8> {
    let t = now_nanos();
    let points = (0..100)
        .map(|queue| NumberDataPoint {
            attributes: vec![kv("queue", &format!("q{queue}"))],
            time_unix_nano: t,
            value: Some(number_data_point::Value::AsDouble((queue * 7 % 50) as f64)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(0),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "queue_depth".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// POSTs `body`, retrying 503s (backpressure) after a short pause.
fn post(http: &mut RawHttp, path: &str, content_type: &str, body: &[u8]) -> u64 {
    let mut retries = 0;
    loop {
        let response = http
            .request("POST", path, Some((content_type, body)))
            .unwrap_or_else(|error| panic!("POST {path}: {error}"));
        match response.status {
            200..=299 => return retries,
            503 => {
                retries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            status => panic!(
                "POST {path}: {status} {}",
                String::from_utf8_lossy(&response.body)
            ),
        }
    }
}

/// Sends `total` records in requests made by `make`, from `clients`
/// threads; returns the wall time.
fn load(
    addr: SocketAddr,
    clients: usize,
    requests: usize,
    path: &'static str,
    make: fn(&mut Rng, u64, u64) -> Vec<u8>,
) -> Duration {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let now = now_nanos();
    let (from, to) = (now - 3_540 * 1_000_000_000, now - 60 * 1_000_000_000);
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let next = Arc::clone(&next);
            std::thread::spawn(move || {
                let mut http = RawHttp::new(addr);
                let mut rng = Rng::for_record(client as u64 * 7_919 + 13);
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let body = make(&mut rng, from, to);
                    post(&mut http, path, PROTOBUF, &body);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("loader");
    }
    started.elapsed()
}

fn api(http: &mut RawHttp, method: &str, path: &str, body: Option<&Value>) -> Value {
    let encoded = body.map(|value| value.to_string().into_bytes());
    let response = http
        .request(
            method,
            path,
            encoded.as_deref().map(|bytes| ("application/json", bytes)),
        )
        .unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    assert!(
        response.status < 300,
        "{method} {path}: {} {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

/// The 1,000 rules, disabled.
fn rules() -> Vec<Value> {
    let mut rules = Vec::new();
    let service = |i: usize| format!("svc-{}", i % SERVICES);
    for i in 0..300 {
        let mut rule = json!({"name": format!("errors {i}"), "kind": "error_rate",
            "service": service(i), "threshold": 0.05, "enabled": false});
        if i % 2 == 1 {
            rule["operation"] = json!(format!("GET /api/{}", i % OPERATIONS));
        }
        rules.push(rule);
    }
    for i in 0..200 {
        rules.push(json!({"name": format!("latency {i}"), "kind": "latency", "service": service(i),
            "percentile": if i % 2 == 0 { 95.0 } else { 99.0 }, "threshold": 150, "enabled": false}));
    }
    for i in 0..100 {
        rules.push(
            json!({"name": format!("traffic {i}"), "kind": "request_rate", "service": service(i),
            "condition": "<", "threshold": 1, "enabled": false}),
        );
    }
    for i in 0..200 {
        let query = [
            "level:error",
            "\"payment declined\"",
            "timeout",
            "failed login",
        ][i % 4];
        rules.push(
            json!({"name": format!("logs {i}"), "kind": "log_count", "service": service(i),
            "query": query, "threshold": 1000, "enabled": false}),
        );
    }
    for i in 0..100 {
        rules.push(json!({"name": format!("queue {i}"), "kind": "metric",
            "metric": format!("queue_depth{{queue=\"q{i}\"}}"), "threshold": 40, "enabled": false}));
    }
    for i in 0..100 {
        let query = if i % 2 == 0 {
            format!("sum by (span_name) (rate(traces_span_metrics_calls_total{{service_name=\"{}\",status_code=\"STATUS_CODE_ERROR\"}}[5m]))", service(i))
        } else {
            "max by (queue) (queue_depth)".to_string()
        };
        rules.push(
            json!({"name": format!("promql {i}"), "kind": "promql", "query": query,
            "threshold": 45, "enabled": false}),
        );
    }
    rules
}

/// Turns every rule on or off (a PUT each).
fn set_enabled(http: &mut RawHttp, stored: &mut [Value], on: bool) {
    for rule in stored.iter_mut() {
        rule["enabled"] = json!(on);
        let id = rule["id"].as_str().expect("id").to_string();
        *rule = api(http, "PUT", &format!("/api/alerts/rules/{id}"), Some(rule));
    }
}

struct Phase {
    enabled: bool,
    spans_per_second: f64,
    /// Rounds seen: (whole, evaluating, waiting for the writer) in ms.
    rounds: Vec<(f64, f64, f64)>,
    /// Rules in error after the last round.
    errors: usize,
}

/// Ingest at full speed for `seconds` from `clients` threads, watching the
/// engine's rounds.
fn phase(addr: SocketAddr, clients: usize, seconds: u64, enabled: bool) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let spans = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let (stop, spans) = (Arc::clone(&stop), Arc::clone(&spans));
            std::thread::spawn(move || {
                let mut http = RawHttp::new(addr);
                let mut rng = Rng::for_record(now_nanos() ^ client as u64);
                while !stop.load(Ordering::Relaxed) {
                    let now = now_nanos();
                    let body = span_request(&mut rng, now - 30_000_000_000, now);
                    post(&mut http, "/v1/traces", PROTOBUF, &body);
                    spans.fetch_add(SPANS_PER_REQUEST as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut http = RawHttp::new(addr);
    let mut rounds = Vec::new();
    let mut last_round = Value::Null;
    let mut errors = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(500));
        let response = http.request("GET", "/health/deep", None).expect("health");
        let health: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let engine = &health["checks"]["alert_engine"];
        if engine["last_round"] != last_round && !last_round.is_null() {
            let ms = |key: &str| engine[key].as_f64().unwrap_or(f64::NAN);
            rounds.push((
                ms("last_round_ms"),
                ms("last_evaluate_ms"),
                ms("last_write_ms"),
            ));
            errors = engine["rules_in_error"].as_array().map_or(0, Vec::len);
        }
        last_round = engine["last_round"].clone();
    }
    stop.store(true, Ordering::SeqCst);
    let elapsed = started.elapsed();
    for thread in threads {
        thread.join().expect("client");
    }
    Phase {
        enabled,
        spans_per_second: spans.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        rounds,
        errors,
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return f64::NAN;
    }
    values[values.len() / 2]
}

fn main() {
    let spans = env_usize("LOOKOUT_BENCH_ALERT_SPANS", 10_000_000);
    let logs = env_usize("LOOKOUT_BENCH_ALERT_LOGS", 10_000_000);
    let clients = env_usize("LOOKOUT_BENCH_CLIENTS", 4);
    let seconds = env_usize("LOOKOUT_BENCH_ALERT_PHASE_SECONDS", 60) as u64;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(
        &binary,
        dir.path(),
        &["--alert-interval".into(), "10s".into()],
    );
    let addr = server.addr;
    eprintln!("loading {spans} spans…");
    let span_time = load(
        addr,
        clients,
        spans / SPANS_PER_REQUEST,
        "/v1/traces",
        span_request,
    );
    eprintln!("loading {logs} log records…");
    let log_time = load(
        addr,
        clients,
        logs / LOGS_PER_REQUEST,
        "/v1/logs",
        log_request,
    );
    let mut http = RawHttp::new(addr);
    post(&mut http, "/v1/metrics", PROTOBUF, &gauges_request());
    // Wait until every log record is searchable.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let response = http.request("GET", "/health/deep", None).expect("health");
        let deep: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        if deep["checks"]["log_index"]["lag_records"].as_i64() == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "log indexing did not catch up");
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!("creating 1,000 rules…");
    let mut stored: Vec<Value> = rules()
        .iter()
        .map(|rule| api(&mut http, "POST", "/api/alerts/rules", Some(rule)))
        .collect();
    let load_average = proc::load_average();
    // One rule of each kind, evaluated alone (a dry run), before any phase.
    let mut per_kind = Vec::new();
    for index in [0, 300, 500, 600, 800, 900, 950] {
        let rule = &stored[index];
        let id = rule["id"].as_str().expect("id").to_string();
        let mut times: Vec<f64> = (0..11)
            .map(|_| {
                let began = Instant::now();
                api(
                    &mut http,
                    "POST",
                    &format!("/api/alerts/rules/{id}/evaluate"),
                    None,
                );
                began.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let kind = format!(
            "{}{}",
            rule["kind"].as_str().unwrap_or(""),
            rule["query"]
                .as_str()
                .map(|q| format!(" {q}"))
                .unwrap_or_default()
        );
        per_kind.push((kind, median(&mut times)));
    }

    let mut phases = Vec::new();
    for enabled in [false, true, false, true] {
        set_enabled(&mut http, &mut stored, enabled);
        eprintln!(
            "ingest for {seconds} s with the rules {}…",
            if enabled { "enabled" } else { "disabled" }
        );
        phases.push(phase(addr, clients, seconds, enabled));
    }
    // A round with nothing else running, for reference.
    let idle = phase(addr, 0, 25, true);
    server.stop(Duration::from_secs(120));

    let mut off: Vec<f64> = phases
        .iter()
        .filter(|p| !p.enabled)
        .map(|p| p.spans_per_second)
        .collect();
    let mut on: Vec<f64> = phases
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.spans_per_second)
        .collect();
    let enabled_rounds: Vec<(f64, f64, f64)> = phases
        .iter()
        .filter(|p| p.enabled)
        .flat_map(|p| p.rounds.clone())
        .collect();
    let mut rounds: Vec<f64> = enabled_rounds.iter().map(|r| r.0).collect();
    let mut evaluating: Vec<f64> = enabled_rounds.iter().map(|r| r.1).collect();
    let mut writing: Vec<f64> = enabled_rounds.iter().map(|r| r.2).collect();
    let mut idle_rounds: Vec<f64> = idle.rounds.iter().map(|r| r.0).collect();
    let mut idle_evaluating: Vec<f64> = idle.rounds.iter().map(|r| r.1).collect();
    let errors = phases
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.errors)
        .max()
        .unwrap_or(0);
    let (off_median, on_median) = (median(&mut off), median(&mut on));
    let ratio = on_median / off_median;
    let round_median = median(&mut rounds);
    let round_max = rounds.iter().copied().fold(f64::NAN, f64::max);

    let mut out = String::new();
    let _ = writeln!(out, "## Alerts benchmark ({})", proc::cpu_model());
    let _ = writeln!(
        out,
        "{} spans ({:.0} s to load), {} log records ({:.0} s), 100 gauge series; 1,000 rules; `--alert-interval 10s`; {clients} ingest clients, {seconds} s phases A B A B; load {load_average}",
        thousands(spans as f64),
        span_time.as_secs_f64(),
        thousands(logs as f64),
        log_time.as_secs_f64()
    );
    let _ = writeln!(out, "| measure | value | target |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| evaluation round, 1,000 rules, while ingest runs | median {round_median:.0} ms, max {round_max:.0} ms ({} rounds) | ≤ 2,000 ms {} |",
        rounds.len(),
        verdict(round_max <= 2_000.0)
    );
    let _ = writeln!(
        out,
        "| of which evaluating / waiting for the writer | median {:.0} ms / {:.0} ms | — |",
        median(&mut evaluating),
        median(&mut writing)
    );
    let _ = writeln!(
        out,
        "| evaluation round, no ingest | median {:.0} ms, evaluating {:.0} ms ({} rounds) | — |",
        median(&mut idle_rounds),
        median(&mut idle_evaluating),
        idle_rounds.len()
    );
    for (kind, ms) in &per_kind {
        let _ = writeln!(
            out,
            "| one `{kind}` rule, dry run over HTTP, no ingest | median {ms:.2} ms | — |"
        );
    }
    let _ = writeln!(out, "| rules in error | {errors} | 0 |");
    let _ = writeln!(
        out,
        "| ingest, spans/s, rules disabled / enabled (medians) | {} / {} (ratio {ratio:.3}) | drop ≤ 10 % {} |",
        thousands(off_median),
        thousands(on_median),
        verdict(ratio >= 0.9)
    );
    for (index, phase) in phases.iter().enumerate() {
        let _ = writeln!(
            out,
            "| phase {} ({}) | {} spans/s, rounds {:?} ms | — |",
            index + 1,
            if phase.enabled { "enabled" } else { "disabled" },
            thousands(phase.spans_per_second),
            phase
                .rounds
                .iter()
                .map(|ms| ms.0.round() as i64)
                .collect::<Vec<_>>()
        );
    }
    println!("{out}");
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-alerts.md");
    let _ = std::fs::write(target, &out);
}
