//! The log index writer: takes journal records in id order, routes each to
//! its day's index, and commits all touched days with the highest journal
//! id seen as the commit payload.
//!
//! It is meant to live on one dedicated thread (the log indexer), which
//! decides when to commit (every refresh interval, or after many records:
//! each commit costs tenths of a second, so committing per batch would cap
//! throughput).
//!
//! Memory is bounded by keeping tantivy writers open for a few "hot" days
//! only (normally today and yesterday). Records for other days are buffered
//! and written at the next commit through one short-lived writer per day,
//! so a backfill spread over many days costs one writer per day per commit
//! instead of one per record. After each commit the days that received the
//! most records become the hot ones.
//!
//! Failure handling: after any error, drop the writer, make a new one and
//! replay the journal from [`LogIndexes::replay_from`]; records that did
//! reach their index are skipped by their day's payload.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tantivy::indexer::{IndexWriterOptions, LogMergePolicy};
use tantivy::{IndexWriter, TantivyDocument};

use super::{DaySlot, LogDay, LogIndexError, LogIndexes, LogSchema};
use crate::model::{LogRecord, UnixNanos};
use crate::store::log_codec;

/// tantivy refuses indexing arenas below 15 MB per thread.
pub(super) const MIN_HEAP_PER_WRITER: usize = 15_000_000;

/// Records buffered for days without an open writer before they are
/// written out early (with a commit of those days), bounding the buffer.
const MAX_BUFFERED_DOCS: usize = 10_000;
/// Share of deleted records at which a segment is merged to drop them.
const DELETED_SHARE_BEFORE_MERGE: f32 = 0.3;
/// Segments holding more live records than this are merged no further.
/// tantivy's default (10M) merges a busy day's segments of a few hundred
/// thousand records again into ones of millions, rewriting every record
/// once more: measured at 10M records (BENCHMARKS.md), merges took a
/// third of the server's CPU, and stopping that one raised sustained
/// ingest from 62k to 81k–93k records/s. The price is more segments for
/// a search to visit (49 over the two days of 10M records, 21 of them of
/// 360k–595k records, against a handful). A segment that loses a third of its records to the disk
/// budget drops below this and is merged again, so its space still
/// comes back.
const MAX_DOCS_BEFORE_MERGE: usize = 300_000;

/// What [`LogIndexWriter::add`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Added; searchable after the next commit.
    Added,
    /// Its day's index already holds it (replay after a restart).
    AlreadyIndexed,
}

/// The only writer of the log indexes; see the module docs.
pub struct LogIndexWriter {
    indexes: LogIndexes,
    /// Open writers of the hot days.
    hot: BTreeMap<LogDay, DayWriter>,
    /// Documents for days without an open writer.
    buffered: BTreeMap<LogDay, Vec<TantivyDocument>>,
    buffered_docs: usize,
    /// Records per day since the last commit; picks the next hot days.
    round_counts: BTreeMap<LogDay, usize>,
    /// Highest journal id offered so far, added or skipped.
    last_id: Option<u64>,
    /// Records added since the last commit.
    uncommitted: usize,
}

struct DayWriter {
    slot: Arc<DaySlot>,
    writer: IndexWriter<TantivyDocument>,
    dirty: bool,
}

impl DayWriter {
    /// Opens a writer on `day`, creating the day's index if needed.
    fn open(indexes: &LogIndexes, day: LogDay) -> Result<DayWriter, LogIndexError> {
        let options = &indexes.inner.options;
        let slot = indexes.create_slot(day)?;
        let day_index = slot.open(options)?;
        // The hot writers plus one short-lived writer for a buffered day
        // share the heap.
        let threads = options.indexing_threads.max(1);
        let heap =
            (options.writer_heap_bytes / (max_hot(indexes) + 1) / threads).max(MIN_HEAP_PER_WRITER);
        let writer_options = IndexWriterOptions::builder()
            .memory_budget_per_thread(heap)
            .num_worker_threads(threads)
            .num_merge_threads(1)
            .build();
        let writer: IndexWriter<TantivyDocument> =
            day_index.index.writer_with_options(writer_options)?;
        // tantivy's default policy, except that a segment with a third of
        // its records deleted (by the disk budget) is rewritten without
        // them, so that their space comes back, and that large segments
        // are not merged again (`MAX_DOCS_BEFORE_MERGE`).
        let mut policy = LogMergePolicy::default();
        policy.set_del_docs_ratio_before_merge(DELETED_SHARE_BEFORE_MERGE);
        policy.set_max_docs_before_merge(MAX_DOCS_BEFORE_MERGE);
        writer.set_merge_policy(Box::new(policy));
        Ok(DayWriter {
            slot,
            writer,
            dirty: false,
        })
    }

    /// Commits with `watermark` as payload and makes the commit searchable.
    /// The payload is true for this day: every record up to `watermark`
    /// that belongs to it has been added to this writer.
    fn commit(&mut self, watermark: u64) -> Result<(), LogIndexError> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&watermark.to_string());
        prepared.commit()?;
        self.dirty = false;
        self.slot.set_payload(watermark);
        self.slot.reload()
    }
}

fn max_hot(indexes: &LogIndexes) -> usize {
    indexes.inner.options.max_open_writers.max(1)
}

impl LogIndexWriter {
    pub(super) fn new(indexes: LogIndexes) -> LogIndexWriter {
        LogIndexWriter {
            indexes,
            hot: BTreeMap::new(),
            buffered: BTreeMap::new(),
            buffered_docs: 0,
            round_counts: BTreeMap::new(),
            last_id: None,
            uncommitted: 0,
        }
    }

    /// Adds one journal record. Ids must strictly increase across calls;
    /// a record whose day index already holds its id is skipped, which is
    /// what makes replay idempotent.
    pub fn add(
        &mut self,
        journal_id: u64,
        record: &LogRecord,
    ) -> Result<AddOutcome, LogIndexError> {
        self.add_encoded(journal_id, record, &log_codec::encode_record(record).0)
    }

    /// [`add`](Self::add) for a record whose journal encoding is at hand
    /// (the log indexer reads it from the journal): the index stores those
    /// bytes as they are.
    pub fn add_encoded(
        &mut self,
        journal_id: u64,
        record: &LogRecord,
        encoded: &[u8],
    ) -> Result<AddOutcome, LogIndexError> {
        if let Some(last) = self.last_id {
            if journal_id <= last {
                return Err(LogIndexError::OutOfOrder {
                    last,
                    got: journal_id,
                });
            }
        }
        let day = LogDay::of(record.timestamp);
        // The day's index exists (with payload 0 until its first commit)
        // before any commit can cover this record: a commit cut short
        // after other days took the new watermark then still leaves the
        // replay point, the smallest payload, below it. A day that only
        // existed in the buffer would not count, and replay would skip it.
        let slot = self.indexes.create_slot(day)?;
        if journal_id <= slot.payload()? {
            self.last_id = Some(journal_id);
            return Ok(AddOutcome::AlreadyIndexed);
        }
        let document = LogSchema::get().to_document(journal_id, record, encoded);
        if !self.hot.contains_key(&day) && self.hot.len() < max_hot(&self.indexes) {
            self.hot.insert(day, DayWriter::open(&self.indexes, day)?);
        }
        match self.hot.get_mut(&day) {
            Some(day_writer) => {
                day_writer.writer.add_document(document)?;
                day_writer.dirty = true;
            }
            None => {
                self.buffered.entry(day).or_default().push(document);
                self.buffered_docs += 1;
            }
        }
        self.last_id = Some(journal_id);
        self.uncommitted += 1;
        *self.round_counts.entry(day).or_default() += 1;
        if self.buffered_docs >= MAX_BUFFERED_DOCS {
            self.write_buffered(journal_id)?;
        }
        Ok(AddOutcome::Added)
    }

    /// Records added since the last commit; the indexer commits early when
    /// this grows large.
    pub fn uncommitted(&self) -> usize {
        self.uncommitted
    }

    /// Commits every day that received records, with the highest journal id
    /// offered so far as payload, and reloads their readers. Returns that id:
    /// every record up to it is now durable in the indexes, so the journal
    /// may be truncated up to it. `None` if nothing was ever offered.
    pub fn commit(&mut self) -> Result<Option<u64>, LogIndexError> {
        let Some(watermark) = self.last_id else {
            return Ok(None);
        };
        for day_writer in self.hot.values_mut() {
            if day_writer.dirty {
                day_writer.commit(watermark)?;
            }
        }
        let written = self.write_buffered(watermark)?;
        self.rebalance(written);
        self.uncommitted = 0;
        Ok(Some(watermark))
    }

    /// Deletes the records timestamped before `cutoff` from the day index
    /// that `cutoff` falls in (earlier days go whole, between sessions:
    /// [`LogIndexes::drop_days_ending_by`]), and commits. Returns how many
    /// records matched. Segments left empty are dropped at the commit;
    /// partly deleted ones shrink when they are next merged.
    pub fn delete_before(&mut self, cutoff: UnixNanos) -> Result<u64, LogIndexError> {
        let day = LogDay::of(cutoff);
        if day.start() == cutoff || self.indexes.slot(day).is_none() {
            return Ok(0);
        }
        let matched = self.indexes.count_before(day, cutoff)?;
        if matched == 0 {
            return Ok(0);
        }
        let query = || Box::new(LogSchema::get().before(cutoff));
        match self.hot.get_mut(&day) {
            Some(day_writer) => {
                day_writer.writer.delete_query(query())?;
                day_writer.dirty = true;
                self.commit()?;
            }
            None => {
                // Not a day being written: a writer of its own, committed
                // with the payload the day already has.
                let mut day_writer = DayWriter::open(&self.indexes, day)?;
                day_writer.writer.delete_query(query())?;
                let payload = day_writer.slot.payload()?;
                day_writer.commit(payload)?;
            }
        }
        Ok(matched)
    }

    /// Writes and commits the buffered documents, one day at a time, and
    /// returns the (committed) writers used.
    fn write_buffered(
        &mut self,
        watermark: u64,
    ) -> Result<Vec<(LogDay, DayWriter)>, LogIndexError> {
        let mut written = Vec::with_capacity(self.buffered.len());
        for (day, documents) in std::mem::take(&mut self.buffered) {
            let mut day_writer = DayWriter::open(&self.indexes, day)?;
            for document in documents {
                day_writer.writer.add_document(document)?;
            }
            day_writer.commit(watermark)?;
            written.push((day, day_writer));
        }
        self.buffered_docs = 0;
        Ok(written)
    }

    /// Keeps open the writers of the days that received the most records
    /// in the round just committed (newer days win ties), closes the rest.
    /// Every writer here is committed, so closing loses nothing.
    fn rebalance(&mut self, written: Vec<(LogDay, DayWriter)>) {
        let mut ranked: Vec<(usize, LogDay)> = std::mem::take(&mut self.round_counts)
            .into_iter()
            .map(|(day, count)| (count, day))
            .collect();
        ranked.sort_unstable_by(|a, b| b.cmp(a));
        let keep: Vec<LogDay> = ranked
            .into_iter()
            .take(max_hot(&self.indexes))
            .map(|(_, day)| day)
            .collect();
        if keep.is_empty() {
            return;
        }
        let mut candidates = std::mem::take(&mut self.hot);
        candidates.extend(written);
        self.hot = candidates
            .into_iter()
            .filter(|(day, _)| keep.contains(day))
            .collect();
    }
}

impl Drop for LogIndexWriter {
    fn drop(&mut self) {
        // Uncommitted records are dropped with the tantivy writers; they are
        // still in the journal and come back through replay.
        self.hot.clear();
        self.indexes
            .inner
            .writer_open
            .store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record_at;
    use super::super::LogIndexOptions;
    use super::*;
    use crate::model::UnixNanos;

    const DAY: i64 = super::super::day::NANOS_PER_DAY;
    const BASE: i64 = 1_763_683_200_000_000_000;

    #[test]
    fn the_commit_payload_is_the_replay_point_after_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
            assert_eq!(indexes.replay_from().expect("payloads"), 0);
            let mut writer = indexes.writer().expect("writer");
            writer.add(10, &record_at(BASE, "a")).expect("add");
            writer.add(11, &record_at(BASE + DAY, "b")).expect("add");
            assert_eq!(writer.uncommitted(), 2);
            assert_eq!(writer.commit().expect("commit"), Some(11));
            assert_eq!(writer.uncommitted(), 0);
            // Only today's index gets the next commit.
            writer
                .add(12, &record_at(BASE + DAY + 5, "c"))
                .expect("add");
            writer.commit().expect("commit");
            // Added but never committed: lost with the writer, as in a crash.
            writer.add(13, &record_at(BASE + 7, "d")).expect("add");
        }
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("reopen");
        let payloads: Vec<(String, u64)> = indexes
            .committed_payloads()
            .expect("payloads")
            .into_iter()
            .map(|(day, payload)| (day.dir_name(), payload))
            .collect();
        assert_eq!(
            payloads,
            [
                ("2025-11-21".to_string(), 11),
                ("2025-11-22".to_string(), 12)
            ]
        );
        let replay_from = indexes.replay_from().expect("replay point");
        assert_eq!(replay_from, 11);

        // Replaying the journal above the replay point re-adds exactly the
        // records that were lost.
        let mut writer = indexes.writer().expect("writer");
        let journal = [
            (12, record_at(BASE + DAY + 5, "c")),
            (13, record_at(BASE + 7, "d")),
        ];
        let outcomes: Vec<AddOutcome> = journal
            .iter()
            .filter(|(id, _)| *id > replay_from)
            .map(|(id, record)| writer.add(*id, record).expect("add"))
            .collect();
        assert_eq!(outcomes, [AddOutcome::AlreadyIndexed, AddOutcome::Added]);
        assert_eq!(writer.commit().expect("commit"), Some(13));
        // The idle day keeps its older payload, and the smallest one wins.
        assert_eq!(indexes.replay_from().expect("replay point"), 12);
    }

    /// A commit covers several days one after another. If it stops part
    /// way (a kill, or a day that cannot be created: disk full), a day
    /// whose records were only buffered must still pull the replay point
    /// below them, or the next start skips them for good.
    #[test]
    fn a_commit_cut_short_before_a_buffered_day_loses_none_of_its_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = LogIndexOptions {
            max_open_writers: 1,
            ..LogIndexOptions::default()
        };
        let journal = [
            (1, record_at(BASE + DAY, "today")),
            (2, record_at(BASE, "yesterday")),
        ];
        let yesterday = dir.path().join(LogDay::of(UnixNanos(BASE)).dir_name());
        // A file where yesterday's index would go: creating it fails.
        std::fs::write(&yesterday, b"in the way").expect("blocking file");
        {
            let indexes = LogIndexes::open(dir.path(), options.clone()).expect("open");
            let mut writer = indexes.writer().expect("writer");
            let added = journal
                .iter()
                .take_while(|(id, record)| writer.add(*id, record).is_ok())
                .count();
            assert!(added >= 1, "today's record is added");
            // Today's day may commit; yesterday's cannot.
            let _ = writer.commit();
        }
        std::fs::remove_file(&yesterday).expect("unblock");

        // The next start replays the journal above the replay point.
        let indexes = LogIndexes::open(dir.path(), options).expect("reopen");
        let replay_from = indexes.replay_from().expect("replay point");
        let mut writer = indexes.writer().expect("writer");
        for (id, record) in journal.iter().filter(|(id, _)| *id > replay_from) {
            writer.add(*id, record).expect("replayed add");
        }
        writer.commit().expect("commit");
        for (start, what) in [(BASE, "yesterday"), (BASE + DAY, "today")] {
            let day = super::super::LogFilter::new(UnixNanos(start), UnixNanos(start + DAY));
            assert_eq!(
                indexes.count(&day).expect("count"),
                1,
                "{what}'s record after replaying from {replay_from}"
            );
        }
    }

    #[test]
    fn out_of_order_ids_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
        let mut writer = indexes.writer().expect("writer");
        writer.add(5, &record_at(BASE, "a")).expect("add");
        assert!(matches!(
            writer.add(5, &record_at(BASE, "a")),
            Err(LogIndexError::OutOfOrder { last: 5, got: 5 })
        ));
    }

    #[test]
    fn days_beyond_the_open_writers_are_buffered_until_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = LogIndexOptions {
            max_open_writers: 1,
            ..LogIndexOptions::default()
        };
        let indexes = LogIndexes::open(dir.path(), options).expect("open");
        let mut writer = indexes.writer().expect("writer");
        // Records alternate between three days: one writer stays open, the
        // other two days are buffered, and nothing is committed before
        // `commit`.
        for id in 1..=30u64 {
            let day = (id % 3) as i64;
            writer
                .add(id, &record_at(BASE + day * DAY + id as i64, "x"))
                .expect("add");
        }
        assert_eq!(writer.hot.len(), 1);
        assert_eq!(writer.buffered_docs, 20);
        // Every day exists, uncommitted, so that the replay point covers
        // the buffered ones too.
        let payloads = indexes.committed_payloads().expect("payloads");
        assert_eq!(payloads.values().copied().collect::<Vec<_>>(), [0, 0, 0]);
        assert_eq!(writer.commit().expect("commit"), Some(30));
        let payloads = indexes.committed_payloads().expect("payloads");
        assert_eq!(payloads.values().copied().collect::<Vec<_>>(), [30, 30, 30]);
        let whole = super::super::LogFilter::new(UnixNanos(BASE), UnixNanos(BASE + 3 * DAY));
        assert_eq!(indexes.count(&whole).expect("count"), 30);
        // The busiest day of the round (ties: the newest) stays open.
        assert_eq!(
            writer.hot.keys().copied().collect::<Vec<_>>(),
            [LogDay::of(UnixNanos(BASE + 2 * DAY))]
        );
        for id in 31..=35u64 {
            writer
                .add(id, &record_at(BASE + id as i64, "y"))
                .expect("add");
        }
        writer.commit().expect("commit");
        assert_eq!(
            writer.hot.keys().copied().collect::<Vec<_>>(),
            [LogDay::of(UnixNanos(BASE))]
        );
        let payloads = indexes.committed_payloads().expect("payloads");
        assert_eq!(payloads.values().copied().collect::<Vec<_>>(), [35, 30, 30]);
        assert_eq!(indexes.count(&whole).expect("count"), 35);
    }
}
