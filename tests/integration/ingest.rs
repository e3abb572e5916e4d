//! OTLP/HTTP trace ingest: what goes in comes back out of the query API,
//! in every encoding, split across requests, and retried.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// What one stored span must look like on `/api/traces/{id}`.
struct Expected {
    span_id: String,
    parent: Option<String>,
    name: &'static str,
    service: &'static str,
    kind: &'static str,
    start: u64,
    end: u64,
    status: (&'static str, &'static str),
    attributes: Value,
    events: Value,
    links: Value,
    resource: Value,
}

#[test]
fn nested_multi_service_trace_round_trips_through_the_api() {
    let server = TestServer::start();
    let t0 = now_nanos() - 2 * MINUTE;
    let trace_id = new_trace_id();
    let [root, fe_client, fe_render] = [(); 3].map(|()| new_span_id());
    let [co_server, co_validate, co_charge, co_consume] = [(); 4].map(|()| new_span_id());
    let [pay_charge, pay_publish] = [(); 2].map(|()| new_span_id());
    let linked_trace = new_trace_id();
    let linked_span = new_span_id();

    let mut root_span = span(
        &trace_id,
        &root,
        None,
        "GET /checkout",
        SpanKind::Server,
        t0,
        t0 + 120 * MS,
    );
    root_span.attributes = vec![
        kv_str("http.method", "GET"),
        kv_bool("cache.hit", false),
        kv_int("http.status_code", 200),
        kv_int("big", i64::MAX),
        kv_int("negative", -7),
        kv_double("ratio", 0.25),
        kv_double("weight", 2.0),
        kv_bytes("payload", &[0, 1, 2, 253, 254, 255]),
        kv_array(
            "tags",
            vec![
                Av::StringValue("a".into()),
                Av::IntValue(1),
                Av::BoolValue(true),
                Av::DoubleValue(2.5),
            ],
        ),
        kv_list(
            "user",
            vec![
                kv_int("id", 42),
                kv_str("name", "ada"),
                kv_array("roles", vec![Av::StringValue("admin".into())]),
                kv_list("address", vec![kv_str("city", "Paris")]),
            ],
        ),
    ];
    root_span.events = vec![Event {
        time_unix_nano: t0 + 5 * MS,
        name: "cache miss".into(),
        attributes: vec![kv_str("cache.key", "cart:42"), kv_int("attempt", 2)],
        ..Default::default()
    }];
    root_span.status = status(OtlpStatusCode::Ok, "");
    let fe_client_span = span(
        &trace_id,
        &fe_client,
        Some(&root),
        "POST checkout",
        SpanKind::Client,
        t0 + 8 * MS,
        t0 + 112 * MS,
    );
    let fe_render_span = span(
        &trace_id,
        &fe_render,
        Some(&root),
        "render",
        SpanKind::Unspecified,
        t0 + 113 * MS,
        t0 + 119 * MS,
    );

    let mut co_server_span = span(
        &trace_id,
        &co_server,
        Some(&fe_client),
        "POST /api/checkout",
        SpanKind::Server,
        t0 + 10 * MS,
        t0 + 110 * MS,
    );
    co_server_span.links = vec![Link {
        trace_id: linked_trace.clone(),
        span_id: linked_span.clone(),
        trace_state: "vendor=1".into(),
        attributes: vec![kv_str("link.reason", "retry-of")],
        ..Default::default()
    }];
    let co_validate_span = span(
        &trace_id,
        &co_validate,
        Some(&co_server),
        "validate cart",
        SpanKind::Internal,
        t0 + 12 * MS,
        t0 + 18 * MS,
    );
    let co_charge_span = span(
        &trace_id,
        &co_charge,
        Some(&co_server),
        "charge card",
        SpanKind::Client,
        t0 + 20 * MS,
        t0 + 100 * MS,
    );
    let co_consume_span = span(
        &trace_id,
        &co_consume,
        Some(&pay_publish),
        "handle receipt",
        SpanKind::Consumer,
        t0 + 95 * MS,
        t0 + 105 * MS,
    );

    let mut pay_charge_span = span(
        &trace_id,
        &pay_charge,
        Some(&co_charge),
        "charge",
        SpanKind::Server,
        t0 + 30 * MS,
        t0 + 90 * MS,
    );
    pay_charge_span.status = status(OtlpStatusCode::Error, "card declined");
    pay_charge_span.events = vec![Event {
        time_unix_nano: t0 + 80 * MS,
        name: "exception".into(),
        attributes: vec![
            kv_str("exception.type", "CardDeclined"),
            kv_bool("exception.escaped", false),
        ],
        ..Default::default()
    }];
    let pay_publish_span = span(
        &trace_id,
        &pay_publish,
        Some(&pay_charge),
        "publish receipt",
        SpanKind::Producer,
        t0 + 85 * MS,
        t0 + 88 * MS,
    );

    // Spans deliberately out of start order inside each resource.
    let export = request(vec![
        resource_spans(
            "payments",
            vec![kv_str("cloud.region", "eu-west-1")],
            vec![pay_publish_span, pay_charge_span],
        ),
        resource_spans(
            "checkout",
            vec![kv_int("k8s.replicas", 3)],
            vec![
                co_consume_span,
                co_charge_span,
                co_server_span,
                co_validate_span,
            ],
        ),
        resource_spans(
            "frontend",
            vec![kv_str("service.version", "2.1.0"), kv_bool("canary", true)],
            vec![fe_render_span, fe_client_span, root_span],
        ),
    ]);
    server.export(&export);

    let frontend_resource =
        json!({"service.name": "frontend", "service.version": "2.1.0", "canary": true});
    let checkout_resource = json!({"service.name": "checkout", "k8s.replicas": 3});
    let payments_resource = json!({"service.name": "payments", "cloud.region": "eu-west-1"});
    let no_events = json!([]);
    let expected = vec![
        Expected {
            span_id: hex(&root),
            parent: None,
            name: "GET /checkout",
            service: "frontend",
            kind: "server",
            start: t0,
            end: t0 + 120 * MS,
            status: ("ok", ""),
            attributes: json!({
                "http.method": "GET",
                "cache.hit": false,
                "http.status_code": 200,
                "big": i64::MAX,
                "negative": -7,
                "ratio": 0.25,
                "weight": 2.0,
                "payload": "AAEC/f7/",
                "tags": ["a", 1, true, 2.5],
                "user": {"id": 42, "name": "ada", "roles": ["admin"], "address": {"city": "Paris"}},
            }),
            events: json!([{
                "name": "cache miss",
                "time": rfc3339(t0 + 5 * MS),
                "attributes": {"cache.key": "cart:42", "attempt": 2},
            }]),
            links: json!([]),
            resource: frontend_resource.clone(),
        },
        Expected {
            span_id: hex(&fe_client),
            parent: Some(hex(&root)),
            name: "POST checkout",
            service: "frontend",
            kind: "client",
            start: t0 + 8 * MS,
            end: t0 + 112 * MS,
            status: ("unset", ""),
            attributes: json!({}),
            events: no_events.clone(),
            links: json!([]),
            resource: frontend_resource.clone(),
        },
        Expected {
            span_id: hex(&co_server),
            parent: Some(hex(&fe_client)),
            name: "POST /api/checkout",
            service: "checkout",
            kind: "server",
            start: t0 + 10 * MS,
            end: t0 + 110 * MS,
            status: ("unset", ""),
            attributes: json!({}),
            events: no_events.clone(),
            links: json!([{
                "trace_id": hex(&linked_trace),
                "span_id": hex(&linked_span),
                "attributes": {"link.reason": "retry-of"},
            }]),
            resource: checkout_resource.clone(),
        },
        Expected {
            span_id: hex(&co_validate),
            parent: Some(hex(&co_server)),
            name: "validate cart",
            service: "checkout",
            kind: "internal",
            start: t0 + 12 * MS,
            end: t0 + 18 * MS,
            status: ("unset", ""),
            attributes: json!({}),
            events: no_events.clone(),
            links: json!([]),
            resource: checkout_resource.clone(),
        },
        Expected {
            span_id: hex(&co_charge),
            parent: Some(hex(&co_server)),
            name: "charge card",
            service: "checkout",
            kind: "client",
            start: t0 + 20 * MS,
            end: t0 + 100 * MS,
            status: ("unset", ""),
            attributes: json!({}),
            events: no_events.clone(),
            links: json!([]),
            resource: checkout_resource.clone(),
        },
        Expected {
            span_id: hex(&pay_charge),
            parent: Some(hex(&co_charge)),
            name: "charge",
            service: "payments",
            kind: "server",
            start: t0 + 30 * MS,
            end: t0 + 90 * MS,
            status: ("error", "card declined"),
            attributes: json!({}),
            events: json!([{
                "name": "exception",
                "time": rfc3339(t0 + 80 * MS),
                "attributes": {"exception.type": "CardDeclined", "exception.escaped": false},
            }]),
            links: json!([]),
            resource: payments_resource.clone(),
        },
        Expected {
            span_id: hex(&pay_publish),
            parent: Some(hex(&pay_charge)),
            name: "publish receipt",
            service: "payments",
            kind: "producer",
            start: t0 + 85 * MS,
            end: t0 + 88 * MS,
            status: ("unset", ""),
            attributes: json!({}),
            events: no_events.clone(),
            links: json!([]),
            resource: payments_resource.clone(),
        },
        Expected {
            span_id: hex(&co_consume),
            parent: Some(hex(&pay_publish)),
            name: "handle receipt",
            service: "checkout",
            kind: "consumer",
            start: t0 + 95 * MS,
            end: t0 + 105 * MS,
            status: ("unset", ""),
            attributes: json!({}),
            events: no_events.clone(),
            links: json!([]),
            resource: checkout_resource.clone(),
        },
        Expected {
            span_id: hex(&fe_render),
            parent: Some(hex(&root)),
            name: "render",
            service: "frontend",
            kind: "unspecified",
            start: t0 + 113 * MS,
            end: t0 + 119 * MS,
            status: ("unset", ""),
            attributes: json!({}),
            events: no_events,
            links: json!([]),
            resource: frontend_resource,
        },
    ];

    let trace = server.trace(&hex(&trace_id));
    assert_eq!(trace["trace_id"], json!(hex(&trace_id)));
    let spans = trace["spans"].as_array().expect("spans array");
    // `expected` is listed in start order.
    let got_order: Vec<&str> = spans
        .iter()
        .map(|s| s["span_id"].as_str().expect("span_id"))
        .collect();
    let want_order: Vec<&str> = expected.iter().map(|e| e.span_id.as_str()).collect();
    assert_eq!(got_order, want_order, "spans sorted by start time");

    for (got, want) in spans.iter().zip(&expected) {
        let context = format!("span {} ({})", want.name, want.span_id);
        assert_eq!(
            got["parent_span_id"],
            json!(want.parent),
            "{context}: parent"
        );
        assert_eq!(got["name"], json!(want.name), "{context}: name");
        assert_eq!(got["service"], json!(want.service), "{context}: service");
        assert_eq!(got["kind"], json!(want.kind), "{context}: kind");
        assert_eq!(
            got["start_time"],
            json!(rfc3339(want.start)),
            "{context}: start"
        );
        assert_eq!(got["end_time"], json!(rfc3339(want.end)), "{context}: end");
        let duration = got["duration_ms"]
            .as_f64()
            .expect("duration_ms is a number");
        let want_duration = (want.end - want.start) as f64 / 1e6;
        assert!(
            (duration - want_duration).abs() < 1e-9,
            "{context}: duration {duration} != {want_duration}"
        );
        assert_eq!(
            got["status"]["code"],
            json!(want.status.0),
            "{context}: status code"
        );
        assert_eq!(
            got["status"]["message"],
            json!(want.status.1),
            "{context}: status message"
        );
        assert_eq!(got["attributes"], want.attributes, "{context}: attributes");
        assert_eq!(got["events"], want.events, "{context}: events");
        let links = got["links"].as_array().expect("links array");
        let want_links = want.links.as_array().expect("links");
        assert_eq!(links.len(), want_links.len(), "{context}: links");
        for (link, want_link) in links.iter().zip(want_links) {
            for field in ["trace_id", "span_id", "attributes"] {
                assert_eq!(link[field], want_link[field], "{context}: link {field}");
            }
            if let Some(state) = link.get("trace_state") {
                assert_eq!(state, &json!("vendor=1"), "{context}: link trace_state");
            }
        }
        assert_eq!(got["resource"], want.resource, "{context}: resource");
        assert_eq!(
            got["scope"],
            json!({"name": format!("{}-instrumentation", want.service), "version": "1.0.0"}),
            "{context}: scope"
        );
    }

    // The summary, found through a service that is not the root's.
    let search = server.get_ok("/api/traces?service=payments");
    let summaries = search["traces"].as_array().expect("traces");
    assert_eq!(summaries.len(), 1, "{search}");
    let summary = &summaries[0];
    assert_eq!(summary["trace_id"], json!(hex(&trace_id)));
    assert_eq!(summary["root_service"], json!("frontend"));
    assert_eq!(summary["root_operation"], json!("GET /checkout"));
    assert_eq!(summary["span_count"], json!(9));
    assert_eq!(summary["error_count"], json!(1));
    assert_eq!(
        summary["services"],
        json!(["checkout", "frontend", "payments"])
    );
    assert_eq!(summary["start_time"], json!(rfc3339(t0)));
    assert_eq!(summary["duration_ms"].as_f64(), Some(120.0));
}

/// One single-span OTLP/JSON request written by hand.
fn json_body(trace_id: &str, span_id: &str, service: &str, start: u64) -> Value {
    json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
            },
            "scopeSpans": [{
                "scope": {"name": "manual", "version": "1"},
                "spans": [{
                    "traceId": trace_id,
                    "spanId": span_id,
                    "name": "GET /json",
                    "kind": 2,
                    "startTimeUnixNano": start.to_string(),
                    "endTimeUnixNano": (start + 3 * MS).to_string(),
                }]
            }]
        }]
    })
}

#[test]
fn protobuf_json_and_gzip_are_accepted_and_answered_in_kind() {
    let server = TestServer::start();
    let cases = [
        (PROTOBUF, false),
        (PROTOBUF, true),
        (JSON, false),
        (JSON, true),
    ];
    for (content_type, gzipped) in cases {
        let context = format!("{content_type} gzip={gzipped}");
        let trace_id = new_trace_id();
        let body = if content_type == PROTOBUF {
            let root = span(
                &trace_id,
                &new_span_id(),
                None,
                "GET /pb",
                SpanKind::Server,
                now_nanos() - SECOND,
                now_nanos(),
            );
            request(vec![resource_spans("encodings", vec![], vec![root])]).encode_to_vec()
        } else {
            json_body(
                &hex(&trace_id),
                &hex(&new_span_id()),
                "encodings",
                now_nanos() - SECOND,
            )
            .to_string()
            .into_bytes()
        };
        let (body, encoding) = if gzipped {
            (gzip(&body), Some("gzip"))
        } else {
            (body, None)
        };
        let response = server.post_bytes("/v1/traces", content_type, encoding, body);
        assert_eq!(response.status(), StatusCode::OK, "{context}");
        let answered_type = content_type_of(&response);
        assert!(
            answered_type.starts_with(content_type),
            "{context}: answered {answered_type}"
        );
        let bytes = response.bytes().expect("body");
        if content_type == PROTOBUF {
            let decoded =
                ExportTraceServiceResponse::decode(bytes.as_ref()).expect("protobuf response");
            assert_eq!(decoded.partial_success, None, "{context}");
        } else {
            let decoded: Value = serde_json::from_slice(&bytes).expect("JSON response");
            assert!(decoded.is_object(), "{context}: {decoded}");
            // Fully accepted: no partial success (absent, or null which
            // proto3 JSON reads as absent).
            assert!(
                decoded.get("partialSuccess").is_none_or(Value::is_null),
                "{context}: {decoded}"
            );
        }
        let trace = server.trace(&hex(&trace_id));
        assert_eq!(
            trace["spans"].as_array().map(Vec::len),
            Some(1),
            "{context}"
        );
        assert_eq!(
            trace["spans"][0]["service"],
            json!("encodings"),
            "{context}"
        );
    }
}

#[test]
fn otlp_json_follows_the_protobuf_json_mapping() {
    let server = TestServer::start();
    let trace_id = new_trace_id();
    let root_id = new_span_id();
    let child_id = new_span_id();
    let start = now_nanos() - 30 * SECOND;
    let body = json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [
                    {"key": "service.name", "value": {"stringValue": "json-svc"}},
                    {"key": "pid", "value": {"intValue": "4242"}}
                ],
                "droppedAttributesCount": 0,
                "someFutureResourceField": ["ignored"]
            },
            "scopeSpans": [{
                "scope": {"name": "json-scope", "version": "9.9"},
                "spans": [
                    {
                        "traceId": hex(&trace_id).to_uppercase(),
                        "spanId": hex(&root_id).to_uppercase(),
                        "name": "root",
                        "kind": 2,
                        "startTimeUnixNano": start.to_string(),
                        "endTimeUnixNano": start + 50 * MS,
                        "attributes": [
                            {"key": "as.string", "value": {"intValue": "9007199254740993"}},
                            {"key": "as.number", "value": {"intValue": 7}},
                            {"key": "d", "value": {"doubleValue": 1.5}},
                            {"key": "b", "value": {"boolValue": true}},
                            {"key": "raw", "value": {"bytesValue": "AQID"}},
                            {"key": "arr", "value": {"arrayValue": {"values": [
                                {"stringValue": "x"},
                                {"intValue": "2"}
                            ]}}},
                            {"key": "kvl", "value": {"kvlistValue": {"values": [
                                {"key": "k", "value": {"boolValue": false}}
                            ]}}}
                        ],
                        "status": {"code": 2, "message": "boom"},
                        "flags": 1,
                        "aFieldFromTheFuture": {"nested": [1, 2, 3]}
                    },
                    {
                        "traceId": hex(&trace_id).to_uppercase(),
                        "spanId": hex(&child_id).to_uppercase(),
                        "parentSpanId": hex(&root_id).to_uppercase(),
                        "name": "child",
                        "kind": 3,
                        "startTimeUnixNano": (start + 10 * MS).to_string(),
                        "endTimeUnixNano": (start + 20 * MS).to_string(),
                        "events": [{
                            "timeUnixNano": (start + 15 * MS).to_string(),
                            "name": "tick",
                            "attributes": []
                        }],
                        "status": {"code": 1}
                    }
                ]
            }],
            "schemaUrl": "https://opentelemetry.io/schemas/1.21.0"
        }],
        "unknownTopLevel": true
    });
    let response = server.post_json("/v1/traces", &body);
    assert_eq!(response.status(), StatusCode::OK);

    let trace = server.trace(&hex(&trace_id));
    assert_eq!(
        trace["trace_id"],
        json!(hex(&trace_id)),
        "ids are lowercase on the API"
    );
    let spans = trace["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2, "{trace}");
    let root = &spans[0];
    assert_eq!(root["span_id"], json!(hex(&root_id)));
    assert_eq!(root["kind"], json!("server"));
    assert_eq!(root["start_time"], json!(rfc3339(start)));
    assert_eq!(root["end_time"], json!(rfc3339(start + 50 * MS)));
    assert_eq!(root["status"], json!({"code": "error", "message": "boom"}));
    assert_eq!(
        root["attributes"],
        json!({
            "as.string": 9_007_199_254_740_993_i64,
            "as.number": 7,
            "d": 1.5,
            "b": true,
            "raw": "AQID",
            "arr": ["x", 2],
            "kvl": {"k": false},
        })
    );
    assert_eq!(
        root["resource"],
        json!({"service.name": "json-svc", "pid": 4242})
    );
    assert_eq!(
        root["scope"],
        json!({"name": "json-scope", "version": "9.9"})
    );
    let child = &spans[1];
    assert_eq!(child["parent_span_id"], json!(hex(&root_id)));
    assert_eq!(child["kind"], json!("client"));
    assert_eq!(child["status"]["code"], json!("ok"));
    assert_eq!(child["events"][0]["time"], json!(rfc3339(start + 15 * MS)));
}

#[test]
fn trace_split_across_requests_out_of_order_has_a_complete_summary() {
    let server = TestServer::start();
    let t0 = now_nanos() - 5 * MINUTE;
    let trace_id = new_trace_id();
    let (root, child, grandchild) = (new_span_id(), new_span_id(), new_span_id());
    let trace_hex = hex(&trace_id);

    // Grandchild first, then child, root last.
    let mut payments = span(
        &trace_id,
        &grandchild,
        Some(&child),
        "charge",
        SpanKind::Server,
        t0 + 20 * MS,
        t0 + 60 * MS,
    );
    payments.status = status(OtlpStatusCode::Error, "declined");
    server.export(&request(vec![resource_spans(
        "payments",
        vec![],
        vec![payments],
    )]));
    let checkout = span(
        &trace_id,
        &child,
        Some(&root),
        "POST /checkout",
        SpanKind::Server,
        t0 + 10 * MS,
        t0 + 80 * MS,
    );
    server.export(&request(vec![resource_spans(
        "checkout",
        vec![],
        vec![checkout],
    )]));

    let partial = server.get_ok("/api/traces?service=checkout");
    assert_eq!(trace_ids_of(&partial), vec![trace_hex.clone()]);
    assert_eq!(partial["traces"][0]["span_count"], json!(2));

    let frontend = span(
        &trace_id,
        &root,
        None,
        "GET /",
        SpanKind::Server,
        t0,
        t0 + 100 * MS,
    );
    server.export(&request(vec![resource_spans(
        "frontend",
        vec![],
        vec![frontend],
    )]));

    for query in [
        "",
        "service=frontend",
        "service=checkout",
        "service=payments",
    ] {
        let search = server.get_ok(&format!("/api/traces?{query}"));
        let traces = search["traces"].as_array().expect("traces");
        assert_eq!(traces.len(), 1, "{query}: {search}");
        let summary = &traces[0];
        assert_eq!(summary["trace_id"], json!(trace_hex), "{query}");
        assert_eq!(summary["root_service"], json!("frontend"), "{query}");
        assert_eq!(summary["root_operation"], json!("GET /"), "{query}");
        assert_eq!(summary["span_count"], json!(3), "{query}");
        assert_eq!(summary["error_count"], json!(1), "{query}");
        assert_eq!(
            summary["services"],
            json!(["checkout", "frontend", "payments"]),
            "{query}"
        );
        assert_eq!(summary["start_time"], json!(rfc3339(t0)), "{query}");
        assert_eq!(summary["duration_ms"].as_f64(), Some(100.0), "{query}");
    }
    let trace = server.trace(&trace_hex);
    let names: Vec<&str> = trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["GET /", "POST /checkout", "charge"]);
}

#[test]
fn a_late_earlier_span_moves_the_trace_start_and_search_follows() {
    let server = TestServer::start();
    let base = ms_aligned_ago(20 * MINUTE);
    let trace_id = new_trace_id();
    let trace_hex = hex(&trace_id);
    let first = new_span_id();

    // First arrival: a worker span at base+10s.
    let worker = span(
        &trace_id,
        &first,
        None,
        "work",
        SpanKind::Consumer,
        base + 10 * SECOND,
        base + 11 * SECOND,
    );
    server.export(&request(vec![resource_spans(
        "worker",
        vec![],
        vec![worker],
    )]));
    // Then a span of another service that started earlier (base+5s).
    let producer = span(
        &trace_id,
        &new_span_id(),
        None,
        "enqueue",
        SpanKind::Producer,
        base + 5 * SECOND,
        base + 6 * SECOND,
    );
    server.export(&request(vec![resource_spans(
        "producer",
        vec![],
        vec![producer],
    )]));
    // And another worker span, earlier still (base+2s): the start moves
    // again without a new service.
    let early = span(
        &trace_id,
        &new_span_id(),
        Some(&first),
        "prefetch",
        SpanKind::Internal,
        base + 2 * SECOND,
        base + 3 * SECOND,
    );
    server.export(&request(vec![resource_spans(
        "worker",
        vec![],
        vec![early],
    )]));

    let ms = |nanos: u64| nanos / MS;
    for service in ["worker", "producer"] {
        let search = server.get_ok(&format!("/api/traces?service={service}&lookback=2h"));
        let found = trace_ids_of(&search);
        assert_eq!(
            found,
            vec![trace_hex.clone()],
            "service={service}: exactly once: {search}"
        );
        assert_eq!(
            search["traces"][0]["start_time"],
            json!(rfc3339(base + 2 * SECOND))
        );
        assert_eq!(search["traces"][0]["duration_ms"].as_f64(), Some(9_000.0));

        // The trace now starts at base+2s: a range starting after that
        // must not find it through a stale start...
        let after = server.search_ids(&format!(
            "service={service}&start={}&end={}",
            ms(base + 3 * SECOND),
            ms(base + 20 * SECOND)
        ));
        assert!(
            after.is_empty(),
            "service={service}: found by a stale start: {after:?}"
        );
        // ...and a range around the new start must find it once.
        let around = server.search_ids(&format!(
            "service={service}&start={}&end={}",
            ms(base + 2 * SECOND),
            ms(base + 3 * SECOND)
        ));
        assert_eq!(around, vec![trace_hex.clone()], "service={service}");
    }
    let all = server.search_ids("lookback=2h");
    assert_eq!(all, vec![trace_hex.clone()]);
    let summary = server.get_ok("/api/traces?lookback=2h");
    assert_eq!(summary["traces"][0]["span_count"], json!(3));
    assert_eq!(
        summary["traces"][0]["services"],
        json!(["producer", "worker"])
    );
}

#[test]
fn a_retried_request_is_stored_once() {
    let server = TestServer::start();
    let trace_id = new_trace_id();
    let t0 = now_nanos() - MINUTE;
    let root = new_span_id();
    let spans = vec![
        span(
            &trace_id,
            &root,
            None,
            "GET /retry",
            SpanKind::Server,
            t0,
            t0 + 40 * MS,
        ),
        span(
            &trace_id,
            &new_span_id(),
            Some(&root),
            "SELECT",
            SpanKind::Client,
            t0 + 5 * MS,
            t0 + 15 * MS,
        ),
        span(
            &trace_id,
            &new_span_id(),
            Some(&root),
            "SELECT",
            SpanKind::Client,
            t0 + 20 * MS,
            t0 + 30 * MS,
        ),
    ];
    let body = request(vec![resource_spans("retrying", vec![], spans)]);
    server.export(&body);
    let before = server.metrics_text();
    assert_eq!(
        metric_value(&before, "lookout_ingested_spans_total"),
        Some(3.0)
    );

    // The client did not see the answer and sends the same body again, in
    // both encodings.
    server.export(&body);
    let json_retry = serde_json::to_value(&body).expect("OTLP JSON of the same request");
    let response = server.post_json("/v1/traces", &json_retry);
    assert_eq!(response.status(), StatusCode::OK);

    let trace = server.trace(&hex(&trace_id));
    assert_eq!(trace["spans"].as_array().map(Vec::len), Some(3), "{trace}");
    let search = server.get_ok("/api/traces");
    assert_eq!(trace_ids_of(&search), vec![hex(&trace_id)]);
    assert_eq!(search["traces"][0]["span_count"], json!(3));
    let services = server.get_ok("/api/services");
    assert_eq!(
        services["services"].as_array().map(Vec::len),
        Some(1),
        "{services}"
    );
    assert_eq!(services["services"][0]["name"], json!("retrying"));
    assert_eq!(services["services"][0]["span_count"], json!(3));
    let operations = server.get_ok("/api/services/retrying/operations");
    let counts: HashMap<String, i64> = operations["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|op| {
            (
                op["name"].as_str().expect("name").to_string(),
                op["span_count"].as_i64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        counts,
        HashMap::from([("SELECT".to_string(), 2), ("GET /retry".to_string(), 1)])
    );
    let after = server.metrics_text();
    assert_eq!(
        metric_value(&after, "lookout_ingested_spans_total"),
        Some(3.0)
    );
    let stats = server.get_ok("/api/stats");
    assert_eq!(stats["counts"]["spans"], json!(3), "{stats}");
    assert_eq!(stats["counts"]["traces"], json!(1), "{stats}");
}

#[test]
fn duplicates_within_one_commit_group_are_stored_once() {
    // A slow writer makes the queued requests share one group.
    let server = std::sync::Arc::new(TestServer::start_with(|config| {
        config.pipeline.writer_delay = std::time::Duration::from_millis(300);
    }));
    let (first_id, first) = single_span_trace("grouped", "GET /first", SECOND);
    let trace_id = new_trace_id();
    let t0 = now_nanos() - SECOND;
    let root = new_span_id();
    let body = request(vec![resource_spans(
        "grouped",
        vec![],
        vec![
            span(
                &trace_id,
                &root,
                None,
                "GET /dup",
                SpanKind::Server,
                t0,
                t0 + 20 * MS,
            ),
            span(
                &trace_id,
                &new_span_id(),
                Some(&root),
                "child",
                SpanKind::Internal,
                t0 + MS,
                t0 + 2 * MS,
            ),
        ],
    )]);
    let occupy = {
        let server = std::sync::Arc::clone(&server);
        std::thread::spawn(move || server.export(&first))
    };
    // The first request keeps the writer busy while both copies queue.
    let copies: Vec<_> = (0..2)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            let body = body.clone();
            std::thread::spawn(move || server.export(&body))
        })
        .collect();
    occupy.join().expect("first request");
    for copy in copies {
        copy.join().expect("duplicate request");
    }
    assert_eq!(
        server.trace(&first_id)["spans"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        server.trace(&hex(&trace_id))["spans"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let search = server.get_ok("/api/traces?operation=GET%20%2Fdup");
    assert_eq!(search["traces"][0]["span_count"], json!(2), "{search}");
    let services = server.get_ok("/api/services");
    assert_eq!(
        services["services"][0]["span_count"],
        json!(3),
        "{services}"
    );
    let metrics = server.metrics_text();
    assert_eq!(
        metric_value(&metrics, "lookout_ingested_spans_total"),
        Some(3.0)
    );
}

#[test]
fn empty_and_all_zero_parent_ids_mean_a_root_span() {
    let server = TestServer::start();
    let t0 = now_nanos() - MINUTE;

    // OTLP/JSON exporters send an empty string for "no parent".
    let json_trace = new_trace_id();
    let mut root = json_span(&hex(&json_trace), &hex(&new_span_id()), "json root", t0);
    root["parentSpanId"] = json!("");
    let body = json_request("roots", vec![root]);
    let response = server.post_json("/v1/traces", &body);
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().expect("JSON answer");
    assert!(
        answer.get("partialSuccess").is_none_or(Value::is_null),
        "{answer}"
    );

    // Some exporters and converters fill a root's parent with zeros; the
    // OpenTelemetry Collector treats an all-zero span id as empty.
    let zero_trace = new_trace_id();
    let root = span(
        &zero_trace,
        &new_span_id(),
        Some(&[0; 8]),
        "zero-parent root",
        SpanKind::Server,
        t0,
        t0 + MS,
    );
    let response = server.post_protobuf(
        "/v1/traces",
        &request(vec![resource_spans("roots", vec![], vec![root])]),
    );
    assert_eq!(response.status(), StatusCode::OK);
    let answer = ExportTraceServiceResponse::decode(response.bytes().expect("body").as_ref())
        .expect("response");
    assert_eq!(answer.partial_success, None, "the span was rejected");

    for (trace_id, name) in [
        (&json_trace, "json root"),
        (&zero_trace, "zero-parent root"),
    ] {
        let trace = server.trace(&hex(trace_id));
        assert_eq!(trace["spans"][0]["parent_span_id"], Value::Null, "{trace}");
        let search = server.get_ok(&format!(
            "/api/traces?operation={}",
            name.replace(' ', "%20")
        ));
        assert_eq!(
            search["traces"][0]["root_operation"],
            json!(name),
            "{search}"
        );
    }
}
