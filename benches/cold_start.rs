//! Start and idle memory on a large data directory, against the release
//! `lookout` binary (`cargo bench --bench cold_start`):
//!
//! 1. A data directory of `LOOKOUT_BENCH_COLD_GB` GB (default 10) is filled
//!    through the real server: spans (1 KB of payload each) and log
//!    records (a 500-byte body each), sent in time order across the last
//!    `DAYS` days so that it holds a week's traces, rollups and day
//!    indexes as a box that has run for a week does. The directory is kept
//!    in `target/bench-cold-start/` and reused by later runs while it is
//!    large enough (delete it to rebuild).
//! 2. Start, `RUNS` times each with the page cache warm and dropped
//!    (`/proc/sys/vm/drop_caches`, root only; otherwise said so): the time
//!    from spawning the process to its `listening` line and to the first
//!    answer of a trace search, the idle RSS 5 s after start, and the CPU
//!    time used in those 5 s. The same on an empty data directory in the
//!    same run is the peer: what start costs with no data at all.
//!
//! Results are printed as markdown and written to
//! `target/bench-cold-start.md`.

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
use report::{thousands, verdict};
use server::Server;
use workload::{log_request_at, now_nanos, span_request_at, LOGS_PER_REQUEST, SPANS_PER_REQUEST};

/// Days of data the directory spans, ending now.
const DAYS: u64 = 6;
/// Starts measured per condition.
const RUNS: usize = 5;
/// Bytes of payload per span and of extra body per log record.
const SPAN_PADDING: usize = 1_000;
const LOG_PADDING: usize = 500;
/// Sending clients: spans take most of the space, as they do for most
/// users.
const SPAN_CLIENTS: usize = 3;
const LOG_CLIENTS: usize = 1;

const NANOS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// What one start measured.
struct Start {
    listening: Duration,
    first_search: Duration,
    idle_rss_kib: u64,
    cpu_seconds: f64,
}

/// Fills `dir` through a server until it holds `target` bytes: clients
/// send in time order, the time of each request advancing with the
/// directory's size from `DAYS` ago to now.
fn fill(binary: &Path, dir: &Path, target: u64) -> (u64, f64, Duration) {
    let mut server = Server::start(binary, dir, &["--retention".into(), "30d".into()]);
    let began = Instant::now();
    let end = now_nanos();
    let first = end - DAYS * NANOS_PER_DAY;
    let stop = Arc::new(AtomicBool::new(false));
    let records = Arc::new(AtomicU64::new(0));
    // Bytes in the directory, sampled by the loop below; the clients'
    // clock follows it.
    let size = Arc::new(AtomicU64::new(proc::dir_size(dir)));
    let clock = {
        let size = Arc::clone(&size);
        move || {
            first
                + ((end - first) as f64
                    * (size.load(Ordering::Relaxed) as f64 / target as f64).min(1.0))
                    as u64
        }
    };
    let mut clients = workload::drive(server.addr, SPAN_CLIENTS, &stop, &records, {
        let clock = clock.clone();
        move |_, rng| {
            (
                "/v1/traces",
                span_request_at(rng, clock(), SPAN_PADDING),
                SPANS_PER_REQUEST,
            )
        }
    });
    clients.extend(workload::drive(
        server.addr,
        LOG_CLIENTS,
        &stop,
        &records,
        move |_, rng| {
            (
                "/v1/logs",
                log_request_at(rng, clock(), LOG_PADDING),
                LOGS_PER_REQUEST,
            )
        },
    ));
    let mut reported = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = proc::dir_size(dir);
        size.store(now, Ordering::Relaxed);
        if reported.elapsed() > Duration::from_secs(30) {
            reported = Instant::now();
            eprintln!(
                "  {:.2} of {:.2} GB after {:.0} s, {} records",
                now as f64 / 1e9,
                target as f64 / 1e9,
                began.elapsed().as_secs_f64(),
                thousands(records.load(Ordering::Relaxed) as f64)
            );
        }
        if now >= target {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
    let took = began.elapsed();
    server.stop(Duration::from_secs(600));
    let records = records.load(Ordering::Relaxed);
    (records, records as f64 / took.as_secs_f64(), took)
}

/// Drops the page cache, so that the next start reads from the disk;
/// false where that is not allowed.
fn drop_page_cache() -> bool {
    let synced = std::process::Command::new("sync")
        .status()
        .map(|status| status.success())
        .unwrap_or(false);
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

/// One start on `dir`: spawn to `listening`, spawn to the first answer of
/// a trace search, then RSS and CPU 5 s after the start.
fn start_once(binary: &Path, dir: &Path) -> Start {
    let began = Instant::now();
    let mut server = Server::start(binary, dir, &["--retention".into(), "30d".into()]);
    let listening = server.startup;
    let mut http = RawHttp::new(server.addr);
    let response = http
        .request("GET", "/api/traces?service=svc-3&limit=20", None)
        .expect("trace search");
    let first_search = began.elapsed();
    assert_eq!(
        response.status,
        200,
        "trace search: {}",
        String::from_utf8_lossy(&response.body)
    );
    std::thread::sleep(Duration::from_secs(5).saturating_sub(began.elapsed()));
    let idle_rss_kib = server.status_kib("VmRSS:").unwrap_or(0);
    let cpu_seconds = server.process_cpu(proc::clock_ticks());
    server.stop(Duration::from_secs(60));
    Start {
        listening,
        first_search,
        idle_rss_kib,
        cpu_seconds,
    }
}

fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    values[values.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

/// A table row of the medians of `starts`, with their range.
fn row(out: &mut String, what: &str, starts: &[Start]) {
    let listening: Vec<Duration> = starts.iter().map(|s| s.listening).collect();
    let search: Vec<Duration> = starts.iter().map(|s| s.first_search).collect();
    let rss: Vec<u64> = starts.iter().map(|s| s.idle_rss_kib).collect();
    let cpu: Vec<f64> = starts.iter().map(|s| s.cpu_seconds).collect();
    let range = |values: &[Duration]| {
        format!(
            "{}–{}",
            ms(*values.iter().min().expect("runs")),
            ms(*values.iter().max().expect("runs"))
        )
    };
    let _ = writeln!(
        out,
        "| {what} | **{}** ({}) | {} ({}) | {:.1} MiB | {:.0} ms |",
        ms(median(listening.clone())),
        range(&listening),
        ms(median(search.clone())),
        range(&search),
        median(rss) as f64 / 1024.0,
        median(cpu) * 1e3
    );
}

fn main() {
    let gigabytes = env_usize("LOOKOUT_BENCH_COLD_GB", 10) as u64;
    let target = gigabytes * 1_000_000_000;
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-cold-start");
    std::fs::create_dir_all(&dir).expect("create the data directory");
    let mut out = String::new();
    let _ = writeln!(out, "## Cold start benchmark ({})", proc::cpu_model());
    let _ = writeln!(out, "\nLoad at the start {}.\n", proc::load_average());
    let existing = proc::dir_size(&dir);
    if existing >= target {
        let _ = writeln!(
            out,
            "Data directory reused from an earlier run: {:.2} GB.\n",
            existing as f64 / 1e9
        );
    } else {
        eprintln!(
            "filling {} to {gigabytes} GB (has {:.2} GB)…",
            dir.display(),
            existing as f64 / 1e9
        );
        let (records, rate, took) = fill(&binary, &dir, target);
        let _ = writeln!(
            out,
            "Filled to {:.2} GB through the server: {} records ({} per second) in {:.0} s.\n",
            proc::dir_size(&dir) as f64 / 1e9,
            thousands(records as f64),
            thousands(rate),
            took.as_secs_f64()
        );
    }
    let days = std::fs::read_dir(dir.join("logs"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "The directory: {:.2} GB, of which the database {:.2} GB and the log indexes {:.2} GB ({days} entries under `logs/`).\n",
        proc::dir_size(&dir) as f64 / 1e9,
        lookout::store::sqlite::db_files(&dir)
            .iter()
            .map(|path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
            .sum::<u64>() as f64
            / 1e9,
        proc::dir_size(&dir.join(lookout::store::logs::LOGS_DIR)) as f64 / 1e9
    );

    let empty = tempfile::tempdir().expect("tempdir");
    let mut conditions: Vec<(String, Vec<Start>)> = Vec::new();
    eprintln!("starts on an empty data directory…");
    // The first start creates the empty directory's database.
    let _ = start_once(&binary, empty.path());
    conditions.push((
        "empty data directory, page cache warm".into(),
        (0..RUNS)
            .map(|_| start_once(&binary, empty.path()))
            .collect(),
    ));
    eprintln!("starts on {gigabytes} GB, page cache warm…");
    // The first start after a fill replays the journal rows the last
    // commit before the shutdown left (at most a refresh interval's worth)
    // and settles them; later starts find the journal empty.
    conditions.push((
        format!("{gigabytes} GB, first start in this run, page cache warm"),
        vec![start_once(&binary, &dir)],
    ));
    conditions.push((
        format!("{gigabytes} GB, page cache warm"),
        (0..RUNS).map(|_| start_once(&binary, &dir)).collect(),
    ));
    eprintln!("starts on {gigabytes} GB, page cache dropped…");
    let cold: Vec<Start> = (0..RUNS)
        .map_while(|_| drop_page_cache().then(|| start_once(&binary, &dir)))
        .collect();
    let cold_measured = cold.len() == RUNS;
    if cold_measured {
        conditions.push((format!("{gigabytes} GB, page cache dropped"), cold));
    }

    let _ = writeln!(
        out,
        "| data directory | spawn to `listening`, median (range of {RUNS} starts) | spawn to the first trace search answered | idle RSS 5 s after start | CPU in those 5 s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (what, starts) in &conditions {
        row(&mut out, what, starts);
    }
    if !cold_measured {
        let _ = writeln!(
            out,
            "\nThe page cache could not be dropped (needs root): cold-cache starts not measured."
        );
    }
    let (_, largest) = conditions.last().expect("conditions");
    let start = median(largest.iter().map(|s| s.listening).collect());
    let rss = median(largest.iter().map(|s| s.idle_rss_kib).collect());
    let _ = writeln!(
        out,
        "\nCold start at {gigabytes} GB: {} (goal < 200 ms: {}); idle RSS {:.1} MiB (goal < 30 MiB: {}).",
        ms(start),
        verdict(start < Duration::from_millis(200)),
        rss as f64 / 1024.0,
        verdict(rss < 30 * 1024)
    );
    print!("{out}");
    let _ = std::fs::write("target/bench-cold-start.md", &out);
}
