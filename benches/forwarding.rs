//! What forwarding (`--forward-otlp`) costs on the ingest path, and how
//! fast it forwards, against the release `lookout` binary in its own
//! processes (`cargo bench --bench forwarding`).
//!
//! Spans at full speed from `LOOKOUT_BENCH_CLIENTS` (default 4) clients in
//! phases of `LOOKOUT_BENCH_FORWARD_PHASE_SECONDS` (default 20), A G D B
//! (`LOOKOUT_BENCH_AB_ROUNDS` rounds, default 2; `LOOKOUT_BENCH_FORWARD_MODES`
//! picks from `http,grpc,down,off`), each on fresh data directories: A is
//! a lookout forwarding over OTLP/HTTP to a second lookout on loopback
//! (the upstream, started for the phase), G the same over OTLP/gRPC, D
//! forwarding to an upstream that is down (the outbox's cost without
//! sending), B the same lookout without forwarding. Reported: spans/s
//! and the ingesting server's CPU-µs per span (its forwarder threads
//! included; the upstream's CPU is its own), the ratios A ÷ B and G ÷ B
//! (goal ≤ 1.10), and for A and G how long the outbox took to empty once
//! ingest stopped, with the upstream's received rate over the whole phase.
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

/// How the phase's lookout forwards.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A: OTLP/HTTP.
    Http,
    /// G: OTLP/gRPC.
    Grpc,
    /// D: OTLP/HTTP to an upstream that is down (a port nothing listens
    /// on): the outbox's cost alone, nothing sent.
    Down,
    /// B: not at all.
    Off,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Http => "A (HTTP)",
            Mode::Grpc => "G (gRPC)",
            Mode::Down => "D (upstream down)",
            Mode::Off => "B (off)",
        }
    }
}

struct Phase {
    mode: Mode,
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

fn phase(binary: &Path, mode: Mode, clients: usize, seconds: u64) -> Phase {
    let dir = tempfile::tempdir().expect("tempdir");
    let upstream_dir = tempfile::tempdir().expect("tempdir");
    let mut upstream = matches!(mode, Mode::Http | Mode::Grpc)
        .then(|| Server::start(binary, upstream_dir.path(), &[]));
    let args: Vec<String> = match (&upstream, mode) {
        (Some(upstream), Mode::Http) => {
            vec!["--forward-otlp".into(), format!("http://{}", upstream.addr)]
        }
        (Some(upstream), Mode::Grpc) => vec![
            "--forward-otlp".into(),
            format!(
                "http://{}",
                upstream.grpc_addr.expect("the upstream serves OTLP/gRPC")
            ),
            "--forward-protocol".into(),
            "grpc".into(),
        ],
        _ if mode == Mode::Down => {
            let down = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port");
            vec!["--forward-otlp".into(), format!("http://{down}")]
        }
        _ => Vec::new(),
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
        mode,
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
    let modes: Vec<Mode> = std::env::var("LOOKOUT_BENCH_FORWARD_MODES")
        .unwrap_or_else(|_| "http,grpc,down,off".into())
        .split(',')
        .map(|name| match name.trim() {
            "http" => Mode::Http,
            "grpc" => Mode::Grpc,
            "down" => Mode::Down,
            "off" => Mode::Off,
            other => {
                panic!("LOOKOUT_BENCH_FORWARD_MODES: {other:?} is not http, grpc, down or off")
            }
        })
        .collect();
    for _ in 0..rounds {
        for &mode in &modes {
            eprintln!("spans for {seconds} s, {}…", mode.label());
            phases.push(phase(&binary, mode, clients, seconds));
        }
    }
    let of =
        |mode: Mode, f: fn(&Phase) -> f64| median(phases.iter().filter(|p| p.mode == mode).map(f));
    let rate_b = of(Mode::Off, |p| p.spans_per_second);
    let cpu_b = of(Mode::Off, |p| p.cpu_us_per_span);
    let mut out = String::new();
    let _ = writeln!(out, "## Forwarding benchmark ({})", proc::cpu_model());
    let _ = writeln!(
        out,
        "\n{clients} clients, {seconds} s phases {} × {rounds}, fresh data directories (A: forwarding over OTLP/HTTP to a second lookout on loopback; G: the same over OTLP/gRPC; D: to an upstream that is down; B: no forwarding); medians; load at the start {}\n",
        modes.iter().map(|m| &m.label()[..1]).collect::<Vec<_>>().join(" "),
        proc::load_average()
    );
    let _ = writeln!(
        out,
        "| forwarding | spans/s | CPU-µs/span | CPU ÷ B | goal | outbox emptied after ingest | upstream stored, spans/s |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for mode in [Mode::Http, Mode::Grpc, Mode::Down]
        .into_iter()
        .filter(|mode| modes.contains(mode))
    {
        let ratio = of(mode, |p| p.cpu_us_per_span) / cpu_b;
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {ratio:.3} | ≤ 1.10 {} | {:.2} s | {} |",
            mode.label(),
            thousands(of(mode, |p| p.spans_per_second)),
            of(mode, |p| p.cpu_us_per_span),
            verdict(ratio <= 1.10),
            of(mode, |p| p.drain.map_or(f64::NAN, |d| d.as_secs_f64())),
            thousands(of(mode, |p| p.forwarded_per_second.unwrap_or(f64::NAN))),
        );
    }
    let _ = writeln!(
        out,
        "| {} | {} | {cpu_b:.2} | 1 | | | |",
        Mode::Off.label(),
        thousands(rate_b)
    );
    let _ = writeln!(
        out,
        "\n| phase | spans/s | CPU-µs/span | outbox emptied after | upstream stored, spans/s |\n|---|---|---|---|---|"
    );
    for (index, p) in phases.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} {} | {} | {:.2} | {} | {} |",
            index + 1,
            p.mode.label(),
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
