//! The write pipeline: a bounded channel in front of the one writer thread.
//!
//! Handlers hold a cloneable [`WriterHandle`]. Submitting never blocks: a
//! full channel is backpressure the caller turns into 503 + Retry-After.
//! The writer blocks for one command, drains what else is queued (up to a
//! row cap), writes them in one transaction, commits and only then answers
//! every command of the group (group commit).

mod block_sealer;
mod dictionary_trainer;
pub mod disk_budget;
mod forwarder;
mod log_indexer;
mod retention;
pub mod supervise;
pub mod tail;
mod writer;

#[cfg(feature = "test-hooks")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
#[cfg(feature = "test-hooks")]
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::model::alert::AlertChange;
use crate::model::dashboard::DashboardChange;
use crate::model::error_group::{ErrorAction, ErrorOccurrence};
use crate::model::metric_batch::{MetricBatch, MetricOutcome};
use crate::model::security::{AuditEvent, SecurityChange};
use crate::model::{SpanBatch, UnixNanos};
use crate::store::log_codec::EncodedLog;
pub use crate::store::sqlite::forward::{ForwardSignal, Outgoing};
use crate::store::sqlite::span_dictionaries::Trained;
use crate::store::sqlite::trace_blocks::BlockSeal;
use crate::store::sqlite::write::GroupStats;
pub use crate::store::sqlite::write::{Reclaimed, Retained};
use crate::store::StoreError;
use crate::telemetry::{Metrics, RejectReason};

pub use block_sealer::BlockSealer;
pub use dictionary_trainer::DictionaryTrainer;
pub use forwarder::{ForwardStatus, Forwarder, Protocol, RawGrpcCodec, Upstream, UpstreamStatus};
pub use log_indexer::{IndexBehind, IndexerHandle, IndexerStatus, JournalHold, LogIndexer};
pub use retention::spawn_retention;
pub use supervise::ThreadHealth;
pub use writer::spawn_writer;

/// Default of `--forward-max-outbox`.
pub const DEFAULT_FORWARD_MAX_OUTBOX: u64 = 256 << 20;

/// How the writer thread is tuned.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Queued commands (ingest requests) before backpressure.
    pub queue_capacity: usize,
    /// A group stops draining once it holds this many spans.
    pub max_group_spans: usize,
    /// How long a trace block's counts must stand still before the sealer
    /// builds its filter.
    pub block_settle: std::time::Duration,
    /// Between looks for enough spans to train a first span dictionary,
    /// and between trainings of a better one once there is one.
    pub span_dictionary_poll: std::time::Duration,
    pub span_dictionary_retrain: std::time::Duration,
    /// Upstreams accepted batches are forwarded to (`--forward-otlp`);
    /// empty: nothing goes into the outbox.
    pub forward_destinations: Vec<String>,
    /// The outbox's size limit (`--forward-max-outbox`): past it the oldest
    /// batches are dropped, counted.
    pub forward_max_outbox_bytes: u64,
    /// Test hook: sleep this long before each group, to make the queue fill.
    #[cfg(feature = "test-hooks")]
    pub writer_delay: Duration,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            queue_capacity: 256,
            max_group_spans: 20_000,
            block_settle: block_sealer::SETTLE,
            span_dictionary_poll: dictionary_trainer::POLL,
            span_dictionary_retrain: dictionary_trainer::RETRAIN,
            forward_destinations: Vec::new(),
            forward_max_outbox_bytes: DEFAULT_FORWARD_MAX_OUTBOX,
            #[cfg(feature = "test-hooks")]
            writer_delay: Duration::ZERO,
        }
    }
}

/// Why a write did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the write queue is full")]
    QueueFull,
    #[error("the writer has stopped")]
    WriterGone,
    /// The transaction failed; shared by every command of the group.
    #[error("storing the data failed: {0}")]
    Failed(Arc<StoreError>),
}

impl WriteError {
    /// How `/metrics` counts the items this error turned away.
    pub fn reject_reason(&self) -> RejectReason {
        match self {
            WriteError::QueueFull => RejectReason::QueueFull,
            WriteError::WriterGone | WriteError::Failed(_) => RejectReason::WriteFailed,
        }
    }
}

/// Why a flush could not confirm that everything before it is stored and
/// searchable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FlushError {
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("log indexing failed: {0}")]
    Index(String),
    #[error("the log indexer has stopped")]
    IndexerGone,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, WriteError>>;

pub(crate) enum Command {
    /// Spans, and what of them goes into the forwarding outbox.
    Spans(SpanBatch, Option<Outgoing>, Reply<GroupStats>),
    /// Log records, already encoded for the journal, the exceptions they
    /// carry, and what of them goes into the forwarding outbox.
    Logs(
        Vec<EncodedLog>,
        Vec<ErrorOccurrence>,
        Option<Outgoing>,
        Reply<GroupStats>,
    ),
    /// Metric data points; answered with what became of each.
    Metrics(MetricBatch, Option<Outgoing>, Reply<MetricOutcome>),
    /// An upstream received every outbox row through this id.
    ForwardSent(String, i64, Reply<()>),
    /// Move metric samples whose hour ended (as of this wall time, unix
    /// ms) into chunks. The writer also does it by itself every minute.
    CompactMetrics(i64, Reply<u64>),
    /// Delete journal rows up to this id: the log index has committed them.
    TruncateJournal(i64),
    /// A tiny committed write that proves the database is writable.
    Probe(Reply<()>),
    /// Answered once everything queued before it is committed, with the
    /// outcome of the group that committed it.
    Flush(Reply<()>),
    /// Delete up to `max_traces` traces older than the cutoff, and the
    /// metric chunks, resolved alerts and error counts before it.
    Retain(UnixNanos, usize, Reply<Retained>),
    /// Store trace block filters built by the sealer; answered with the
    /// index and seal id of those still current and stored.
    SealTraceBlocks(Vec<Arc<BlockSeal>>, Reply<Vec<(usize, i64)>>),
    /// Store a span dictionary the trainer built and pack new spans with
    /// it; answered with its id.
    SpanDictionary(Box<Trained>, Reply<i64>),
    /// Give free database pages back to the file system (a bounded step of
    /// `incremental_vacuum`) and truncate the WAL.
    Reclaim(Reply<Reclaimed>),
    /// A change to the alert tables and its audit rows (written only when
    /// it applied); answered with whether it applied.
    Alert(Box<AlertChange>, Vec<AuditEvent>, Reply<bool>),
    /// A user's action on an error group (at the given time) and its audit
    /// rows; answered with whether the group exists.
    ErrorAction(i64, ErrorAction, UnixNanos, Vec<AuditEvent>, Reply<bool>),
    /// A saved or deleted dashboard and its audit rows; answered with
    /// whether its target exists.
    Dashboard(DashboardChange, Vec<AuditEvent>, Reply<bool>),
    /// A change to sessions, keys, the password or the audit log, with
    /// audit rows; answered as `WriteStore::apply_security_change` says.
    Security(SecurityChange, Vec<AuditEvent>, Reply<i64>),
    /// Finish what is queued before it, checkpoint and end the thread.
    Stop,
    /// Test hook: the writer thread panics, to exercise health reporting.
    #[cfg(feature = "test-hooks")]
    Panic,
}

/// State the writer publishes for health checks.
#[derive(Debug)]
pub struct WriterStatus {
    pub thread: Arc<ThreadHealth>,
    /// Unix nanos of the last successful commit (0 = none yet).
    pub last_commit_unix_nano: AtomicI64,
    pub commits: AtomicU64,
    /// The highest log journal id committed so far (0 = none since start);
    /// with the indexer's progress it tells how far indexing is behind.
    pub journaled_through: AtomicI64,
    /// The last commit's error, cleared by the next successful commit.
    pub last_error: Mutex<Option<String>>,
    /// Test hook: while set, the write connection refuses writes,
    /// exercising the real failure path.
    #[cfg(feature = "test-hooks")]
    pub fail_writes: AtomicBool,
}

impl WriterStatus {
    fn new() -> WriterStatus {
        WriterStatus {
            thread: ThreadHealth::new("writer"),
            last_commit_unix_nano: AtomicI64::new(0),
            commits: AtomicU64::new(0),
            journaled_through: AtomicI64::new(0),
            last_error: Mutex::new(None),
            #[cfg(feature = "test-hooks")]
            fail_writes: AtomicBool::new(false),
        }
    }
}

#[derive(Clone)]
pub struct WriterHandle {
    sender: Sender<Command>,
    status: Arc<WriterStatus>,
    metrics: Arc<Metrics>,
}

impl WriterHandle {
    pub fn status(&self) -> &WriterStatus {
        &self.status
    }

    pub fn queue_depth(&self) -> usize {
        self.sender.len()
    }

    pub fn queue_capacity(&self) -> usize {
        self.sender.capacity().unwrap_or(0)
    }

    fn try_submit<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<oneshot::Receiver<Result<T, WriteError>>, WriteError> {
        let (reply, receiver) = oneshot::channel();
        match self.sender.try_send(make(reply)) {
            Ok(()) => {
                self.metrics.queue_depth.set(self.sender.len() as i64);
                Ok(receiver)
            }
            Err(TrySendError::Full(_)) => Err(WriteError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(WriteError::WriterGone),
        }
    }

    /// Queues a batch without blocking; the receiver completes after the
    /// transaction holding it committed (or failed).
    pub fn try_submit_spans(
        &self,
        batch: SpanBatch,
        forward: Option<Outgoing>,
    ) -> Result<oneshot::Receiver<Result<GroupStats, WriteError>>, WriteError> {
        self.try_submit(|reply| Command::Spans(batch, forward, reply))
    }

    /// Journals log records, groups the exceptions they carry and waits
    /// for the commit.
    pub async fn write_logs(
        &self,
        records: Vec<EncodedLog>,
        errors: Vec<ErrorOccurrence>,
        forward: Option<Outgoing>,
    ) -> Result<GroupStats, WriteError> {
        let receiver = self.try_submit(|reply| Command::Logs(records, errors, forward, reply))?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Asks the writer to delete journal rows up to `up_to`. Blocks while
    /// the queue is full (the log indexer calls it from its own thread).
    pub fn truncate_journal(&self, up_to: i64) -> Result<(), WriteError> {
        self.sender
            .send(Command::TruncateJournal(up_to))
            .map_err(|_| WriteError::WriterGone)
    }

    /// Writes metric data points and waits for the commit; the outcome
    /// says which points were refused and why.
    pub async fn write_metrics(
        &self,
        batch: MetricBatch,
        forward: Option<Outgoing>,
    ) -> Result<MetricOutcome, WriteError> {
        let receiver = self.try_submit(|reply| Command::Metrics(batch, forward, reply))?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Moves metric samples whose hour ended before `now_ms` (less the
    /// grace period) into compressed chunks; returns the chunks written.
    pub async fn compact_metrics(&self, now_ms: i64) -> Result<u64, WriteError> {
        let receiver = self.try_submit(|reply| Command::CompactMetrics(now_ms, reply))?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Writes spans (and what of them is forwarded) and waits for the
    /// commit.
    pub async fn write_spans(
        &self,
        batch: SpanBatch,
        forward: Option<Outgoing>,
    ) -> Result<GroupStats, WriteError> {
        let receiver = self.try_submit_spans(batch, forward)?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    pub async fn probe(&self) -> Result<(), WriteError> {
        let receiver = self.try_submit(Command::Probe)?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Waits until everything submitted before it is committed; `Err` if
    /// the group that held it failed.
    pub async fn flush(&self) -> Result<(), WriteError> {
        let receiver = self.try_submit(Command::Flush)?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Deletes up to `max_traces` traces that started before `cutoff`
    /// (and the rest of [`Command::Retain`]).
    pub async fn retain(
        &self,
        cutoff: UnixNanos,
        max_traces: usize,
    ) -> Result<Retained, WriteError> {
        let receiver = self.try_submit(|reply| Command::Retain(cutoff, max_traces, reply))?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Resolves, ignores or reopens an error group and waits for the
    /// commit; `Ok(false)` when there is no such group.
    pub async fn write_error_action(
        &self,
        id: i64,
        action: ErrorAction,
        audit: Vec<AuditEvent>,
    ) -> Result<bool, WriteError> {
        let now = UnixNanos::now();
        let receiver =
            self.try_submit(|reply| Command::ErrorAction(id, action, now, audit, reply))?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Saves or deletes a dashboard and waits for the commit; `Ok(false)`
    /// when the dashboard to delete does not exist.
    pub async fn write_dashboard(
        &self,
        change: DashboardChange,
        audit: Vec<AuditEvent>,
    ) -> Result<bool, WriteError> {
        let receiver = self.try_submit(|reply| Command::Dashboard(change, audit, reply))?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Applies a change to the alert tables and waits for the commit;
    /// `Ok(false)` when its target was gone or in another state.
    pub async fn write_alert(
        &self,
        change: AlertChange,
        audit: Vec<AuditEvent>,
    ) -> Result<bool, WriteError> {
        let receiver = self.try_submit(|reply| Command::Alert(Box::new(change), audit, reply))?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Applies a change to the security tables with its audit rows and
    /// waits for the commit.
    pub async fn write_security(
        &self,
        change: SecurityChange,
        audit: Vec<AuditEvent>,
    ) -> Result<i64, WriteError> {
        let receiver = self.try_submit(|reply| Command::Security(change, audit, reply))?;
        receiver.await.unwrap_or(Err(WriteError::WriterGone))
    }

    /// Like `write_security`, for threads outside the async runtime. Waits
    /// for room in the queue.
    pub fn write_security_blocking(
        &self,
        change: SecurityChange,
        audit: Vec<AuditEvent>,
    ) -> Result<i64, WriteError> {
        let (reply, receiver) = oneshot::channel();
        self.sender
            .send(Command::Security(change, audit, reply))
            .map_err(|_| WriteError::WriterGone)?;
        receiver
            .blocking_recv()
            .unwrap_or(Err(WriteError::WriterGone))
    }

    /// Like `write_alert`, for threads outside the async runtime (the alert
    /// engine, the notifier). Waits for room in the queue.
    pub fn write_alert_blocking(&self, change: AlertChange) -> Result<bool, WriteError> {
        let (reply, receiver) = oneshot::channel();
        self.sender
            .send(Command::Alert(Box::new(change), Vec::new(), reply))
            .map_err(|_| WriteError::WriterGone)?;
        receiver
            .blocking_recv()
            .unwrap_or(Err(WriteError::WriterGone))
    }

    /// Like `retain`, for threads outside the async runtime. Waits for room
    /// in the queue instead of failing when it is full.
    pub fn retain_blocking(
        &self,
        cutoff: UnixNanos,
        max_traces: usize,
    ) -> Result<Retained, WriteError> {
        let (reply, receiver) = oneshot::channel();
        self.sender
            .send(Command::Retain(cutoff, max_traces, reply))
            .map_err(|_| WriteError::WriterGone)?;
        receiver
            .blocking_recv()
            .unwrap_or(Err(WriteError::WriterGone))
    }

    /// Stores trace block filters ([`Command::SealTraceBlocks`]) and waits
    /// for the commit. Waits for room in the queue.
    pub fn seal_trace_blocks_blocking(
        &self,
        seals: Vec<Arc<BlockSeal>>,
    ) -> Result<Vec<(usize, i64)>, WriteError> {
        let (reply, receiver) = oneshot::channel();
        self.sender
            .send(Command::SealTraceBlocks(seals, reply))
            .map_err(|_| WriteError::WriterGone)?;
        receiver
            .blocking_recv()
            .unwrap_or(Err(WriteError::WriterGone))
    }

    /// Stores a span dictionary ([`Command::SpanDictionary`]) and waits for
    /// the commit. Waits for room in the queue.
    pub fn store_span_dictionary_blocking(&self, trained: Trained) -> Result<i64, WriteError> {
        let (reply, receiver) = oneshot::channel();
        self.sender
            .send(Command::SpanDictionary(Box::new(trained), reply))
            .map_err(|_| WriteError::WriterGone)?;
        receiver
            .blocking_recv()
            .unwrap_or(Err(WriteError::WriterGone))
    }

    /// Records that `destination` received every outbox row through
    /// `through` (the forwarder's thread). Waits for room in the queue.
    pub fn forward_sent_blocking(&self, destination: &str, through: i64) -> Result<(), WriteError> {
        let (reply, receiver) = oneshot::channel();
        self.sender
            .send(Command::ForwardSent(
                destination.to_string(),
                through,
                reply,
            ))
            .map_err(|_| WriteError::WriterGone)?;
        receiver
            .blocking_recv()
            .unwrap_or(Err(WriteError::WriterGone))
    }

    /// Runs one [`Command::Reclaim`] step and waits for it.
    pub fn reclaim_blocking(&self) -> Result<Reclaimed, WriteError> {
        let (reply, receiver) = oneshot::channel();
        self.sender
            .send(Command::Reclaim(reply))
            .map_err(|_| WriteError::WriterGone)?;
        receiver
            .blocking_recv()
            .unwrap_or(Err(WriteError::WriterGone))
    }

    /// Asks the writer to finish everything queued so far and stop. Blocks
    /// while the queue is full: at shutdown, waiting is right.
    pub fn stop(&self) {
        let _ = self.sender.send(Command::Stop);
    }

    /// Test hook: make the database refuse (or accept again) writes.
    #[cfg(feature = "test-hooks")]
    pub fn inject_write_failure(&self, on: bool) {
        self.status.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Test hook: make the writer thread panic once it reaches this
    /// command.
    #[cfg(feature = "test-hooks")]
    pub fn inject_panic(&self) -> Result<(), WriteError> {
        self.sender
            .send(Command::Panic)
            .map_err(|_| WriteError::WriterGone)
    }
}

/// Waits until everything written before the call is committed and, for
/// log records, indexed and visible to searches: the writer's flush, then
/// the log indexer's. Tests flush instead of polling.
pub async fn flush(writer: &WriterHandle, indexer: &IndexerHandle) -> Result<(), FlushError> {
    writer.flush().await?;
    let through = writer.status().journaled_through.load(Ordering::SeqCst);
    indexer.flush(through).await
}
