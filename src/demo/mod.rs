//! `lookout demo`: serves as usual and feeds itself realistic sample
//! traffic over real OTLP/HTTP — a few services calling each other, errors,
//! slow database calls and logs correlated with their spans — so a new user
//! sees populated traces and logs without instrumenting anything. The
//! service metrics have something to show too: a consistently slow
//! operation (recommendations), a message consumer, and one minute in
//! every five when the payment provider times out on most charges. It
//! also exports OTLP metrics (`metrics.rs`).

mod metrics;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;

use crate::model::UnixNanos;

/// Time between two rounds of generated requests.
const ROUND: Duration = Duration::from_millis(700);
/// Metrics are exported every this many rounds (about 10 s).
const METRICS_EVERY: u64 = 14;
const MS: u64 = 1_000_000;
/// Every `BURST_EVERY`th minute (wall clock) is an error burst.
const BURST_EVERY: u64 = 5;
const MINUTE: u64 = 60_000 * MS;

/// The demo's alert rules: the payment timeouts of the error-burst minute
/// fire the first, the slow recommendations the second.
const SAMPLE_RULES: [&str; 3] = [
    r#"{"name": "checkout error rate", "description": "Orders failing at checkout (the demo's payment provider times out one minute in five).", "kind": "error_rate", "service": "checkout", "condition": ">", "threshold": 0.1, "recovery_threshold": 0.05, "window_minutes": 2, "keep_firing_minutes": 1, "severity": "critical", "labels": {"team": "shop"}}"#,
    r#"{"name": "recommendations p95 latency", "kind": "latency", "service": "recommendations", "percentile": 95, "condition": ">", "threshold": 800, "window_minutes": 5, "for_minutes": 2, "severity": "warning"}"#,
    r#"{"name": "payment declined logs", "kind": "log_count", "query": "\"payment declined\"", "condition": ">", "threshold": 20, "window_minutes": 5, "severity": "info"}"#,
];

/// Whether `now` (unix nanoseconds) falls in an error-burst minute.
fn error_burst(now: u64) -> bool {
    (now / MINUTE) % BURST_EVERY == BURST_EVERY - 1
}

/// Starts the `demo` thread; it stops when `stop` receives or disconnects.
pub fn spawn(
    addr: SocketAddr,
    token: Option<String>,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("demo".into())
        .spawn(move || {
            let mut generator = Generator::new(addr, token);
            tracing::info!("demo: sending sample traces and logs to http://{addr}");
            generator.create_sample_rules();
            loop {
                generator.round();
                match stop.recv_timeout(ROUND) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })
}

/// xorshift64*: enough randomness for sample traffic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let value = self.next().to_le_bytes();
            chunk.copy_from_slice(&value[..chunk.len()]);
        }
        out
    }
}

fn text(value: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(value.to_string())),
    })
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_string()))
}

/// One span being built, with the service that emits it.
struct Planned {
    service: &'static str,
    span: Span,
}

/// A log line to emit for a span.
struct PlannedLog {
    service: &'static str,
    time: u64,
    severity: i32,
    text: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    attributes: Vec<KeyValue>,
}

struct Generator {
    addr: SocketAddr,
    token: Option<String>,
    rng: Rng,
    spans: Vec<Planned>,
    logs: Vec<PlannedLog>,
    failures_reported: bool,
    metrics: metrics::DemoMetrics,
    rounds: u64,
}

impl Generator {
    fn new(addr: SocketAddr, token: Option<String>) -> Generator {
        let seed = UnixNanos::now().0.unsigned_abs() | 1;
        Generator {
            addr,
            token,
            rng: Rng(seed),
            spans: Vec::new(),
            logs: Vec::new(),
            failures_reported: false,
            metrics: metrics::DemoMetrics::new(u64::try_from(UnixNanos::now().0).unwrap_or(0)),
            rounds: 0,
        }
    }

    #[allow(clippy::too_many_arguments, reason = "a span is many fields")]
    fn span(
        &mut self,
        service: &'static str,
        name: &str,
        kind: span::SpanKind,
        trace_id: &[u8],
        parent: Option<&[u8]>,
        start: u64,
        duration: u64,
        attributes: Vec<KeyValue>,
        error: Option<&str>,
    ) -> Vec<u8> {
        let span_id = self.rng.bytes::<8>().to_vec();
        let status = error.map(|message| Status {
            code: status::StatusCode::Error as i32,
            message: message.to_string(),
        });
        let events = match error {
            Some(message) => vec![span::Event {
                time_unix_nano: start + duration,
                name: "exception".into(),
                attributes: vec![
                    kv_str("exception.type", "DemoError"),
                    kv_str("exception.message", message),
                ],
                ..Default::default()
            }],
            None => Vec::new(),
        };
        self.spans.push(Planned {
            service,
            span: Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.clone(),
                parent_span_id: parent.map(<[u8]>::to_vec).unwrap_or_default(),
                name: name.to_string(),
                kind: kind as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: start + duration,
                attributes,
                events,
                status,
                ..Default::default()
            },
        });
        span_id
    }

    #[allow(clippy::too_many_arguments, reason = "a log line is many fields")]
    fn log(
        &mut self,
        service: &'static str,
        time: u64,
        severity: i32,
        text: String,
        trace_id: &[u8],
        span_id: &[u8],
        attributes: Vec<KeyValue>,
    ) {
        self.logs.push(PlannedLog {
            service,
            time,
            severity,
            text,
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            attributes,
        });
    }

    /// One user request through the shop, as a trace and its logs.
    fn request(&mut self, now: u64) {
        let trace_id = self.rng.bytes::<16>().to_vec();
        let start = now - self.rng.below(500) * MS;
        let user = format!("user-{}", self.rng.below(40));
        match self.rng.below(4) {
            0 => {
                let latency = (8 + self.rng.below(30)) * MS;
                let root = self.span(
                    "frontend",
                    "GET /cart",
                    span::SpanKind::Server,
                    &trace_id,
                    None,
                    start,
                    latency,
                    vec![
                        kv_str("http.request.method", "GET"),
                        kv_str("http.route", "/cart"),
                        kv("http.response.status_code", any_value::Value::IntValue(200)),
                        kv_str("enduser.id", &user),
                    ],
                    None,
                );
                let cart = self.span(
                    "cart",
                    "GetCart",
                    span::SpanKind::Server,
                    &trace_id,
                    Some(&root),
                    start + MS,
                    latency - 2 * MS,
                    vec![
                        kv_str("rpc.system", "grpc"),
                        kv_str("rpc.method", "GetCart"),
                    ],
                    None,
                );
                self.span(
                    "cart",
                    "redis GET",
                    span::SpanKind::Client,
                    &trace_id,
                    Some(&cart),
                    start + 2 * MS,
                    2 * MS,
                    vec![
                        kv_str("db.system.name", "redis"),
                        kv_str("db.operation.name", "GET"),
                    ],
                    None,
                );
                self.log(
                    "frontend",
                    start + latency,
                    9,
                    format!("served cart for {user} in {} ms", latency / MS),
                    &trace_id,
                    &root,
                    vec![kv_str("enduser.id", &user)],
                );
            }
            1 => {
                // A timeout waits for the provider's full second or more.
                let timeout = error_burst(now) && self.rng.chance(60);
                let declined = !timeout && self.rng.chance(12);
                let latency = if timeout {
                    (1_000 + self.rng.below(500)) * MS
                } else {
                    (40 + self.rng.below(120)) * MS
                };
                let status_code = match (timeout, declined) {
                    (true, _) => 504,
                    (_, true) => 402,
                    _ => 200,
                };
                let items = 1 + self.rng.below(5) as i64;
                let amount = self.rng.below(20_000) as f64 / 100.0;
                let error = match (timeout, declined) {
                    (true, _) => Some("payment provider timed out"),
                    (_, true) => Some("payment declined"),
                    _ => None,
                };
                let root = self.span(
                    "frontend",
                    "POST /checkout",
                    span::SpanKind::Server,
                    &trace_id,
                    None,
                    start,
                    latency,
                    vec![
                        kv_str("http.request.method", "POST"),
                        kv_str("http.route", "/checkout"),
                        kv(
                            "http.response.status_code",
                            any_value::Value::IntValue(status_code),
                        ),
                        kv_str("enduser.id", &user),
                    ],
                    error,
                );
                let order = self.span(
                    "checkout",
                    "PlaceOrder",
                    span::SpanKind::Server,
                    &trace_id,
                    Some(&root),
                    start + 2 * MS,
                    latency - 4 * MS,
                    vec![
                        kv_str("rpc.system", "grpc"),
                        kv_str("rpc.method", "PlaceOrder"),
                        kv("order.items", any_value::Value::IntValue(items)),
                    ],
                    error,
                );
                self.span(
                    "inventory",
                    "Reserve",
                    span::SpanKind::Server,
                    &trace_id,
                    Some(&order),
                    start + 4 * MS,
                    6 * MS,
                    vec![kv_str("rpc.method", "Reserve")],
                    None,
                );
                let charge = self.span(
                    "payments",
                    "Charge",
                    span::SpanKind::Server,
                    &trace_id,
                    Some(&order),
                    start + 12 * MS,
                    latency - 30 * MS,
                    vec![
                        kv_str("payment.provider", "demo-pay"),
                        kv("payment.amount", any_value::Value::DoubleValue(amount)),
                    ],
                    error,
                );
                self.span(
                    "checkout",
                    "INSERT orders",
                    span::SpanKind::Client,
                    &trace_id,
                    Some(&order),
                    start + latency - 15 * MS,
                    5 * MS,
                    vec![
                        kv_str("db.system.name", "postgresql"),
                        kv_str("db.operation.name", "INSERT"),
                    ],
                    None,
                );
                if let Some(reason) = error {
                    let detail = if timeout {
                        "no answer from demo-pay"
                    } else {
                        "card issuer refused"
                    };
                    self.log(
                        "payments",
                        start + latency - 20 * MS,
                        17,
                        format!("{reason} for {user}: {detail}"),
                        &trace_id,
                        &charge,
                        vec![
                            kv_str("enduser.id", &user),
                            kv(
                                "http.response.status_code",
                                any_value::Value::IntValue(status_code),
                            ),
                        ],
                    );
                } else {
                    self.order_created(&trace_id, &order, start + latency - 8 * MS);
                    self.log(
                        "checkout",
                        start + latency - 5 * MS,
                        9,
                        format!("order placed for {user}"),
                        &trace_id,
                        &order,
                        vec![kv_str("enduser.id", &user)],
                    );
                }
            }
            2 => {
                let slow = self.rng.chance(8);
                let query = if slow {
                    (600 + self.rng.below(900)) * MS
                } else {
                    (1 + self.rng.below(6)) * MS
                };
                let latency = query + (5 + self.rng.below(10)) * MS;
                let product = self.rng.below(500);
                let root = self.span(
                    "frontend",
                    "GET /products/{id}",
                    span::SpanKind::Server,
                    &trace_id,
                    None,
                    start,
                    latency,
                    vec![
                        kv_str("http.request.method", "GET"),
                        kv_str("http.route", "/products/{id}"),
                        kv("http.response.status_code", any_value::Value::IntValue(200)),
                        kv("product.id", any_value::Value::IntValue(product as i64)),
                    ],
                    None,
                );
                let catalog = self.span(
                    "catalog",
                    "GetProduct",
                    span::SpanKind::Server,
                    &trace_id,
                    Some(&root),
                    start + MS,
                    latency - 2 * MS,
                    vec![kv_str("rpc.method", "GetProduct")],
                    None,
                );
                let select = self.span(
                    "catalog",
                    "SELECT products",
                    span::SpanKind::Client,
                    &trace_id,
                    Some(&catalog),
                    start + 2 * MS,
                    query,
                    vec![
                        kv_str("db.system.name", "postgresql"),
                        kv_str("db.operation.name", "SELECT"),
                    ],
                    None,
                );
                if slow {
                    self.log(
                        "catalog",
                        start + 2 * MS + query,
                        13,
                        format!("slow query: SELECT products took {} ms", query / MS),
                        &trace_id,
                        &select,
                        vec![kv(
                            "db.duration_ms",
                            any_value::Value::IntValue((query / MS) as i64),
                        )],
                    );
                }
            }
            _ => self.recommendations(&trace_id, start, &user),
        }
    }

    /// Recommendations: the consistently slow operation (a model scores
    /// candidates for a few hundred milliseconds).
    fn recommendations(&mut self, trace_id: &[u8], start: u64, user: &str) {
        let scoring = (250 + self.rng.below(450)) * MS;
        let latency = scoring + (10 + self.rng.below(15)) * MS;
        let root = self.span(
            "frontend",
            "GET /recommendations",
            span::SpanKind::Server,
            trace_id,
            None,
            start,
            latency,
            vec![
                kv_str("http.request.method", "GET"),
                kv_str("http.route", "/recommendations"),
                kv("http.response.status_code", any_value::Value::IntValue(200)),
                kv_str("enduser.id", user),
            ],
            None,
        );
        let list = self.span(
            "recommendations",
            "ListRecommendations",
            span::SpanKind::Server,
            trace_id,
            Some(&root),
            start + 2 * MS,
            latency - 4 * MS,
            vec![
                kv_str("rpc.system", "grpc"),
                kv_str("rpc.method", "ListRecommendations"),
            ],
            None,
        );
        self.span(
            "recommendations",
            "score candidates",
            span::SpanKind::Internal,
            trace_id,
            Some(&list),
            start + 5 * MS,
            scoring,
            vec![kv("candidates", any_value::Value::IntValue(200))],
            None,
        );
    }

    /// A placed order is published and consumed by the email service: a
    /// producer span of checkout and a consumer span of email.
    fn order_created(&mut self, trace_id: &[u8], order: &[u8], at: u64) {
        let messaging = |operation: &str| {
            vec![
                kv_str("messaging.system", "kafka"),
                kv_str("messaging.destination.name", "orders"),
                kv_str("messaging.operation.type", operation),
            ]
        };
        let publish = self.span(
            "checkout",
            "publish orders",
            span::SpanKind::Producer,
            trace_id,
            Some(order),
            at,
            MS,
            messaging("publish"),
            None,
        );
        let delay = (3 + self.rng.below(20)) * MS;
        let handling = (5 + self.rng.below(25)) * MS;
        self.span(
            "email",
            "process orders",
            span::SpanKind::Consumer,
            trace_id,
            Some(&publish),
            at + delay,
            handling,
            messaging("process"),
            None,
        );
    }

    fn round(&mut self) {
        let now = u64::try_from(UnixNanos::now().0).unwrap_or(0);
        for _ in 0..(2 + self.rng.below(4)) {
            self.request(now);
        }
        self.count_spans();
        let traces = self.trace_request();
        let logs = self.logs_request();
        self.rounds += 1;
        // The first round exports too, so metrics show up at once.
        let metrics = (self.rounds % METRICS_EVERY == 1).then(|| {
            let step = self.rng.below(5) as i64 - 2;
            self.metrics.queue_moves(step);
            let body = self.metrics.request(now).encode_to_vec();
            self.post("/v1/metrics", &body)
        });
        let results = [
            self.post("/v1/traces", &traces.encode_to_vec()),
            self.post("/v1/logs", &logs.encode_to_vec()),
            metrics.unwrap_or(Ok(())),
        ];
        match results.iter().find_map(|result| result.as_ref().err()) {
            Some(error) if !self.failures_reported => {
                tracing::warn!(%error, "demo: sending sample data failed");
                self.failures_reported = true;
            }
            Some(_) => {}
            None => self.failures_reported = false,
        }
    }

    /// Feeds this round's server and consumer spans into the metrics.
    fn count_spans(&mut self) {
        for planned in &self.spans {
            let span = &planned.span;
            let duration = span.end_time_unix_nano - span.start_time_unix_nano;
            if span.kind == span::SpanKind::Server as i32 {
                self.metrics.server_span(
                    planned.service,
                    &span.name,
                    span.end_time_unix_nano,
                    duration,
                    &span.trace_id,
                    &span.span_id,
                );
            } else if span.kind == span::SpanKind::Consumer as i32 && planned.service == "email" {
                self.metrics.job_done();
            }
        }
    }

    fn resource(service: &str) -> Option<Resource> {
        Some(Resource {
            attributes: vec![
                kv_str("service.name", service),
                kv_str("service.version", "1.4.2"),
                kv_str("deployment.environment.name", "demo"),
                kv_str("host.name", "demo-host"),
            ],
            ..Default::default()
        })
    }

    fn scope() -> Option<InstrumentationScope> {
        Some(InstrumentationScope {
            name: "lookout-demo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        })
    }

    fn trace_request(&mut self) -> ExportTraceServiceRequest {
        let mut by_service: Vec<(&'static str, Vec<Span>)> = Vec::new();
        for planned in self.spans.drain(..) {
            match by_service
                .iter_mut()
                .find(|(service, _)| *service == planned.service)
            {
                Some((_, spans)) => spans.push(planned.span),
                None => by_service.push((planned.service, vec![planned.span])),
            }
        }
        ExportTraceServiceRequest {
            resource_spans: by_service
                .into_iter()
                .map(|(service, spans)| ResourceSpans {
                    resource: Self::resource(service),
                    scope_spans: vec![ScopeSpans {
                        scope: Self::scope(),
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn logs_request(&mut self) -> ExportLogsServiceRequest {
        let mut by_service: Vec<(&'static str, Vec<LogRecord>)> = Vec::new();
        for planned in self.logs.drain(..) {
            let record = LogRecord {
                time_unix_nano: planned.time,
                severity_number: planned.severity,
                body: text(&planned.text),
                trace_id: planned.trace_id,
                span_id: planned.span_id,
                attributes: planned.attributes,
                ..Default::default()
            };
            match by_service
                .iter_mut()
                .find(|(service, _)| *service == planned.service)
            {
                Some((_, records)) => records.push(record),
                None => by_service.push((planned.service, vec![record])),
            }
        }
        ExportLogsServiceRequest {
            resource_logs: by_service
                .into_iter()
                .map(|(service, log_records)| ResourceLogs {
                    resource: Self::resource(service),
                    scope_logs: vec![ScopeLogs {
                        scope: Self::scope(),
                        log_records,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// Alert rules over the sample traffic, so the Alerts page has
    /// something to show: created once, when the server has no rules.
    fn create_sample_rules(&self) {
        let rules = match self.exchange("GET", "/api/alerts/rules", "application/json", b"") {
            Ok((200, body)) => body,
            Ok((status, _)) => {
                tracing::warn!(status, "demo: cannot list alert rules");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "demo: cannot list alert rules");
                return;
            }
        };
        if !String::from_utf8_lossy(&rules).contains("\"rules\":[]") {
            return;
        }
        for rule in SAMPLE_RULES {
            match self.exchange(
                "POST",
                "/api/alerts/rules",
                "application/json",
                rule.as_bytes(),
            ) {
                Ok((201, _)) => {}
                Ok((status, body)) => tracing::warn!(
                    status,
                    body = %String::from_utf8_lossy(&body),
                    "demo: a sample alert rule was refused"
                ),
                Err(error) => tracing::warn!(%error, "demo: creating a sample alert rule failed"),
            }
        }
    }

    /// A minimal HTTP/1.1 POST: the demo talks to its own server on
    /// loopback exactly as an OTLP exporter would.
    fn post(&self, path: &str, body: &[u8]) -> Result<(), String> {
        match self.exchange("POST", path, "application/x-protobuf", body)? {
            (200, _) => Ok(()),
            (status, _) => Err(format!("{path} answered {status}")),
        }
    }

    /// One request on its own connection: the status and the body.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let auth = self
            .token
            .as_ref()
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .map_err(|e| e.to_string())?;
        stream.write_all(body).map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .map_err(|e| e.to_string())?;
        let status = response
            .get(9..12)
            .and_then(|code| std::str::from_utf8(code).ok())
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| format!("{path}: not an HTTP answer"))?;
        let body = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map(|end| response[end + 4..].to_vec())
            .unwrap_or_default();
        Ok((status, body))
    }
}
