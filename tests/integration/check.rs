//! `lookout check` on a real data directory: healthy, a lost journal range,
//! a corrupted day index, a trace block filter that misses its spans, and
//! a database it cannot open.

use std::path::Path;
use std::process::{Command, Output};

use lookout::app::RunningApp;
use lookout::config::Config;

use crate::support::*;

fn check(data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("check")
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("LOOKOUT_DATA_DIR")
        .env_remove("LOOKOUT_CONFIG")
        .output()
        .expect("run lookout check")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[allow(clippy::disallowed_methods)] // reason: the test damages the database on purpose
fn execute(data_dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(data_dir.join("lookout.db")).expect("open");
    conn.execute_batch(sql).expect("sql");
}

#[test]
fn check_names_a_lost_journal_range_and_a_corrupted_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let app = RunningApp::start(Config::for_data_dir(dir.path())).expect("start");
        let client = client();
        let records: Vec<_> = (0..50)
            .map(|n| {
                log_record(
                    now_nanos() - SECOND,
                    9,
                    "INFO",
                    &format!("checked record {n}"),
                    vec![],
                )
            })
            .collect();
        let response = client
            .post(format!("{}/v1/logs", app.base_url()))
            .header("content-type", PROTOBUF)
            .body(prost::Message::encode_to_vec(&logs_request(vec![
                resource_logs("checked", records),
            ])))
            .send()
            .expect("POST");
        assert!(response.status().is_success());
        app.flush().expect("flush");
        app.stop().expect("stop");
    }
    let healthy = check(dir.path());
    assert!(healthy.status.success(), "{}", text(&healthy));
    assert!(
        text(&healthy).contains("50 log records in 1 day indexes"),
        "{}",
        text(&healthy)
    );

    // Ids assigned but their rows gone: acknowledged records lost between
    // the journal and the index.
    execute(
        dir.path(),
        "UPDATE sqlite_sequence SET seq = seq + 3 WHERE name = 'log_journal'",
    );
    let lost = check(dir.path());
    assert_eq!(lost.status.code(), Some(1), "{}", text(&lost));
    assert!(
        text(&lost).contains("3 record(s) were acknowledged but are neither indexed nor journaled"),
        "{}",
        text(&lost)
    );
    execute(
        dir.path(),
        "UPDATE sqlite_sequence SET seq = seq - 3 WHERE name = 'log_journal'",
    );
    assert!(check(dir.path()).status.success());

    // Flip bytes in the middle of the largest file of the day index.
    let logs = dir.path().join("logs");
    let day = std::fs::read_dir(&logs)
        .expect("logs dir")
        .flatten()
        .find(|entry| entry.path().join("meta.json").is_file())
        .expect("a day index")
        .path();
    let largest = std::fs::read_dir(&day)
        .expect("day dir")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.ends_with(".json") && !name.starts_with('.')
        })
        .max_by_key(|path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
        .expect("a segment file");
    let mut bytes = std::fs::read(&largest).expect("read");
    let middle = bytes.len() / 2;
    let end = (middle + 8).min(bytes.len());
    for byte in &mut bytes[middle..end] {
        *byte ^= 0xff;
    }
    std::fs::write(&largest, bytes).expect("write");
    let corrupted = check(dir.path());
    assert_eq!(corrupted.status.code(), Some(1), "{}", text(&corrupted));
    assert!(
        text(&corrupted).contains("checksum mismatch"),
        "{}",
        text(&corrupted)
    );

    // A database that is not one: check cannot open it.
    std::fs::write(
        dir.path().join("lookout.db"),
        b"not a database at all, just text",
    )
    .expect("write");
    let _ = std::fs::remove_file(dir.path().join("lookout.db-wal"));
    let broken = check(dir.path());
    assert_eq!(broken.status.code(), Some(2), "{}", text(&broken));
}

/// A trace block filter that lacks what its spans hold would make searches
/// miss traces: `check` rebuilds every filter from its block and names
/// the block whose stored one does not cover it.
#[test]
fn check_names_a_trace_block_filter_that_misses_its_spans() {
    let server = TestServer::start_with(|config| {
        config.pipeline.block_settle = std::time::Duration::ZERO;
    });
    let base = ms_aligned_ago(10 * MINUTE);
    let spans = (0..300u64)
        .map(|i| {
            let start = base + i * MS;
            let mut root = span(
                &new_trace_id(),
                &new_span_id(),
                None,
                "checked",
                opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server,
                start,
                start + MS,
            );
            root.attributes = vec![kv_int("n", i as i64)];
            root
        })
        .collect();
    server.export(&request(vec![resource_spans("checked", vec![], spans)]));
    // 300 traces: blocks 0 and 1 are complete and get sealed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while metric_value(&server.metrics_text(), "lookout_trace_blocks_sealed_total") < Some(2.0) {
        assert!(std::time::Instant::now() < deadline, "blocks not sealed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let dir = server.stop();
    let healthy = check(dir.path());
    assert!(healthy.status.success(), "{}", text(&healthy));
    assert!(
        text(&healthy).contains("2 trace block filters"),
        "{}",
        text(&healthy)
    );

    // A filter that decodes but holds nothing (format 1, no resources, no
    // numbers, no items).
    execute(
        dir.path(),
        "UPDATE trace_blocks SET filter = x'0100000000' WHERE block = 1",
    );
    let damaged = check(dir.path());
    assert_eq!(damaged.status.code(), Some(1), "{}", text(&damaged));
    assert!(
        text(&damaged).contains("trace block 1 (trace rowids 128..=255)"),
        "{}",
        text(&damaged)
    );
    assert!(
        !text(&damaged).contains("trace block 0"),
        "{}",
        text(&damaged)
    );
}
