//! The `log-indexer` thread: moves journal rows, in id order, into the
//! tantivy day indexes and commits them every refresh interval with the
//! highest journal id as the commit payload; then asks the writer to
//! truncate the journal up to that id.
//!
//! On start it replays the journal above the smallest day payload; records
//! a day already holds are skipped, so every record is indexed exactly once
//! across crashes. A record becomes searchable at most one refresh
//! interval (plus one indexing pass) after its commit.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;

use super::tail::TailHub;
use super::WriterHandle;
use crate::model::UnixNanos;
use crate::store::logs::{AddOutcome, LogIndexError, LogIndexWriter, LogIndexes};
use crate::store::sqlite::{journal, read, ReadPool, StoreError};
use crate::telemetry::Metrics;

/// Journal rows read per pass.
const READ_CHUNK: usize = 10_000;
/// Commit early once this many records wait, whatever the interval.
const MAX_UNCOMMITTED: usize = 200_000;
/// How often expired day indexes are looked for.
const RETENTION_INTERVAL: Duration = Duration::from_secs(60);
/// Pause before rebuilding the index writer after a failure.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// What the indexer publishes for health checks and metrics.
#[derive(Debug, Default)]
pub struct IndexerStatus {
    pub alive: AtomicBool,
    /// Every journal row up to this id is committed in the indexes.
    pub indexed_through: AtomicI64,
    pub last_commit_unix_nano: AtomicI64,
    /// The last failure, cleared by the next successful commit.
    pub last_error: Mutex<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
enum IndexerError {
    #[error("{0}")]
    Index(#[from] LogIndexError),
    #[error("{0}")]
    Store(#[from] StoreError),
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
    pub fn spawn(mut self) -> std::io::Result<JoinHandle<()>> {
        self.status.alive.store(true, Ordering::SeqCst);
        std::thread::Builder::new()
            .name("log-indexer".into())
            .spawn(move || {
                self.run();
                self.status.alive.store(false, Ordering::SeqCst);
            })
    }
}

/// One life of the index writer: rebuilt from the payloads after a failure.
struct Session {
    index_writer: LogIndexWriter,
    /// The last journal id offered to the index writer.
    offered_through: i64,
    last_commit: Instant,
    /// When this session ends to let retention drop expired days.
    retention_due: Instant,
}

/// Why a session ended without an error.
enum SessionEnd {
    /// The writer stopped: everything is indexed and committed.
    WriterStopped,
    /// Time to apply retention, which needs the index writer closed.
    Retention,
}

impl LogIndexer {
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
        let cutoff = UnixNanos(UnixNanos::now().0.saturating_sub(age));
        match self.indexes.drop_days_ending_by(cutoff) {
            Ok(days) if !days.is_empty() => {
                let names: Vec<String> = days.iter().map(|day| day.dir_name()).collect();
                tracing::info!(days = ?names, "deleted log indexes past the retention period");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "log retention failed; retrying next interval"),
        }
    }

    /// Waits up to `pause`; false once the writer is gone.
    fn wait(&self, pause: Duration) -> bool {
        !matches!(
            self.notify.recv_timeout(pause),
            Err(RecvTimeoutError::Disconnected)
        )
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
        Ok(Session {
            index_writer,
            offered_through: replay_from,
            // Commit the first records as soon as they are added.
            last_commit: Instant::now() - self.refresh,
            retention_due: Instant::now() + RETENTION_INTERVAL,
        })
    }

    fn serve(&self, session: &mut Session) -> Result<SessionEnd, IndexerError> {
        loop {
            self.index_pending(session)?;
            if Instant::now() >= session.retention_due {
                self.commit(session)?;
                return Ok(SessionEnd::Retention);
            }
            let waiting = session.index_writer.uncommitted() > 0;
            if waiting && session.last_commit.elapsed() >= self.refresh {
                self.commit(session)?;
            }
            let timeout = if session.index_writer.uncommitted() > 0 {
                self.refresh.saturating_sub(session.last_commit.elapsed())
            } else {
                self.refresh
            };
            match self
                .notify
                .recv_timeout(timeout.max(Duration::from_millis(1)))
            {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // The writer has stopped: index and commit what is left.
                    self.index_pending(session)?;
                    self.commit(session)?;
                    return Ok(SessionEnd::WriterStopped);
                }
            }
        }
    }

    /// Adds every journal row above what was offered, in id order.
    fn index_pending(&self, session: &mut Session) -> Result<(), IndexerError> {
        loop {
            let rows = {
                let conn = self.reads.get()?;
                read::read_journal(&conn, session.offered_through, READ_CHUNK)?
            };
            let count = rows.len();
            for (id, blob) in rows {
                let journal_id = u64::try_from(id).unwrap_or(0);
                match journal::decode_record(&blob) {
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
                        self.metrics.reject("corrupt_journal_record", 1);
                        tracing::error!(journal_id = id, %error, "skipping undecodable journal record");
                    }
                }
                session.offered_through = id;
            }
            if session.index_writer.uncommitted() >= MAX_UNCOMMITTED {
                self.commit(session)?;
            }
            if count < READ_CHUNK {
                return Ok(());
            }
        }
    }

    fn commit(&self, session: &mut Session) -> Result<(), IndexerError> {
        let started = Instant::now();
        let watermark = session.index_writer.commit()?;
        session.last_commit = Instant::now();
        self.metrics
            .index_commit_seconds
            .observe(started.elapsed().as_secs_f64());
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
        // If the writer is gone (shutdown), the rows stay in the journal and
        // the next start skips them by their day's payload.
        let _ = self.writer.truncate_journal(watermark);
        Ok(())
    }
}
