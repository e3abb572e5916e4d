//! Structured logs over HTTP: OTLP and JSON-lines ingest, the query
//! language on a corpus with known counts, pagination, the histogram, live
//! tail, trace correlation, bad input and the operational signals.

use std::collections::{BTreeMap, HashSet};
use std::io::Read as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// Refresh interval of the log index in these tests.
const REFRESH: Duration = Duration::from_millis(50);

fn start_server() -> TestServer {
    TestServer::start_with(|config| config.log_refresh = REFRESH)
}

/// The `logs` array of a search answer.
fn logs_of(answer: &Value) -> &Vec<Value> {
    answer["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs array in {answer}"))
}

/// The single record a search for `q` finds (waiting for it to be
/// searchable).
fn the_log(server: &TestServer, q: &str) -> Value {
    let answer = server.wait_for_logs(&[("q", q)], 1);
    logs_of(&answer)[0].clone()
}

fn unix_millis(nanos: u64) -> String {
    (nanos / MS).to_string()
}

/// RFC 3339 with any fraction (as the API writes times) → unix nanos.
fn parse_time(text: &str) -> u64 {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|error| panic!("{text:?} is not RFC 3339: {error}"));
    u64::try_from(parsed.unix_timestamp_nanos()).expect("a time after 1970")
}

/// A `partialSuccess` count in OTLP/JSON, where 64-bit integers may be
/// strings.
fn json_count(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

// ---------------------------------------------------------------------------
// Ingest

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
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
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

// ---------------------------------------------------------------------------
// A corpus with known counts

const SERVICES: [&str; 3] = ["checkout", "payments", "frontend"];
const SEVERITIES: [(i32, &str); 5] = [
    (5, "DEBUG"),
    (9, "INFO"),
    (13, "WARN"),
    (17, "ERROR"),
    (21, "FATAL"),
];
const STATUSES: [i64; 7] = [200, 201, 302, 404, 499, 500, 503];
const ROUTES: [&str; 4] = ["/cart", "/pay", "/", "/search"];
const CORPUS_SIZE: usize = 300;
/// Time between the first 100 records and the rest.
const GAP: u64 = 30 * MINUTE;
const STEP: u64 = 100 * MS;

/// One generated record, and the features the queries test.
struct Entry {
    seq: i64,
    time: u64,
    service: &'static str,
    severity: i32,
    severity_name: &'static str,
    timeout: bool,
    cache: bool,
    /// The body holds "disk full" (in that order).
    disk_full: bool,
    /// The body holds "full disk".
    full_disk: bool,
    method: &'static str,
    status: i64,
    latency_ms: f64,
    user: String,
    route: &'static str,
    /// Index into `Corpus::traces`.
    trace: Option<usize>,
}

impl Entry {
    fn body(&self) -> String {
        let mut body = format!("Request order-{} handled", self.seq);
        if self.disk_full {
            body.push_str(" with disk full");
        }
        if self.full_disk {
            body.push_str(" on full disk");
        }
        if self.timeout {
            body.push_str(" after Timeout");
        }
        if self.cache {
            body.push_str(" despite cache miss");
        }
        body
    }
}

struct Corpus {
    entries: Vec<Entry>,
    traces: [Vec<u8>; 2],
}

impl Corpus {
    /// `CORPUS_SIZE` records, 100 ms apart; the first 100 about 45 minutes
    /// ago, the rest about 15 minutes ago.
    fn generate() -> Corpus {
        let first = ms_aligned_ago(45 * MINUTE);
        let entries = (0..CORPUS_SIZE)
            .map(|i| {
                let gap = if i >= 100 { GAP } else { 0 };
                let (severity, severity_name) = SEVERITIES[i % 5];
                Entry {
                    seq: i as i64,
                    time: first + i as u64 * STEP + gap,
                    service: SERVICES[i % 3],
                    severity,
                    severity_name,
                    timeout: i % 4 == 0,
                    cache: i % 7 == 0,
                    disk_full: i % 6 == 0,
                    full_disk: i % 6 == 3,
                    method: if i % 2 == 0 { "GET" } else { "POST" },
                    status: STATUSES[(i / 2) % 7],
                    latency_ms: (i % 50) as f64 * 0.5,
                    user: format!("u{}", i % 11),
                    route: ROUTES[i % 4],
                    trace: match i % 10 {
                        0 => Some(0),
                        5 => Some(1),
                        _ => None,
                    },
                }
            })
            .collect();
        Corpus {
            entries,
            traces: [new_trace_id(), new_trace_id()],
        }
    }

    fn trace_hex(&self, index: usize) -> String {
        hex(&self.traces[index])
    }

    /// Ingests the corpus over OTLP protobuf, one request per service, and
    /// waits until all of it is searchable.
    fn ingest(&self, server: &TestServer) {
        for service in SERVICES {
            let records = self
                .entries
                .iter()
                .filter(|entry| entry.service == service)
                .map(|entry| {
                    let record = log_record(
                        entry.time,
                        entry.severity,
                        "",
                        &entry.body(),
                        vec![
                            kv_int("seq", entry.seq),
                            kv_str("http.method", entry.method),
                            kv_int("status", entry.status),
                            kv_double("latency_ms", entry.latency_ms),
                            kv_str("user", &entry.user),
                            kv_list("http", vec![kv_str("route", entry.route)]),
                        ],
                    );
                    match entry.trace {
                        Some(index) => in_span(record, &self.traces[index], &new_span_id()),
                        None => record,
                    }
                })
                .collect();
            server.export_logs(&logs_request(vec![resource_logs(service, records)]));
        }
        server.wait_for_logs(&[], CORPUS_SIZE as u64);
    }

    /// Seqs of the entries `wanted` accepts, newest first.
    fn expected(&self, wanted: &dyn Fn(&Entry) -> bool) -> Vec<i64> {
        let mut seqs: Vec<(u64, i64)> = self
            .entries
            .iter()
            .filter(|entry| wanted(entry))
            .map(|entry| (entry.time, entry.seq))
            .collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.into_iter().map(|(_, seq)| seq).collect()
    }

    fn entry(&self, seq: i64) -> &Entry {
        &self.entries[usize::try_from(seq).expect("a seq")]
    }
}

fn seq_of(log: &Value) -> i64 {
    log["attributes"]["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("no seq attribute in {log}"))
}

fn seqs_of(answer: &Value) -> Vec<i64> {
    logs_of(answer).iter().map(seq_of).collect()
}

type Wanted = Box<dyn Fn(&Entry) -> bool>;

fn w(wanted: impl Fn(&Entry) -> bool + 'static) -> Wanted {
    Box::new(wanted)
}

#[test]
fn search_on_a_known_corpus_returns_exact_totals_and_records() {
    let server = start_server();
    let corpus = Corpus::generate();
    corpus.ingest(&server);
    let trace0 = corpus.trace_hex(0);
    let trace1 = corpus.trace_hex(1);
    let q_trace0 = format!("trace_id:{trace0}");
    let at = |seq: usize| corpus.entries[seq].time;
    let start_150 = unix_millis(at(150));
    let end_199 = unix_millis(at(199) + STEP / 2);
    let start_10 = rfc3339(at(10));
    let end_19 = rfc3339(at(19) + STEP / 2);

    let cases: Vec<(Vec<(&str, &str)>, Wanted)> = vec![
        (vec![], w(|_| true)),
        (vec![("q", "timeout")], w(|e| e.timeout)),
        (vec![("q", "TimeOut")], w(|e| e.timeout)),
        (vec![("q", "timeout cache")], w(|e| e.timeout && e.cache)),
        (
            vec![("q", "timeout AND cache")],
            w(|e| e.timeout && e.cache),
        ),
        (vec![("q", "\"disk full\"")], w(|e| e.disk_full)),
        (vec![("q", "\"full disk\"")], w(|e| e.full_disk)),
        (vec![("q", "disk full")], w(|e| e.disk_full || e.full_disk)),
        (vec![("q", "timeout OR cache")], w(|e| e.timeout || e.cache)),
        (vec![("q", "NOT timeout")], w(|e| !e.timeout)),
        (vec![("q", "-timeout")], w(|e| !e.timeout)),
        (
            vec![("q", "handled -timeout -cache")],
            w(|e| !e.timeout && !e.cache),
        ),
        (
            vec![("q", "(timeout OR cache) service:checkout")],
            w(|e| (e.timeout || e.cache) && e.service == "checkout"),
        ),
        (
            vec![("q", "timeout OR cache service:checkout")],
            w(|e| e.timeout || (e.cache && e.service == "checkout")),
        ),
        (
            vec![("q", "NOT (service:checkout OR level:error)")],
            w(|e| !(e.service == "checkout" || e.severity >= 17)),
        ),
        (
            vec![("q", "(\"disk full\" OR \"full disk\") -(timeout cache)")],
            w(|e| (e.disk_full || e.full_disk) && !(e.timeout && e.cache)),
        ),
        (
            vec![("q", "service:payments")],
            w(|e| e.service == "payments"),
        ),
        (vec![("q", "handled -\"disk full\"")], w(|e| !e.disk_full)),
        (
            vec![("q", "service:checkout OR timeout")],
            w(|e| e.service == "checkout" || e.timeout),
        ),
        (vec![("q", "((timeout))")], w(|e| e.timeout)),
        (
            vec![("q", "SERVICE:payments")],
            w(|e| e.service == "payments"),
        ),
        (vec![("q", "level:13")], w(|e| e.severity >= 13)),
        (vec![("q", "attr.seq:42")], w(|e| e.seq == 42)),
        (
            vec![("q", "attr.latency_ms:2.5")],
            w(|e| e.latency_ms == 2.5),
        ),
        (vec![("q", "attr.status:\"404\"")], w(|e| e.status == 404)),
        (vec![("q", "level:warn")], w(|e| e.severity >= 13)),
        (vec![("q", "severity:ERROR")], w(|e| e.severity >= 17)),
        (vec![("q", "level:fatal")], w(|e| e.severity >= 21)),
        (
            vec![("q", "level:info -level:warn")],
            w(|e| (9..13).contains(&e.severity)),
        ),
        (vec![("q", q_trace0.as_str())], w(|e| e.trace == Some(0))),
        (
            vec![("q", "attributes.http.method:POST")],
            w(|e| e.method == "POST"),
        ),
        (vec![("q", "attr.user:u3")], w(|e| e.user == "u3")),
        (
            vec![("q", "attr.http.route:/cart")],
            w(|e| e.route == "/cart"),
        ),
        (vec![("q", "attr.status:>=500")], w(|e| e.status >= 500)),
        (vec![("q", "attr.status:>499")], w(|e| e.status > 499)),
        (vec![("q", "attr.status:<300")], w(|e| e.status < 300)),
        (vec![("q", "attr.status:<=302")], w(|e| e.status <= 302)),
        (
            vec![("q", "attr.status:[400 TO 499]")],
            w(|e| (400..=499).contains(&e.status)),
        ),
        (
            vec![("q", "attr.status:[500 TO *]")],
            w(|e| e.status >= 500),
        ),
        (vec![("q", "attr.status:500")], w(|e| e.status == 500)),
        (
            vec![("q", "attr.latency_ms:>12.5")],
            w(|e| e.latency_ms > 12.5),
        ),
        (
            vec![("q", "attr.latency_ms:[2 TO 4.5]")],
            w(|e| (2.0..=4.5).contains(&e.latency_ms)),
        ),
        (
            vec![("q", "attr.status:>=500 level:error")],
            w(|e| e.status >= 500 && e.severity >= 17),
        ),
        (vec![("q", "order-42")], w(|e| e.seq == 42)),
        (
            vec![("q", "resource.service.name:frontend")],
            w(|e| e.service == "frontend"),
        ),
        (
            vec![("service", "checkout")],
            w(|e| e.service == "checkout"),
        ),
        (vec![("level", "warn")], w(|e| e.severity >= 13)),
        (
            vec![("level", "warning"), ("service", "payments")],
            w(|e| e.severity >= 13 && e.service == "payments"),
        ),
        (
            vec![("trace_id", trace1.as_str())],
            w(|e| e.trace == Some(1)),
        ),
        (
            vec![
                ("q", "timeout"),
                ("service", "frontend"),
                ("level", "error"),
            ],
            w(|e| e.timeout && e.service == "frontend" && e.severity >= 17),
        ),
        (
            vec![("start", start_150.as_str()), ("end", end_199.as_str())],
            w(|e| (150..=199).contains(&e.seq)),
        ),
        (
            vec![("start", start_10.as_str()), ("end", end_19.as_str())],
            w(|e| (10..=19).contains(&e.seq)),
        ),
        (
            vec![
                ("q", "timeout"),
                ("start", start_150.as_str()),
                ("end", end_199.as_str()),
            ],
            w(|e| e.timeout && (150..=199).contains(&e.seq)),
        ),
        (vec![("lookback", "30m")], w(|e| e.seq >= 100)),
        (
            vec![("lookback", "30m"), ("q", "cache")],
            w(|e| e.seq >= 100 && e.cache),
        ),
        (vec![("lookback", "2h")], w(|_| true)),
    ];
    for (params, wanted) in &cases {
        let expected = corpus.expected(wanted.as_ref());
        assert!(!expected.is_empty(), "{params:?} selects nothing");
        assert!(
            expected.len() < CORPUS_SIZE || params.iter().all(|(k, _)| *k != "q"),
            "{params:?} selects the whole corpus"
        );
        for order in ["desc", "asc"] {
            let mut full: Vec<(&str, &str)> = params.clone();
            full.push(("limit", "1000"));
            full.push(("order", order));
            let answer = server.search_logs(&full);
            let mut want = expected.clone();
            if order == "asc" {
                want.reverse();
            }
            assert_eq!(
                answer["total"],
                json!(want.len()),
                "total of {params:?} ({order})"
            );
            assert_eq!(seqs_of(&answer), want, "records of {params:?} ({order})");
            assert_eq!(answer["next_cursor"], Value::Null, "{params:?}");
        }
    }

    // Newest first is the default; a small page still has the exact total.
    let answer = server.search_logs(&[("q", "cache"), ("limit", "5")]);
    let cache = corpus.expected(&|e| e.cache);
    assert_eq!(answer["total"], json!(cache.len()));
    assert_eq!(seqs_of(&answer), cache[..5]);
    assert!(answer["next_cursor"].is_string(), "{answer}");

    // The records come back whole.
    let answer = server.search_logs(&[("q", "order-105")]);
    let log = &logs_of(&answer)[0];
    let entry = corpus.entry(105);
    assert_eq!(log["timestamp"], json!(rfc3339(entry.time)));
    assert_eq!(log["body"], json!(entry.body()));
    assert_eq!(log["service"], json!(entry.service));
    assert_eq!(log["severity_number"], json!(entry.severity));
    assert_eq!(log["severity_text"], json!(entry.severity_name));
    assert_eq!(log["trace_id"], json!(trace1));
    assert_eq!(log["attributes"]["status"], json!(entry.status));
    assert_eq!(log["attributes"]["http.method"], json!(entry.method));
}

#[test]
fn pagination_visits_every_record_once_in_both_orders() {
    const RECORDS: usize = 3_000;
    const PER_REQUEST: usize = 300;
    let server = start_server();
    // Three records per millisecond, so pages split records that share a
    // timestamp.
    let first = ms_aligned_ago(20 * MINUTE);
    let time_of = |seq: usize| first + (seq / 3) as u64 * MS;
    for chunk in 0..RECORDS / PER_REQUEST {
        let records = (chunk * PER_REQUEST..(chunk + 1) * PER_REQUEST)
            .map(|seq| {
                log_record(
                    time_of(seq),
                    9,
                    "",
                    &format!("pagerecord number {seq}"),
                    vec![kv_int("seq", seq as i64)],
                )
            })
            .collect();
        server.export_logs(&logs_request(vec![resource_logs("pager", records)]));
    }
    server.wait_for_logs(&[("q", "pagerecord")], RECORDS as u64);

    for (order, filter, expected) in [
        ("desc", "pagerecord", RECORDS),
        ("asc", "pagerecord", RECORDS),
        ("asc", "attr.seq:[1000 TO 1999]", 1000),
        ("desc", "attr.seq:[1000 TO 1999]", 1000),
    ] {
        let mut keys: Vec<(u64, u64)> = Vec::with_capacity(expected);
        let mut seqs: Vec<i64> = Vec::with_capacity(expected);
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= expected / 100 + 1, "too many pages ({order})");
            let mut params = vec![("q", filter), ("order", order), ("limit", "100")];
            if let Some(cursor) = &cursor {
                params.push(("cursor", cursor.as_str()));
            }
            let answer = server.search_logs(&params);
            assert_eq!(answer["total"], json!(expected), "page {pages} ({order})");
            let logs = logs_of(&answer);
            for log in logs {
                let id: u64 = log["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .unwrap_or_else(|| panic!("a numeric id string in {log}"));
                let timestamp = parse_time(log["timestamp"].as_str().expect("timestamp"));
                let seq = seq_of(log);
                assert_eq!(timestamp, time_of(seq as usize), "{log}");
                keys.push((timestamp, id));
                seqs.push(seq);
            }
            match answer["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(logs.len(), 100, "a full page before the last ({order})");
                    cursor = Some(next.to_string());
                }
                None => break,
            }
        }
        assert_eq!(keys.len(), expected, "{filter} ({order}) visited");
        let ids: HashSet<u64> = keys.iter().map(|(_, id)| *id).collect();
        assert_eq!(ids.len(), expected, "{filter} ({order}): an id came twice");
        let distinct: HashSet<i64> = seqs.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            expected,
            "{filter} ({order}): a record came twice"
        );
        let range = if expected == RECORDS {
            0..RECORDS as i64
        } else {
            1000..2000
        };
        assert!(range.clone().all(|seq| distinct.contains(&seq)), "a gap");
        let in_order = keys.windows(2).all(|pair| match order {
            "asc" => pair[0] < pair[1],
            _ => pair[0] > pair[1],
        });
        assert!(
            in_order,
            "{filter}: not in {order} order by (timestamp, id)"
        );
        assert_eq!(pages, expected.div_ceil(100), "{filter} ({order})");
    }
}

#[test]
fn search_pagination_and_histogram_span_several_day_indexes() {
    const DAYS: u64 = 4;
    const PER_DAY: usize = 150;
    const DAY: u64 = 24 * 60 * MINUTE;
    let server = start_server();
    // Two records per millisecond, the same minute on each of four UTC
    // days; sent interleaved in one request, so the index writes more
    // days at once than it keeps writers open for.
    let bases: Vec<u64> = (0..DAYS)
        .map(|day| ms_aligned_ago(day * DAY + 10 * MINUTE))
        .collect();
    let time_of = |day: u64, i: usize| bases[day as usize] + (i / 2) as u64 * MS;
    let seq_of_record = |day: u64, i: usize| (day * 1000) as i64 + i as i64;
    let mut records = Vec::new();
    for i in 0..PER_DAY {
        for day in 0..DAYS {
            records.push(log_record(
                time_of(day, i),
                if i % 3 == 0 { 17 } else { 9 },
                "",
                &format!("dayrecord d{day} n{i}"),
                vec![kv_int("seq", seq_of_record(day, i))],
            ));
        }
    }
    server.export_logs(&logs_request(vec![resource_logs("days", records)]));
    let all = (DAYS as usize * PER_DAY) as u64;
    server.wait_for_logs(&[("q", "dayrecord"), ("lookback", "5d")], all);

    for day in 0..DAYS {
        let word = format!("d{day}");
        let answer = server.search_logs(&[("q", &word), ("lookback", "5d")]);
        assert_eq!(answer["total"], json!(PER_DAY), "{word}");
        let errors = server.search_logs(&[("q", &word), ("lookback", "5d"), ("level", "error")]);
        assert_eq!(errors["total"], json!(PER_DAY / 3), "{word} errors");
    }
    // Only the days a range touches count.
    let answer = server.search_logs(&[("q", "dayrecord")]);
    assert_eq!(
        answer["total"],
        json!(PER_DAY),
        "the last hour is today's day only"
    );

    // A range that starts inside one day and ends inside the next.
    let start = rfc3339(time_of(2, 50));
    let end = rfc3339(time_of(1, 99) + MS / 2);
    let mut cut: Vec<i64> = (50..PER_DAY)
        .map(|i| seq_of_record(2, i))
        .chain((0..100).map(|i| seq_of_record(1, i)))
        .collect();
    cut.sort_unstable();

    let full_range = [("lookback", "5d")];
    let cut_range = [("start", start.as_str()), ("end", end.as_str())];
    for (range, expected_total) in [(&full_range[..], all), (&cut_range[..], 200)] {
        for order in ["desc", "asc"] {
            let mut keys: Vec<(u64, u64)> = Vec::new();
            let mut seqs: Vec<i64> = Vec::new();
            let mut cursor: Option<String> = None;
            for page in 1.. {
                assert!(page <= 20, "too many pages");
                let mut params = vec![("q", "dayrecord"), ("order", order), ("limit", "100")];
                params.extend_from_slice(range);
                if let Some(cursor) = &cursor {
                    params.push(("cursor", cursor.as_str()));
                }
                let answer = server.search_logs(&params);
                assert_eq!(answer["total"], json!(expected_total), "{params:?}");
                for log in logs_of(&answer) {
                    let id: u64 = log["id"]
                        .as_str()
                        .and_then(|id| id.parse().ok())
                        .expect("id");
                    keys.push((parse_time(log["timestamp"].as_str().expect("time")), id));
                    seqs.push(seq_of(log));
                }
                match answer["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_string()),
                    None => break,
                }
            }
            assert_eq!(keys.len() as u64, expected_total, "{range:?} {order}");
            let in_order = keys.windows(2).all(|pair| match order {
                "asc" => pair[0] < pair[1],
                _ => pair[0] > pair[1],
            });
            assert!(in_order, "{range:?}: not in {order} order");
            seqs.sort_unstable();
            let before = seqs.len();
            seqs.dedup();
            assert_eq!(seqs.len(), before, "{range:?} {order}: a record came twice");
            if expected_total == 200 {
                assert_eq!(seqs, cut, "{range:?} {order}");
            }
        }
    }

    // Histogram over the days: per bucket, the records in it.
    let (status, answer) = server.get_query(
        "/api/logs/histogram",
        &[("q", "dayrecord"), ("lookback", "5d"), ("buckets", "10")],
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut sum = 0;
    for bucket in answer["buckets"].as_array().expect("buckets") {
        let from = parse_time(bucket["start"].as_str().expect("start"));
        let to = parse_time(bucket["end"].as_str().expect("end"));
        let expected = (0..DAYS)
            .flat_map(|day| (0..PER_DAY).map(move |i| (day, i)))
            .filter(|(day, i)| (from..to).contains(&time_of(*day, *i)))
            .count() as u64;
        let counted: u64 = bucket["counts"]
            .as_object()
            .expect("counts")
            .values()
            .map(|count| count.as_u64().expect("count"))
            .sum();
        assert_eq!(counted, expected, "{bucket}");
        sum += counted;
    }
    assert_eq!(sum, all, "{answer}");
}

#[test]
fn histogram_counts_add_up_to_the_search_total_per_severity() {
    let server = start_server();
    let corpus = Corpus::generate();
    corpus.ingest(&server);
    let first = corpus.entries[0].time;
    let last = corpus.entries[CORPUS_SIZE - 1].time;
    let start = rfc3339(first - SECOND);
    let end = rfc3339(last + SECOND);
    let range_start = first - SECOND;
    let trace0 = corpus.trace_hex(0);

    let cases: Vec<(Vec<(&str, &str)>, Wanted)> = vec![
        (vec![], w(|_| true)),
        (vec![("q", "timeout")], w(|e| e.timeout)),
        (
            vec![("service", "checkout"), ("level", "warn")],
            w(|e| e.service == "checkout" && e.severity >= 13),
        ),
        (
            vec![("q", "attr.status:>=500 OR cache")],
            w(|e| e.status >= 500 || e.cache),
        ),
        (
            vec![("trace_id", trace0.as_str())],
            w(|e| e.trace == Some(0)),
        ),
    ];
    for (params, wanted) in &cases {
        for buckets in ["1", "7", "60"] {
            let mut full = params.clone();
            full.extend([("start", start.as_str()), ("end", end.as_str())]);
            let total = server.search_logs(&full)["total"].as_u64().expect("total");
            full.push(("buckets", buckets));
            let (status, answer) = server.get_query("/api/logs/histogram", &full);
            assert_eq!(status, StatusCode::OK, "{answer}");
            let list = answer["buckets"].as_array().expect("buckets");
            assert!(
                !list.is_empty() && list.len() <= buckets.parse::<usize>().expect("a number"),
                "{params:?}: {} buckets for {buckets}",
                list.len()
            );
            let mut sum = 0;
            let mut per_level: BTreeMap<String, u64> = BTreeMap::new();
            let mut previous_end = range_start;
            for bucket in list {
                let bucket_start = parse_time(bucket["start"].as_str().expect("start"));
                let bucket_end = parse_time(bucket["end"].as_str().expect("end"));
                assert_eq!(
                    bucket_start, previous_end,
                    "buckets are contiguous: {answer}"
                );
                assert!(bucket_end > bucket_start, "{answer}");
                previous_end = bucket_end;
                let counts = bucket["counts"].as_object().expect("counts");
                let mut expected: BTreeMap<String, u64> = BTreeMap::new();
                for entry in corpus.entries.iter().filter(|e| wanted(e)) {
                    if (bucket_start..bucket_end).contains(&entry.time) {
                        *expected.entry(entry.severity_name.to_string()).or_default() += 1;
                    }
                }
                let actual: BTreeMap<String, u64> = counts
                    .iter()
                    .map(|(level, count)| (level.clone(), count.as_u64().expect("a count")))
                    .filter(|(_, count)| *count > 0)
                    .collect();
                assert_eq!(actual, expected, "{params:?} bucket {bucket}");
                for (level, count) in actual {
                    sum += count;
                    *per_level.entry(level).or_default() += count;
                }
            }
            assert!(previous_end > last + SECOND, "the buckets cover the range");
            assert_eq!(sum, total, "{params:?} with {buckets} buckets");
            let mut expected_levels: BTreeMap<String, u64> = BTreeMap::new();
            for entry in corpus.entries.iter().filter(|e| wanted(e)) {
                *expected_levels
                    .entry(entry.severity_name.to_string())
                    .or_default() += 1;
            }
            assert_eq!(per_level, expected_levels, "{params:?}");
        }
    }

    // The default range (the last hour) and bucket count.
    let (status, answer) = server.get_query("/api/logs/histogram", &[("q", "cache")]);
    assert_eq!(status, StatusCode::OK, "{answer}");
    let list = answer["buckets"].as_array().expect("buckets");
    assert_eq!(list.len(), 60, "{answer}");
    let sum: u64 = list
        .iter()
        .flat_map(|bucket| bucket["counts"].as_object().expect("counts").values())
        .map(|count| count.as_u64().expect("count"))
        .sum();
    assert_eq!(sum, corpus.expected(&|e| e.cache).len() as u64);
}

// ---------------------------------------------------------------------------
// Live tail

/// One `/api/logs/tail` connection, read incrementally.
struct Tail {
    response: reqwest::blocking::Response,
    pending: Vec<u8>,
}

impl Tail {
    fn connect(server: &TestServer, params: &[(&str, &str)]) -> Tail {
        let url = reqwest::Url::parse_with_params(&server.url("/api/logs/tail"), params)
            .expect("a tail URL");
        // The total timeout bounds every read of the stream.
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a client");
        let response = client.get(url).send().expect("GET /api/logs/tail");
        assert_eq!(response.status(), StatusCode::OK, "tail {params:?}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Tail {
            response,
            pending: Vec::new(),
        }
    }

    /// The records of the next `data:` events until one whose body is
    /// `last`, in arrival order.
    fn records_until(&mut self, last: &str, deadline: Instant) -> Vec<Value> {
        let mut records = Vec::new();
        loop {
            while let Some(end) = find(&self.pending, b"\n\n") {
                let event: Vec<u8> = self.pending.drain(..end + 2).collect();
                let event = String::from_utf8(event).expect("UTF-8 events");
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        let record: Value = serde_json::from_str(data.trim())
                            .unwrap_or_else(|e| panic!("data is not JSON ({e}): {data}"));
                        let done = record["body"] == json!(last);
                        records.push(record);
                        if done {
                            return records;
                        }
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {last:?} within the deadline; got {records:?}"
            );
            let mut buffer = [0u8; 8192];
            let read = self
                .response
                .read(&mut buffer)
                .unwrap_or_else(|error| panic!("reading the tail: {error}; got {records:?}"));
            assert!(read > 0, "the tail ended before {last:?}; got {records:?}");
            self.pending.extend_from_slice(&buffer[..read]);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn bodies(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|record| record["body"].as_str().unwrap_or("<not text>"))
        .collect()
}

#[test]
fn live_tail_sends_new_matching_records_only() {
    let server = start_server();
    let now = now_nanos();
    // Indexed before anyone connects: never sent.
    server.export_logs(&logs_request(vec![
        resource_logs(
            "checkout",
            vec![log_record(now - SECOND, 21, "", "tailmark before", vec![])],
        ),
        resource_logs(
            "payments",
            vec![log_record(now - SECOND, 21, "", "payments before", vec![])],
        ),
    ]));
    server.wait_for_logs(&[("q", "before")], 2);

    let mut filtered = Tail::connect(
        &server,
        &[
            ("q", "tailmark"),
            ("service", "checkout"),
            ("level", "warn"),
        ],
    );
    let mut payments = Tail::connect(&server, &[("service", "payments")]);
    let mut errors = Tail::connect(&server, &[("level", "error")]);
    let mut coded = Tail::connect(&server, &[("q", "-tailmark attr.code:>=500")]);

    let t = now_nanos();
    server.export_logs(&logs_request(vec![
        resource_logs(
            "checkout",
            vec![
                log_record(t, 13, "", "tailmark alpha", vec![kv_int("code", 500)]),
                log_record(t, 9, "", "tailmark beta", vec![]),
            ],
        ),
        resource_logs(
            "payments",
            vec![log_record(t, 17, "", "tailmark gamma", vec![])],
        ),
        resource_logs(
            "checkout",
            vec![
                log_record(t, 17, "", "other delta", vec![kv_int("code", 503)]),
                log_record(t, 21, "", "tailmark epsilon", vec![]),
            ],
        ),
    ]));
    let lines = [
        json!({"service": "checkout", "level": "error", "msg": "tailmark zeta"}).to_string(),
        json!({"service": "payments", "level": "info", "msg": "zeta two", "code": 200}).to_string(),
    ];
    let answer = server.post_json_lines(&lines.join("\n"));
    assert_eq!(answer["accepted"], json!(2), "{answer}");
    server.export_logs(&logs_request(vec![
        resource_logs(
            "checkout",
            vec![log_record(t, 21, "", "tailmark end", vec![])],
        ),
        resource_logs(
            "payments",
            vec![log_record(
                t,
                21,
                "",
                "payments end",
                vec![kv_int("code", 500)],
            )],
        ),
    ]));

    let deadline = Instant::now() + Duration::from_secs(8);
    let got = filtered.records_until("tailmark end", deadline);
    assert_eq!(
        bodies(&got),
        [
            "tailmark alpha",
            "tailmark epsilon",
            "tailmark zeta",
            "tailmark end"
        ]
    );
    let alpha = &got[0];
    assert_eq!(alpha["service"], json!("checkout"));
    assert_eq!(alpha["severity_text"], json!("WARN"));
    assert_eq!(alpha["timestamp"], json!(rfc3339(t)));
    assert!(alpha["id"].as_str().is_some_and(|id| !id.is_empty()));

    let got = payments.records_until("payments end", deadline);
    assert_eq!(bodies(&got), ["tailmark gamma", "zeta two", "payments end"]);

    let got = errors.records_until("payments end", deadline);
    assert_eq!(
        bodies(&got),
        [
            "tailmark gamma",
            "other delta",
            "tailmark epsilon",
            "tailmark zeta",
            "tailmark end",
            "payments end"
        ]
    );

    let with_codes = coded.records_until("payments end", deadline);
    assert_eq!(bodies(&with_codes), ["other delta", "payments end"]);

    // The ids are the ones search shows.
    let searched = the_log(&server, "\"tailmark zeta\"");
    assert_eq!(got[3]["id"], searched["id"]);

    // A bad tail query is refused before streaming.
    let (status, answer) = server.get_query("/api/logs/tail", &[("q", "(unclosed")]);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    drop((filtered, payments, errors, coded));
    // A graceful stop waits for the event streams of the closed tail
    // connections (see process::sigterm_with_a_live_logs_tail_connected_exits_promptly);
    // it finishes in the background so that this test covers the tail only.
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(server);
        let _ = done.send(());
    });
    let _ = stopped.recv_timeout(Duration::from_secs(2));
}

// ---------------------------------------------------------------------------
// Trace correlation

#[test]
fn trace_logs_are_the_logs_carrying_that_trace_id() {
    let server = start_server();
    let (stored_trace, export) = single_span_trace("checkout", "POST /pay", 2 * MINUTE);
    server.export(&export);
    let stored_bytes = hex::decode(&stored_trace).expect("hex");
    let span_id = new_span_id();
    let other_trace = new_trace_id();
    let unknown_trace = hex(&new_trace_id());
    let t = now_nanos() - 2 * MINUTE;
    server.export_logs(&logs_request(vec![
        resource_logs(
            "checkout",
            vec![
                in_span(
                    log_record(t + 3 * MS, 9, "", "traced third", vec![]),
                    &stored_bytes,
                    &span_id,
                ),
                in_span(
                    log_record(t + MS, 9, "", "traced first", vec![]),
                    &stored_bytes,
                    &span_id,
                ),
                log_record(t + 2 * MS, 9, "", "untraced", vec![]),
                in_span(
                    log_record(t + 2 * MS, 17, "", "other trace", vec![]),
                    &other_trace,
                    &new_span_id(),
                ),
            ],
        ),
        resource_logs(
            "payments",
            vec![in_span(
                log_record(t + 2 * MS, 17, "", "traced second", vec![]),
                &stored_bytes,
                &new_span_id(),
            )],
        ),
    ]));
    server.wait_for_logs(&[], 5);

    let answer = server.get_ok(&format!("/api/traces/{stored_trace}/logs"));
    assert_eq!(answer["total"], json!(3), "{answer}");
    assert_eq!(
        bodies(logs_of(&answer)),
        ["traced first", "traced second", "traced third"],
        "oldest first"
    );
    assert!(logs_of(&answer)
        .iter()
        .all(|log| log["trace_id"] == json!(stored_trace)));
    let desc = server.get_ok(&format!("/api/traces/{stored_trace}/logs?order=desc"));
    assert_eq!(
        bodies(logs_of(&desc)),
        ["traced third", "traced second", "traced first"]
    );
    let errors_only = server.get_ok(&format!("/api/traces/{stored_trace}/logs?level=error"));
    assert_eq!(bodies(logs_of(&errors_only)), ["traced second"]);

    // The same through search.
    let by_param = server.search_logs(&[("trace_id", &stored_trace)]);
    assert_eq!(by_param["total"], json!(3));
    let by_query = server.search_logs(&[("q", &format!("trace_id:{stored_trace}"))]);
    assert_eq!(by_query["total"], json!(3));
    let by_span = server.search_logs(&[("q", &format!("span_id:{}", hex(&span_id)))]);
    assert_eq!(by_span["total"], json!(2));

    // Another trace's logs are its own; an id without logs has none.
    let other = server.get_ok(&format!("/api/traces/{}/logs", hex(&other_trace)));
    assert_eq!(bodies(logs_of(&other)), ["other trace"]);
    let (status, none) = server.get_json(&format!("/api/traces/{unknown_trace}/logs"));
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none["total"], json!(0), "{none}");
    let (status, bad) = server.get_json("/api/traces/not-hex/logs");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
}

// ---------------------------------------------------------------------------
// Bad input

#[test]
fn bad_queries_are_400s_naming_the_problem_and_position() {
    let server = start_server();
    server.post_json_lines(&json!({"msg": "survivor record", "level": "info"}).to_string());
    server.wait_for_logs(&[("q", "survivor")], 1);
    let long = "word ".repeat(2_000);
    let cases: [(&str, &str, usize); 11] = [
        ("\"unbalanced", "quote", 0),
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
            assert!(message.len() < 1_000, "the message is short: {message}");
        }
    }
    for (name, value) in [
        ("level", "loud"),
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

// ---------------------------------------------------------------------------
// Operations

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
}
