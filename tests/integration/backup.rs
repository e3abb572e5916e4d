//! `lookout backup` and `lookout restore` as a user runs them: a backup
//! taken through the running server while traces and logs stream in,
//! restored into a new directory whose server answers the same; a backup
//! with no server running; and the refusals (a restore into a directory in
//! use, a damaged backup, a directory that already holds data).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::metrics::{gauge, number, request as metrics_request};
use crate::support::*;

fn lookout(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("LOOKOUT_DATA_DIR")
        .env_remove("LOOKOUT_CONFIG")
        .output()
        .expect("run lookout")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn manifest(dir: &Path) -> Value {
    let text = std::fs::read(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_slice(&text).expect("manifest parses")
}

/// Every log record in the last three days.
fn log_total(server: &TestServer) -> u64 {
    server.get_ok("/api/logs?lookback=3d&limit=1")["total"]
        .as_u64()
        .expect("total")
}

fn audit_actions(server: &TestServer) -> Vec<(String, String)> {
    server.get_ok("/api/audit?limit=100")["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| {
            (
                event["action"].as_str().unwrap_or_default().to_string(),
                event["actor"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A batch acknowledged by the server: its trace id, its log marker and
/// when the answer came.
struct Acked {
    trace_id: String,
    marker: String,
    at: Instant,
}

/// Posts a one-span trace and one log record per round until `stop`.
fn stream(base: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<Acked>>>) {
    let client = client();
    let mut round = 0u64;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let (trace_id, traces) = single_span_trace("streaming", "tick", 10 * MS);
        let marker = format!("streamed{round}");
        let logs = logs_request(vec![resource_logs(
            "streaming",
            vec![log_record(now_nanos(), 9, "INFO", &marker, vec![])],
        )]);
        let sent_traces = client
            .post(format!("{base}/v1/traces"))
            .header("content-type", PROTOBUF)
            .body(prost::Message::encode_to_vec(&traces))
            .send()
            .is_ok_and(|r| r.status().is_success());
        let sent_logs = client
            .post(format!("{base}/v1/logs"))
            .header("content-type", PROTOBUF)
            .body(prost::Message::encode_to_vec(&logs))
            .send()
            .is_ok_and(|r| r.status().is_success());
        if sent_traces && sent_logs {
            acked.lock().expect("acked").push(Acked {
                trace_id,
                marker,
                at: Instant::now(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_backup_taken_during_ingest_restores_to_a_server_that_answers_the_same() {
    let source = TestServer::start();
    // What exists before: a rule, metrics and some history.
    let rule = source.post_json(
        "/api/alerts/rules",
        &json!({"name": "backed up", "kind": "error_rate", "service": "streaming", "threshold": 0.5}),
    );
    assert!(rule.status().is_success(), "rule: {}", rule.status());
    let now_ms = (now_nanos() / MS) as i64;
    let metrics = metrics_request(
        "backup-job",
        vec![gauge(
            "backup_probe",
            vec![number(vec![], 0, now_ms - 1_000, 42.5)],
        )],
    );
    assert!(source
        .post_protobuf("/v1/metrics", &metrics)
        .status()
        .is_success());
    let metric_query = format!(
        "/prometheus/api/v1/query?query=backup_probe&time={}",
        now_ms / 1000
    );
    let metric_before = source.get_ok(&metric_query)["data"]["result"].clone();
    assert_eq!(
        metric_before.as_array().map(Vec::len),
        Some(1),
        "{metric_before}"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let streamer = {
        let (base, stop, acked) = (source.url(""), Arc::clone(&stop), Arc::clone(&acked));
        std::thread::spawn(move || stream(base, stop, acked))
    };
    std::thread::sleep(Duration::from_millis(1500));

    let backups = tempfile::tempdir().expect("tempdir");
    let backup_dir = backups.path().join("taken-under-load");
    let began = Instant::now();
    let output = lookout(
        &["backup", backup_dir.to_str().expect("utf-8")],
        source.data_dir(),
    );
    let finished = Instant::now();
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("by the running server"),
        "{}",
        text(&output)
    );
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::SeqCst);
    streamer.join().expect("streamer");
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    let before: Vec<&Acked> = acked.iter().filter(|a| a.at < began).collect();
    let after: Vec<&Acked> = acked.iter().filter(|a| a.at > finished).collect();
    assert!(
        before.len() >= 20,
        "{} batches before the backup",
        before.len()
    );
    assert!(!after.is_empty(), "no batch after the backup");

    // The server audited the backup, as the command on this machine.
    assert!(
        audit_actions(&source).contains(&("backup".into(), "local (command line)".into())),
        "{:?}",
        audit_actions(&source)
    );
    let counts = manifest(&backup_dir)["counts"].clone();
    drop(source);

    let restored_dir = tempfile::tempdir().expect("tempdir");
    let output = lookout(
        &["restore", backup_dir.to_str().expect("utf-8")],
        restored_dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let checked = lookout(&["check"], restored_dir.path());
    assert!(checked.status.success(), "{}", text(&checked));

    let restored = TestServer::start_on(restored_dir);
    restored.flush();
    let stats = restored.get_ok("/api/stats");
    assert_eq!(
        stats["counts"]["traces"], counts["traces"],
        "{stats} vs {counts}"
    );
    assert_eq!(
        stats["counts"]["spans"], counts["spans"],
        "{stats} vs {counts}"
    );
    assert_eq!(
        Some(log_total(&restored)),
        counts["log_records"].as_u64(),
        "log records vs {counts}"
    );
    // Everything acknowledged before the backup began is there; nothing
    // acknowledged after it finished is.
    for batch in &before {
        let (status, _) = restored.get_json(&format!("/api/traces/{}", batch.trace_id));
        assert_eq!(
            status, 200,
            "trace {} acked before the backup",
            batch.trace_id
        );
    }
    for batch in &after {
        let (status, _) = restored.get_json(&format!("/api/traces/{}", batch.trace_id));
        assert_eq!(
            status, 404,
            "trace {} acked after the backup",
            batch.trace_id
        );
    }
    let first = before.first().expect("a batch");
    let last = before.last().expect("a batch");
    for marker in [&first.marker, &last.marker] {
        let found = restored.get_ok(&format!("/api/logs?lookback=3d&q={marker}"));
        assert_eq!(found["total"], 1, "{marker}: {found}");
    }
    let late = after.last().expect("a batch");
    let found = restored.get_ok(&format!("/api/logs?lookback=3d&q={}", late.marker));
    assert_eq!(found["total"], 0, "{}: {found}", late.marker);
    assert_eq!(
        restored.get_ok(&metric_query)["data"]["result"],
        metric_before
    );
    let rules = restored.get_ok("/api/alerts/rules");
    assert_eq!(rules["rules"][0]["name"], "backed up", "{rules}");
    // The restore is in the restored server's audit log.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !audit_actions(&restored)
        .iter()
        .any(|(action, _)| action == "restore")
    {
        assert!(Instant::now() < deadline, "{:?}", audit_actions(&restored));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!restored.data_dir().join("restored.json").exists());
}

#[test]
fn restores_are_refused_into_a_directory_in_use_from_a_damaged_backup_and_over_data() {
    let source = TestServer::start();
    let (trace_id, traces) = single_span_trace("kept", "op", 10 * MS);
    assert!(source
        .post_protobuf("/v1/traces", &traces)
        .status()
        .is_success());
    let logs = logs_request(vec![resource_logs(
        "kept",
        vec![log_record(now_nanos(), 9, "INFO", "kept record", vec![])],
    )]);
    assert!(source
        .post_protobuf("/v1/logs", &logs)
        .status()
        .is_success());
    source.flush();
    let backups = tempfile::tempdir().expect("tempdir");
    let good = backups.path().join("good");
    let output = lookout(
        &["backup", good.to_str().expect("utf-8")],
        source.data_dir(),
    );
    assert!(output.status.success(), "{}", text(&output));

    // Not into the directory a server is using.
    let output = lookout(
        &["restore", good.to_str().expect("utf-8")],
        source.data_dir(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("stop it before restoring"),
        "{}",
        text(&output)
    );
    // Not into a directory that is not empty.
    let output = lookout(
        &["backup", good.to_str().expect("utf-8")],
        source.data_dir(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("not empty"), "{}", text(&output));

    // A backup taken with no server running, by the command itself, of a
    // directory restored from the first one.
    drop(source);
    let source_dir = tempfile::tempdir().expect("tempdir");
    let output = lookout(
        &["restore", good.to_str().expect("utf-8")],
        source_dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let direct = backups.path().join("direct");
    let output = lookout(
        &["backup", direct.to_str().expect("utf-8")],
        source_dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        !text(&output).contains("by the running server"),
        "{}",
        text(&output)
    );

    // A changed byte anywhere is found, and nothing is restored.
    let damaged = backups.path().join("damaged");
    let output = lookout(
        &["backup", damaged.to_str().expect("utf-8")],
        source_dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let day_file = manifest(&damaged)["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| file["path"].as_str().expect("path").to_string())
        .find(|path| path.ends_with(".store"))
        .expect("a document store file");
    let path = damaged.join(&day_file);
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).expect("write");
    let target = tempfile::tempdir().expect("tempdir");
    let output = lookout(
        &["restore", damaged.to_str().expect("utf-8")],
        target.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("{day_file} differs from the manifest")),
        "{}",
        text(&output)
    );
    assert!(!target.path().join("lookout.db").exists());
    std::fs::remove_file(damaged.join("manifest.json")).expect("rm");
    let output = lookout(
        &["restore", damaged.to_str().expect("utf-8")],
        target.path(),
    );
    assert!(
        text(&output).contains("has no manifest.json"),
        "{}",
        text(&output)
    );

    // Over existing data only with --force; this backup holds the audit
    // row of the direct one.
    let again = backups.path().join("again");
    let output = lookout(
        &["backup", again.to_str().expect("utf-8")],
        source_dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = lookout(
        &["restore", again.to_str().expect("utf-8")],
        source_dir.path(),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("--force"), "{}", text(&output));
    let output = lookout(
        &["restore", "--force", again.to_str().expect("utf-8")],
        source_dir.path(),
    );
    assert!(output.status.success(), "{}", text(&output));

    let restored = TestServer::start_on(source_dir);
    restored.flush();
    let (status, _) = restored.get_json(&format!("/api/traces/{trace_id}"));
    assert_eq!(status, 200);
    assert_eq!(restored.get_ok("/api/logs?lookback=3d&q=kept")["total"], 1);
    // The direct backup is audited too, by the command.
    let actions = audit_actions(&restored);
    assert!(
        actions.contains(&("backup".into(), "local (command line)".into())),
        "{actions:?}"
    );
}

#[allow(clippy::disallowed_methods)] // reason: the test counts journal rows behind the server's back
fn journal_rows(data_dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        data_dir.join("lookout.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    conn.query_row("SELECT COUNT(*) FROM log_journal", [], |row| row.get(0))
        .expect("count")
}

/// What keeps a backup's database copy complete: while a backup holds the
/// journal, indexed records stay in it; afterwards the next commit
/// truncates them all.
#[test]
fn a_held_journal_is_not_truncated_until_the_hold_ends() {
    let server = TestServer::start();
    let post = |body: &str| {
        let logs = logs_request(vec![resource_logs(
            "held",
            vec![log_record(now_nanos(), 9, "INFO", body, vec![])],
        )]);
        assert!(server
            .post_protobuf("/v1/logs", &logs)
            .status()
            .is_success());
    };
    let hold = server.hold_journal();
    for n in 0..10 {
        post(&format!("held record {n}"));
    }
    server.flush();
    assert_eq!(server.get_ok("/api/logs?lookback=1h&q=held")["total"], 10);
    assert_eq!(journal_rows(server.data_dir()), 10);
    drop(hold);
    post("after the hold");
    server.flush();
    let deadline = Instant::now() + Duration::from_secs(10);
    while journal_rows(server.data_dir()) > 0 {
        assert!(Instant::now() < deadline, "the journal was never truncated");
        std::thread::sleep(Duration::from_millis(20));
    }
}
