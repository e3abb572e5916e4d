//! Span-derived service metrics, written by the writer in the same
//! transaction as the spans: per series (service, operation, span kind,
//! status) and per minute and hour, the span count, duration sum, min, max
//! and a [`DurationHistogram`]. Only spans that were new count, so a batch
//! sent twice is counted once.
//!
//! A group writes its minute deltas as one row of `span_rollup_deltas`; every
//! [`COMPACT_EVERY`] groups the writer merges the pending deltas into the
//! minute and hour rows. Both happen in group transactions, so what a
//! commit acknowledged is counted, crash or not; readers add the pending
//! deltas in ([`pending_deltas`]).
//!
//! Cardinality is bounded like the spanmetrics connector's
//! `aggregation_cardinality_limit`: once a service has `limit` series, spans
//! of further (operation, kind, status) combinations count in that
//! service's [`OVERFLOW_OPERATION`] series.

use std::collections::HashMap;

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::{params, Connection, OptionalExtension as _};

use super::codec::{put_varint, put_zigzag, Reader};
use super::write::NewSpan;
use crate::model::{DurationHistogram, Span, UnixNanos};
use crate::store::StoreError;

/// Groups whose deltas are pending before the writer merges them.
pub const COMPACT_EVERY: usize = 16;

/// The operation name of a service's overflow series.
pub const OVERFLOW_OPERATION: &str = "__overflow__";
/// Seconds per rollup bucket: minutes; ten minutes and hours for long
/// ranges (a 7-day chart at a 10-minute step reads 1,008 rows per series,
/// not 10,080).
pub const RESOLUTIONS: [i64; 3] = [60, 600, 3600];

/// (service id, operation, span kind, status code).
type SeriesKey = (i64, String, i32, i32);

/// Entries a cache may hold before it starts over, bounding the writer's
/// memory however many operations or buckets there are.
pub(super) const CACHE_LIMIT: usize = 50_000;

/// The writer's memory of series ids and of the rollup rows it wrote last,
/// reset with the other dictionaries when a transaction fails (and the
/// rows when retention deletes some), so it never disagrees with the
/// database.
#[derive(Debug, Default)]
pub(super) struct SeriesCache {
    /// (operation id, status code) → series id (an overflow series for
    /// operations past the limit).
    by_operation: HashMap<(i64, i32), (i64, bool)>,
    /// Series per service, not counting its overflow series.
    per_service: HashMap<i64, usize>,
    /// The stored state of recently written rows: adding to them needs no
    /// read.
    rows: HashMap<(i64, i64, i64), Accumulator>,
    /// The deltas in `span_rollup_deltas`, merged: (series, minute) → sum.
    /// `None` until read from the database.
    pending: Option<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    deltas: HashMap<(i64, i64), Accumulator>,
    /// Delta rows written, and the last one's id.
    groups: usize,
    last_id: i64,
}

impl SeriesCache {
    /// (series ids cached, rollup rows cached), for `/metrics`.
    pub(super) fn entries(&self) -> (usize, usize) {
        (self.by_operation.len(), self.rows.len())
    }

    /// Forgets the cached rows [`delete_before`] deleted at `cutoff`; the
    /// rest are still what the database holds.
    pub(super) fn forget_rows_before(&mut self, cutoff: UnixNanos) {
        let cutoff_seconds = cutoff.0.div_euclid(1_000_000_000);
        self.rows
            .retain(|(resolution, _, start), _| *start > cutoff_seconds - resolution);
    }
}

/// What one span adds to a rollup row, and rows merged.
#[derive(Debug, Clone, Default)]
pub(super) struct Accumulator {
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    pub histogram: DurationHistogram,
}

impl Accumulator {
    fn add(&mut self, nanos: i64) {
        if self.count == 0 {
            self.min = nanos;
            self.max = nanos;
        } else {
            self.min = self.min.min(nanos);
            self.max = self.max.max(nanos);
        }
        self.count += 1;
        self.sum = self.sum.saturating_add(nanos);
        self.histogram.record(nanos);
    }

    fn merge(&mut self, other: &Accumulator) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.histogram.merge(&other.histogram);
    }
}

/// `lookout_histogram_merge(histogram)`: the merge of encoded duration
/// histograms, for migrations that build coarser rollups from finer ones.
struct HistogramMerge;

impl Aggregate<DurationHistogram, Vec<u8>> for HistogramMerge {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<DurationHistogram> {
        Ok(DurationHistogram::default())
    }

    fn step(&self, ctx: &mut Context<'_>, merged: &mut DurationHistogram) -> rusqlite::Result<()> {
        let bytes = ctx
            .get_raw(0)
            .as_blob()
            .map_err(|error| rusqlite::Error::UserFunctionError(error.into()))?;
        let histogram = DurationHistogram::from_bytes(bytes)
            .ok_or_else(|| rusqlite::Error::UserFunctionError("an unreadable histogram".into()))?;
        merged.merge(&histogram);
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        merged: Option<DurationHistogram>,
    ) -> rusqlite::Result<Vec<u8>> {
        Ok(merged.unwrap_or_default().to_bytes())
    }
}

/// Registers the SQL functions migrations use on `conn`.
pub(super) fn register_migration_functions(conn: &Connection) -> Result<(), StoreError> {
    conn.create_aggregate_function(
        "lookout_histogram_merge",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        HistogramMerge,
    )?;
    Ok(())
}

/// The bucket (unix seconds) of `at` at `resolution` seconds.
pub fn bucket_start(at: UnixNanos, resolution: i64) -> i64 {
    at.0.div_euclid(1_000_000_000).div_euclid(resolution) * resolution
}

/// Adds new spans (with their service ids) to the rollups. Returns how
/// many spans counted in an overflow series.
pub(super) fn record(
    tx: &Connection,
    cache: &mut SeriesCache,
    limit: usize,
    spans: &[NewSpan<'_>],
) -> Result<u64, StoreError> {
    let mut overflowed = 0u64;
    let minute = RESOLUTIONS[0];
    let mut minutes: HashMap<(i64, i64), Accumulator> = HashMap::new();
    for new in spans {
        let span = new.span;
        let key = (new.operation_id, span.status_code as i32);
        let (series_id, overflow) = match cache.by_operation.get(&key) {
            Some(found) => *found,
            None => {
                let found = series_id(tx, cache, limit, new.service_id, span)?;
                if cache.by_operation.len() >= CACHE_LIMIT {
                    cache.by_operation.clear();
                    // Counted by service, as many as there are services.
                    cache.per_service.clear();
                }
                cache.by_operation.insert(key, found);
                found
            }
        };
        overflowed += u64::from(overflow);
        minutes
            .entry((series_id, bucket_start(span.start, minute)))
            .or_default()
            .add(span.duration_nanos());
    }
    if minutes.is_empty() {
        return Ok(overflowed);
    }
    let pending = match cache.pending.take() {
        Some(pending) => pending,
        None => load_pending(tx)?,
    };
    let mut pending = pending;
    tx.prepare_cached("INSERT INTO span_rollup_deltas (delta) VALUES (?1)")?
        .execute(params![encode_delta(&minutes)])?;
    pending.last_id = tx.last_insert_rowid();
    pending.groups += 1;
    for (key, added) in minutes {
        pending.deltas.entry(key).or_default().merge(&added);
    }
    if pending.groups >= COMPACT_EVERY {
        compact(tx, cache, pending)?;
        cache.pending = Some(Pending::default());
    } else {
        cache.pending = Some(pending);
    }
    Ok(overflowed)
}

/// Merges every pending delta into the rows (before retention deletes
/// old rows, so that no delta outlives them).
pub(super) fn compact_pending(tx: &Connection, cache: &mut SeriesCache) -> Result<(), StoreError> {
    let pending = match cache.pending.take() {
        Some(pending) => pending,
        None => load_pending(tx)?,
    };
    if pending.groups > 0 {
        compact(tx, cache, pending)?;
    }
    cache.pending = Some(Pending::default());
    Ok(())
}

/// Merges the pending deltas into the minute and hour rows and deletes
/// them.
fn compact(tx: &Connection, cache: &mut SeriesCache, pending: Pending) -> Result<(), StoreError> {
    let [minute, coarser @ ..] = RESOLUTIONS;
    let mut rows: HashMap<(i64, i64, i64), Accumulator> = HashMap::new();
    for ((series_id, start), added) in pending.deltas {
        for resolution in coarser {
            rows.entry((
                resolution,
                series_id,
                start.div_euclid(resolution) * resolution,
            ))
            .or_default()
            .merge(&added);
        }
        rows.insert((minute, series_id, start), added);
    }
    if cache.rows.len() + rows.len() > CACHE_LIMIT {
        cache.rows.clear();
    }
    let mut select = tx.prepare_cached(
        "SELECT span_count, duration_sum_nano, duration_min_nano, duration_max_nano, histogram
         FROM span_rollups WHERE resolution = ?1 AND series_id = ?2 AND bucket_start = ?3",
    )?;
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO span_rollups (resolution, series_id, bucket_start, span_count,
             duration_sum_nano, duration_min_nano, duration_max_nano, histogram)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (key, added) in rows {
        let (resolution, series_id, start) = key;
        let mut total = match cache.rows.remove(&key) {
            Some(total) => total,
            None => select
                .query_row(params![resolution, series_id, start], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, Vec<u8>>(4)?,
                    ))
                })
                .optional()?
                .map(|(count, sum, min, max, bytes)| {
                    DurationHistogram::from_bytes(&bytes)
                        .map(|histogram| Accumulator {
                            count,
                            sum,
                            min,
                            max,
                            histogram,
                        })
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!(
                                "span rollup of series {series_id} at {start} has an unreadable histogram"
                            ))
                        })
                })
                .transpose()?
                .unwrap_or_default(),
        };
        total.merge(&added);
        upsert.execute(params![
            resolution,
            series_id,
            start,
            total.count,
            total.sum,
            total.min,
            total.max,
            total.histogram.to_bytes()
        ])?;
        cache.rows.insert(key, total);
    }
    tx.prepare_cached("DELETE FROM span_rollup_deltas WHERE id <= ?1")?
        .execute(params![pending.last_id])?;
    Ok(())
}

/// The delta rows of the database, merged (at start, or after a failed
/// transaction reset the cache).
fn load_pending(tx: &Connection) -> Result<Pending, StoreError> {
    let mut pending = Pending::default();
    for (id, entries) in read_deltas(tx)? {
        pending.groups += 1;
        pending.last_id = pending.last_id.max(id);
        for (key, added) in entries {
            pending.deltas.entry(key).or_default().merge(&added);
        }
    }
    Ok(pending)
}

/// The entries of one delta row: (series id, minute start) → sums.
type DeltaEntries = Vec<((i64, i64), Accumulator)>;

/// Every delta row: its id and its entries.
fn read_deltas(conn: &Connection) -> Result<Vec<(i64, DeltaEntries)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, delta FROM span_rollup_deltas ORDER BY id")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, bytes) = row?;
        let entries = decode_delta(&bytes)
            .ok_or_else(|| StoreError::Corrupt(format!("span rollup delta {id} is unreadable")))?;
        out.push((id, entries));
    }
    Ok(out)
}

/// The pending deltas as (series id, minute start, sums), for readers,
/// who add them to the stored rows.
pub(super) fn pending_deltas(
    conn: &Connection,
) -> Result<Vec<(i64, i64, Accumulator)>, StoreError> {
    Ok(read_deltas(conn)?
        .into_iter()
        .flat_map(|(_, entries)| entries)
        .map(|((series_id, minute), sums)| (series_id, minute, sums))
        .collect())
}

fn encode_delta(minutes: &HashMap<(i64, i64), Accumulator>) -> Vec<u8> {
    let mut out = Vec::with_capacity(minutes.len() * 48);
    put_varint(&mut out, minutes.len() as u64);
    for ((series_id, minute), sums) in minutes {
        put_zigzag(&mut out, *series_id);
        put_zigzag(&mut out, *minute);
        put_zigzag(&mut out, sums.count);
        put_zigzag(&mut out, sums.sum);
        put_zigzag(&mut out, sums.min);
        put_zigzag(&mut out, sums.max);
        let histogram = sums.histogram.to_bytes();
        put_varint(&mut out, histogram.len() as u64);
        out.extend_from_slice(&histogram);
    }
    out
}

fn decode_delta(bytes: &[u8]) -> Option<DeltaEntries> {
    let mut reader = Reader::new(bytes);
    let count = usize::try_from(reader.varint().ok()?).ok()?;
    let mut out = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        let series_id = reader.zigzag().ok()?;
        let minute = reader.zigzag().ok()?;
        let (count, sum, min, max) = (
            reader.zigzag().ok()?,
            reader.zigzag().ok()?,
            reader.zigzag().ok()?,
            reader.zigzag().ok()?,
        );
        let len = usize::try_from(reader.varint().ok()?).ok()?;
        let histogram = DurationHistogram::from_bytes(reader.take(len).ok()?)?;
        out.push((
            (series_id, minute),
            Accumulator {
                count,
                sum,
                min,
                max,
                histogram,
            },
        ));
    }
    reader.is_empty().then_some(out)
}

/// The series a span counts in, and whether that is the overflow series.
fn series_id(
    tx: &Connection,
    cache: &mut SeriesCache,
    limit: usize,
    service_id: i64,
    span: &Span,
) -> Result<(i64, bool), StoreError> {
    let kind = span.kind as i32;
    let status = span.status_code as i32;
    let key = (service_id, span.name.clone(), kind, status);
    if let Some(id) = find_series(tx, &key)? {
        return Ok((id, false));
    }
    let existing = match cache.per_service.get(&service_id) {
        Some(count) => *count,
        None => {
            let count: i64 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM span_series WHERE service_id = ?1 AND operation != ?2",
                )?
                .query_row(params![service_id, OVERFLOW_OPERATION], |row| row.get(0))?;
            usize::try_from(count).unwrap_or(usize::MAX)
        }
    };
    if existing >= limit {
        cache.per_service.insert(service_id, existing);
        let overflow = (service_id, OVERFLOW_OPERATION.to_string(), kind, status);
        let id = match find_series(tx, &overflow)? {
            Some(id) => id,
            None => insert_series(tx, &overflow)?,
        };
        return Ok((id, true));
    }
    let id = insert_series(tx, &key)?;
    cache.per_service.insert(service_id, existing + 1);
    Ok((id, false))
}

fn find_series(tx: &Connection, key: &SeriesKey) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT id FROM span_series
             WHERE service_id = ?1 AND operation = ?2 AND kind = ?3 AND status = ?4",
        )?
        .query_row(params![key.0, key.1, key.2, key.3], |row| row.get(0))
        .optional()?)
}

fn insert_series(tx: &Connection, key: &SeriesKey) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO span_series (service_id, operation, kind, status) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![key.0, key.1, key.2, key.3])?;
    Ok(tx.last_insert_rowid())
}

/// Deletes the rollup buckets that end at or before `cutoff`: what
/// retention deletes of the spans, it deletes of their metrics.
pub(super) fn delete_before(tx: &Connection, cutoff: UnixNanos) -> Result<u64, StoreError> {
    let cutoff_seconds = cutoff.0.div_euclid(1_000_000_000);
    let mut deleted = 0u64;
    let mut delete =
        tx.prepare_cached("DELETE FROM span_rollups WHERE resolution = ?1 AND bucket_start <= ?2")?;
    for resolution in RESOLUTIONS {
        deleted += delete.execute(params![resolution, cutoff_seconds - resolution])? as u64;
    }
    Ok(deleted)
}
