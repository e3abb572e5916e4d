//! The cost of redaction at ingest, against the release `lookout` binary
//! in its own process (`cargo bench --bench redaction`).
//!
//! For spans and then log records: ingest at full speed in phases of
//! `LOOKOUT_BENCH_REDACTION_PHASE_SECONDS` (default 20), A B A B, each on a
//! fresh data directory. A runs with the default redaction rules, B with
//! `--redact-keys none --redact-patterns none`; the records are the same.
//! They look like what OpenTelemetry SDKs send: spans with HTTP and
//! database attributes (10 per span, long URLs, user agents, SQL), log
//! records with a message body and 5 attributes; 1 % carry an email
//! address, a bearer token or a `password` attribute, so some values are
//! really replaced. Reported: records/s and server CPU-µs per record per
//! phase, the means, and the ratio A ÷ B of CPU per record (the goal: the
//! cost of redaction ≤ 10 % of the ingest path).
//!
//! Results are printed as markdown and written to
//! `target/bench-redaction.md`.

#[path = "support/env.rs"]
mod env;
#[path = "support/otlp.rs"]
mod otlp;
#[path = "support/proc.rs"]
mod proc;
#[path = "support/raw_http.rs"]
#[allow(dead_code)]
mod raw_http;
#[path = "support/report.rs"]
#[allow(dead_code)]
mod report;
#[path = "support/rng.rs"]
mod rng;
#[path = "support/server.rs"]
mod server;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use env::env_usize;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, Span};
use raw_http::RawHttp;
use report::{thousands, verdict};
use rng::Rng;
use server::Server;

const SERVICES: usize = 10;
const SPANS_PER_REQUEST: usize = 1_000;
const SPANS_PER_TRACE: usize = 10;
const LOGS_PER_REQUEST: usize = 1_000;
const PROTOBUF: &str = "application/x-protobuf";

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, value: String) -> KeyValue {
    kv(key, any_value::Value::StringValue(value))
}

fn int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

fn resource(service: usize) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            text("service.name", format!("svc-{service}")),
            text("service.version", "1.4.2".into()),
            text("host.name", format!("edge-{service:02}")),
            text("telemetry.sdk.language", "python".into()),
        ],
        ..Default::default()
    })
}

const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

/// The attributes of a span as an HTTP server or a database client sends
/// them; one in a hundred carries a secret.
fn span_attributes(rng: &mut Rng, root: bool) -> Vec<KeyValue> {
    let order = rng.below(1_000_000);
    let mut attributes = if root {
        vec![
            text("http.request.method", "GET".into()),
            text(
                "url.full",
                format!("https://shop.example/api/orders/{order}?expand=items&page=2"),
            ),
            text("http.route", "/api/orders/{id}".into()),
            int("http.response.status_code", 200),
            text("user_agent.original", AGENT.into()),
            text("server.address", "shop.example".into()),
            int("server.port", 443),
            text(
                "client.address",
                format!("10.0.{}.{}", rng.below(255), rng.below(255)),
            ),
            text("network.protocol.version", "1.1".into()),
            text("url.scheme", "https".into()),
        ]
    } else {
        vec![
            text("db.system", "postgresql".into()),
            text("db.namespace", "shop".into()),
            text(
                "db.query.text",
                format!(
                    "SELECT id, status, total FROM orders WHERE id = {order} AND tenant_id = $1"
                ),
            ),
            text("db.operation.name", "SELECT".into()),
            text("server.address", "db.internal".into()),
            int("server.port", 5432),
            text("code.function", "load_order".into()),
            text("code.namespace", "shop.orders.repository".into()),
            int("db.response.returned_rows", rng.below(50) as i64),
            text("thread.name", format!("worker-{}", rng.below(16))),
        ]
    };
    if rng.chance(0.01) {
        attributes.push(text("enduser.email", format!("user{order}@example.com")));
        attributes.push(text(
            "http.request.header.authorization",
            format!("Bearer tok{order}abcdef"),
        ));
    }
    attributes
}

fn span_request(rng: &mut Rng) -> Vec<u8> {
    let now = now_nanos();
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES];
    for _ in 0..SPANS_PER_REQUEST / SPANS_PER_TRACE {
        let service = rng.index(SERVICES);
        let trace_id: [u8; 16] = rng.id();
        let root_id: [u8; 8] = rng.id();
        let start = now - 30_000_000_000 + rng.below(20_000_000_000);
        for index in 0..SPANS_PER_TRACE {
            let root = index == 0;
            let span_id = if root { root_id } else { rng.id() };
            by_service[service].push(Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: if root { Vec::new() } else { root_id.to_vec() },
                name: if root {
                    "GET /api/orders/{id}".into()
                } else {
                    "SELECT shop.orders".into()
                },
                kind: if root {
                    span::SpanKind::Server as i32
                } else {
                    span::SpanKind::Client as i32
                },
                start_time_unix_nano: start,
                end_time_unix_nano: start + 1_000_000 + rng.below(50_000_000),
                attributes: span_attributes(rng, root),
                ..Default::default()
            });
        }
    }
    otlp::traces_body(by_service, resource)
}

fn log_request(rng: &mut Rng) -> Vec<u8> {
    let now = now_nanos();
    let mut by_service: Vec<Vec<LogRecord>> = vec![Vec::new(); SERVICES];
    for _ in 0..LOGS_PER_REQUEST {
        let service = rng.index(SERVICES);
        let order = rng.below(1_000_000);
        let millis = rng.below(900);
        let body = if rng.chance(0.01) {
            format!("password reset mail sent to user{order}@example.com for order {order}")
        } else {
            format!(
                "GET /api/orders/{order} completed with 200 in {millis} ms (cache miss, 3 queries)"
            )
        };
        let mut attributes = vec![
            text("logger.name", "shop.orders.handlers".into()),
            text("code.function", "handle_get".into()),
            int("http.response.status_code", 200),
            text("http.route", "/api/orders/{id}".into()),
            text("thread.name", format!("worker-{}", rng.below(16))),
        ];
        if rng.chance(0.01) {
            attributes.push(text("password", format!("p{order}")));
        }
        by_service[service].push(LogRecord {
            time_unix_nano: now - rng.below(5_000_000_000),
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(body)),
            }),
            attributes,
            ..Default::default()
        });
    }
    otlp::logs_body(by_service, resource)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signal {
    Spans,
    Logs,
}

struct Phase {
    redacted: bool,
    records_per_second: f64,
    cpu_us_per_record: f64,
}

/// Ingest at full speed for `seconds` from `clients` threads into a fresh
/// server; 503s (log indexing behind) are waited out and not counted.
fn phase(binary: &Path, signal: Signal, redacted: bool, clients: usize, seconds: u64) -> Phase {
    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = if redacted {
        Vec::new()
    } else {
        ["--redact-keys", "none", "--redact-patterns", "none"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let mut server = Server::start(binary, dir.path(), &args);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let records = Arc::new(AtomicU64::new(0));
    let ticks = proc::clock_ticks();
    let cpu_before = server.process_cpu(ticks);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let (stop, records) = (Arc::clone(&stop), Arc::clone(&records));
            std::thread::spawn(move || {
                let mut http = RawHttp::new(addr);
                let mut rng = Rng::for_record(now_nanos() ^ client as u64);
                while !stop.load(Ordering::Relaxed) {
                    let (path, body, count) = match signal {
                        Signal::Spans => ("/v1/traces", span_request(&mut rng), SPANS_PER_REQUEST),
                        Signal::Logs => ("/v1/logs", log_request(&mut rng), LOGS_PER_REQUEST),
                    };
                    let response = http
                        .request("POST", path, Some((PROTOBUF, &body)))
                        .expect("POST");
                    match response.status {
                        200 => {
                            records.fetch_add(count as u64, Ordering::Relaxed);
                        }
                        503 => std::thread::sleep(Duration::from_millis(50)),
                        other => panic!("{path}: {other}"),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().expect("client");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = server.process_cpu(ticks) - cpu_before;
    let count = records.load(Ordering::Relaxed) as f64;
    server.stop(Duration::from_secs(120));
    Phase {
        redacted,
        records_per_second: count / elapsed,
        cpu_us_per_record: cpu * 1e6 / count.max(1.0),
    }
}

fn mean(phases: &[Phase], redacted: bool, f: fn(&Phase) -> f64) -> f64 {
    let values: Vec<f64> = phases
        .iter()
        .filter(|p| p.redacted == redacted)
        .map(f)
        .collect();
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn main() {
    let clients = env_usize("LOOKOUT_BENCH_CLIENTS", 4);
    let seconds = env_usize("LOOKOUT_BENCH_REDACTION_PHASE_SECONDS", 20) as u64;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let mut out = String::new();
    let _ = writeln!(out, "## Redaction benchmark ({})", proc::cpu_model());
    let _ = writeln!(
        out,
        "\n{clients} clients, {seconds} s phases A B A B, each on a fresh data directory (A: default redaction; B: `--redact-keys none --redact-patterns none`); load at the start {}\n",
        proc::load_average()
    );
    let _ = writeln!(
        out,
        "| signal | records/s A | records/s B | CPU-µs/record A | CPU-µs/record B | CPU A ÷ B | goal |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mut detail = String::new();
    for (signal, name) in [(Signal::Spans, "spans"), (Signal::Logs, "log records")] {
        let mut phases = Vec::new();
        for redacted in [true, false, true, false] {
            eprintln!(
                "{name} for {seconds} s, redaction {}…",
                if redacted { "on" } else { "off" }
            );
            phases.push(phase(&binary, signal, redacted, clients, seconds));
        }
        let (rate_a, rate_b) = (
            mean(&phases, true, |p| p.records_per_second),
            mean(&phases, false, |p| p.records_per_second),
        );
        let (cpu_a, cpu_b) = (
            mean(&phases, true, |p| p.cpu_us_per_record),
            mean(&phases, false, |p| p.cpu_us_per_record),
        );
        let ratio = cpu_a / cpu_b;
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {cpu_a:.2} | {cpu_b:.2} | {ratio:.3} | ≤ 1.10 {} |",
            thousands(rate_a),
            thousands(rate_b),
            verdict(ratio <= 1.10)
        );
        for (index, p) in phases.iter().enumerate() {
            let _ = writeln!(
                detail,
                "| {name} | {} ({}) | {} | {:.2} |",
                index + 1,
                if p.redacted { "A" } else { "B" },
                thousands(p.records_per_second),
                p.cpu_us_per_record
            );
        }
    }
    let _ = writeln!(
        out,
        "\n| signal | phase | records/s | CPU-µs/record |\n|---|---|---|---|"
    );
    out.push_str(&detail);
    println!("{out}");
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-redaction.md");
    if let Err(error) = std::fs::write(&target, &out) {
        eprintln!("cannot write {}: {error}", target.display());
    }
}
