//! Forwarding (`--forward-otlp`): an edge lookout sends every accepted
//! batch to a central one over OTLP/HTTP or OTLP/gRPC, through a durable
//! outbox that outlives the central one being down and the edge
//! restarting.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use lookout::config::Config;
use lookout::pipeline::{Protocol, Upstream};
use serde_json::Value;

use crate::metrics::{base_ms, gauge, number};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// A free loopback port: bound, read, released.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn on_port(port: u16) -> impl FnOnce(&mut Config) {
    move |config| config.listen = SocketAddr::from(([127, 0, 0, 1], port))
}

/// The edge's configuration: forward to `url` with `headers`, an outbox
/// of `max_outbox` bytes, over OTLP/HTTP uncompressed.
fn forwarding_to(
    url: String,
    headers: Vec<(String, String)>,
    max_outbox: u64,
) -> impl Fn(&mut Config) + Clone {
    forwarding_over(Protocol::HttpProtobuf, false, url, headers, max_outbox)
}

/// As `forwarding_to`, with the protocol and compression given.
fn forwarding_over(
    protocol: Protocol,
    gzip: bool,
    url: String,
    headers: Vec<(String, String)>,
    max_outbox: u64,
) -> impl Fn(&mut Config) + Clone {
    move |config| {
        config.forward = vec![Upstream {
            url: url.clone(),
            protocol,
            gzip,
            headers: headers.clone(),
        }];
        config.pipeline.forward_destinations = vec![url.clone()];
        config.pipeline.forward_max_outbox_bytes = max_outbox;
    }
}

/// Waits until `done` holds, or fails naming `what`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn arrived(central: &TestServer, trace_id: &str) -> bool {
    central.trace_status(trace_id) == reqwest::StatusCode::OK
}

/// Sends `edge` one log record of `service` saying `message` and one
/// sample of the gauge `metric`; returns the sample's time (ms).
fn log_and_gauge(edge: &TestServer, service: &str, message: &str, metric: &str, value: f64) -> i64 {
    edge.export_logs(&logs_request(vec![resource_logs(
        service,
        vec![log_record(
            now_nanos() - SECOND,
            13,
            "WARN",
            message,
            vec![],
        )],
    )]));
    let t = base_ms() + 60_000;
    let response = edge.post_protobuf(
        "/v1/metrics",
        &crate::metrics::request(
            service,
            vec![gauge(metric, vec![number(vec![], 0, t, value)])],
        ),
    );
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    t
}

/// Waits until `server` answers `value` for the instant query `metric` at
/// `t_ms`.
fn wait_for_sample(server: &TestServer, metric: &str, t_ms: i64, value: &str) {
    wait_until(&format!("{metric} at the central lookout"), || {
        let (_, answer) = server.get_query(
            "/prometheus/api/v1/query",
            &[("query", metric), ("time", &format!("{}", t_ms / 1000))],
        );
        answer["data"]["result"][0]["value"][1] == value
    });
}

fn metric(server: &TestServer, series: &str) -> f64 {
    metric_value(&server.metrics_text(), series).unwrap_or(0.0)
}

#[test]
fn an_edge_forwards_what_it_stores_of_traces_logs_and_metrics() {
    let central = TestServer::start();
    let edge = TestServer::start_with(forwarding_to(central.url(""), vec![], 1 << 20));
    let (trace_id, mut export) = single_span_trace("edge-shop", "POST /login", SECOND);
    // What is forwarded is what the edge stores: redacted.
    export.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(kv_str("password", "hunter2"));
    edge.export(&export);
    let t = log_and_gauge(
        &edge,
        "edge-shop",
        "disk almost full on the edge",
        "edge_temperature",
        41.5,
    );

    wait_until("the trace at the central lookout", || {
        arrived(&central, &trace_id)
    });
    let trace = central.trace(&trace_id);
    let attributes = &trace["spans"][0]["attributes"];
    assert_eq!(attributes["password"], "[REDACTED]", "{trace}");
    assert_eq!(trace["spans"][0]["service"], "edge-shop");
    central.wait_for_logs(&[("q", "almost full"), ("service", "edge-shop")], 1);
    wait_for_sample(&central, "edge_temperature", t, "41.5");
    let upstream = central.url("");
    wait_until("the outbox emptied", || {
        metric(&edge, "lookout_forward_outbox_bytes") == 0.0
    });
    assert_eq!(
        metric(
            &edge,
            &format!("lookout_forward_sent_total{{destination=\"{upstream}\"}}")
        ),
        3.0
    );
    let (_, deep) = edge.get_json("/health/deep");
    let forwarding = &deep["checks"]["forwarding"];
    assert_eq!(forwarding["status"], "ok", "{deep}");
    assert_eq!(forwarding["upstreams"][&upstream]["waiting"], 0, "{deep}");
    // What is accepted after the outbox emptied goes too (its ids go on
    // past the upstream's position).
    let (later, export) = single_span_trace("edge-shop", "POST /logout", SECOND);
    edge.export(&export);
    wait_until("the later trace at the central lookout", || {
        arrived(&central, &later)
    });
}

#[test]
fn batches_wait_for_an_upstream_that_is_down_across_an_edge_restart() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    // gzip-compressed requests: the central lookout takes them as any
    // OTLP/HTTP client's.
    let forward = forwarding_over(Protocol::HttpProtobuf, true, url.clone(), vec![], 1 << 20);
    let mut edge = TestServer::start_with(forward.clone());
    let mut sent = Vec::new();
    for i in 0..5 {
        let (trace_id, export) = single_span_trace("edge-offline", &format!("op {i}"), SECOND);
        edge.export(&export);
        sent.push(trace_id);
    }
    wait_until("forwarding reported as failing", || {
        let (_, deep) = edge.get_json("/health/deep");
        deep["checks"]["forwarding"]["status"] == "degraded"
    });
    let (_, deep) = edge.get_json("/health/deep");
    let upstream = &deep["checks"]["forwarding"]["upstreams"][&url];
    assert_eq!(upstream["waiting"], 5, "{deep}");
    assert!(upstream["last_error"].is_string(), "{deep}");
    assert!(
        metric(
            &edge,
            &format!("lookout_forward_failures_total{{destination=\"{url}\"}}")
        ) >= 1.0
    );
    // The outbox is in the database: a restart keeps it.
    edge.restart_with(forward);
    let central = TestServer::start_with(on_port(port));
    for trace_id in &sent {
        wait_until(&format!("{trace_id} at the central lookout"), || {
            arrived(&central, trace_id)
        });
    }
    wait_until("the outbox emptied", || {
        metric(&edge, "lookout_forward_outbox_bytes") == 0.0
    });
    // Each arrived once: the central lookout holds five one-span traces.
    let search = central.get_ok("/api/traces?service=edge-offline");
    assert_eq!(trace_ids_of(&search).len(), 5, "{search}");
    // The five waited together and went as one request of five batches.
    assert_eq!(
        metric(
            &edge,
            &format!("lookout_forward_sent_total{{destination=\"{url}\"}}")
        ),
        5.0
    );
    assert_eq!(
        metric(
            &central,
            "lookout_http_requests_total{method=\"POST\",route=\"/v1/traces\",status=\"200\"}"
        ),
        1.0
    );
}

/// A central lookout taking OTLP/gRPC with the ingest key
/// `central-ingest-key`, and its gRPC endpoint URL.
fn grpc_central() -> (TestServer, String) {
    let central = TestServer::start_with(|config| {
        config.grpc_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.api_keys = vec!["central-ingest-key".into()];
    });
    let grpc = format!("http://{}", central.grpc_addr().expect("gRPC is on"));
    (central, grpc)
}

#[test]
fn an_edge_forwards_over_grpc_with_gzip_and_the_upstreams_key() {
    let (central, grpc) = grpc_central();
    let edge = TestServer::start_with(forwarding_over(
        Protocol::Grpc,
        true,
        grpc.clone(),
        vec![("Authorization".into(), "Bearer central-ingest-key".into())],
        1 << 20,
    ));
    let (trace_id, export) = single_span_trace("edge-grpc", "GET /stock", SECOND);
    edge.export(&export);
    let t = log_and_gauge(
        &edge,
        "edge-grpc",
        "stock level sent over grpc",
        "edge_stock_level",
        17.0,
    );
    wait_until("the trace at the central lookout", || {
        arrived(&central, &trace_id)
    });
    central.wait_for_logs(&[("q", "grpc"), ("service", "edge-grpc")], 1);
    wait_for_sample(&central, "edge_stock_level", t, "17");
    let text = central.metrics_text();
    for method in [
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    ] {
        let series = format!("lookout_grpc_requests_total{{method=\"{method}\",code=\"OK\"}}");
        assert!(
            metric_value(&text, &series).is_some_and(|n| n >= 1.0),
            "{series}"
        );
    }
    let (_, deep) = edge.get_json("/health/deep");
    let upstream = &deep["checks"]["forwarding"]["upstreams"][&grpc];
    assert_eq!(upstream["protocol"], "grpc", "{deep}");
    assert_eq!(upstream["last_error"], Value::Null, "{deep}");
}

#[test]
fn a_grpc_upstream_without_the_key_is_retried_and_reported() {
    let (central, grpc) = grpc_central();
    let edge = TestServer::start_with(forwarding_over(
        Protocol::Grpc,
        false,
        grpc.clone(),
        vec![],
        1 << 20,
    ));
    let (trace_id, export) = single_span_trace("edge-grpc-auth", "GET /", SECOND);
    edge.export(&export);
    wait_until("UNAUTHENTICATED reported", || {
        let (_, deep) = edge.get_json("/health/deep");
        deep["checks"]["forwarding"]["upstreams"][&grpc]["last_error"]
            .as_str()
            .is_some_and(|error| error.contains("Unauthenticated"))
    });
    assert!(!arrived(&central, &trace_id));
    assert_eq!(
        metric(&edge, "lookout_forward_dropped_total{reason=\"rejected\"}"),
        0.0,
        "kept for a corrected key"
    );
}

#[test]
fn a_merged_request_the_upstream_refuses_is_sent_row_by_row() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut edge = TestServer::start_with(forwarding_to(url.clone(), vec![], 1 << 20));
    // While the upstream is down, four small traces and one large one
    // wait in the outbox.
    let mut small = Vec::new();
    for i in 0..4 {
        let (trace_id, export) = single_span_trace("edge-merge", &format!("op {i}"), SECOND);
        edge.export(&export);
        small.push(trace_id);
    }
    let (large, mut export) = single_span_trace("edge-merge", "op large", SECOND);
    export.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(kv_str("payload", &"x".repeat(6000)));
    edge.export(&export);
    wait_until("forwarding reported as failing", || {
        let (_, deep) = edge.get_json("/health/deep");
        deep["checks"]["forwarding"]["upstreams"][&url]["waiting"] == 5
    });
    // The upstream takes requests of one small trace, not five at once,
    // and never the large one: 413.
    let central = TestServer::start_with(|config| {
        on_port(port)(config);
        config.limits.max_request_bytes = 1500;
    });
    for trace_id in &small {
        wait_until(&format!("{trace_id} at the central lookout"), || {
            arrived(&central, trace_id)
        });
    }
    wait_until("the outbox emptied", || {
        metric(&edge, "lookout_forward_outbox_bytes") == 0.0
    });
    assert!(!arrived(&central, &large));
    assert_eq!(
        metric(&edge, "lookout_forward_dropped_total{reason=\"rejected\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &edge,
            &format!("lookout_forward_sent_total{{destination=\"{url}\"}}")
        ),
        4.0
    );
    // Nothing is sent again after a restart.
    edge.restart_with(forwarding_to(url, vec![], 1 << 20));
    std::thread::sleep(Duration::from_millis(500));
    let search = central.get_ok("/api/traces?service=edge-merge&limit=100");
    assert_eq!(trace_ids_of(&search).len(), 4, "{search}");
}

#[test]
fn a_full_outbox_drops_the_oldest_batches_and_counts_them() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    // Room for a few one-span requests only.
    let edge = TestServer::start_with(forwarding_to(url, vec![], 500));
    let mut sent = Vec::new();
    for i in 0..20 {
        let (trace_id, export) = single_span_trace("edge-full", &format!("op {i}"), SECOND);
        edge.export(&export);
        sent.push(trace_id);
    }
    let dropped = metric(
        &edge,
        "lookout_forward_dropped_total{reason=\"outbox_full\"}",
    );
    assert!(dropped >= 10.0, "dropped {dropped}");
    let bytes = metric(&edge, "lookout_forward_outbox_bytes");
    assert!(bytes > 0.0 && bytes <= 500.0, "outbox {bytes} B");
    // The edge itself kept everything.
    for trace_id in &sent {
        assert!(arrived(&edge, trace_id), "{trace_id} at the edge");
    }
    // The newest go upstream once it is there; the dropped never do.
    let central = TestServer::start_with(on_port(port));
    let newest = sent.last().expect("sent");
    wait_until("the newest trace upstream", || arrived(&central, newest));
    wait_until("the outbox emptied", || {
        metric(&edge, "lookout_forward_outbox_bytes") == 0.0
    });
    let search = central.get_ok("/api/traces?service=edge-full&limit=100");
    let forwarded = trace_ids_of(&search).len() as f64;
    assert_eq!(forwarded + dropped, 20.0, "{search}");
    assert!(!arrived(&central, &sent[0]), "the oldest was dropped");
}

#[test]
fn a_refused_key_is_retried_until_the_headers_are_right() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let central = TestServer::start_with(|config| {
        on_port(port)(config);
        config.api_keys = vec!["central-ingest-key".into()];
    });
    let mut edge = TestServer::start_with(forwarding_to(url.clone(), vec![], 1 << 20));
    let (trace_id, export) = single_span_trace("edge-auth", "GET /", SECOND);
    edge.export(&export);
    wait_until("the 401 reported", || {
        let (_, deep) = edge.get_json("/health/deep");
        deep["checks"]["forwarding"]["upstreams"][&url]["last_error"]
            .as_str()
            .is_some_and(|error| error.contains("401"))
    });
    assert!(!arrived(&central, &trace_id));
    // With the key the waiting batch goes.
    edge.restart_with(forwarding_to(
        url,
        vec![("authorization".into(), "Bearer central-ingest-key".into())],
        1 << 20,
    ));
    wait_until("the trace upstream", || arrived(&central, &trace_id));
    let (_, deep): (_, Value) = edge.get_json("/health/deep");
    assert_eq!(deep["checks"]["forwarding"]["status"], "ok", "{deep}");
}

#[test]
fn a_request_storing_left_unchanged_goes_upstream_as_received() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    let receiver = crate::receiver::Receiver::start();
    let edge = TestServer::start_with(forwarding_to(receiver.url(""), vec![], 1 << 20));
    // A field lookout does not store (the schema URL) shows the bytes are
    // the client's.
    let (_, mut export) = single_span_trace("edge-raw", "GET /as-is", SECOND);
    export.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.26.0".into();
    let sent = export.encode_to_vec();
    edge.export(&export);
    // One that redaction changes is encoded from what is stored.
    let (_, mut secret) = single_span_trace("edge-raw", "POST /login", SECOND);
    secret.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(kv_str("password", "hunter2"));
    edge.export(&secret);
    let received = receiver.wait_for("both requests", WAIT, |received| {
        received
            .iter()
            .map(|r| {
                ExportTraceServiceRequest::decode(&r.bytes[..])
                    .map_or(0, |e| e.resource_spans.len())
            })
            .sum::<usize>()
            == 2
    });
    assert!(received.iter().all(|r| r.path == "/v1/traces"));
    let body: Vec<u8> = received.iter().flat_map(|r| r.bytes.clone()).collect();
    assert!(
        body.starts_with(&sent),
        "the first request's bytes are the client's"
    );
    let forwarded = ExportTraceServiceRequest::decode(&body[..]).expect("OTLP");
    let redacted = &forwarded.resource_spans[1].scope_spans[0].spans[0];
    let password = redacted
        .attributes
        .iter()
        .find(|kv| kv.key == "password")
        .expect("the attribute");
    assert_eq!(
        format!("{:?}", password.value),
        format!("{:?}", kv_str("password", "[REDACTED]").value)
    );
}

#[test]
fn items_an_upstream_refuses_in_partial_success_are_counted() {
    // The central lookout keeps an hour; the edge a week.
    let central = TestServer::start_with(|config| config.retention = Duration::from_secs(3600));
    let upstream = central.url("");
    let edge = TestServer::start_with(forwarding_to(upstream.clone(), vec![], 1 << 20));
    let now = now_nanos();
    edge.export_logs(&logs_request(vec![resource_logs(
        "edge-partial",
        vec![
            log_record(
                now - SECOND,
                9,
                "INFO",
                "fresh enough for the centre",
                vec![],
            ),
            log_record(
                now - 2 * 3600 * SECOND,
                9,
                "INFO",
                "too old for the centre",
                vec![],
            ),
        ],
    )]));
    central.wait_for_logs(&[("q", "fresh"), ("service", "edge-partial")], 1);
    let series = format!("lookout_forward_rejected_items_total{{destination=\"{upstream}\"}}");
    wait_until("the refused record counted", || {
        metric(&edge, &series) == 1.0
    });
    // Taken, so not retried or dropped as a batch.
    wait_until("the outbox emptied", || {
        metric(&edge, "lookout_forward_outbox_bytes") == 0.0
    });
    assert_eq!(
        metric(&edge, "lookout_forward_dropped_total{reason=\"rejected\"}"),
        0.0
    );
}
