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
#[path = "support/workload.rs"]
mod workload;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use env::env_usize;
use report::{thousands, verdict};
use server::Server;
use workload::{log_request, span_request, LOGS_PER_REQUEST, SPANS_PER_REQUEST};

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
    let threads = workload::drive(addr, clients, &stop, &records, move |_, rng| match signal {
        Signal::Spans => ("/v1/traces", span_request(rng), SPANS_PER_REQUEST),
        Signal::Logs => ("/v1/logs", log_request(rng), LOGS_PER_REQUEST),
    });
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
