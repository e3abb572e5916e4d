//! The `forwarder` threads (`--forward-otlp`): one per upstream, each
//! sending the forwarding outbox (`store::sqlite::forward`) in id order to
//! the upstream over OTLP/HTTP protobuf (`http`) or OTLP/gRPC (`grpc`),
//! with the configured headers. Consecutive outbox rows of one signal go
//! as one request (encoded OTLP requests concatenate into one: their
//! repeated fields append), up to `MAX_MERGED_BYTES`. A success advances
//! the upstream's cursor (through the writer, which deletes the rows every
//! upstream has). Connection errors and most other answers are retried
//! with exponential backoff (1 s doubling to 60 s) or the upstream's
//! `Retry-After` / `RetryInfo`, without skipping anything; what the
//! upstream will never take (each transport says which answers mean that)
//! is dropped, counted and logged, after a merged request's rows have been
//! tried one by one so only the ones refused alone are lost. Delivery is
//! at least once: a crash between a success and the cursor's commit sends
//! those rows again.

mod grpc;
mod http;

pub use grpc::Raw as RawGrpcCodec;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;

use super::supervise::{self, ThreadHealth};
use super::WriterHandle;
use crate::model::UnixNanos;
use crate::store::sqlite::forward::{self, ForwardSignal, Queued};
use crate::store::sqlite::ReadPool;
use crate::telemetry::Metrics;

/// Rows read from the outbox at a time.
const BATCH_ROWS: usize = 64;
/// The largest request made of several outbox rows (decoded size): below
/// the 4 MiB message limit gRPC servers (the OpenTelemetry Collector's
/// receivers among them) apply by default. One row larger than this is
/// sent alone.
const MAX_MERGED_BYTES: usize = 3 << 20;
/// How often an idle forwarder looks for new rows.
const IDLE: Duration = Duration::from_millis(200);
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// The longest `Retry-After` (or gRPC `RetryInfo` delay) honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Timeouts of one request: to connect, and for the whole exchange.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How requests reach an upstream (`--forward-protocol`, named as
/// `OTEL_EXPORTER_OTLP_PROTOCOL` names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `http/protobuf`: POSTs to `{url}/v1/traces|logs|metrics`.
    #[default]
    HttpProtobuf,
    /// `grpc`: the OTLP services' `Export` calls at `url`.
    Grpc,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

/// An upstream: its base URL (as `OTEL_EXPORTER_OTLP_ENDPOINT`), the
/// protocol, whether requests are gzip-compressed, and the headers (gRPC
/// metadata) sent with every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub url: String,
    pub protocol: Protocol,
    pub gzip: bool,
    pub headers: Vec<(String, String)>,
}

/// What one upstream's forwarder publishes for health and `/metrics`.
#[derive(Debug)]
pub struct UpstreamStatus {
    pub url: String,
    pub protocol: Protocol,
    /// The highest outbox id delivered (or given up on).
    pub sent_through: AtomicI64,
    /// Rows waiting after it, and when the oldest of them was written
    /// (0: none), as of the last look.
    pub waiting: AtomicU64,
    pub oldest_waiting_unix_nano: AtomicI64,
    /// The last failed attempt's error, cleared by the next delivery.
    pub last_error: Mutex<Option<String>>,
}

impl UpstreamStatus {
    /// Seconds the oldest waiting batch has waited.
    pub fn lag_seconds(&self, now: UnixNanos) -> f64 {
        match self.oldest_waiting_unix_nano.load(Ordering::Relaxed) {
            0 => 0.0,
            oldest => (now.0 - oldest).max(0) as f64 / 1e9,
        }
    }
}

/// Every upstream's status.
#[derive(Debug, Default)]
pub struct ForwardStatus {
    pub upstreams: Vec<Arc<UpstreamStatus>>,
}

pub struct Forwarder {
    pub upstreams: Vec<Upstream>,
    pub reads: Arc<ReadPool>,
    pub writer: WriterHandle,
    pub metrics: Arc<Metrics>,
}

/// How one attempt ended.
enum Sent {
    /// Taken, with the upstream's answer (an encoded `Export*Response`,
    /// empty when there was none).
    Delivered(Vec<u8>),
    /// Retry later (not sooner than the upstream asked).
    Retry(String, Option<Duration>),
    /// The upstream will never take this request.
    Refused(String),
}

/// Items the upstream refused in the `partial_success` of an answer to
/// a request it took, and its message; `None` when it took everything
/// (or the answer is not an OTLP protobuf response).
fn partial_success(signal: ForwardSignal, answer: &[u8]) -> Option<(u64, String)> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message as _;
    if answer.is_empty() {
        return None;
    }
    let (rejected, message) = match signal {
        ForwardSignal::Traces => {
            let partial = ExportTraceServiceResponse::decode(answer)
                .ok()?
                .partial_success?;
            (partial.rejected_spans, partial.error_message)
        }
        ForwardSignal::Logs => {
            let partial = ExportLogsServiceResponse::decode(answer)
                .ok()?
                .partial_success?;
            (partial.rejected_log_records, partial.error_message)
        }
        ForwardSignal::Metrics => {
            let partial = ExportMetricsServiceResponse::decode(answer)
                .ok()?
                .partial_success?;
            (partial.rejected_data_points, partial.error_message)
        }
    };
    (rejected > 0).then(|| (rejected.unsigned_abs(), message))
}

/// One way of sending an encoded OTLP export request upstream.
trait Transport: Send {
    fn send(&mut self, signal: ForwardSignal, body: Vec<u8>) -> Sent;
}

impl Forwarder {
    /// Starts one thread per upstream; they run until `stop` is dropped.
    pub fn spawn(
        self,
        health: &Arc<ThreadHealth>,
        stop: Receiver<()>,
    ) -> anyhow::Result<(Arc<ForwardStatus>, Vec<JoinHandle<()>>)> {
        let mut status = ForwardStatus::default();
        let mut threads = Vec::new();
        for upstream in self.upstreams {
            let upstream_status = Arc::new(UpstreamStatus {
                url: upstream.url.clone(),
                protocol: upstream.protocol,
                sent_through: AtomicI64::new(0),
                waiting: AtomicU64::new(0),
                oldest_waiting_unix_nano: AtomicI64::new(0),
                last_error: Mutex::new(None),
            });
            status.upstreams.push(Arc::clone(&upstream_status));
            let transport: Box<dyn Transport> = match upstream.protocol {
                Protocol::HttpProtobuf => Box::new(http::Http::new(&upstream)),
                Protocol::Grpc => Box::new(grpc::Grpc::new(&upstream)?),
            };
            let mut worker = Worker {
                url: upstream.url,
                status: upstream_status,
                reads: Arc::clone(&self.reads),
                writer: self.writer.clone(),
                metrics: Arc::clone(&self.metrics),
                transport,
            };
            let stop = stop.clone();
            threads.push(supervise::spawn(health, move || worker.run(&stop))?);
        }
        Ok((Arc::new(status), threads))
    }
}

struct Worker {
    url: String,
    status: Arc<UpstreamStatus>,
    reads: Arc<ReadPool>,
    writer: WriterHandle,
    metrics: Arc<Metrics>,
    transport: Box<dyn Transport>,
}

/// Consecutive outbox rows of one signal, decoded, to go as one request.
struct Group {
    signal: ForwardSignal,
    /// Each row's id and encoded request.
    rows: Vec<(i64, Vec<u8>)>,
}

impl Group {
    fn last_id(&self) -> i64 {
        self.rows.last().map_or(0, |(id, _)| *id)
    }

    /// The rows' requests as one.
    fn merged(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.rows.iter().map(|(_, request)| request.len()).sum());
        for (_, request) in &self.rows {
            body.extend_from_slice(request);
        }
        body
    }
}

/// Splits `rows` into requests: runs of one signal up to
/// `MAX_MERGED_BYTES` (a larger row alone). A row that does not decode is
/// returned on its own with the error, to be dropped as refused.
fn groups(rows: &[Queued]) -> Vec<Result<Group, (i64, String)>> {
    let mut out: Vec<Result<Group, (i64, String)>> = Vec::new();
    let mut size = 0;
    for row in rows {
        let request = match row.request() {
            Ok(request) => request,
            Err(error) => {
                out.push(Err((row.id, error.to_string())));
                continue;
            }
        };
        match out.last_mut() {
            Some(Ok(group))
                if group.signal == row.signal && size + request.len() <= MAX_MERGED_BYTES =>
            {
                size += request.len();
                group.rows.push((row.id, request));
            }
            _ => {
                size = request.len();
                out.push(Ok(Group {
                    signal: row.signal,
                    rows: vec![(row.id, request)],
                }));
            }
        }
    }
    out
}

impl Worker {
    fn run(&mut self, stop: &Receiver<()>) {
        let mut failures: u32 = 0;
        let mut wait = Duration::ZERO;
        loop {
            match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            wait = match self.pass() {
                Ok(None) => {
                    failures = 0;
                    IDLE
                }
                Ok(Some((error, retry_after))) => {
                    failures += 1;
                    self.metrics.forward_failed(&self.url);
                    let delay = backoff(failures, retry_after);
                    if failures == 1 {
                        tracing::warn!(upstream = %self.url, %error, "forwarding failed; retrying, nothing is skipped");
                    }
                    *self.status.last_error.lock() = Some(error);
                    delay
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(upstream = %self.url, %error, "reading or recording the forwarding outbox failed; retrying");
                    backoff(failures, None)
                }
            };
        }
    }

    /// Sends what waits, in order, until it is all sent or an attempt
    /// fails; `Some` is that failure (and when to retry).
    fn pass(&mut self) -> anyhow::Result<Option<(String, Option<Duration>)>> {
        let mut through = {
            let conn = self.reads.get()?;
            forward::cursor(&conn, &self.url)?
        };
        loop {
            let rows = {
                let conn = self.reads.get()?;
                let (waiting, oldest) = forward::backlog(&conn, through)?;
                self.status.waiting.store(waiting, Ordering::Relaxed);
                self.status
                    .oldest_waiting_unix_nano
                    .store(oldest.unwrap_or(0), Ordering::Relaxed);
                self.status.sent_through.store(through, Ordering::Relaxed);
                self.metrics
                    .forward_lag(&self.url, self.status.lag_seconds(UnixNanos::now()));
                forward::pending(&conn, through, BATCH_ROWS)?
            };
            if rows.is_empty() {
                return Ok(None);
            }
            let before = through;
            let failure = self.send_rows(&rows, &mut through);
            if through > before {
                self.writer.forward_sent_blocking(&self.url, through)?;
                self.status.sent_through.store(through, Ordering::Relaxed);
            }
            if failure.is_some() {
                return Ok(failure);
            }
        }
    }

    /// Sends `rows` as merged requests, moving `through` past each row
    /// delivered or refused, until one must be retried (returned).
    fn send_rows(
        &mut self,
        rows: &[Queued],
        through: &mut i64,
    ) -> Option<(String, Option<Duration>)> {
        for group in groups(rows) {
            let group = match group {
                Ok(group) => group,
                Err((id, error)) => {
                    self.refused(id, &error);
                    *through = id;
                    continue;
                }
            };
            match self.transport.send(group.signal, group.merged()) {
                Sent::Delivered(answer) => {
                    self.delivered(group.rows.len(), group.signal, &answer);
                    *through = group.last_id();
                }
                Sent::Retry(error, after) => return Some((error, after)),
                Sent::Refused(error) if group.rows.len() == 1 => {
                    self.refused(group.last_id(), &error);
                    *through = group.last_id();
                }
                // Refused as a whole: one by one, so only the rows the
                // upstream refuses alone are dropped.
                Sent::Refused(_) => {
                    for (id, request) in group.rows {
                        match self.transport.send(group.signal, request) {
                            Sent::Delivered(answer) => self.delivered(1, group.signal, &answer),
                            Sent::Refused(error) => self.refused(id, &error),
                            Sent::Retry(error, after) => return Some((error, after)),
                        }
                        *through = id;
                    }
                }
            }
        }
        None
    }

    /// `rows` delivered; what the upstream refused of them (answered in
    /// `partial_success`) is counted and logged, not retried: it would be
    /// refused again.
    fn delivered(&self, rows: usize, signal: ForwardSignal, answer: &[u8]) {
        self.metrics.forward_sent(&self.url, rows as u64);
        *self.status.last_error.lock() = None;
        if let Some((items, message)) = partial_success(signal, answer) {
            self.metrics.forward_rejected_items(&self.url, items);
            tracing::warn!(upstream = %self.url, items, %message, "the upstream refused part of a forwarded request");
        }
    }

    fn refused(&self, id: i64, error: &str) {
        self.metrics.forward_dropped_rejected.inc();
        tracing::warn!(upstream = %self.url, batch = id, %error, "the upstream refused a forwarded batch; dropped");
    }
}

/// The wait before retry number `failures` (1 = the first): 1 s doubling
/// to 60 s, and never sooner than a `Retry-After`.
fn backoff(failures: u32, retry_after: Option<Duration>) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let delay = BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_MAX);
    retry_after.map_or(delay, |after| delay.max(after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::forward::Outgoing;

    #[test]
    fn backoff_doubles_to_a_minute_and_honours_retry_after() {
        assert_eq!(backoff(1, None), Duration::from_secs(1));
        assert_eq!(backoff(3, None), Duration::from_secs(4));
        assert_eq!(backoff(30, None), BACKOFF_MAX);
        assert_eq!(
            backoff(1, Some(Duration::from_secs(9))),
            Duration::from_secs(9)
        );
    }

    fn queued(id: i64, signal: ForwardSignal, request: &[u8]) -> Queued {
        Queued {
            id,
            signal,
            created_unix_nano: 0,
            body: Outgoing::new(signal, request).expect("compresses").body,
        }
    }

    #[test]
    fn runs_of_one_signal_merge_up_to_the_size_limit() {
        let big = vec![1u8; MAX_MERGED_BYTES / 2 + 1];
        let rows = [
            queued(1, ForwardSignal::Traces, b"a"),
            queued(2, ForwardSignal::Traces, b"b"),
            queued(3, ForwardSignal::Logs, b"c"),
            queued(4, ForwardSignal::Traces, b"d"),
            Queued {
                body: vec![9, 9, 9],
                ..queued(5, ForwardSignal::Traces, b"e")
            },
            queued(6, ForwardSignal::Traces, &big),
            queued(7, ForwardSignal::Traces, &big),
        ];
        let shapes: Vec<_> = groups(&rows)
            .into_iter()
            .map(|group| match group {
                Ok(group) => Ok((
                    group.signal,
                    group.rows.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                    group.merged().len(),
                )),
                Err((id, _)) => Err(id),
            })
            .collect();
        assert_eq!(
            shapes,
            [
                Ok((ForwardSignal::Traces, vec![1, 2], 2)),
                Ok((ForwardSignal::Logs, vec![3], 1)),
                Ok((ForwardSignal::Traces, vec![4], 1)),
                Err(5),
                Ok((ForwardSignal::Traces, vec![6], big.len())),
                Ok((ForwardSignal::Traces, vec![7], big.len())),
            ]
        );
    }

    #[test]
    fn partial_success_is_read_from_each_signals_answer() {
        use opentelemetry_proto::tonic::collector::logs::v1::{
            ExportLogsPartialSuccess, ExportLogsServiceResponse,
        };
        use prost::Message as _;
        let answer = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 2,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            partial_success(ForwardSignal::Logs, &answer),
            Some((2, "too old".to_string()))
        );
        // All taken, no answer, or an answer that is not OTLP protobuf.
        let all = ExportLogsServiceResponse::default().encode_to_vec();
        assert_eq!(partial_success(ForwardSignal::Logs, &all), None);
        assert_eq!(partial_success(ForwardSignal::Traces, b""), None);
        assert_eq!(partial_success(ForwardSignal::Metrics, b"{\"ok\":1}"), None);
    }

    /// Two encoded requests concatenated are the request with both's
    /// resources, which is what merging rows relies on.
    #[test]
    fn concatenated_requests_decode_as_one() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
        use prost::Message as _;
        let request = |url: &str| ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                schema_url: url.into(),
                ..Default::default()
            }],
        };
        let mut body = request("a").encode_to_vec();
        body.extend(request("b").encode_to_vec());
        let merged = ExportTraceServiceRequest::decode(&body[..]).expect("decodes");
        let urls: Vec<_> = merged
            .resource_spans
            .iter()
            .map(|r| r.schema_url.as_str())
            .collect();
        assert_eq!(urls, ["a", "b"]);
    }
}
