//! OTLP/gRPC against OTLP/HTTP ingest, against the release `lookout`
//! binary in its own process (`cargo bench --bench grpc`).
//!
//! Spans and then log records at full speed in phases of
//! `LOOKOUT_BENCH_GRPC_PHASE_SECONDS` (default 20), HTTP gRPC HTTP gRPC …
//! (`LOOKOUT_BENCH_AB_ROUNDS` pairs, default 2), each on a fresh data
//! directory, from `LOOKOUT_BENCH_CLIENTS` (default 4) client threads with
//! one connection each. Both transports send the same encoded
//! `Export*ServiceRequest` bytes (1,000 records per request, the shared
//! realistic workload): HTTP/1.1 keep-alive POSTs, or unary gRPC calls over
//! HTTP/2 with a pass-through codec, so neither client encodes anything
//! and the difference is the server's. Reported per phase and as medians:
//! records/s and server CPU-µs per record, and the ratios gRPC ÷ HTTP.
//!
//! Results are printed as markdown and written to `target/bench-grpc.md`.

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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use env::env_usize;
use lookout::pipeline::RawGrpcCodec;
use report::{median, thousands};
use rng::Rng;
use server::Server;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::Code;
use workload::{log_request, now_nanos, span_request, LOGS_PER_REQUEST, SPANS_PER_REQUEST};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signal {
    Spans,
    Logs,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Spans => "spans",
            Signal::Logs => "log records",
        }
    }

    fn http_path(self) -> &'static str {
        match self {
            Signal::Spans => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }

    fn grpc_method(self) -> &'static str {
        match self {
            Signal::Spans => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }

    /// An encoded request and the records in it.
    fn request(self, rng: &mut Rng) -> (Vec<u8>, usize) {
        match self {
            Signal::Spans => (span_request(rng), SPANS_PER_REQUEST),
            Signal::Logs => (log_request(rng), LOGS_PER_REQUEST),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Http,
    Grpc,
}

struct Phase {
    transport: Transport,
    records_per_second: f64,
    cpu_us_per_record: f64,
}

/// Unary gRPC calls from `clients` threads, one HTTP/2 connection each,
/// until `stop`; `UNAVAILABLE` (queue full, indexing behind) is waited
/// out and not counted, any other error fails the benchmark.
fn drive_grpc(
    addr: SocketAddr,
    signal: Signal,
    clients: usize,
    stop: &Arc<AtomicBool>,
    records: &Arc<AtomicU64>,
) -> Vec<JoinHandle<()>> {
    (0..clients)
        .map(|client| {
            let (stop, records) = (Arc::clone(stop), Arc::clone(records));
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    let channel = Channel::from_shared(format!("http://{addr}"))
                        .expect("an endpoint")
                        .connect()
                        .await
                        .expect("connect over gRPC");
                    let mut grpc = tonic::client::Grpc::new(channel)
                        .max_encoding_message_size(64 << 20)
                        .max_decoding_message_size(64 << 20);
                    let mut rng = Rng::for_record(now_nanos() ^ client as u64);
                    while !stop.load(Ordering::Relaxed) {
                        let (body, count) = signal.request(&mut rng);
                        grpc.ready().await.expect("the channel is ready");
                        let answer = grpc
                            .unary(
                                tonic::Request::new(body),
                                PathAndQuery::from_static(signal.grpc_method()),
                                RawGrpcCodec,
                            )
                            .await;
                        match answer {
                            Ok(_) => {
                                records.fetch_add(count as u64, Ordering::Relaxed);
                            }
                            Err(status) if status.code() == Code::Unavailable => {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            Err(status) => panic!("{}: {status:?}", signal.grpc_method()),
                        }
                    }
                });
            })
        })
        .collect()
}

/// Ingest at full speed for `seconds` into a fresh server.
fn phase(
    binary: &Path,
    signal: Signal,
    transport: Transport,
    clients: usize,
    seconds: u64,
) -> Phase {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(binary, dir.path(), &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let records = Arc::new(AtomicU64::new(0));
    let ticks = proc::clock_ticks();
    let cpu_before = server.process_cpu(ticks);
    let started = Instant::now();
    let threads = match transport {
        Transport::Http => workload::drive(server.addr, clients, &stop, &records, move |_, rng| {
            let (body, count) = signal.request(rng);
            (signal.http_path(), body, count)
        }),
        Transport::Grpc => {
            let addr = server.grpc_addr.expect("the server serves OTLP/gRPC");
            drive_grpc(addr, signal, clients, &stop, &records)
        }
    };
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
        transport,
        records_per_second: count / elapsed,
        cpu_us_per_record: cpu * 1e6 / count.max(1.0),
    }
}

fn median_of(phases: &[Phase], transport: Transport, f: fn(&Phase) -> f64) -> f64 {
    median(phases.iter().filter(|p| p.transport == transport).map(f))
}

fn main() {
    let clients = env_usize("LOOKOUT_BENCH_CLIENTS", 4);
    let seconds = env_usize("LOOKOUT_BENCH_GRPC_PHASE_SECONDS", 20) as u64;
    let rounds = env_usize("LOOKOUT_BENCH_AB_ROUNDS", 2).max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## OTLP/gRPC vs OTLP/HTTP ingest ({})",
        proc::cpu_model()
    );
    let _ = writeln!(
        out,
        "\n{clients} clients (one connection each), the same encoded requests of 1,000 records, {seconds} s phases HTTP gRPC × {rounds}, each on a fresh data directory; medians; load at the start {}\n",
        proc::load_average()
    );
    let _ = writeln!(
        out,
        "| signal | records/s HTTP | records/s gRPC | gRPC ÷ HTTP | CPU-µs/record HTTP | CPU-µs/record gRPC | CPU gRPC ÷ HTTP |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mut detail = String::new();
    for signal in [Signal::Spans, Signal::Logs] {
        let mut phases = Vec::new();
        for _ in 0..rounds {
            for transport in [Transport::Http, Transport::Grpc] {
                eprintln!(
                    "{} for {seconds} s over {}…",
                    signal.name(),
                    if transport == Transport::Http {
                        "HTTP"
                    } else {
                        "gRPC"
                    }
                );
                phases.push(phase(&binary, signal, transport, clients, seconds));
            }
        }
        let rate = |t| median_of(&phases, t, |p| p.records_per_second);
        let cpu = |t| median_of(&phases, t, |p| p.cpu_us_per_record);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.3} | {:.2} | {:.2} | {:.3} |",
            signal.name(),
            thousands(rate(Transport::Http)),
            thousands(rate(Transport::Grpc)),
            rate(Transport::Grpc) / rate(Transport::Http),
            cpu(Transport::Http),
            cpu(Transport::Grpc),
            cpu(Transport::Grpc) / cpu(Transport::Http),
        );
        for (index, p) in phases.iter().enumerate() {
            let _ = writeln!(
                detail,
                "| {} | {} ({}) | {} | {:.2} |",
                signal.name(),
                index + 1,
                if p.transport == Transport::Http {
                    "HTTP"
                } else {
                    "gRPC"
                },
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
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-grpc.md");
    if let Err(error) = std::fs::write(&target, &out) {
        eprintln!("cannot write {}: {error}", target.display());
    }
}
