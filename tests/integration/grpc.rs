//! OTLP/gRPC through the real server with tonic's generated clients: the
//! same stores, limits, auth, partial success and backpressure as
//! OTLP/HTTP. (The OpenTelemetry Python SDK's gRPC exporters are in
//! `python_sdk.rs`.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::Value;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_types::StatusExt as _;

use crate::metrics::{base_ms, gauge, number};
use crate::support::*;

const TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A test server with OTLP/gRPC on a free loopback port, and tweaks.
fn grpc_server(tweak: impl FnOnce(&mut lookout::config::Config)) -> (TestServer, SocketAddr) {
    let server = TestServer::start_with(|config| {
        config.grpc_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        tweak(config);
    });
    let addr = server.grpc_addr().expect("gRPC is on");
    (server, addr)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the gRPC client")
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("an endpoint")
        .connect()
        .await
        .expect("the gRPC port accepts")
}

/// A call of the trace service with optional metadata.
fn with_metadata<T>(message: T, metadata: &[(&'static str, &str)]) -> Request<T> {
    let mut request = Request::new(message);
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, value.parse().expect("metadata value"));
    }
    request
}

fn metric(text: &str, series: &str) -> f64 {
    metric_value(text, series).unwrap_or(0.0)
}

#[test]
fn traces_logs_and_metrics_over_grpc_are_stored_as_over_http() {
    let (server, addr) = grpc_server(|_| {});
    let (trace_id, export) = single_span_trace("grpc-shop", "GET /cart", SECOND);
    let now = now_nanos();
    let logs = logs_request(vec![resource_logs(
        "grpc-shop",
        vec![log_record(
            now - SECOND,
            17,
            "ERROR",
            "payment declined over grpc",
            vec![],
        )],
    )]);
    let t = base_ms() + 60_000;
    let metrics = crate::metrics::request(
        "grpc-shop",
        vec![gauge("grpc_queue_depth", vec![number(vec![], 0, t, 7.0)])],
    );
    runtime().block_on(async {
        let channel = channel(addr).await;
        // Gzip on one call, plain on the others: both are accepted.
        let answer = TraceServiceClient::new(channel.clone())
            .send_compressed(CompressionEncoding::Gzip)
            .export(export)
            .await
            .expect("traces export")
            .into_inner();
        assert_eq!(answer.partial_success, None, "{answer:?}");
        let answer = LogsServiceClient::new(channel.clone())
            .export(logs)
            .await
            .expect("logs export")
            .into_inner();
        assert_eq!(answer.partial_success, None, "{answer:?}");
        let answer = MetricsServiceClient::new(channel)
            .export(metrics)
            .await
            .expect("metrics export")
            .into_inner();
        assert_eq!(answer.partial_success, None, "{answer:?}");
    });
    // Acknowledged means durable: readable at once.
    let trace = server.trace(&trace_id);
    assert_eq!(trace["spans"][0]["name"], "GET /cart", "{trace}");
    assert_eq!(trace["spans"][0]["service"], "grpc-shop", "{trace}");
    server.wait_for_logs(&[("q", "declined"), ("service", "grpc-shop")], 1);
    let (_, answer) = server.get_query(
        "/prometheus/api/v1/query",
        &[
            ("query", "grpc_queue_depth"),
            ("time", &format!("{}", t / 1000)),
        ],
    );
    assert_eq!(
        answer["data"]["result"][0]["value"][1], "7",
        "the gauge over gRPC: {answer}"
    );
    let text = server.metrics_text();
    for method in ["trace", "logs", "metrics"] {
        let series = text
            .lines()
            .find(|line| {
                line.starts_with("lookout_grpc_requests_total")
                    && line.contains(&format!("collector.{method}.v1"))
                    && line.contains("code=\"OK\"")
            })
            .unwrap_or_else(|| panic!("{method} counted: {text}"));
        assert!(series.ends_with(" 1"), "{series}");
    }
}

#[test]
fn invalid_spans_are_counted_in_partial_success_and_the_valid_ones_stored() {
    let (server, addr) = grpc_server(|_| {});
    let trace_id = new_trace_id();
    let start = now_nanos() - SECOND;
    let good = span(
        &trace_id,
        &new_span_id(),
        None,
        "kept",
        SpanKind::Server,
        start,
        start + MS,
    );
    // A trace id of 3 bytes is not a trace id.
    let bad = span(
        &[1, 2, 3],
        &new_span_id(),
        None,
        "dropped",
        SpanKind::Server,
        start,
        start + MS,
    );
    let export = request(vec![resource_spans(
        "grpc-partial",
        vec![],
        vec![good, bad],
    )]);
    let answer = runtime().block_on(async {
        TraceServiceClient::new(channel(addr).await)
            .export(export)
            .await
            .expect("a partial success is a success")
            .into_inner()
    });
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1, "{partial:?}");
    assert!(
        partial.error_message.contains("trace"),
        "{}",
        partial.error_message
    );
    let trace = server.trace(&hex(&trace_id));
    assert_eq!(trace["spans"].as_array().map(Vec::len), Some(1), "{trace}");
}

/// A message whose field 1 is a number where OTLP has a message: not an
/// `ExportTraceServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct NotOtlp {
    #[prost(uint64, tag = "1")]
    resource_spans: u64,
}

#[test]
fn a_message_that_does_not_decode_or_is_too_large_is_refused_and_nothing_is_stored() {
    let (server, addr) = grpc_server(|config| {
        config.limits.max_decompressed_bytes = 64 * 1024;
    });
    let (trace_id, mut large) = single_span_trace("grpc-large", "big", SECOND);
    large.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(kv_str("blob", &"x".repeat(100 * 1024)));
    let (too_large, too_large_gzip, garbage) = runtime().block_on(async {
        let channel = channel(addr).await;
        let too_large = TraceServiceClient::new(channel.clone())
            .export(large.clone())
            .await
            .expect_err("past the limit");
        // Compressed it fits on the wire; decompressed it does not.
        let too_large_gzip = TraceServiceClient::new(channel.clone())
            .send_compressed(CompressionEncoding::Gzip)
            .export(large)
            .await
            .expect_err("past the limit once decompressed");
        let mut raw = tonic::client::Grpc::new(channel);
        raw.ready().await.expect("ready");
        let garbage = raw
            .unary(
                Request::new(NotOtlp { resource_spans: 7 }),
                tonic::codegen::http::uri::PathAndQuery::from_static(TRACES),
                tonic_prost::ProstCodec::<NotOtlp, ExportTraceServiceResponse>::default(),
            )
            .await
            .expect_err("not OTLP");
        (too_large, too_large_gzip, garbage)
    });
    assert_eq!(too_large.code(), Code::OutOfRange, "{too_large:?}");
    assert_eq!(
        too_large_gzip.code(),
        Code::ResourceExhausted,
        "{too_large_gzip:?}"
    );
    assert_eq!(garbage.code(), Code::Internal, "{garbage:?}");
    assert!(garbage.message().contains("decode"), "{garbage:?}");
    assert_eq!(
        server.trace_status(&trace_id),
        reqwest::StatusCode::NOT_FOUND
    );
    let stats = server.get_ok("/api/stats");
    assert_eq!(stats["counts"]["spans"], Value::from(0), "{stats}");
    // Each refusal is counted by its status.
    let text = server.metrics_text();
    for code in ["OUT_OF_RANGE", "RESOURCE_EXHAUSTED", "INTERNAL"] {
        let series = format!("lookout_grpc_requests_total{{method=\"{TRACES}\",code=\"{code}\"}}");
        assert_eq!(metric(&text, &series), 1.0, "{series}: {text}");
    }
}

#[test]
fn ingest_keys_are_read_from_the_call_metadata() {
    let (server, addr) = grpc_server(|config| {
        config.api_keys = vec!["edge-key".into()];
    });
    let (without, bearer, header) = runtime().block_on(async {
        let mut client = TraceServiceClient::new(channel(addr).await);
        let (_, export) = single_span_trace("grpc-auth", "anonymous", SECOND);
        let without = client.export(export).await.expect_err("no key");
        let (bearer_id, export) = single_span_trace("grpc-auth", "bearer", SECOND);
        client
            .export(with_metadata(
                export,
                &[("authorization", "Bearer edge-key")],
            ))
            .await
            .expect("Bearer key");
        let (header_id, export) = single_span_trace("grpc-auth", "header", SECOND);
        client
            .export(with_metadata(export, &[("x-api-key", "edge-key")]))
            .await
            .expect("x-api-key");
        let (_, export) = single_span_trace("grpc-auth", "wrong", SECOND);
        let wrong = client
            .export(with_metadata(export, &[("authorization", "Bearer nope")]))
            .await
            .expect_err("wrong key");
        assert_eq!(wrong.code(), Code::Unauthenticated);
        (without, bearer_id, header_id)
    });
    assert_eq!(without.code(), Code::Unauthenticated, "{without:?}");
    assert!(without.message().contains("API key"), "{without:?}");
    for trace_id in [bearer, header] {
        assert_eq!(
            server.trace(&trace_id)["spans"].as_array().map(Vec::len),
            Some(1)
        );
    }
    let search = server.get_ok("/api/traces?service=grpc-auth");
    assert_eq!(trace_ids_of(&search).len(), 2, "{search}");
}

#[test]
fn a_full_queue_is_unavailable_with_retry_info_and_every_acknowledged_span_is_stored() {
    const CALLS: usize = 24;
    let (server, addr) = grpc_server(|config| {
        config.pipeline.queue_capacity = 1;
        config.pipeline.writer_delay = Duration::from_millis(250);
    });
    let outcomes = runtime().block_on(async {
        let channel = channel(addr).await;
        let calls: Vec<_> = (0..CALLS)
            .map(|i| {
                let mut client = TraceServiceClient::new(channel.clone());
                let (trace_id, export) =
                    single_span_trace("grpc-burst", &format!("op {i}"), SECOND);
                tokio::spawn(async move { (trace_id, client.export(export).await) })
            })
            .collect();
        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(call.await.expect("the call's task"));
        }
        outcomes
    });
    let server = Arc::new(server);
    let mut accepted = 0;
    let mut refused = 0;
    for (trace_id, outcome) in outcomes {
        match outcome {
            Ok(_) => {
                accepted += 1;
                assert_eq!(
                    server.trace(&trace_id)["spans"].as_array().map(Vec::len),
                    Some(1),
                    "acknowledged {trace_id}"
                );
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                let retry = status
                    .get_details_retry_info()
                    .expect("UNAVAILABLE says when to retry");
                assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));
                assert_eq!(
                    server.trace_status(&trace_id),
                    reqwest::StatusCode::NOT_FOUND
                );
                refused += 1;
            }
        }
    }
    assert!(
        refused > 0,
        "{CALLS} calls into a queue of 1 must see UNAVAILABLE"
    );
    assert!(accepted > 0, "the first calls fit in the queue");
}

#[test]
fn a_taken_grpc_port_fails_the_start_and_none_turns_grpc_off() {
    let (_server, addr) = grpc_server(|_| {});
    let dir = tempfile::tempdir().expect("a data directory");
    let mut config = lookout::config::Config::for_data_dir(dir.path());
    config.grpc_listen = Some(addr);
    let error = match lookout::app::RunningApp::start(config) {
        Ok(_) => panic!("a second server on the same gRPC port must not start"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("--grpc-listen"), "{error}");
    let off = TestServer::start();
    assert_eq!(off.grpc_addr(), None);
}
