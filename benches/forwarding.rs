//! What forwarding (`--forward-otlp`) costs on the ingest path, and how
//! fast it forwards, against the release `lookout` binary in its own
//! processes (`cargo bench --bench forwarding`).
//!
//! Spans at full speed from `LOOKOUT_BENCH_CLIENTS` (default 4) clients in
//! phases of `LOOKOUT_BENCH_FORWARD_PHASE_SECONDS` (default 20), A B A B
//! (`LOOKOUT_BENCH_AB_ROUNDS` pairs, default 2), each on fresh data
//! directories: A is a lookout forwarding to a second lookout on loopback
//! (the upstream, started for the phase), B the same lookout without
//! forwarding. Reported: spans/s and the ingesting server's CPU-µs per span
//! (its forwarder threads included; the upstream's CPU is its own), the
//! ratio A ÷ B (goal ≤ 1.10), and for A how long the outbox took to empty
//! once ingest stopped, with the upstream's received rate over the whole
//! phase.
//!
//! Results are printed as markdown and written to
//! `target/bench-forwarding.md`.

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

use env::env_usize;
use raw_http::RawHttp;
use report::{median, thousands, verdict};
use server::Server;
use workload::{span_request, SPANS_PER_REQUEST};

/// How long the outbox may take to empty after a phase.
const DRAIN_DEADLINE: Duration = Duration::from_secs(300);

struct Phase {
    forwarding: bool,
    spans_per_second: f64,
    cpu_us_per_span: f64,
    /// With forwarding: from the end of ingest until the outbox was empty.
    drain: Option<Duration>,
    /// With forwarding: spans the upstream stored per second, from the
    /// start of ingest until the outbox was empty.
    forwarded_per_second: Option<f64>,
}

fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let mut http = RawHttp::new(addr);
    let Ok(response) = http.request("GET", "/metrics", None) else {
        return f64::NAN;
    };
    String::from_utf8_lossy(&response.body)
        .lines()
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            (series == name).then(|| value.parse().ok())?
        })
        .unwrap_or(f64::NAN)
}

fn phase(binary: &Path, forwarding: bool, clients: usize, seconds: u64) -> Phase {
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream_dir = tempfile::tempdir().expect("tempdir");
    let mut upstream = forwarding.then(|| Server::start(binary, upstream_dir.path(), &[]));
    let args: Vec<String> = match &upstream {
        Some(upstream) => vec!["--forward-otlp".into(), format!("http://{}", upstream.addr)],
        None => Vec::new(),
    };
    let mut server = Server::start(binary, dir.path(), &args);
    let stop = Arc::new(AtomicBool::new(false));
    let spans = Arc::new(AtomicU64::new(0));
    let ticks = proc::clock_ticks();
    let cpu_before = server.process_cpu(ticks);
    let started = Instant::now();
    let threads = workload::drive(server.addr, clients, &stop, &spans, |_, rng| {
        ("/v1/traces", span_request(rng), SPANS_PER_REQUEST)
    });
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().expect("client");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = server.process_cpu(ticks) - cpu_before;
    let count = spans.load(Ordering::Relaxed) as f64;
    let ingest_end = Instant::now();
    let (drain, forwarded_per_second) = match &upstream {
        Some(upstream) => {
            while metric(server.addr, "lookout_forward_outbox_bytes") != 0.0 {
                assert!(
                    ingest_end.elapsed() < DRAIN_DEADLINE,
                    "the outbox did not empty; the log:\n{}",
                    server.log_tail()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let drained = ingest_end.elapsed();
            let stored = metric(upstream.addr, "lookout_ingested_spans_total");
            (
                Some(drained),
                Some(stored / started.elapsed().as_secs_f64()),
            )
        }
        None => (None, None),
    };
    server.stop(Duration::from_secs(120));
    if let Some(upstream) = upstream.as_mut() {
        upstream.stop(Duration::from_secs(120));
    }
    Phase {
        forwarding,
        spans_per_second: count / elapsed,
        cpu_us_per_span: cpu * 1e6 / count.max(1.0),
        drain,
        forwarded_per_second,
    }
}

fn main() {
    let clients = env_usize("LOOKOUT_BENCH_CLIENTS", 4);
    let seconds = env_usize("LOOKOUT_BENCH_FORWARD_PHASE_SECONDS", 20) as u64;
    let rounds = env_usize("LOOKOUT_BENCH_AB_ROUNDS", 2).max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let mut phases = Vec::new();
    for _ in 0..rounds {
        for forwarding in [true, false] {
            eprintln!(
                "spans for {seconds} s, forwarding {}…",
                if forwarding { "on" } else { "off" }
            );
            phases.push(phase(&binary, forwarding, clients, seconds));
        }
    }
    let of = |forwarding: bool, f: fn(&Phase) -> f64| {
        median(phases.iter().filter(|p| p.forwarding == forwarding).map(f))
    };
    let (rate_a, rate_b) = (
        of(true, |p| p.spans_per_second),
        of(false, |p| p.spans_per_second),
    );
    let (cpu_a, cpu_b) = (
        of(true, |p| p.cpu_us_per_span),
        of(false, |p| p.cpu_us_per_span),
    );
    let ratio = cpu_a / cpu_b;
    let mut out = String::new();
    let _ = writeln!(out, "## Forwarding benchmark ({})", proc::cpu_model());
    let _ = writeln!(
        out,
        "\n{clients} clients, {seconds} s phases A B × {rounds}, fresh data directories (A: forwarding to a second lookout on loopback; B: no forwarding); medians; load at the start {}\n",
        proc::load_average()
    );
    let _ = writeln!(
        out,
        "| spans/s A | spans/s B | CPU-µs/span A | CPU-µs/span B | CPU A ÷ B | goal | outbox emptied after ingest | upstream stored, spans/s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {cpu_a:.2} | {cpu_b:.2} | {ratio:.3} | ≤ 1.10 {} | {:.2} s | {} |",
        thousands(rate_a),
        thousands(rate_b),
        verdict(ratio <= 1.10),
        of(true, |p| p.drain.map_or(f64::NAN, |d| d.as_secs_f64())),
        thousands(of(true, |p| p.forwarded_per_second.unwrap_or(f64::NAN))),
    );
    let _ = writeln!(
        out,
        "\n| phase | spans/s | CPU-µs/span | outbox emptied after | upstream stored, spans/s |\n|---|---|---|---|---|"
    );
    for (index, p) in phases.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} ({}) | {} | {:.2} | {} | {} |",
            index + 1,
            if p.forwarding { "A" } else { "B" },
            thousands(p.spans_per_second),
            p.cpu_us_per_span,
            p.drain
                .map_or("—".into(), |d| format!("{:.2} s", d.as_secs_f64())),
            p.forwarded_per_second.map_or("—".into(), thousands),
        );
    }
    println!("{out}");
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-forwarding.md");
    if let Err(error) = std::fs::write(&target, &out) {
        eprintln!("cannot write {}: {error}", target.display());
    }
}
