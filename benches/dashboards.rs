//! Dashboards and error grouping, against the release `lookout` binary in
//! its own process (`cargo bench --bench dashboards`):
//!
//! 1. **Error grouping cost.** Span ingest at full speed in phases of
//!    `LOOKOUT_BENCH_ERROR_PHASE_SECONDS` (default 30),
//!    `LOOKOUT_BENCH_ERROR_PAIRS` pairs of them (default 2) in the order
//!    A B, B A, A B, … (the database grows, so later phases are slower;
//!    this order spreads the drift over both): in A 5 %
//!    of the spans carry an `exception` event (grouped: 40 types × varying
//!    numbers in the message, a Python stack trace); in B the same events
//!    are named `exception.recorded`, which nothing groups, so both phases
//!    store the same bytes and only the grouping differs. Reported: spans/s
//!    and server CPU-µs per span per phase, the ratio A ÷ B of the means
//!    and the median of the pairs' ratios, which the targets are judged
//!    by (`0` seconds leaves this part out).
//! 2. **A 12-panel dashboard over 24 h.** Loads
//!    `LOOKOUT_BENCH_DASHBOARD_SPANS` spans (default 10M) spread over the
//!    last 24 h and 1,000 counter series (20 services × 50 routes) with a
//!    sample every 15 s over 24 h, then asks for every panel's data at
//!    once (12 requests in parallel, as the web app does), 21 times.
//!    Reported: the median and maximum time until all 12 answered, and
//!    each panel's median alone (`0` spans leaves this part out).
//!
//! Results are printed as markdown and written to
//! `target/bench-dashboards.md`.

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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use env::env_usize;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
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
const ROUTES: usize = 50;
const SPANS_PER_TRACE: usize = 10;
const SPANS_PER_REQUEST: usize = 1_000;
const PROTOBUF: &str = "application/x-protobuf";
const DAY_NANOS: u64 = 86_400 * 1_000_000_000;
const SAMPLE_MS: i64 = 15_000;

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
        attributes: vec![
            kv("service.name", &format!("svc-{service}")),
            kv("service.version", "1.4.2"),
        ],
        ..Default::default()
    })
}

/// How the spans of a request carry exceptions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exceptions {
    None,
    /// 5 % of spans with an event named `event_name`.
    Some(&'static str),
}

fn exception_event(rng: &mut Rng, time: u64, name: &str) -> span::Event {
    let kind = rng.index(40);
    let number = rng.below(1_000_000);
    let message = format!("order {number} failed in step {kind}");
    let stack = format!(
        "Traceback (most recent call last):\n  File \"/srv/app/handlers.py\", line 20, in handle\n    process(order)\n  File \"/srv/app/steps.py\", line {}, in step_{kind}\n    raise Error{kind}(\"{message}\")\n  File \"/usr/lib/python3.12/site-packages/lib/core.py\", line 7, in check\n    raise\nError{kind}: {message}\n",
        40 + kind
    );
    span::Event {
        time_unix_nano: time,
        name: name.into(),
        attributes: vec![
            kv("exception.type", &format!("Error{kind}")),
            kv("exception.message", &message),
            kv("exception.stacktrace", &stack),
        ],
        ..Default::default()
    }
}

/// One request of `SPANS_PER_REQUEST` spans in traces of ten, one service
/// per trace, starting between `from` and `to` (unix nanos).
fn span_request(rng: &mut Rng, from: u64, to: u64, exceptions: Exceptions) -> Vec<u8> {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES];
    for _ in 0..SPANS_PER_REQUEST / SPANS_PER_TRACE {
        let service = rng.index(SERVICES);
        let trace_id: [u8; 16] = rng.id();
        let start = from + rng.below((to - from).max(1));
        let root_id: [u8; 8] = rng.id();
        let route = rng.index(ROUTES);
        let failed = rng.chance(0.03);
        let duration = 1_000_000 + rng.below(200_000_000);
        for index in 0..SPANS_PER_TRACE {
            let span_id = if index == 0 { root_id } else { rng.id() };
            let events = match exceptions {
                Exceptions::Some(name) if rng.chance(0.05) => {
                    vec![exception_event(rng, start + 1_000, name)]
                }
                _ => Vec::new(),
            };
            by_service[service].push(Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: if index == 0 {
                    Vec::new()
                } else {
                    root_id.to_vec()
                },
                name: if index == 0 {
                    format!("GET /api/{route}")
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
                events,
                ..Default::default()
            });
        }
    }
    otlp::traces_body(by_service, resource)
}

/// POSTs `body`, retrying 503s (backpressure) after a short pause.
fn post(http: &mut RawHttp, path: &str, body: &[u8]) {
    loop {
        let response = http
            .request("POST", path, Some((PROTOBUF, body)))
            .unwrap_or_else(|error| panic!("POST {path}: {error}"));
        match response.status {
            200..=299 => return,
            503 => std::thread::sleep(Duration::from_millis(50)),
            status => panic!(
                "POST {path}: {status} {}",
                String::from_utf8_lossy(&response.body)
            ),
        }
    }
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

struct Phase {
    grouped: bool,
    spans_per_second: f64,
    cpu_us_per_span: f64,
}

/// Span ingest at full speed for `seconds` from `clients` threads.
fn phase(server: &Server, clients: usize, seconds: u64, exceptions: Exceptions) -> Phase {
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let spans = Arc::new(AtomicU64::new(0));
    let ticks = proc::clock_ticks();
    let cpu_before = server.process_cpu(ticks);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let (stop, spans) = (Arc::clone(&stop), Arc::clone(&spans));
            std::thread::spawn(move || {
                let mut http = RawHttp::new(addr);
                let mut rng = Rng::for_record(now_nanos() ^ client as u64);
                while !stop.load(Ordering::Relaxed) {
                    let now = now_nanos();
                    let body = span_request(&mut rng, now - 30_000_000_000, now, exceptions);
                    post(&mut http, "/v1/traces", &body);
                    spans.fetch_add(SPANS_PER_REQUEST as u64, Ordering::Relaxed);
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
    let count = spans.load(Ordering::Relaxed) as f64;
    Phase {
        grouped: exceptions == Exceptions::Some("exception"),
        spans_per_second: count / elapsed,
        cpu_us_per_span: cpu * 1e6 / count,
    }
}

/// `requests` span requests over the last 24 h from `clients` threads.
fn load_spans(addr: SocketAddr, clients: usize, requests: usize) -> Duration {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let now = now_nanos();
    let (from, to) = (now - DAY_NANOS + 600 * 1_000_000_000, now - 60_000_000_000);
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let next = Arc::clone(&next);
            std::thread::spawn(move || {
                let mut http = RawHttp::new(addr);
                let mut rng = Rng::for_record(client as u64 * 7_919 + 13);
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let body = span_request(&mut rng, from, to, Exceptions::None);
                    post(&mut http, "/v1/traces", &body);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("loader");
    }
    started.elapsed()
}

/// 1,000 cumulative counters `http_requests_total{route}` of 20 services,
/// a sample every 15 s over the last 24 h, sent in time order.
fn load_series(addr: SocketAddr) -> (Duration, usize) {
    let started = Instant::now();
    let mut http = RawHttp::new(addr);
    let end_ms = (now_nanos() / 1_000_000) as i64 - 30_000;
    let start_ms = end_ms - 86_400_000 + 60_000;
    let begin_ms = start_ms - SAMPLE_MS;
    let steps_per_request = 10;
    let mut samples = 0;
    let mut t = start_ms;
    while t <= end_ms {
        let times: Vec<i64> = (0..steps_per_request)
            .map(|k| t + k * SAMPLE_MS)
            .filter(|time| *time <= end_ms)
            .collect();
        let resource_metrics = (0..SERVICES)
            .map(|service| {
                let points = (0..ROUTES)
                    .flat_map(|route| {
                        times.iter().map(move |time| {
                            let elapsed = (time - begin_ms) / SAMPLE_MS;
                            NumberDataPoint {
                                attributes: vec![kv("route", &format!("/api/{route}"))],
                                start_time_unix_nano: begin_ms as u64 * 1_000_000,
                                time_unix_nano: *time as u64 * 1_000_000,
                                value: Some(number_data_point::Value::AsInt(
                                    elapsed * (1 + (route as i64 % 7)),
                                )),
                                ..Default::default()
                            }
                        })
                    })
                    .collect::<Vec<_>>();
                samples += points.len();
                ResourceMetrics {
                    resource: resource(service),
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![Metric {
                            name: "http_requests".into(),
                            data: Some(Data::Sum(Sum {
                                data_points: points,
                                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                                is_monotonic: true,
                            })),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            })
            .collect();
        let body = ExportMetricsServiceRequest { resource_metrics }.encode_to_vec();
        post(&mut http, "/v1/metrics", &body);
        t += steps_per_request * SAMPLE_MS;
    }
    (started.elapsed(), samples)
}

/// The 12 panels: PromQL over the 1,000 series, RED from the span
/// rollups, a trace search.
fn dashboard() -> Value {
    let grid = |i: usize| json!({"x": (i % 4) * 6, "y": (i / 4) * 8, "w": 6, "h": 8});
    let promql = |q: &str, legend: &str| json!({"promql": q, "legend": legend});
    let red = |metric: &str| json!({"red": {"service": "$service", "metric": metric}});
    let panels = vec![
        (
            "Requests by service",
            "timeseries",
            vec![promql(
                "sum by (service_name) (rate(http_requests_total[5m]))",
                "{{service_name}}",
            )],
        ),
        (
            "Requests by route of $service",
            "timeseries",
            vec![promql(
                "sum by (route) (rate(http_requests_total{service_name=~\"$service\"}[5m]))",
                "{{route}}",
            )],
        ),
        (
            "Top routes",
            "table",
            vec![promql(
                "topk(10, sum by (route) (rate(http_requests_total[1h])))",
                "{{route}}",
            )],
        ),
        (
            "All requests",
            "stat",
            vec![promql("sum(rate(http_requests_total[5m]))", "")],
        ),
        (
            "Share by service",
            "pie",
            vec![promql(
                "sum by (service_name) (increase(http_requests_total[1h]))",
                "{{service_name}}",
            )],
        ),
        (
            "Busiest route",
            "gauge",
            vec![promql("max(rate(http_requests_total[5m]))", "")],
        ),
        (
            "Routes over 1/s",
            "bar",
            vec![promql(
                "count by (service_name) (rate(http_requests_total[5m]) > 1)",
                "{{service_name}}",
            )],
        ),
        ("Rate of $service", "timeseries", vec![red("request_rate")]),
        ("Errors of $service", "timeseries", vec![red("error_rate")]),
        (
            "Latency of $service",
            "timeseries",
            vec![red("p50"), red("p95"), red("p99")],
        ),
        ("p95 of $service", "stat", vec![red("p95")]),
        (
            "Failed traces of $service",
            "traces",
            vec![json!({"traces": {"service": "$service", "status": "error"}})],
        ),
    ];
    json!({
        "title": "Bench: 12 panels",
        "time": {"lookback": "24h"},
        "variables": [{"name": "service", "type": "query", "query": "label_values(http_requests_total, service_name)", "default": ["svc-3"]}],
        "panels": panels.into_iter().enumerate().map(|(i, (title, kind, queries))| json!({
            "id": format!("p{i}"), "title": title, "type": kind, "grid": grid(i), "queries": queries,
        })).collect::<Vec<_>>(),
    })
}

/// Every panel's data, 12 requests at once; the time until all answered
/// and each one's time.
fn render(addr: SocketAddr, id: &str) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let threads: Vec<_> = (0..12)
        .map(|panel| {
            let path = format!("/api/dashboards/{id}/panels/p{panel}/data?lookback=24h");
            std::thread::spawn(move || {
                let began = Instant::now();
                let mut http = RawHttp::new(addr);
                let data = api(&mut http, "GET", &path, None);
                let errors = data["errors"].as_array().map_or(0, Vec::len);
                assert_eq!(errors, 0, "{path}: {data}");
                began.elapsed()
            })
        })
        .collect();
    let each = threads
        .into_iter()
        .map(|thread| thread.join().expect("panel request"))
        .collect();
    (started.elapsed(), each)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return f64::NAN;
    }
    values[values.len() / 2]
}

fn main() {
    let spans = env_usize("LOOKOUT_BENCH_DASHBOARD_SPANS", 10_000_000);
    let clients = env_usize("LOOKOUT_BENCH_CLIENTS", 4);
    let seconds = env_usize("LOOKOUT_BENCH_ERROR_PHASE_SECONDS", 30) as u64;
    let pairs = env_usize("LOOKOUT_BENCH_ERROR_PAIRS", 2).max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Dashboards and errors benchmark ({})",
        proc::cpu_model()
    );

    // 1. Error grouping cost, on a fresh data directory
    // (`LOOKOUT_BENCH_ERROR_PHASE_SECONDS=0` leaves it out).
    if seconds > 0 {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Server::start(&binary, dir.path(), &[]);
        let load = proc::load_average();
        let mut phases = Vec::new();
        // A B, B A, A B, …: the database grows from phase to phase and
        // later phases run slower; in this order the drift falls on both.
        let order: Vec<bool> = (0..pairs)
            .flat_map(|pair| {
                if pair % 2 == 0 {
                    [true, false]
                } else {
                    [false, true]
                }
            })
            .collect();
        for grouped in order {
            let exceptions = Exceptions::Some(if grouped {
                "exception"
            } else {
                "exception.recorded"
            });
            eprintln!(
                "span ingest for {seconds} s, exceptions {}…",
                if grouped { "grouped" } else { "not grouped" }
            );
            phases.push(phase(&server, clients, seconds, exceptions));
        }
        let mut http = RawHttp::new(server.addr);
        let groups = api(&mut http, "GET", "/api/errors?lookback=1h&limit=500", None)["groups"]
            .as_array()
            .map_or(0, Vec::len);
        server.stop(Duration::from_secs(120));
        // The ratio A ÷ B of each pair of neighbouring phases.
        let pair_ratios = |f: fn(&Phase) -> f64| -> Vec<f64> {
            phases
                .chunks(2)
                .filter_map(|pair| {
                    let a = pair.iter().find(|p| p.grouped)?;
                    let b = pair.iter().find(|p| !p.grouped)?;
                    Some(f(a) / f(b))
                })
                .collect()
        };
        let rate_pairs = pair_ratios(|p| p.spans_per_second);
        let cpu_pairs = pair_ratios(|p| p.cpu_us_per_span);
        let listed = |ratios: &[f64]| {
            ratios
                .iter()
                .map(|r| format!("{r:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // The mean of the phases of each kind.
        let pick = |grouped: bool, f: fn(&Phase) -> f64| -> f64 {
            let values: Vec<f64> = phases
                .iter()
                .filter(|p| p.grouped == grouped)
                .map(f)
                .collect();
            values.iter().sum::<f64>() / values.len().max(1) as f64
        };
        let (on_rate, off_rate) = (
            pick(true, |p| p.spans_per_second),
            pick(false, |p| p.spans_per_second),
        );
        let (on_cpu, off_cpu) = (
            pick(true, |p| p.cpu_us_per_span),
            pick(false, |p| p.cpu_us_per_span),
        );
        let _ = writeln!(out, "\n### Error grouping cost\n{clients} clients, {pairs} pairs of {seconds} s phases in the order A B, B A, … (A: 5 % of spans with an `exception` event, grouped into {groups} groups; B: the same events named `exception.recorded`, not grouped); load {load}\n");
        let _ = writeln!(
            out,
            "| measure | grouped (A) | not grouped (B) | A ÷ B | target |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        let _ = writeln!(
            out,
            "| spans/s (mean of {pairs}) | {} | {} | {:.3} | — |",
            thousands(on_rate),
            thousands(off_rate),
            on_rate / off_rate,
        );
        let _ = writeln!(
            out,
            "| server CPU-µs per span (mean of {pairs}) | {on_cpu:.2} | {off_cpu:.2} | {:.3} | — |",
            on_cpu / off_cpu,
        );
        let rate_median = median(&mut rate_pairs.clone());
        let cpu_median = median(&mut cpu_pairs.clone());
        let _ = writeln!(
            out,
            "| spans/s, median of the pairs' A ÷ B ({}) | | | {rate_median:.3} | ≥ 0.95 {} |",
            listed(&rate_pairs),
            verdict(rate_median >= 0.95)
        );
        let _ = writeln!(
            out,
            "| server CPU-µs per span, median of the pairs' A ÷ B ({}) | | | {cpu_median:.3} | ≤ 1.05 {} |",
            listed(&cpu_pairs),
            verdict(cpu_median <= 1.05)
        );
        for (index, p) in phases.iter().enumerate() {
            let _ = writeln!(
                out,
                "| phase {} ({}) | {} spans/s, {:.2} CPU-µs/span | | | |",
                index + 1,
                if p.grouped { "A" } else { "B" },
                thousands(p.spans_per_second),
                p.cpu_us_per_span
            );
        }
    }

    // 2. A 12-panel dashboard over 24 h
    // (`LOOKOUT_BENCH_DASHBOARD_SPANS=0` leaves it out).
    if spans > 0 {
        dashboard_part(&mut out, &binary, spans, clients);
    }
    println!("{out}");
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-dashboards.md");
    let _ = std::fs::write(target, &out);
}

/// Part 2: loads `spans` spans and 1,000 counter series over 24 h, then
/// times the 12 panels answering at once; appends the report to `out`.
fn dashboard_part(out: &mut String, binary: &Path, spans: usize, clients: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(binary, dir.path(), &[]);
    let addr = server.addr;
    eprintln!("loading {spans} spans over 24 h…");
    let span_time = load_spans(addr, clients, spans / SPANS_PER_REQUEST);
    eprintln!("loading 1,000 series over 24 h…");
    let (series_time, samples) = load_series(addr);
    let mut http = RawHttp::new(addr);
    let created = api(&mut http, "POST", "/api/dashboards", Some(&dashboard()));
    let id = created["id"].as_str().expect("id").to_string();
    // Let the writer settle (compaction of the loaded hours) before timing.
    std::thread::sleep(Duration::from_secs(70));
    let load = proc::load_average();
    render(addr, &id); // warm up
    let mut all = Vec::new();
    let mut each: Vec<Vec<f64>> = vec![Vec::new(); 12];
    for _ in 0..21 {
        let (whole, panels) = render(addr, &id);
        all.push(whole.as_secs_f64() * 1e3);
        for (panel, time) in panels.iter().enumerate() {
            each[panel].push(time.as_secs_f64() * 1e3);
        }
    }
    let titles: Vec<String> = created["panels"]
        .as_array()
        .map(|panels| {
            panels
                .iter()
                .map(|p| p["title"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    server.stop(Duration::from_secs(120));
    let max = all.iter().copied().fold(f64::NAN, f64::max);
    let whole_median = median(&mut all);
    let _ = writeln!(
        out,
        "\n### A 12-panel dashboard over 24 h\n{} spans over 24 h ({:.0} s to load), 1,000 counter series with {} samples ({:.0} s); 12 panel requests at once, 21 times; load {load}\n",
        thousands(spans as f64),
        span_time.as_secs_f64(),
        thousands(samples as f64),
        series_time.as_secs_f64()
    );
    let _ = writeln!(out, "| measure | value | target |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| all 12 panels answered | median {whole_median:.0} ms, max {max:.0} ms | < 300 ms {} |",
        verdict(whole_median < 300.0)
    );
    for (panel, times) in each.iter_mut().enumerate() {
        let _ = writeln!(
            out,
            "| panel {panel} \"{}\" (in parallel with the others) | median {:.0} ms | — |",
            titles.get(panel).map_or("", String::as_str),
            median(times)
        );
    }
}
