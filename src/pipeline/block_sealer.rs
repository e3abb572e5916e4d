//! The `block-sealer` thread: builds the filters of trace blocks
//! (`store::sqlite::trace_blocks`) on a read connection, off the writer,
//! and hands them to the writer to store.
//!
//! A complete block gets a filter once its trace and span counts held for
//! one pass, kept in memory (provisional: searches use it while the
//! block's counts are still the ones it was built from), and is sealed,
//! the filter stored, once the counts have stood still for [`SETTLE`]:
//! spans of a trace usually arrive within seconds, so a stored filter
//! rarely has to be dropped again. Databases written
//! before blocks existed get their filters the same way, newest first, a
//! bounded amount of work per pass. At start it loads the newest filters
//! into the searches' cache.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::supervise::{self, ThreadHealth};
use super::WriterHandle;
use crate::store::sqlite::trace_blocks::{self, BlockCounts, BlockSeal, FilterCache};
use crate::store::sqlite::ReadPool;
use crate::telemetry::Metrics;

/// Time between passes.
const INTERVAL: Duration = Duration::from_millis(500);
/// How long a block's counts must stand still before it is sealed.
pub const SETTLE: Duration = Duration::from_secs(5);
/// Complete unsealed blocks looked at per pass, newest first.
const SCAN_BLOCKS: usize = 4096;
/// Time a pass may spend reading and building before it hands over what
/// it has (a backfill of an old database runs at a fraction of a core).
const PASS_BUDGET: Duration = Duration::from_millis(200);

pub struct BlockSealer {
    pub writer: WriterHandle,
    pub reads: Arc<ReadPool>,
    /// The searches' filter cache, primed at start.
    pub cache: Arc<FilterCache>,
    pub metrics: Arc<Metrics>,
    /// Counts must stand still this long (`SETTLE`; shorter in tests).
    pub settle: Duration,
}

/// A block's counts when they were first seen at these values, and the
/// filter built once they held for a pass.
struct Watch {
    counts: BlockCounts,
    since: Instant,
    seal: Option<Arc<BlockSeal>>,
}

impl BlockSealer {
    /// Starts the thread; it runs a pass every second until `stop` is
    /// dropped or receives a message.
    pub fn spawn(
        self,
        health: &Arc<ThreadHealth>,
        stop: Receiver<()>,
    ) -> std::io::Result<JoinHandle<()>> {
        supervise::spawn(health, move || {
            if let Err(error) = self.prime() {
                tracing::warn!(%error, "loading trace block filters for searches failed");
            }
            let mut watched = HashMap::new();
            loop {
                if let Err(error) = self.pass(&mut watched) {
                    self.metrics.trace_block_failures.inc();
                    tracing::warn!(%error, "sealing trace blocks failed; retrying");
                }
                match stop.recv_timeout(INTERVAL) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })
    }

    /// Loads the newest blocks' filters into the searches' cache, so the
    /// first searches after a start do not read them.
    fn prime(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let conn = self.reads.get()?;
        let mut sealed = trace_blocks::all_sealed(&conn)?;
        sealed.sort_unstable_by_key(|block| std::cmp::Reverse(block.range.max_start));
        let loaded = self.cache.prime(&conn, &sealed)?;
        if loaded > 0 {
            tracing::info!(
                blocks = loaded,
                took_ms = started.elapsed().as_millis() as u64,
                "trace block filters loaded for searches"
            );
        }
        Ok(())
    }

    fn pass(&self, watched: &mut HashMap<i64, Watch>) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut seals = Vec::new();
        let pending_count;
        {
            let conn = self.reads.get()?;
            let pending = trace_blocks::unsealed_complete_blocks(&conn, SCAN_BLOCKS)?;
            pending_count = pending.len() as u64;
            self.metrics.trace_blocks_pending.set(pending_count as i64);
            let pending_set: HashSet<i64> = pending.iter().copied().collect();
            watched.retain(|block, _| pending_set.contains(block));
            for block in pending {
                if started.elapsed() > PASS_BUDGET {
                    break;
                }
                let counts = trace_blocks::block_counts(&conn, block)?;
                let watch = match watched.get_mut(&block) {
                    Some(watch) if watch.counts == counts => watch,
                    _ => {
                        // New or changed: wait for a pass without change
                        // (spans of one trace often come in several
                        // batches) before building.
                        watched.insert(
                            block,
                            Watch {
                                counts,
                                since: Instant::now(),
                                seal: None,
                            },
                        );
                        continue;
                    }
                };
                let seal = match &watch.seal {
                    Some(seal) => Arc::clone(seal),
                    None => match trace_blocks::build_seal(&conn, block) {
                        // A provisional filter for searches now, the stored
                        // one once the counts have stood still long enough.
                        Ok(seal) => {
                            let seal = Arc::new(seal);
                            self.cache.set_provisional(Arc::clone(&seal));
                            watch.seal = Some(Arc::clone(&seal));
                            seal
                        }
                        Err(error) => {
                            // One bad block must not stop the others.
                            self.metrics.trace_block_failures.inc();
                            tracing::warn!(block, %error, "cannot build a trace block filter");
                            watched.remove(&block);
                            continue;
                        }
                    },
                };
                if watch.since.elapsed() >= self.settle {
                    seals.push(seal);
                }
            }
            self.cache.retain_provisional(&pending_set);
        }
        if seals.is_empty() {
            return Ok(());
        }
        for seal in &seals {
            watched.remove(&seal.block);
        }
        let stored = self
            .writer
            .seal_trace_blocks_blocking(seals.iter().map(Arc::clone).collect())?;
        // Searches find the new filters without reading them back.
        for &(index, id) in &stored {
            self.cache.insert(id, Arc::clone(&seals[index].built));
        }
        let stored = stored.len() as u64;
        self.metrics.trace_blocks_sealed.add(stored);
        self.metrics
            .trace_blocks_pending
            .set(pending_count.saturating_sub(stored) as i64);
        Ok(())
    }
}
