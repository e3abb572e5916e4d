//! Span-derived service metrics, written by the writer in the same
//! transaction as the spans: per series (service, operation, span kind,
//! status) and per minute and hour, the span count, duration sum, min, max
//! and a [`DurationHistogram`]. Only spans that were new count, so a batch
//! sent twice is counted once.
//!
//! Cardinality is bounded like the spanmetrics connector's
//! `aggregation_cardinality_limit`: once a service has `limit` series, spans
//! of further (operation, kind, status) combinations count in that
//! service's [`OVERFLOW_OPERATION`] series.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension as _};

use crate::model::{DurationHistogram, Span, StatusCode, UnixNanos};
use crate::store::StoreError;

/// The operation name of a service's overflow series.
pub const OVERFLOW_OPERATION: &str = "__overflow__";
/// Seconds per rollup bucket: minutes, and hours for long ranges.
pub const RESOLUTIONS: [i64; 2] = [60, 3600];

/// (service id, operation, span kind, status code).
type SeriesKey = (i64, String, i32, i32);

/// Entries a cache may hold before it starts over, bounding the writer's
/// memory however many operations or buckets there are.
const CACHE_LIMIT: usize = 50_000;

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
}

impl SeriesCache {
    /// Forgets the cached rows (after retention deleted some).
    pub(super) fn forget_rows(&mut self) {
        self.rows.clear();
    }
}

/// A new span for the rollups: its service and operation ids.
pub(super) struct RollupSpan<'a> {
    pub service_id: i64,
    pub operation_id: i64,
    pub span: &'a Span,
}

/// What one span adds to a rollup row, and rows merged.
#[derive(Debug, Clone, Default)]
struct Accumulator {
    count: i64,
    sum: i64,
    min: i64,
    max: i64,
    histogram: DurationHistogram,
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
    spans: &[RollupSpan<'_>],
) -> Result<u64, StoreError> {
    let mut overflowed = 0u64;
    let [minute, hour] = RESOLUTIONS;
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
    // Hours are the sum of their minutes.
    let mut rows: HashMap<(i64, i64, i64), Accumulator> = HashMap::new();
    for ((series_id, start), added) in minutes {
        rows.entry((hour, series_id, start.div_euclid(hour) * hour))
            .or_default()
            .merge(&added);
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
        if let Some(total) = cache.rows.get_mut(&key) {
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
            continue;
        }
        let stored = select
            .query_row(params![resolution, series_id, start], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Vec<u8>>(4)?,
                ))
            })
            .optional()?;
        let mut total = match stored {
            Some((count, sum, min, max, bytes)) => Accumulator {
                count,
                sum,
                min,
                max,
                histogram: DurationHistogram::from_bytes(&bytes).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "span rollup of series {series_id} at {start} has an unreadable histogram"
                    ))
                })?,
            },
            None => Accumulator::default(),
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
    Ok(overflowed)
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

/// Whether a status code makes a span an error in RED numbers.
pub fn is_error(status: i32) -> bool {
    status == StatusCode::Error as i32
}
