//! Operations on a small box, against the release `lookout` binary in its
//! own process (`cargo bench --bench operations`):
//!
//! 1. Ingest throughput at a disk budget: spans and log records at full
//!    speed in phases of `LOOKOUT_BENCH_OPS_PHASE_SECONDS` (default 20),
//!    A B A B, each on a fresh data directory; A with `--max-disk`
//!    `LOOKOUT_BENCH_OPS_BUDGET_MIB` (default 64), which the phase fills
//!    several times over so deleting runs while writing, B without a
//!    budget. Reported: records/s, the ratio A ÷ B (goal ≥ 0.9) and the
//!    largest size the directory reached in A, sampled every 250 ms, after
//!    the first fill (goal ≤ 1.05 × the budget) and including it.
//! 2. On the data directory of the last B phase: a backup taken through
//!    the running server (`lookout backup`), as seconds per GB; the cold
//!    start (process start to the `listening` line) and the idle RSS 5 s
//!    after it.
//!
//! Results are printed as markdown and written to
//! `target/bench-operations.md`.

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

struct Phase {
    budgeted: bool,
    records_per_second: f64,
    /// Largest directory size seen, bytes, and the database's and the
    /// log indexes' shares of it then.
    peak_bytes: u64,
    peak_split: (u64, u64),
    /// Largest size from 2 s after use first reached 80 % of the budget
    /// (the first fill) to the end.
    settled_peak: u64,
    /// Directory size at the end.
    final_bytes: u64,
    /// CPU seconds per thread name (pools summed) over the phase, and
    /// records accepted: where deleting while writing costs.
    threads: std::collections::BTreeMap<String, proc::Sched>,
    records: f64,
}

/// Spans and log records at full speed (half the clients each) for
/// `seconds`; 503s are waited out and not counted. Keeps the data
/// directory when `keep` is given.
fn phase(
    binary: &Path,
    budget: Option<u64>,
    clients: usize,
    seconds: u64,
    keep: Option<&Path>,
) -> Phase {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = keep.unwrap_or(scratch.path()).to_path_buf();
    let args: Vec<String> = match budget {
        Some(bytes) => vec!["--max-disk".into(), format!("{bytes}B")],
        None => Vec::new(),
    };
    let mut server = Server::start(binary, &dir, &args);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let records = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads = workload::drive(addr, clients, &stop, &records, |client, rng| {
        if client % 2 == 0 {
            ("/v1/traces", span_request(rng), SPANS_PER_REQUEST)
        } else {
            ("/v1/logs", log_request(rng), LOGS_PER_REQUEST)
        }
    });
    let (mut peak, mut peak_split, mut settled_peak) = (0, (0, 0), 0);
    let mut filled: Option<Instant> = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(250));
        if let Ok(usage) = lookout::store::usage::measure(&dir) {
            if usage.total > peak {
                peak = usage.total;
                peak_split = (usage.sqlite, usage.logs);
            }
            if budget.is_some_and(|b| usage.total as f64 >= b as f64 * 0.8) && filled.is_none() {
                filled = Some(Instant::now());
            }
            if filled.is_some_and(|at| at.elapsed() >= Duration::from_secs(2)) {
                settled_peak = settled_peak.max(usage.total);
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().expect("client");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = records.load(Ordering::Relaxed) as f64;
    let threads = proc::thread_sched(server.pid());
    server.stop(Duration::from_secs(120));
    Phase {
        budgeted: budget.is_some(),
        records_per_second: count / elapsed,
        peak_bytes: peak,
        peak_split,
        settled_peak,
        final_bytes: proc::dir_size(&dir),
        threads,
        records: count,
    }
}

fn mean(phases: &[Phase], budgeted: bool, f: fn(&Phase) -> f64) -> f64 {
    let values: Vec<f64> = phases
        .iter()
        .filter(|p| p.budgeted == budgeted)
        .map(f)
        .collect();
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// CPU-µs per record by thread, A and B averaged, for the threads that
/// use at least 0.5 µs per record in either.
fn write_thread_costs(out: &mut String, phases: &[Phase]) {
    let per_record = |budgeted: bool, name: &str| {
        let selected: Vec<&Phase> = phases.iter().filter(|p| p.budgeted == budgeted).collect();
        let cpu: f64 = selected
            .iter()
            .map(|p| p.threads.get(name).map_or(0.0, |s| s.on_cpu))
            .sum();
        let records: f64 = selected.iter().map(|p| p.records).sum();
        cpu * 1e6 / records.max(1.0)
    };
    let mut names: Vec<&String> = phases.iter().flat_map(|p| p.threads.keys()).collect();
    names.sort();
    names.dedup();
    let _ = writeln!(
        out,
        "\n| thread | CPU-µs per record, budget | without | difference |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let (mut total_a, mut total_b) = (0.0, 0.0);
    for name in names {
        let (a, b) = (per_record(true, name), per_record(false, name));
        total_a += a;
        total_b += b;
        if a >= 0.5 || b >= 0.5 {
            let _ = writeln!(out, "| {name} | {a:.1} | {b:.1} | {:+.1} |", a - b);
        }
    }
    let _ = writeln!(
        out,
        "| all threads | {total_a:.1} | {total_b:.1} | {:+.1} |",
        total_a - total_b
    );
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn main() {
    let clients = env_usize("LOOKOUT_BENCH_CLIENTS", 4);
    let seconds = env_usize("LOOKOUT_BENCH_OPS_PHASE_SECONDS", 20) as u64;
    let budget = env_usize("LOOKOUT_BENCH_OPS_BUDGET_MIB", 64) as u64 * 1_048_576;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let kept = tempfile::tempdir().expect("tempdir");
    let mut out = String::new();
    let _ = writeln!(out, "## Operations benchmark ({})", proc::cpu_model());
    let _ = writeln!(
        out,
        "\n{clients} clients (half spans, half log records), {seconds} s phases A B A B on fresh data directories (A: `--max-disk {}`; B: no budget); load at the start {}\n",
        mib(budget),
        proc::load_average()
    );
    let mut phases = Vec::new();
    for (index, budgeted) in [true, false, true, false].into_iter().enumerate() {
        eprintln!(
            "phase {} for {seconds} s, {}…",
            index + 1,
            if budgeted {
                "with the budget"
            } else {
                "no budget"
            }
        );
        let keep = (index == 3).then_some(kept.path());
        phases.push(phase(
            &binary,
            budgeted.then_some(budget),
            clients,
            seconds,
            keep,
        ));
    }
    let _ = writeln!(
        out,
        "| phase | budget | records/s | largest size (database + log indexes) | size at the end |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (index, phase) in phases.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({} + {}) | {} |",
            index + 1,
            if phase.budgeted {
                mib(budget)
            } else {
                "none".into()
            },
            thousands(phase.records_per_second),
            mib(phase.peak_bytes),
            mib(phase.peak_split.0),
            mib(phase.peak_split.1),
            mib(phase.final_bytes)
        );
    }
    write_thread_costs(&mut out, &phases);
    let ratio = mean(&phases, true, |p| p.records_per_second)
        / mean(&phases, false, |p| p.records_per_second);
    let worst = phases
        .iter()
        .filter(|p| p.budgeted)
        .map(|p| p.settled_peak)
        .max()
        .unwrap_or(0);
    let worst_overall = phases
        .iter()
        .filter(|p| p.budgeted)
        .map(|p| p.peak_bytes)
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "\nThroughput at the budget ÷ without: **{ratio:.3}** (goal ≥ 0.9: {}); largest size under the budget after the first fill (from 2 s after use first reached 80 % of it) {} = **{:.3}** of it (goal ≤ 1.05: {}); including the first fill {} = {:.3} of it.\n",
        verdict(ratio >= 0.9),
        mib(worst),
        worst as f64 / budget as f64,
        verdict(worst as f64 <= budget as f64 * 1.05),
        mib(worst_overall),
        worst_overall as f64 / budget as f64
    );

    // The last B phase's data directory: backup, cold start, idle memory.
    let data_bytes = proc::dir_size(kept.path());
    let cold = Instant::now();
    let mut server = Server::start(&binary, kept.path(), &[]);
    let cold_start = cold.elapsed();
    std::thread::sleep(Duration::from_secs(5));
    let idle_rss = server.status_kib("VmRSS").unwrap_or(0);
    let backups = tempfile::tempdir().expect("tempdir");
    let target = backups.path().join("backup");
    let began = Instant::now();
    let output = std::process::Command::new(&binary)
        .arg("backup")
        .arg(&target)
        .arg("--data-dir")
        .arg(kept.path())
        .output()
        .expect("lookout backup");
    let took = began.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let backup_bytes = proc::dir_size(&target);
    server.stop(Duration::from_secs(60));
    let _ = writeln!(
        out,
        "| on a data directory of {} | value |",
        mib(data_bytes)
    );
    let _ = writeln!(out, "|---|---|");
    let _ = writeln!(
        out,
        "| backup through the running server | {took:.2} s for {} = {:.1} s per GB |",
        mib(backup_bytes),
        took / (backup_bytes as f64 / 1e9).max(1e-9)
    );
    let _ = writeln!(
        out,
        "| cold start (spawn to listening) | {} ms |",
        cold_start.as_millis()
    );
    let _ = writeln!(
        out,
        "| idle RSS 5 s after start | {:.1} MiB (goal < 30 MiB: {}) |",
        idle_rss as f64 / 1024.0,
        verdict(idle_rss < 30 * 1024)
    );
    print!("{out}");
    let _ = std::fs::write("target/bench-operations.md", &out);
}
