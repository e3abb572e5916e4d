//! End-to-end performance benchmark of trace ingest and trace queries.
//!
//! One run (`cargo bench --bench ingest`) measures:
//! 1. end-to-end ingest: the release `lookout` binary runs as a separate
//!    process and concurrent keep-alive clients POST pre-encoded OTLP/HTTP
//!    protobuf requests to it; a request counts when its 200 (sent after the
//!    commit) arrives. Also request latency, 503 retries, peak RSS of the
//!    server and bytes on disk per span after a graceful stop. The first
//!    requests are sent before, untimed, and the run waits for the first
//!    span dictionary, so the timed spans are stored packed (steady state);
//! 2. the raw ceiling: the same rows inserted with plain rusqlite, one
//!    thread, same schema and pragmas, into a fresh database;
//! 3. query latency over the stored spans: one trace by id and three trace
//!    searches, measured by the client over keep-alive HTTP;
//! 4. start-up time of a restart on the stored data;
//! 5. with `LOOKOUT_BENCH_BASELINE`, a same-run A/B of ingest against
//!    another lookout binary (`support/ab.rs`).
//!
//! CPU time per span (from `/proc/.../schedstat`) is reported next to wall
//! time: on a shared machine it varies far less.
//!
//! The results are printed as a markdown table and written to
//! `target/bench-ingest.md`.
//!
//! Environment:
//! - `LOOKOUT_BENCH_SPANS` (default 1000000): spans to ingest;
//! - `LOOKOUT_BENCH_CLIENTS` (default 4): concurrent client threads;
//! - `LOOKOUT_BENCH_SPANS_PER_REQUEST` (default 1000);
//! - `LOOKOUT_BENCH_HTTP` (`raw` or `reqwest`, default `raw`): the HTTP
//!   client, a minimal HTTP/1.1 keep-alive client or reqwest's blocking one;
//! - `LOOKOUT_BENCH_BASELINE` (unset): another lookout binary to A/B ingest
//!   against, `LOOKOUT_BENCH_AB_ROUNDS` (default 3) runs each, alternating;
//! - `LOOKOUT_BENCH_WINDOW_HOURS` (default 0.5): the span start times are
//!   spread over this many hours before now (the server keeps a day more),
//!   e.g. 168 for the service-metrics queries over 7 days.
//!
//! After the trace queries it times the service-metrics queries (RED over
//! 24 h and 7 days, summaries over 24 h, the service graph over 24 h).

#[path = "support/ab.rs"]
mod ab;
#[path = "support/env.rs"]
mod env;
#[path = "support/proc.rs"]
mod proc;
#[path = "support/raw_http.rs"]
mod raw_http;
#[path = "support/report.rs"]
mod report;
#[path = "support/rng.rs"]
mod rng;
#[path = "support/server.rs"]
mod server;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use env::env_usize;
use lookout::model::{format_rfc3339, AttrValue, Attributes, UnixNanos};
use lookout::store::sqlite::{codec, migrate, write::canonical_resource_json};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use proc::{
    by_thread_delta, clock_ticks, cpu_model, dir_size, load_average, read_sched, stat_cpu,
    thread_sched, Sched,
};
use prost::Message;
use raw_http::{RawHttp, Response};
use report::{percentile, thousands, verdict};
use rng::Rng;
use rusqlite::{params, Connection, OpenFlags};
use server::Server;

/// Traces start between 30 and 1 minutes before the data is generated, so
/// the API's default time range (the last hour) covers all of them.
/// The default window: the last half hour, so the API's default time range
/// (the last hour) covers every trace.
const DEFAULT_WINDOW_HOURS: f64 = 0.5;
/// Queries per service-metrics endpoint.
const SERVICE_METRIC_QUERIES: usize = 100;

/// Where trace starts are spread: (start, length) in nanoseconds; the
/// window ends a minute before now.
fn span_window() -> (u64, u64) {
    let hours = std::env::var("LOOKOUT_BENCH_WINDOW_HOURS")
        .ok()
        .and_then(|text| text.parse::<f64>().ok())
        .filter(|hours| *hours > 0.0)
        .unwrap_or(DEFAULT_WINDOW_HOURS);
    let length = (hours * 3600.0 * 1e9) as u64 - 60 * 1_000_000_000;
    (now_nanos() - 60 * 1_000_000_000 - length, length)
}
const HOSTS_PER_SERVICE: u64 = 3;
/// Distinct `app.customer_id` values, one per trace: each matches ~2.5 %
/// of traces.
const CUSTOMERS: u64 = 40;
const ERROR_RATE: f64 = 0.02;
const MIN_TRACE_SPANS: u64 = 5;
const MAX_TRACE_SPANS: u64 = 30;
/// Spans per transaction in the raw ceiling (the writer's group cap).
const RAW_SPANS_PER_TRANSACTION: usize = 20_000;
const GET_TRACE_QUERIES: usize = 200;
const SEARCH_QUERIES: usize = 100;
const WORST_CASE_QUERIES: usize = 5;
/// Clients stop sending after this long; the run then reports a failure.
const INGEST_DEADLINE: Duration = Duration::from_secs(300);
/// How long `Server::stop` waits for the server to exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
const HTTP_TIMEOUT: Duration = Duration::from_secs(120);
const RETRY_SLEEP: Duration = Duration::from_millis(20);
/// Requests sent (untimed) before the timed ingest: lookout trains its
/// span dictionary once 1,000 spans are stored, and the timed part
/// measures the steady state in which every span is written packed.
const WARM_UP_REQUESTS: usize = 3;
/// How long the warm-up waits for the first span dictionary.
const WARM_UP_DEADLINE: Duration = Duration::from_secs(60);
/// The service the searches filter on.
const SEARCH_SERVICE: usize = 1;

const KIND_INTERNAL: i32 = 1;
const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;

// ---------------------------------------------------------------------------
// Settings

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum HttpKind {
    Raw,
    Reqwest,
}

struct Settings {
    spans: usize,
    clients: usize,
    spans_per_request: usize,
    http: HttpKind,
}

impl Settings {
    fn from_env() -> Settings {
        let http = match std::env::var("LOOKOUT_BENCH_HTTP").as_deref() {
            Ok("reqwest") => HttpKind::Reqwest,
            Ok("raw") | Err(_) => HttpKind::Raw,
            Ok(other) => panic!("LOOKOUT_BENCH_HTTP={other:?}: use raw or reqwest"),
        };
        Settings {
            spans: env_usize("LOOKOUT_BENCH_SPANS", 1_000_000).max(1),
            clients: env_usize("LOOKOUT_BENCH_CLIENTS", 4).clamp(1, 64),
            spans_per_request: env_usize("LOOKOUT_BENCH_SPANS_PER_REQUEST", 1000).max(1),
            http,
        }
    }
}

// ---------------------------------------------------------------------------
// The simulated system: ten services calling each other.

struct ServiceDef {
    name: &'static str,
    language: &'static str,
    db_system: &'static str,
    /// (HTTP method, route) pairs the service serves: its server spans.
    routes: &'static [(&'static str, &'static str)],
    /// Client and internal operations (database calls, rendering, ...).
    internal: &'static [(&'static str, i32)],
    /// Services it calls (indexes into `SERVICES`).
    downstream: &'static [usize],
}

const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        name: "frontend",
        language: "nodejs",
        db_system: "redis",
        routes: &[
            ("GET", "/"),
            ("GET", "/product/{id}"),
            ("POST", "/cart"),
            ("POST", "/checkout"),
            ("GET", "/search"),
        ],
        internal: &[("render page", KIND_INTERNAL), ("GET session", KIND_CLIENT)],
        downstream: &[1, 2, 3, 4, 7],
    },
    ServiceDef {
        name: "checkout",
        language: "go",
        db_system: "postgresql",
        routes: &[
            ("POST", "/checkout/place-order"),
            ("GET", "/checkout/status/{id}"),
        ],
        internal: &[
            ("INSERT orders", KIND_CLIENT),
            ("validate order", KIND_INTERNAL),
        ],
        downstream: &[2, 5, 6, 7, 8, 9],
    },
    ServiceDef {
        name: "cart",
        language: "dotnet",
        db_system: "redis",
        routes: &[
            ("GET", "/cart/{user}"),
            ("POST", "/cart/{user}/items"),
            ("DELETE", "/cart/{user}"),
        ],
        internal: &[("HGET", KIND_CLIENT), ("HSET", KIND_CLIENT)],
        downstream: &[],
    },
    ServiceDef {
        name: "product-catalog",
        language: "go",
        db_system: "postgresql",
        routes: &[("GET", "/products"), ("GET", "/products/{id}")],
        internal: &[("SELECT products", KIND_CLIENT)],
        downstream: &[9],
    },
    ServiceDef {
        name: "recommendation",
        language: "python",
        db_system: "redis",
        routes: &[("GET", "/recommendations")],
        internal: &[
            ("score candidates", KIND_INTERNAL),
            ("GET recs", KIND_CLIENT),
        ],
        downstream: &[3],
    },
    ServiceDef {
        name: "payment",
        language: "java",
        db_system: "postgresql",
        routes: &[("POST", "/charge"), ("POST", "/refund")],
        internal: &[
            ("INSERT payments", KIND_CLIENT),
            ("fraud check", KIND_INTERNAL),
        ],
        downstream: &[7],
    },
    ServiceDef {
        name: "shipping",
        language: "rust",
        db_system: "postgresql",
        routes: &[("POST", "/shipping/quote"), ("POST", "/shipping/ship")],
        internal: &[("SELECT rates", KIND_CLIENT)],
        downstream: &[7],
    },
    ServiceDef {
        name: "currency",
        language: "cpp",
        db_system: "memcached",
        routes: &[("GET", "/convert")],
        internal: &[("get rates", KIND_CLIENT)],
        downstream: &[],
    },
    ServiceDef {
        name: "email",
        language: "ruby",
        db_system: "redis",
        routes: &[("POST", "/send-confirmation")],
        internal: &[
            ("render template", KIND_INTERNAL),
            ("SMTP send", KIND_CLIENT),
        ],
        downstream: &[],
    },
    ServiceDef {
        name: "inventory",
        language: "java",
        db_system: "mysql",
        routes: &[("GET", "/stock/{sku}"), ("POST", "/stock/{sku}/reserve")],
        internal: &[("SELECT stock", KIND_CLIENT), ("UPDATE stock", KIND_CLIENT)],
        downstream: &[],
    },
];

/// One (service, span name, kind): what lookout stores as an operation.
struct Op {
    service: usize,
    name: String,
    kind: i32,
    method: &'static str,
    route: &'static str,
}

struct Catalog {
    ops: Vec<Op>,
    server_ops: Vec<Vec<usize>>,
    internal_ops: Vec<Vec<usize>>,
    host_names: Vec<Vec<String>>,
    customers: Vec<String>,
}

impl Catalog {
    fn new() -> Catalog {
        let mut ops = Vec::new();
        let mut server_ops = Vec::new();
        let mut internal_ops = Vec::new();
        for (service, def) in SERVICES.iter().enumerate() {
            let mut server = Vec::new();
            for (method, route) in def.routes {
                server.push(ops.len());
                ops.push(Op {
                    service,
                    name: format!("{method} {route}"),
                    kind: KIND_SERVER,
                    method,
                    route,
                });
            }
            let mut internal = Vec::new();
            for (name, kind) in def.internal {
                internal.push(ops.len());
                ops.push(Op {
                    service,
                    name: name.to_string(),
                    kind: *kind,
                    method: def.routes[0].0,
                    route: def.routes[0].1,
                });
            }
            server_ops.push(server);
            internal_ops.push(internal);
        }
        let host_names = SERVICES
            .iter()
            .map(|def| {
                (0..HOSTS_PER_SERVICE)
                    .map(|host| format!("{}-{host}.prod.internal", def.name))
                    .collect()
            })
            .collect();
        let customers = (0..CUSTOMERS).map(|c| format!("cust-{c:05}")).collect();
        Catalog {
            ops,
            server_ops,
            internal_ops,
            host_names,
            customers,
        }
    }
}

struct GenSpan {
    span_id: [u8; 8],
    parent: Option<u32>,
    op: u16,
    host: u8,
    /// Relative to the trace's start.
    start: u64,
    end: u64,
    error: bool,
    not_found: bool,
    cache_hit: bool,
    order_value: f64,
}

struct GenTrace {
    trace_id: [u8; 16],
    /// Absolute start (unix nanos) that span times are relative to.
    base: u64,
    customer: u16,
    spans: Vec<GenSpan>,
}

impl GenTrace {
    fn duration(&self) -> u64 {
        let start = self.spans.iter().map(|s| s.start).min().unwrap_or(0);
        let end = self.spans.iter().map(|s| s.end).max().unwrap_or(0);
        end - start
    }

    fn has_service(&self, catalog: &Catalog, service: usize) -> bool {
        self.spans
            .iter()
            .any(|span| catalog.ops[span.op as usize].service == service)
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Traces of 5–30 spans rooted at the frontend: each new span is a call to
/// a downstream service or a client/internal operation of its parent's
/// service, nested inside the parent's time.
fn generate(catalog: &Catalog, target_spans: usize, rng: &mut Rng) -> Vec<GenTrace> {
    let mut traces = Vec::with_capacity(target_spans / 17 + 1);
    let mut total = 0usize;
    while total < target_spans {
        let want = (MIN_TRACE_SPANS + rng.below(MAX_TRACE_SPANS - MIN_TRACE_SPANS + 1)) as usize;
        let count = want.min(target_spans - total);
        // Root duration log-uniform between 1 ms and 2 s.
        let low = 1e6f64.ln();
        let high = 2e9f64.ln();
        let root_duration = (low + (high - low) * rng.unit()).exp() as u64;
        let host_seed = rng.next_u64();
        let host_of = |service: usize| ((host_seed >> (service * 5)) % HOSTS_PER_SERVICE) as u8;
        let mut spans: Vec<GenSpan> = Vec::with_capacity(count);
        let mut parents: Vec<u32> = Vec::with_capacity(count);
        let push = |spans: &mut Vec<GenSpan>,
                    rng: &mut Rng,
                    parent: Option<u32>,
                    op: usize,
                    start: u64,
                    end: u64| {
            let error = rng.chance(ERROR_RATE);
            let service = catalog.ops[op].service;
            spans.push(GenSpan {
                span_id: rng.id(),
                parent,
                op: op as u16,
                host: host_of(service),
                start,
                end,
                error,
                not_found: !error && rng.chance(0.03),
                cache_hit: rng.chance(0.7),
                order_value: (rng.unit() * 50_000.0).round() / 100.0,
            });
        };
        let root_op = catalog.server_ops[0][rng.index(catalog.server_ops[0].len())];
        push(&mut spans, rng, None, root_op, 0, root_duration);
        parents.push(0);
        while spans.len() < count {
            let parent = parents[rng.index(parents.len())];
            let (parent_start, parent_end, parent_service) = {
                let p = &spans[parent as usize];
                (p.start, p.end, catalog.ops[p.op as usize].service)
            };
            let def = &SERVICES[parent_service];
            let op = if !def.downstream.is_empty() && rng.chance(0.6) {
                let callee = def.downstream[rng.index(def.downstream.len())];
                catalog.server_ops[callee][rng.index(catalog.server_ops[callee].len())]
            } else {
                let internal = &catalog.internal_ops[parent_service];
                internal[rng.index(internal.len())]
            };
            let length = parent_end - parent_start;
            let start = parent_start + (length as f64 * 0.3 * rng.unit()) as u64;
            let end = start + (((parent_end - start) as f64) * (0.2 + 0.7 * rng.unit())) as u64;
            let end = end.max(start + 1);
            let index = spans.len() as u32;
            push(&mut spans, rng, Some(parent), op, start, end);
            if catalog.ops[op].kind != KIND_CLIENT {
                parents.push(index);
            }
        }
        total += spans.len();
        traces.push(GenTrace {
            trace_id: rng.id(),
            base: 0,
            customer: rng.below(CUSTOMERS) as u16,
            spans,
        });
    }
    // Spread trace starts evenly over the window, in order.
    let (window_start, window_nanos) = span_window();
    let slot = (window_nanos / traces.len() as u64).max(1);
    for (i, trace) in traces.iter_mut().enumerate() {
        trace.base = window_start + i as u64 * slot + rng.below(slot);
    }
    traces
}

/// A span attribute value, converted to OTLP for the wire and to the
/// model type for the raw ceiling.
enum Val<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Double(f64),
}

fn span_attributes<'a>(
    catalog: &'a Catalog,
    trace: &'a GenTrace,
    span: &'a GenSpan,
) -> [(&'static str, Val<'a>); 8] {
    let op = &catalog.ops[span.op as usize];
    let status = if span.error {
        500
    } else if span.not_found {
        404
    } else {
        200
    };
    let peer = match span.parent {
        Some(parent) => {
            let parent = &trace.spans[parent as usize];
            let service = catalog.ops[parent.op as usize].service;
            catalog.host_names[service][parent.host as usize].as_str()
        }
        None => "lb-1.prod.internal",
    };
    [
        ("http.method", Val::Str(op.method)),
        ("http.route", Val::Str(op.route)),
        ("http.status_code", Val::Int(status)),
        ("net.peer.name", Val::Str(peer)),
        (
            "app.customer_id",
            Val::Str(&catalog.customers[trace.customer as usize]),
        ),
        ("db.system", Val::Str(SERVICES[op.service].db_system)),
        ("app.cache_hit", Val::Bool(span.cache_hit)),
        ("app.order_value", Val::Double(span.order_value)),
    ]
}

fn otlp_kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn otlp_value(value: &Val<'_>) -> any_value::Value {
    match value {
        Val::Str(s) => any_value::Value::StringValue(s.to_string()),
        Val::Int(i) => any_value::Value::IntValue(*i),
        Val::Bool(b) => any_value::Value::BoolValue(*b),
        Val::Double(d) => any_value::Value::DoubleValue(*d),
    }
}

fn model_value(value: &Val<'_>) -> AttrValue {
    match value {
        Val::Str(s) => AttrValue::String(s.to_string()),
        Val::Int(i) => AttrValue::Int(*i),
        Val::Bool(b) => AttrValue::Bool(*b),
        Val::Double(d) => AttrValue::Double(*d),
    }
}

fn resource_attributes(catalog: &Catalog, service: usize, host: usize) -> Vec<(String, String)> {
    let def = &SERVICES[service];
    vec![
        ("service.name".into(), def.name.into()),
        ("service.version".into(), format!("1.{service}.3")),
        (
            "service.instance.id".into(),
            format!("{}-{host}-7f9c2b", def.name),
        ),
        (
            "host.name".into(),
            catalog.host_names[service][host].clone(),
        ),
        ("deployment.environment".into(), "production".into()),
        ("telemetry.sdk.name".into(), "opentelemetry".into()),
        ("telemetry.sdk.language".into(), def.language.into()),
        ("telemetry.sdk.version".into(), "1.28.0".into()),
    ]
}

fn scope_name(service: usize) -> (String, String) {
    (
        format!("opentelemetry-{}", SERVICES[service].language),
        "1.28.0".to_string(),
    )
}

fn status_message(span: &GenSpan) -> Option<&'static str> {
    span.error.then_some("upstream answered HTTP 500")
}

fn otlp_span(catalog: &Catalog, trace: &GenTrace, span: &GenSpan) -> Span {
    let op = &catalog.ops[span.op as usize];
    Span {
        trace_id: trace.trace_id.to_vec(),
        span_id: span.span_id.to_vec(),
        parent_span_id: span
            .parent
            .map(|p| trace.spans[p as usize].span_id.to_vec())
            .unwrap_or_default(),
        name: op.name.clone(),
        kind: op.kind,
        start_time_unix_nano: trace.base + span.start,
        end_time_unix_nano: trace.base + span.end,
        attributes: span_attributes(catalog, trace, span)
            .iter()
            .map(|(key, value)| otlp_kv(key, otlp_value(value)))
            .collect(),
        status: status_message(span).map(|message| Status {
            code: 2,
            message: message.to_string(),
        }),
        ..Default::default()
    }
}

struct EncodedRequest {
    body: Vec<u8>,
    spans: usize,
}

/// Cuts the span stream (traces in start order) into requests of
/// `per_request` spans, grouped by resource as an SDK or collector would.
/// A trace that straddles a cut arrives in two requests.
fn build_requests(
    catalog: &Catalog,
    traces: &[GenTrace],
    per_request: usize,
) -> Vec<EncodedRequest> {
    let resources: Vec<Vec<OtlpResource>> = (0..SERVICES.len())
        .map(|service| {
            (0..HOSTS_PER_SERVICE as usize)
                .map(|host| OtlpResource {
                    attributes: resource_attributes(catalog, service, host)
                        .into_iter()
                        .map(|(k, v)| otlp_kv(&k, any_value::Value::StringValue(v)))
                        .collect(),
                    ..Default::default()
                })
                .collect()
        })
        .collect();
    let scopes: Vec<InstrumentationScope> = (0..SERVICES.len())
        .map(|service| {
            let (name, version) = scope_name(service);
            InstrumentationScope {
                name,
                version,
                ..Default::default()
            }
        })
        .collect();
    let encode = |groups: BTreeMap<(usize, u8), Vec<Span>>, spans: usize| {
        let request = ExportTraceServiceRequest {
            resource_spans: groups
                .into_iter()
                .map(|((service, host), spans)| ResourceSpans {
                    resource: Some(resources[service][host as usize].clone()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scopes[service].clone()),
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        };
        EncodedRequest {
            body: request.encode_to_vec(),
            spans,
        }
    };
    let mut requests = Vec::new();
    let mut groups: BTreeMap<(usize, u8), Vec<Span>> = BTreeMap::new();
    let mut in_request = 0;
    for trace in traces {
        for span in &trace.spans {
            let service = catalog.ops[span.op as usize].service;
            groups
                .entry((service, span.host))
                .or_default()
                .push(otlp_span(catalog, trace, span));
            in_request += 1;
            if in_request == per_request {
                requests.push(encode(std::mem::take(&mut groups), in_request));
                in_request = 0;
            }
        }
    }
    if in_request > 0 {
        requests.push(encode(groups, in_request));
    }
    requests
}

// ---------------------------------------------------------------------------
// HTTP clients

enum Client {
    Raw(RawHttp),
    Reqwest {
        client: reqwest::blocking::Client,
        base: String,
    },
}

impl Client {
    fn new(kind: HttpKind, addr: SocketAddr) -> Client {
        match kind {
            HttpKind::Raw => Client::Raw(RawHttp::new(addr)),
            HttpKind::Reqwest => Client::Reqwest {
                client: reqwest::blocking::Client::builder()
                    .timeout(HTTP_TIMEOUT)
                    .build()
                    .expect("reqwest client"),
                base: format!("http://{addr}"),
            },
        }
    }

    fn get(&mut self, path: &str) -> Result<Response, String> {
        self.send("GET", path, None)
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, String> {
        match self {
            Client::Raw(raw) => raw
                .request(method, path, body)
                .map_err(|error| format!("{method} {path}: {error}")),
            Client::Reqwest { client, base } => {
                let url = format!("{base}{path}");
                let request = match (method, body) {
                    ("POST", Some((content_type, bytes))) => client
                        .post(&url)
                        .header("content-type", content_type)
                        .body(bytes.to_vec()),
                    _ => client.get(&url),
                };
                let response = request
                    .send()
                    .map_err(|error| format!("{method} {path}: {error}"))?;
                let status = response.status().as_u16();
                let body = response
                    .bytes()
                    .map_err(|error| format!("{method} {path}: {error}"))?
                    .to_vec();
                Ok(Response { status, body })
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The server process

fn read_metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line[name.len()..].trim().parse().ok())
}

/// Bytes per table and index (SQLite's dbstat), largest first.
#[allow(clippy::disallowed_methods)] // reads table sizes of a stopped server's database, read-only
fn table_sizes(db: &Path) -> Vec<(String, u64)> {
    let Ok(conn) = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return Vec::new();
    };
    let Ok(mut stmt) =
        conn.prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
    else {
        return Vec::new();
    };
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)));
    match rows {
        Ok(rows) => rows.filter_map(Result::ok).collect(),
        Err(_) => Vec::new(),
    }
}

/// Spans stored packed with a dictionary, all spans, and the mean bytes of
/// attributes + events per span of each (packed, plain), from a stopped
/// server's database.
#[allow(clippy::disallowed_methods)] // reads a stopped server's database, read-only
fn packed_spans(db: &Path) -> Option<(u64, u64, f64, f64)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row(
        "SELECT count(dictionary_id), count(*),
                avg(CASE WHEN dictionary_id IS NOT NULL
                         THEN length(attributes) + coalesce(length(events), 0) END),
                avg(CASE WHEN dictionary_id IS NULL
                         THEN length(attributes) + coalesce(length(events), 0) END)
         FROM spans",
        [],
        |row| {
            Ok((
                row.get::<_, i64>(0)? as u64,
                row.get::<_, i64>(1)? as u64,
                row.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                row.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
            ))
        },
    )
    .ok()
}

// ---------------------------------------------------------------------------
// End-to-end ingest

struct IngestResult {
    wall: Duration,
    spans_acked: usize,
    requests_acked: usize,
    latencies: Vec<Duration>,
    retries: u64,
    failures: Vec<String>,
}

fn run_ingest(
    addr: SocketAddr,
    http: HttpKind,
    clients: usize,
    requests: &[EncodedRequest],
) -> IngestResult {
    let next = AtomicUsize::new(0);
    let barrier = Barrier::new(clients + 1);
    let started = Instant::now();
    struct ClientOutcome {
        latencies: Vec<Duration>,
        spans: usize,
        retries: u64,
        last_ok: Option<Instant>,
        failures: Vec<String>,
    }
    let (outcomes, start) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let mut client = Client::new(http, addr);
                    let mut out = ClientOutcome {
                        latencies: Vec::new(),
                        spans: 0,
                        retries: 0,
                        last_ok: None,
                        failures: Vec::new(),
                    };
                    barrier.wait();
                    'requests: loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(request) = requests.get(index) else {
                            break;
                        };
                        let began = Instant::now();
                        loop {
                            if started.elapsed() > INGEST_DEADLINE {
                                out.failures
                                    .push(format!("stopped at the {INGEST_DEADLINE:?} deadline"));
                                break 'requests;
                            }
                            let body = Some(("application/x-protobuf", request.body.as_slice()));
                            match client.send("POST", "/v1/traces", body) {
                                Ok(response) if (200..300).contains(&response.status) => {
                                    let now = Instant::now();
                                    out.latencies.push(now - began);
                                    out.spans += request.spans;
                                    out.last_ok = Some(now);
                                    break;
                                }
                                Ok(response) if response.status == 503 => {
                                    out.retries += 1;
                                    std::thread::sleep(RETRY_SLEEP);
                                }
                                Ok(response) => {
                                    out.failures.push(format!(
                                        "request {index}: HTTP {} {}",
                                        response.status,
                                        String::from_utf8_lossy(&response.body)
                                    ));
                                    break;
                                }
                                Err(error) => {
                                    out.failures.push(format!("request {index}: {error}"));
                                    break;
                                }
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        let start = Instant::now();
        barrier.wait();
        let outcomes: Vec<ClientOutcome> = handles
            .into_iter()
            .map(|handle| handle.join().expect("client thread"))
            .collect();
        (outcomes, start)
    });
    let end = outcomes
        .iter()
        .filter_map(|o| o.last_ok)
        .max()
        .unwrap_or(start);
    let mut result = IngestResult {
        wall: end - start,
        spans_acked: 0,
        requests_acked: 0,
        latencies: Vec::new(),
        retries: 0,
        failures: Vec::new(),
    };
    for outcome in outcomes {
        result.spans_acked += outcome.spans;
        result.requests_acked += outcome.latencies.len();
        result.latencies.extend(outcome.latencies);
        result.retries += outcome.retries;
        result.failures.extend(outcome.failures);
    }
    result.latencies.sort();
    result
}

/// Sends the first [`WARM_UP_REQUESTS`] requests and waits until the
/// server has stored a span dictionary (a binary without the
/// `lookout_span_dictionaries_total` metric is not waited for); answers
/// the spans sent, the wait, and the requests left for the timed ingest.
fn warm_up(
    addr: SocketAddr,
    http: HttpKind,
    requests: &[EncodedRequest],
) -> (usize, Option<Duration>, &[EncodedRequest]) {
    let (warm, timed) = requests.split_at(WARM_UP_REQUESTS.min(requests.len()));
    let sent = run_ingest(addr, http, 1, warm);
    assert!(
        sent.failures.is_empty(),
        "warm-up failed: {}",
        sent.failures[0]
    );
    let began = Instant::now();
    let mut client = Client::new(http, addr);
    let wait = loop {
        let metrics = client
            .get("/metrics")
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .unwrap_or_default();
        match read_metric(&metrics, "lookout_span_dictionaries_total") {
            None => break None,
            Some(stored) if stored >= 1.0 => break Some(began.elapsed()),
            Some(_) => {}
        }
        assert!(
            began.elapsed() < WARM_UP_DEADLINE,
            "no span dictionary after {WARM_UP_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    (sent.spans_acked, wait, timed)
}

// ---------------------------------------------------------------------------
// Raw ceiling

struct RawSpan {
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    operation_id: i64,
    start: i64,
    duration: i64,
    status: i32,
    message: Option<&'static str>,
    resource_id: i64,
    scope_id: i64,
    attributes: Vec<u8>,
}

struct RawTrace {
    trace_id: [u8; 16],
    start: i64,
    end: i64,
    root_operation_id: Option<i64>,
    error_count: i64,
    services: String,
    service_ids: Vec<i64>,
    spans: Vec<RawSpan>,
}

struct RawResult {
    elapsed: Duration,
    rows: usize,
    spans: usize,
    transactions: usize,
    bytes: u64,
    sched: Sched,
}

#[allow(clippy::disallowed_methods)] // baseline, not lookout's store
fn open_raw_db(path: &Path) -> Connection {
    let mut conn = Connection::open(path).expect("open raw database");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -32768;",
    )
    .expect("raw pragmas");
    // The same schema as lookout's, by its own migrations.
    migrate(&mut conn).expect("apply schema");
    conn
}

/// Fills the dictionaries and pre-encodes every row (not timed).
fn prepare_raw_rows(conn: &Connection, catalog: &Catalog, traces: &[GenTrace]) -> Vec<RawTrace> {
    let mut service_ids = Vec::new();
    for def in SERVICES {
        conn.execute("INSERT INTO services (name) VALUES (?1)", params![def.name])
            .expect("service");
        service_ids.push(conn.last_insert_rowid());
    }
    let mut operation_ids = Vec::new();
    for op in &catalog.ops {
        conn.execute(
            "INSERT INTO operations (service_id, name, kind) VALUES (?1, ?2, ?3)",
            params![service_ids[op.service], op.name, op.kind],
        )
        .expect("operation");
        operation_ids.push(conn.last_insert_rowid());
    }
    let mut resource_ids = Vec::new();
    for (service, service_id) in service_ids.iter().enumerate() {
        let mut hosts = Vec::new();
        for host in 0..HOSTS_PER_SERVICE as usize {
            let attributes: Attributes = resource_attributes(catalog, service, host)
                .into_iter()
                .map(|(k, v)| (k, AttrValue::String(v)))
                .collect();
            conn.execute(
                "INSERT INTO resources (service_id, attributes) VALUES (?1, ?2)",
                params![service_id, canonical_resource_json(&attributes)],
            )
            .expect("resource");
            hosts.push(conn.last_insert_rowid());
        }
        resource_ids.push(hosts);
    }
    let mut scope_ids: HashMap<(String, String), i64> = HashMap::new();
    let mut service_scope = Vec::new();
    for service in 0..SERVICES.len() {
        let key = scope_name(service);
        let id = match scope_ids.get(&key) {
            Some(id) => *id,
            None => {
                conn.execute(
                    "INSERT INTO scopes (name, version) VALUES (?1, ?2)",
                    params![key.0, key.1],
                )
                .expect("scope");
                let id = conn.last_insert_rowid();
                scope_ids.insert(key, id);
                id
            }
        };
        service_scope.push(id);
    }
    let mut key_ids: HashMap<String, i64> = HashMap::new();
    let mut key_id = |key: &str| -> i64 {
        if let Some(id) = key_ids.get(key) {
            return *id;
        }
        conn.execute("INSERT INTO attribute_keys (key) VALUES (?1)", params![key])
            .expect("attribute key");
        let id = conn.last_insert_rowid();
        key_ids.insert(key.to_string(), id);
        id
    };

    let mut out = Vec::with_capacity(traces.len());
    for trace in traces {
        let mut spans = Vec::with_capacity(trace.spans.len());
        let mut services: Vec<i64> = Vec::new();
        let mut root_operation_id = None;
        let mut error_count = 0;
        for span in &trace.spans {
            let op = &catalog.ops[span.op as usize];
            let attributes: Attributes = span_attributes(catalog, trace, span)
                .iter()
                .map(|(key, value)| (key.to_string(), model_value(value)))
                .collect();
            let mut blob = Vec::with_capacity(96);
            codec::encode_attributes(&mut blob, &attributes, &mut key_id);
            let service_id = service_ids[op.service];
            if let Err(position) = services.binary_search(&service_id) {
                services.insert(position, service_id);
            }
            if span.parent.is_none() {
                root_operation_id = Some(operation_ids[span.op as usize]);
            }
            if span.error {
                error_count += 1;
            }
            spans.push(RawSpan {
                span_id: span.span_id,
                parent: span.parent.map(|p| trace.spans[p as usize].span_id),
                operation_id: operation_ids[span.op as usize],
                start: (trace.base + span.start) as i64,
                duration: (span.end - span.start) as i64,
                status: if span.error { 2 } else { 0 },
                message: status_message(span),
                resource_id: resource_ids[op.service][span.host as usize],
                scope_id: service_scope[op.service],
                attributes: blob,
            });
        }
        let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
        let end = spans
            .iter()
            .map(|s| s.start + s.duration)
            .max()
            .unwrap_or(0);
        out.push(RawTrace {
            trace_id: trace.trace_id,
            start,
            end,
            root_operation_id,
            error_count,
            services: services
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(","),
            service_ids: services,
            spans,
        });
    }
    out
}

/// Inserts the pre-encoded rows, ~20k spans per transaction: per trace its
/// summary row, its span rows and its trace_services rows.
fn insert_raw(conn: &mut Connection, traces: &[RawTrace]) -> RawResult {
    let began = Instant::now();
    let mut rows = 0usize;
    let mut spans = 0usize;
    let mut transactions = 0usize;
    let mut index = 0;
    while index < traces.len() {
        let tx = conn.transaction().expect("begin");
        {
            let mut insert_trace = tx
                .prepare_cached(
                    "INSERT INTO traces (trace_id, start_unix_nano, end_unix_nano, root_operation_id,
                         span_count, error_count, services, span_base_unix_nano)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?2)",
                )
                .expect("prepare traces");
            let mut insert_span = tx
                .prepare_cached(
                    "INSERT INTO spans (trace_rowid, span_id, parent_span_id, operation_id,
                         start_offset_nano, duration_nano, status_code, status_message, resource_id,
                         scope_id, attributes, events, links)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL)",
                )
                .expect("prepare spans");
            let mut insert_service = tx
                .prepare_cached(
                    "INSERT INTO trace_services (service_id, start_unix_nano, trace_rowid)
                     VALUES (?1, ?2, ?3)",
                )
                .expect("prepare trace_services");
            let mut in_transaction = 0;
            while index < traces.len() && in_transaction < RAW_SPANS_PER_TRANSACTION {
                let trace = &traces[index];
                index += 1;
                insert_trace
                    .execute(params![
                        &trace.trace_id[..],
                        trace.start,
                        trace.end,
                        trace.root_operation_id,
                        trace.spans.len() as i64,
                        trace.error_count,
                        trace.services,
                    ])
                    .expect("insert trace");
                let rowid = tx.last_insert_rowid();
                rows += 1;
                for span in &trace.spans {
                    insert_span
                        .execute(params![
                            rowid,
                            &span.span_id[..],
                            span.parent.as_ref().map(|p| &p[..]),
                            span.operation_id,
                            span.start - trace.start,
                            span.duration,
                            span.status,
                            span.message,
                            span.resource_id,
                            span.scope_id,
                            &span.attributes[..],
                        ])
                        .expect("insert span");
                }
                rows += trace.spans.len();
                spans += trace.spans.len();
                in_transaction += trace.spans.len();
                for service_id in &trace.service_ids {
                    insert_service
                        .execute(params![service_id, trace.start, rowid])
                        .expect("insert trace_services");
                    rows += 1;
                }
            }
        }
        tx.commit().expect("commit");
        transactions += 1;
    }
    let elapsed = began.elapsed();
    RawResult {
        elapsed,
        rows,
        spans,
        transactions,
        bytes: 0,
        sched: Sched::default(),
    }
}

fn run_raw(dir: &Path, catalog: &Catalog, traces: &[GenTrace]) -> (RawResult, Duration) {
    let path = dir.join("raw.db");
    let mut conn = open_raw_db(&path);
    let prepare_began = Instant::now();
    let rows = prepare_raw_rows(&conn, catalog, traces);
    let prepare = prepare_began.elapsed();
    let before = read_sched(Path::new("/proc/thread-self/schedstat")).unwrap_or_default();
    let mut result = insert_raw(&mut conn, &rows);
    let after = read_sched(Path::new("/proc/thread-self/schedstat")).unwrap_or_default();
    result.sched = Sched {
        on_cpu: after.on_cpu - before.on_cpu,
        runnable: after.runnable - before.runnable,
    };
    drop(rows);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    result.bytes = dir_size(dir);
    (result, prepare)
}

// ---------------------------------------------------------------------------
// The store's write path alone

// ---------------------------------------------------------------------------
// Queries

struct QueryStats {
    name: String,
    latencies: Vec<Duration>,
    /// Traces (or spans, for a trace) returned per query, on average.
    mean_items: f64,
}

fn count_occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|window| *window == needle)
        .count()
}

/// Runs `paths` in turn on one keep-alive connection; every answer must be
/// 200. `items` counts what an answer holds.
fn time_queries(
    client: &mut Client,
    name: &str,
    paths: &[String],
    mut items: impl FnMut(usize, &[u8]) -> usize,
) -> QueryStats {
    let mut latencies = Vec::with_capacity(paths.len());
    let mut total_items = 0usize;
    for (i, path) in paths.iter().enumerate() {
        let began = Instant::now();
        let response = client.get(path).unwrap_or_else(|error| panic!("{error}"));
        latencies.push(began.elapsed());
        assert_eq!(
            response.status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&response.body)
        );
        total_items += items(i, &response.body);
    }
    latencies.sort();
    QueryStats {
        name: name.to_string(),
        mean_items: total_items as f64 / paths.len().max(1) as f64,
        latencies,
    }
}

fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

// ---------------------------------------------------------------------------
// Machine description

fn mem_total_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("MemTotal:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0)
}

fn self_cpu(ticks: f64) -> f64 {
    stat_cpu(Path::new("/proc/self/stat"), ticks).unwrap_or(0.0)
}

fn binary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lookout"))
}

// ---------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; any other argument (a filter) is
    // ignored: there is one benchmark.
    let settings = Settings::from_env();
    let binary = binary_path();
    let ticks = clock_ticks();
    let profile = if cfg!(debug_assertions) {
        "debug (numbers not meaningful)"
    } else {
        "release (bench profile)"
    };
    eprintln!(
        "ingest bench: {} spans, {} clients, {} spans/request, {:?} HTTP client, {profile}",
        settings.spans, settings.clients, settings.spans_per_request, settings.http
    );
    let load_before = load_average();

    // --- Generate and encode (not timed).
    let generate_began = Instant::now();
    let catalog = Catalog::new();
    let mut rng = Rng(0x5EED_1D0C_0FFE_E000);
    let traces = generate(&catalog, settings.spans, &mut rng);
    let requests = build_requests(&catalog, &traces, settings.spans_per_request);
    let total_spans: usize = traces.iter().map(|t| t.spans.len()).sum();
    let request_bytes: usize = requests.iter().map(|r| r.body.len()).sum();
    let generate_time = generate_began.elapsed();
    let error_spans = traces
        .iter()
        .flat_map(|t| &t.spans)
        .filter(|s| s.error)
        .count();
    eprintln!(
        "generated {} traces, {total_spans} spans, {} requests ({:.1} MB) in {:.1} s",
        traces.len(),
        requests.len(),
        request_bytes as f64 / 1e6,
        generate_time.as_secs_f64()
    );

    // --- End-to-end ingest.
    let data_dir = tempfile::Builder::new()
        .prefix("lookout-bench-")
        .tempdir()
        .expect("temp dir");
    // Keep a day more than the window, so retention deletes nothing.
    let retention_hours = (span_window().1 / 3_600_000_000_000) + 25;
    let server_args = vec!["--retention".to_string(), format!("{retention_hours}h")];
    let mut server = Server::start(&binary, data_dir.path(), &server_args);
    eprintln!(
        "lookout pid {} listening on {} after {:?}",
        server.pid(),
        server.addr,
        server.startup
    );
    let (warm_spans, dictionary_wait, timed) = warm_up(server.addr, settings.http, &requests);
    eprintln!(
        "warm-up: {warm_spans} spans; first span dictionary after {:?}",
        dictionary_wait
    );
    let server_cpu_before = server.process_cpu(ticks);
    let threads_before = thread_sched(server.pid());
    let client_cpu_before = self_cpu(ticks);
    let ingest = run_ingest(server.addr, settings.http, settings.clients, timed);
    let client_cpu = self_cpu(ticks) - client_cpu_before;
    let server_cpu = server.process_cpu(ticks) - server_cpu_before;
    let threads_after = thread_sched(server.pid());
    let load_after_ingest = load_average();
    let rss_ingest_kib = server.peak_rss_kib();
    if !ingest.failures.is_empty() {
        eprintln!(
            "ingest failures ({}), first: {}",
            ingest.failures.len(),
            ingest.failures[0]
        );
    }
    let spans_per_second = ingest.spans_acked as f64 / ingest.wall.as_secs_f64().max(1e-9);
    eprintln!(
        "ingested {} spans in {:.2} s: {:.0} spans/s, {} retries",
        ingest.spans_acked,
        ingest.wall.as_secs_f64(),
        spans_per_second,
        ingest.retries
    );

    let mut client = Client::new(settings.http, server.addr);
    let metrics = client
        .get("/metrics")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .unwrap_or_default();
    let commit_seconds = read_metric(&metrics, "lookout_writer_commit_seconds_sum").unwrap_or(0.0);
    let commits = read_metric(&metrics, "lookout_writer_commit_seconds_count").unwrap_or(0.0);
    let stored_spans = read_metric(&metrics, "lookout_ingested_spans_total").unwrap_or(0.0);

    // --- Queries, with every span stored.
    let ids: Vec<usize> = (0..GET_TRACE_QUERIES)
        .map(|_| rng.index(traces.len()))
        .collect();
    let paths: Vec<String> = ids
        .iter()
        .map(|&i| format!("/api/traces/{}", hex::encode(traces[i].trace_id)))
        .collect();
    let mut span_mismatches = 0usize;
    let get_trace = time_queries(&mut client, "GET /api/traces/{id}", &paths, |i, body| {
        let spans = count_occurrences(body, b"\"span_id\"");
        if spans != traces[ids[i]].spans.len() {
            span_mismatches += 1;
        }
        spans
    });

    let service = SERVICES[SEARCH_SERVICE].name;
    let service_traces: Vec<&GenTrace> = traces
        .iter()
        .filter(|t| t.has_service(&catalog, SEARCH_SERVICE))
        .collect();
    let mut durations: Vec<u64> = service_traces.iter().map(|t| t.duration()).collect();
    durations.sort_unstable();
    let p90_nanos = durations
        .get(durations.len() * 9 / 10)
        .copied()
        .unwrap_or(0);
    let min_duration_ms = p90_nanos as f64 / 1e6;
    let exceeding = durations
        .iter()
        .filter(|d| **d as f64 >= (min_duration_ms * 1e6).round())
        .count();
    let customer_share = 1.0 / CUSTOMERS as f64;
    let count_traces = |_: usize, body: &[u8]| count_occurrences(body, b"\"trace_id\"");

    let search_paths: Vec<String> = (0..SEARCH_QUERIES)
        .map(|_| format!("/api/traces?service={service}"))
        .collect();
    let search_service = time_queries(
        &mut client,
        &format!("search service={service}"),
        &search_paths,
        count_traces,
    );
    let attr_paths: Vec<String> = (0..SEARCH_QUERIES)
        .map(|i| {
            format!(
                "/api/traces?service={service}&attr=app.customer_id%3D{}",
                catalog.customers[i % catalog.customers.len()]
            )
        })
        .collect();
    let search_attr = time_queries(
        &mut client,
        &format!(
            "search service={service} + attr app.customer_id (~{:.1} % of traces)",
            customer_share * 100.0
        ),
        &attr_paths,
        count_traces,
    );
    let duration_paths: Vec<String> = (0..SEARCH_QUERIES)
        .map(|_| format!("/api/traces?service={service}&min_duration_ms={min_duration_ms:.3}"))
        .collect();
    let search_duration = time_queries(
        &mut client,
        &format!(
            "search service={service} + min_duration_ms={min_duration_ms:.1} (~{:.1} % of traces)",
            exceeding as f64 * 100.0 / durations.len().max(1) as f64
        ),
        &duration_paths,
        count_traces,
    );
    let worst_paths: Vec<String> = (0..WORST_CASE_QUERIES)
        .map(|_| format!("/api/traces?service={service}&attr=app.customer_id%3Dnobody"))
        .collect();
    let search_worst = time_queries(
        &mut client,
        &format!("search service={service} + attr matching nothing (scans the hour)"),
        &worst_paths,
        count_traces,
    );
    // Service metrics from the rollups: RED for one service over 24 h and
    // 7 days, summaries and the service graph over 24 h.
    let now_ms = now_nanos() / 1_000_000;
    let day_ms = 24 * 3_600_000;
    let service_metric_paths = |path: String| -> Vec<String> {
        (0..SERVICE_METRIC_QUERIES).map(|_| path.clone()).collect()
    };
    let count_points = |_: usize, body: &[u8]| count_occurrences(body, b"\"time\"");
    let count_groups = |_: usize, body: &[u8]| count_occurrences(body, b"\"request_count\"");
    let count_edges = |_: usize, body: &[u8]| count_occurrences(body, b"\"call_count\"");
    let range = |days: u64| format!("start={}&end={now_ms}", now_ms - days * day_ms);
    let service_metrics = vec![
        time_queries(
            &mut client,
            &format!("/api/metrics/red service={service}, 24 h, step 60 s"),
            &service_metric_paths(format!(
                "/api/metrics/red?service={service}&{}&step=60s",
                range(1)
            )),
            count_points,
        ),
        time_queries(
            &mut client,
            &format!("/api/metrics/red service={service}, 7 d, step 1 h"),
            &service_metric_paths(format!(
                "/api/metrics/red?service={service}&{}&step=1h",
                range(7)
            )),
            count_points,
        ),
        time_queries(
            &mut client,
            &format!("/api/metrics/red service={service}, 7 d, step 10 m"),
            &service_metric_paths(format!(
                "/api/metrics/red?service={service}&{}&step=10m",
                range(7)
            )),
            count_points,
        ),
        time_queries(
            &mut client,
            "/api/metrics/summary group_by=service, 24 h",
            &service_metric_paths(format!(
                "/api/metrics/summary?group_by=service&{}",
                range(1)
            )),
            count_groups,
        ),
        time_queries(
            &mut client,
            &format!("/api/metrics/summary group_by=operation service={service}, 24 h"),
            &service_metric_paths(format!(
                "/api/metrics/summary?group_by=operation&service={service}&{}",
                range(1)
            )),
            count_groups,
        ),
        time_queries(
            &mut client,
            "/api/dependencies, 24 h",
            &service_metric_paths(format!("/api/dependencies?{}", range(1))),
            count_edges,
        ),
    ];
    let rss_end_kib = server.peak_rss_kib();
    drop(client);

    // --- Graceful stop, then disk usage.
    let shutdown = server.stop(SHUTDOWN_TIMEOUT);
    let data_bytes = dir_size(data_dir.path());
    let bytes_per_span = data_bytes as f64 / total_spans as f64;
    let tables = table_sizes(&data_dir.path().join("lookout.db"));
    let packed = packed_spans(&data_dir.path().join("lookout.db"));

    // --- Restart on the same data: start-up time with the data stored.
    let mut restarted = Server::start(&binary, data_dir.path(), &server_args);
    let restart_time = restarted.startup;
    let stats = Client::new(settings.http, restarted.addr)
        .get("/api/stats")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .unwrap_or_default();
    restarted.stop(SHUTDOWN_TIMEOUT);
    drop(restarted);
    drop(data_dir);

    // --- Raw ceiling, with the server stopped.
    let raw_dir = tempfile::Builder::new()
        .prefix("lookout-bench-raw-")
        .tempdir()
        .expect("temp dir");
    let (raw, raw_prepare) = run_raw(raw_dir.path(), &catalog, &traces);
    drop(raw_dir);

    let ab_report = ab::baseline().map(|baseline| {
        ab::compare("span", &binary, &baseline, |binary| {
            let dir = tempfile::Builder::new()
                .prefix("lookout-bench-ab-")
                .tempdir()
                .expect("temp dir");
            let mut server = Server::start(binary, dir.path(), &[]);
            let (_, _, timed) = warm_up(server.addr, settings.http, &requests);
            let cpu_before = server.process_cpu(ticks);
            let threads_before = thread_sched(server.pid());
            let run = run_ingest(server.addr, settings.http, settings.clients, timed);
            let server_cpu_seconds = server.process_cpu(ticks) - cpu_before;
            let writer_cpu_seconds =
                by_thread_delta(&threads_before, &thread_sched(server.pid()), "writer").on_cpu;
            server.stop(SHUTDOWN_TIMEOUT);
            assert!(
                run.failures.is_empty(),
                "A/B ingest failed: {}",
                run.failures[0]
            );
            ab::Sample {
                records: run.spans_acked as u64,
                server_cpu_seconds,
                writer_cpu_seconds,
                wall: run.wall,
            }
        })
    });
    drop(requests);
    let raw_sched = raw.sched;
    let raw_spans_per_second = raw.spans as f64 / raw.elapsed.as_secs_f64().max(1e-9);
    let raw_rows_per_second = raw.rows as f64 / raw.elapsed.as_secs_f64().max(1e-9);
    let ratio = spans_per_second / raw_spans_per_second;
    eprintln!(
        "raw ceiling: {} spans ({} rows) in {:.2} s",
        raw.spans,
        raw.rows,
        raw.elapsed.as_secs_f64()
    );

    // --- Report.
    let complete = ingest.failures.is_empty() && warm_spans + ingest.spans_acked == total_spans;
    let p50 = percentile(&ingest.latencies, 0.50);
    let p99 = percentile(&ingest.latencies, 0.99);
    let rss_ingest_mb = rss_ingest_kib as f64 * 1024.0 / 1e6;
    let rss_end_mb = rss_end_kib as f64 * 1024.0 / 1e6;
    let mut md = String::new();
    let _ = writeln!(md, "# lookout ingest benchmark\n");
    let _ = writeln!(
        md,
        "- run: {}, profile {profile}",
        format_rfc3339(UnixNanos(now_nanos() as i64))
    );
    let _ = writeln!(
        md,
        "- machine: {} cores (`available_parallelism`), {:.1} GiB RAM, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_total_gib(),
        cpu_model()
    );
    let _ = writeln!(
        md,
        "- load average (1/5/15 min): {load_before} before generating, {load_after_ingest} after ingest"
    );
    let _ = writeln!(
        md,
        "- workload: {} spans in {} traces ({:.1} spans/trace, {:.1} % error spans), {} services, {} resources; \
         {} requests of {} spans ({:.0} KB protobuf each on average); {} client threads, {:?} HTTP/1.1 keep-alive client; \
         generation and encoding took {:.1} s (not measured); the first {} spans were sent before the timed ingest \
         (the first span dictionary was stored {} later)",
        thousands(total_spans as f64),
        thousands(traces.len() as f64),
        total_spans as f64 / traces.len() as f64,
        error_spans as f64 * 100.0 / total_spans as f64,
        SERVICES.len(),
        SERVICES.len() * HOSTS_PER_SERVICE as usize,
        ingest.requests_acked.max(1),
        settings.spans_per_request,
        request_bytes as f64 / 1e3 / total_spans.div_ceil(settings.spans_per_request) as f64,
        settings.clients,
        settings.http,
        generate_time.as_secs_f64(),
        thousands(warm_spans as f64),
        dictionary_wait.map_or("never".to_string(), |wait| format!("{:.1} s", wait.as_secs_f64()))
    );
    let _ = writeln!(md);
    let _ = writeln!(md, "| Measure | Result | Target | |");
    let _ = writeln!(md, "|---|---|---|---|");
    let _ = writeln!(
        md,
        "| End-to-end ingest, 200 after commit | {} spans/s ({} spans in {:.2} s){} | ≥ 100,000 spans/s | {} |",
        thousands(spans_per_second),
        thousands(ingest.spans_acked as f64),
        ingest.wall.as_secs_f64(),
        if complete { "" } else { " — INCOMPLETE" },
        verdict(complete && spans_per_second >= 100_000.0)
    );
    let _ = writeln!(
        md,
        "| Raw SQLite ceiling, 1 thread, same rows | {} spans/s ({} rows/s incl. traces and trace_services; {} transactions in {:.2} s; {:.1} µs CPU per span) | | |",
        thousands(raw_spans_per_second),
        thousands(raw_rows_per_second),
        raw.transactions,
        raw.elapsed.as_secs_f64(),
        raw_sched.on_cpu * 1e6 / raw.spans.max(1) as f64
    );
    let _ = writeln!(
        md,
        "| End-to-end / raw | {ratio:.2} | ≥ 0.6 | {} |",
        verdict(ratio >= 0.6)
    );
    let writer_sched = by_thread_delta(&threads_before, &threads_after, "writer");
    let writer_cpu_per_span = writer_sched.on_cpu * 1e6 / ingest.spans_acked.max(1) as f64;
    let raw_cpu_per_span = raw_sched.on_cpu * 1e6 / raw.spans.max(1) as f64;
    let _ = writeln!(
        md,
        "| Same ratio by CPU time per span (raw thread {:.1} µs / writer thread {:.1} µs; independent of other load) | {:.2} | | |",
        raw_cpu_per_span,
        writer_cpu_per_span,
        raw_cpu_per_span / writer_cpu_per_span.max(1e-9)
    );
    let _ = writeln!(
        md,
        "| Ingest request latency p50 / p99 | {} / {} | | |",
        ms(p50),
        ms(p99)
    );
    let _ = writeln!(md, "| 503 answers retried | {} | | |", ingest.retries);
    let _ = writeln!(
        md,
        "| Peak RSS of the server during ingest (VmHWM) | {:.0} MB | < 200 MB | {} |",
        rss_ingest_mb,
        verdict(rss_ingest_mb < 200.0)
    );
    let _ = writeln!(
        md,
        "| Peak RSS after the queries | {:.0} MB | | |",
        rss_end_mb
    );
    let _ = writeln!(
        md,
        "| Bytes on disk per span (data dir after SIGTERM) | {:.0} B ({:.1} MB) | ≤ 100 B | {} |",
        bytes_per_span,
        data_bytes as f64 / 1e6,
        verdict(bytes_per_span <= 100.0)
    );
    let _ = writeln!(
        md,
        "| Raw ceiling database, bytes per span | {:.0} B | | |",
        raw.bytes as f64 / raw.spans.max(1) as f64
    );
    for query in [&get_trace, &search_service, &search_attr, &search_duration] {
        let target = if std::ptr::eq(query, &get_trace) {
            5.0
        } else {
            100.0
        };
        let p99 = percentile(&query.latencies, 0.99);
        let _ = writeln!(
            md,
            "| {} ×{}: p50 / p99 (mean {:.1} {} returned) | {} / {} | p99 < {target} ms | {} |",
            query.name,
            query.latencies.len(),
            query.mean_items,
            if std::ptr::eq(query, &get_trace) {
                "spans"
            } else {
                "traces"
            },
            ms(percentile(&query.latencies, 0.5)),
            ms(p99),
            verdict(p99.as_secs_f64() * 1e3 < target)
        );
    }
    for query in &service_metrics {
        let p99 = percentile(&query.latencies, 0.99);
        let _ = writeln!(
            md,
            "| {} ×{}: p50 / p99 (mean {:.0} items) | {} / {} | p99 < 20 ms | {} |",
            query.name,
            query.latencies.len(),
            query.mean_items,
            ms(percentile(&query.latencies, 0.5)),
            ms(p99),
            verdict(p99.as_secs_f64() * 1e3 < 20.0)
        );
    }
    let _ = writeln!(
        md,
        "| {} ×{}: p50 / max | {} / {} | | |",
        search_worst.name,
        search_worst.latencies.len(),
        ms(percentile(&search_worst.latencies, 0.5)),
        ms(percentile(&search_worst.latencies, 1.0)),
    );
    let _ = writeln!(
        md,
        "| Start-up: empty / with the data stored (to \"listening\") | {} / {} | | |",
        ms(server.startup),
        ms(restart_time)
    );
    let _ = writeln!(
        md,
        "| Graceful stop (SIGTERM to exit) | {} | | |",
        ms(shutdown)
    );

    let _ = writeln!(md, "\n## Diagnostics\n");
    let _ = writeln!(
        md,
        "- writer: {} commits, {:.2} s inside `write_group` + commit = {:.0} % of the ingest wall time; \
         {:.1} µs per span; {:.0} spans per commit on average",
        commits,
        commit_seconds,
        commit_seconds * 100.0 / ingest.wall.as_secs_f64().max(1e-9),
        commit_seconds * 1e6 / stored_spans.max(1.0),
        stored_spans / commits.max(1.0)
    );
    let _ = writeln!(
        md,
        "- CPU during ingest: server {:.1} s ({:.0} % of one core over the wall time, {:.1} µs per span), \
         bench clients {:.1} s",
        server_cpu,
        server_cpu * 100.0 / ingest.wall.as_secs_f64().max(1e-9),
        server_cpu * 1e6 / ingest.spans_acked.max(1) as f64,
        client_cpu
    );
    let mut by_thread: Vec<(String, Sched)> = threads_after
        .iter()
        .map(|(name, after)| {
            let before = threads_before.get(name).copied().unwrap_or_default();
            (
                name.clone(),
                Sched {
                    on_cpu: after.on_cpu - before.on_cpu,
                    runnable: after.runnable - before.runnable,
                },
            )
        })
        .filter(|(_, sched)| sched.on_cpu > 0.01)
        .collect();
    by_thread.sort_by(|a, b| b.1.on_cpu.total_cmp(&a.1.on_cpu));
    let _ = writeln!(
        md,
        "- server threads during ingest (by name; on CPU / runnable but waiting for a core): {}",
        by_thread
            .iter()
            .map(|(name, sched)| format!(
                "`{name}` {:.1} s / {:.1} s",
                sched.on_cpu, sched.runnable
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some((_, writer)) = by_thread.iter().find(|(name, _)| name == "writer") {
        let wall = ingest.wall.as_secs_f64();
        let _ = writeln!(
            md,
            "- writer thread: {:.1} µs CPU per span; of the {:.1} s wall time it was {:.0} % on a CPU, \
             {:.0} % runnable without a core, {:.0} % blocked (I/O or waiting for work)",
            writer.on_cpu * 1e6 / ingest.spans_acked.max(1) as f64,
            wall,
            writer.on_cpu * 100.0 / wall,
            writer.runnable * 100.0 / wall,
            (wall - writer.on_cpu - writer.runnable).max(0.0) * 100.0 / wall
        );
    }
    let server_cpu_per_span = server_cpu * 1e6 / ingest.spans_acked.max(1) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let _ = writeln!(
        md,
        "- without other load, CPU time alone bounds end-to-end ingest at min(1 / writer CPU per span, {cores:.0} cores / server CPU per span) = min({}, {}) spans/s",
        thousands(1e6 / writer_cpu_per_span.max(1e-9)),
        thousands(cores * 1e6 / server_cpu_per_span.max(1e-9))
    );
    let _ = writeln!(
        md,
        "- raw ceiling thread: {:.1} µs CPU per span; {:.1} s on a CPU, {:.1} s runnable without a core, of {:.1} s",
        raw_sched.on_cpu * 1e6 / raw.spans.max(1) as f64,
        raw_sched.on_cpu,
        raw_sched.runnable,
        raw.elapsed.as_secs_f64()
    );
    if !tables.is_empty() {
        let _ = writeln!(
            md,
            "- database by table/index (dbstat), bytes per span: {}",
            tables
                .iter()
                .filter(|(_, bytes)| *bytes as f64 / total_spans as f64 >= 0.5)
                .map(|(name, bytes)| format!("`{name}` {:.0}", *bytes as f64 / total_spans as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some((packed, all, packed_bytes, plain_bytes)) = packed {
        let _ = writeln!(
            md,
            "- spans stored packed with a span dictionary: {} of {}; attributes + events per span: {packed_bytes:.0} B packed, {plain_bytes:.0} B plain",
            thousands(packed as f64),
            thousands(all as f64),
        );
    }
    let _ = writeln!(
        md,
        "- searches filter on `{service}`, which is in {:.0} % of traces; min_duration_ms = p90 of those traces' durations",
        service_traces.len() as f64 * 100.0 / traces.len() as f64
    );
    let _ = writeln!(
        md,
        "- raw ceiling: dictionaries and attribute blobs prepared in {:.1} s (not timed)",
        raw_prepare.as_secs_f64()
    );
    let stored_ok = stats.contains(&format!("\"spans\":{total_spans}"));
    let _ = writeln!(
        md,
        "- after restart, /api/stats {} {} spans; {} of {} fetched traces came back with a different span count",
        if stored_ok { "reports all" } else { "does NOT report" },
        thousands(total_spans as f64),
        span_mismatches,
        get_trace.latencies.len()
    );
    if !ingest.failures.is_empty() {
        let _ = writeln!(
            md,
            "- {} ingest failures, first: {}",
            ingest.failures.len(),
            ingest.failures[0]
        );
    }

    if let Some(section) = ab_report {
        md.push_str(&section);
    }
    println!("{md}");
    let target_dir = binary
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let report = target_dir.join("bench-ingest.md");
    match std::fs::write(&report, &md) {
        Ok(()) => eprintln!("wrote {}", report.display()),
        Err(error) => eprintln!("cannot write {}: {error}", report.display()),
    }
}
