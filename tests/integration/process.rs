//! The real executable: command line, graceful shutdown on SIGTERM, crash
//! recovery after SIGKILL, and refusing a database from a newer lookout.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::*;

const START_TIMEOUT: Duration = Duration::from_secs(15);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

fn lookout_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lookout"));
    // The child's configuration comes only from what each test passes.
    for (name, _) in std::env::vars() {
        if name.starts_with("LOOKOUT_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

/// Waits up to `timeout` for the child to exit.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs lookout to completion (for commands that are expected to exit).
fn run_to_exit(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lookout");
    if wait_timeout(&mut child, EXIT_TIMEOUT).is_none() {
        let _ = child.kill();
        let output = child.wait_with_output().expect("output");
        panic!(
            "lookout did not exit: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    child.wait_with_output().expect("output")
}

/// The address in a `listening on http://ADDR` log line, in text (maybe
/// coloured) or JSON format.
fn listening_address(line: &str) -> Option<String> {
    const MARKER: &str = "listening on http://";
    let start = line.find(MARKER)? + MARKER.len();
    let addr: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    (!addr.is_empty()).then_some(addr)
}

/// A running lookout process. Killed on drop if still running.
struct Lookout {
    child: Child,
    base_url: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Lookout {
    fn start(data_dir: &Path, extra_args: &[&str], envs: &[(&str, &str)]) -> Lookout {
        let mut command = lookout_command();
        command.arg("--data-dir").arg(data_dir).args(extra_args);
        if !extra_args.contains(&"--listen") && !envs.iter().any(|(k, _)| *k == "LOOKOUT_LISTEN") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command.envs(envs.iter().copied());
        Lookout::spawn(command)
    }

    fn spawn(mut command: Command) -> Lookout {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lookout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (lines, receiver) = mpsc::channel::<String>();
        let collected = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                collected
                    .lock()
                    .expect("stderr lock")
                    .push_str(&format!("{line}\n"));
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(remaining) {
                Ok(line) => {
                    if let Some(addr) = listening_address(&line) {
                        break addr;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = reader.join();
                    panic!(
                        "lookout did not log `listening on`:\n{}",
                        stderr.lock().expect("stderr lock")
                    );
                }
            }
        };
        assert!(addr.starts_with("127.0.0.1:"), "listening on {addr}");
        Lookout {
            child,
            base_url: format!("http://{addr}"),
            stderr,
            reader: Some(reader),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits i32"))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> (ExitStatus, String) {
        kill(self.pid(), Signal::SIGTERM).expect("send SIGTERM");
        let status = wait_timeout(&mut self.child, EXIT_TIMEOUT)
            .unwrap_or_else(|| panic!("no exit after SIGTERM:\n{}", self.stderr()));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.stderr())
    }

    fn sigkill(mut self) {
        kill(self.pid(), Signal::SIGKILL).expect("send SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Lookout {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A trace of `spans` spans (root plus children) of `service`.
fn trace_request(service: &str, spans: usize) -> (String, Vec<u8>) {
    let trace_id = new_trace_id();
    let start = now_nanos() - SECOND;
    let root = new_span_id();
    let mut all = vec![span(
        &trace_id,
        &root,
        None,
        "root",
        SpanKind::Server,
        start,
        start + 10 * MS,
    )];
    for i in 1..spans {
        let offset = i as u64 * MS;
        all.push(span(
            &trace_id,
            &new_span_id(),
            Some(&root),
            "child",
            SpanKind::Internal,
            start + offset,
            start + offset + MS,
        ));
    }
    (
        hex(&trace_id),
        request(vec![resource_spans(service, vec![], all)]).encode_to_vec(),
    )
}

fn span_count(
    client: &reqwest::blocking::Client,
    lookout: &Lookout,
    trace_id: &str,
) -> Option<usize> {
    let response = client
        .get(lookout.url(&format!("/api/traces/{trace_id}")))
        .send()
        .expect("GET trace");
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().expect("trace JSON");
    body["spans"].as_array().map(Vec::len)
}

#[test]
fn an_invalid_listen_address_is_refused_naming_the_option() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = lookout_command();
    command
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "nowhere"]);
    let output = run_to_exit(command);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");
    assert!(stderr.contains("nowhere"), "{stderr}");

    let mut command = lookout_command();
    command
        .arg("--data-dir")
        .arg(dir.path())
        .env("LOOKOUT_LISTEN", "nowhere");
    let output = run_to_exit(command);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");
}

#[test]
fn the_environment_configures_and_flags_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env_dir = dir.path().join("from-env");
    let env_dir_text = env_dir.to_str().expect("utf-8 path").to_string();

    // LOOKOUT_LISTEN and LOOKOUT_DATA_DIR alone.
    let mut command = lookout_command();
    command
        .env("LOOKOUT_LISTEN", "127.0.0.1:0")
        .env("LOOKOUT_DATA_DIR", &env_dir_text)
        .env("LOOKOUT_LOG_FORMAT", "json");
    let lookout = Lookout::spawn(command);
    let client = client();
    assert_eq!(
        client
            .get(lookout.url("/health"))
            .send()
            .expect("GET")
            .status(),
        StatusCode::OK
    );
    let (status, stderr) = lookout.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        env_dir.join("lookout.db").exists(),
        "the database is in LOOKOUT_DATA_DIR"
    );

    // A flag beats an (invalid) environment value.
    let flag_dir = dir.path().join("from-flag");
    let lookout = Lookout::start(
        &flag_dir,
        &["--listen", "127.0.0.1:0"],
        &[
            ("LOOKOUT_LISTEN", "nowhere"),
            ("LOOKOUT_DATA_DIR", &env_dir_text),
        ],
    );
    assert_eq!(
        client
            .get(lookout.url("/health"))
            .send()
            .expect("GET")
            .status(),
        StatusCode::OK
    );
    let (status, stderr) = lookout.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        flag_dir.join("lookout.db").exists(),
        "--data-dir beats LOOKOUT_DATA_DIR"
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Each writer group waits a second, so requests stay in flight.
    let lookout = Lookout::start(dir.path(), &["--test-writer-delay", "1s"], &[]);
    let base_url = lookout.base_url.clone();
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let url = format!("{base_url}/v1/traces");
            std::thread::spawn(move || {
                let (trace_id, body) = trace_request("draining", 2);
                let status = client()
                    .post(url)
                    .header("content-type", PROTOBUF)
                    .body(body)
                    .send()
                    .map(|response| response.status());
                (trace_id, status)
            })
        })
        .collect();

    // The writer holds the first request for a second; once the other two
    // wait in its queue, all three are in flight and the signal can come.
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = client
            .get(lookout.url("/metrics"))
            .send()
            .expect("metrics")
            .text()
            .expect("text");
        if metric_value(&metrics, "lookout_writer_queue_depth").unwrap_or(0.0) >= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "requests never queued:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, stderr) = lookout.terminate();
    let sent: Vec<(String, Result<StatusCode, reqwest::Error>)> = senders
        .into_iter()
        .map(|t| t.join().expect("sender"))
        .collect();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM:\n{stderr}"
    );
    for (trace_id, status) in &sent {
        match status {
            Ok(status) => assert_eq!(*status, StatusCode::OK, "{trace_id}"),
            Err(error) => {
                panic!("in-flight request {trace_id} failed during shutdown: {error}\n{stderr}")
            }
        }
    }

    let lookout = Lookout::start(dir.path(), &["--log-format", "json"], &[]);
    for (trace_id, _) in &sent {
        assert_eq!(
            span_count(&client, &lookout, trace_id),
            Some(2),
            "{trace_id} after restart"
        );
    }
    let (status, stderr) = lookout.terminate();
    assert!(status.success(), "{stderr}");
}

#[test]
fn sigkill_loses_no_acknowledged_span() {
    const SPANS: usize = 3;
    let dir = tempfile::tempdir().expect("tempdir");
    let lookout = Lookout::start(dir.path(), &["--log-format", "json"], &[]);
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|worker| {
            let url = lookout.url("/v1/traces");
            let acked = Arc::clone(&acked);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let client = client();
                let mut sent = 0;
                while !stop.load(Ordering::SeqCst) && sent < 100_000 {
                    sent += 1;
                    let (trace_id, body) = trace_request(&format!("crash-{worker}"), SPANS);
                    match client
                        .post(&url)
                        .header("content-type", PROTOBUF)
                        .body(body)
                        .send()
                    {
                        Ok(response) if response.status().is_success() => {
                            acked.lock().expect("acked lock").push(trace_id);
                        }
                        Ok(_) => {}
                        // The server is gone: nothing more will be acknowledged.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().expect("acked lock").len() < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    lookout.sigkill();
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().expect("sender thread");
    }
    let acked = acked.lock().expect("acked lock").clone();
    assert!(
        acked.len() >= 20,
        "too few acknowledged requests before the kill: {}",
        acked.len()
    );
    eprintln!("{} traces acknowledged before SIGKILL", acked.len());

    // The data directory as the crash left it (WAL not checkpointed).
    let mut check = lookout_command();
    check.arg("check").arg("--data-dir").arg(dir.path());
    let output = run_to_exit(check);
    assert!(
        output.status.success(),
        "lookout check after the crash:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let restarted = Lookout::start(dir.path(), &[], &[]);
    let client = client();
    let mut missing = Vec::new();
    for trace_id in &acked {
        let count = span_count(&client, &restarted, trace_id);
        if count != Some(SPANS) {
            missing.push((trace_id.clone(), count));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged traces lost or partial: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    let stats: serde_json::Value = client
        .get(restarted.url("/api/stats"))
        .send()
        .expect("stats")
        .json()
        .expect("JSON");
    let stored = stats["counts"]["spans"].as_u64().expect("span count");
    assert!(stored >= (acked.len() * SPANS) as u64, "{stats}");
    assert_eq!(
        stored % SPANS as u64,
        0,
        "no request is half stored: {stats}"
    );
    let (status, stderr) = restarted.terminate();
    assert!(status.success(), "{stderr}");

    let mut check = lookout_command();
    check.arg("check").arg("--data-dir").arg(dir.path());
    let output = run_to_exit(check);
    assert!(
        output.status.success(),
        "lookout check:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // forges a database from a newer lookout
fn a_database_from_a_newer_lookout_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let app =
            lookout::app::RunningApp::start(lookout::config::Config::for_data_dir(dir.path()))
                .expect("create the database");
        app.stop().expect("stop");
    }
    let db = dir.path().join("lookout.db");
    let conn = rusqlite::Connection::open(&db).expect("open the database");
    conn.execute(
        "INSERT INTO schema_migrations VALUES (999, 'future', 0)",
        [],
    )
    .expect("record a future migration");
    drop(conn);

    let mut command = lookout_command();
    command
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"]);
    let output = run_to_exit(command);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("newer"), "{stderr}");
    assert!(
        stderr.contains("999"),
        "the message names the version found: {stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");

    let mut check = lookout_command();
    check.arg("check").arg("--data-dir").arg(dir.path());
    let output = run_to_exit(check);
    assert!(!output.status.success(), "check accepts a newer schema");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("newer"), "{text}");

    // The database was not touched by the refused start.
    let conn = rusqlite::Connection::open(&db).expect("open");
    let max: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .expect("version");
    assert_eq!(max, 999);
}

// ---------------------------------------------------------------------------
// Logs across crashes

/// Records per log ingest request of the streamers.
const LOG_BATCH: i64 = 10;

/// What the log streamers sent (every seq) and what was acknowledged
/// (the seqs of requests answered with a 2xx).
#[derive(Default)]
struct LogLedger {
    sent: HashSet<i64>,
    acked: HashSet<i64>,
}

/// The body words of a streamed record; `round<r>` and `worker<w>` are
/// the markers counted per streamer.
fn crash_log_body(round: i64, worker: i64, seq: i64) -> String {
    format!("crashlog round{round} worker{worker} rec{seq}")
}

/// Three threads, each posting batches of records with unique `seq`
/// attributes until `stop` is set or the server is gone: two over OTLP
/// protobuf, one as JSON lines. Worker `w` dates its records `w` days
/// back, so every index commit writes three day indexes, more than the
/// index keeps writers open for.
fn stream_logs(
    lookout: &Lookout,
    round: i64,
    stop: &Arc<AtomicBool>,
    ledger: &Arc<Mutex<LogLedger>>,
) -> Vec<JoinHandle<()>> {
    (0..3)
        .map(|worker| {
            let otlp_url = lookout.url("/v1/logs");
            let lines_url = lookout.url("/api/ingest/logs");
            let stop = Arc::clone(stop);
            let ledger = Arc::clone(ledger);
            std::thread::spawn(move || {
                let client = client();
                for request in 0..100_000i64 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let first = round * 10_000_000 + worker * 1_000_000 + request * LOG_BATCH;
                    let seqs: Vec<i64> = (first..first + LOG_BATCH).collect();
                    let now = now_nanos() - worker as u64 * 24 * 60 * MINUTE;
                    let (url, content_type, body) = if worker < 2 {
                        let records = seqs
                            .iter()
                            .map(|seq| {
                                log_record(
                                    now,
                                    9,
                                    "",
                                    &crash_log_body(round, worker, *seq),
                                    vec![kv_int("seq", *seq)],
                                )
                            })
                            .collect();
                        let export =
                            logs_request(vec![resource_logs(&format!("crash-{worker}"), records)]);
                        (&otlp_url, PROTOBUF, export.encode_to_vec())
                    } else {
                        let lines: Vec<String> = seqs
                            .iter()
                            .map(|seq| {
                                serde_json::json!({
                                    "time": now / MS,
                                    "level": "info",
                                    "service": "crash-lines",
                                    "msg": crash_log_body(round, worker, *seq),
                                    "seq": seq,
                                })
                                .to_string()
                            })
                            .collect();
                        (
                            &lines_url,
                            "application/x-ndjson",
                            lines.join("\n").into_bytes(),
                        )
                    };
                    ledger.lock().expect("ledger").sent.extend(&seqs);
                    match client
                        .post(url.as_str())
                        .header("content-type", content_type)
                        .body(body)
                        .send()
                    {
                        Ok(response) if response.status().is_success() => {
                            ledger.lock().expect("ledger").acked.extend(&seqs);
                        }
                        Ok(_) => {}
                        // The server is gone: nothing more will be acknowledged.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect()
}

/// Streams logs into `lookout` until `min_acked` more records are
/// acknowledged (or `max` has passed), then SIGKILLs it mid-stream.
fn stream_logs_then_sigkill(
    lookout: Lookout,
    round: i64,
    ledger: &Arc<Mutex<LogLedger>>,
    min_acked: usize,
    max: Duration,
) {
    let before = ledger.lock().expect("ledger").acked.len();
    let stop = Arc::new(AtomicBool::new(false));
    let streamers = stream_logs(&lookout, round, &stop, ledger);
    let deadline = Instant::now() + max;
    while ledger.lock().expect("ledger").acked.len() < before + min_acked
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    lookout.sigkill();
    stop.store(true, Ordering::SeqCst);
    for streamer in streamers {
        streamer.join().expect("streamer thread");
    }
    let acked = ledger.lock().expect("ledger").acked.len() - before;
    assert!(
        acked >= 10 * LOG_BATCH as usize,
        "too few records acknowledged before the kill: {acked}"
    );
    eprintln!("round {round}: {acked} log records acknowledged before SIGKILL");
}

fn search_logs(
    client: &reqwest::blocking::Client,
    lookout: &Lookout,
    params: &[(&str, &str)],
) -> serde_json::Value {
    let url = reqwest::Url::parse_with_params(&lookout.url("/api/logs"), params).expect("URL");
    let response = client.get(url).send().expect("GET /api/logs");
    let status = response.status();
    let body: serde_json::Value = response.json().expect("JSON");
    assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
    body
}

fn assert_check_passes(data_dir: &Path, when: &str) {
    let mut check = lookout_command();
    check.arg("check").arg("--data-dir").arg(data_dir);
    let output = run_to_exit(check);
    assert!(
        output.status.success(),
        "lookout check {when}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// After a restart: waits until the index has caught up with the journal,
/// then requires every acknowledged record to be searchable exactly once,
/// and nothing that was never sent.
fn assert_logs_indexed_exactly_once(lookout: &Lookout, ledger: &Mutex<LogLedger>, rounds: i64) {
    let client = client();
    let (sent, acked) = {
        let ledger = ledger.lock().expect("ledger");
        (ledger.sent.clone(), ledger.acked.clone())
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let metrics = client
            .get(lookout.url("/metrics"))
            .send()
            .expect("metrics")
            .text()
            .expect("text");
        let lag = metric_value(&metrics, "lookout_log_index_lag_records");
        let total = search_logs(
            &client,
            lookout,
            &[("q", "crashlog"), ("limit", "1"), ("lookback", "3d")],
        )["total"]
            .as_u64()
            .expect("total");
        if lag == Some(0.0) && total >= acked.len() as u64 {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "index not caught up: lag {lag:?}, total {total} < {}",
                acked.len()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut stored: Vec<i64> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = 0;
    for page in 0.. {
        assert!(page <= sent.len() / 1000 + 2, "too many pages");
        let mut params = vec![
            ("q", "crashlog"),
            ("order", "asc"),
            ("limit", "1000"),
            ("lookback", "3d"),
        ];
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor.as_str()));
        }
        let answer = search_logs(&client, lookout, &params);
        total = answer["total"].as_u64().expect("total");
        for log in answer["logs"].as_array().expect("logs") {
            stored.push(log["attributes"]["seq"].as_i64().expect("a seq"));
        }
        match answer["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let distinct: HashSet<i64> = stored.iter().copied().collect();
    let mut missing: Vec<i64> = acked.difference(&distinct).copied().collect();
    missing.sort_unstable();
    let foreign: Vec<i64> = distinct.difference(&sent).copied().collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged log records are not searchable, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(foreign.is_empty(), "records never sent: {foreign:?}");
    assert_eq!(
        stored.len(),
        distinct.len(),
        "a record appears twice in the pages"
    );
    assert_eq!(
        total,
        distinct.len() as u64,
        "total counts {total} records for {} distinct ones: some are indexed twice",
        distinct.len()
    );
    // Per streamer: the total for its marker is the records it has stored.
    for round in 0..rounds {
        for worker in 0..3 {
            let low = round * 10_000_000 + worker * 1_000_000;
            let expected = distinct
                .iter()
                .filter(|seq| (low..low + 1_000_000).contains(*seq))
                .count();
            let q = format!("crashlog round{round} worker{worker}");
            let answer = search_logs(
                &client,
                lookout,
                &[("q", &q), ("limit", "1"), ("lookback", "3d")],
            );
            assert_eq!(
                answer["total"],
                serde_json::json!(expected),
                "{q}: indexed once each"
            );
        }
    }
    eprintln!(
        "{} acknowledged, {} stored, {} sent",
        acked.len(),
        distinct.len(),
        sent.len()
    );
}

#[test]
fn sigkill_while_streaming_logs_keeps_every_acknowledged_log_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--log-refresh", "100ms"];
    let ledger = Arc::new(Mutex::new(LogLedger::default()));
    let lookout = Lookout::start(dir.path(), &args, &[]);
    stream_logs_then_sigkill(lookout, 0, &ledger, 1_500, Duration::from_secs(4));
    assert_check_passes(dir.path(), "after the crash");

    let restarted = Lookout::start(dir.path(), &args, &[]);
    assert_logs_indexed_exactly_once(&restarted, &ledger, 1);
    let (status, stderr) = restarted.terminate();
    assert!(status.success(), "{stderr}");
    assert_check_passes(dir.path(), "after the restart");
}

#[test]
fn sigkill_during_log_index_commits_repeatedly_keeps_logs_exactly_once() {
    const ROUNDS: i64 = 3;
    let dir = tempfile::tempdir().expect("tempdir");
    // The index commits every 10 ms, so a kill likely lands in a commit.
    let args = ["--log-refresh", "10ms"];
    let ledger = Arc::new(Mutex::new(LogLedger::default()));
    for round in 0..ROUNDS {
        // Each start replays what the previous kill left in the journal.
        let lookout = Lookout::start(dir.path(), &args, &[]);
        let min_acked = 200 + 170 * usize::try_from(round).expect("round");
        stream_logs_then_sigkill(lookout, round, &ledger, min_acked, Duration::from_secs(3));
        assert_check_passes(dir.path(), &format!("after crash {round}"));
    }
    let restarted = Lookout::start(dir.path(), &args, &[]);
    assert_logs_indexed_exactly_once(&restarted, &ledger, ROUNDS);
    let (status, stderr) = restarted.terminate();
    assert!(status.success(), "{stderr}");
    assert_check_passes(dir.path(), "at the end");
}

#[test]
fn sigterm_with_a_live_logs_tail_connected_exits_promptly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lookout = Lookout::start(dir.path(), &[], &[]);
    let tail_client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut tail = tail_client
        .get(lookout.url("/api/logs/tail"))
        .send()
        .expect("GET /api/logs/tail");
    assert_eq!(tail.status(), StatusCode::OK);
    let mut buffer = [0u8; 64];
    let read = std::io::Read::read(&mut tail, &mut buffer).expect("the first event");
    assert!(read > 0, "the stream starts");

    let started = Instant::now();
    kill(lookout.pid(), Signal::SIGTERM).expect("send SIGTERM");
    let status = wait_timeout(&mut lookout.child, Duration::from_secs(5));
    assert!(
        status.is_some(),
        "lookout still runs {:?} after SIGTERM while a live-tail client is connected:\n{}",
        started.elapsed(),
        lookout.stderr()
    );
    assert!(
        status.is_some_and(|status| status.success()),
        "{}",
        lookout.stderr()
    );
}

#[test]
fn demo_feeds_traces_and_correlated_logs_through_otlp() {
    use serde_json::Value;
    let dir = tempfile::tempdir().expect("tempdir");
    let lookout = Lookout::start(dir.path(), &["demo", "--log-refresh", "100ms"], &[]);
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(15);
    let (traces, logs) = loop {
        let traces: Value = client
            .get(lookout.url("/api/traces?limit=50"))
            .send()
            .and_then(|response| response.json())
            .expect("traces");
        let logs: Value = client
            .get(lookout.url("/api/logs?limit=50"))
            .send()
            .and_then(|response| response.json())
            .expect("logs");
        let enough = traces["traces"].as_array().is_some_and(|t| t.len() >= 5)
            && logs["total"].as_u64().is_some_and(|total| total >= 1);
        if enough || Instant::now() > deadline {
            break (traces, logs);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let traces = traces["traces"].as_array().cloned().unwrap_or_default();
    assert!(
        traces.len() >= 5,
        "demo traces: {traces:?}\n{}",
        lookout.stderr()
    );
    assert!(
        traces
            .iter()
            .any(|trace| trace["services"].as_array().is_some_and(|s| s.len() >= 2)),
        "demo traces cross services: {traces:?}"
    );
    let first_log = &logs["logs"][0];
    let trace_id = first_log["trace_id"]
        .as_str()
        .expect("demo logs carry trace ids");
    let correlated: Value = client
        .get(lookout.url(&format!("/api/traces/{trace_id}/logs")))
        .send()
        .and_then(|response| response.json())
        .expect("trace logs");
    assert!(correlated["total"].as_u64().is_some_and(|total| total >= 1));
    // Its metrics arrive through POST /v1/metrics.
    let series: Value = client
        .get(lookout.url("/prometheus/api/v1/series"))
        .query(&[("match[]", r#"{__name__=~"http_server_request_duration_seconds_count|jobs_processed_total|queue_depth"}"#)])
        .send()
        .and_then(|response| response.json())
        .expect("series");
    let names: Vec<&str> = series["data"]
        .as_array()
        .map(|all| all.iter().filter_map(|s| s["__name__"].as_str()).collect())
        .unwrap_or_default();
    for name in [
        "http_server_request_duration_seconds_count",
        "jobs_processed_total",
        "queue_depth",
    ] {
        assert!(names.contains(&name), "demo metric {name} in {series}");
    }
    // Its sample alert rules exist and evaluate without errors.
    let rules: Value = client
        .get(lookout.url("/api/alerts/rules"))
        .send()
        .and_then(|response| response.json())
        .expect("rules");
    let rules = rules["rules"].as_array().cloned().unwrap_or_default();
    assert_eq!(rules.len(), 3, "{rules:?}");
    for rule in &rules {
        let id = rule["id"].as_str().unwrap_or("");
        let answer = client
            .post(lookout.url(&format!("/api/alerts/rules/{id}/evaluate")))
            .send()
            .expect("evaluate");
        assert_eq!(answer.status(), StatusCode::OK, "{rule}");
    }
    let (status, _) = lookout.terminate();
    assert!(status.success());
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Lookout::start(dir.path(), &[], &[]);
    let mut command = lookout_command();
    command
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"]);
    let started = Instant::now();
    let output = run_to_exit(command);
    assert!(!output.status.success(), "the second server must not run");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it exits at once"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", first.child.id())),
        "names the process in the way: {stderr}"
    );
    // The first one is unharmed and, once it stops, the directory is free.
    let response = reqwest::blocking::get(first.url("/health")).expect("health");
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = first.terminate();
    assert!(status.success());
    let again = Lookout::start(dir.path(), &[], &[]);
    again.terminate();
}

#[test]
fn check_ignores_serve_settings_in_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    Lookout::start(dir.path(), &[], &[]).terminate();
    let mut check = lookout_command();
    // What the Dockerfile sets: serve would refuse it without a token.
    check
        .env("LOOKOUT_LISTEN", "0.0.0.0:4318")
        .env("LOOKOUT_DATA_DIR", dir.path());
    check.arg("check");
    let output = run_to_exit(check);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ok"), "{stdout}");
}

#[test]
fn documented_environment_variables_are_not_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lookout = Lookout::start(
        dir.path(),
        &[],
        &[("LOOKOUT_LOG_MAX_LAG", "3s"), ("LOOKOUT_LOG_REFRESH", "1s")],
    );
    let (_, stderr) = lookout.terminate();
    assert!(!stderr.contains("unknown LOOKOUT_"), "{stderr}");
}

/// Acknowledged metric points survive a SIGKILL: the in-memory head is
/// rebuilt from its write-ahead log at start.
#[test]
fn sigkill_loses_no_acknowledged_metric_point() {
    use crate::metrics::{base_ms, gauge, kv, number, request};
    let dir = tempfile::tempdir().expect("tempdir");
    let lookout = Lookout::start(dir.path(), &[], &[]);
    let base = base_ms() + 1_800_000;
    let acked: Arc<Mutex<Vec<(usize, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|worker| {
            let url = lookout.url("/v1/metrics");
            let acked = Arc::clone(&acked);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let client = client();
                let mut seq = 0i64;
                while !stop.load(Ordering::SeqCst) && seq < 100_000 {
                    seq += 1;
                    let point = number(
                        vec![kv("worker", &worker.to_string())],
                        0,
                        base + seq * 10,
                        seq as f64,
                    );
                    let body = request("crash", vec![gauge("crash_gauge", vec![point])]);
                    match client
                        .post(&url)
                        .header("content-type", PROTOBUF)
                        .body(body.encode_to_vec())
                        .send()
                    {
                        Ok(response) if response.status().is_success() => {
                            acked.lock().expect("acked lock").push((worker, seq));
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().expect("acked lock").len() < 400 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    lookout.sigkill();
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.join().expect("sender thread");
    }
    let acked = acked.lock().expect("acked lock").clone();
    assert!(
        acked.len() >= 20,
        "too few acknowledged points: {}",
        acked.len()
    );

    let restarted = Lookout::start(dir.path(), &[], &[]);
    let client = client();
    let at = format!("{}", (base + 100_000 * 10) as f64 / 1000.0);
    let body: serde_json::Value = client
        .get(restarted.url("/prometheus/api/v1/query"))
        .query(&[("query", "crash_gauge[30m]"), ("time", at.as_str())])
        .send()
        .expect("query")
        .json()
        .expect("json");
    let mut stored: HashSet<(usize, i64)> = HashSet::new();
    for series in body["data"]["result"].as_array().expect("matrix") {
        let worker: usize = series["metric"]["worker"]
            .as_str()
            .and_then(|w| w.parse().ok())
            .expect("worker label");
        for value in series["values"].as_array().expect("values") {
            let seq: i64 = value[1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .expect("value");
            stored.insert((worker, seq));
        }
    }
    let missing: Vec<_> = acked
        .iter()
        .filter(|point| !stored.contains(point))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged points lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

/// A notification queued before a crash is delivered after the restart:
/// the outbox row was committed with the state change.
#[test]
fn sigkill_with_a_pending_notification_delivers_it_after_the_restart() {
    use crate::metrics::{gauge, kv, number, request};
    use crate::receiver::Receiver;
    // A port with nothing on it yet: deliveries fail until it comes up.
    let port = {
        let probe = Receiver::start();
        probe.port
    };
    std::thread::sleep(Duration::from_millis(100));
    let dir = tempfile::tempdir().expect("tempdir");
    let lookout = Lookout::start(dir.path(), &["--alert-interval", "1s"], &[]);
    let client = client();
    let t = (now_nanos() / MS) as i64;
    let body = request(
        "mailer",
        vec![gauge(
            "queue_depth",
            vec![number(vec![kv("queue", "mail")], 0, t, 99.0)],
        )],
    );
    let response = client
        .post(lookout.url("/v1/metrics"))
        .header("content-type", PROTOBUF)
        .body(body.encode_to_vec())
        .send()
        .expect("metrics");
    assert!(response.status().is_success());
    let rule: serde_json::Value = client
        .post(lookout.url("/api/alerts/rules"))
        .json(&serde_json::json!({
            "name": "crash", "kind": "metric", "metric": "queue_depth", "threshold": 10,
            "channels": [{"type": "webhook", "url": format!("http://127.0.0.1:{port}/after")}],
        }))
        .send()
        .expect("create")
        .json()
        .expect("json");
    let rule_id = rule["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (instance_id, notification_id) = loop {
        let instances: serde_json::Value = client
            .get(lookout.url(&format!("/api/alerts/instances?rule_id={rule_id}")))
            .send()
            .expect("instances")
            .json()
            .expect("json");
        if let Some(id) = instances["instances"][0]["id"].as_str() {
            let detail: serde_json::Value = client
                .get(lookout.url(&format!("/api/alerts/instances/{id}")))
                .send()
                .expect("instance")
                .json()
                .expect("json");
            let notification = &detail["notifications"][0];
            if notification["attempts"].as_u64().unwrap_or(0) >= 1 {
                assert_eq!(notification["status"], "pending", "{detail}");
                break (
                    id.to_string(),
                    notification["id"].as_str().expect("id").to_string(),
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "no failed attempt yet: {}",
            lookout.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    lookout.sigkill();

    let receiver = Receiver::start_at(port);
    let restarted = Lookout::start(dir.path(), &["--alert-interval", "1s"], &[]);
    let received = receiver.wait_for("the notification", Duration::from_secs(30), |r| {
        !r.is_empty()
    });
    let body = received[0].json();
    assert_eq!(
        body["id"],
        notification_id.as_str(),
        "the same notification"
    );
    assert_eq!(body["instance"]["id"], instance_id.as_str());
    assert_eq!(received[0].path, "/after");
    drop(restarted);
}

/// The address in the `OTLP/gRPC listening on ADDR` line of a running
/// lookout's log (written before the HTTP line `Lookout::start` waits for).
fn grpc_address(lookout: &Lookout) -> std::net::SocketAddr {
    const MARKER: &str = "OTLP/gRPC listening on ";
    let stderr = lookout.stderr();
    let start = stderr
        .find(MARKER)
        .unwrap_or_else(|| panic!("no `{MARKER}` line:\n{stderr}"))
        + MARKER.len();
    let addr: String = stderr[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    addr.parse()
        .unwrap_or_else(|_| panic!("not an address: {addr:?}"))
}

/// A one-span trace of `service` exported over OTLP/gRPC; its hex id and
/// the call's outcome.
async fn export_over_grpc(
    addr: std::net::SocketAddr,
    service: &str,
) -> (String, Result<(), tonic::Status>) {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let (trace_id, export) = single_span_trace(service, "grpc call", SECOND);
    let outcome = match TraceServiceClient::connect(format!("http://{addr}")).await {
        Ok(mut client) => client.export(export).await.map(|_| ()),
        Err(error) => Err(tonic::Status::unavailable(error.to_string())),
    };
    (trace_id, outcome)
}

#[test]
fn grpc_calls_in_flight_at_sigterm_finish_and_acknowledged_spans_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A slow writer keeps the calls in flight when the signal comes.
    let lookout = Lookout::start(dir.path(), &["--test-writer-delay", "1s"], &[]);
    let grpc = grpc_address(&lookout);
    assert!(grpc.ip().is_loopback() && grpc.port() != 0, "{grpc}");
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let calls = std::thread::spawn(move || {
        runtime().block_on(futures_util::future::join_all(
            (0..3).map(|_| export_over_grpc(grpc, "grpc-draining")),
        ))
    });
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = client
            .get(lookout.url("/metrics"))
            .send()
            .and_then(|response| response.text())
            .expect("metrics");
        if metric_value(&metrics, "lookout_writer_queue_depth").unwrap_or(0.0) >= 2.0 {
            break;
        }
        assert!(Instant::now() < deadline, "calls never queued:\n{metrics}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, stderr) = lookout.terminate();
    assert_eq!(status.code(), Some(0), "exit after SIGTERM:\n{stderr}");
    let sent = calls.join().expect("the calls' thread");
    for (trace_id, outcome) in &sent {
        assert!(
            outcome.is_ok(),
            "in-flight call {trace_id}: {outcome:?}\n{stderr}"
        );
    }

    // Acknowledged over gRPC means durable: SIGKILL right after the ack.
    let lookout = Lookout::start(dir.path(), &[], &[]);
    let (acked, outcome) =
        runtime().block_on(export_over_grpc(grpc_address(&lookout), "grpc-killed"));
    outcome.expect("exported");
    lookout.sigkill();
    let lookout = Lookout::start(dir.path(), &[], &[]);
    for trace_id in sent.iter().map(|(id, _)| id).chain([&acked]) {
        assert_eq!(
            span_count(&client, &lookout, trace_id),
            Some(1),
            "{trace_id} after the restarts"
        );
    }
    let (status, stderr) = lookout.terminate();
    assert!(status.success(), "{stderr}");
}

/// Sends one-span traces to `lookout` one after another; the ids of those
/// it acknowledged.
fn send_traces(
    client: &reqwest::blocking::Client,
    lookout: &Lookout,
    count: usize,
    service: &str,
) -> Vec<String> {
    (0..count)
        .filter_map(|_| {
            let (trace_id, body) = trace_request(service, 1);
            let response = client
                .post(lookout.url("/v1/traces"))
                .header("content-type", PROTOBUF)
                .body(body)
                .send()
                .expect("POST to the edge");
            (response.status() == StatusCode::OK).then_some(trace_id)
        })
        .collect()
}

#[test]
fn forwarding_delivers_every_acknowledged_span_across_sigkills_of_both_ends() {
    let central_dir = tempfile::tempdir().expect("tempdir");
    let edge_dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port");
    let listen = format!("127.0.0.1:{port}");
    let upstream = format!("http://{listen}");
    // gRPC off: its default port would be the fixed 4317 next to a fixed
    // HTTP port.
    let central_args = ["--listen", listen.as_str(), "--grpc-listen", "none"];
    let edge_args = ["--forward-otlp", upstream.as_str()];
    let client = client();
    let central = Lookout::start(central_dir.path(), &central_args, &[]);
    let edge = Lookout::start(edge_dir.path(), &edge_args, &[]);
    let mut acked = send_traces(&client, &edge, 40, "edge-crash");
    // The central one dies mid-stream; the edge goes on acknowledging.
    central.sigkill();
    acked.extend(send_traces(&client, &edge, 40, "edge-crash"));
    let central = Lookout::start(central_dir.path(), &central_args, &[]);
    acked.extend(send_traces(&client, &edge, 40, "edge-crash"));
    // Then the edge dies too, with batches still in its outbox.
    edge.sigkill();
    let edge = Lookout::start(edge_dir.path(), &edge_args, &[]);
    acked.extend(send_traces(&client, &edge, 40, "edge-crash"));
    assert_eq!(
        acked.len(),
        160,
        "the edge acknowledges while the upstream is down"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    for trace_id in &acked {
        loop {
            match span_count(&client, &central, trace_id) {
                Some(1) => break,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "{trace_id} never reached the central lookout ({other:?}):\n{}",
                        edge.stderr()
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    let (status, stderr) = edge.terminate();
    assert!(status.success(), "{stderr}");
    let (status, stderr) = central.terminate();
    assert!(status.success(), "{stderr}");
}
