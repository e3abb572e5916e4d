//! Malformed and hostile input: each gets its status and a message,
//! nothing of it is stored, and the server keeps serving.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// The server still ingests and answers, and holds exactly `spans` spans.
fn assert_still_serving_with(server: &TestServer, spans: u64) {
    let (trace_id, export) = single_span_trace("after-bad-input", "GET /ok", SECOND);
    server.export(&export);
    assert_eq!(
        server.trace(&trace_id)["spans"].as_array().map(Vec::len),
        Some(1)
    );
    let stats = server.get_ok("/api/stats");
    assert_eq!(stats["counts"]["spans"], json!(spans + 1), "{stats}");
}

fn json_error(response: reqwest::blocking::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

#[test]
fn garbage_protobuf_is_a_400_with_an_rpc_status() {
    let server = TestServer::start();
    let garbage = b"\x0a\xff\xff\xff\xff\x0fthis is not protobuf".to_vec();
    let response = server.post_bytes("/v1/traces", PROTOBUF, None, garbage);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let content_type = content_type_of(&response);
    assert!(
        content_type.starts_with(PROTOBUF),
        "answered as {content_type:?}"
    );
    let body = response.bytes().expect("body");
    let status = RpcStatus::decode(body.as_ref()).expect("the body is a google.rpc.Status");
    assert_eq!(status.code, 3, "INVALID_ARGUMENT: {status:?}");
    assert!(!status.message.is_empty(), "{status:?}");

    // Corrupt gzip around otherwise valid protobuf is bad input too.
    let response = server.post_bytes(
        "/v1/traces",
        PROTOBUF,
        Some("gzip"),
        b"not gzip at all".to_vec(),
    );
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let status = RpcStatus::decode(response.bytes().expect("body").as_ref()).expect("rpc status");
    assert!(!status.message.is_empty());
    assert_still_serving_with(&server, 0);
}

#[test]
fn malformed_json_is_a_400_with_a_message() {
    let server = TestServer::start();
    for body in [
        &b"{\"resourceSpans\": [ {"[..],
        &b"not json"[..],
        &b"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"traceId\": \"zz\"}]}]}]}"[..],
    ] {
        let response = server.post_bytes("/v1/traces", JSON, None, body.to_vec());
        let (status, error) = json_error(response);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(!error_message(&error).is_empty(), "{error}");
    }
    assert_still_serving_with(&server, 0);
}

#[test]
fn unsupported_content_type_and_encoding_are_415() {
    let server = TestServer::start();
    let (trace_id, export) = single_span_trace("unsupported", "GET /", SECOND);
    let body = export.encode_to_vec();

    for content_type in ["text/plain", "application/xml", ""] {
        let response = server.post_bytes("/v1/traces", content_type, None, body.clone());
        let (status, error) = json_error(response);
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {error}"
        );
        assert!(!error_message(&error).is_empty());
    }
    let response = server.post_bytes("/v1/traces", PROTOBUF, Some("br"), body.clone());
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let status = RpcStatus::decode(response.bytes().expect("body").as_ref()).expect("rpc status");
    assert!(status.message.contains("br"), "{status:?}");
    let json_body = serde_json::to_vec(&export).expect("OTLP JSON");
    let response = server.post_bytes("/v1/traces", JSON, Some("zstd"), json_body);
    let (status, error) = json_error(response);
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{error}");
    assert!(error_message(&error).contains("zstd"), "{error}");

    assert_eq!(server.trace_status(&trace_id), StatusCode::NOT_FOUND);
    assert_still_serving_with(&server, 0);
}

/// A valid request whose one span carries `padding` bytes of attribute.
fn padded_trace(padding: usize) -> (String, Vec<u8>) {
    let (trace_id, mut export) = single_span_trace("padded", "GET /big", SECOND);
    export.resource_spans[0].scope_spans[0].spans[0].attributes =
        vec![kv_str("padding", &"a".repeat(padding))];
    (trace_id, export.encode_to_vec())
}

#[test]
fn oversize_bodies_are_413() {
    let server = TestServer::start_with(|config| {
        config.limits.max_request_bytes = 4096;
        config.limits.max_attribute_value_bytes = 1 << 20;
    });
    let (trace_id, body) = padded_trace(12 * 1024);
    let response = server.post_bytes("/v1/traces", PROTOBUF, None, body.clone());
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let status = RpcStatus::decode(response.bytes().expect("body").as_ref()).expect("rpc status");
    assert!(!status.message.is_empty(), "{status:?}");

    // Without a Content-Length (chunked), the limit holds while reading.
    let response = server
        .client()
        .post(server.url("/v1/traces"))
        .header("content-type", PROTOBUF)
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(body)))
        .send()
        .expect("chunked POST");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(server.trace_status(&trace_id), StatusCode::NOT_FOUND);
    let metrics = server.metrics_text();
    assert!(
        metric_value(
            &metrics,
            "lookout_ingest_rejected_total{reason=\"too_large\"}"
        )
        .unwrap_or(0.0)
            >= 2.0,
        "{metrics}"
    );
    assert_still_serving_with(&server, 0);
}

#[test]
fn a_gzip_bomb_is_413() {
    let server = TestServer::start_with(|config| {
        config.limits.max_decompressed_bytes = 64 * 1024;
        config.limits.max_attribute_value_bytes = 16 << 20;
    });
    let (trace_id, body) = padded_trace(8 << 20);
    let bomb = gzip(&body);
    assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire");
    let response = server.post_bytes("/v1/traces", PROTOBUF, Some("gzip"), bomb);
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let status = RpcStatus::decode(response.bytes().expect("body").as_ref()).expect("rpc status");
    assert!(!status.message.is_empty());

    let (json_trace, json_export) = single_span_trace("padded", "GET /json-bomb", SECOND);
    let mut json_body = serde_json::to_value(&json_export).expect("OTLP JSON");
    json_body["padding"] = json!("b".repeat(4 << 20));
    let response = server.post_bytes(
        "/v1/traces",
        JSON,
        Some("gzip"),
        gzip(json_body.to_string().as_bytes()),
    );
    let (status, error) = json_error(response);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{error}");

    assert_eq!(server.trace_status(&trace_id), StatusCode::NOT_FOUND);
    assert_eq!(server.trace_status(&json_trace), StatusCode::NOT_FOUND);
    assert_still_serving_with(&server, 0);
}

#[test]
fn invalid_ids_are_rejected_per_span_and_valid_spans_are_stored() {
    let server = TestServer::start();
    let trace_id = new_trace_id();
    let t0 = now_nanos() - MINUTE;
    let root = new_span_id();
    let good_root = span(
        &trace_id,
        &root,
        None,
        "GET /",
        SpanKind::Server,
        t0,
        t0 + 10 * MS,
    );
    let good_child = span(
        &trace_id,
        &new_span_id(),
        Some(&root),
        "child",
        SpanKind::Internal,
        t0 + MS,
        t0 + 2 * MS,
    );
    let short_trace = span(
        &trace_id[..15],
        &new_span_id(),
        None,
        "short trace id",
        SpanKind::Server,
        t0,
        t0 + MS,
    );
    let zero_span = span(
        &trace_id,
        &[0; 8],
        None,
        "zero span id",
        SpanKind::Server,
        t0,
        t0 + MS,
    );
    let bad_parent = span(
        &trace_id,
        &new_span_id(),
        Some(&[1, 2, 3]),
        "bad parent",
        SpanKind::Server,
        t0,
        t0 + MS,
    );
    let zero_trace_id = [0u8; 16];
    let zero_trace = span(
        &zero_trace_id,
        &new_span_id(),
        None,
        "zero trace id",
        SpanKind::Server,
        t0,
        t0 + MS,
    );
    let export = request(vec![resource_spans(
        "partial",
        vec![],
        vec![
            short_trace,
            good_root,
            zero_span,
            bad_parent,
            good_child,
            zero_trace,
        ],
    )]);
    let response = server.post_protobuf("/v1/traces", &export);
    assert_eq!(response.status(), StatusCode::OK);
    let answer = ExportTraceServiceResponse::decode(response.bytes().expect("body").as_ref())
        .expect("response");
    let partial = answer
        .partial_success
        .expect("partial_success names the rejects");
    assert_eq!(partial.rejected_spans, 4, "{partial:?}");
    assert!(partial.error_message.contains("trace_id"), "{partial:?}");
    assert!(partial.error_message.contains("span_id"), "{partial:?}");

    let trace = server.trace(&hex(&trace_id));
    let names: Vec<&str> = trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["GET /", "child"]);

    // The same over JSON: a wrong-length id rejects that span only.
    let json_trace = new_trace_id();
    let start = now_nanos() - MINUTE;
    let json_hex = hex(&json_trace);
    let body = json_request(
        "partial",
        vec![
            json_span(&json_hex, &hex(&new_span_id()), "ok", start),
            json_span(
                &json_hex[..30],
                &hex(&new_span_id()),
                "short trace id",
                start,
            ),
            json_span(&json_hex, "00000000000000", "short span id", start),
        ],
    );
    let response = server.post_json("/v1/traces", &body);
    let (status, answer) = json_error(response);
    assert_eq!(status, StatusCode::OK, "{answer}");
    let rejected = &answer["partialSuccess"]["rejectedSpans"];
    let rejected = rejected
        .as_i64()
        .or_else(|| rejected.as_str().and_then(|s| s.parse().ok()));
    assert_eq!(rejected, Some(2), "{answer}");
    assert!(
        !answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{answer}"
    );
    let trace = server.trace(&hex(&json_trace));
    assert_eq!(trace["spans"].as_array().map(Vec::len), Some(1));

    let metrics = server.metrics_text();
    assert_eq!(
        metric_value(
            &metrics,
            "lookout_ingest_rejected_total{reason=\"invalid_item\"}"
        ),
        Some(6.0),
        "{metrics}"
    );
    assert_still_serving_with(&server, 3);
}

#[test]
fn bad_query_parameters_are_400_naming_the_parameter() {
    let server = TestServer::start();
    for (query, name) in [
        ("status=x", "status"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=djE6MQ", "cursor"),
        ("cursor=djI6MTox", "cursor"),
        ("attr=novalue", "attr"),
        ("attr==value", "attr"),
        ("start=noon", "start"),
        ("end=tomorrow", "end"),
        ("lookback=a%20while", "lookback"),
        ("min_duration_ms=-1", "min_duration_ms"),
        ("max_duration_ms=fast", "max_duration_ms"),
        ("start=2000&end=1000", "start"),
    ] {
        let (status, body) = server.get_json(&format!("/api/traces?{query}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(
            body["error"]["code"],
            json!("bad_request"),
            "{query}: {body}"
        );
        let message = error_message(&body);
        assert!(
            message.contains(name),
            "{query}: message {message:?} should name {name}"
        );
    }
    assert_still_serving_with(&server, 0);
}

#[test]
fn bad_and_unknown_ids_and_routes() {
    let server = TestServer::start();
    for id in [
        "xyz",
        "0123456789abcdef0123456789abcde",
        "zz23456789abcdef0123456789abcdef",
    ] {
        let (status, body) = server.get_json(&format!("/api/traces/{id}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}: {body}");
        assert!(!error_message(&body).is_empty());
    }
    let unknown = hex(&new_trace_id());
    let (status, body) = server.get_json(&format!("/api/traces/{unknown}"));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], json!("not_found"), "{body}");
    // Either case of a valid id finds nothing rather than failing.
    let (status, _) = server.get_json(&format!("/api/traces/{}", unknown.to_uppercase()));
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = server.get_json("/api/no-such-route");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], json!("not_found"), "{body}");
    assert!(!error_message(&body).is_empty());
    assert_still_serving_with(&server, 0);
}

#[test]
fn an_empty_export_is_accepted_and_stores_nothing() {
    let server = TestServer::start();
    let response = server.post_bytes("/v1/traces", PROTOBUF, None, Vec::new());
    assert_eq!(response.status(), StatusCode::OK);
    let response = server.post_json("/v1/traces", &json!({}));
    assert_eq!(response.status(), StatusCode::OK);
    let response = server.post_json(
        "/v1/traces",
        &json!({"resourceSpans": [{"scopeSpans": [{"spans": []}]}]}),
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.get_ok("/api/traces")["traces"], json!([]));
    assert_still_serving_with(&server, 0);
}

#[test]
fn attribute_limits_trim_and_say_so_in_partial_success() {
    let server = TestServer::start_with(|config| {
        config.limits.max_attributes = 2;
        config.limits.max_attribute_value_bytes = 16;
    });
    let (trace_id, mut export) = single_span_trace("limited", "GET /", SECOND);
    export.resource_spans[0].scope_spans[0].spans[0].attributes = vec![
        kv_str("long", &"x".repeat(100)),
        kv_int("kept", 1),
        kv_int("dropped", 2),
    ];
    let response = server.post_protobuf("/v1/traces", &export);
    assert_eq!(response.status(), StatusCode::OK);
    let answer = ExportTraceServiceResponse::decode(response.bytes().expect("body").as_ref())
        .expect("response");
    let partial = answer.partial_success.expect("trimming is reported");
    assert_eq!(partial.rejected_spans, 0);
    assert!(!partial.error_message.is_empty());
    let trace = server.trace(&trace_id);
    assert_eq!(
        trace["spans"][0]["attributes"],
        json!({"long": "x".repeat(16), "kept": 1})
    );
}

#[test]
fn spans_with_impossible_times_are_rejected() {
    let server = TestServer::start();
    let trace_id = new_trace_id();
    let t0 = now_nanos() - MINUTE;
    let export = request(vec![resource_spans(
        "timing",
        vec![],
        vec![
            span(
                &trace_id,
                &new_span_id(),
                None,
                "ok",
                SpanKind::Server,
                t0,
                t0 + MS,
            ),
            span(
                &trace_id,
                &new_span_id(),
                None,
                "ends before it starts",
                SpanKind::Server,
                t0,
                t0 - MS,
            ),
            span(
                &trace_id,
                &new_span_id(),
                None,
                "no start",
                SpanKind::Server,
                0,
                t0,
            ),
        ],
    )]);
    let response = server.post_protobuf("/v1/traces", &export);
    assert_eq!(response.status(), StatusCode::OK);
    let answer = ExportTraceServiceResponse::decode(response.bytes().expect("body").as_ref())
        .expect("response");
    assert_eq!(answer.partial_success.map(|p| p.rejected_spans), Some(2));
    let trace = server.trace(&hex(&trace_id));
    assert_eq!(trace["spans"].as_array().map(Vec::len), Some(1));
    assert_eq!(trace["spans"][0]["name"], json!("ok"));
}
