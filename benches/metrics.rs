//! End-to-end benchmark of OTLP metric ingest, storage and PromQL queries.
//!
//! One run (`cargo bench --bench metrics`) measures, against the release
//! `lookout` binary in its own process:
//! 1. ingest: concurrent keep-alive clients POST pre-encoded OTLP/HTTP
//!    protobuf requests of regular 15 s series (1,000 counters and a
//!    100-series histogram with 10 buckets, 24 h of samples); a request
//!    counts when its 200 (sent after the commit) arrives. Data points/s
//!    and samples/s (a histogram point is 13 samples), CPU-µs per point;
//! 2. the raw ceiling of a row per sample: the same samples inserted with
//!    plain rusqlite as rows of a (series, t, v) table (the head table of
//!    earlier versions; the head is now in memory with one WAL row per
//!    group), one thread, same pragmas, 20k rows per transaction;
//! 3. bytes per sample on disk once the finished hours are in chunks
//!    (after a restart, whose first write compacts), and of the chunks
//!    alone;
//! 4. `query_range` latency over 24 h at step 60 s: `sum by (job)
//!    (rate(x_total[5m]))` across the 1,000 series and `histogram_quantile`
//!    over the 100-series histogram;
//! 5. the peer: the same samples as TSDB blocks (`promtool tsdb
//!    create-blocks-from openmetrics`) served by a real Prometheus on a
//!    loopback port, asked the same queries the same number of times; the
//!    answers are compared point by point (off with
//!    `LOOKOUT_BENCH_PROMETHEUS=0`, and when the tools are missing).
//!
//! Results are printed as markdown and written to `target/bench-metrics.md`.
//!
//! Environment: `LOOKOUT_BENCH_METRIC_HOURS` (default 24): hours of
//! samples; `LOOKOUT_BENCH_CLIENTS` (default 4); `LOOKOUT_BENCH_QUERY_RUNS`
//! (default 30); `LOOKOUT_BENCH_BASELINE=/path/to/lookout` adds a same-run
//! A/B of the two queries: on the same data directory, this build and the
//! baseline serve them alternately for `LOOKOUT_BENCH_AB_ROUNDS` rounds
//! (default 3).

#[path = "support/env.rs"]
mod env;
#[path = "support/proc.rs"]
mod proc;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/raw_http.rs"]
mod raw_http;
#[path = "support/report.rs"]
mod report;
#[path = "support/server.rs"]
mod server;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use env::env_usize;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prometheus::Prometheus;
use prost::Message;
use raw_http::RawHttp;
use report::{percentile, thousands, verdict};
use rusqlite::{params, Connection};
use server::Server;

const STEP_MS: i64 = 15_000;
const COUNTER_SERIES: usize = 1_000;
/// Counter series per job: `sum by (job)` gives 10 groups.
const JOBS: usize = 10;
const HISTOGRAM_SERIES: usize = 100;
const BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Timestamps per request: each client sends its share of the series at
/// this many consecutive times.
const TIMES_PER_REQUEST: usize = 4;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn ns(ms: i64) -> u64 {
    (ms as u64) * 1_000_000
}

/// A deterministic per-series increment in 0..20.
fn increment(series: usize, step: usize) -> f64 {
    let mut x = (series as u64) << 32 | step as u64;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x % 20) as f64
}

/// One client's requests: its counter and histogram series (every
/// `clients`-th one) at every time, `TIMES_PER_REQUEST` times a request,
/// in time order (so no series ever goes back in time).
fn client_requests(
    client: usize,
    clients: usize,
    start_ms: i64,
    steps: usize,
) -> Vec<(Vec<u8>, u64, u64)> {
    let mut out = Vec::new();
    // Running totals, advanced step by step.
    let mut totals = vec![0.0f64; COUNTER_SERIES];
    let mut histograms = vec![vec![0u64; BOUNDS.len() + 1]; HISTOGRAM_SERIES];
    let mut per_time: Vec<(Vec<f64>, Vec<Vec<u64>>)> = Vec::with_capacity(TIMES_PER_REQUEST);
    let mut step = 0;
    while step < steps {
        let times: Vec<usize> = (step..(step + TIMES_PER_REQUEST).min(steps)).collect();
        step += TIMES_PER_REQUEST;
        per_time.clear();
        for &at in &times {
            for (series, total) in totals.iter_mut().enumerate() {
                *total += increment(series, at);
            }
            for (series, counts) in histograms.iter_mut().enumerate() {
                let bucket = (increment(series + 7, at) as usize) % counts.len();
                counts[bucket] += 1 + (at % 3) as u64;
            }
            per_time.push((totals.clone(), histograms.clone()));
        }
        let mut resources = Vec::new();
        let mut points = 0u64;
        let mut samples = 0u64;
        for job in 0..JOBS {
            let mut counter_points = Vec::new();
            for series in (0..COUNTER_SERIES).filter(|s| s % clients == client && s % JOBS == job) {
                for (&at, (totals, _)) in times.iter().zip(&per_time) {
                    let total = totals[series];
                    counter_points.push(NumberDataPoint {
                        attributes: vec![kv("instance_id", &format!("i-{series}"))],
                        start_time_unix_nano: ns(start_ms - STEP_MS),
                        time_unix_nano: ns(start_ms + at as i64 * STEP_MS),
                        value: Some(number_data_point::Value::AsDouble(total)),
                        ..Default::default()
                    });
                }
            }
            let mut histogram_points = Vec::new();
            for series in (0..HISTOGRAM_SERIES).filter(|s| s % clients == client && s % JOBS == job)
            {
                for (&at, (_, histograms)) in times.iter().zip(&per_time) {
                    let counts = histograms[series].clone();
                    let count: u64 = counts.iter().sum();
                    histogram_points.push(HistogramDataPoint {
                        attributes: vec![kv("route", &format!("/r{series}"))],
                        start_time_unix_nano: ns(start_ms - STEP_MS),
                        time_unix_nano: ns(start_ms + at as i64 * STEP_MS),
                        count,
                        sum: Some(count as f64 * 0.1),
                        bucket_counts: counts,
                        explicit_bounds: BOUNDS.to_vec(),
                        ..Default::default()
                    });
                }
            }
            points += (counter_points.len() + histogram_points.len()) as u64;
            samples += counter_points.len() as u64 * samples_per_point(false)
                + histogram_points.len() as u64 * samples_per_point(true);
            resources.push(ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", &format!("job-{job}"))],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        Metric {
                            name: "x".into(),
                            data: Some(Data::Sum(Sum {
                                data_points: counter_points,
                                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                                is_monotonic: true,
                            })),
                            ..Default::default()
                        },
                        Metric {
                            name: "latency".into(),
                            unit: "s".into(),
                            data: Some(Data::Histogram(Histogram {
                                data_points: histogram_points,
                                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            })),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        let request = ExportMetricsServiceRequest {
            resource_metrics: resources,
        };
        out.push((request.encode_to_vec(), points, samples));
    }
    out
}

/// Samples one data point of each kind becomes.
fn samples_per_point(histogram: bool) -> u64 {
    if histogram {
        BOUNDS.len() as u64 + 3
    } else {
        1
    }
}

struct Ingest {
    points: u64,
    samples: u64,
    seconds: f64,
    server_cpu_seconds: f64,
    retries: u64,
}

fn ingest(server: &Server, requests: Vec<Vec<(Vec<u8>, u64, u64)>>) -> Ingest {
    let ticks = proc::clock_ticks();
    let cpu_before = server.process_cpu(ticks);
    let retries = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for list in &requests {
            let retries = &retries;
            scope.spawn(move || {
                let mut http = RawHttp::new(server.addr);
                for (body, _, _) in list {
                    loop {
                        let response = http
                            .request(
                                "POST",
                                "/v1/metrics",
                                Some(("application/x-protobuf", body)),
                            )
                            .expect("server answers");
                        match response.status {
                            200 => {
                                let decoded =
                                    ExportMetricsServiceResponse::decode(response.body.as_slice())
                                        .expect("an OTLP response");
                                if let Some(partial) = decoded.partial_success {
                                    assert_eq!(
                                        partial.rejected_data_points, 0,
                                        "{}",
                                        partial.error_message
                                    );
                                }
                                break;
                            }
                            503 => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            other => panic!(
                                "status {other}: {}",
                                String::from_utf8_lossy(&response.body)
                            ),
                        }
                    }
                }
            });
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let points: u64 = requests.iter().flatten().map(|(_, points, _)| points).sum();
    let samples: u64 = requests
        .iter()
        .flatten()
        .map(|(_, _, samples)| samples)
        .sum();
    Ingest {
        points,
        samples,
        seconds,
        server_cpu_seconds: server.process_cpu(ticks) - cpu_before,
        retries: retries.load(Ordering::Relaxed) as u64,
    }
}

/// The raw SQLite ceiling of a row per sample: the same number of sample
/// rows into a (series, t, v) table, one thread, 20k rows a transaction.
#[allow(clippy::disallowed_methods)] // the baseline, not lookout's store
fn raw_ceiling(dir: &std::path::Path, samples: u64) -> f64 {
    let conn = Connection::open(dir.join("raw.db")).expect("open raw db");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE metric_head (series_id INTEGER NOT NULL, t INTEGER NOT NULL, v INTEGER NOT NULL,
                                   PRIMARY KEY (series_id, t)) WITHOUT ROWID;",
    )
    .expect("schema");
    let series = (COUNTER_SERIES + HISTOGRAM_SERIES * (BOUNDS.len() + 3)) as u64;
    let started = Instant::now();
    let mut written = 0u64;
    let mut step = 0i64;
    let mut conn = conn;
    while written < samples {
        let tx = conn.transaction().expect("tx");
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO metric_head (series_id, t, v) VALUES (?1, ?2, ?3)")
                .expect("prepare");
            let mut in_tx = 0;
            while in_tx < 20_000 && written < samples {
                for id in 0..series {
                    if in_tx >= 20_000 || written >= samples {
                        break;
                    }
                    insert
                        .execute(params![
                            id as i64,
                            step * STEP_MS,
                            ((step as f64) * 1.5).to_bits() as i64
                        ])
                        .expect("insert");
                    in_tx += 1;
                    written += 1;
                }
                step += 1;
            }
        }
        tx.commit().expect("commit");
    }
    written as f64 / started.elapsed().as_secs_f64()
}

/// Latencies of a `query_range` over HTTP.
fn time_query(
    server: &Server,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    runs: usize,
) -> (Vec<Duration>, usize) {
    let (times, body) = time_query_at(server.addr, "/prometheus", query, start_ms, end_ms, runs);
    (times, result_series(&body))
}

fn result_series(body: &serde_json::Value) -> usize {
    body["data"]["result"].as_array().map_or(0, Vec::len)
}

/// `runs` timed `query_range` calls of `query` (after one untimed call
/// that warms the caches) to the API under `prefix` at `addr`: the times,
/// sorted, and the first answer.
fn time_query_at(
    addr: std::net::SocketAddr,
    prefix: &str,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    runs: usize,
) -> (Vec<Duration>, serde_json::Value) {
    let mut http = RawHttp::new(addr);
    let path = format!(
        "{prefix}/api/v1/query_range?query={}&start={}&end={}&step=60",
        urlencode(query),
        start_ms as f64 / 1000.0,
        end_ms as f64 / 1000.0
    );
    let mut times = Vec::with_capacity(runs);
    let mut answer = serde_json::Value::Null;
    for run in 0..=runs {
        let started = Instant::now();
        let response = http.request("GET", &path, None).expect("query answers");
        let elapsed = started.elapsed();
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        if run == 0 {
            // The first run warms the page cache; it is not counted.
            answer = serde_json::from_slice(&response.body).expect("json");
            continue;
        }
        times.push(elapsed);
    }
    times.sort();
    (times, answer)
}

/// The two queries on the same data directory, served by this build and
/// by `baseline` alternately (`LOOKOUT_BENCH_AB_ROUNDS` rounds, who goes
/// first alternating too), as a markdown section of per-binary medians of
/// the rounds' p50s and their ratio.
/// The benchmark's queries: the rate of the counters and a quantile of
/// the histogram, both over 24 h at step 60 s.
const QUERIES: [&str; 2] = [
    "sum by (job) (rate(x_total[5m]))",
    "histogram_quantile(0.99, sum by (le, job) (rate(latency_seconds_bucket[5m])))",
];

/// Prometheus is the peer unless `LOOKOUT_BENCH_PROMETHEUS=0`, when its
/// tools are installed (`.ci/run` installs them).
fn peer_enabled() -> bool {
    if std::env::var("LOOKOUT_BENCH_PROMETHEUS").is_ok_and(|value| value == "0") {
        return false;
    }
    let available = prometheus::available();
    if !available {
        eprintln!("promtool/prometheus not found: no peer measurement");
    }
    available
}

fn prometheus_version() -> String {
    std::process::Command::new("prometheus")
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| {
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            text.split_whitespace().nth(2).map(str::to_string)
        })
        .unwrap_or_default()
}

/// The samples lookout ingested, as OpenMetrics for `promtool`: the same
/// series (`job` for the resource's service name), values and times.
fn write_openmetrics(path: &std::path::Path, start_ms: i64, steps: usize) {
    use std::io::Write as _;
    let file = std::fs::File::create(path).expect("create the OpenMetrics file");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut totals = vec![0.0f64; COUNTER_SERIES];
    writeln!(out, "# TYPE x counter").expect("write");
    for at in 0..steps {
        let t = (start_ms + at as i64 * STEP_MS) / 1000;
        for (series, total) in totals.iter_mut().enumerate() {
            *total += increment(series, at);
            writeln!(
                out,
                "x_total{{job=\"job-{}\",instance_id=\"i-{series}\"}} {total} {t}",
                series % JOBS
            )
            .expect("write");
        }
    }
    let mut histograms = vec![vec![0u64; BOUNDS.len() + 1]; HISTOGRAM_SERIES];
    writeln!(out, "# TYPE latency_seconds histogram").expect("write");
    for at in 0..steps {
        let t = (start_ms + at as i64 * STEP_MS) / 1000;
        for (series, counts) in histograms.iter_mut().enumerate() {
            let bucket = (increment(series + 7, at) as usize) % counts.len();
            counts[bucket] += 1 + (at % 3) as u64;
            let labels = format!("job=\"job-{}\",route=\"/r{series}\"", series % JOBS);
            let mut cumulative = 0;
            for (index, count) in counts.iter().enumerate() {
                cumulative += count;
                let le = BOUNDS
                    .get(index)
                    .map_or_else(|| "+Inf".to_string(), |bound| bound.to_string());
                writeln!(
                    out,
                    "latency_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative} {t}"
                )
                .expect("write");
            }
            writeln!(out, "latency_seconds_count{{{labels}}} {cumulative} {t}").expect("write");
            writeln!(
                out,
                "latency_seconds_sum{{{labels}}} {} {t}",
                cumulative as f64 * 0.1
            )
            .expect("write");
        }
    }
    writeln!(out, "# EOF").expect("write");
    out.flush().expect("flush");
}

/// Whether two `query_range` answers hold the same series and points
/// (values equal to 1e-9, relative), and how many points were compared.
fn compare_answers(ours: &serde_json::Value, theirs: &serde_json::Value) -> String {
    use std::collections::BTreeMap;
    let points = |answer: &serde_json::Value| -> BTreeMap<String, Vec<(f64, f64)>> {
        answer["data"]["result"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|series| {
                        let values = series["values"]
                            .as_array()
                            .map(|values| {
                                values
                                    .iter()
                                    .map(|point| {
                                        let t = point[0].as_f64().unwrap_or(f64::NAN);
                                        let v = point[1]
                                            .as_str()
                                            .and_then(|v| v.parse().ok())
                                            .unwrap_or(f64::NAN);
                                        (t, v)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (series["metric"].to_string(), values)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (ours, theirs) = (points(ours), points(theirs));
    if ours.keys().ne(theirs.keys()) {
        return format!(
            "**differ**: series {:?} vs {:?}",
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>()
        );
    }
    let mut compared = 0;
    for (labels, our_points) in &ours {
        let their_points = &theirs[labels];
        if our_points.len() != their_points.len() {
            return format!(
                "**differ**: {labels} has {} points vs {}",
                our_points.len(),
                their_points.len()
            );
        }
        for (&(t, a), &(u, b)) in our_points.iter().zip(their_points) {
            let same = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
            if t != u || !same {
                return format!("**differ**: {labels} at {t}: {a} vs {b} (at {u})");
            }
            compared += 1;
        }
    }
    format!("agree ({compared} points)")
}

fn compare_queries(
    current: &std::path::Path,
    baseline: &std::path::Path,
    data_dir: &std::path::Path,
    start_ms: i64,
    end_ms: i64,
    runs: usize,
) -> String {
    let rounds = env_usize("LOOKOUT_BENCH_AB_ROUNDS", 3).max(1);
    // [binary][query] → the p50 of each round.
    let mut p50s = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let binary = if which == 0 { current } else { baseline };
            let mut server = Server::start(binary, data_dir, &[]);
            for (q, query) in QUERIES.iter().enumerate() {
                let (times, _) = time_query(&server, query, start_ms, end_ms, runs);
                let p50 = percentile(&times, 0.5).as_secs_f64() * 1e3;
                eprintln!(
                    "A/B round {}: {} {query}: p50 {p50:.1} ms",
                    round + 1,
                    if which == 0 { "this build" } else { "baseline" }
                );
                p50s[which][q].push(p50);
            }
            server.stop(Duration::from_secs(60));
        }
    }
    let median = |values: &[f64]| {
        let mut values = values.to_vec();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Same data, this build vs `{}`, {rounds} alternating rounds of {runs} runs (median of the rounds' p50s):",
        baseline.display()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| query | this build | baseline | ratio |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (q, query) in QUERIES.iter().enumerate() {
        let (a, b) = (median(&p50s[0][q]), median(&p50s[1][q]));
        let _ = writeln!(out, "| `{query}` | {a:.1} ms | {b:.1} ms | {:.2} |", a / b);
    }
    out
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Bytes of chunk data and the samples they hold, and the bytes of the
/// head's WAL rows, read from the file.
#[allow(clippy::disallowed_methods)] // reads a stopped server's database
fn chunk_bytes(db: &std::path::Path) -> (u64, u64, u64) {
    let conn = Connection::open(db).expect("open db");
    conn.query_row(
        "SELECT COALESCE(SUM(length(data)), 0), COALESCE(SUM(samples), 0),
                (SELECT COALESCE(SUM(length(data)), 0) FROM metric_wal) FROM metric_chunks",
        [],
        |row| {
            Ok((
                row.get::<_, i64>(0)? as u64,
                row.get::<_, i64>(1)? as u64,
                row.get::<_, i64>(2)? as u64,
            ))
        },
    )
    .expect("chunk sizes")
}

fn main() {
    let hours = env_usize("LOOKOUT_BENCH_METRIC_HOURS", 24);
    let clients = env_usize("LOOKOUT_BENCH_CLIENTS", 4).max(1);
    let runs = env_usize("LOOKOUT_BENCH_QUERY_RUNS", 30).max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let steps = hours * 3_600_000 / STEP_MS as usize;
    // Samples end 15 minutes ago, so every finished hour is compacted.
    let start_ms = (now_ms - 15 * 60_000 - steps as i64 * STEP_MS) / STEP_MS * STEP_MS;
    let end_ms = start_ms + (steps as i64 - 1) * STEP_MS;
    eprintln!("encoding {hours} h of samples for {clients} clients…");
    let requests: Vec<_> = (0..clients)
        .map(|client| client_requests(client, clients, start_ms, steps))
        .collect();

    let mut server = Server::start(&binary, &data_dir, &[]);
    eprintln!("ingesting…");
    let result = ingest(&server, requests);
    server.stop(Duration::from_secs(60));

    // A restart's first write moves finished hours into chunks.
    let mut server = Server::start(&binary, &data_dir, &[]);
    let mut http = RawHttp::new(server.addr);
    let probe = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "bench_probe".into(),
                    data: Some(Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: ns(now_ms),
                            value: Some(number_data_point::Value::AsDouble(1.0)),
                            ..Default::default()
                        }],
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let response = http
        .request(
            "POST",
            "/v1/metrics",
            Some(("application/x-protobuf", &probe)),
        )
        .expect("probe");
    assert_eq!(response.status, 200);
    let reclaimed = raw_http::settle_free_pages(&mut http, Duration::from_secs(120));

    let query_end = end_ms;
    let query_start = end_ms - 24 * 3_600_000 + 60_000;
    let ours = QUERIES.map(|query| {
        time_query_at(
            server.addr,
            "/prometheus",
            query,
            query_start,
            query_end,
            runs,
        )
    });
    server.stop(Duration::from_secs(60));
    let [(rate_times, _), (quantile_times, _)] = &ours;
    let (rate_series, quantile_series) = (result_series(&ours[0].1), result_series(&ours[1].1));
    let peer = peer_enabled().then(|| {
        eprintln!("Prometheus on the same samples…");
        let openmetrics = dir.path().join("samples.om");
        write_openmetrics(&openmetrics, start_ms, steps);
        let prometheus = Prometheus::start(&openmetrics, dir.path());
        let _ = std::fs::remove_file(&openmetrics);
        let theirs = QUERIES
            .map(|query| time_query_at(prometheus.addr, "", query, query_start, query_end, runs));
        (prometheus.backfill, theirs)
    });
    let ab = std::env::var_os("LOOKOUT_BENCH_BASELINE").map(|baseline| {
        let baseline = PathBuf::from(baseline);
        assert!(baseline.is_file(), "LOOKOUT_BENCH_BASELINE is not a file");
        compare_queries(&binary, &baseline, &data_dir, query_start, query_end, runs)
    });
    let db = data_dir.join("lookout.db");
    let disk = proc::dir_size(&data_dir);
    let (chunk_data, chunk_samples, wal_bytes) = chunk_bytes(&db);

    eprintln!("raw SQLite ceiling…");
    let raw_rate = raw_ceiling(dir.path(), result.samples.min(5_000_000));

    let points_per_second = result.points as f64 / result.seconds;
    let samples_per_second = result.samples as f64 / result.seconds;
    let mut out = String::new();
    let _ = writeln!(out, "## Metrics benchmark ({})", proc::cpu_model());
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} series ({COUNTER_SERIES} counters, a {HISTOGRAM_SERIES}-series histogram with {} buckets), {hours} h at 15 s, {clients} clients, load {}",
        COUNTER_SERIES + HISTOGRAM_SERIES * (BOUNDS.len() + 3),
        BOUNDS.len(),
        proc::load_average()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| measure | value | target / peer |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| ingest, OTLP data points/s (durable ack) | {} | ≥ 500,000 {} |",
        thousands(points_per_second),
        verdict(points_per_second >= 500_000.0)
    );
    let _ = writeln!(
        out,
        "| ingest, samples/s | {} | raw SQLite, a row per sample: {} ({:.2}×) |",
        thousands(samples_per_second),
        thousands(raw_rate),
        samples_per_second / raw_rate
    );
    let _ = writeln!(
        out,
        "| server CPU per data point | {:.2} µs | — |",
        result.server_cpu_seconds * 1e6 / result.points as f64
    );
    let _ = writeln!(out, "| 503 retries | {} | — |", result.retries);
    let _ = writeln!(
        out,
        "| data directory per sample | {:.2} B ({} samples, {} still in the head, whose WAL rows take {} B; {} B of free pages given back after the compaction) | ≤ 4 B {} |",
        disk as f64 / result.samples as f64,
        thousands(result.samples as f64),
        thousands(result.samples.saturating_sub(chunk_samples) as f64),
        thousands(wal_bytes as f64),
        thousands(reclaimed as f64),
        verdict(disk as f64 / (result.samples as f64) <= 4.0)
    );
    let _ = writeln!(
        out,
        "| chunk data per sample | {:.3} B ({} samples in chunks) | — |",
        chunk_data as f64 / chunk_samples.max(1) as f64,
        thousands(chunk_samples as f64)
    );
    for (name, times, series, target) in [
        ("`sum by (job) (rate(x_total[5m]))`, 24 h, step 60 s", rate_times, rate_series, 50),
        (
            "`histogram_quantile(0.99, sum by (le, job) (rate(latency_seconds_bucket[5m])))`, 24 h, step 60 s",
            quantile_times,
            quantile_series,
            100,
        ),
    ] {
        let p50 = percentile(times, 0.5);
        let p99 = percentile(times, 0.99);
        let _ = writeln!(
            out,
            "| {name} ({series} result series) | p50 {:.1} ms, p99 {:.1} ms | p99 < {target} ms {} |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            verdict(p99 < Duration::from_millis(target))
        );
    }
    if let Some(ab) = ab {
        out.push_str(&ab);
    }
    if let Some((backfill, theirs)) = &peer {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Prometheus {} on the same samples (blocks built by `promtool` in {:.0} s), same queries, same runs:",
            prometheus_version(),
            backfill.as_secs_f64()
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| query | lookout p50 / p99 | Prometheus p50 / p99 | p50 ratio | answers |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for ((query, (our_times, our_answer)), (their_times, their_answer)) in
            QUERIES.iter().zip(&ours).zip(theirs)
        {
            let ms = |times: &[Duration], q: f64| percentile(times, q).as_secs_f64() * 1e3;
            let _ = writeln!(
                out,
                "| `{query}` | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {:.2} | {} |",
                ms(our_times, 0.5),
                ms(our_times, 0.99),
                ms(their_times, 0.5),
                ms(their_times, 0.99),
                ms(our_times, 0.5) / ms(their_times, 0.5),
                compare_answers(our_answer, their_answer)
            );
        }
    }
    println!("{out}");
    let target_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&target_dir);
    let _ = std::fs::write(target_dir.join("bench-metrics.md"), out);
}
