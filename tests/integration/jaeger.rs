//! The Jaeger query API (`/jaeger/api/*`) over a fixed corpus: answers
//! compared field by field with Jaeger's JSON model, and the requests
//! Grafana's Jaeger data source and the Jaeger UI send.

use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// The corpus: one trace `frontend → checkout → postgresql`, the
/// checkout span failing with an exception event and a link.
struct Corpus {
    server: TestServer,
    trace_id: String,
    root: String,
    call: String,
    checkout: String,
    query: String,
    linked_trace: String,
    linked_span: String,
    /// Microseconds.
    start_us: u64,
}

fn corpus() -> Corpus {
    let server = TestServer::start();
    let trace = new_trace_id();
    let (root, call, checkout, query) =
        (new_span_id(), new_span_id(), new_span_id(), new_span_id());
    let (linked_trace, linked_span) = (new_trace_id(), new_span_id());
    let t0 = ms_aligned_ago(10 * SECOND);
    let mut root_span = span(
        &trace,
        &root,
        None,
        "GET /cart",
        SpanKind::Server,
        t0,
        t0 + 50 * MS,
    );
    root_span.attributes = vec![
        kv_str("http.route", "/cart"),
        kv_int("http.response.status_code", 500),
        kv_double("sample.ratio", 0.25),
        kv_bool("cache.hit", false),
    ];
    root_span.status = status(OtlpStatusCode::Unset, "");
    let call_span = span(
        &trace,
        &call,
        Some(&root),
        "POST checkout",
        SpanKind::Client,
        t0 + 2 * MS,
        t0 + 40 * MS,
    );
    let mut checkout_span = span(
        &trace,
        &checkout,
        Some(&call),
        "Checkout",
        SpanKind::Server,
        t0 + 3 * MS,
        t0 + 39 * MS,
    );
    checkout_span.attributes = vec![
        kv_bytes("request.digest", &[1, 2, 3]),
        kv_array(
            "cart.items",
            vec![
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue("a".into()),
                opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(2),
            ],
        ),
    ];
    checkout_span.status = status(OtlpStatusCode::Error, "card declined");
    checkout_span.events = vec![Event {
        time_unix_nano: t0 + 30 * MS,
        name: "exception".into(),
        attributes: vec![
            kv_str("exception.type", "CardDeclined"),
            kv_str("exception.message", "card declined"),
        ],
        ..Default::default()
    }];
    checkout_span.links = vec![Link {
        trace_id: linked_trace.clone(),
        span_id: linked_span.clone(),
        ..Default::default()
    }];
    let mut query_span = span(
        &trace,
        &query,
        Some(&checkout),
        "SELECT carts",
        SpanKind::Client,
        t0 + 5 * MS,
        t0 + 15 * MS,
    );
    query_span.attributes = vec![kv_str("db.system", "postgresql")];
    query_span.status = status(OtlpStatusCode::Ok, "");
    server.export(&request(vec![
        resource_spans(
            "frontend",
            vec![kv_str("host.name", "web-1")],
            vec![root_span, call_span],
        ),
        resource_spans(
            "checkout",
            vec![kv_str("service.version", "2.4.0")],
            vec![checkout_span, query_span],
        ),
    ]));
    // Another service's trace, found by nothing the searches below ask.
    let (_, other) = single_span_trace("inventory", "Reserve", 20 * SECOND);
    server.export(&other);
    Corpus {
        server,
        trace_id: hex(&trace),
        root: hex(&root),
        call: hex(&call),
        checkout: hex(&checkout),
        query: hex(&query),
        linked_trace: hex(&linked_trace),
        linked_span: hex(&linked_span),
        start_us: t0 / 1_000,
    }
}

fn envelope(data: Value, total: usize) -> Value {
    json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null})
}

fn get(corpus: &Corpus, path: &str) -> (StatusCode, Value) {
    corpus.server.get_json(&format!("/jaeger/api{path}"))
}

fn get_ok(corpus: &Corpus, path: &str) -> Value {
    let (status, body) = get(corpus, path);
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// The trace as Jaeger's model has it, field by field.
fn expected_trace(c: &Corpus) -> Value {
    let t = c.start_us;
    let scope = |service: &str| {
        vec![
            json!({"key": "otel.scope.name", "type": "string", "value": format!("{service}-instrumentation")}),
            json!({"key": "otel.scope.version", "type": "string", "value": "1.0.0"}),
        ]
    };
    let tags = |mut own: Vec<Value>, service: &str, rest: Vec<Value>| {
        own.extend(scope(service));
        own.extend(rest);
        Value::Array(own)
    };
    let kind = |kind: &str| json!({"key": "span.kind", "type": "string", "value": kind});
    let child_of =
        |span: &str| json!([{"refType": "CHILD_OF", "traceID": c.trace_id, "spanID": span}]);
    json!({
        "traceID": c.trace_id,
        "spans": [
            {
                "traceID": c.trace_id, "spanID": c.root, "operationName": "GET /cart",
                "references": [], "startTime": t, "duration": 50_000,
                "tags": tags(vec![
                    json!({"key": "http.route", "type": "string", "value": "/cart"}),
                    json!({"key": "http.response.status_code", "type": "int64", "value": 500}),
                    json!({"key": "sample.ratio", "type": "float64", "value": 0.25}),
                    json!({"key": "cache.hit", "type": "bool", "value": false}),
                ], "frontend", vec![kind("server")]),
                "logs": [], "processID": "p1", "warnings": null
            },
            {
                "traceID": c.trace_id, "spanID": c.call, "operationName": "POST checkout",
                "references": child_of(&c.root), "startTime": t + 2_000, "duration": 38_000,
                "tags": tags(vec![], "frontend", vec![kind("client")]),
                "logs": [], "processID": "p1", "warnings": null
            },
            {
                "traceID": c.trace_id, "spanID": c.checkout, "operationName": "Checkout",
                "references": [
                    {"refType": "CHILD_OF", "traceID": c.trace_id, "spanID": c.call},
                    {"refType": "FOLLOWS_FROM", "traceID": c.linked_trace, "spanID": c.linked_span}
                ],
                "startTime": t + 3_000, "duration": 36_000,
                "tags": tags(vec![
                    json!({"key": "request.digest", "type": "binary", "value": "AQID"}),
                    json!({"key": "cart.items", "type": "string", "value": "[\"a\",2]"}),
                ], "checkout", vec![
                    kind("server"),
                    json!({"key": "otel.status_code", "type": "string", "value": "ERROR"}),
                    json!({"key": "error", "type": "bool", "value": true}),
                    json!({"key": "otel.status_description", "type": "string", "value": "card declined"}),
                ]),
                "logs": [{"timestamp": t + 30_000, "fields": [
                    {"key": "event", "type": "string", "value": "exception"},
                    {"key": "exception.type", "type": "string", "value": "CardDeclined"},
                    {"key": "exception.message", "type": "string", "value": "card declined"}
                ]}],
                "processID": "p2", "warnings": null
            },
            {
                "traceID": c.trace_id, "spanID": c.query, "operationName": "SELECT carts",
                "references": child_of(&c.checkout), "startTime": t + 5_000, "duration": 10_000,
                "tags": tags(vec![
                    json!({"key": "db.system", "type": "string", "value": "postgresql"}),
                ], "checkout", vec![
                    kind("client"),
                    json!({"key": "otel.status_code", "type": "string", "value": "OK"}),
                ]),
                "logs": [], "processID": "p2", "warnings": null
            }
        ],
        "processes": {
            "p1": {"serviceName": "frontend", "tags": [
                {"key": "host.name", "type": "string", "value": "web-1"}
            ]},
            "p2": {"serviceName": "checkout", "tags": [
                {"key": "service.version", "type": "string", "value": "2.4.0"}
            ]}
        },
        "warnings": null
    })
}

/// `actual` equals `expected`; on a difference, the first path that
/// differs is named.
fn assert_same(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let mut keys: Vec<&String> = a.keys().chain(e.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let (a, e) = (a.get(key), e.get(key));
                match (a, e) {
                    (Some(a), Some(e)) => assert_same(a, e, &format!("{path}.{key}")),
                    _ => panic!("{path}.{key}: {a:?} where Jaeger has {e:?}"),
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: length of {actual} vs {expected}");
            for (index, (a, e)) in a.iter().zip(e).enumerate() {
                assert_same(a, e, &format!("{path}[{index}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

#[test]
fn a_trace_by_id_is_jaegers_model_field_by_field() {
    let c = corpus();
    let body = get_ok(&c, &format!("/traces/{}", c.trace_id));
    assert_same(&body, &envelope(json!([expected_trace(&c)]), 0), "");
    // Leading zeros may be left out, as Jaeger allows; unknown is a 404 in
    // the envelope, a malformed id a 400.
    let (status, body) = get(&c, &format!("/traces/{}", "1".repeat(5)));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
               "errors": [{"code": 404, "msg": "trace not found"}]})
    );
    let (status, body) = get(&c, "/traces/not-hex");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], 400, "{body}");
    assert!(body["data"].is_null());
}

#[test]
fn services_and_operations_are_listed_as_jaeger_lists_them() {
    let c = corpus();
    assert_eq!(
        get_ok(&c, "/services"),
        envelope(json!(["checkout", "frontend", "inventory"]), 3)
    );
    assert_eq!(
        get_ok(&c, "/services/frontend/operations"),
        envelope(json!(["GET /cart", "POST checkout"]), 2)
    );
    assert_eq!(
        get_ok(&c, "/services/nobody/operations"),
        envelope(json!([]), 0)
    );
    let body = get_ok(&c, "/operations?service=checkout");
    let mut operations = body["data"].as_array().expect("operations").clone();
    operations.sort_by_key(|op| op["name"].as_str().unwrap_or("").to_string());
    assert_eq!(
        Value::Array(operations),
        json!([
            {"name": "Checkout", "spanKind": "server"},
            {"name": "SELECT carts", "spanKind": "client"}
        ])
    );
    assert_eq!(body["total"], 2);
    assert_eq!(
        get_ok(&c, "/operations?service=checkout&spanKind=client")["data"],
        json!([{"name": "SELECT carts", "spanKind": "client"}])
    );
    let (status, body) = get(&c, "/operations");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"][0]["msg"], "parameter 'service' is required",
        "{body}"
    );
}

#[test]
fn searches_answer_whole_traces_for_the_jaeger_ui_and_grafana_requests() {
    let c = corpus();
    let (start, end) = (c.start_us - 60_000_000, c.start_us + 60_000_000);
    let found = |query: &str| -> Vec<String> {
        let body = get_ok(&c, &format!("/traces?{query}"));
        assert_eq!(body["errors"], Value::Null, "{body}");
        body["data"]
            .as_array()
            .expect("traces")
            .iter()
            .map(|trace| trace["traceID"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let only = vec![c.trace_id.clone()];
    // The Jaeger UI: service, lookback, limit, start/end in microseconds.
    assert_eq!(
        found(&format!(
            "service=frontend&lookback=1h&limit=20&start={start}&end={end}"
        )),
        only
    );
    // Grafana's Jaeger data source, as its datasource.ts builds the URL:
    // the logfmt tags converted to JSON, durations, the time range in
    // microseconds and `lookback=custom`.
    let tags = encode(r#"{"http.route":"/cart","error":"false"}"#);
    assert_eq!(
        found(&format!(
            "service=frontend&operation={}&tags={tags}&minDuration=10ms&maxDuration=1s&limit=20&start={start}&end={end}&lookback=custom",
            encode("GET /cart")
        )),
        Vec::<String>::new(),
        "error=false: no span of the trace may have failed"
    );
    let tags = encode(r#"{"http.route":"/cart"}"#);
    assert_eq!(
        found(&format!(
            "service=frontend&operation={}&tags={tags}&minDuration=10ms&maxDuration=1s&limit=20&start={start}&end={end}&lookback=custom",
            encode("GET /cart")
        )),
        only
    );
    assert_eq!(
        found(&format!(
            "service=checkout&tags={}",
            encode(r#"{"error":"true"}"#)
        )),
        only
    );
    assert_eq!(found("service=checkout&tag=service.version:2.4.0"), only);
    assert!(found(&format!(
        "service=frontend&tags={}",
        encode(r#"{"http.route":"/other"}"#)
    ))
    .is_empty());
    assert!(found("service=frontend&minDuration=51ms").is_empty());
    assert!(found(&format!("service=frontend&end={}", c.start_us - 1)).is_empty());
    // By id, with the whole trace as the by-id answer has it.
    let body = get_ok(&c, &format!("/traces?traceID={}", c.trace_id));
    assert_same(&body, &envelope(json!([expected_trace(&c)]), 0), "");

    let (status, body) = get(&c, "/traces?lookback=1h");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
               "errors": [{"code": 400, "msg": "parameter 'service' is required"}]})
    );
    let (status, body) = get(&c, "/traces?service=frontend&tags=%7Bnot-json");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .is_some_and(|msg| msg.contains("malformed 'tags'")),
        "{body}"
    );
    let (status, _) = get(&c, "/traces?service=frontend&minDuration=10");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = get(&c, "/no-such-route");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], 404, "{body}");
}

#[test]
fn dependencies_are_the_service_graph() {
    let c = corpus();
    let end_ms = c.start_us / 1_000 + 60_000;
    let body = get_ok(
        &c,
        &format!("/dependencies?endTs={end_ms}&lookback=3600000"),
    );
    let mut links = body["data"].as_array().expect("links").clone();
    links.sort_by_key(|link| link["parent"].as_str().unwrap_or("").to_string());
    assert_eq!(
        Value::Array(links),
        json!([
            {"parent": "checkout", "child": "postgresql", "callCount": 1},
            {"parent": "frontend", "child": "checkout", "callCount": 1}
        ]),
        "{body}"
    );
    let body = get_ok(
        &c,
        &format!("/dependencies?endTs={end_ms}&lookback=3600000&service=frontend"),
    );
    assert_eq!(
        body["data"],
        json!([{"parent": "frontend", "child": "checkout", "callCount": 1}])
    );
    // A window before the trace has no calls.
    let body = get_ok(
        &c,
        &format!("/dependencies?endTs={}&lookback=60000", end_ms - 3_600_000),
    );
    assert_eq!(body["data"], json!([]));
    let (status, _) = get(&c, "/dependencies?endTs=yesterday");
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn the_jaeger_api_needs_the_admin_credentials_when_set() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some("jaeger-token".into());
    });
    let response = server.get("/jaeger/api/services");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = server
        .client()
        .get(server.url("/jaeger/api/services"))
        .bearer_auth("jaeger-token")
        .send()
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
}
