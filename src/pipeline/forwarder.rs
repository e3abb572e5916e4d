//! The `forwarder` threads (`--forward-otlp`): one per upstream, each
//! sending the forwarding outbox (`store::sqlite::forward`) in id order as
//! OTLP/HTTP protobuf to `{upstream}/v1/traces|logs|metrics`, with the
//! configured headers. A 2xx advances the upstream's cursor (through the
//! writer, which deletes the rows every upstream has). Connection errors
//! and every other answer are retried with exponential backoff (1 s
//! doubling to 60 s) or the upstream's `Retry-After`, without skipping
//! anything, except 400, 413, 415 and 422 (the upstream will never take
//! that batch), which drop it, counted and logged. Delivery is at least
//! once: a crash between a 2xx and the cursor's commit sends that batch
//! again.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;

use super::supervise::{self, ThreadHealth};
use super::WriterHandle;
use crate::model::UnixNanos;
use crate::store::sqlite::forward::{self, Queued};
use crate::store::sqlite::ReadPool;
use crate::telemetry::Metrics;

/// Answers that mean the upstream will never take this batch (malformed,
/// too large, of a type it does not take): it is dropped. Every other
/// non-2xx answer is retried, among them 401/403/404, which a corrected
/// header or URL fixes while the outbox keeps the data.
const REFUSED: [u16; 4] = [400, 413, 415, 422];

/// Rows read from the outbox at a time.
const BATCH_ROWS: usize = 64;
/// How often an idle forwarder looks for new rows.
const IDLE: Duration = Duration::from_millis(200);
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Timeouts of one request: to connect, and for the whole exchange.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An upstream: its base URL (as `OTEL_EXPORTER_OTLP_ENDPOINT`) and the
/// headers sent with every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// What one upstream's forwarder publishes for health and `/metrics`.
#[derive(Debug)]
pub struct UpstreamStatus {
    pub url: String,
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
    Delivered,
    /// Retry later (not sooner than the upstream asked).
    Retry(String, Option<Duration>),
    /// The upstream refused this batch for good.
    Refused(String),
}

impl Forwarder {
    /// Starts one thread per upstream; they run until `stop` is dropped.
    pub fn spawn(
        self,
        health: &Arc<ThreadHealth>,
        stop: Receiver<()>,
    ) -> std::io::Result<(Arc<ForwardStatus>, Vec<JoinHandle<()>>)> {
        let mut status = ForwardStatus::default();
        let mut threads = Vec::new();
        for upstream in self.upstreams {
            let upstream_status = Arc::new(UpstreamStatus {
                url: upstream.url.clone(),
                sent_through: AtomicI64::new(0),
                waiting: AtomicU64::new(0),
                oldest_waiting_unix_nano: AtomicI64::new(0),
                last_error: Mutex::new(None),
            });
            status.upstreams.push(Arc::clone(&upstream_status));
            let worker = Worker {
                upstream,
                status: upstream_status,
                reads: Arc::clone(&self.reads),
                writer: self.writer.clone(),
                metrics: Arc::clone(&self.metrics),
                agent: ureq::Agent::config_builder()
                    .timeout_connect(Some(CONNECT_TIMEOUT))
                    .timeout_global(Some(REQUEST_TIMEOUT))
                    .http_status_as_error(false)
                    .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .into(),
            };
            let stop = stop.clone();
            threads.push(supervise::spawn(health, move || worker.run(&stop))?);
        }
        Ok((Arc::new(status), threads))
    }
}

struct Worker {
    upstream: Upstream,
    status: Arc<UpstreamStatus>,
    reads: Arc<ReadPool>,
    writer: WriterHandle,
    metrics: Arc<Metrics>,
    agent: ureq::Agent,
}

impl Worker {
    fn run(&self, stop: &Receiver<()>) {
        let url = &self.upstream.url;
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
                    self.metrics.forward_failed(url);
                    let delay = backoff(failures, retry_after);
                    if failures == 1 {
                        tracing::warn!(upstream = %url, %error, "forwarding failed; retrying, nothing is skipped");
                    }
                    *self.status.last_error.lock() = Some(error);
                    delay
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(upstream = %url, %error, "reading or recording the forwarding outbox failed; retrying");
                    backoff(failures, None)
                }
            };
        }
    }

    /// Sends what waits, in order, until it is all sent or an attempt
    /// fails; `Some` is that failure (and when to retry).
    fn pass(&self) -> anyhow::Result<Option<(String, Option<Duration>)>> {
        let url = &self.upstream.url;
        let mut through = {
            let conn = self.reads.get()?;
            forward::cursor(&conn, url)?
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
                    .forward_lag(url, self.status.lag_seconds(UnixNanos::now()));
                forward::pending(&conn, through, BATCH_ROWS)?
            };
            if rows.is_empty() {
                return Ok(None);
            }
            let mut failure = None;
            let before = through;
            for row in &rows {
                match self.send(row) {
                    Sent::Delivered => {
                        self.metrics.forward_sent(url);
                        *self.status.last_error.lock() = None;
                        through = row.id;
                    }
                    Sent::Refused(error) => {
                        self.metrics.forward_dropped_rejected.inc();
                        tracing::warn!(upstream = %url, batch = row.id, %error, "the upstream refused a forwarded batch; dropped");
                        through = row.id;
                    }
                    Sent::Retry(error, after) => {
                        failure = Some((error, after));
                        break;
                    }
                }
            }
            if through > before {
                self.writer.forward_sent_blocking(url, through)?;
                self.status.sent_through.store(through, Ordering::Relaxed);
            }
            if failure.is_some() {
                return Ok(failure);
            }
        }
    }

    fn send(&self, row: &Queued) -> Sent {
        let target = format!("{}{}", self.upstream.url, row.signal.path());
        let mut request = self
            .agent
            .post(&target)
            .header("content-type", "application/x-protobuf");
        for (name, value) in &self.upstream.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let body = match row.request() {
            Ok(body) => body,
            Err(error) => return Sent::Refused(error.to_string()),
        };
        match request.send(&body[..]) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    return Sent::Delivered;
                }
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(|seconds| Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
                let text = response
                    .body_mut()
                    .with_config()
                    .limit(512)
                    .read_to_string()
                    .unwrap_or_default();
                let error = format!(
                    "{target}: HTTP {status} {}",
                    text.trim().chars().take(200).collect::<String>()
                );
                if REFUSED.contains(&status) {
                    Sent::Refused(error)
                } else {
                    Sent::Retry(error, retry_after)
                }
            }
            Err(error) => Sent::Retry(format!("{target}: {error}"), None),
        }
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
}
