//! Trace search with attribute filters at scale, against the release
//! `lookout` binary (`cargo bench --bench trace_search`):
//!
//! 1. A data directory of `LOOKOUT_BENCH_SEARCH_SPANS` spans (default
//!    10,000,000; the shared realistic workload: 10 spans per trace, 10
//!    HTTP/DB attributes each, long URLs and SQL with order ids in them)
//!    is filled through the real server, in time order over the last
//!    `HOURS` hours. It is kept in `target/bench-trace-search/` and reused
//!    while it holds enough spans (delete it to rebuild). The fill waits
//!    for the first span dictionary after its first requests (its time is
//!    in the fill's), so the rest are stored packed. The fill reports
//!    ingest speed and the CPU of the `block-sealer` thread against the
//!    whole server's.
//! 2. The server is restarted on it and the benchmark waits until every
//!    complete trace block has its filter (`lookout_trace_blocks_pending`
//!    = 0), timing the catch-up.
//! 3. Searches over HTTP, `QUERIES` of each, p50 and p99: attribute
//!    filters that match nothing (string, number, numeric comparison), a
//!    rare value, a rare value within one service, and dense values.
//! 4. The same searches in process on a read-only connection with both
//!    plans, by block and by time (the scan the block plan replaces; fewer
//!    runs, it is slow): the ceiling-free peer measured in the same run.
//!    Both plans must return the same traces.
//! 5. Bytes: the data directory per span and the `trace_blocks` filters
//!    per span.
//!
//! Results are printed as markdown and written to
//! `target/bench-trace-search.md`.

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
#[path = "support/workload.rs"]
#[allow(dead_code)]
mod workload;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout::model::{AttrOp, UnixNanos};
use lookout::store::sqlite::read::{self, AttrFilter, Plan, TraceFilter};
use lookout::store::sqlite::trace_blocks::FilterCache;
use raw_http::RawHttp;
use report::{percentile, thousands, verdict};
use rng::Rng;
use server::Server;
use workload::{now_nanos, span_request_at, SPANS_PER_REQUEST};

/// Hours of data the directory spans, ending at the fill.
const HOURS: u64 = 6;
/// HTTP searches per query.
const QUERIES: usize = 50;
/// In-process runs per query and plan (the scan takes seconds).
const IN_PROCESS_RUNS: usize = 3;
const CLIENTS: usize = 3;
/// Requests sent before the timed fill, enough for the first span
/// dictionary (lookout trains it once 1,000 spans are stored).
const WARM_UP_REQUESTS: usize = 3;
const HOUR: u64 = 3_600_000_000_000;

fn binary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lookout"))
}

/// A search: what it is, its query string, and the filter it means.
struct Query {
    what: &'static str,
    params: String,
    filter: TraceFilter,
}

fn attr(key: &str, op: AttrOp, value: &str) -> AttrFilter {
    AttrFilter {
        key: key.into(),
        op,
        value: value.into(),
        number: value.parse().unwrap_or(f64::NAN),
    }
}

fn queries() -> Vec<Query> {
    let window = |service: Option<&str>, attributes: Vec<AttrFilter>| TraceFilter {
        service: service.map(str::to_string),
        operation: None,
        status: None,
        min_duration_nanos: None,
        max_duration_nanos: None,
        attributes,
        start: UnixNanos((now_nanos() - 24 * HOUR) as i64),
        end: UnixNanos((now_nanos() + HOUR) as i64),
        limit: 20,
        after: None,
    };
    let params = |service: Option<&str>, attrs: &[&str]| {
        let mut pairs = vec![("lookback", "24h"), ("limit", "20")];
        pairs.extend(service.map(|service| ("service", service)));
        pairs.extend(attrs.iter().map(|attr| ("attr", *attr)));
        serde_urlencoded::to_string(pairs).expect("query string")
    };
    vec![
        Query {
            what: "attr url.full = a URL no span has",
            params: params(None, &["url.full=https://shop.example/nowhere"]),
            filter: window(
                None,
                vec![attr(
                    "url.full",
                    AttrOp::Equal,
                    "https://shop.example/nowhere",
                )],
            ),
        },
        Query {
            what: "attr server.port = 1 (a number no span has)",
            params: params(None, &["server.port=1"]),
            filter: window(None, vec![attr("server.port", AttrOp::Equal, "1")]),
        },
        Query {
            what: "attr db.response.returned_rows > 49 (no span has)",
            params: params(None, &["db.response.returned_rows>49"]),
            filter: window(
                None,
                vec![attr("db.response.returned_rows", AttrOp::Greater, "49")],
            ),
        },
        Query {
            what: "attr enduser.email = one user (rare)",
            params: params(None, &["enduser.email=user4242@example.com"]),
            filter: window(
                None,
                vec![attr("enduser.email", AttrOp::Equal, "user4242@example.com")],
            ),
        },
        Query {
            what: "service svc-3 + attr client.address = one address (rare)",
            params: params(Some("svc-3"), &["client.address=10.0.7.9"]),
            filter: window(
                Some("svc-3"),
                vec![attr("client.address", AttrOp::Equal, "10.0.7.9")],
            ),
        },
        Query {
            what: "attr thread.name = worker-3 (dense)",
            params: params(None, &["thread.name=worker-3"]),
            filter: window(None, vec![attr("thread.name", AttrOp::Equal, "worker-3")]),
        },
        Query {
            what: "attr db.response.returned_rows >= 49 (2 % of spans)",
            params: params(None, &["db.response.returned_rows>=49"]),
            filter: window(
                None,
                vec![attr(
                    "db.response.returned_rows",
                    AttrOp::GreaterOrEqual,
                    "49",
                )],
            ),
        },
    ]
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn metrics_text(http: &mut RawHttp) -> String {
    let response = http.request("GET", "/metrics", None).expect("metrics");
    String::from_utf8_lossy(&response.body).into_owned()
}

/// Spans stored, from `/metrics` of a server on `dir`.
fn stored_spans(binary: &Path, dir: &Path) -> u64 {
    let mut server = Server::start(binary, dir, &["--retention".into(), "30d".into()]);
    let mut http = RawHttp::new(server.addr);
    let response = http.request("GET", "/api/stats", None).expect("stats");
    server.stop(Duration::from_secs(120));
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("stats JSON");
    body["counts"]["spans"].as_u64().unwrap_or(0)
}

struct Fill {
    spans: u64,
    took: Duration,
    server_cpu: f64,
    sealer_cpu: f64,
    writer_cpu: f64,
}

/// Sends `target` spans in time order over the last `HOURS` hours.
fn fill(binary: &Path, dir: &Path, target: u64) -> Fill {
    let mut server = Server::start(binary, dir, &["--retention".into(), "30d".into()]);
    let ticks = proc::clock_ticks();
    let cpu_before = server.process_cpu(ticks);
    let threads_before = proc::thread_sched(server.pid());
    let began = Instant::now();
    let end = now_nanos();
    let first = end - HOURS * HOUR;
    let stop = Arc::new(AtomicBool::new(false));
    let records = Arc::new(AtomicU64::new(0));
    let clock = {
        let records = Arc::clone(&records);
        move || {
            first
                + ((end - first) as f64
                    * (records.load(Ordering::Relaxed) as f64 / target as f64).min(1.0))
                    as u64
        }
    };
    // Enough spans for the first span dictionary, then wait for it: the
    // rest are stored packed, as on a server that has been running.
    let mut http = RawHttp::new(server.addr);
    let mut rng = Rng(0xD1C7_5EED);
    for _ in 0..WARM_UP_REQUESTS {
        let body = span_request_at(&mut rng, first, 0);
        let response = http
            .request(
                "POST",
                "/v1/traces",
                Some(("application/x-protobuf", &body)),
            )
            .expect("warm-up request");
        assert_eq!(response.status, 200, "warm-up request");
        records.fetch_add(SPANS_PER_REQUEST as u64, Ordering::Relaxed);
    }
    while metric(&metrics_text(&mut http), "lookout_span_dictionaries_total") < Some(1.0) {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "no span dictionary after 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let clients = workload::drive(server.addr, CLIENTS, &stop, &records, move |_, rng| {
        (
            "/v1/traces",
            span_request_at(rng, clock(), 0),
            SPANS_PER_REQUEST,
        )
    });
    let mut reported = Instant::now();
    while records.load(Ordering::Relaxed) < target {
        std::thread::sleep(Duration::from_millis(200));
        if reported.elapsed() > Duration::from_secs(30) {
            reported = Instant::now();
            eprintln!(
                "  {} of {} spans after {:.0} s",
                thousands(records.load(Ordering::Relaxed) as f64),
                thousands(target as f64),
                began.elapsed().as_secs_f64()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
    let took = began.elapsed();
    let threads_after = proc::thread_sched(server.pid());
    let server_cpu = server.process_cpu(ticks) - cpu_before;
    server.stop(Duration::from_secs(600));
    Fill {
        spans: records.load(Ordering::Relaxed),
        took,
        server_cpu,
        sealer_cpu: proc::by_thread_delta(&threads_before, &threads_after, "block-sealer").on_cpu,
        writer_cpu: proc::by_thread_delta(&threads_before, &threads_after, "writer").on_cpu,
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn main() {
    let target = env::env_usize("LOOKOUT_BENCH_SEARCH_SPANS", 10_000_000) as u64;
    let binary = binary_path();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-trace-search");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Trace search at {} spans ({}, {})\n",
        thousands(target as f64),
        proc::cpu_model(),
        proc::load_average()
    );

    // --- 1. The data directory.
    let have = if dir.join("lookout.db").exists() {
        stored_spans(&binary, &dir)
    } else {
        0
    };
    if have < target * 95 / 100 {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("data dir");
        eprintln!(
            "filling {} with {} spans",
            dir.display(),
            thousands(target as f64)
        );
        let fill = fill(&binary, &dir, target);
        let _ = writeln!(
            out,
            "Fill: {} spans in {:.0} s ({} spans/s, {} clients); server CPU {:.1} s, \
             writer {:.1} s, block-sealer {:.2} s ({:.1} % of the server's CPU, {:.2} µs per span).\n",
            thousands(fill.spans as f64),
            fill.took.as_secs_f64(),
            thousands(fill.spans as f64 / fill.took.as_secs_f64()),
            CLIENTS,
            fill.server_cpu,
            fill.writer_cpu,
            fill.sealer_cpu,
            fill.sealer_cpu * 100.0 / fill.server_cpu.max(1e-9),
            fill.sealer_cpu * 1e6 / fill.spans.max(1) as f64,
        );
    } else {
        let _ = writeln!(
            out,
            "Data directory reused: {} spans.\n",
            thousands(have as f64)
        );
    }

    // --- 2. Every complete block sealed.
    let mut server = Server::start(&binary, &dir, &["--retention".into(), "30d".into()]);
    let mut http = RawHttp::new(server.addr);
    let began = Instant::now();
    let threads_before = proc::thread_sched(server.pid());
    let mut pending;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let text = metrics_text(&mut http);
        pending = metric(&text, "lookout_trace_blocks_pending").unwrap_or(-1.0);
        let sealed = metric(&text, "lookout_trace_blocks_sealed_total").unwrap_or(0.0);
        // The sealer's first pass only watches; pending 0 after it means
        // every complete block has a filter.
        if pending == 0.0 && began.elapsed() > Duration::from_secs(2) {
            let sealer = proc::by_thread_delta(
                &threads_before,
                &proc::thread_sched(server.pid()),
                "block-sealer",
            );
            let _ = writeln!(
                out,
                "Catch-up after start: {} blocks sealed, pending 0 after {:.1} s; the \
                 block-sealer thread used {:.2} s of CPU ({:.0} µs per block).\n",
                thousands(sealed),
                began.elapsed().as_secs_f64(),
                sealer.on_cpu,
                sealer.on_cpu * 1e6 / sealed.max(1.0)
            );
            break;
        }
        if began.elapsed() > Duration::from_secs(1800) {
            let _ = writeln!(
                out,
                "Catch-up did not finish in 30 min: {pending} pending.\n"
            );
            break;
        }
    }

    // --- 3. Over HTTP.
    let queries = queries();
    let _ = writeln!(
        out,
        "| search (lookback 24 h, limit 20) | traces found | HTTP p50 | HTTP p99 | in process, by block (median) | in process, by time (median) | by time ÷ by block |\n|---|---|---|---|---|---|---|"
    );
    let mut http_results = Vec::new();
    for query in &queries {
        let path = format!("/api/traces?{}", query.params);
        let mut times = Vec::with_capacity(QUERIES);
        let mut found = 0;
        for _ in 0..QUERIES {
            let started = Instant::now();
            let response = http.request("GET", &path, None).expect("search");
            times.push(started.elapsed());
            assert_eq!(
                response.status,
                200,
                "{path}: {}",
                String::from_utf8_lossy(&response.body)
            );
            found = String::from_utf8_lossy(&response.body)
                .matches("\"trace_id\"")
                .count();
        }
        times.sort();
        http_results.push((found, percentile(&times, 0.5), percentile(&times, 0.99)));
    }

    // --- 4. In process, both plans, same snapshot of data.
    // Registers the read functions too.
    let conn = lookout::store::sqlite::open_read_only(&dir).expect("read-only");
    let cache = FilterCache::default();
    let mut worst_p99 = Duration::ZERO;
    for (query, (found, p50, p99)) in queries.iter().zip(&http_results) {
        let run = |plan: Plan| {
            let mut times = Vec::new();
            let mut page = None;
            for _ in 0..IN_PROCESS_RUNS {
                let started = Instant::now();
                let result =
                    read::search_traces(&conn, &query.filter, &cache, plan).expect("search");
                times.push(started.elapsed());
                page = Some(result);
            }
            times.sort();
            (times[times.len() / 2], page.expect("ran"))
        };
        let (by_block, block_page) = run(Plan::Auto);
        let (by_time, time_page) = run(Plan::ByTime);
        assert_eq!(
            block_page.traces, time_page.traces,
            "{}: the plans disagree",
            query.what
        );
        worst_p99 = worst_p99.max(*p99);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.0} × |",
            query.what,
            found,
            ms(*p50),
            ms(*p99),
            ms(by_block),
            ms(by_time),
            by_time.as_secs_f64() / by_block.as_secs_f64().max(1e-9)
        );
        eprintln!("{} done", query.what);
    }
    let filter_bytes: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(length(filter)), 0) FROM trace_blocks",
            [],
            |row| row.get(0),
        )
        .expect("filter bytes");
    let blocks: i64 = conn
        .query_row("SELECT COUNT(*) FROM trace_blocks", [], |row| row.get(0))
        .expect("blocks");
    let spans: i64 = conn
        .query_row(
            "SELECT COALESCE(SUM(span_count), 0) FROM traces",
            [],
            |row| row.get(0),
        )
        .expect("spans");
    let (packed, packed_bytes, plain_bytes): (i64, f64, f64) = conn
        .query_row(
            "SELECT count(dictionary_id),
                    coalesce(avg(CASE WHEN dictionary_id IS NOT NULL
                             THEN length(attributes) + coalesce(length(events), 0) END), 0),
                    coalesce(avg(CASE WHEN dictionary_id IS NULL
                             THEN length(attributes) + coalesce(length(events), 0) END), 0)
             FROM spans",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .expect("packed spans");
    drop(conn);
    server.stop(Duration::from_secs(600));
    let dir_bytes = proc::dir_size(&dir);
    let _ = writeln!(
        out,
        "\nGoal p99 < 50 ms at 10M spans for any attribute filter: {} (worst HTTP p99 {}).\n",
        verdict(worst_p99 < Duration::from_millis(50)),
        ms(worst_p99)
    );
    let _ = writeln!(
        out,
        "Bytes: {} spans, {} sealed blocks; filters {:.2} B per span ({:.1} KB per block); \
         data directory {:.1} B per span.",
        thousands(spans as f64),
        thousands(blocks as f64),
        filter_bytes as f64 / spans.max(1) as f64,
        filter_bytes as f64 / blocks.max(1) as f64 / 1e3,
        dir_bytes as f64 / spans.max(1) as f64
    );
    let _ = writeln!(
        out,
        "Spans packed with a span dictionary: {} of {}; attributes + events per span {:.1} B packed, {:.1} B plain.",
        thousands(packed as f64),
        thousands(spans as f64),
        packed_bytes,
        plain_bytes
    );
    println!("{out}");
    let report = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-trace-search.md");
    std::fs::write(&report, &out).expect("write the report");
    eprintln!("written to {}", report.display());
}
