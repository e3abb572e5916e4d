//! The `disk-budget` thread: keeps the data directory within `--max-disk`
//! while ingest goes on, by deleting the oldest data of every signal.
//!
//! Twice a second it measures the directory, counting the database
//! without its free pages (new rows reuse them before the file grows).
//! Above [`HIGH`] of the budget it picks one cutoff time for all signals,
//! a share of the kept time span past the oldest record (the share that should bring use down to
//! [`LOW`], assuming data spread evenly over time), and deletes what is
//! older: traces with their spans, rollups and edges, metric chunks,
//! resolved alerts and error counts through the writer in bounded chunks;
//! log records through the log indexer (whole days between its sessions,
//! the records of the cutoff's day by a delete query, which drops segments
//! left empty). When the files themselves pass [`RECLAIM`] of the budget
//! the writer gives free pages back to the file system (incremental vacuum
//! in bounded steps, the WAL truncated). After either, the thread waits
//! for tantivy's commit and merges before it measures again. Cutoffs only
//! move forward.
//!
//! The headroom between [`HIGH`] and the budget is for what is written
//! while a round runs, the WAL (its checkpoint size is scaled to the
//! budget) and index merges, which write a merged segment before removing
//! its parts.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;

use super::log_indexer::IndexerStatus;
use super::retention::audit_purge;
use super::supervise::{self, ThreadHealth};
use super::WriterHandle;
use crate::model::{format_rfc3339, UnixNanos};
use crate::store::logs::LogIndexes;
use crate::store::sqlite::{read, ReadPool};
use crate::store::usage::UsageCache;
use crate::telemetry::{Metrics, RetentionReason};

/// The smallest `--max-disk` accepted.
pub const MIN_BUDGET: u64 = 32 << 20;
/// Deleting starts when use, plus what is written in the next
/// [`LOOKAHEAD`] at the measured rate, passes this share of the budget…
const HIGH: f64 = 0.80;
/// …and aims to bring it down to this share. Both count the database
/// without its free pages.
const LOW: f64 = 0.60;
/// Free database pages go back to the file system when the directory
/// itself passes this share of the budget.
const RECLAIM: f64 = 0.85;
/// How far ahead the growth rate is projected: about two rounds.
const LOOKAHEAD: Duration = Duration::from_secs(3);
const INTERVAL: Duration = Duration::from_millis(500);
/// After a round, time for the log indexer to commit and merge.
const SETTLE: Duration = Duration::from_secs(1);
/// Traces deleted per writer command.
const CHUNK_TRACES: usize = 500;
/// Reclaim steps per round at most (each returns up to 16 MiB).
const MAX_RECLAIM_STEPS: usize = 64;
/// Audit rows and log lines about deletions: at most one per this.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The WAL checkpoint size, in 4 KiB pages, under a budget: 1/32 of it,
/// and never more than without one.
pub fn wal_pages(budget: u64) -> u32 {
    let pages = budget / 32 / 4096;
    u32::try_from(pages)
        .unwrap_or(u32::MAX)
        .clamp(256, crate::store::sqlite::WAL_AUTOCHECKPOINT_PAGES)
}

/// What the budget thread publishes (stats, metrics, health).
#[derive(Debug)]
pub struct DiskBudgetStatus {
    pub budget: u64,
    /// Bytes used at the last measurement.
    pub used: AtomicU64,
    /// The last cutoff applied (0 before the first deletion).
    pub cutoff: AtomicI64,
    pub last_error: Mutex<Option<String>>,
}

impl DiskBudgetStatus {
    pub fn new(budget: u64) -> Arc<DiskBudgetStatus> {
        Arc::new(DiskBudgetStatus {
            budget,
            used: AtomicU64::new(0),
            cutoff: AtomicI64::new(0),
            last_error: Mutex::new(None),
        })
    }
}

/// The thread's parts; [`DiskBudget::spawn`] starts it.
pub struct DiskBudget {
    pub data_dir: PathBuf,
    pub writer: WriterHandle,
    pub reads: Arc<ReadPool>,
    pub logs: LogIndexes,
    pub indexer: Arc<IndexerStatus>,
    pub usage: Arc<UsageCache>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<DiskBudgetStatus>,
}

/// Deletions since the last report, and the growth rate.
#[derive(Default)]
struct Tally {
    spans: u64,
    metric_chunks: u64,
    rounds: u64,
    /// The last measurement, and bytes per second written (smoothed; only
    /// growth between measurements counts).
    last: Option<(Instant, u64)>,
    growth: f64,
}

impl Tally {
    /// Folds a measurement into the growth rate; returns the rate.
    fn grow(&mut self, used: u64) -> f64 {
        let now = Instant::now();
        if let Some((at, before)) = self.last {
            let seconds = now.duration_since(at).as_secs_f64().max(0.05);
            let rate = used.saturating_sub(before) as f64 / seconds;
            self.growth = if self.growth == 0.0 {
                rate
            } else {
                0.7 * self.growth + 0.3 * rate
            };
        }
        self.last = Some((now, used));
        self.growth
    }
}

impl DiskBudget {
    pub fn spawn(
        self,
        health: &Arc<ThreadHealth>,
        stop: Receiver<()>,
    ) -> std::io::Result<JoinHandle<()>> {
        supervise::spawn(health, move || {
            let mut tally = Tally::default();
            let mut reported = Instant::now();
            let mut pause = INTERVAL;
            loop {
                match stop.recv_timeout(pause) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                pause = match self.round(&mut tally) {
                    Ok(true) => SETTLE,
                    Ok(false) => INTERVAL,
                    Err(message) => {
                        let mut last = self.status.last_error.lock();
                        if last.as_deref() != Some(message.as_str()) {
                            tracing::warn!(error = %message, "the disk budget round failed; retrying");
                        }
                        *last = Some(message);
                        SETTLE
                    }
                };
                if tally.rounds > 0 && reported.elapsed() >= REPORT_EVERY {
                    self.report(&mut tally);
                    reported = Instant::now();
                }
            }
        })
    }

    /// Measures, deletes when over and gives space back when the files
    /// themselves near the budget; true when it did either.
    ///
    /// Deciding on use *without* the database's free pages matters for
    /// speed: new rows reuse freed pages before the file grows, so at a
    /// steady rate the file stays the same size and needs no vacuum, which
    /// would move pages around only for the writer to allocate them again.
    /// The free pages are given back only when the directory itself nears
    /// the budget (another signal needs the room).
    fn round(&self, tally: &mut Tally) -> Result<bool, String> {
        self.usage.refresh(&self.data_dir);
        let total = match self.usage.last().map(|measured| measured.usage) {
            Some(Ok(usage)) => usage.total,
            Some(Err(error)) => return Err(error.to_string()),
            None => return Ok(false),
        };
        self.status.used.store(total, Ordering::SeqCst);
        let free = {
            let conn = self.reads.get().map_err(|error| error.to_string())?;
            read::free_bytes(&conn).map_err(|error| error.to_string())?
        };
        let used = total.saturating_sub(free);
        let budget = self.status.budget as f64;
        let growth = tally.grow(used);
        let projected = used as f64 + growth * LOOKAHEAD.as_secs_f64();
        let mut acted = false;
        if projected > budget * HIGH {
            acted = self.delete_to(projected, used, tally)?;
        }
        if total as f64 > budget * RECLAIM {
            self.reclaim()?;
            acted = true;
        }
        if acted {
            tally.rounds += 1;
        }
        *self.status.last_error.lock() = None;
        Ok(acted)
    }

    /// Gives free pages back to the file system, in bounded steps.
    fn reclaim(&self) -> Result<(), String> {
        for _ in 0..MAX_RECLAIM_STEPS {
            let step = self
                .writer
                .reclaim_blocking()
                .map_err(|error| format!("giving space back failed: {error}"))?;
            if step.free_pages_left == 0 || step.freed_pages == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Picks the cutoff that should bring `projected` use down to [`LOW`]
    /// and deletes what is older; true when the cutoff moved.
    fn delete_to(&self, projected: f64, used: u64, tally: &mut Tally) -> Result<bool, String> {
        let budget = self.status.budget as f64;
        let now = UnixNanos::now();
        let previous = UnixNanos(self.status.cutoff.load(Ordering::SeqCst));
        let Some(oldest) = self.oldest()? else {
            // Nothing left to delete: the space is free pages or the WAL.
            return Ok(false);
        };
        let floor = oldest.max(previous);
        let share = ((projected - budget * LOW) / used.max(1) as f64).clamp(0.02, 0.6);
        let step = (((now.0 - floor.0).max(0)) as f64 * share) as i64;
        let cutoff = UnixNanos((floor.0 + step.max(1_000_000_000)).min(now.0));
        if cutoff <= previous {
            return Ok(false);
        }
        self.delete_before(cutoff, tally)?;
        self.status.cutoff.store(cutoff.0, Ordering::SeqCst);
        self.indexer
            .disk_cutoff
            .fetch_max(cutoff.0, Ordering::SeqCst);
        Ok(true)
    }

    /// The oldest record of any signal.
    fn oldest(&self) -> Result<Option<UnixNanos>, String> {
        let stored = {
            let conn = self.reads.get().map_err(|error| error.to_string())?;
            read::oldest_times(&conn).map_err(|error| error.to_string())?
        };
        let logs = self
            .logs
            .oldest_timestamp()
            .map_err(|error| error.to_string())?;
        Ok([stored.traces, stored.metrics, logs]
            .into_iter()
            .flatten()
            .min())
    }

    fn delete_before(&self, cutoff: UnixNanos, tally: &mut Tally) -> Result<(), String> {
        loop {
            let retained = self
                .writer
                .retain_blocking(cutoff, CHUNK_TRACES)
                .map_err(|error| format!("deleting the oldest data failed: {error}"))?;
            let deleted = &self.metrics.retention_deleted;
            deleted.spans(RetentionReason::Disk, retained.spans);
            deleted.metric_chunks(RetentionReason::Disk, retained.metric_chunks);
            tally.spans += retained.spans;
            tally.metric_chunks += retained.metric_chunks;
            if retained.traces < CHUNK_TRACES as u64 {
                return Ok(());
            }
        }
    }

    fn report(&self, tally: &mut Tally) {
        let cutoff = UnixNanos(self.status.cutoff.load(Ordering::SeqCst));
        let logs = self
            .metrics
            .retention_deleted
            .get("logs", RetentionReason::Disk);
        tracing::info!(
            spans = tally.spans,
            metric_chunks = tally.metric_chunks,
            log_records_total = logs,
            cutoff = %format_rfc3339(cutoff),
            "deleted the oldest data to stay within --max-disk"
        );
        audit_purge(
            &self.writer,
            serde_json::json!({
                "reason": "disk",
                "spans": tally.spans,
                "metric_chunks": tally.metric_chunks,
                "log_records_total": logs,
                "cutoff": format_rfc3339(cutoff),
                "budget_bytes": self.status.budget,
            }),
        );
        *tally = Tally::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_checkpoint_scales_with_the_budget_within_bounds() {
        assert_eq!(wal_pages(64 << 20), 512);
        assert_eq!(wal_pages(MIN_BUDGET), 256);
        assert_eq!(
            wal_pages(1 << 40),
            crate::store::sqlite::WAL_AUTOCHECKPOINT_PAGES
        );
    }
}
