//! Shared test support: an in-process [`TestServer`] on a temporary data
//! directory, an HTTP client around it, and builders for OTLP requests.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lookout::app::RunningApp;
use lookout::config::Config;
use lookout::pipeline::{IndexerStatus, WriterHandle};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

/// How long [`TestServer::wait_for_logs`] waits for records to become
/// searchable.
pub const LOG_WAIT: Duration = Duration::from_secs(5);

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

/// lookout running in this process on `127.0.0.1:0` with its own data
/// directory. Stops (gracefully) when dropped, before the directory goes.
pub struct TestServer {
    app: Option<RunningApp>,
    client: Client,
    base_url: String,
    /// Removed after the server stopped (fields drop in order).
    dir: TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    /// Starts with the test defaults, changed by `tweak` first.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("create a temporary data directory");
        TestServer::start_on_with(dir, tweak)
    }

    /// Starts on a data directory prepared by the test (a restored backup).
    pub fn start_on(dir: TempDir) -> TestServer {
        TestServer::start_on_with(dir, |_| {})
    }

    fn start_on_with(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::for_data_dir(dir.path());
        tweak(&mut config);
        let app = RunningApp::start(config).expect("lookout starts");
        let base_url = app.base_url();
        TestServer {
            app: Some(app),
            client: client(),
            base_url,
            dir,
        }
    }

    /// Stops gracefully and starts again on the same data directory, with
    /// the test defaults changed by `tweak`.
    pub fn restart_with(&mut self, tweak: impl FnOnce(&mut Config)) {
        if let Some(app) = self.app.take() {
            app.stop().expect("lookout stops");
        }
        let mut config = Config::for_data_dir(self.dir.path());
        tweak(&mut config);
        let app = RunningApp::start(config).expect("lookout restarts");
        self.base_url = app.base_url();
        self.app = Some(app);
    }

    fn app(&self) -> &RunningApp {
        self.app.as_ref().expect("the server runs until drop")
    }

    /// Where OTLP/gRPC is served (set `config.grpc_listen` to turn it on).
    pub fn grpc_addr(&self) -> Option<std::net::SocketAddr> {
        self.app().grpc_addr()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Stops gracefully and hands over the data directory, which is then
    /// the caller's to inspect (and removed when it drops).
    pub fn stop(mut self) -> TempDir {
        if let Some(app) = self.app.take() {
            app.stop().expect("lookout stops");
        }
        let empty = tempfile::tempdir().expect("a temporary directory");
        std::mem::replace(&mut self.dir, empty)
    }

    /// The data directory the server uses.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn writer(&self) -> &WriterHandle {
        self.app().writer()
    }

    /// Holds journal truncation while the guard lives, as a backup does.
    pub fn hold_journal(&self) -> lookout::pipeline::JournalHold {
        self.app().hold_journal()
    }

    /// The log indexer's status (and its test-only pause switch).
    pub fn indexer(&self) -> &IndexerStatus {
        self.app().indexer()
    }

    /// Waits until everything written so far is committed and, for logs,
    /// indexed and searchable.
    pub fn flush(&self) {
        self.try_flush().expect("lookout flushes");
    }

    /// [`TestServer::flush`], answering what failed.
    pub fn try_flush(&self) -> Result<(), lookout::pipeline::FlushError> {
        self.app().flush()
    }

    pub fn post_protobuf(&self, path: &str, message: &impl prost::Message) -> Response {
        self.post_bytes(path, PROTOBUF, None, message.encode_to_vec())
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        self.post_bytes(path, JSON, None, body.to_string().into_bytes())
    }

    pub fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        content_encoding: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(encoding) = content_encoding {
            request = request.header("content-encoding", encoding);
        }
        request.send().expect("POST reaches the server")
    }

    pub fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .expect("GET reaches the server")
    }

    /// GET and parse the body as JSON, whatever the status.
    pub fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.get(path);
        let status = response.status();
        let text = response.text().expect("a response body");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("GET {path} ({status}) is not JSON ({error}): {text}"));
        (status, value)
    }

    /// GET that must answer 200 with JSON.
    pub fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get_json(path);
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Exports over protobuf and requires a full success.
    pub fn export(&self, request: &ExportTraceServiceRequest) {
        let response = self.post_protobuf("/v1/traces", request);
        let status = response.status();
        let body = response.bytes().expect("response body");
        assert_eq!(
            status,
            StatusCode::OK,
            "export failed: {}",
            String::from_utf8_lossy(&body)
        );
        let decoded = ExportTraceServiceResponse::decode(body.as_ref())
            .expect("the answer is an ExportTraceServiceResponse");
        assert_eq!(decoded.partial_success, None, "nothing may be rejected");
    }

    /// `/api/traces/{id}`, which must exist.
    pub fn trace(&self, trace_id: &str) -> Value {
        self.get_ok(&format!("/api/traces/{trace_id}"))
    }

    /// Status of `/api/traces/{id}`.
    pub fn trace_status(&self, trace_id: &str) -> StatusCode {
        self.get(&format!("/api/traces/{trace_id}")).status()
    }

    /// Trace ids of one `/api/traces` page, in answer order.
    pub fn search_ids(&self, query: &str) -> Vec<String> {
        let body = self.get_ok(&format!("/api/traces?{query}"));
        trace_ids_of(&body)
    }

    /// GET `path` with URL-encoded query parameters; the status and the
    /// body parsed as JSON, whatever the status.
    pub fn get_query(&self, path: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
        let url = reqwest::Url::parse_with_params(&self.url(path), params)
            .unwrap_or_else(|error| panic!("a URL for {path} {params:?}: {error}"));
        let response = self.client.get(url).send().expect("GET reaches the server");
        let status = response.status();
        let text = response.text().expect("a response body");
        let value = serde_json::from_str(&text).unwrap_or_else(|error| {
            panic!("GET {path} {params:?} ({status}) is not JSON ({error}): {text}")
        });
        (status, value)
    }

    /// `/api/logs` with `params`, which must answer 200.
    pub fn search_logs(&self, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.get_query("/api/logs", params);
        assert_eq!(status, StatusCode::OK, "/api/logs {params:?}: {body}");
        body
    }

    /// Polls `/api/logs` with `params` until its `total` is
    /// `expected_total`, and returns that answer. Records become searchable
    /// within the log refresh interval, so the bounded wait only absorbs
    /// scheduling delays; a total that never matches fails the test.
    pub fn wait_for_logs(&self, params: &[(&str, &str)], expected_total: u64) -> Value {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let body = self.search_logs(params);
            if body["total"].as_u64() == Some(expected_total) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "/api/logs {params:?}: total is {} after {LOG_WAIT:?}, expected {expected_total}",
                body["total"]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `/api/audit?{query}` until an event satisfies `wanted`, and
    /// returns it. Background threads (retention, the log indexer) audit
    /// shortly after what they did; an event that never comes fails the
    /// test.
    pub fn wait_for_audit(&self, query: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        const AUDIT_WAIT: Duration = Duration::from_secs(10);
        let deadline = Instant::now() + AUDIT_WAIT;
        loop {
            let audit = self.get_ok(&format!("/api/audit?{query}"));
            let found = audit["events"]
                .as_array()
                .and_then(|events| events.iter().find(|event| wanted(event)))
                .cloned();
            if let Some(event) = found {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "/api/audit?{query}: no such event after {AUDIT_WAIT:?}: {audit}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Exports logs over protobuf and requires a full success.
    pub fn export_logs(&self, request: &ExportLogsServiceRequest) {
        let response = self.post_protobuf("/v1/logs", request);
        let status = response.status();
        let body = response.bytes().expect("response body");
        assert_eq!(
            status,
            StatusCode::OK,
            "log export failed: {}",
            String::from_utf8_lossy(&body)
        );
        let decoded = ExportLogsServiceResponse::decode(body.as_ref())
            .expect("the answer is an ExportLogsServiceResponse");
        assert_eq!(decoded.partial_success, None, "nothing may be rejected");
    }

    /// POSTs JSON lines to `/api/ingest/logs`, which must answer 200; the
    /// `{"accepted", "rejected", "errors"}` answer.
    pub fn post_json_lines(&self, lines: &str) -> Value {
        let response = self.post_bytes(
            "/api/ingest/logs",
            "application/x-ndjson",
            None,
            lines.as_bytes().to_vec(),
        );
        let status = response.status();
        let text = response.text().expect("a response body");
        assert_eq!(status, StatusCode::OK, "JSON lines ingest: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    pub fn metrics_text(&self) -> String {
        let response = self.get("/metrics");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().expect("metrics text")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            // A failed test may already be unwinding: report, don't panic.
            if let Err(error) = app.stop() {
                eprintln!("stopping the test server failed: {error:#}");
            }
        }
    }
}

/// A client with timeouts, so a hung server fails the test instead of
/// hanging it.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

/// The `Content-Type` of a response, empty when it has none.
pub fn content_type_of(response: &reqwest::blocking::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub fn trace_ids_of(search: &Value) -> Vec<String> {
    search["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("no traces array in {search}"))
        .iter()
        .map(|trace| {
            trace["trace_id"]
                .as_str()
                .expect("trace_id is a string")
                .to_string()
        })
        .collect()
}

/// Bytes of a server's database and its WAL.
pub fn database_bytes(server: &TestServer) -> u64 {
    ["lookout.db", "lookout.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(server.data_dir().join(name)).ok())
        .map(|meta| meta.len())
        .sum()
}

/// The value of a Prometheus sample `name{labels}` (labels exactly as
/// rendered, or empty), if present.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().expect("a numeric sample"))
        })
}

// ---------------------------------------------------------------------------
// Time and ids

pub fn now_nanos() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since_epoch.as_nanos()).expect("nanos fit u64")
}

pub const MS: u64 = 1_000_000;
pub const SECOND: u64 = 1_000 * MS;
pub const MINUTE: u64 = 60 * SECOND;

/// A millisecond-aligned time `ago` before now, so unix-milli query
/// parameters can hit it exactly.
pub fn ms_aligned_ago(ago: u64) -> u64 {
    let t = now_nanos() - ago;
    t - t % MS
}

/// RFC 3339 in UTC with nine fractional digits, the API's time format.
pub fn rfc3339(nanos: u64) -> String {
    let datetime = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .expect("a representable time");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        datetime.year(),
        u8::from(datetime.month()),
        datetime.day(),
        datetime.hour(),
        datetime.minute(),
        datetime.second(),
        datetime.nanosecond()
    )
}

/// Starts at 1 and only grows, so no id built from it is all zeros.
static ID_COUNTER: AtomicU64 = AtomicU64::new(1);

/// Time and pid make trace ids differ between test runs; the counter makes
/// them unique within one.
fn id_seed() -> u64 {
    now_nanos() ^ (u64::from(std::process::id()) << 40)
}

/// A fresh, unique, valid trace id.
pub fn new_trace_id() -> Vec<u8> {
    let counter = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&id_seed().to_be_bytes());
    id.extend_from_slice(&counter.to_be_bytes());
    id
}

/// A fresh, unique, valid span id.
pub fn new_span_id() -> Vec<u8> {
    let counter = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    // Multiplying by an odd constant is a bijection on u64: unique, and
    // non-zero for a non-zero counter, without looking sequential.
    let mixed = counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed.to_be_bytes().to_vec()
}

/// `text` percent-encoded for a query string.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

// ---------------------------------------------------------------------------
// OTLP builders

pub fn any(value: any_value::Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

pub fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(any(value)),
        ..Default::default()
    }
}

pub fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

pub fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

pub fn kv_bool(key: &str, value: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(value))
}

pub fn kv_double(key: &str, value: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(value))
}

pub fn kv_bytes(key: &str, value: &[u8]) -> KeyValue {
    kv(key, any_value::Value::BytesValue(value.to_vec()))
}

pub fn kv_array(key: &str, values: Vec<any_value::Value>) -> KeyValue {
    kv(
        key,
        any_value::Value::ArrayValue(ArrayValue {
            values: values.into_iter().map(any).collect(),
        }),
    )
}

pub fn kv_list(key: &str, values: Vec<KeyValue>) -> KeyValue {
    kv(key, any_value::Value::KvlistValue(KeyValueList { values }))
}

/// A span with the given identity and timing; everything else default.
pub fn span(
    trace_id: &[u8],
    span_id: &[u8],
    parent: Option<&[u8]>,
    name: &str,
    kind: SpanKind,
    start: u64,
    end: u64,
) -> Span {
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        parent_span_id: parent.map(<[u8]>::to_vec).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Default::default()
    }
}

pub fn status(code: OtlpStatusCode, message: &str) -> Option<Status> {
    Some(Status {
        code: code as i32,
        message: message.into(),
    })
}

/// The spans of one service (resource `service.name` plus `extra`
/// resource attributes) under one scope.
pub fn resource_spans(service: &str, extra: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    let mut attributes = vec![kv_str("service.name", service)];
    attributes.extend(extra);
    ResourceSpans {
        resource: Some(Resource {
            attributes,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: format!("{service}-instrumentation"),
                version: "1.0.0".into(),
                ..Default::default()
            }),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub fn request(resource_spans: Vec<ResourceSpans>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest { resource_spans }
}

/// A one-span trace of `service` that started `ago` before now; returns
/// its hex trace id and the request.
pub fn single_span_trace(
    service: &str,
    operation: &str,
    ago: u64,
) -> (String, ExportTraceServiceRequest) {
    let trace_id = new_trace_id();
    let start = now_nanos() - ago;
    let root = span(
        &trace_id,
        &new_span_id(),
        None,
        operation,
        SpanKind::Server,
        start,
        start + 5 * MS,
    );
    (
        hex(&trace_id),
        request(vec![resource_spans(service, vec![], vec![root])]),
    )
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// The error message of a JSON error answer, in either the API's
/// `{"error": {"message"}}` shape or the OTLP `{"message"}` shape.
pub fn error_message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .unwrap_or_else(|| panic!("no error message in {body}"))
        .to_string()
}

/// `google.rpc.Status`, the body of OTLP/HTTP protobuf error answers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// An OTLP/JSON request with `spans` (JSON span objects) of one service.
pub fn json_request(service: &str, spans: Vec<Value>) -> Value {
    serde_json::json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
            },
            "scopeSpans": [{"spans": spans}]
        }]
    })
}

/// A minimal OTLP/JSON span with ids as given (any text) and string nanos.
pub fn json_span(trace_id: &str, span_id: &str, name: &str, start: u64) -> Value {
    serde_json::json!({
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": start.to_string(),
    })
}

// ---------------------------------------------------------------------------
// OTLP log builders

/// A log record at `time` with a string body; no trace context.
pub fn log_record(
    time: u64,
    severity_number: i32,
    severity_text: &str,
    body: &str,
    attributes: Vec<KeyValue>,
) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        severity_number,
        severity_text: severity_text.into(),
        body: Some(any(any_value::Value::StringValue(body.into()))),
        attributes,
        ..Default::default()
    }
}

/// `record` with trace context.
pub fn in_span(mut record: LogRecord, trace_id: &[u8], span_id: &[u8]) -> LogRecord {
    record.trace_id = trace_id.to_vec();
    record.span_id = span_id.to_vec();
    record
}

/// The log records of one service (resource `service.name`) under one
/// scope named `<service>-logger`.
pub fn resource_logs(service: &str, records: Vec<LogRecord>) -> ResourceLogs {
    ResourceLogs {
        resource: Some(Resource {
            attributes: vec![kv_str("service.name", service)],
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            scope: Some(InstrumentationScope {
                name: format!("{service}-logger"),
                version: "2.1.0".into(),
                ..Default::default()
            }),
            log_records: records,
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub fn logs_request(resource_logs: Vec<ResourceLogs>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest { resource_logs }
}
