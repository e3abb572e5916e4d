//! Bad queries and bad log ingest: clear 4xx answers, the server stays up.

use super::*;

#[test]
fn bad_queries_are_400s_naming_the_problem_and_position() {
    let server = start_server();
    server.post_json_lines(&json!({"msg": "survivor record", "level": "info"}).to_string());
    server.wait_for_logs(&[("q", "survivor")], 1);
    let long = "word ".repeat(2_000);
    let cases: [(&str, &str, usize); 16] = [
        ("\"unbalanced", "quote", 0),
        // An unknown level name is refused, not quietly read as some range.
        ("level:verbose", "unknown level", 6),
        // Wildcards only end words and service: values.
        ("de*cline", "can only end a word", 2),
        ("ok attr.user:ann*", "cannot end in a wildcard", 13),
        ("a*", "at least 2", 0),
        ("order-1*", "one word", 5),
        ("error \"disk full", "quote", 6),
        ("(timeout OR cache", "never closed", 0),
        ("timeout)", "has no `(`", 7),
        ("colour:red", "unknown field `colour`", 0),
        ("timeout OR", "`OR`", 8),
        ("OR timeout", "`OR`", 0),
        ("level:loud", "unknown level", 6),
        ("attr.status:[400 TO", "never closed", 12),
        ("attr.status:>=abc", "not a number", 14),
        (&long, "longer than", 4096),
    ];
    for (q, fragment, position) in cases {
        for path in ["/api/logs", "/api/logs/histogram", "/api/logs/tail"] {
            let (status, body) = server.get_query(path, &[("q", q)]);
            let shown = &q[..q.len().min(40)];
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} q={shown}: {body}");
            assert_eq!(body["error"]["code"], json!("bad_request"), "{body}");
            let message = error_message(&body);
            assert!(message.contains(fragment), "{path} q={shown}: {message}");
            assert!(
                message.contains(&format!("position {position}")),
                "{path} q={shown}: {message}"
            );
            assert_eq!(body["error"]["parameter"], json!("q"), "{body}");
            assert_eq!(body["error"]["position"], json!(position), "{body}");
            assert!(message.len() < 1_000, "the message is short: {message}");
        }
    }
    for (name, value) in [
        ("level", "loud"),
        ("level", "verbose"),
        ("order", "sideways"),
        ("limit", "0"),
        ("cursor", "not-a-cursor"),
        ("trace_id", "xyz"),
        ("start", "noon"),
        ("lookback", "a while"),
    ] {
        let (status, body) = server.get_query("/api/logs", &[(name, value)]);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}={value}: {body}");
        assert!(error_message(&body).contains(name), "{name}: {body}");
    }
    let (status, body) = server.get_query("/api/logs/histogram", &[("buckets", "0")]);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_message(&body).contains("buckets"), "{body}");

    // Still serving.
    assert_eq!(server.search_logs(&[("q", "survivor")])["total"], json!(1));
    server.post_json_lines(&json!({"msg": "survivor again"}).to_string());
    server.wait_for_logs(&[("q", "survivor")], 2);
}

#[test]
fn log_ingest_refuses_wrong_content_types_and_gzip_bombs() {
    let server = TestServer::start_with(|config| {
        config.log_refresh = REFRESH;
        config.limits.max_decompressed_bytes = 64 * 1024;
    });
    let line = json!({"msg": "refusedrecord", "level": "info"}).to_string();
    for content_type in ["application/x-protobuf", "text/csv", "application/xml"] {
        let response = server.post_bytes(
            "/api/ingest/logs",
            content_type,
            None,
            line.clone().into_bytes(),
        );
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        let body: Value = response.json().expect("a JSON error");
        assert!(!error_message(&body).is_empty(), "{body}");
    }
    let response = server.post_bytes("/v1/logs", "text/plain", None, line.clone().into_bytes());
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Megabytes of valid lines that compress to a few kilobytes.
    let bomb_lines = format!("{line}\n").repeat(200_000);
    let bomb = gzip(bomb_lines.as_bytes());
    assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire");
    let response = server.post_bytes(
        "/api/ingest/logs",
        "application/x-ndjson",
        Some("gzip"),
        bomb,
    );
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().expect("a JSON error");
    assert!(!error_message(&body).is_empty(), "{body}");

    let t = now_nanos();
    let many: Vec<LogRecord> = (0..20_000)
        .map(|_| log_record(t, 9, "", "refusedrecord", vec![]))
        .collect();
    let export = logs_request(vec![resource_logs("bomb", many)]);
    let bomb = gzip(&export.encode_to_vec());
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let response = server.post_bytes("/v1/logs", PROTOBUF, Some("gzip"), bomb);
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing of it was stored, and the server still ingests.
    server.post_json_lines(&json!({"msg": "acceptedrecord"}).to_string());
    server.wait_for_logs(&[("q", "acceptedrecord")], 1);
    assert_eq!(
        server.search_logs(&[("q", "refusedrecord")])["total"],
        json!(0)
    );
    let metrics = server.metrics_text();
    assert_eq!(
        metric_value(&metrics, "lookout_ingested_logs_total"),
        Some(1.0),
        "{metrics}"
    );
}
