//! Browser tests of the embedded web app: starts lookout on
//! `127.0.0.1:0`, seeds traces and logs over HTTP, starts a second one
//! with an admin token (auth on) for the login page, API keys and the
//! audit log, then runs
//! `assets/tests/browser.mjs` (playwright-core driving Debian's headless
//! Chromium) against it. The script checks the pages, measures render
//! times and the bundle size, and saves screenshots to
//! `target/screenshots/`.
//!
//! Without Chromium, Node or `assets/node_modules` the test prints why and
//! passes, unless `LOOKOUT_REQUIRE_BROWSER=1` (CI), where it fails.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout::app::RunningApp;
use lookout::config::Config;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, AggregationTemporality, Exemplar, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use reqwest::blocking::Client;
use serde_json::{json, Value};

/// The whole browser run, Chromium start-up included.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);
/// How long seeded logs may take to become searchable.
const INDEX_TIMEOUT: Duration = Duration::from_secs(15);
/// Spans of the large trace whose render time is measured.
const BIG_TRACE_SPANS: usize = 5_000;
/// Small traces older than the ones the checks look for: more than one
/// page of the trace list (50), for "Load more" and Back.
const FILLER_TRACES: usize = 120;
/// Filler log records (plus the few the checks look for).
const FILLER_LOGS: usize = 1_000;
const DECLINED_LOGS: usize = 5;
/// How long a notification may go undelivered before it is failed.
const ALERT_NOTIFY_MAX_AGE: Duration = Duration::from_secs(3);
/// The admin token of the second server, the one with auth on, where the
/// login page, API keys and the audit log are checked.
const AUTH_TOKEN: &str = "a-browser-test-admin-token";
/// The service the Alerts checks' error-rate rule watches: one of its two
/// entry spans (the checkout trace's `charge`) failed two minutes before
/// the script starts.
const ALERT_SERVICE: &str = "payments";

fn chromium() -> PathBuf {
    std::env::var_os("LOOKOUT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the browser test cannot run here, if it cannot.
fn missing_prerequisite(root: &Path) -> Option<String> {
    let chromium = chromium();
    if !chromium.exists() {
        return Some(format!(
            "{} not found (apt-get install chromium, or set LOOKOUT_CHROMIUM)",
            chromium.display()
        ));
    }
    if !root.join("assets/node_modules/playwright-core").is_dir() {
        return Some("assets/node_modules is missing (run `npm ci` in assets/)".into());
    }
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => None,
        _ => Some("node is not installed".into()),
    }
}

/// Prints past the test harness's output capture, so the report (and where
/// the screenshots are) shows in every run, not only failed ones.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
}

const MS: u64 = 1_000_000;

fn rfc3339(nanos: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Deterministic ids: distinct per test run through the time-based seed.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn trace_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
    fn span_id(&mut self) -> String {
        format!("{:016x}", self.next() | 1)
    }
}

fn attr(key: &str, value: Value) -> Value {
    let value = match value {
        Value::String(text) => json!({"stringValue": text}),
        Value::Bool(flag) => json!({"boolValue": flag}),
        Value::Number(number) if number.is_i64() => json!({"intValue": number.to_string()}),
        Value::Number(number) => json!({"doubleValue": number.as_f64()}),
        other => json!({"stringValue": other.to_string()}),
    };
    json!({"key": key, "value": value})
}

struct SpanSpec<'a> {
    trace_id: &'a str,
    span_id: &'a str,
    parent: Option<&'a str>,
    name: &'a str,
    start: u64,
    duration_ms: u64,
}

fn span(spec: SpanSpec<'_>, extra: Value) -> Value {
    let mut span = json!({
        "traceId": spec.trace_id,
        "spanId": spec.span_id,
        "parentSpanId": spec.parent.unwrap_or(""),
        "name": spec.name,
        "kind": 2,
        "startTimeUnixNano": spec.start.to_string(),
        "endTimeUnixNano": (spec.start + spec.duration_ms * MS).to_string(),
    });
    if let (Value::Object(span), Value::Object(extra)) = (&mut span, extra) {
        span.extend(extra);
    }
    span
}

fn resource_spans(service: &str, spans: Vec<Value>) -> Value {
    json!({
        "resource": {"attributes": [attr("service.name", json!(service)), attr("host.name", json!("edge-1"))]},
        "scopeSpans": [{"scope": {"name": "lookout-browser-test", "version": "1.0"}, "spans": spans}],
    })
}

/// What the browser script checks, as seeded.
struct Seed {
    facts: Value,
}

/// Spans to export, grouped by service, and what the span metrics should
/// count of them: per service its entry spans (server and consumer), and
/// per operation all its spans.
#[derive(Default)]
struct Spans {
    by_service: Vec<(String, Vec<Value>)>,
    /// Spans whose resource names a release and an environment:
    /// (service, `service.version`, spans).
    released: Vec<(String, String, Vec<Value>)>,
    /// service → (entry spans, entry spans that failed)
    entry: BTreeMap<String, (u64, u64)>,
    /// (service, operation, span kind) → (spans, failed spans)
    operations: BTreeMap<(String, String, &'static str), (u64, u64)>,
}

fn kind_name(kind: i64) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

impl Spans {
    fn add(&mut self, service: &str, span: Value) {
        self.count(service, &span);
        match self.by_service.iter_mut().find(|(s, _)| s == service) {
            Some((_, spans)) => spans.push(span),
            None => self.by_service.push((service.to_string(), vec![span])),
        }
    }

    /// A span of `service` in `release` (deployed to `ERROR_ENVIRONMENT`).
    fn add_released(&mut self, service: &str, release: &str, span: Value) {
        self.count(service, &span);
        match self
            .released
            .iter_mut()
            .find(|(s, r, _)| s == service && r == release)
        {
            Some((_, _, spans)) => spans.push(span),
            None => self
                .released
                .push((service.to_string(), release.to_string(), vec![span])),
        }
    }

    /// Every span with its service.
    fn all(&self) -> impl Iterator<Item = (&str, &Value)> {
        let plain = self
            .by_service
            .iter()
            .flat_map(|(service, spans)| spans.iter().map(move |span| (service.as_str(), span)));
        let released = self
            .released
            .iter()
            .flat_map(|(service, _, spans)| spans.iter().map(move |span| (service.as_str(), span)));
        plain.chain(released)
    }

    fn count(&mut self, service: &str, span: &Value) {
        let kind = kind_name(span["kind"].as_i64().unwrap_or(0));
        let failed = u64::from(span["status"]["code"] == json!(2));
        let name = span["name"].as_str().unwrap_or_default().to_string();
        let counts = self
            .operations
            .entry((service.to_string(), name, kind))
            .or_default();
        counts.0 += 1;
        counts.1 += failed;
        if kind == "server" || kind == "consumer" {
            let counts = self.entry.entry(service.to_string()).or_default();
            counts.0 += 1;
            counts.1 += failed;
        }
    }
}

/// The service the Services and service pages are checked on.
const SHOP: &str = "shop";
/// Minutes of shop traffic, ending at the last whole minute.
const SHOP_MINUTES: u64 = 30;
/// The minute (counted back) whose orders all fail, and the one with a
/// slow product page.
const SHOP_ERROR_MINUTE: u64 = 12;
const SHOP_SLOW_MINUTE: u64 = 7;
const SHOP_SLOW_MS: u64 = 900;

/// What the shop seeded that the checks look for.
struct Shop {
    /// (trace id, start in unix ms) of the failed orders.
    failed: Vec<(String, u64)>,
    slow_trace: String,
    slow_span: String,
}

/// One shop request: a server span and its database call, in a trace of
/// their own. Returns the trace and root span ids.
fn shop_request(
    spans: &mut Spans,
    ids: &mut Ids,
    (name, child): (&str, &str),
    start: u64,
    duration_ms: u64,
    error: bool,
) -> (String, String) {
    let trace_id = ids.trace_id();
    let root = ids.span_id();
    let method = if name.starts_with("GET") {
        "GET"
    } else {
        "POST"
    };
    let mut extra = json!({"attributes": [attr("http.request.method", json!(method))]});
    if error {
        extra["status"] = json!({"code": 2, "message": "payment service unavailable"});
    }
    spans.add(
        SHOP,
        span(
            SpanSpec {
                trace_id: &trace_id,
                span_id: &root,
                parent: None,
                name,
                start,
                duration_ms,
            },
            extra,
        ),
    );
    spans.add(
        SHOP,
        span(
            SpanSpec {
                trace_id: &trace_id,
                span_id: &ids.span_id(),
                parent: Some(&root),
                name: child,
                start: start + MS,
                duration_ms: duration_ms.min(5),
            },
            json!({"kind": 3, "attributes": [attr("db.system.name", json!("postgresql"))]}),
        ),
    );
    (trace_id, root)
}

/// Shop traffic over the last half hour, in whole minutes: two product
/// pages (each with a database call) and an order (with an insert) a
/// minute, an order consumer every five minutes, one burst of failed
/// orders and one slow product page.
fn seed_shop(spans: &mut Spans, ids: &mut Ids, now: u64) -> Shop {
    let minute = 60_000 * MS;
    let last_minute = now / minute * minute;
    let mut failed = Vec::new();
    let mut slow = (String::new(), String::new());
    for back in 1..=SHOP_MINUTES {
        let at = |seconds: u64| last_minute - back * minute + seconds * 1_000 * MS;
        for (second, offset) in [(5, 0), (35, 13)] {
            let slowest = back == SHOP_SLOW_MINUTE && second == 35;
            let duration = if slowest {
                SHOP_SLOW_MS
            } else {
                10 + (back * 7 + offset) % 30
            };
            let ids_of = shop_request(
                spans,
                ids,
                ("GET /products", "SELECT products"),
                at(second),
                duration,
                false,
            );
            if slowest {
                slow = ids_of;
            }
        }
        let orders: &[u64] = if back == SHOP_ERROR_MINUTE {
            &[20, 40, 50]
        } else {
            &[20]
        };
        for second in orders {
            let error = back == SHOP_ERROR_MINUTE;
            let (trace_id, _) = shop_request(
                spans,
                ids,
                ("POST /orders", "INSERT orders"),
                at(*second),
                40 + (back * 11) % 40,
                error,
            );
            if error {
                failed.push((trace_id, at(*second) / MS));
            }
        }
        if back % 5 == 0 {
            let trace_id = ids.trace_id();
            spans.add(
                SHOP,
                span(
                    SpanSpec {
                        trace_id: &trace_id,
                        span_id: &ids.span_id(),
                        parent: None,
                        name: "process order.created",
                        start: at(25),
                        duration_ms: 15,
                    },
                    json!({"kind": 5, "attributes": [attr("messaging.system", json!("kafka"))]}),
                ),
            );
        }
    }
    Shop {
        failed,
        slow_trace: slow.0,
        slow_span: slow.1,
    }
}

/// The service whose spans carry exception events, the environment it
/// runs in and its releases, oldest first.
const ERROR_SERVICE: &str = "fulfillment";
const ERROR_ENVIRONMENT: &str = "prod";
const ERROR_RELEASES: [&str; 2] = ["2.3.0", "2.4.0"];
/// The error group the checks open: orders not found, in both releases.
const ERROR_TYPE: &str = "OrderNotFound";
/// (order id, minutes ago, release index) of its occurrences, oldest first.
const ERROR_ORDERS: [(u64, u64, usize); 4] = [(123, 9, 0), (456, 7, 0), (789, 5, 1), (1011, 3, 1)];
/// A second group, only in the newer release: new in it.
const ERROR_OTHER_TYPE: &str = "TimeoutError";

/// One occurrence of the seeded error group.
struct ErrorOccurrence {
    trace_id: String,
    span_id: String,
    message: String,
}

struct SeededErrors {
    orders: Vec<ErrorOccurrence>,
    timeout_trace: String,
}

/// A Python traceback, as the OpenTelemetry SDK records it, of the
/// `load` that raised for `order`.
fn python_traceback(order: u64) -> String {
    format!(
        "Traceback (most recent call last):\n  \
         File \"/srv/fulfillment/app/handlers.py\", line 58, in fulfil\n    \
         order = orders.load(order_id)\n  \
         File \"/srv/fulfillment/app/orders.py\", line 23, in load\n    \
         raise OrderNotFound(f\"order {{order_id}} not found\")\n\
         OrderNotFound: order {order} not found\n"
    )
}

fn exception_event(at: u64, kind: &str, message: &str, stacktrace: &str) -> Value {
    json!({
        "name": "exception",
        "timeUnixNano": at.to_string(),
        "attributes": [
            attr("exception.type", json!(kind)),
            attr("exception.message", json!(message)),
            attr("exception.stacktrace", json!(stacktrace)),
        ],
    })
}

/// Orders that were not found (one error group, four occurrences in two
/// releases, each in a trace of its own: a failed request whose `load`
/// span records the exception) and one lookup that timed out (a group of
/// its own, new in the newer release).
fn seed_errors(spans: &mut Spans, ids: &mut Ids, now: u64) -> SeededErrors {
    let minute = 60_000 * MS;
    let mut orders = Vec::new();
    for (order, ago, release) in ERROR_ORDERS {
        let trace_id = ids.trace_id();
        let root = ids.span_id();
        let load = ids.span_id();
        let start = now - ago * minute;
        let message = format!("order {order} not found");
        let failed = json!({"code": 2, "message": message});
        spans.add_released(
            ERROR_SERVICE,
            ERROR_RELEASES[release],
            span(
                SpanSpec {
                    trace_id: &trace_id,
                    span_id: &root,
                    parent: None,
                    name: "POST /fulfil",
                    start,
                    duration_ms: 30,
                },
                json!({"attributes": [attr("order.id", json!(order as i64))], "status": failed}),
            ),
        );
        spans.add_released(
            ERROR_SERVICE,
            ERROR_RELEASES[release],
            span(
                SpanSpec {
                    trace_id: &trace_id,
                    span_id: &load,
                    parent: Some(&root),
                    name: "load order",
                    start: start + 2 * MS,
                    duration_ms: 12,
                },
                json!({
                    "kind": 1,
                    "status": failed,
                    "events": [exception_event(start + 13 * MS, ERROR_TYPE, &message, &python_traceback(order))],
                }),
            ),
        );
        orders.push(ErrorOccurrence {
            trace_id,
            span_id: load,
            message,
        });
    }
    let timeout_trace = ids.trace_id();
    let start = now - 4 * minute;
    spans.add_released(
        ERROR_SERVICE,
        ERROR_RELEASES[1],
        span(
            SpanSpec {
                trace_id: &timeout_trace,
                span_id: &ids.span_id(),
                parent: None,
                name: "GET /stock",
                start,
                duration_ms: 3_000,
            },
            json!({
                "status": {"code": 2, "message": "inventory lookup timed out"},
                "events": [exception_event(
                    start + 2_999 * MS,
                    ERROR_OTHER_TYPE,
                    "inventory lookup timed out after 3s",
                    "Traceback (most recent call last):\n  File \"/srv/fulfillment/app/stock.py\", line 12, in stock\n    return inventory.lookup(sku, timeout=3)\nTimeoutError: inventory lookup timed out after 3s\n",
                )],
            }),
        ),
    );
    SeededErrors {
        orders,
        timeout_trace,
    }
}

/// The hand-built trace whose critical path the trace view marks, in
/// milliseconds from its start (root `A` 0–100):
///
/// ```text
/// A web     GET /order            0–100
///   B web   render                5–40
///     D web template             10–30
///   C orders POST /orders        20–90
///     E orders SELECT orders     25–50   (db.system: postgresql)
///     F orders POST /charge      55–85   (peer.service: billing)
///   G web   publish order.placed 92–98   (messaging.system: kafka)
/// ```
///
/// Walking back from A's end, each time to the last child that finishes
/// before the point reached: G, then C (ends 90 < 92), in C: F, then E
/// (ends 50 < 55); nothing of A ends before C's start (20). So the path is
/// A, G, C, F, E; B and D are off it. The client and producer spans with
/// no child are calls to virtual nodes on the service map.
struct Critical {
    trace_id: String,
    on_path: Vec<String>,
    off_path: Vec<String>,
    names: BTreeMap<String, String>,
}

/// (id, parent, service, name, kind, start ms, end ms, attributes)
type Planned<'a> = (
    &'a String,
    Option<&'a String>,
    &'a str,
    &'a str,
    i64,
    u64,
    u64,
    Value,
);

fn seed_critical_path(spans: &mut Spans, ids: &mut Ids, t0: u64) -> Critical {
    let trace_id = ids.trace_id();
    let [a, b, c, d, e, f, g] = [(); 7].map(|_| ids.span_id());
    let plan: [Planned<'_>; 7] = [
        (&a, None, "web", "GET /order", 2, 0, 100, json!([])),
        (&b, Some(&a), "web", "render", 1, 5, 40, json!([])),
        (&d, Some(&b), "web", "template", 1, 10, 30, json!([])),
        (&c, Some(&a), "orders", "POST /orders", 2, 20, 90, json!([])),
        (
            &e,
            Some(&c),
            "orders",
            "SELECT orders",
            3,
            25,
            50,
            json!([attr("db.system", json!("postgresql"))]),
        ),
        (
            &f,
            Some(&c),
            "orders",
            "POST /charge",
            3,
            55,
            85,
            json!([attr("peer.service", json!("billing"))]),
        ),
        (
            &g,
            Some(&a),
            "web",
            "publish order.placed",
            4,
            92,
            98,
            json!([attr("messaging.system", json!("kafka"))]),
        ),
    ];
    let mut names = BTreeMap::new();
    for (id, parent, service, name, kind, from, to, attributes) in plan {
        names.insert(id.clone(), name.to_string());
        spans.add(
            service,
            span(
                SpanSpec {
                    trace_id: &trace_id,
                    span_id: id,
                    parent: parent.map(String::as_str),
                    name,
                    start: t0 + from * MS,
                    duration_ms: to - from,
                },
                json!({"kind": kind, "attributes": attributes}),
            ),
        );
    }
    Critical {
        trace_id,
        on_path: [&a, &g, &c, &f, &e].map(String::clone).to_vec(),
        off_path: vec![b, d],
        names,
    }
}

/// The service graph edges the seeded spans make, by the rules of
/// docs/API.md: a parent span in one service with a child in another is a
/// call (an error when either failed); a client or producer span without
/// a child in another service is a call to the virtual node its
/// attributes name.
fn expected_edges(spans: &Spans) -> Vec<Value> {
    struct Seen<'a> {
        service: &'a str,
        span: &'a Value,
    }
    let mut by_id: BTreeMap<(&str, &str), Seen<'_>> = BTreeMap::new();
    for (service, span) in spans.all() {
        let key = (
            span["traceId"].as_str().unwrap_or_default(),
            span["spanId"].as_str().unwrap_or_default(),
        );
        by_id.insert(key, Seen { service, span });
    }
    let failed = |span: &Value| span["status"]["code"] == json!(2);
    let mut edges: BTreeMap<(String, String, bool), (u64, u64)> = BTreeMap::new();
    let mut calls_out: std::collections::BTreeSet<(&str, &str)> = Default::default();
    for ((trace, _), child) in &by_id {
        let parent_id = child.span["parentSpanId"].as_str().unwrap_or_default();
        let Some(parent) = by_id.get(&(*trace, parent_id)) else {
            continue;
        };
        if parent.service == child.service {
            continue;
        }
        calls_out.insert((*trace, parent_id));
        let counts = edges
            .entry((parent.service.to_string(), child.service.to_string(), false))
            .or_default();
        counts.0 += 1;
        counts.1 += u64::from(failed(parent.span) || failed(child.span));
    }
    for ((trace, id), seen) in &by_id {
        let kind = seen.span["kind"].as_i64().unwrap_or(0);
        if !(kind == 3 || kind == 4) || calls_out.contains(&(*trace, *id)) {
            continue;
        }
        let attributes = seen.span["attributes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let node = [
            "peer.service",
            "db.system.name",
            "db.system",
            "messaging.system",
            "server.address",
        ]
        .iter()
        .find_map(|key| {
            attributes
                .iter()
                .find(|a| a["key"] == json!(key))
                .and_then(|a| a["value"]["stringValue"].as_str().map(str::to_string))
        });
        if let Some(node) = node {
            let counts = edges
                .entry((seen.service.to_string(), node, true))
                .or_default();
            counts.0 += 1;
            counts.1 += u64::from(failed(seen.span));
        }
    }
    edges
        .into_iter()
        .map(|((parent, child, is_virtual), (calls, errors))| {
            json!({"parent": parent, "child": child, "virtual": is_virtual, "calls": calls, "errors": errors})
        })
        .collect()
}

/// The OTLP metrics the explorer is checked on: their Prometheus names,
/// a counter's series labels, and the exemplar's trace.
struct SeededMetrics {
    counter: String,
    histogram: String,
    counter_routes: Vec<String>,
}

/// Seconds between the seeded metric points, and how far back they go.
const METRIC_INTERVAL_MS: u64 = 15_000;
const METRIC_MINUTES: u64 = 30;
/// The seeded duration histogram's bounds (ms), and what every interval
/// adds to each bucket: p50 in (10, 50], p95 in (100, 250], p99 in (250, 500].
const DURATION_BOUNDS: [f64; 6] = [10.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
const DURATION_STEP: [u64; 7] = [30, 50, 12, 5, 3, 0, 0];

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// Exports, through `POST /v1/metrics` as protobuf, a monotonic
/// cumulative request counter with three series and a duration histogram
/// over the last half hour at 15 s, the histogram with an exemplar that
/// carries `exemplar_trace` (a seeded trace) at `exemplar_at`.
fn seed_metrics(
    client: &Client,
    base: &str,
    now: u64,
    exemplar_trace: &str,
    exemplar_at: u64,
) -> SeededMetrics {
    let interval = METRIC_INTERVAL_MS * MS;
    let first = (now - METRIC_MINUTES * 60_000 * MS) / interval * interval;
    let start = first - interval;
    let times: Vec<u64> = (0..)
        .map(|i| first + i * interval)
        .take_while(|t| *t < now)
        .collect();
    let routes = [
        ("/cart", "200", 2.0),
        ("/checkout", "200", 5.0),
        ("/checkout", "500", 0.5),
    ];
    let counter_points = routes
        .iter()
        .flat_map(|(route, status, per_interval)| {
            times.iter().enumerate().map(move |(i, t)| NumberDataPoint {
                attributes: vec![
                    kv("http.route", route),
                    kv("http.response.status_code", status),
                ],
                start_time_unix_nano: start,
                time_unix_nano: *t,
                value: Some(number_data_point::Value::AsDouble(
                    per_interval * (i as f64 + 1.0),
                )),
                ..Default::default()
            })
        })
        .collect();
    let trace_id = hex::decode(exemplar_trace).expect("a hex trace id");
    let histogram_points = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let n = i as u64 + 1;
            let bucket_counts: Vec<u64> = DURATION_STEP.iter().map(|c| c * n).collect();
            let mut point = HistogramDataPoint {
                attributes: vec![kv("http.route", "/checkout")],
                start_time_unix_nano: start,
                time_unix_nano: *t,
                count: bucket_counts.iter().sum(),
                sum: Some(40.0 * (bucket_counts.iter().sum::<u64>() as f64)),
                bucket_counts,
                explicit_bounds: DURATION_BOUNDS.to_vec(),
                ..Default::default()
            };
            // The exemplar rides on the first point at or after its span.
            if *t >= exemplar_at && *t < exemplar_at + interval {
                point.exemplars = vec![Exemplar {
                    time_unix_nano: exemplar_at,
                    value: Some(exemplar::Value::AsDouble(250.0)),
                    trace_id: trace_id.clone(),
                    ..Default::default()
                }];
            }
            point
        })
        .collect();
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout-api"),
                    kv("service.instance.id", "pod-1"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "http.server.requests".into(),
                        description: "HTTP requests handled".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: counter_points,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "http.server.duration".into(),
                        description: "HTTP request durations".into(),
                        unit: "ms".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: histogram_points,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let response = client
        .post(format!("{base}/v1/metrics"))
        .header("content-type", "application/x-protobuf")
        .body(request.encode_to_vec())
        .send()
        .expect("POST /v1/metrics");
    assert!(
        response.status().is_success(),
        "metric export: {}",
        response.status()
    );
    let answer = ExportMetricsServiceResponse::decode(
        response.bytes().expect("metric export answer").as_ref(),
    )
    .unwrap_or_default();
    let rejected = answer.partial_success.map_or(0, |p| p.rejected_data_points);
    assert_eq!(rejected, 0, "metric points refused");
    SeededMetrics {
        counter: "http_server_requests_total".into(),
        histogram: "http_server_duration_milliseconds".into(),
        counter_routes: routes
            .iter()
            .map(|(route, _, _)| route.to_string())
            .collect(),
    }
}

fn seed(client: &Client, base: &str) -> Seed {
    let now = now_nanos();
    let mut ids = Ids(now);
    let mut spans = Spans::default();

    // The checkout trace. Tree order (root, cart, db, charge, fraud,
    // publish) differs from start order: `charge` starts before the
    // cart's database call.
    let checkout = ids.trace_id();
    let other = ids.trace_id();
    let t0 = now - 120_000 * MS;
    let [root, cart, db, charge, fraud, publish] = [(); 6].map(|_| ids.span_id());
    let tree_order = [&root, &cart, &db, &charge, &fraud, &publish];
    spans.add(
        "frontend",
        span(
            SpanSpec {
                trace_id: &checkout,
                span_id: &root,
                parent: None,
                name: "GET /checkout",
                start: t0,
                duration_ms: 250,
            },
            json!({"attributes": [attr("http.request.method", json!("GET")), attr("http.route", json!("/checkout"))]}),
        ),
    );
    spans.add(
        "cart",
        span(
            SpanSpec {
                trace_id: &checkout,
                span_id: &cart,
                parent: Some(&root),
                name: "POST /cart",
                start: t0 + 5 * MS,
                duration_ms: 80,
            },
            json!({"kind": 3}),
        ),
    );
    spans.add(
        "db",
        span(
            SpanSpec {
                trace_id: &checkout,
                span_id: &db,
                parent: Some(&cart),
                name: "SELECT cart_items",
                start: t0 + 30 * MS,
                duration_ms: 40,
            },
            json!({"kind": 3, "attributes": [attr("db.system.name", json!("sqlite"))]}),
        ),
    );
    spans.add(
        "payments",
        span(
            SpanSpec {
                trace_id: &checkout,
                span_id: &charge,
                parent: Some(&root),
                name: "charge",
                start: t0 + 20 * MS,
                duration_ms: 150,
            },
            json!({
                "attributes": [
                    attr("payment.amount", json!(42.5)),
                    attr("customer.id", json!("c-17")),
                    attr("http.response.status_code", json!(402)),
                ],
                "status": {"code": 2, "message": "card declined"},
                "events": [{"name": "retry", "timeUnixNano": (t0 + 60 * MS).to_string(), "attributes": [attr("attempt", json!(2))]}],
                "links": [{"traceId": other, "spanId": ids.span_id()}],
            }),
        ),
    );
    spans.add(
        "payments",
        span(
            SpanSpec {
                trace_id: &checkout,
                span_id: &fraud,
                parent: Some(&charge),
                name: "fraud-check",
                start: t0 + 40 * MS,
                duration_ms: 30,
            },
            json!({}),
        ),
    );
    spans.add(
        "queue",
        span(
            SpanSpec {
                trace_id: &checkout,
                span_id: &publish,
                parent: Some(&root),
                name: "publish order.created",
                start: t0 + 200 * MS,
                duration_ms: 20,
            },
            json!({"kind": 4}),
        ),
    );
    let health_span = ids.span_id();
    spans.add(
        "frontend",
        span(
            SpanSpec {
                trace_id: &other,
                span_id: &health_span,
                parent: None,
                name: "GET /health",
                start: now - 300_000 * MS,
                duration_ms: 3,
            },
            json!({}),
        ),
    );

    // A 5,000-span trace: a four-way tree over five services.
    let big = ids.trace_id();
    let big_start = now - 60_000 * MS;
    let services = ["gateway", "search", "inventory", "pricing", "storage"];
    let big_ids: Vec<String> = (0..BIG_TRACE_SPANS).map(|_| ids.span_id()).collect();
    for (index, span_id) in big_ids.iter().enumerate() {
        let parent = (index > 0).then(|| big_ids[(index - 1) / 4].as_str());
        let name = format!("step-{}", index % 97);
        let start = big_start + (index as u64) * 200_000;
        let mut extra = json!({"attributes": [attr("index", json!(index as i64))]});
        if index % 250 == 7 {
            extra["status"] = json!({"code": 2, "message": "timeout"});
        }
        spans.add(
            services[index % services.len()],
            span(
                SpanSpec {
                    trace_id: &big,
                    span_id,
                    parent,
                    name: &name,
                    start,
                    duration_ms: 1 + (index as u64 % 40),
                },
                extra,
            ),
        );
    }

    // Filler: one-span traces 10 to 20 minutes ago, every seventh failed.
    for index in 0..FILLER_TRACES {
        let trace_id = ids.trace_id();
        let span_id = ids.span_id();
        let mut extra = json!({"attributes": [attr("batch.index", json!(index as i64))]});
        if index % 7 == 3 {
            extra["status"] = json!({"code": 2, "message": "batch failed"});
        }
        spans.add(
            "batch",
            span(
                SpanSpec {
                    trace_id: &trace_id,
                    span_id: &span_id,
                    parent: None,
                    name: "GET /batch",
                    start: now - (600_000 + index as u64 * 5_000) * MS,
                    duration_ms: 5 + (index as u64 * 13) % 40,
                },
                extra,
            ),
        );
    }

    let critical = seed_critical_path(&mut spans, &mut ids, now - 90_000 * MS);

    let shop = seed_shop(&mut spans, &mut ids, now);

    let errors = seed_errors(&mut spans, &mut ids, now);

    let services: BTreeMap<&String, Value> = spans
        .entry
        .iter()
        .map(|(service, (requests, errors))| {
            (service, json!({"requests": requests, "errors": errors}))
        })
        .collect();
    let shop_operations: Vec<Value> = spans
        .operations
        .iter()
        .filter(|((service, _, _), _)| service == SHOP)
        .map(|((_, name, kind), (count, errors))| {
            json!({"name": name, "span_kind": kind, "requests": count, "errors": errors})
        })
        .collect();
    let span_count = spans.all().count();
    let edges = expected_edges(&spans);
    let released = spans.released.into_iter().map(|(service, release, spans)| {
        let mut resource = resource_spans(&service, spans);
        if let Some(attributes) = resource["resource"]["attributes"].as_array_mut() {
            attributes.push(attr("service.version", json!(release)));
            attributes.push(attr(
                "deployment.environment.name",
                json!(ERROR_ENVIRONMENT),
            ));
        }
        resource
    });
    let request = json!({
        "resourceSpans": spans
            .by_service
            .into_iter()
            .map(|(service, spans)| resource_spans(&service, spans))
            .chain(released)
            .collect::<Vec<_>>(),
    });
    let response = client
        .post(format!("{base}/v1/traces"))
        .header("content-type", "application/json")
        .body(request.to_string())
        .send()
        .expect("POST /v1/traces");
    assert!(
        response.status().is_success(),
        "trace export: {}",
        response.status()
    );

    // Logs: filler records over the last 50 minutes, and a few declined
    // payments that carry the checkout trace's id.
    const LOG_SERVICES: [&str; 3] = ["frontend", "cart", "payments"];
    let levels = ["debug", "info", "info", "info", "warn"];
    let mut lines = String::new();
    for index in 0..FILLER_LOGS {
        let time = now - 3_000_000 * MS + (index as u64) * 2_900 * MS;
        let line = json!({
            "timestamp": rfc3339(time),
            "level": levels[index % levels.len()],
            "service": LOG_SERVICES[index % LOG_SERVICES.len()],
            "message": format!("request {index} handled in {} ms", index % 50),
            "http": {"route": "/checkout", "status_code": 200},
            "user": {"id": index % 17, "plan": "pro"},
        });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    for index in 0..DECLINED_LOGS {
        let line = json!({
            "timestamp": rfc3339(t0 + (30 + index as u64) * MS),
            "level": "error",
            "service": "payments",
            "message": format!("payment declined for order {}", 9000 + index),
            "trace_id": checkout,
            "span_id": charge,
            "order": {"id": 9000 + index, "amount": 42.5},
        });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let response = client
        .post(format!("{base}/api/ingest/logs"))
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .expect("POST /api/ingest/logs");
    assert!(
        response.status().is_success(),
        "log ingest: {}",
        response.status()
    );
    let body: Value = response.json().expect("ingest answer");
    assert_eq!(
        body["accepted"],
        json!(FILLER_LOGS + DECLINED_LOGS),
        "ingest answer: {body}"
    );

    // The checkout span (250 ms) is the duration histogram's exemplar.
    let metrics = seed_metrics(client, base, now, &checkout, t0);

    // The error is at a byte offset past a two-byte character: the caret
    // must count characters.
    let bad_query = "café AND";
    let bad = client
        .get(format!("{base}/api/logs"))
        .query(&[("q", bad_query)])
        .send()
        .expect("GET bad query");
    assert_eq!(bad.status().as_u16(), 400);
    let bad: Value = bad.json().expect("bad query answer");
    let bad_message = bad["error"]["message"].as_str().unwrap_or_default();
    // The `position` field, or else the "(at position N)" in the message.
    let bad_position = bad["error"]["position"].as_u64().or_else(|| {
        let (_, tail) = bad_message.rsplit_once("(at position ")?;
        tail.trim_end_matches(')').parse().ok()
    });
    assert!(bad_position.is_some(), "no position in {bad}");

    let newest = errors.orders.last();
    let error_facts = json!({
        "error_service": ERROR_SERVICE,
        "error_environment": ERROR_ENVIRONMENT,
        "error_releases": ERROR_RELEASES,
        "error_type": ERROR_TYPE,
        "error_message": "order <n> not found",
        "error_count": errors.orders.len(),
        "error_traces": errors.orders.iter().map(|o| &o.trace_id).collect::<Vec<_>>(),
        "error_sample": {
            "trace_id": newest.map(|o| &o.trace_id),
            "span_id": newest.map(|o| &o.span_id),
            "message": newest.map(|o| &o.message),
        },
        "error_other_type": ERROR_OTHER_TYPE,
        "error_other_trace": errors.timeout_trace,
    });
    let mut facts = json!({
            "checkout_trace": checkout,
            "other_trace": other,
            "big_trace": big,
            "big_span_count": BIG_TRACE_SPANS,
            "tree_order": tree_order,
            "tree_names": ["GET /checkout", "POST /cart", "SELECT cart_items", "charge", "fraud-check", "publish order.created"],
            "charge_span": charge,
            "charge_attributes": {"customer.id": "c-17", "payment.amount": "42.5", "http.response.status_code": "402"},
            "trace_total": 3 + FILLER_TRACES,
            "log_query": "\"payment declined\"",
            "log_expected": DECLINED_LOGS,
            "log_total": FILLER_LOGS + DECLINED_LOGS,
            "bad_query": bad_query,
            "bad_query_message": bad_message,
            "bad_query_position": bad_position,
            "span_count": span_count,
            "services": services,
            "shop": SHOP,
            "shop_operations": shop_operations,
            "shop_failed": shop.failed.iter().map(|(id, start)| json!({"trace_id": id, "start_ms": start})).collect::<Vec<_>>(),
            "shop_slow_trace": shop.slow_trace,
            "shop_slow_span": shop.slow_span,
            "edges": edges,
            "critical_trace": critical.trace_id,
            "critical_spans": critical.on_path,
            "critical_off": critical.off_path,
            "critical_names": critical.names,
            "metric_counter": metrics.counter,
            "metric_histogram": metrics.histogram,
            "metric_routes": metrics.counter_routes,
            "alert_service": ALERT_SERVICE,

            "alert_notify_max_age_s": ALERT_NOTIFY_MAX_AGE.as_secs(),
    });
    if let (Value::Object(facts), Value::Object(more)) = (&mut facts, error_facts) {
        facts.extend(more);
    }
    Seed { facts }
}

/// Waits until every seeded log record is searchable.
fn wait_for_logs(client: &Client, base: &str, expected: usize) {
    let deadline = Instant::now() + INDEX_TIMEOUT;
    loop {
        let total = client
            .get(format!("{base}/api/logs"))
            .query(&[("limit", "1"), ("lookback", "2h")])
            .send()
            .ok()
            .and_then(|response| response.json::<Value>().ok())
            .and_then(|body| body["total"].as_u64())
            .unwrap_or(0);
        if total as usize >= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {total} of {expected} log records searchable after {INDEX_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn web_app_in_a_real_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let required = std::env::var("LOOKOUT_REQUIRE_BROWSER").is_ok_and(|value| value == "1");
    if let Some(reason) = missing_prerequisite(&root) {
        let banner = "!".repeat(72);
        say(&format!("\n{banner}\n!! browser tests SKIPPED: {reason}\n!! run `bash scripts/test.sh` to install what they need\n{banner}\n"));
        assert!(!required, "LOOKOUT_REQUIRE_BROWSER=1 but {reason}");
        return;
    }

    let dir = tempfile::tempdir().expect("a temporary data directory");
    let mut config = Config::for_data_dir(dir.path());
    // Alert rules are evaluated every second, and a notification that
    // cannot be delivered is failed after a few seconds: the Alerts checks
    // see a rule fire and a delivery fail (and retry it) within seconds.
    config.alerts.interval = Duration::from_secs(1);
    config.alerts.notify_max_age = ALERT_NOTIFY_MAX_AGE;
    let app = RunningApp::start(config).expect("lookout starts");
    let base = app.base_url();
    let client = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client");
    let started = Instant::now();
    let seed = seed(&client, &base);
    wait_for_logs(&client, &base, FILLER_LOGS + DECLINED_LOGS);
    say(&format!(
        "seeded {} spans and {} log records in {:.1?}",
        seed.facts["span_count"],
        FILLER_LOGS + DECLINED_LOGS,
        started.elapsed()
    ));

    // A second lookout, with auth on (an admin token): the login page, API
    // keys and the audit log are checked there. Keys are made only there:
    // one on the first server would make its ingest need keys.
    let auth_dir = tempfile::tempdir().expect("a second temporary data directory");
    let mut auth_config = Config::for_data_dir(auth_dir.path());
    auth_config.admin_token = Some(AUTH_TOKEN.into());
    // And a disk budget, which its System page shows.
    auth_config.max_disk = Some(256 << 20);
    // And forwarding to an upstream that is down (a port nothing listens
    // on): its System page shows the batch waiting and the error.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let upstream = format!("http://{down}");
    auth_config.forward = vec![lookout::pipeline::Upstream {
        url: upstream.clone(),
        protocol: lookout::pipeline::Protocol::HttpProtobuf,
        gzip: false,
        headers: Vec::new(),
    }];
    auth_config.pipeline.forward_destinations = vec![upstream.clone()];
    let auth_app = RunningApp::start(auth_config).expect("lookout with an admin token starts");
    let mut ids = Ids(now_nanos() ^ 0xF0F0);
    let response = client
        .post(format!("{}/v1/traces", auth_app.base_url()))
        .bearer_auth(AUTH_TOKEN)
        .header("content-type", "application/json")
        .body(
            json!({"resourceSpans": [resource_spans("edge-box", vec![span(
                SpanSpec {
                    trace_id: &ids.trace_id(),
                    span_id: &ids.span_id(),
                    parent: None,
                    name: "GET /forwarded",
                    start: now_nanos() - 1_000 * MS,
                    duration_ms: 5,
                },
                json!({}),
            )])]})
            .to_string(),
        )
        .send()
        .expect("POST /v1/traces to the second lookout");
    assert!(response.status().is_success(), "{}", response.status());

    let mut facts = seed.facts;
    facts["grafana_fixture"] = json!(root.join("tests/fixtures/grafana_dashboard.json"));
    facts["auth_url"] = json!(auth_app.base_url());
    facts["auth_token"] = json!(AUTH_TOKEN);
    facts["forward_upstream"] = json!(upstream);
    let screenshots = root.join("target/screenshots");
    std::fs::create_dir_all(&screenshots).expect("create target/screenshots");
    let mut child = Command::new("node")
        .arg(root.join("assets/tests/browser.mjs"))
        .current_dir(root.join("assets"))
        .env("LOOKOUT_URL", &base)
        .env("LOOKOUT_SEED", facts.to_string())
        .env("LOOKOUT_CHROMIUM", chromium())
        .env("SCREENSHOT_DIR", &screenshots)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");

    // Echo the script's report as it runs; keep it for the assertions.
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines_sender, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            say(&line);
            if lines_sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let _ = reader.join();
    say(&format!("browser script ran {:.1?}", started.elapsed()));
    let output: Vec<String> = lines.try_iter().collect();
    let failures: Vec<&String> = output.iter().filter(|l| l.starts_with("not ok")).collect();
    let passed = output.iter().filter(|l| l.starts_with("ok ")).count();
    say(&format!(
        "browser checks: {passed} passed, {} failed; screenshots in {}",
        failures.len(),
        screenshots.display()
    ));
    let status = status
        .unwrap_or_else(|| panic!("the browser script did not finish within {SCRIPT_TIMEOUT:?}"));
    assert!(
        failures.is_empty(),
        "failed browser checks:\n{}",
        failures
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(status.success(), "the browser script failed: {status}");
    assert!(passed >= 8, "only {passed} browser checks ran");
    let stopping = Instant::now();
    drop(auth_app);
    drop(app);
    say(&format!("lookout stopped in {:.1?}", stopping.elapsed()));
}
