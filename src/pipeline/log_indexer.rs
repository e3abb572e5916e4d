//! The `log-indexer` thread: moves journal rows, in id order, into the
//! tantivy day indexes and commits them every refresh interval with the
//! highest journal id as the commit payload; then asks the writer to
//! truncate the journal up to that id.
//!
//! On start it replays the journal above the smallest day payload; records
//! a day already holds are skipped, so every record is indexed exactly once
//! across crashes. A record becomes searchable at most one refresh
//! interval (plus one indexing pass) after its commit.

#[cfg(feature = "test-hooks")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::retention::audit_purge;
use super::supervise::{self, ThreadHealth};
use super::tail::TailHub;
use super::{FlushError, WriterHandle};
use crate::model::{format_rfc3339, UnixNanos};
use crate::store::log_codec;
use crate::store::logs::{AddOutcome, LogIndexError, LogIndexWriter, LogIndexes};
use crate::store::sqlite::{read, ReadPool, StoreError};
use crate::telemetry::{Metrics, RejectReason, RetentionReason};

/// Journal rows read per pass.
const READ_CHUNK: usize = 10_000;
/// Commit early once this many records wait, whatever the interval.
const MAX_UNCOMMITTED: usize = 200_000;
/// Fewest records a commit must cover to update the capacity estimate.
const MIN_CAPACITY_SAMPLE: usize = 1_000;
/// Indexing speed assumed before one is measured, records/s: about what
/// a debug build manages, so admission is cautious rather than blind.
const ASSUMED_CAPACITY: u64 = 10_000;
/// How often expired day indexes are looked for.
const RETENTION_INTERVAL: Duration = Duration::from_secs(60);
/// Pause before rebuilding the index writer after a failure.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What the indexer publishes for health checks and metrics.
#[derive(Debug)]
pub struct IndexerStatus {
    pub thread: Arc<ThreadHealth>,
    /// Every journal row up to this id is committed in the indexes.
    pub indexed_through: AtomicI64,
    /// Every journal row up to this id has been handed to the index
    /// writer: searchable at its next commit.
    pub offered_through: AtomicI64,
    /// Measured indexing speed: records per second of the indexer's busy
    /// time (reading, indexing, committing), smoothed; 0 until measured.
    pub capacity: AtomicU64,
    pub last_commit_unix_nano: AtomicI64,
    /// The last failure, cleared by the next successful commit.
    pub last_error: Mutex<Option<String>>,
    /// Backups in progress: while any runs, the journal is not truncated,
    /// so the database copy still holds every record the copied indexes
    /// lack.
    journal_holds: AtomicUsize,
    /// Log records timestamped before this may go to stay within
    /// `--max-disk` (0: none); set by the disk budget, applied by the
    /// indexer, which owns the index writer.
    pub disk_cutoff: AtomicI64,
    /// Test hook: while set, the indexer takes nothing from the journal,
    /// as if indexing had stalled.
    #[cfg(feature = "test-hooks")]
    pub paused: AtomicBool,
}

impl Default for IndexerStatus {
    fn default() -> Self {
        IndexerStatus {
            thread: ThreadHealth::new("log-indexer"),
            indexed_through: AtomicI64::new(0),
            offered_through: AtomicI64::new(0),
            capacity: AtomicU64::new(0),
            last_commit_unix_nano: AtomicI64::new(0),
            last_error: Mutex::new(None),
            journal_holds: AtomicUsize::new(0),
            disk_cutoff: AtomicI64::new(0),
            #[cfg(feature = "test-hooks")]
            paused: AtomicBool::new(false),
        }
    }
}

/// Journal truncation held while this lives ([`IndexerStatus::hold_journal`]).
pub struct JournalHold(Arc<IndexerStatus>);

impl Drop for JournalHold {
    fn drop(&mut self) {
        self.0.journal_holds.fetch_sub(1, Ordering::SeqCst);
    }
}

impl IndexerStatus {
    /// Stops journal truncation until the guard is dropped. A truncation
    /// already on its way covers only records committed before this call,
    /// which any index state read afterwards holds.
    pub fn hold_journal(self: &Arc<Self>) -> JournalHold {
        self.journal_holds.fetch_add(1, Ordering::SeqCst);
        JournalHold(Arc::clone(self))
    }

    fn journal_held(&self) -> bool {
        self.journal_holds.load(Ordering::SeqCst) > 0
    }
}

/// A request to index and commit every journal row up to `through` now,
/// without waiting for the refresh interval, and reload the searchers.
struct FlushRequest {
    through: i64,
    reply: oneshot::Sender<Result<(), FlushError>>,
}

/// Asks the log indexer to make what is journaled searchable now.
#[derive(Clone)]
pub struct IndexerHandle {
    flushes: Sender<FlushRequest>,
}

impl IndexerHandle {
    /// Returns once every journal row up to `through` is committed to the
    /// log index and visible to searches.
    pub async fn flush(&self, through: i64) -> Result<(), FlushError> {
        let (reply, receiver) = oneshot::channel();
        self.flushes
            .send(FlushRequest { through, reply })
            .map_err(|_| FlushError::IndexerGone)?;
        receiver.await.unwrap_or(Err(FlushError::IndexerGone))
    }
}

#[derive(Debug, thiserror::Error)]
enum IndexerError {
    #[error("{0}")]
    Index(#[from] LogIndexError),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A flush found journal rows it could not take (indexing is paused).
    #[error("indexing has reached journal id {offered}, not {through}")]
    Behind { offered: i64, through: i64 },
}

/// Why log ingest turns records away for now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexBehind {
    /// Journaled records not yet handed to the index writer.
    pub records: i64,
    /// About how long a record journaled now would take to be searchable.
    pub seconds: f64,
}

impl IndexerStatus {
    /// Admission control for log ingest: `Err` when records journaled now
    /// would not be searchable within `max_lag` (0 = no bound), given the
    /// backlog, the measured indexing speed and the commit interval.
    /// Refusing them (503 + Retry-After) makes senders slow down to what
    /// indexing sustains, instead of letting the lag grow without bound.
    pub fn admit(
        &self,
        journaled_through: i64,
        max_lag: Duration,
        refresh: Duration,
    ) -> Result<(), IndexBehind> {
        if max_lag.is_zero() || !self.thread.is_alive() {
            return Ok(());
        }
        let backlog = journaled_through
            .saturating_sub(self.offered_through.load(Ordering::SeqCst))
            .max(0);
        let capacity = self.capacity.load(Ordering::SeqCst).max(ASSUMED_CAPACITY);
        let wait = backlog as f64 / capacity as f64;
        if wait > max_lag.saturating_sub(refresh).as_secs_f64() {
            return Err(IndexBehind {
                records: backlog,
                seconds: wait + refresh.as_secs_f64(),
            });
        }
        Ok(())
    }

    /// Folds one measurement into the capacity estimate.
    fn observe_capacity(&self, records: usize, busy: Duration) {
        let sample = records as f64 / busy.as_secs_f64().max(1e-6);
        let previous = self.capacity.load(Ordering::SeqCst) as f64;
        let smoothed = if previous == 0.0 {
            sample
        } else {
            0.5 * previous + 0.5 * sample
        };
        self.capacity.store(smoothed as u64, Ordering::SeqCst);
    }
}

/// How long the indexer may sleep (woken early by new journal rows) after
/// a pass: not at all while rows remain (the writer only wakes it for new
/// ones, and a backlog left when ingest stops would otherwise wait a
/// refresh per pass); until the next commit is due while records wait for
/// one; otherwise a refresh interval.
fn idle_wait(
    drained: bool,
    uncommitted: usize,
    since_commit: Duration,
    refresh: Duration,
) -> Option<Duration> {
    if !drained {
        return None;
    }
    let wait = if uncommitted > 0 {
        refresh.saturating_sub(since_commit)
    } else {
        refresh
    };
    Some(wait.max(Duration::from_millis(1)))
}

/// The log indexer's parts; [`LogIndexer::spawn`] starts its thread.
pub struct LogIndexer {
    pub indexes: LogIndexes,
    pub reads: Arc<ReadPool>,
    pub writer: WriterHandle,
    /// Woken by the writer after commits that journaled records;
    /// disconnected when the writer stops.
    pub notify: Receiver<()>,
    pub refresh: Duration,
    pub metrics: Arc<Metrics>,
    pub status: Arc<IndexerStatus>,
    pub tail: Arc<TailHub>,
    /// Day indexes that ended longer ago than this are deleted.
    pub retention: Duration,
}

impl LogIndexer {
    /// Starts the `log-indexer` thread. It ends when `notify` is
    /// disconnected (the writer has stopped), after indexing and committing
    /// what the journal holds.
    pub fn spawn(self) -> std::io::Result<(IndexerHandle, JoinHandle<()>)> {
        let (flushes, requests) = crossbeam_channel::unbounded();
        let health = Arc::clone(&self.status.thread);
        let mut running = Running {
            parts: self,
            flushes: requests,
        };
        let thread = supervise::spawn(&health, move || running.run())?;
        Ok((IndexerHandle { flushes }, thread))
    }
}

/// The indexer's thread state: its parts and the flush requests.
struct Running {
    parts: LogIndexer,
    flushes: Receiver<FlushRequest>,
}

impl std::ops::Deref for Running {
    type Target = LogIndexer;
    fn deref(&self) -> &LogIndexer {
        &self.parts
    }
}

/// What woke the indexer.
enum Wake {
    /// New journal rows, or the wait ran out.
    Work,
    Flush(FlushRequest),
    /// The writer has stopped.
    WriterGone,
}

/// One life of the index writer: rebuilt from the payloads after a failure.
struct Session {
    index_writer: LogIndexWriter,
    /// The last journal id offered to the index writer.
    offered_through: i64,
    last_commit: Instant,
    /// When this session ends to let retention drop expired days.
    retention_due: Instant,
    /// The disk cutoff already applied within the current day.
    disk_applied: i64,
    /// Records and busy time not yet folded into the capacity estimate.
    sample_records: usize,
    sample_busy: Duration,
}

/// Why a session ended without an error.
enum SessionEnd {
    /// The writer stopped: everything is indexed and committed.
    WriterStopped,
    /// Time to apply retention, which needs the index writer closed.
    Retention,
}

impl Running {
    fn run(&mut self) {
        self.apply_retention();
        loop {
            let mut session = match self.start_session() {
                Ok(session) => session,
                Err(error) => {
                    self.fail(&error);
                    if self.wait(RETRY_PAUSE) {
                        continue;
                    }
                    return;
                }
            };
            match self.serve(&mut session) {
                Ok(SessionEnd::WriterStopped) => return,
                Ok(SessionEnd::Retention) => {
                    drop(session);
                    self.apply_retention();
                }
                Err(error) => {
                    self.fail(&error);
                    drop(session);
                    if !self.wait(RETRY_PAUSE) {
                        return;
                    }
                }
            }
        }
    }

    /// Deletes whole day indexes older than the retention period. Runs
    /// between sessions, when no index writer is open.
    fn apply_retention(&self) {
        let age = i64::try_from(self.retention.as_nanos()).unwrap_or(i64::MAX);
        let by_age = UnixNanos(UnixNanos::now().0.saturating_sub(age));
        let by_disk = UnixNanos(self.status.disk_cutoff.load(Ordering::SeqCst));
        let (cutoff, reason) = if by_disk > by_age {
            (by_disk, RetentionReason::Disk)
        } else {
            (by_age, RetentionReason::Age)
        };
        // Counted before they go; a count that fails only leaves the
        // counter short.
        let records: u64 = self
            .indexes
            .days()
            .into_iter()
            .filter(|day| day.end() <= cutoff)
            .map(|day| self.indexes.count_day(day).unwrap_or(0))
            .sum();
        match self.indexes.drop_days_ending_by(cutoff) {
            Ok(days) if !days.is_empty() => {
                self.metrics.retention_deleted.logs(reason, records);
                let names: Vec<String> = days.iter().map(|day| day.dir_name()).collect();
                match reason {
                    RetentionReason::Age => {
                        tracing::info!(days = ?names, "deleted log indexes past the retention period");
                        // The disk budget audits its own deletions, these
                        // included, once per pass.
                        audit_purge(
                            &self.writer,
                            serde_json::json!({
                                "reason": "age",
                                "log_days": names,
                                "log_records": records,
                                "cutoff": format_rfc3339(cutoff),
                            }),
                        );
                    }
                    RetentionReason::Disk => {
                        tracing::info!(days = ?names, "deleted the oldest log indexes to stay within --max-disk")
                    }
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "log retention failed; retrying next interval"),
        }
    }

    /// Waits up to `pause` for new rows or a flush request.
    fn next_wake(&self, pause: Duration) -> Wake {
        crossbeam_channel::select! {
            recv(self.notify) -> message => match message {
                Ok(()) => Wake::Work,
                Err(_) => Wake::WriterGone,
            },
            recv(self.flushes) -> request => match request {
                Ok(request) => Wake::Flush(request),
                // Unreachable while `self` holds the handle's peer; treat
                // it as an ordinary wake.
                Err(_) => Wake::Work,
            },
            default(pause) => Wake::Work,
        }
    }

    /// Waits up to `pause` while the index writer cannot be used; flush
    /// requests meanwhile are answered with the failure. False once the
    /// writer is gone.
    fn wait(&self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        loop {
            match self.next_wake(until.saturating_duration_since(Instant::now())) {
                Wake::WriterGone => return false,
                Wake::Flush(request) => {
                    let message = self
                        .status
                        .last_error
                        .lock()
                        .clone()
                        .unwrap_or_else(|| "the log index writer is unavailable".into());
                    let _ = request.reply.send(Err(FlushError::Index(message)));
                }
                Wake::Work if Instant::now() >= until => return true,
                Wake::Work => {}
            }
        }
    }

    fn fail(&self, error: &IndexerError) {
        let message = error.to_string();
        let mut last_error = self.status.last_error.lock();
        if last_error.as_deref() != Some(message.as_str()) {
            tracing::error!(error = %message, "log indexing failed; retrying from the journal");
        }
        *last_error = Some(message);
    }

    fn start_session(&self) -> Result<Session, IndexerError> {
        let index_writer = self.indexes.writer()?;
        let replay_from = i64::try_from(self.indexes.replay_from()?).unwrap_or(i64::MAX);
        self.status
            .indexed_through
            .fetch_max(replay_from, Ordering::SeqCst);
        self.status
            .offered_through
            .fetch_max(replay_from, Ordering::SeqCst);
        Ok(Session {
            index_writer,
            offered_through: replay_from,
            // Commit the first records as soon as they are added.
            last_commit: Instant::now() - self.refresh,
            retention_due: Instant::now() + RETENTION_INTERVAL,
            disk_applied: 0,
            sample_records: 0,
            sample_busy: Duration::ZERO,
        })
    }

    fn serve(&self, session: &mut Session) -> Result<SessionEnd, IndexerError> {
        loop {
            let began = Instant::now();
            let drained = self.index_pending(session)?;
            session.sample_busy += began.elapsed();
            if Instant::now() >= session.retention_due {
                self.commit(session)?;
                return Ok(SessionEnd::Retention);
            }
            let disk_cutoff = self.status.disk_cutoff.load(Ordering::SeqCst);
            if disk_cutoff > session.disk_applied {
                session.disk_applied = disk_cutoff;
                let cutoff = UnixNanos(disk_cutoff);
                // Whole days before the cutoff go between sessions.
                if self
                    .indexes
                    .days()
                    .first()
                    .is_some_and(|day| day.end() <= cutoff)
                {
                    self.commit(session)?;
                    return Ok(SessionEnd::Retention);
                }
                let deleted = session.index_writer.delete_before(cutoff)?;
                self.metrics
                    .retention_deleted
                    .logs(RetentionReason::Disk, deleted);
                self.commit(session)?;
            }
            if self.commit_due(session) {
                self.commit(session)?;
            }
            self.settle_replayed(session);
            let Some(timeout) = idle_wait(
                drained,
                session.index_writer.uncommitted(),
                session.last_commit.elapsed(),
                self.refresh,
            ) else {
                continue;
            };
            match self.next_wake(timeout) {
                Wake::Work => {}
                Wake::Flush(request) => {
                    let result = self.flush(session, request.through);
                    let answer = match &result {
                        Ok(()) => Ok(()),
                        Err(error) => Err(FlushError::Index(error.to_string())),
                    };
                    let _ = request.reply.send(answer);
                    result?;
                }
                Wake::WriterGone => {
                    // The writer has stopped: index and commit what is left.
                    self.drain_and_commit(session)?;
                    return Ok(SessionEnd::WriterStopped);
                }
            }
        }
    }

    /// Journal rows replayed after a restart that their day already held
    /// (the last commit before a shutdown cannot truncate the journal: the
    /// writer has stopped) are searchable: with nothing added since the
    /// last commit, everything offered is. Says so and lets the journal go
    /// of them; without this an idle server reports them as index lag, and
    /// keeps and rereads them at every start, until the next record comes.
    fn settle_replayed(&self, session: &Session) {
        if session.index_writer.uncommitted() > 0 {
            return;
        }
        let through = session.offered_through;
        let before = self
            .status
            .indexed_through
            .fetch_max(through, Ordering::SeqCst);
        if before < through && !self.status.journal_held() {
            let _ = self.writer.truncate_journal(through);
        }
    }

    /// Indexes every journal row there is and commits, due or not.
    fn drain_and_commit(&self, session: &mut Session) -> Result<(), IndexerError> {
        while !self.index_pending(session)? {
            if self.commit_due(session) {
                self.commit(session)?;
            }
        }
        self.commit(session)
    }

    /// Makes every journal row up to `through` committed and searchable.
    fn flush(&self, session: &mut Session, through: i64) -> Result<(), IndexerError> {
        self.drain_and_commit(session)?;
        if session.offered_through < through {
            return Err(IndexerError::Behind {
                offered: session.offered_through,
                through,
            });
        }
        Ok(())
    }

    /// Adds journal rows above what was offered, in id order, until none
    /// are left (returns true) or a commit is due (returns false).
    fn index_pending(&self, session: &mut Session) -> Result<bool, IndexerError> {
        #[cfg(feature = "test-hooks")]
        if self.status.paused.load(Ordering::SeqCst) {
            return Ok(true);
        }
        loop {
            let rows = {
                let conn = self.reads.get()?;
                read::read_journal(&conn, session.offered_through, READ_CHUNK)?
            };
            let count = rows.len();
            for (id, blob) in rows {
                let journal_id = u64::try_from(id).unwrap_or(0);
                match log_codec::decode_record(&blob) {
                    Ok(record) => {
                        if session
                            .index_writer
                            .add_encoded(journal_id, &record, &blob)?
                            == AddOutcome::Added
                        {
                            self.metrics.indexed_logs.inc();
                            self.tail.publish(journal_id, &record);
                        }
                    }
                    // A record that cannot be decoded can never be indexed;
                    // skipping it (loudly) keeps the rest flowing.
                    Err(error) => {
                        self.metrics.reject(RejectReason::CorruptJournalRecord, 1);
                        tracing::error!(journal_id = id, %error, "skipping undecodable journal record");
                    }
                }
                session.offered_through = id;
            }
            self.status
                .offered_through
                .store(session.offered_through, Ordering::SeqCst);
            // Return when a commit is due, so that it happens on time even
            // while the journal keeps growing.
            if count < READ_CHUNK {
                return Ok(true);
            }
            if self.commit_due(session) {
                return Ok(false);
            }
        }
    }

    /// Records wait and the refresh interval has passed, or many wait.
    fn commit_due(&self, session: &Session) -> bool {
        let waiting = session.index_writer.uncommitted();
        waiting >= MAX_UNCOMMITTED || (waiting > 0 && session.last_commit.elapsed() >= self.refresh)
    }

    fn commit(&self, session: &mut Session) -> Result<(), IndexerError> {
        let started = Instant::now();
        let records = session.index_writer.uncommitted();
        let watermark = session.index_writer.commit()?;
        session.last_commit = Instant::now();
        let took = started.elapsed();
        self.metrics
            .index_commit_seconds
            .observe(took.as_secs_f64());
        session.sample_records += records;
        session.sample_busy += took;
        if session.sample_records >= MIN_CAPACITY_SAMPLE {
            self.status
                .observe_capacity(session.sample_records, session.sample_busy);
            session.sample_records = 0;
            session.sample_busy = Duration::ZERO;
        }
        let Some(watermark) = watermark else {
            return Ok(());
        };
        let watermark = i64::try_from(watermark).unwrap_or(i64::MAX);
        self.status
            .indexed_through
            .store(watermark, Ordering::SeqCst);
        self.status
            .last_commit_unix_nano
            .store(UnixNanos::now().0, Ordering::SeqCst);
        if self.status.last_error.lock().take().is_some() {
            tracing::info!("log indexing recovered");
        }
        // If the writer is gone (shutdown) or a backup holds the journal,
        // the rows stay in the journal and the next start skips them by
        // their day's payload; a later commit truncates them.
        if !self.status.journal_held() {
            let _ = self.writer.truncate_journal(watermark);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn status(offered_through: i64, capacity: u64) -> IndexerStatus {
        let status = IndexerStatus::default();
        status.thread.mark_alive_for_test(true);
        status
            .offered_through
            .store(offered_through, Ordering::SeqCst);
        status.capacity.store(capacity, Ordering::SeqCst);
        status
    }

    #[test]
    fn admission_refuses_once_the_backlog_outlasts_the_bound() {
        // 50k records/s, 2 s bound, 1 s refresh: one second of backlog fits.
        let indexer = status(1_000, 50_000);
        assert_eq!(indexer.admit(51_000, 2 * SECOND, SECOND), Ok(()));
        let behind = indexer
            .admit(76_000, 2 * SECOND, SECOND)
            .expect_err("1.5 s of backlog");
        assert_eq!(behind.records, 75_000);
        assert!((behind.seconds - 2.5).abs() < 1e-9, "{behind:?}");
    }

    #[test]
    fn admission_assumes_a_modest_speed_until_one_is_measured() {
        let indexer = status(0, 0);
        assert_eq!(indexer.admit(10_000, 2 * SECOND, SECOND), Ok(()));
        assert!(indexer.admit(10_001, 2 * SECOND, SECOND).is_err());
    }

    #[test]
    fn admission_is_off_without_a_bound_or_without_an_indexer() {
        let indexer = status(0, 1);
        assert_eq!(indexer.admit(i64::MAX, Duration::ZERO, SECOND), Ok(()));
        indexer.thread.mark_alive_for_test(false);
        assert_eq!(indexer.admit(i64::MAX, 2 * SECOND, SECOND), Ok(()));
    }

    #[test]
    fn the_indexer_sleeps_only_when_the_journal_is_drained() {
        let refresh = SECOND;
        // A pass that stopped for a commit with rows left goes on at once.
        assert_eq!(idle_wait(false, 0, Duration::ZERO, refresh), None);
        assert_eq!(idle_wait(false, 5, 2 * SECOND, refresh), None);
        // Drained: sleep until the pending commit is due, or a refresh.
        assert_eq!(
            idle_wait(true, 5, Duration::from_millis(300), refresh),
            Some(Duration::from_millis(700))
        );
        assert_eq!(idle_wait(true, 0, Duration::ZERO, refresh), Some(refresh));
        assert_eq!(
            idle_wait(true, 5, 2 * SECOND, refresh),
            Some(Duration::from_millis(1))
        );
    }

    #[test]
    fn capacity_is_smoothed_over_commits() {
        let indexer = status(0, 0);
        indexer.observe_capacity(10_000, SECOND);
        assert_eq!(indexer.capacity.load(Ordering::SeqCst), 10_000);
        indexer.observe_capacity(30_000, SECOND);
        assert_eq!(indexer.capacity.load(Ordering::SeqCst), 20_000);
    }
}
