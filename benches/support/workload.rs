//! A realistic ingest workload shared by benchmarks: spans as an HTTP
//! server and its database client send them (10 attributes each, long
//! URLs, user agents, SQL) and log records with a message and 5
//! attributes, grouped by service; 1 % carry an email address, a bearer
//! token or a `password` attribute.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, Span};

use super::otlp;
use super::raw_http::RawHttp;
use super::rng::Rng;

pub const SERVICES: usize = 10;
pub const SPANS_PER_REQUEST: usize = 1_000;
const SPANS_PER_TRACE: usize = 10;
pub const LOGS_PER_REQUEST: usize = 1_000;
pub const PROTOBUF: &str = "application/x-protobuf";

pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, value: String) -> KeyValue {
    kv(key, any_value::Value::StringValue(value))
}

fn int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

fn resource(service: usize) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            text("service.name", format!("svc-{service}")),
            text("service.version", "1.4.2".into()),
            text("host.name", format!("edge-{service:02}")),
            text("telemetry.sdk.language", "python".into()),
        ],
        ..Default::default()
    })
}

const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

/// The attributes of a span as an HTTP server or a database client sends
/// them; one in a hundred carries a secret.
fn span_attributes(rng: &mut Rng, root: bool) -> Vec<KeyValue> {
    let order = rng.below(1_000_000);
    let mut attributes = if root {
        vec![
            text("http.request.method", "GET".into()),
            text(
                "url.full",
                format!("https://shop.example/api/orders/{order}?expand=items&page=2"),
            ),
            text("http.route", "/api/orders/{id}".into()),
            int("http.response.status_code", 200),
            text("user_agent.original", AGENT.into()),
            text("server.address", "shop.example".into()),
            int("server.port", 443),
            text(
                "client.address",
                format!("10.0.{}.{}", rng.below(255), rng.below(255)),
            ),
            text("network.protocol.version", "1.1".into()),
            text("url.scheme", "https".into()),
        ]
    } else {
        vec![
            text("db.system", "postgresql".into()),
            text("db.namespace", "shop".into()),
            text(
                "db.query.text",
                format!(
                    "SELECT id, status, total FROM orders WHERE id = {order} AND tenant_id = $1"
                ),
            ),
            text("db.operation.name", "SELECT".into()),
            text("server.address", "db.internal".into()),
            int("server.port", 5432),
            text("code.function", "load_order".into()),
            text("code.namespace", "shop.orders.repository".into()),
            int("db.response.returned_rows", rng.below(50) as i64),
            text("thread.name", format!("worker-{}", rng.below(16))),
        ]
    };
    if rng.chance(0.01) {
        attributes.push(text("enduser.email", format!("user{order}@example.com")));
        attributes.push(text(
            "http.request.header.authorization",
            format!("Bearer tok{order}abcdef"),
        ));
    }
    attributes
}

pub fn span_request(rng: &mut Rng) -> Vec<u8> {
    span_request_at(rng, now_nanos(), 0)
}

/// About `padding` bytes of words made of random syllables: a stand-in
/// for the stack traces, SQL and payload snippets that make real records
/// larger, varied enough that neither the database nor the log index
/// compresses it away, with a vocabulary (32k words) a log index can hold.
fn padding_text(rng: &mut Rng, padding: usize) -> String {
    const SYLLABLES: [&str; 32] = [
        "ka", "lo", "mi", "ne", "po", "ru", "sa", "te", "vi", "zo", "ba", "ce", "di", "fu", "ga",
        "he", "ji", "ko", "lu", "ma", "no", "pi", "qu", "re", "si", "to", "ul", "ve", "wa", "xi",
        "yo", "ze",
    ];
    let mut text = String::with_capacity(padding + 8);
    while text.len() < padding {
        for _ in 0..3 {
            text.push_str(SYLLABLES[rng.index(SYLLABLES.len())]);
        }
        text.push(' ');
    }
    text
}

/// A [`span_request`] whose traces start in the 30 s before `now` (Unix
/// nanoseconds), each span with a `padding` attribute of that many bytes
/// when `padding` > 0.
pub fn span_request_at(rng: &mut Rng, now: u64, padding: usize) -> Vec<u8> {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES];
    for _ in 0..SPANS_PER_REQUEST / SPANS_PER_TRACE {
        let service = rng.index(SERVICES);
        let trace_id: [u8; 16] = rng.id();
        let root_id: [u8; 8] = rng.id();
        let start = now - 30_000_000_000 + rng.below(20_000_000_000);
        for index in 0..SPANS_PER_TRACE {
            let root = index == 0;
            let span_id = if root { root_id } else { rng.id() };
            by_service[service].push(Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: if root { Vec::new() } else { root_id.to_vec() },
                name: if root {
                    "GET /api/orders/{id}".into()
                } else {
                    "SELECT shop.orders".into()
                },
                kind: if root {
                    span::SpanKind::Server as i32
                } else {
                    span::SpanKind::Client as i32
                },
                start_time_unix_nano: start,
                end_time_unix_nano: start + 1_000_000 + rng.below(50_000_000),
                attributes: {
                    let mut attributes = span_attributes(rng, root);
                    if padding > 0 {
                        attributes.push(text("app.payload", padding_text(rng, padding)));
                    }
                    attributes
                },
                ..Default::default()
            });
        }
    }
    otlp::traces_body(by_service, resource)
}

pub fn log_request(rng: &mut Rng) -> Vec<u8> {
    log_request_at(rng, now_nanos(), 0)
}

/// A [`log_request`] of records from the 5 s before `now`, each body
/// followed by `padding` bytes of text.
pub fn log_request_at(rng: &mut Rng, now: u64, padding: usize) -> Vec<u8> {
    let mut by_service: Vec<Vec<LogRecord>> = vec![Vec::new(); SERVICES];
    for _ in 0..LOGS_PER_REQUEST {
        let service = rng.index(SERVICES);
        let order = rng.below(1_000_000);
        let millis = rng.below(900);
        let mut body = if rng.chance(0.01) {
            format!("password reset mail sent to user{order}@example.com for order {order}")
        } else {
            format!(
                "GET /api/orders/{order} completed with 200 in {millis} ms (cache miss, 3 queries)"
            )
        };
        if padding > 0 {
            body.push(' ');
            body.push_str(&padding_text(rng, padding));
        }
        let mut attributes = vec![
            text("logger.name", "shop.orders.handlers".into()),
            text("code.function", "handle_get".into()),
            int("http.response.status_code", 200),
            text("http.route", "/api/orders/{id}".into()),
            text("thread.name", format!("worker-{}", rng.below(16))),
        ];
        if rng.chance(0.01) {
            attributes.push(text("password", format!("p{order}")));
        }
        by_service[service].push(LogRecord {
            time_unix_nano: now - rng.below(5_000_000_000),
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(body)),
            }),
            attributes,
            ..Default::default()
        });
    }
    otlp::logs_body(by_service, resource)
}

/// A request to send: path, encoded body, records in it.
pub type Request = (&'static str, Vec<u8>, usize);

/// Sends from `clients` threads as fast as answers come until `stop`:
/// `make(client, rng)` builds each request. Acknowledged records are
/// added to `records`; 503s (indexing behind, queue full) are waited out
/// and not counted; any other answer fails the benchmark.
pub fn drive(
    addr: SocketAddr,
    clients: usize,
    stop: &Arc<AtomicBool>,
    records: &Arc<AtomicU64>,
    make: impl Fn(usize, &mut Rng) -> Request + Send + Sync + Clone + 'static,
) -> Vec<JoinHandle<()>> {
    (0..clients)
        .map(|client| {
            let (stop, records, make) = (Arc::clone(stop), Arc::clone(records), make.clone());
            std::thread::spawn(move || {
                let mut http = RawHttp::new(addr);
                let mut rng = Rng::for_record(now_nanos() ^ client as u64);
                while !stop.load(Ordering::Relaxed) {
                    let (path, body, count) = make(client, &mut rng);
                    let response = http
                        .request("POST", path, Some((PROTOBUF, &body)))
                        .expect("POST");
                    match response.status {
                        200 => {
                            records.fetch_add(count as u64, Ordering::Relaxed);
                        }
                        503 => std::thread::sleep(Duration::from_millis(50)),
                        other => panic!("{path}: {other}"),
                    }
                }
            })
        })
        .collect()
}
