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

/// A checkout span as an instrumented HTTP server writes it: attributes
/// mostly the same from span to span, and an exception event.
fn checkout_span(
    trace_id: &[u8],
    order: i64,
    start: u64,
) -> opentelemetry_proto::tonic::trace::v1::Span {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    let mut root = span(
        trace_id,
        &new_span_id(),
        None,
        "GET /api/orders/{id}",
        opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server,
        start,
        start + MS,
    );
    root.attributes = vec![
        kv_str("http.request.method", "GET"),
        kv_str(
            "url.full",
            &format!("https://shop.example/api/orders/{order}?page=2"),
        ),
        kv_int("http.response.status_code", 200),
        kv_double("order.ratio", 0.25),
        kv_bool("cache.hit", order % 2 == 0),
        kv_array(
            "order.tags",
            vec![Value::StringValue("gift".into()), Value::IntValue(7)],
        ),
        kv_str(
            "user_agent.original",
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
        ),
    ];
    root.events = vec![Event {
        time_unix_nano: start + 10,
        name: "exception".into(),
        attributes: vec![
            kv_str("exception.type", "KeyError"),
            kv_str(
                "exception.stacktrace",
                &format!(
                    "Traceback:\n  File \"shop/orders.py\", line {order}, in load\nKeyError: 'id'"
                ),
            ),
        ],
        ..Default::default()
    }];
    root
}

/// Stores 1,200 spans from `base` on (enough samples for a dictionary)
/// and waits until the server has trained and stored one. One request:
/// the trainer looks every 50 ms, and a dictionary trained between
/// requests would pack the spans of the later ones.
fn store_spans_until_a_dictionary(server: &TestServer, base: u64) {
    let spans = (0..1200u64)
        .map(|n| checkout_span(&new_trace_id(), n as i64, base + n * MS))
        .collect();
    server.export(&request(vec![resource_spans("checkout", vec![], spans)]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while metric_value(&server.metrics_text(), "lookout_span_dictionaries_total") < Some(1.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "no dictionary trained"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Once enough spans are stored a dictionary is trained on them, and the
/// spans written after it are packed with it: they read back exactly as
/// the same span written before, are found by attribute, after a restart
/// too; `check` unpacks every span and names one whose blob is damaged.
#[test]
fn packed_spans_read_back_as_sent_and_check_names_a_damaged_one() {
    let server = TestServer::start_with(|config| {
        config.pipeline.span_dictionary_poll = std::time::Duration::from_millis(50);
    });
    let base = ms_aligned_ago(10 * MINUTE);
    let before = new_trace_id();
    server.export(&request(vec![resource_spans(
        "checkout",
        vec![],
        vec![checkout_span(&before, 4242, base)],
    )]));
    // 1,200 more spans (and their events): enough samples for a dictionary.
    store_spans_until_a_dictionary(&server, base);
    let after = new_trace_id();
    server.export(&request(vec![resource_spans(
        "checkout",
        vec![],
        vec![checkout_span(&after, 4242, base)],
    )]));

    let same_content = |server: &TestServer| {
        let (old, new) = (server.trace(&hex(&before)), server.trace(&hex(&after)));
        for field in ["attributes", "events", "name", "resource"] {
            assert_eq!(new["spans"][0][field], old["spans"][0][field], "{field}");
        }
        assert_eq!(
            new["spans"][0]["attributes"]["url.full"],
            "https://shop.example/api/orders/4242?page=2"
        );
        let found = server.search_ids(&format!(
            "attr={}",
            encode("url.full=https://shop.example/api/orders/4242?page=2")
        ));
        let found: std::collections::HashSet<String> = found.into_iter().collect();
        assert_eq!(found, [hex(&after), hex(&before)].into_iter().collect());
    };
    same_content(&server);
    let dir = server.stop();
    let packed: Vec<Option<i64>> = {
        let conn = lookout::store::sqlite::open_read_only(dir.path()).expect("open");
        [&before, &after]
            .iter()
            .map(|id| {
                conn.query_row(
                    "SELECT s.dictionary_id FROM spans s JOIN traces t ON t.id = s.trace_rowid
                     WHERE t.trace_id = ?1",
                    [id.as_slice()],
                    |row| row.get(0),
                )
                .expect("span row")
            })
            .collect()
    };
    assert_eq!(packed[0], None, "written before the dictionary");
    assert!(packed[1].is_some(), "written after it");
    let healthy = check(dir.path());
    assert!(healthy.status.success(), "{}", text(&healthy));
    assert!(
        text(&healthy).contains("spans (1 packed)"),
        "{}",
        text(&healthy)
    );

    let server = TestServer::start_on(dir);
    same_content(&server);
    let dir = server.stop();

    // The packed blob's length prefix replaced.
    execute(
        dir.path(),
        &format!(
            "UPDATE spans SET attributes = CAST(x'05' || substr(attributes, 2) AS BLOB)
             WHERE trace_rowid = (SELECT id FROM traces WHERE trace_id = x'{}')",
            hex(&after)
        ),
    );
    let damaged = check(dir.path());
    assert_eq!(damaged.status.code(), Some(1), "{}", text(&damaged));
    assert!(
        text(&damaged).contains("attributes do not read"),
        "{}",
        text(&damaged)
    );
}

/// A restart on a directory with a span dictionary does not train again
/// at once: training holds a few MB, and the next one is due a retrain
/// interval (10 minutes) later, not at every start.
#[test]
fn a_restart_with_a_dictionary_does_not_train_again_at_once() {
    let fast_poll = |config: &mut Config| {
        config.pipeline.span_dictionary_poll = std::time::Duration::from_millis(50);
    };
    let mut server = TestServer::start_with(fast_poll);
    let base = ms_aligned_ago(10 * MINUTE);
    store_spans_until_a_dictionary(&server, base);
    server.restart_with(fast_poll);
    // Twenty polls' time: the old schedule trained within the first.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        metric_value(
            &server.metrics_text(),
            "lookout_span_dictionary_trainings_total"
        ),
        Some(0.0)
    );
}
