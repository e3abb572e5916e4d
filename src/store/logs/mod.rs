//! The log indexes: one tantivy index per UTC day of record timestamp under
//! `<dir>/<YYYY-MM-DD>/`, the writer that fills them from the journal, and
//! the searches the read side runs on them.
//!
//! Owns: the schema ([`LogSchema`]), the day partitioning ([`LogDay`]), the
//! [`LogIndexWriter`] and the read path ([`search`]). Nothing outside this
//! module names a tantivy field or opens a tantivy writer.
//!
//! Invariants:
//! - At most one [`LogIndexWriter`] exists per directory (enforced here and
//!   by tantivy's lock file), and only this module can construct it.
//! - A day index's commit payload is a journal id `P` with the meaning
//!   "every journal record up to `P` whose timestamp falls on this day is in
//!   this index". Journal ids only grow, so a record is indexed iff its id is
//!   at most its day's payload; that makes replay after a crash idempotent.
//! - Searches see committed data only; the writer reloads the readers of
//!   the days it committed.
//! - A search opens only the days its time range touches.

mod columns;
mod day;
mod schema;
pub mod search;
pub mod snapshot;
pub mod verify;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexSettings, ReloadPolicy};

use columns::ColumnCache;
pub use day::LogDay;
pub use schema::LogSchema;
pub use search::{
    HistogramBucket, LogCursor, LogFilter, LogHit, LogPage, PageRequest, SortOrder,
    MAX_HISTOGRAM_BUCKETS, MAX_PAGE_LIMIT,
};
pub use writer::{AddOutcome, LogIndexWriter};

/// Name of the log index directory inside the data directory.
pub const LOGS_DIR: &str = "logs";

#[derive(Debug, thiserror::Error)]
pub enum LogIndexError {
    #[error("log index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("log index {day}: commit payload {payload:?} is not a journal id")]
    BadPayload { day: LogDay, payload: String },
    #[error(
        "log index {day} was written with a different schema; move it away or restore a matching lookout"
    )]
    SchemaMismatch { day: LogDay },
    #[error(
        "journal id {got} arrived after {last}: the log indexer must add records in journal order"
    )]
    OutOfOrder { last: u64, got: u64 },
    #[error("a log index writer is already open on {0}")]
    WriterBusy(PathBuf),
    #[error("corrupt log document: {0}")]
    Corrupt(String),
}

/// Resource bounds of the log indexes.
#[derive(Debug, Clone)]
pub struct LogIndexOptions {
    /// Indexing memory shared by all open day writers. tantivy flushes a
    /// segment when a writer's share fills, so this bounds writer memory.
    pub writer_heap_bytes: usize,
    /// Day writers kept open between commits. Records usually arrive for
    /// today, with stragglers for yesterday; records for other days are
    /// buffered and written at the next commit.
    pub max_open_writers: usize,
    /// Decompressed document-store blocks cached per day reader.
    pub doc_store_cache_blocks: usize,
    /// tantivy indexing threads per day writer (they share its heap).
    /// Indexing is the slowest stage of the log path, and one thread
    /// caps it at about one core.
    pub indexing_threads: usize,
}

impl Default for LogIndexOptions {
    fn default() -> Self {
        LogIndexOptions {
            // Measured: 150 MB indexes ~45 % faster than 50 MB (fewer,
            // larger segments to flush and merge); see BENCHMARKS.md.
            writer_heap_bytes: 150_000_000,
            max_open_writers: 2,
            doc_store_cache_blocks: 16,
            indexing_threads: 2,
        }
    }
}

/// The set of day indexes under one directory. Cheap to clone and shared
/// between the log indexer and every reader.
#[derive(Clone)]
pub struct LogIndexes {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    options: LogIndexOptions,
    days: RwLock<BTreeMap<LogDay, Arc<DaySlot>>>,
    writer_open: AtomicBool,
}

/// One day's index. The tantivy index and its reader are opened on first
/// use, so a search that touches two days of a month never maps the rest.
struct DaySlot {
    day: LogDay,
    path: PathBuf,
    opened: Mutex<Option<Arc<DayIndex>>>,
    /// The committed payload, once read from the index meta or written by
    /// the writer.
    payload: Mutex<Option<u64>>,
}

/// An opened day index with its reader.
struct DayIndex {
    index: Index,
    reader: IndexReader,
    columns: Arc<ColumnCache>,
}

impl LogIndexes {
    /// Opens the day indexes under `dir`, creating the directory if needed.
    /// Day indexes themselves are only listed here; each is opened when a
    /// search or the writer first needs it.
    pub fn open(dir: &Path, options: LogIndexOptions) -> Result<LogIndexes, LogIndexError> {
        let io_error = |source| LogIndexError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_error)?;
        let mut days = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let Some(day) = entry.file_name().to_str().and_then(LogDay::parse_dir_name) else {
                continue;
            };
            let path = entry.path();
            // A day directory without meta.json was created but never got
            // its index (a crash in between); the writer recreates it.
            if path.join("meta.json").is_file() {
                days.insert(day, Arc::new(DaySlot::new(day, path)));
            }
        }
        Ok(LogIndexes {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                options,
                days: RwLock::new(days),
                writer_open: AtomicBool::new(false),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The days that have an index, oldest first.
    pub fn days(&self) -> Vec<LogDay> {
        self.inner.days.read().keys().copied().collect()
    }

    /// The writer: there is at most one per directory (in the server, the
    /// pipeline's log indexer thread owns it); a second call while one is
    /// alive fails.
    pub(crate) fn writer(&self) -> Result<LogIndexWriter, LogIndexError> {
        if self.inner.writer_open.swap(true, Ordering::SeqCst) {
            return Err(LogIndexError::WriterBusy(self.inner.dir.clone()));
        }
        // Before any day writer exists: tantivy allows one writer per day.
        let slots: Vec<Arc<DaySlot>> = self.inner.days.read().values().cloned().collect();
        for slot in slots {
            if let Err(error) = slot.remove_leftover_files() {
                tracing::warn!(day = %slot.day.dir_name(), %error,
                    "could not remove the files an interrupted merge left");
            }
        }
        Ok(LogIndexWriter::new(self.clone()))
    }

    /// The committed payload of every day index: the journal id up to which
    /// that day is complete (0 for a day never committed).
    pub fn committed_payloads(&self) -> Result<BTreeMap<LogDay, u64>, LogIndexError> {
        let slots: Vec<Arc<DaySlot>> = self.inner.days.read().values().cloned().collect();
        slots
            .into_iter()
            .map(|slot| Ok((slot.day, slot.payload()?)))
            .collect()
    }

    /// Where replay of the journal starts after a restart: every journal row
    /// with a larger id must be offered to the writer again, which skips
    /// those its day already holds. The smallest payload over all days is
    /// safe whatever the order of the last commits was (the writer creates
    /// a record's day, payload 0, before any commit covers the record, so a
    /// day that missed the last commit is counted); rows below the
    /// journal's truncation point no longer exist, so an old day with a
    /// small payload costs nothing.
    pub fn replay_from(&self) -> Result<u64, LogIndexError> {
        Ok(self.committed_payloads()?.into_values().min().unwrap_or(0))
    }

    /// Slots of the days that `[start, end)` touches, oldest first.
    fn slots_in_range(
        &self,
        start: crate::model::UnixNanos,
        end: crate::model::UnixNanos,
    ) -> Vec<Arc<DaySlot>> {
        if start >= end {
            return Vec::new();
        }
        let first = LogDay::of(start);
        let last = LogDay::of(crate::model::UnixNanos(end.0 - 1));
        self.inner
            .days
            .read()
            .range(first..=last)
            .map(|(_, slot)| slot.clone())
            .collect()
    }

    fn slot(&self, day: LogDay) -> Option<Arc<DaySlot>> {
        self.inner.days.read().get(&day).cloned()
    }

    /// The slot for `day`, creating the day's index on disk if it does not
    /// exist yet. Only the writer creates days.
    fn create_slot(&self, day: LogDay) -> Result<Arc<DaySlot>, LogIndexError> {
        if let Some(slot) = self.slot(day) {
            return Ok(slot);
        }
        let path = self.inner.dir.join(day.dir_name());
        std::fs::create_dir_all(&path).map_err(|source| LogIndexError::Io {
            path: path.clone(),
            source,
        })?;
        let schema = LogSchema::get();
        let index = match Index::builder()
            .schema(schema.schema().clone())
            .settings(day_settings())
            .create_in_dir(&path)
        {
            Ok(index) => index,
            // Left by an earlier run that crashed before listing it.
            Err(tantivy::TantivyError::IndexAlreadyExists) => Index::open_in_dir(&path)?,
            Err(error) => return Err(error.into()),
        };
        let slot = Arc::new(DaySlot::new(day, path));
        let opened = slot.open_index(index, &self.inner.options)?;
        *slot.opened.lock() = Some(opened);
        let mut days = self.inner.days.write();
        Ok(days.entry(day).or_insert(slot).clone())
    }

    /// Days whose index has been opened (for tests of lazy opening).
    #[cfg(test)]
    fn opened_days(&self) -> Vec<LogDay> {
        self.inner
            .days
            .read()
            .values()
            .filter(|slot| slot.opened.lock().is_some())
            .map(|slot| slot.day)
            .collect()
    }
}

impl DaySlot {
    /// Removes the files of segments the day's committed meta does not
    /// list: what a merge was writing when the process stopped (a graceful
    /// stop does not wait for merges, and a crash cannot). tantivy deletes
    /// such files only at a later commit or merge of the same day, which a
    /// past day never gets, so without this they would stay until
    /// retention removed the day. Returns the bytes given back.
    fn remove_leftover_files(&self) -> Result<u64, LogIndexError> {
        let index = Index::open_in_dir(&self.path)?;
        let leftovers = self.leftover_files(&index)?;
        if leftovers.is_empty() {
            return Ok(0);
        }
        let bytes = |paths: &[PathBuf]| -> u64 {
            paths
                .iter()
                .filter_map(|path| std::fs::metadata(path).ok())
                .map(|meta| meta.len())
                .sum()
        };
        let found = bytes(&leftovers);
        // tantivy's own collection (it knows which files it created) runs
        // under a writer; this one lives only for it.
        let writer: tantivy::IndexWriter<tantivy::TantivyDocument> =
            index.writer_with_num_threads(1, writer::MIN_HEAP_PER_WRITER)?;
        writer.garbage_collect_files().wait()?;
        drop(writer);
        let left = self.leftover_files(&index)?;
        let freed = found.saturating_sub(bytes(&left));
        tracing::info!(
            day = %self.day.dir_name(),
            files = leftovers.len().saturating_sub(left.len()),
            bytes = freed,
            "removed the files an interrupted merge left"
        );
        if !left.is_empty() {
            tracing::warn!(day = %self.day.dir_name(), files = left.len(),
                "files of no committed segment remain (not created by this index's writers)");
        }
        Ok(freed)
    }

    /// Files named for a segment that the committed meta does not list.
    fn leftover_files(&self, index: &Index) -> Result<Vec<PathBuf>, LogIndexError> {
        let live: std::collections::HashSet<String> = index
            .searchable_segment_ids()?
            .iter()
            .map(|id| id.uuid_string())
            .collect();
        let io_error = |source| LogIndexError::Io {
            path: self.path.clone(),
            source,
        };
        let mut leftovers = Vec::new();
        for entry in std::fs::read_dir(&self.path).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let name = entry.file_name();
            let Some(segment) = name.to_str().and_then(|name| name.split('.').next()) else {
                continue;
            };
            let is_segment_file =
                segment.len() == 32 && segment.bytes().all(|byte| byte.is_ascii_hexdigit());
            if is_segment_file && !live.contains(segment) {
                leftovers.push(entry.path());
            }
        }
        Ok(leftovers)
    }

    fn new(day: LogDay, path: PathBuf) -> DaySlot {
        DaySlot {
            day,
            path,
            opened: Mutex::new(None),
            payload: Mutex::new(None),
        }
    }

    /// The opened index, opening it on first use.
    fn open(&self, options: &LogIndexOptions) -> Result<Arc<DayIndex>, LogIndexError> {
        let mut opened = self.opened.lock();
        if let Some(day_index) = opened.as_ref() {
            return Ok(day_index.clone());
        }
        let index = Index::open_in_dir(&self.path)?;
        let day_index = self.open_index(index, options)?;
        *opened = Some(day_index.clone());
        Ok(day_index)
    }

    fn open_index(
        &self,
        index: Index,
        options: &LogIndexOptions,
    ) -> Result<Arc<DayIndex>, LogIndexError> {
        let schema = LogSchema::get();
        if !schema.reads(&index.schema()) {
            return Err(LogIndexError::SchemaMismatch { day: self.day });
        }
        schema.register_tokenizers(&index);
        // Manual reloads: the writer lives in this process and reloads after
        // each commit, which avoids a file-watcher thread per day.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(options.doc_store_cache_blocks)
            .try_into()?;
        Ok(Arc::new(DayIndex {
            index,
            reader,
            columns: Arc::default(),
        }))
    }

    /// The committed payload, read from the index meta on first use.
    fn payload(&self) -> Result<u64, LogIndexError> {
        let mut cached = self.payload.lock();
        if let Some(payload) = *cached {
            return Ok(payload);
        }
        let metas = match self.opened.lock().as_ref() {
            Some(day_index) => day_index.index.load_metas()?,
            None => Index::open_in_dir(&self.path)?.load_metas()?,
        };
        let payload = match metas.payload {
            None => 0,
            Some(text) => text.parse::<u64>().map_err(|_| LogIndexError::BadPayload {
                day: self.day,
                payload: text,
            })?,
        };
        *cached = Some(payload);
        Ok(payload)
    }

    fn set_payload(&self, payload: u64) {
        *self.payload.lock() = Some(payload);
    }

    /// Makes a commit visible to searches; a day nobody has opened yet will
    /// see it when it is opened.
    fn reload(&self) -> Result<(), LogIndexError> {
        let opened = self.opened.lock().clone();
        if let Some(day_index) = opened {
            day_index.reader.reload()?;
        }
        Ok(())
    }
}

/// How a new day's index stores its documents: zstd blocks of the
/// records, which repeat words, services and attribute keys, take less
/// room than tantivy's default lz4. A day keeps the settings it was
/// created with (in its `meta.json`), so days written before read as
/// they were.
fn day_settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor {
            compression_level: Some(DOCSTORE_ZSTD_LEVEL),
        }),
        docstore_blocksize: DOCSTORE_BLOCK_BYTES,
        ..IndexSettings::default()
    }
}

/// zstd level of the document store (zstd's default).
const DOCSTORE_ZSTD_LEVEL: i32 = 3;
/// Bytes of records compressed together; reading one record decompresses
/// its block. Measured (BENCHMARKS.md): 64 KiB packs the records to 170 B
/// each in the index against 180 B at tantivy's 16 KiB and 242 B with lz4,
/// and a page of 100 hits touches fewer blocks.
const DOCSTORE_BLOCK_BYTES: usize = 65_536;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LogBody, LogRecord, UnixNanos};

    pub(crate) fn record_at(nanos: i64, body: &str) -> LogRecord {
        LogRecord {
            timestamp: UnixNanos(nanos),
            observed_timestamp: UnixNanos(nanos),
            severity_number: 9,
            severity_text: "INFO".into(),
            service: "svc".into(),
            body: LogBody::Text(body.into()),
            ..LogRecord::default()
        }
    }

    const DAY: i64 = day::NANOS_PER_DAY;
    /// 2025-11-21T00:00:00Z
    const BASE: i64 = 1_763_683_200_000_000_000;

    #[test]
    fn records_land_in_the_directory_of_their_utc_day() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
        let mut writer = indexes.writer().expect("writer");
        writer.add(1, &record_at(BASE + 10, "first")).expect("add");
        writer
            .add(2, &record_at(BASE + DAY - 1, "last nanosecond"))
            .expect("add");
        writer
            .add(3, &record_at(BASE + DAY, "next day"))
            .expect("add");
        writer
            .add(4, &record_at(BASE - 1, "day before"))
            .expect("add");
        assert_eq!(writer.commit().expect("commit"), Some(4));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(names, ["2025-11-20", "2025-11-21", "2025-11-22"]);
        let days = indexes.days();
        assert_eq!(days.len(), 3);
        assert_eq!(days[1].dir_name(), "2025-11-21");
    }

    /// New days store their records with zstd; a day index created with
    /// tantivy's default lz4 and the journal id stored (as lookout did
    /// before) keeps both, takes more records and reads them back.
    #[test]
    fn new_days_store_records_with_zstd_and_older_lz4_days_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let older = dir.path().join("2025-11-20");
        std::fs::create_dir_all(&older).expect("mkdir");
        Index::builder()
            .schema(schema::with_stored_journal_id(LogSchema::get().schema()))
            .create_in_dir(&older)
            .expect("lz4 day");
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
        let mut writer = indexes.writer().expect("writer");
        writer
            .add(1, &record_at(BASE - 1, "on the older day"))
            .expect("add");
        writer
            .add(2, &record_at(BASE + 10, "on a new day"))
            .expect("add");
        writer.commit().expect("commit");
        drop(writer);
        for (name, lz4, id, at, body) in [
            ("2025-11-20", true, 1, BASE - 1, "on the older day"),
            ("2025-11-21", false, 2, BASE + 10, "on a new day"),
        ] {
            let index = Index::open_in_dir(dir.path().join(name)).expect("open day");
            let compression = index.settings().docstore_compression;
            assert_eq!(matches!(compression, Compressor::Lz4), lz4, "{name}");
            assert_eq!(matches!(compression, Compressor::Zstd(_)), !lz4, "{name}");
            let searcher = index.reader().expect("reader").searcher();
            assert_eq!(searcher.num_docs(), 1, "{name}");
            let doc: tantivy::TantivyDocument = searcher
                .doc(tantivy::DocAddress::new(0, 0))
                .expect("stored record");
            let record = LogSchema::get()
                .record_of(&doc, id, record_at(at, body).timestamp)
                .expect("decodes");
            assert_eq!(record.timestamp, UnixNanos(at));
            assert_eq!(record.body, LogBody::Text(body.into()));
        }
    }

    /// A merge still writing when the process stopped leaves its files;
    /// the next writer removes them, from past days too, and keeps every
    /// committed record.
    #[test]
    fn files_an_interrupted_merge_left_are_removed_when_the_writer_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
        let mut writer = indexes.writer().expect("writer");
        writer.add(1, &record_at(BASE, "kept")).expect("add");
        writer.commit().expect("commit");
        drop(writer);
        let day = dir.path().join(LogDay::of(UnixNanos(BASE)).dir_name());
        // What a merge writes: files named for a new segment, created
        // through the index's directory (so tantivy knows them as its own),
        // and not in meta.json.
        use tantivy::Directory as _;
        let orphan = tantivy::index::SegmentId::generate_random().uuid_string();
        let write_orphan = || {
            let index = Index::open_in_dir(&day).expect("day");
            for extension in ["store", "idx"] {
                index
                    .directory()
                    .atomic_write(
                        std::path::Path::new(&format!("{orphan}.{extension}")),
                        &[7; 4096],
                    )
                    .expect("write");
            }
        };
        write_orphan();
        let leftovers = |dir: &Path| {
            std::fs::read_dir(dir)
                .expect("read day")
                .filter(|entry| {
                    let entry = entry.as_ref().expect("entry");
                    entry.file_name().to_string_lossy().starts_with(&orphan)
                })
                .count()
        };
        assert_eq!(leftovers(&day), 2);

        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("reopen");
        let writer = indexes.writer().expect("writer");
        assert_eq!(leftovers(&day), 0);
        drop(writer);
        let slot = indexes.slot(LogDay::of(UnixNanos(BASE))).expect("slot");
        assert_eq!(slot.remove_leftover_files().expect("nothing left"), 0);
        write_orphan();
        assert_eq!(slot.remove_leftover_files().expect("clean"), 2 * 4096);
        assert_eq!(leftovers(&day), 0);
        let filter = LogFilter::new(UnixNanos(BASE - 1), UnixNanos(BASE + 1));
        assert_eq!(indexes.count(&filter).expect("count"), 1);
    }

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
        let writer = indexes.writer().expect("writer");
        assert!(matches!(
            indexes.writer(),
            Err(LogIndexError::WriterBusy(_))
        ));
        drop(writer);
        assert!(indexes.writer().is_ok());
    }

    #[test]
    fn reopening_lists_days_without_opening_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
            let mut writer = indexes.writer().expect("writer");
            for (id, offset) in [(1, 0), (2, DAY), (3, 2 * DAY)] {
                writer.add(id, &record_at(BASE + offset, "x")).expect("add");
            }
            writer.commit().expect("commit");
        }
        std::fs::create_dir(dir.path().join("not-a-day")).expect("mkdir");
        std::fs::create_dir(dir.path().join("2020-01-01")).expect("mkdir");
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("reopen");
        assert_eq!(indexes.days().len(), 3);
        assert!(indexes.opened_days().is_empty());
    }
}

impl LogIndexes {
    /// Committed records of `day` timestamped before `cutoff`.
    pub fn count_before(
        &self,
        day: LogDay,
        cutoff: crate::model::UnixNanos,
    ) -> Result<u64, LogIndexError> {
        let Some(slot) = self.slot(day) else {
            return Ok(0);
        };
        let searcher = slot.open(&self.inner.options)?.reader.searcher();
        let query = LogSchema::get().before(cutoff);
        Ok(searcher.search(&query, &tantivy::collector::Count)? as u64)
    }

    /// Committed records of `day`.
    pub fn count_day(&self, day: LogDay) -> Result<u64, LogIndexError> {
        let Some(slot) = self.slot(day) else {
            return Ok(0);
        };
        Ok(slot.open(&self.inner.options)?.reader.searcher().num_docs())
    }

    /// The timestamp of the oldest record kept, if any: the smallest value
    /// of the oldest day's timestamp column. Deleted records still count
    /// until their segment is merged, so this can be older than the oldest
    /// live record (never newer).
    pub fn oldest_timestamp(&self) -> Result<Option<crate::model::UnixNanos>, LogIndexError> {
        let slots: Vec<Arc<DaySlot>> = self.inner.days.read().values().cloned().collect();
        for slot in slots {
            let searcher = slot.open(&self.inner.options)?.reader.searcher();
            let mut oldest: Option<i64> = None;
            for segment in searcher.segment_readers() {
                if segment.num_docs() == 0 {
                    continue;
                }
                let column = segment.fast_fields().i64(schema::TIMESTAMP)?;
                let min = column.min_value();
                oldest = Some(oldest.map_or(min, |o| o.min(min)));
            }
            if let Some(oldest) = oldest {
                return Ok(Some(crate::model::UnixNanos(oldest)));
            }
        }
        Ok(None)
    }

    /// Deletes the day indexes whose whole day ends at or before `cutoff`
    /// (retention drops whole days, oldest first). Refused while a writer
    /// is open, so no tantivy writer ever holds a day being deleted: the
    /// log indexer drops its writer, calls this, then starts a new one.
    /// Searches that already hold a day's reader finish on it.
    pub fn drop_days_ending_by(
        &self,
        cutoff: crate::model::UnixNanos,
    ) -> Result<Vec<LogDay>, LogIndexError> {
        if self.inner.writer_open.load(Ordering::SeqCst) {
            return Err(LogIndexError::WriterBusy(self.inner.dir.clone()));
        }
        let removed: Vec<(LogDay, PathBuf)> = {
            let mut days = self.inner.days.write();
            let expired: Vec<LogDay> = days
                .keys()
                .copied()
                .filter(|day| day.end() <= cutoff)
                .collect();
            expired
                .into_iter()
                .filter_map(|day| days.remove(&day).map(|slot| (day, slot.path.clone())))
                .collect()
        };
        for (_, path) in &removed {
            std::fs::remove_dir_all(path).map_err(|source| LogIndexError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(removed.into_iter().map(|(day, _)| day).collect())
    }
}

#[cfg(test)]
mod retention_tests {
    use super::*;
    use crate::model::{LogRecord, UnixNanos};

    const DAY: i64 = 86_400_000_000_000;

    #[test]
    fn whole_expired_days_are_deleted_and_no_longer_searched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open");
        let base = 20_000 * DAY;
        {
            let mut writer = indexes.writer().expect("writer");
            for (id, offset) in [(1, 0), (2, DAY), (3, 2 * DAY)] {
                let record = LogRecord {
                    timestamp: UnixNanos(base + offset + 5),
                    ..LogRecord::default()
                };
                writer.add(id, &record).expect("add");
            }
            writer.commit().expect("commit");
            assert!(
                indexes.drop_days_ending_by(UnixNanos(base + DAY)).is_err(),
                "refused while the writer is open"
            );
        }
        // The cutoff falls inside the second day: only the first is whole.
        let dropped = indexes
            .drop_days_ending_by(UnixNanos(base + DAY + DAY / 2))
            .expect("drop");
        assert_eq!(dropped, vec![LogDay(20_000)]);
        assert_eq!(indexes.days(), vec![LogDay(20_001), LogDay(20_002)]);
        assert!(!dir.path().join(LogDay(20_000).dir_name()).exists());
        let all = LogFilter::new(UnixNanos(base), UnixNanos(base + 3 * DAY));
        assert_eq!(indexes.count(&all).expect("count"), 2);
        let reopened = LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("reopen");
        assert_eq!(reopened.days().len(), 2);
    }
}
