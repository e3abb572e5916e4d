//! Log ingest: OTLP in protobuf, JSON and gzip, JSON lines of common
//! loggers, structured bodies, severity completion and the accepted time
//! window.

use super::*;

#[test]
fn otlp_logs_in_protobuf_json_and_gzip_are_stored_with_every_field() {
    let server = start_server();
    let t0 = ms_aligned_ago(5 * MINUTE);
    let trace_id = new_trace_id();
    let span_id = new_span_id();

    // Protobuf, with trace context and typed attributes.
    let mut record = in_span(
        log_record(
            t0,
            17,
            "ERROR",
            "Payment declined for order-7",
            vec![
                kv_int("http.status_code", 402),
                kv_double("amount", 12.5),
                kv_bool("retry", false),
                kv_str("user", "ann"),
                kv_array("tags", vec![Av::StringValue("a".into()), Av::IntValue(2)]),
                kv_list("card", vec![kv_str("brand", "visa")]),
            ],
        ),
        &trace_id,
        &span_id,
    );
    record.observed_time_unix_nano = t0 + 3 * MS;
    server.export_logs(&logs_request(vec![resource_logs("checkout", vec![record])]));

    // OTLP/JSON as the spec writes it: hex ids, integer enums, 64-bit
    // integers as strings.
    let json_trace = new_trace_id();
    let json_span = new_span_id();
    let body = json!({
        "resourceLogs": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "json-svc"}},
                {"key": "host.name", "value": {"stringValue": "box-1"}}
            ]},
            "scopeLogs": [{
                "scope": {"name": "json-logger", "version": "0.1"},
                "logRecords": [{
                    "timeUnixNano": (t0 + MS).to_string(),
                    "observedTimeUnixNano": (t0 + 2 * MS).to_string(),
                    "severityNumber": 13,
                    "severityText": "Warning",
                    "body": {"stringValue": "jsonencoded warning"},
                    "traceId": hex(&json_trace),
                    "spanId": hex(&json_span),
                    "attributes": [
                        {"key": "retries", "value": {"intValue": "3"}},
                        {"key": "ratio", "value": {"doubleValue": 0.5}},
                        {"key": "ok", "value": {"boolValue": true}}
                    ]
                }]
            }]
        }]
    });
    let response = server.post_json("/v1/logs", &body);
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = content_type_of(&response);
    assert!(content_type.starts_with(JSON), "{content_type}");
    let answer: Value = response.json().expect("a JSON ExportLogsServiceResponse");
    assert!(
        answer.get("partialSuccess").is_none_or(Value::is_null),
        "{answer}"
    );

    // Gzip around protobuf and around JSON.
    let gz_proto = logs_request(vec![resource_logs(
        "gzip-svc",
        vec![log_record(t0 + 4 * MS, 9, "", "gzipped protobuf", vec![])],
    )]);
    let response = server.post_bytes(
        "/v1/logs",
        PROTOBUF,
        Some("gzip"),
        gzip(&gz_proto.encode_to_vec()),
    );
    assert_eq!(response.status(), StatusCode::OK);
    let decoded = ExportLogsServiceResponse::decode(response.bytes().expect("body").as_ref())
        .expect("a protobuf answer");
    assert_eq!(decoded.partial_success, None);
    let gz_json = serde_json::to_vec(&logs_request(vec![resource_logs(
        "gzip-svc",
        vec![log_record(t0 + 5 * MS, 9, "", "gzipped json", vec![])],
    )]))
    .expect("OTLP JSON");
    let response = server.post_bytes("/v1/logs", JSON, Some("gzip"), gzip(&gz_json));
    assert_eq!(response.status(), StatusCode::OK);

    server.wait_for_logs(&[], 4);

    let stored = the_log(&server, "payment declined");
    assert_eq!(stored["timestamp"], json!(rfc3339(t0)), "{stored}");
    assert_eq!(stored["observed_timestamp"], json!(rfc3339(t0 + 3 * MS)));
    assert_eq!(stored["severity_text"], json!("ERROR"));
    assert_eq!(stored["severity_number"], json!(17));
    assert_eq!(stored["service"], json!("checkout"));
    assert_eq!(stored["body"], json!("Payment declined for order-7"));
    assert_eq!(stored["trace_id"], json!(hex(&trace_id)));
    assert_eq!(stored["span_id"], json!(hex(&span_id)));
    assert_eq!(
        stored["attributes"],
        json!({
            "http.status_code": 402,
            "amount": 12.5,
            "retry": false,
            "user": "ann",
            "tags": ["a", 2],
            "card": {"brand": "visa"}
        }),
        "{stored}"
    );
    assert_eq!(stored["resource"], json!({"service.name": "checkout"}));
    assert_eq!(stored["scope"]["name"], json!("checkout-logger"));
    assert_eq!(stored["scope"]["version"], json!("2.1.0"));
    assert!(stored["id"].as_str().is_some_and(|id| !id.is_empty()));

    let stored = the_log(&server, "jsonencoded");
    assert_eq!(stored["timestamp"], json!(rfc3339(t0 + MS)));
    assert_eq!(stored["observed_timestamp"], json!(rfc3339(t0 + 2 * MS)));
    assert_eq!(stored["severity_number"], json!(13));
    assert_eq!(stored["severity_text"], json!("Warning"));
    assert_eq!(stored["service"], json!("json-svc"));
    assert_eq!(stored["trace_id"], json!(hex(&json_trace)));
    assert_eq!(stored["span_id"], json!(hex(&json_span)));
    assert_eq!(
        stored["attributes"],
        json!({"retries": 3, "ratio": 0.5, "ok": true})
    );
    assert_eq!(
        stored["resource"],
        json!({"service.name": "json-svc", "host.name": "box-1"})
    );
    assert_eq!(
        stored["scope"],
        json!({"name": "json-logger", "version": "0.1"})
    );

    for (q, time) in [
        ("\"gzipped protobuf\"", t0 + 4 * MS),
        ("\"gzipped json\"", t0 + 5 * MS),
    ] {
        let stored = the_log(&server, q);
        assert_eq!(stored["service"], json!("gzip-svc"), "{q}");
        assert_eq!(stored["timestamp"], json!(rfc3339(time)), "{q}");
        assert_eq!(stored["severity_text"], json!("INFO"), "{q}");
        assert_eq!(stored["trace_id"], Value::Null, "{q}");
        assert_eq!(stored["span_id"], Value::Null, "{q}");
    }
}

#[test]
fn json_lines_of_common_loggers_are_stored_and_a_bad_line_is_reported_by_number() {
    let server = start_server();
    let t0 = ms_aligned_ago(3 * MINUTE);
    let trace = hex(&new_trace_id());
    let span = hex(&new_span_id());
    let ancient = ms_aligned_ago(8 * 24 * 60 * MINUTE);
    let lines = [
        // 1: pino, numeric level 30, logger name as service.
        json!({"level": 30, "time": t0 / MS, "pid": 4242, "hostname": "web-1",
               "name": "cart-api", "msg": "pinoline added item", "item": "sku-1"})
        .to_string(),
        // 2: pino, level 50.
        json!({"level": 50, "time": t0 / MS + 1, "name": "cart-api",
               "msg": "pinoline payment failed"})
        .to_string(),
        // 3: blank lines are skipped, not errors.
        String::new(),
        // 4: ECS, dotted keys.
        json!({"@timestamp": rfc3339(t0 + 2 * MS), "log.level": "warn",
               "message": "ecsline disk nearly full", "service.name": "billing",
               "trace.id": trace.to_uppercase(), "span.id": span,
               "http.request.method": "POST", "ecs.version": "1.6.0"})
        .to_string(),
        // 5: not JSON.
        "{\"msg\": \"broken".to_string(),
        // 6: ECS, nested objects.
        json!({"@timestamp": rfc3339(t0 + 3 * MS), "log": {"level": "error"},
               "message": "ecsline nested", "service": {"name": "billing"}})
        .to_string(),
        // 7: structlog.
        json!({"event": "structline user logged in", "level": "info",
               "timestamp": rfc3339(t0 + 4 * MS), "logger": "auth", "user_id": 42})
        .to_string(),
        // 8: an invalid trace id.
        json!({"msg": "badtrace", "trace_id": "xyz"}).to_string(),
        // 9: a time older than the retention period.
        json!({"msg": "ancientline", "time": rfc3339(ancient)}).to_string(),
        // 10: not an object.
        "[1, 2]".to_string(),
        // 11: the line after the bad ones is stored.
        json!({"event": "structline after the bad lines", "level": "debug",
               "timestamp": rfc3339(t0 + 5 * MS)})
        .to_string(),
    ];
    let answer = server.post_json_lines(&lines.join("\n"));
    assert_eq!(answer["accepted"], json!(6), "{answer}");
    assert_eq!(answer["rejected"], json!(4), "{answer}");
    let errors = answer["errors"].as_array().expect("errors");
    let numbers: Vec<u64> = errors
        .iter()
        .map(|error| error["line"].as_u64().expect("line number"))
        .collect();
    assert_eq!(numbers, [5, 8, 9, 10], "{answer}");
    let message = |index: usize| errors[index]["message"].as_str().unwrap_or("").to_string();
    assert!(message(0).contains("invalid JSON"), "{answer}");
    assert!(message(1).contains("trace id"), "{answer}");
    assert!(message(2).contains("timestamp"), "{answer}");
    assert!(message(3).contains("object"), "{answer}");

    server.wait_for_logs(&[], 6);
    assert_eq!(
        server.search_logs(&[("q", "badtrace OR ancientline")])["total"],
        json!(0)
    );

    let pino = the_log(&server, "pinoline added");
    assert_eq!(pino["timestamp"], json!(rfc3339(t0)));
    assert_eq!(
        (&pino["severity_number"], &pino["severity_text"]),
        (&json!(9), &json!("INFO"))
    );
    assert_eq!(pino["service"], json!("cart-api"));
    assert_eq!(pino["body"], json!("pinoline added item"));
    assert_eq!(
        pino["attributes"],
        json!({"pid": 4242, "hostname": "web-1", "item": "sku-1"})
    );
    let pino_error = the_log(&server, "pinoline payment");
    assert_eq!(pino_error["severity_number"], json!(17));
    assert_eq!(pino_error["severity_text"], json!("ERROR"));

    let ecs = the_log(&server, "ecsline disk");
    assert_eq!(ecs["timestamp"], json!(rfc3339(t0 + 2 * MS)));
    assert_eq!(ecs["severity_number"], json!(13));
    assert_eq!(ecs["service"], json!("billing"));
    assert_eq!(ecs["trace_id"], json!(trace));
    assert_eq!(ecs["span_id"], json!(span));
    assert_eq!(
        ecs["attributes"],
        json!({"http.request.method": "POST", "ecs.version": "1.6.0"})
    );
    let nested = the_log(&server, "ecsline nested");
    assert_eq!(nested["severity_number"], json!(17));
    assert_eq!(nested["service"], json!("billing"));

    let structlog = the_log(&server, "structline logged");
    assert_eq!(structlog["timestamp"], json!(rfc3339(t0 + 4 * MS)));
    assert_eq!(structlog["severity_number"], json!(9));
    assert_eq!(structlog["service"], json!("unknown_service"));
    assert_eq!(
        structlog["attributes"],
        json!({"logger": "auth", "user_id": 42})
    );
    let after = the_log(&server, "structline after");
    assert_eq!(after["severity_number"], json!(5));

    // The fields the shapes were mapped to are searchable.
    let billing = server.search_logs(&[("service", "billing")]);
    assert_eq!(billing["total"], json!(2), "{billing}");
    let by_trace = server.search_logs(&[("q", &format!("trace_id:{trace}"))]);
    assert_eq!(by_trace["total"], json!(1), "{by_trace}");
    let by_attr = server.search_logs(&[("q", "attr.user_id:>=42 attr.logger:auth")]);
    assert_eq!(by_attr["total"], json!(1), "{by_attr}");
    let unknown = server.search_logs(&[("service", "unknown_service")]);
    assert_eq!(unknown["total"], json!(2), "{unknown}");

    // Gzip and the other accepted content types.
    let gz = json!({"msg": "gzipline", "level": "info"}).to_string();
    for content_type in ["application/x-ndjson", "application/jsonl", "text/plain"] {
        let response = server.post_bytes(
            "/api/ingest/logs",
            content_type,
            Some("gzip"),
            gzip(gz.as_bytes()),
        );
        assert_eq!(response.status(), StatusCode::OK, "{content_type}");
        let answer: Value = response.json().expect("JSON");
        assert_eq!(answer["accepted"], json!(1), "{content_type}: {answer}");
    }
    server.wait_for_logs(&[("q", "gzipline")], 3);
}

#[test]
fn structured_otlp_bodies_stay_json_and_are_searchable_by_their_words() {
    let server = start_server();
    let t0 = ms_aligned_ago(MINUTE);
    let mut kvlist = log_record(t0, 9, "", "", vec![]);
    kvlist.body = Some(any(Av::KvlistValue(KeyValueList {
        values: vec![
            kv_str("action", "refund"),
            kv_str("reason", "duplicate charge"),
            kv_int("amount", 42),
            kv_list("customer", vec![kv_str("tier", "platinum")]),
        ],
    })));
    let mut array = log_record(t0 + MS, 9, "", "", vec![]);
    array.body = Some(any(Av::ArrayValue(ArrayValue {
        values: vec![
            any(Av::StringValue("alphaitem".into())),
            any(Av::IntValue(7)),
            any(Av::BoolValue(true)),
        ],
    })));
    let mut number = log_record(t0 + 2 * MS, 9, "", "", vec![]);
    number.body = Some(any(Av::IntValue(31337)));
    server.export_logs(&logs_request(vec![resource_logs(
        "bodies",
        vec![kvlist, array, number],
    )]));
    server.wait_for_logs(&[], 3);

    let refund = the_log(&server, "refund");
    assert_eq!(
        refund["body"],
        json!({
            "action": "refund",
            "reason": "duplicate charge",
            "amount": 42,
            "customer": {"tier": "platinum"}
        }),
        "{refund}"
    );
    for q in [
        "\"duplicate charge\"",
        "platinum",
        "refund platinum",
        "action refund",
    ] {
        let answer = server.search_logs(&[("q", q)]);
        assert_eq!(answer["total"], json!(1), "{q}: {answer}");
    }
    let array = the_log(&server, "alphaitem");
    assert_eq!(array["body"], json!(["alphaitem", 7, true]));
    let number = the_log(&server, "31337");
    assert_eq!(number["body"], json!(31337));
}

#[test]
fn severity_number_and_text_are_completed_from_each_other() {
    let server = start_server();
    let t0 = ms_aligned_ago(MINUTE);
    // (number, text) sent → (number, text) stored.
    let cases: [(i32, &str, i32, &str); 8] = [
        (17, "", 17, "ERROR"),
        (10, "", 10, "INFO"),
        (24, "", 24, "FATAL"),
        (0, "warning", 13, "warning"),
        (0, "CRITICAL", 21, "CRITICAL"),
        (0, "err", 17, "err"),
        (3, "custom", 3, "custom"),
        (0, "loud", 0, "loud"),
    ];
    let records: Vec<LogRecord> = cases
        .iter()
        .enumerate()
        .map(|(index, (number, text, _, _))| {
            log_record(
                t0 + index as u64 * MS,
                *number,
                text,
                &format!("severitycase case{index}"),
                vec![],
            )
        })
        .collect();
    server.export_logs(&logs_request(vec![resource_logs("levels", records)]));
    server.wait_for_logs(&[("q", "severitycase")], cases.len() as u64);
    for (index, (_, _, number, text)) in cases.iter().enumerate() {
        let stored = the_log(&server, &format!("case{index}"));
        assert_eq!(
            (&stored["severity_number"], &stored["severity_text"]),
            (&json!(number), &json!(text)),
            "case {index}: {stored}"
        );
    }
    // Filters use the completed numbers.
    let warn = server.search_logs(&[("level", "warn")]);
    assert_eq!(warn["total"], json!(5), "{warn}");
    let error = server.search_logs(&[("q", "level:error")]);
    assert_eq!(error["total"], json!(4), "{error}");
    let info = server.search_logs(&[("q", "level:info -level:warn")]);
    assert_eq!(info["total"], json!(1), "{info}");
    // The histogram counts every record, the one without a level too.
    let (status, histogram) = server.get_query(
        "/api/logs/histogram",
        &[("q", "severitycase"), ("buckets", "3")],
    );
    assert_eq!(status, StatusCode::OK, "{histogram}");
    let counted: u64 = histogram["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .flat_map(|bucket| bucket["counts"].as_object().expect("counts").values())
        .map(|count| count.as_u64().expect("count"))
        .sum();
    assert_eq!(counted, cases.len() as u64, "{histogram}");
}

#[test]
fn invalid_trace_ids_and_times_outside_the_window_are_partial_successes() {
    let server = start_server();
    let now = now_nanos();
    let good = log_record(now - MINUTE, 9, "", "windowcase good", vec![]);
    let mut short_trace = log_record(now - MINUTE, 9, "", "windowcase shorttrace", vec![]);
    short_trace.trace_id = vec![1, 2, 3];
    let mut short_span = log_record(now - MINUTE, 9, "", "windowcase shortspan", vec![]);
    short_span.trace_id = new_trace_id();
    short_span.span_id = vec![7; 3];
    let too_old = log_record(
        now - 8 * 24 * 60 * MINUTE,
        9,
        "",
        "windowcase tooold",
        vec![],
    );
    let too_new = log_record(
        now + 3 * 24 * 60 * MINUTE,
        9,
        "",
        "windowcase toonew",
        vec![],
    );
    let request = logs_request(vec![resource_logs(
        "window",
        vec![good, short_trace, short_span, too_old, too_new],
    )]);
    let response = server.post_protobuf("/v1/logs", &request);
    assert_eq!(response.status(), StatusCode::OK);
    let answer = ExportLogsServiceResponse::decode(response.bytes().expect("body").as_ref())
        .expect("a protobuf answer");
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_log_records, 4, "{partial:?}");
    for fragment in [
        "logRecords[1]",
        "logRecords[2]",
        "logRecords[3]",
        "logRecords[4]",
        "trace",
        "span",
        "timestamp",
    ] {
        assert!(
            partial.error_message.contains(fragment),
            "{fragment}: {}",
            partial.error_message
        );
    }

    // The same over OTLP/JSON.
    let json_request = json!({
        "resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "window"}}]},
            "scopeLogs": [{"logRecords": [
                {"timeUnixNano": (now - MINUTE).to_string(), "body": {"stringValue": "windowjson good"}},
                {"timeUnixNano": (now - MINUTE).to_string(), "body": {"stringValue": "windowjson badtrace"},
                 "traceId": "0102030405"},
                {"timeUnixNano": "1000", "body": {"stringValue": "windowjson epoch"}}
            ]}]
        }]
    });
    let response = server.post_json("/v1/logs", &json_request);
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().expect("JSON");
    assert_eq!(
        json_count(&answer["partialSuccess"]["rejectedLogRecords"]),
        Some(2),
        "{answer}"
    );
    let message = answer["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap_or("");
    assert!(message.contains("logRecords[1]"), "{answer}");
    assert!(message.contains("logRecords[2]"), "{answer}");

    // Only the valid records are stored.
    server.wait_for_logs(&[("q", "windowcase OR windowjson"), ("lookback", "30d")], 2);
    let wide = [
        ("q", "windowcase OR windowjson"),
        ("start", "0"),
        ("end", &unix_millis(now + 30 * 24 * 60 * MINUTE)),
    ];
    let answer = server.search_logs(&wide);
    assert_eq!(answer["total"], json!(2), "{answer}");
    let bodies: HashSet<&str> = logs_of(&answer)
        .iter()
        .filter_map(|log| log["body"].as_str())
        .collect();
    assert_eq!(
        bodies,
        HashSet::from(["windowcase good", "windowjson good"])
    );
}

#[test]
fn the_accepted_time_window_follows_the_configured_retention() {
    let server = TestServer::start_with(|config| {
        config.log_refresh = REFRESH;
        config.retention = Duration::from_secs(3600);
    });
    let now = now_nanos();
    let request = logs_request(vec![resource_logs(
        "retained",
        vec![
            log_record(now - 30 * MINUTE, 9, "", "retentioncase recent", vec![]),
            log_record(
                now - 2 * 60 * MINUTE,
                9,
                "",
                "retentioncase expired",
                vec![],
            ),
        ],
    )]);
    let response = server.post_protobuf("/v1/logs", &request);
    assert_eq!(response.status(), StatusCode::OK);
    let answer = ExportLogsServiceResponse::decode(response.bytes().expect("body").as_ref())
        .expect("a protobuf answer");
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_log_records, 1, "{partial:?}");
    assert!(
        partial.error_message.contains("logRecords[1]"),
        "{}",
        partial.error_message
    );
    let lines = [
        json!({"msg": "retentioncase line recent", "time": rfc3339(now - 10 * MINUTE)}).to_string(),
        json!({"msg": "retentioncase line expired", "time": rfc3339(now - 3 * 60 * MINUTE)})
            .to_string(),
    ];
    let answer = server.post_json_lines(&lines.join("\n"));
    assert_eq!(answer["accepted"], json!(1), "{answer}");
    assert_eq!(answer["errors"][0]["line"], json!(2), "{answer}");
    server.wait_for_logs(&[("q", "retentioncase"), ("lookback", "1d")], 2);
    let answer = server.search_logs(&[("q", "retentioncase expired"), ("lookback", "1d")]);
    assert_eq!(answer["total"], json!(0), "{answer}");
}
