//! Performance benchmark of structured-log ingest and log search, with an
//! SQLite FTS5 table over the same corpus as the baseline.
//!
//! One run (`cargo bench --bench logs`) measures:
//! 1. end-to-end OTLP/HTTP log ingest: the release `lookout` binary runs as
//!    a separate process (`--log-refresh 1s`) and concurrent keep-alive
//!    clients POST pre-encoded protobuf requests of 1000 records; a request
//!    counts when its 2xx (sent after the journal commit) arrives. Also
//!    request latency, the time from the last ack until the last records
//!    are searchable, index bytes per record after a graceful stop (which
//!    waits, up to 20 s, for the server to give back the pages the journal's
//!    backlog freed), peak RSS and CPU per server thread;
//! 2. search latency over HTTP at the base size (1M records), then again
//!    after the same data directory has grown to the large size (10M), and
//!    the same searches in-process (`LogIndexes::search` on the stopped
//!    server's directory);
//! 3. the baseline: the same records in an SQLite FTS5 table built by one
//!    thread, and the same four searches in-process, at both sizes.
//!
//! Records are generated deterministically from their sequence number, so
//! the FTS5 table holds exactly what lookout ingested. Record `i` is stamped
//! `i × 3 ms` after the start of the corpus, which ends at the benchmark's
//! start: the base size spans 50 minutes, and the time span grows with the
//! data as it would on a live system.
//!
//! The results are printed as a markdown table and written to
//! `target/bench-logs.md`.
//!
//! Environment:
//! - `LOOKOUT_BENCH_LOGS` (default 1000000): records at the base size;
//! - `LOOKOUT_BENCH_LOGS_LARGE` (default 10000000): records at the large
//!   size (0 skips it);
//! - `LOOKOUT_BENCH_LOGS_BUDGET` (default 720): seconds the whole run may
//!   take; growth towards the large size stops, in steps of the base size,
//!   when the next step would not fit, and the report says so;
//! - `LOOKOUT_BENCH_CLIENTS` (default 4): concurrent client threads;
//! - `LOOKOUT_BENCH_QUERY_RUNS` (default 100): timed runs per search;
//! - `LOOKOUT_BENCH_LOGS_MAX_LAG` (default: the server's default): the
//!   server's `--log-max-lag`; `0` lets ingest run ahead of indexing;
//! - `LOOKOUT_BENCH_BASELINE` (unset): another lookout binary to A/B the
//!   base-size ingest against, `LOOKOUT_BENCH_AB_ROUNDS` (default 3) runs
//!   each, alternating (`support/ab.rs`);
//!
//! lookout itself is measured only through the release binary over HTTP;
//! the indexing speed alone is what the server reports
//! (`capacity_records_per_second` in `/health/deep`).

#[path = "support/ab.rs"]
mod ab;
#[path = "support/env.rs"]
mod env;
#[path = "support/proc.rs"]
mod proc;
#[path = "support/raw_http.rs"]
mod raw_http;
#[path = "support/report.rs"]
mod report;
#[path = "support/rng.rs"]
mod rng;
#[path = "support/server.rs"]
mod server;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use env::env_usize;
use lookout::model::UnixNanos;
use lookout::query::logs::{parse_log_filter, parse_page};
use lookout::store::logs::{LogIndexOptions, LogIndexes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proc::{clock_ticks, cpu_model, dir_size, load_average, thread_sched};
use prost::Message;
use raw_http::RawHttp;
use report::{percentile, thousands, verdict};
use rng::Rng;
use rusqlite::{params, Connection};
use server::Server;

const RECORDS_PER_REQUEST: usize = 1000;
/// Spacing of consecutive records: 1M records span 50 minutes.
const RECORD_SPACING_NANOS: u64 = 3_000_000;
/// How long the server may take to give back the pages the journal's
/// backlog freed (it waits for 5 s without records first).
const SETTLE_FREE_PAGES: Duration = Duration::from_secs(20);

/// How long `Server::stop` waits for the server to exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(300);
const INGEST_DEADLINE: Duration = Duration::from_secs(900);
const SEARCHABLE_DEADLINE: Duration = Duration::from_secs(300);
const MAX_RETRIES_PER_REQUEST: usize = 2000;
const RETRY_SLEEP: Duration = Duration::from_millis(20);
const WARMUP_RUNS: usize = 3;
const FTS_ROWS_PER_TRANSACTION: usize = 10_000;
const FTS_GENERATE_CHUNK: usize = 100_000;
/// Word appended to the last record of every request; counting it tells
/// when the last records of every request are searchable.
const MARKER: &str = "batchend";
const FIRST_NAME_SERVICES: [&str; 10] = [
    "checkout",
    "cart",
    "payments",
    "inventory",
    "shipping",
    "users",
    "search",
    "frontend",
    "notifications",
    "recommendations",
];
const REGIONS: [&str; 4] = ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"];
const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
/// Fixed phrases that open some bodies (real logs are templated).
const INFO_PHRASES: [&str; 6] = [
    "request completed",
    "cache miss for key",
    "user session refreshed",
    "order state changed",
    "message published to topic",
    "health probe ok",
];
const PROBLEM_PHRASES: [&str; 5] = [
    "connection reset by peer",
    "retrying after timeout",
    "slow query detected",
    "upstream returned error",
    "payment declined by issuer",
];
const ZIPF_WORDS: usize = 4000;
const RARE_WORDS: usize = 200;
/// Chance that a record carries one of the rare words.
const RARE_CHANCE: f64 = 0.002;
const BODY_CHARS: usize = 120;

// ---------------------------------------------------------------------------
// Settings

struct Settings {
    base: usize,
    large: usize,
    budget: Duration,
    clients: usize,
    query_runs: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let base = env_usize("LOOKOUT_BENCH_LOGS", 1_000_000).max(RECORDS_PER_REQUEST);
        let large = env_usize("LOOKOUT_BENCH_LOGS_LARGE", 10_000_000);
        Settings {
            base,
            large: if large == 0 { 0 } else { large.max(base) },
            budget: Duration::from_secs(env_usize("LOOKOUT_BENCH_LOGS_BUDGET", 720) as u64),
            clients: env_usize("LOOKOUT_BENCH_CLIENTS", 4).clamp(1, 64),
            query_runs: env_usize("LOOKOUT_BENCH_QUERY_RUNS", 100).max(1),
        }
    }
}

// ---------------------------------------------------------------------------
// The corpus

/// Words with Zipf-distributed frequencies, plus rare words.
struct Vocabulary {
    words: Vec<String>,
    /// Cumulative Zipf weights of `words`.
    cumulative: Vec<f64>,
    rare: Vec<String>,
}

impl Vocabulary {
    fn new() -> Vocabulary {
        const ONSETS: [&str; 16] = [
            "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "st",
        ];
        const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ai"];
        let mut rng = Rng(0x5EED_0F10_6500);
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        while all.len() < ZIPF_WORDS + RARE_WORDS {
            let syllables = 2 + rng.index(2);
            let mut word = String::new();
            for _ in 0..syllables {
                word.push_str(ONSETS[rng.index(ONSETS.len())]);
                word.push_str(VOWELS[rng.index(VOWELS.len())]);
            }
            if rng.chance(0.3) {
                word.push_str(["n", "r", "s", "x"][rng.index(4)]);
            }
            if seen.insert(word.clone()) {
                all.push(word);
            }
        }
        let rare = all.split_off(ZIPF_WORDS);
        let mut cumulative = Vec::with_capacity(all.len());
        let mut sum = 0.0;
        for rank in 0..all.len() {
            sum += 1.0 / (rank + 1) as f64;
            cumulative.push(sum);
        }
        Vocabulary {
            words: all,
            cumulative,
            rare,
        }
    }

    fn zipf(&self, rng: &mut Rng) -> &str {
        let total = *self.cumulative.last().expect("words");
        let target = rng.unit() * total;
        let rank = self
            .cumulative
            .partition_point(|&c| c < target)
            .min(self.words.len() - 1);
        &self.words[rank]
    }
}

/// One generated record; everything the FTS5 table stores, plus the rest
/// of what is sent over OTLP.
struct GenRecord {
    timestamp: u64,
    severity_number: i32,
    severity_text: &'static str,
    service: usize,
    body: String,
    trace: Option<([u8; 16], [u8; 8])>,
    method: &'static str,
    status: i64,
    region: &'static str,
    user: u64,
}

struct Corpus {
    vocabulary: Vocabulary,
    /// Timestamp of record 0.
    origin: u64,
}

impl Corpus {
    fn record(&self, index: usize) -> GenRecord {
        let mut rng = Rng::for_record(index as u64);
        let roll = rng.unit();
        let (severity_number, severity_text) = if roll < 0.05 {
            (5, "DEBUG")
        } else if roll < 0.90 {
            (9, "INFO")
        } else if roll < 0.97 {
            (13, "WARN")
        } else {
            (17, "ERROR")
        };
        let mut body = String::with_capacity(BODY_CHARS + 40);
        if severity_number >= 13 && rng.chance(0.7) {
            body.push_str(PROBLEM_PHRASES[rng.index(PROBLEM_PHRASES.len())]);
        } else if rng.chance(0.3) {
            body.push_str(INFO_PHRASES[rng.index(INFO_PHRASES.len())]);
        }
        if rng.chance(RARE_CHANCE) {
            if !body.is_empty() {
                body.push(' ');
            }
            body.push_str(&self.vocabulary.rare[rng.index(RARE_WORDS)]);
        }
        while body.len() < BODY_CHARS {
            if !body.is_empty() {
                body.push(' ');
            }
            if rng.chance(0.06) {
                let _ = write!(body, "{}ms", rng.index(5000));
            } else {
                body.push_str(self.vocabulary.zipf(&mut rng));
            }
        }
        if (index + 1).is_multiple_of(RECORDS_PER_REQUEST) {
            body.push(' ');
            body.push_str(MARKER);
        }
        let trace = rng.chance(0.3).then(|| (rng.id::<16>(), rng.id::<8>()));
        let status = if severity_number >= 17 {
            [500, 502, 503][rng.index(3)]
        } else if severity_number == 13 {
            [404, 409, 429][rng.index(3)]
        } else {
            200
        };
        GenRecord {
            timestamp: self.timestamp(index) + rng.index(RECORD_SPACING_NANOS as usize / 2) as u64,
            severity_number,
            severity_text,
            service: rng.index(FIRST_NAME_SERVICES.len()),
            body,
            trace,
            method: METHODS[rng.index(METHODS.len())],
            status,
            region: REGIONS[rng.index(REGIONS.len())],
            user: rng.index(50_000) as u64,
        }
    }

    /// The earliest possible timestamp of record `index` (records are in
    /// time order; jitter stays below half the spacing).
    fn timestamp(&self, index: usize) -> u64 {
        self.origin + index as u64 * RECORD_SPACING_NANOS
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn string_value(text: &str) -> any_value::Value {
    any_value::Value::StringValue(text.into())
}

/// Records `range` as one OTLP request: one resource per service, records
/// in order within each.
fn encode_request(corpus: &Corpus, range: std::ops::Range<usize>) -> Vec<u8> {
    let mut by_service: Vec<Vec<LogRecord>> = vec![Vec::new(); FIRST_NAME_SERVICES.len()];
    for index in range {
        let record = corpus.record(index);
        let (trace_id, span_id) = match record.trace {
            Some((trace, span)) => (trace.to_vec(), span.to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        by_service[record.service].push(LogRecord {
            time_unix_nano: record.timestamp,
            observed_time_unix_nano: record.timestamp + 1_000_000,
            severity_number: record.severity_number,
            severity_text: record.severity_text.into(),
            body: Some(AnyValue {
                value: Some(string_value(&record.body)),
            }),
            attributes: vec![
                kv("http.method", string_value(record.method)),
                kv(
                    "http.status_code",
                    any_value::Value::IntValue(record.status),
                ),
                kv("cloud.region", string_value(record.region)),
                kv("user.id", string_value(&format!("u{}", record.user))),
            ],
            trace_id,
            span_id,
            flags: u32::from(record.trace.is_some()),
            ..LogRecord::default()
        });
    }
    let resource_logs = by_service
        .into_iter()
        .enumerate()
        .filter(|(_, records)| !records.is_empty())
        .map(|(service, log_records)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", string_value(FIRST_NAME_SERVICES[service])),
                    kv(
                        "host.name",
                        string_value(&format!("{}-{}", FIRST_NAME_SERVICES[service], service % 3)),
                    ),
                ],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: format!("{}.logger", FIRST_NAME_SERVICES[service]),
                    ..InstrumentationScope::default()
                }),
                log_records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

/// Requests for records `range` (a multiple of the request size).
fn encode_requests(corpus: &Corpus, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    let starts: Vec<usize> = range.clone().step_by(RECORDS_PER_REQUEST).collect();
    let threads = 2;
    let per_thread = starts.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = starts
            .chunks(per_thread.max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|&start| {
                            encode_request(
                                corpus,
                                start..(start + RECORDS_PER_REQUEST).min(range.end),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("encoder thread"))
            .collect()
    })
}

// ---------------------------------------------------------------------------
// The searches

/// One benchmark search, expressed as `/api/logs` parameters and as FTS5.
struct Search {
    name: &'static str,
    q: String,
    level: Option<&'static str>,
    /// Only the last hour of the data instead of all of it.
    last_hour: bool,
    /// The FTS5 MATCH expression.
    fts_match: String,
}

fn searches(vocabulary: &Vocabulary) -> Vec<Search> {
    let rare = vocabulary.rare[7].clone();
    let common = vocabulary.words[3].clone();
    vec![
        Search {
            name: "rare word",
            q: rare.clone(),
            level: None,
            last_hour: false,
            fts_match: rare,
        },
        Search {
            name: "phrase",
            q: "\"connection reset by peer\"".into(),
            level: None,
            last_hour: false,
            fts_match: "\"connection reset by peer\"".into(),
        },
        Search {
            name: "common word, newest 100",
            q: common.clone(),
            level: None,
            last_hour: false,
            fts_match: common,
        },
        Search {
            name: "word + level=warn + 1 h",
            q: "timeout".into(),
            level: Some("warn"),
            last_hour: true,
            fts_match: "timeout".into(),
        },
    ]
}

/// The query parameters of `search` over a corpus of `records`.
fn search_params(search: &Search, corpus: &Corpus, records: usize) -> Vec<(String, String)> {
    let end_ms = corpus.timestamp(records) / 1_000_000 + 1;
    let start_ms = if search.last_hour {
        end_ms - 3_600_000
    } else {
        corpus.origin / 1_000_000
    };
    let mut out = vec![
        ("q".to_string(), search.q.clone()),
        ("start".to_string(), start_ms.to_string()),
        ("end".to_string(), end_ms.to_string()),
        ("limit".to_string(), "100".to_string()),
    ];
    if let Some(level) = search.level {
        out.push(("level".to_string(), level.to_string()));
    }
    out
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn search_path(params: &[(String, String)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(key, value)| format!("{key}={}", percent_encode(value)))
        .collect();
    format!("/api/logs?{}", query.join("&"))
}

#[derive(Clone, Default)]
struct Timing {
    p50: Duration,
    p99: Duration,
    total: u64,
    hits: usize,
}

fn timing(mut samples: Vec<Duration>, total: u64, hits: usize) -> Timing {
    samples.sort();
    Timing {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
        total,
        hits,
    }
}

/// Times `run` `runs` times after a warm-up; `run` returns (total, hits).
fn time_runs(runs: usize, mut run: impl FnMut() -> (u64, usize)) -> Timing {
    let mut result = (0, 0);
    for _ in 0..WARMUP_RUNS {
        result = run();
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let began = Instant::now();
        result = run();
        samples.push(began.elapsed());
    }
    timing(samples, result.0, result.1)
}

fn http_searches(
    addr: SocketAddr,
    corpus: &Corpus,
    list: &[Search],
    records: usize,
    runs: usize,
) -> Vec<Timing> {
    let mut client = RawHttp::new(addr);
    list.iter()
        .map(|search| {
            let path = search_path(&search_params(search, corpus, records));
            time_runs(runs, || {
                let response = client.request("GET", &path, None).expect("search");
                assert_eq!(
                    response.status,
                    200,
                    "{path}: {}",
                    String::from_utf8_lossy(&response.body)
                );
                let json: serde_json::Value =
                    serde_json::from_slice(&response.body).expect("search JSON");
                let hits = json["logs"].as_array().map_or(0, Vec::len);
                (json["total"].as_u64().unwrap_or(0), hits)
            })
        })
        .collect()
}

fn inprocess_searches(
    logs_dir: &Path,
    corpus: &Corpus,
    list: &[Search],
    records: usize,
    runs: usize,
) -> Vec<Timing> {
    let indexes = LogIndexes::open(logs_dir, LogIndexOptions::default()).expect("open indexes");
    let now = UnixNanos::now();
    list.iter()
        .map(|search| {
            let params = search_params(search, corpus, records);
            time_runs(runs, || {
                // Parsing is part of the request, as on the server.
                let filter = parse_log_filter(&params, now).expect("filter");
                let page = parse_page(&params).expect("page");
                let result = indexes.search(&filter, &page).expect("search");
                (result.total, result.hits.len())
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The FTS5 baseline

struct Fts {
    conn: Connection,
    path: PathBuf,
    rows: usize,
    insert_time: Duration,
}

impl Fts {
    #[allow(clippy::disallowed_methods)] // baseline, not lookout's store
    fn create(path: &Path) -> Fts {
        let conn = Connection::open(path).expect("open fts db");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;
             CREATE VIRTUAL TABLE logs USING fts5(
                 body, service UNINDEXED, severity UNINDEXED, ts UNINDEXED,
                 tokenize = 'unicode61');",
        )
        .expect("create fts table");
        Fts {
            conn,
            path: path.to_path_buf(),
            rows: 0,
            insert_time: Duration::ZERO,
        }
    }

    /// Adds records up to `records` (rowid = index + 1, so rowid order is
    /// time order); generation is not timed.
    fn grow_to(&mut self, corpus: &Corpus, records: usize) {
        while self.rows < records {
            let end = (self.rows + FTS_GENERATE_CHUNK).min(records);
            let batch: Vec<GenRecord> = (self.rows..end).map(|i| corpus.record(i)).collect();
            let began = Instant::now();
            for (chunk_index, chunk) in batch.chunks(FTS_ROWS_PER_TRANSACTION).enumerate() {
                let tx = self.conn.transaction().expect("begin");
                {
                    let mut insert = tx
                        .prepare_cached(
                            "INSERT INTO logs(rowid, body, service, severity, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )
                        .expect("prepare insert");
                    for (offset, record) in chunk.iter().enumerate() {
                        let rowid = self.rows + chunk_index * FTS_ROWS_PER_TRANSACTION + offset + 1;
                        insert
                            .execute(params![
                                rowid as i64,
                                record.body,
                                FIRST_NAME_SERVICES[record.service],
                                record.severity_number,
                                record.timestamp as i64
                            ])
                            .expect("insert");
                    }
                }
                tx.commit().expect("commit");
            }
            self.insert_time += began.elapsed();
            self.rows = end;
        }
        let began = Instant::now();
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint");
        self.insert_time += began.elapsed();
    }

    fn bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        file_size(&self.path) + file_size(&wal)
    }

    /// The smallest rowid whose timestamp is at least `ts` (timestamps
    /// grow with the rowid), by binary search on rowid lookups.
    fn first_rowid_at(&self, ts: i64) -> i64 {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ts FROM logs WHERE rowid = ?1")
            .expect("prepare ts lookup");
        let (mut low, mut high) = (1i64, self.rows as i64 + 1);
        while low < high {
            let mid = low + (high - low) / 2;
            let at: i64 = stmt.query_row([mid], |row| row.get(0)).expect("ts lookup");
            if at < ts {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// Newest 100 matches plus the total, as lookout answers.
    fn search(&self, search: &Search, corpus: &Corpus, records: usize) -> (u64, usize) {
        let (low, high, min_severity) = if search.last_hour {
            let end = corpus.timestamp(records) as i64 + 1_000_000;
            let low = self.first_rowid_at(end - 3_600_000_000_000);
            (low, i64::MAX, 13)
        } else {
            (1, i64::MAX, 0)
        };
        // Only the range query filters on severity: an UNINDEXED column
        // costs a row read per match.
        let filter = if min_severity > 0 {
            "logs MATCH ?1 AND rowid BETWEEN ?2 AND ?3 AND severity >= ?4"
        } else {
            "logs MATCH ?1 AND rowid BETWEEN ?2 AND ?3 AND ?4 = 0"
        };
        let mut page = self
            .conn
            .prepare_cached(&format!(
                "SELECT rowid, body, service, severity, ts FROM logs WHERE {filter}
                 ORDER BY rowid DESC LIMIT 100"
            ))
            .expect("prepare page");
        let hits = page
            .query_map(params![search.fts_match, low, high, min_severity], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })
            .expect("page")
            .filter_map(Result::ok)
            .count();
        let mut count = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM logs WHERE {filter}"))
            .expect("prepare count");
        let total: i64 = count
            .query_row(params![search.fts_match, low, high, min_severity], |row| {
                row.get(0)
            })
            .expect("count");
        (total as u64, hits)
    }

    fn searches(
        &self,
        corpus: &Corpus,
        list: &[Search],
        records: usize,
        runs: usize,
    ) -> Vec<Timing> {
        list.iter()
            .map(|search| time_runs(runs, || self.search(search, corpus, records)))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// The server process

/// Flags of every server run: searches see new records within a second,
/// and `LOOKOUT_BENCH_LOGS_MAX_LAG`, when set, becomes `--log-max-lag`
/// (the server does not inherit `LOOKOUT_*` variables).
fn server_args() -> Vec<String> {
    let mut args = vec!["--log-refresh".to_string(), "1s".to_string()];
    if let Ok(lag) = std::env::var("LOOKOUT_BENCH_LOGS_MAX_LAG") {
        args.extend(["--log-max-lag".to_string(), lag]);
    }
    args
}

// ---------------------------------------------------------------------------
// Ingest

struct IngestResult {
    records: usize,
    /// From the first request until the last 2xx.
    wall: Duration,
    latencies: Vec<Duration>,
    retries: usize,
    /// From the last 2xx until every marker was searchable.
    searchable_after: Duration,
    /// CPU seconds per server thread name over ingest and indexing.
    thread_cpu: Vec<(String, f64)>,
    /// Wall time the thread CPU figures cover.
    cpu_wall: Duration,
}

/// POSTs `requests` with `clients` keep-alive connections, then waits until
/// `expected_markers` records carry the marker in the search results.
fn ingest(
    server: &Server,
    corpus: &Corpus,
    requests: Vec<Vec<u8>>,
    clients: usize,
    records_after: usize,
    ticks: f64,
) -> IngestResult {
    let records = requests.len() * RECORDS_PER_REQUEST;
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = thread_sched(server.pid());
    let process_before = server.process_cpu(ticks);
    let began = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let requests = Arc::clone(&requests);
            let next = Arc::clone(&next);
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut client = RawHttp::new(addr);
                let mut latencies = Vec::new();
                let mut retries = 0;
                let mut last_ack = Instant::now();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = requests.get(index) else {
                        break;
                    };
                    let mut attempts = 0;
                    loop {
                        let sent = Instant::now();
                        let response = client
                            .request("POST", "/v1/logs", Some(("application/x-protobuf", body)))
                            .expect("POST /v1/logs");
                        if (200..300).contains(&response.status) {
                            last_ack = Instant::now();
                            latencies.push(last_ack - sent);
                            break;
                        }
                        assert!(
                            response.status == 503 || response.status == 429,
                            "POST /v1/logs: {} {}",
                            response.status,
                            String::from_utf8_lossy(&response.body)
                        );
                        attempts += 1;
                        retries += 1;
                        assert!(
                            attempts < MAX_RETRIES_PER_REQUEST && began.elapsed() < INGEST_DEADLINE,
                            "ingest did not finish in time"
                        );
                        std::thread::sleep(RETRY_SLEEP);
                    }
                }
                (latencies, retries, last_ack)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut retries = 0;
    let mut last_ack = began;
    for handle in handles {
        let (thread_latencies, thread_retries, thread_last) = handle.join().expect("client thread");
        latencies.extend(thread_latencies);
        retries += thread_retries;
        last_ack = last_ack.max(thread_last);
    }
    let wall = last_ack - began;
    // Every request's last record holds the marker: all are searchable once
    // the marker count reaches the number of requests so far.
    let expected = (records_after / RECORDS_PER_REQUEST) as u64;
    let path = search_path(&[
        ("q".into(), MARKER.into()),
        ("start".into(), (corpus.origin / 1_000_000).to_string()),
        (
            "end".into(),
            (corpus.timestamp(records_after) / 1_000_000 + 1).to_string(),
        ),
        ("limit".into(), "1".into()),
    ]);
    let mut client = RawHttp::new(server.addr);
    let searchable_after = loop {
        let response = client.request("GET", &path, None).expect("marker search");
        let json: serde_json::Value =
            serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null);
        if json["total"].as_u64() == Some(expected) {
            break last_ack.elapsed();
        }
        assert!(
            last_ack.elapsed() < SEARCHABLE_DEADLINE,
            "records not searchable after {SEARCHABLE_DEADLINE:?}: {} of {expected} markers",
            json["total"]
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let cpu_wall = began.elapsed();
    let cpu_after = thread_sched(server.pid());
    let process_cpu = server.process_cpu(ticks) - process_before;
    let mut thread_cpu: Vec<(String, f64)> = cpu_after
        .iter()
        .map(|(name, after)| {
            let before = cpu_before.get(name).map_or(0.0, |sched| sched.on_cpu);
            (name.clone(), after.on_cpu - before)
        })
        .filter(|(_, cpu)| *cpu >= 0.05)
        .collect();
    // Threads that ended in between (tantivy's indexing workers end at
    // every commit) only show in the process total.
    let live: f64 = thread_cpu.iter().map(|(_, cpu)| cpu).sum();
    if process_cpu - live >= 0.05 {
        thread_cpu.push(("(threads ended meanwhile)".into(), process_cpu - live));
    }
    thread_cpu.sort_by(|a, b| b.1.total_cmp(&a.1));
    IngestResult {
        records,
        wall,
        latencies,
        retries,
        searchable_after,
        thread_cpu,
        cpu_wall,
    }
}

// ---------------------------------------------------------------------------
// Helpers

fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

fn millions(records: usize) -> String {
    if records.is_multiple_of(1_000_000) {
        format!("{}M", records / 1_000_000)
    } else {
        thousands(records as f64)
    }
}

/// Everything measured at one corpus size.
struct SizeResult {
    records: usize,
    http: Vec<Timing>,
    inprocess: Vec<Timing>,
    fts: Vec<Timing>,
    index_bytes: u64,
    data_bytes: u64,
    /// Bytes of the data directory by part: tantivy's files by extension
    /// (`store` = the stored records, `pos` = positions, …) and the
    /// other files by name; largest first.
    parts: Vec<(String, u64)>,
    /// Bytes of the log indexes by field and component (tantivy's own
    /// space accounting over every day's segments); largest first.
    fields: Vec<(String, u64)>,
    fts_bytes: u64,
    peak_rss_kib: u64,
    /// Free database pages the server gave back before its stop (the log
    /// journal's backlog, once indexed and no record came for a while).
    reclaimed_bytes: u64,
}

/// Bytes under `dir` by part: files under `logs/` by extension, others by
/// file name (`lookout.db`, its WAL, …).
fn dir_parts(dir: &Path) -> Vec<(String, u64)> {
    fn walk(path: &Path, in_logs: bool, parts: &mut BTreeMap<String, u64>) {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if meta.is_dir() {
                walk(&path, in_logs || name == "logs", parts);
            } else {
                let part = if in_logs {
                    let extension = path.extension().map(|e| e.to_string_lossy().into_owned());
                    format!("logs/*.{}", extension.unwrap_or_default())
                } else {
                    name
                };
                *parts.entry(part).or_default() += meta.len();
            }
        }
    }
    let mut parts = BTreeMap::new();
    walk(dir, false, &mut parts);
    let mut parts: Vec<(String, u64)> = parts.into_iter().collect();
    parts.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    parts
}

/// Bytes of every day index under `logs_dir` by field and component
/// (`body positions`, `trace_id terms`, …; the stored records are one
/// part, `stored records`), from tantivy's space accounting.
fn index_fields(logs_dir: &Path) -> Vec<(String, u64)> {
    let mut fields: BTreeMap<String, u64> = BTreeMap::new();
    let mut segments: Vec<u32> = Vec::new();
    let Ok(days) = std::fs::read_dir(logs_dir) else {
        return Vec::new();
    };
    for day in days.flatten() {
        if !day.path().join("meta.json").exists() {
            continue;
        }
        let usage = tantivy::Index::open_in_dir(day.path())
            .and_then(|index| Ok(index.reader()?.searcher().space_usage()?));
        let usage = match usage {
            Ok(usage) => usage,
            Err(error) => {
                eprintln!("space usage of {}: {error}", day.path().display());
                continue;
            }
        };
        for segment in usage.segments() {
            segments.push(segment.num_docs());
            for (component, per_field) in [
                ("terms", segment.termdict()),
                ("postings", segment.postings()),
                ("positions", segment.positions()),
                ("fast", segment.fast_fields()),
                ("norms", segment.fieldnorms()),
            ] {
                for field in per_field.fields() {
                    *fields
                        .entry(format!("{} {component}", field.field_name()))
                        .or_default() += field.total().get_bytes();
                }
            }
            *fields.entry("stored records".into()).or_default() +=
                segment.store().total().get_bytes();
        }
    }
    let mut fields: Vec<(String, u64)> = fields.into_iter().collect();
    fields.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    segments.sort_unstable_by_key(|docs| std::cmp::Reverse(*docs));
    eprintln!(
        "{} segments, records per segment largest first: {segments:?}",
        segments.len()
    );
    fields
}

fn cpu_table(out: &mut String, result: &IngestResult) {
    let wall = result.cpu_wall.as_secs_f64();
    let _ = writeln!(
        out,
        "\nServer CPU per thread over the ingest and until searchable ({wall:.1} s wall, 2 cores shared with the client):\n"
    );
    let _ = writeln!(out, "| thread | CPU s | % of one core |");
    let _ = writeln!(out, "|---|---:|---:|");
    let total: f64 = result.thread_cpu.iter().map(|(_, cpu)| cpu).sum();
    for (name, cpu) in &result.thread_cpu {
        let _ = writeln!(
            out,
            "| `{name}` | {cpu:.1} | {:.0} % |",
            100.0 * cpu / wall.max(1e-9)
        );
    }
    let _ = writeln!(
        out,
        "| whole process | {total:.1} | {:.0} % |",
        100.0 * total / wall.max(1e-9)
    );
}

// ---------------------------------------------------------------------------
// Indexing alone

fn main() {
    let settings = Settings::from_env();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_lookout"));
    let ticks = clock_ticks();
    let run_began = Instant::now();
    let profile = if cfg!(debug_assertions) {
        "debug (numbers not meaningful)"
    } else {
        "release (bench profile)"
    };
    eprintln!(
        "logs bench: {} records, then up to {}, {} clients, budget {:?}, {profile}",
        settings.base, settings.large, settings.clients, settings.budget
    );
    let load_before = load_average();
    let planned = settings.large.max(settings.base);
    let corpus = Corpus {
        vocabulary: Vocabulary::new(),
        origin: now_nanos() - planned as u64 * RECORD_SPACING_NANOS,
    };
    let list = searches(&corpus.vocabulary);
    let tmp = tempfile::Builder::new()
        .prefix("lookout-bench-logs-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir");
    let data_dir = tmp.path().join("data");
    let fts_path = tmp.path().join("fts5.db");
    let mut load_samples = vec![load_before.clone()];

    // --- 1. Base size: ingest, search.
    let base = settings.base / RECORDS_PER_REQUEST * RECORDS_PER_REQUEST;
    let encode_began = Instant::now();
    let requests = encode_requests(&corpus, 0..base);
    let request_bytes: usize = requests.iter().map(Vec::len).sum();
    let encode_time = encode_began.elapsed();
    eprintln!(
        "encoded {} requests ({:.1} MB) in {:.1} s",
        requests.len(),
        request_bytes as f64 / 1e6,
        encode_time.as_secs_f64()
    );
    let mut server = Server::start(&binary, &data_dir, &server_args());
    let base_ingest = ingest(&server, &corpus, requests, settings.clients, base, ticks);
    load_samples.push(load_average());
    eprintln!(
        "ingested {} records in {:.1} s; searchable {:.2} s after the last ack",
        base_ingest.records,
        base_ingest.wall.as_secs_f64(),
        base_ingest.searchable_after.as_secs_f64()
    );
    let base_http = http_searches(server.addr, &corpus, &list, base, settings.query_runs);
    let base_rss = server.peak_rss_kib();
    let base_reclaimed =
        raw_http::settle_free_pages(&mut RawHttp::new(server.addr), SETTLE_FREE_PAGES);
    server.stop(SHUTDOWN_TIMEOUT);
    let base_index_bytes = dir_size(&data_dir.join("logs"));
    let base_data_bytes = dir_size(&data_dir);
    let base_parts = dir_parts(&data_dir);
    let base_fields = index_fields(&data_dir.join("logs"));
    let base_inprocess = inprocess_searches(
        &data_dir.join("logs"),
        &corpus,
        &list,
        base,
        settings.query_runs,
    );
    let mut fts = Fts::create(&fts_path);
    fts.grow_to(&corpus, base);
    let fts_base_rate = base as f64 / fts.insert_time.as_secs_f64();
    let base_fts = fts.searches(&corpus, &list, base, settings.query_runs);
    let mut sizes = vec![SizeResult {
        records: base,
        http: base_http,
        inprocess: base_inprocess,
        fts: base_fts,
        index_bytes: base_index_bytes,
        data_bytes: base_data_bytes,
        parts: base_parts,
        fields: base_fields,
        fts_bytes: fts.bytes(),
        peak_rss_kib: base_rss,
        reclaimed_bytes: base_reclaimed,
    }];
    eprintln!(
        "base size done after {:.0} s",
        run_began.elapsed().as_secs_f64()
    );

    // --- 2. Grow the same data directory towards the large size.
    let mut grown = base;
    let mut growth_wall = Duration::ZERO;
    let mut growth_latencies = Vec::new();
    let mut growth_retries = 0;
    let mut growth_searchable = Duration::ZERO;
    let mut growth_cpu: Option<IngestResult> = None;
    let mut stopped_by_budget = false;
    if settings.large > base {
        let mut server = Server::start(&binary, &data_dir, &server_args());
        let step = base;
        let per_step_estimate = |wall: Duration| {
            // Encoding plus ingest of one step at the rate seen so far, plus
            // the FTS5 rows of that step at its measured rate.
            encode_time + wall + Duration::from_secs_f64(step as f64 / fts_base_rate)
        };
        let mut last_step_wall = base_ingest.wall + base_ingest.searchable_after;
        // Searches at the end (HTTP, in-process, FTS5) and the final stop.
        let reserve = Duration::from_secs(60);
        while grown < settings.large {
            let next = (grown + step).min(settings.large);
            // The FTS5 rows of the steps already taken are added at the end.
            let fts_pending = Duration::from_secs_f64((grown - base) as f64 / fts_base_rate);
            let projected =
                run_began.elapsed() + per_step_estimate(last_step_wall) + fts_pending + reserve;
            if projected > settings.budget {
                stopped_by_budget = true;
                break;
            }
            let requests = encode_requests(&corpus, grown..next);
            let result = ingest(&server, &corpus, requests, settings.clients, next, ticks);
            growth_wall += result.wall;
            growth_latencies.extend(result.latencies.iter().copied());
            growth_retries += result.retries;
            growth_searchable = result.searchable_after;
            last_step_wall = result.wall + result.searchable_after;
            grown = next;
            load_samples.push(load_average());
            eprintln!(
                "grown to {grown} records ({:.0} records/s this step, searchable after {:.2} s), {:.0} s into the run",
                result.records as f64 / result.wall.as_secs_f64(),
                result.searchable_after.as_secs_f64(),
                run_began.elapsed().as_secs_f64()
            );
            growth_cpu = Some(result);
        }
        if grown > base {
            let http = http_searches(server.addr, &corpus, &list, grown, settings.query_runs);
            let rss = server.peak_rss_kib();
            let reclaimed_bytes =
                raw_http::settle_free_pages(&mut RawHttp::new(server.addr), SETTLE_FREE_PAGES);
            server.stop(SHUTDOWN_TIMEOUT);
            let index_bytes = dir_size(&data_dir.join("logs"));
            let data_bytes = dir_size(&data_dir);
            let parts = dir_parts(&data_dir);
            let fields = index_fields(&data_dir.join("logs"));
            let inprocess = inprocess_searches(
                &data_dir.join("logs"),
                &corpus,
                &list,
                grown,
                settings.query_runs,
            );
            fts.grow_to(&corpus, grown);
            let fts_timings = fts.searches(&corpus, &list, grown, settings.query_runs);
            sizes.push(SizeResult {
                records: grown,
                http,
                inprocess,
                fts: fts_timings,
                index_bytes,
                data_bytes,
                parts,
                fields,
                fts_bytes: fts.bytes(),
                peak_rss_kib: rss,
                reclaimed_bytes,
            });
        } else {
            server.stop(SHUTDOWN_TIMEOUT);
        }
    }
    load_samples.push(load_average());
    let fts_rate = fts.rows as f64 / fts.insert_time.as_secs_f64();

    // --- 3. Report.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {} × {}; load average (1/5/15 min) before, during and after: {}.",
        std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model(),
        load_samples.join(" → ")
    );
    let _ = writeln!(
        out,
        "Corpus: {} records at the base size{}; {} words per Zipf vocabulary plus {RARE_WORDS} rare words, ~{BODY_CHARS}-char bodies, 10 services, 85 % INFO / 7 % WARN / 3 % ERROR / 5 % DEBUG, 4 attributes, 30 % with trace ids, one record per 3 ms ({:.0} minutes of timestamps at the base size). Requests of {RECORDS_PER_REQUEST} records (protobuf, {:.0} KB each), {} keep-alive clients, `--log-refresh 1s`, `--log-max-lag {}`. Run took {:.0} s.",
        millions(base),
        match sizes.get(1) {
            Some(large) => format!(", grown to {}", millions(large.records)),
            None => String::new(),
        },
        ZIPF_WORDS,
        (base as u64 * RECORD_SPACING_NANOS) as f64 / 60e9,
        request_bytes as f64 / (base / RECORDS_PER_REQUEST) as f64 / 1e3,
        settings.clients,
        std::env::var("LOOKOUT_BENCH_LOGS_MAX_LAG").unwrap_or_else(|_| "2s (default)".into()),
        run_began.elapsed().as_secs_f64()
    );
    if stopped_by_budget {
        let _ = writeln!(
            out,
            "\n**The large size was cut to {} records (asked for {}): the next step of {} would not have fit the {} s budget.**",
            millions(grown),
            millions(settings.large),
            millions(base),
            settings.budget.as_secs()
        );
    }

    let mut latencies = base_ingest.latencies.clone();
    latencies.sort();
    let rate = base_ingest.records as f64 / base_ingest.wall.as_secs_f64();
    let _ = writeln!(out, "\n### Ingest (end to end, OTLP/HTTP protobuf)\n");
    let _ = writeln!(
        out,
        "| measure | {} | growth to {} |",
        millions(base),
        millions(grown)
    );
    let _ = writeln!(out, "|---|---:|---:|");
    growth_latencies.sort();
    let growth_rate = if growth_wall.is_zero() {
        0.0
    } else {
        (grown - base) as f64 / growth_wall.as_secs_f64()
    };
    let na = || "–".to_string();
    let growth = |text: String| if grown > base { text } else { na() };
    let _ = writeln!(
        out,
        "| records/s, durable ack (until the last 2xx) | {} | {} |",
        thousands(rate),
        growth(thousands(growth_rate))
    );
    let _ = writeln!(
        out,
        "| request p50 / p99 (1000 records) | {} / {} | {} |",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        growth(format!(
            "{} / {}",
            ms(percentile(&growth_latencies, 0.5)),
            ms(percentile(&growth_latencies, 0.99))
        ))
    );
    let _ = writeln!(
        out,
        "| 503 retries | {} | {} |",
        base_ingest.retries,
        growth(growth_retries.to_string())
    );
    let _ = writeln!(
        out,
        "| last ack → last records searchable | {:.2} s | {} |",
        base_ingest.searchable_after.as_secs_f64(),
        growth(format!(
            "{:.2} s (last step)",
            growth_searchable.as_secs_f64()
        ))
    );
    for size in &sizes {
        let _ = writeln!(
            out,
            "| at {}: index bytes/record (`logs/`) · whole data dir · peak RSS | {:.0} B · {:.0} B · {:.0} MiB | |",
            millions(size.records),
            size.index_bytes as f64 / size.records as f64,
            size.data_bytes as f64 / size.records as f64,
            size.peak_rss_kib as f64 / 1024.0
        );
    }
    for size in &sizes {
        let _ = writeln!(
            out,
            "\nData directory at {} by part (after {:.1} MB of free database pages went back), bytes/record: {}.",
            millions(size.records),
            size.reclaimed_bytes as f64 / 1e6,
            size.parts
                .iter()
                .filter(|(_, bytes)| *bytes as f64 / size.records as f64 >= 0.5)
                .map(|(part, bytes)| format!("`{part}` {:.0}", *bytes as f64 / size.records as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "\nLog indexes at {} by field and component, bytes/record: {}.",
            millions(size.records),
            size.fields
                .iter()
                .filter(|(_, bytes)| *bytes as f64 / size.records as f64 >= 0.1)
                .map(|(part, bytes)| format!("{part} {:.1}", *bytes as f64 / size.records as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    cpu_table(&mut out, &base_ingest);
    if let Some(result) = &growth_cpu {
        let _ = write!(out, "\nLast growth step (to {}):", millions(grown));
        cpu_table(&mut out, result);
    }

    let _ = writeln!(out, "\n### Search latency (p50 / p99 over {} runs; top 100 newest first with the exact total)\n", settings.query_runs);
    let _ = writeln!(
        out,
        "| query | records | total | lookout HTTP | lookout in-process | FTS5 in-process (page + count) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for size in &sizes {
        for (index, search) in list.iter().enumerate() {
            let (http, local, fts_timing) =
                (&size.http[index], &size.inprocess[index], &size.fts[index]);
            let full_page = |timing: &Timing| timing.hits as u64 == timing.total.min(100);
            assert!(
                full_page(http) && full_page(local) && full_page(fts_timing),
                "{}: a page is not min(total, 100) long",
                search.name
            );
            let total = if http.total == fts_timing.total && http.total == local.total {
                thousands(http.total as f64)
            } else {
                format!(
                    "{} (FTS5 {}, in-process {})",
                    thousands(http.total as f64),
                    thousands(fts_timing.total as f64),
                    thousands(local.total as f64)
                )
            };
            let _ = writeln!(
                out,
                "| {} `{}`{} | {} | {} | {} / {} | {} / {} | {} / {} |",
                search.name,
                search.q,
                search
                    .level
                    .map_or(String::new(), |l| format!(" level={l}")),
                millions(size.records),
                total,
                ms(http.p50),
                ms(http.p99),
                ms(local.p50),
                ms(local.p99),
                ms(fts_timing.p50),
                ms(fts_timing.p99)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n### FTS5 baseline build (one thread, 10k rows per transaction, WAL)\n"
    );
    let _ = writeln!(out, "| measure | value |");
    let _ = writeln!(out, "|---|---:|");
    let _ = writeln!(
        out,
        "| build rate | {} records/s ({} at {}) |",
        thousands(fts_rate),
        thousands(fts_base_rate),
        millions(base)
    );
    for size in &sizes {
        let _ = writeln!(
            out,
            "| bytes/record at {} | {:.0} B |",
            millions(size.records),
            size.fts_bytes as f64 / size.records as f64
        );
    }

    let largest = sizes.last().expect("base size");
    let worst_http = largest.http.iter().map(|t| t.p99).max().unwrap_or_default();
    let slower: Vec<String> = sizes
        .iter()
        .flat_map(|size| {
            list.iter().enumerate().filter_map(move |(index, search)| {
                let (local, fts_timing) = (&size.inprocess[index], &size.fts[index]);
                (local.p50 > fts_timing.p50).then(|| {
                    format!(
                        "{} at {} ({} vs {})",
                        search.name,
                        millions(size.records),
                        ms(local.p50),
                        ms(fts_timing.p50)
                    )
                })
            })
        })
        .collect();
    let _ = writeln!(out, "\n### Targets\n");
    let _ = writeln!(out, "| target | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| ≥ 80,000 records/s end to end | {} records/s | {} |",
        thousands(rate),
        verdict(rate >= 80_000.0)
    );
    let _ = writeln!(
        out,
        "| searchable within 2 s of the ack | {:.2} s | {} |",
        base_ingest.searchable_after.as_secs_f64(),
        verdict(base_ingest.searchable_after <= Duration::from_secs(2))
    );
    let _ = writeln!(
        out,
        "| search p99 < 50 ms at 10M records (HTTP) | worst p99 {} at {} | {} |",
        ms(worst_http),
        millions(largest.records),
        if largest.records < 10_000_000 {
            "not measured at 10M"
        } else {
            verdict(worst_http < Duration::from_millis(50))
        }
    );
    let _ = writeln!(
        out,
        "| not slower than FTS5 on any query (in-process p50) | {} | {} |",
        if slower.is_empty() {
            "faster or equal on all".to_string()
        } else {
            format!("slower: {}", slower.join("; "))
        },
        verdict(slower.is_empty())
    );

    if let Some(baseline) = ab::baseline() {
        let records = base;
        out.push_str(&ab::compare("record", &binary, &baseline, |binary| {
            let dir = tempfile::Builder::new()
                .prefix("lookout-bench-logs-ab-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .expect("tempdir");
            let requests = encode_requests(&corpus, 0..records);
            let mut server = Server::start(binary, dir.path(), &server_args());
            let run = ingest(&server, &corpus, requests, settings.clients, records, ticks);
            server.stop(SHUTDOWN_TIMEOUT);
            ab::Sample {
                records: run.records as u64,
                // Until every record is searchable: indexing included.
                server_cpu_seconds: run.thread_cpu.iter().map(|(_, cpu)| cpu).sum(),
                writer_cpu_seconds: run
                    .thread_cpu
                    .iter()
                    .filter(|(name, _)| name == "writer")
                    .map(|(_, cpu)| cpu)
                    .sum(),
                wall: run.wall,
            }
        }));
    }
    println!("{out}");
    let report = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-logs.md");
    if let Err(error) = std::fs::write(&report, &out) {
        eprintln!("could not write {}: {error}", report.display());
    } else {
        eprintln!("wrote {}", report.display());
    }
}
