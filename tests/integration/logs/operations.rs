//! Metrics, health and storage of the log path; searchability under load,
//! restarts and retention.

use super::*;

#[test]
fn log_ingest_and_indexing_show_in_metrics_health_and_storage() {
    let server = start_server();
    let before = server.metrics_text();
    assert_eq!(
        metric_value(&before, "lookout_ingested_logs_total"),
        Some(0.0)
    );
    assert_eq!(
        metric_value(&before, "lookout_indexed_logs_total"),
        Some(0.0)
    );

    let t = now_nanos() - SECOND;
    let records: Vec<LogRecord> = (0..25)
        .map(|i| log_record(t + i * MS, 9, "", &format!("opsrecord {i}"), vec![]))
        .collect();
    server.export_logs(&logs_request(vec![resource_logs("ops", records)]));
    let lines: Vec<String> = (0..5)
        .map(|i| json!({"msg": format!("opsrecord line {i}")}).to_string())
        .collect();
    let mut body = lines.join("\n");
    body.push_str("\nnot json\n");
    let answer = server.post_json_lines(&body);
    assert_eq!(answer["accepted"], json!(5), "{answer}");
    server.wait_for_logs(&[("q", "opsrecord")], 30);
    // Sizes are measured off the request path; a flush measures them now.
    server.flush();

    let after = server.metrics_text();
    assert_eq!(
        metric_value(&after, "lookout_ingested_logs_total"),
        Some(30.0),
        "{after}"
    );
    assert_eq!(
        metric_value(&after, "lookout_indexed_logs_total"),
        Some(30.0),
        "{after}"
    );
    assert!(
        metric_value(
            &after,
            "lookout_ingest_rejected_total{reason=\"invalid_item\"}"
        )
        .is_some_and(|count| count >= 1.0),
        "{after}"
    );
    let log_bytes = metric_value(&after, "lookout_storage_bytes{store=\"logs\"}")
        .unwrap_or_else(|| panic!("no log storage series:\n{after}"));
    assert!(log_bytes > 0.0, "{after}");

    let (status, deep) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::OK, "{deep}");
    let check = &deep["checks"]["log_index"];
    assert_eq!(check["status"], json!("ok"), "{deep}");
    assert_eq!(check["alive"], json!(true), "{deep}");
    assert_eq!(check["lag_records"], json!(0), "{deep}");
    assert_eq!(check["max_lag_seconds"], json!(2.0), "{deep}");
    assert!(check["capacity_records_per_second"].is_u64(), "{deep}");
    assert!(check["last_commit"].is_string(), "{deep}");
}

// ---------------------------------------------------------------------------
// Searchability

#[test]
fn log_ingest_says_so_while_indexing_is_too_far_behind_and_recovers() {
    let server = TestServer::start_with(|config| {
        config.log_refresh = REFRESH;
        config.log_max_lag = Duration::from_millis(300);
    });
    server.indexer().paused.store(true, Ordering::SeqCst);
    let t = now_nanos() - SECOND;
    let batch = |n: u64| {
        let records: Vec<LogRecord> = (0..1000)
            .map(|i| log_record(t + i * MS, 9, "", &format!("backlogged batch{n}"), vec![]))
            .collect();
        logs_request(vec![resource_logs("bulk", records)])
    };
    // With indexing stalled the backlog only grows. Before any speed is
    // measured 10k records/s is assumed, so the 300 ms bound minus the
    // 50 ms refresh leaves room for 2,500 records: three batches of 1000
    // go in (the third one starts from a backlog of 2,000).
    let mut acknowledged = 0;
    let refused = loop {
        let response = server.post_protobuf("/v1/logs", &batch(acknowledged));
        if response.status() != StatusCode::OK {
            break response;
        }
        acknowledged += 1;
        assert!(acknowledged <= 10, "ingest never refused a growing backlog");
    };
    assert_eq!(acknowledged, 3);
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("1")
    );
    let status =
        RpcStatus::decode(refused.bytes().expect("a body").as_ref()).expect("a google.rpc.Status");
    assert_eq!(status.code, 14, "UNAVAILABLE");
    assert!(
        status.message.contains("log indexing is behind"),
        "{}",
        status.message
    );
    // JSON lines are refused the same way, with the usual error object.
    let response = server.post_bytes(
        "/api/ingest/logs",
        "application/x-ndjson",
        None,
        b"{\"msg\": \"backlogged line\"}\n".to_vec(),
    );
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().expect("JSON error");
    assert_eq!(body["error"]["code"], json!("busy"), "{body}");
    let metrics = server.metrics_text();
    assert_eq!(
        metric_value(
            &metrics,
            "lookout_ingest_rejected_total{reason=\"index_lag\"}"
        ),
        Some(2.0),
        "one refused OTLP request and one refused JSON-lines request:\n{metrics}"
    );

    // Indexing resumes: everything acknowledged becomes searchable and
    // ingest is open again.
    server.indexer().paused.store(false, Ordering::SeqCst);
    server.wait_for_logs(&[("q", "backlogged")], acknowledged * 1000);
    server.export_logs(&batch(acknowledged));
    server.wait_for_logs(&[("q", "backlogged")], (acknowledged + 1) * 1000);
    // The commits after the stall measured how fast indexing goes.
    let metrics = server.metrics_text();
    assert!(
        metric_value(&metrics, "lookout_log_index_capacity_records_per_second")
            .is_some_and(|speed| speed > 0.0),
        "{metrics}"
    );
}

#[test]
fn each_record_becomes_searchable_within_a_few_refresh_intervals() {
    let refresh = Duration::from_millis(100);
    let server = TestServer::start_with(|config| config.log_refresh = refresh);
    let mut waits = Vec::new();
    for i in 0..8 {
        let word = format!("latencyprobe{i}");
        server.post_json_lines(&json!({"msg": word}).to_string());
        let acknowledged = Instant::now();
        loop {
            if server.search_logs(&[("q", &word)])["total"] == json!(1) {
                break;
            }
            assert!(
                acknowledged.elapsed() < 20 * refresh,
                "{word} not searchable {:?} after its 200 (refresh {refresh:?}); earlier: {waits:?}",
                acknowledged.elapsed()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        waits.push(acknowledged.elapsed());
    }
}

#[test]
fn a_graceful_restart_keeps_every_record_indexed_once() {
    // A refresh far longer than the test: only the stop commits the index.
    let mut server = TestServer::start_with(|config| config.log_refresh = Duration::from_secs(30));
    let t = now_nanos() - MINUTE;
    let records: Vec<LogRecord> = (0..200)
        .map(|i| log_record(t + i * MS, 9, "", &format!("restartrecord {i}"), vec![]))
        .collect();
    server.export_logs(&logs_request(vec![resource_logs("restart", records)]));
    server.restart_with(|config| config.log_refresh = REFRESH);
    let answer = server.wait_for_logs(&[("q", "restartrecord")], 200);
    assert_eq!(answer["total"], json!(200));
    // Indexed before the stop: the restart re-adds none of them.
    let metrics = server.metrics_text();
    assert_eq!(
        metric_value(&metrics, "lookout_indexed_logs_total"),
        Some(0.0),
        "{metrics}"
    );

    // Records arriving after the restart join them, and a second restart
    // changes nothing.
    server.post_json_lines(&json!({"msg": "restartrecord late"}).to_string());
    server.wait_for_logs(&[("q", "restartrecord")], 201);
    server.restart_with(|config| config.log_refresh = REFRESH);
    let answer = server.wait_for_logs(&[("q", "restartrecord")], 201);
    let ids: HashSet<&str> = logs_of(&answer)
        .iter()
        .filter_map(|log| log["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 100, "the first page has distinct ids");
    std::thread::sleep(REFRESH * 4);
    assert_eq!(
        server.search_logs(&[("q", "restartrecord")])["total"],
        json!(201)
    );
}

#[test]
fn after_a_restart_records_indexed_before_it_are_not_reported_as_lag() {
    // A long refresh: the first batch, of yesterday, is committed at once
    // (and the journal truncated); the second, of today, waits for the
    // commit at shutdown, which can no longer truncate the journal: the
    // writer has stopped by then. Replay after the restart starts at the
    // smaller payload of the two days, yesterday's.
    let slow = |config: &mut lookout::config::Config| config.log_refresh = Duration::from_secs(30);
    let mut server = TestServer::start_with(slow);
    let batch = |n: u64| {
        let t = now_nanos() - SECOND - (2 - n) * 86_400 * SECOND;
        let records: Vec<LogRecord> = (0..100)
            .map(|i| log_record(t + i * MS, 9, "", &format!("replayed batch{n}"), vec![]))
            .collect();
        logs_request(vec![resource_logs("replay", records)])
    };
    server.export_logs(&batch(1));
    server.wait_for_logs(&[("q", "replayed"), ("lookback", "7d")], 100);
    server.export_logs(&batch(2));
    server.restart_with(slow);

    // The second batch was committed at shutdown: searchable, once, and
    // not waiting to be indexed, with no new record to move things on.
    let found = server.search_logs(&[("q", "replayed"), ("lookback", "7d"), ("limit", "1")]);
    assert_eq!(found["total"], json!(200), "{found}");
    let waited = std::time::Instant::now();
    loop {
        let (_, deep) = server.get_json("/health/deep");
        let check = &deep["checks"]["log_index"];
        if check["lag_records"] == json!(0) {
            assert_eq!(check["status"], json!("ok"), "{deep}");
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "indexed records reported as lag after a restart: {deep}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = server.metrics_text();
    assert_eq!(
        metric_value(&metrics, "lookout_log_index_lag_records"),
        Some(0.0),
        "{metrics}"
    );
}

#[test]
fn retention_deletes_whole_log_days_past_the_period() {
    const DAY: u64 = 86_400 * SECOND;
    let mut server =
        TestServer::start_with(|config| config.log_refresh = Duration::from_millis(50));
    let now = now_nanos();
    let old = log_record(now - 3 * DAY, 9, "INFO", "ancient retained record", vec![]);
    let fresh = log_record(now - SECOND, 9, "INFO", "fresh retained record", vec![]);
    server.export_logs(&logs_request(vec![resource_logs(
        "keeper",
        vec![old, fresh],
    )]));
    let week = [("q", "retained"), ("lookback", "7d")];
    server.wait_for_logs(&week, 2);

    // A shorter retention on restart: the three-day-old day index goes,
    // today's stays.
    server.restart_with(|config| {
        config.log_refresh = Duration::from_millis(50);
        config.retention = Duration::from_secs(86_400);
    });
    let left = server.wait_for_logs(&week, 1);
    assert_eq!(left["logs"][0]["body"], json!("fresh retained record"));
    // The deletion is audited, with what went.
    let purge = server.wait_for_audit("action=retention.purge", |event| {
        event["details"]["log_days"].is_array()
    });
    assert_eq!(purge["actor"], json!("lookout"), "{purge}");
    assert_eq!(purge["details"]["reason"], json!("age"), "{purge}");
    assert_eq!(purge["details"]["log_records"], json!(1), "{purge}");
    assert_eq!(
        purge["details"]["log_days"].as_array().map(Vec::len),
        Some(1),
        "{purge}"
    );
}

#[test]
fn a_burst_of_logs_indexed_and_over_gives_its_journal_pages_back() {
    let server = start_server();
    let t = now_nanos() - SECOND;
    // 12,000 records of about 400 bytes: megabytes of journal rows, all
    // deleted once indexed.
    let padding = "x".repeat(380);
    for batch in 0..4 {
        let records: Vec<LogRecord> = (0..3_000)
            .map(|i| {
                let n = batch * 3_000 + i;
                log_record(
                    t + n * 1_000,
                    9,
                    "",
                    &format!("burstrecord {n} {padding}"),
                    vec![],
                )
            })
            .collect();
        server.export_logs(&logs_request(vec![resource_logs("burst", records)]));
    }
    server.wait_for_logs(&[("q", "burstrecord")], 12_000);
    server.flush();
    let peak = database_bytes(&server);
    assert!(peak > 4_000_000, "the journal took only {peak} bytes");

    // Once no record has come for a few seconds, the free pages go back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while database_bytes(&server) * 3 > peak && std::time::Instant::now() < deadline {
        server.flush();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let after = database_bytes(&server);
    assert!(
        after * 3 <= peak,
        "the database kept {after} of {peak} bytes after its journal emptied"
    );
    let reclaimed = metric_value(
        &server.metrics_text(),
        "lookout_storage_reclaimed_bytes_total",
    )
    .expect("reclaimed counter");
    assert!(reclaimed > 0.0, "{reclaimed}");
    server.wait_for_logs(&[("q", "burstrecord")], 12_000);
}
