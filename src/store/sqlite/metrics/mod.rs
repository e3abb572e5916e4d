//! Metric series: the series dictionary, compressed chunks and exemplars
//! in SQLite, the head of recent samples in memory with its write-ahead
//! log in SQLite (`head`). Writes happen in the writer's transaction;
//! `read` serves the PromQL engine and the metadata API.
//!
//! Rules for samples, per series (documented in docs/API.md):
//! - a sample older than the series' newest is refused ("out of order");
//! - a sample at the newest sample's time is a duplicate: accepted and not
//!   stored again when its value is the same (or the point is a delta: a
//!   retried delta must not count twice), refused when the value differs;
//! - a delta point adds to the series' running sum; a cumulative point
//!   whose start time moved past the previous sample is a reset: a zero
//!   is stored at the new start time, so `rate` sees the reset even when
//!   the new value is not below the old one.

pub mod chunk;
pub mod head;
pub mod read;

use ahash::AHashMap as HashMap;
use rusqlite::{params, OptionalExtension, Transaction};

use self::head::{Compacted, MetricHead, PendingSamples};
use super::StoreError;
use crate::model::metric::{Labels, Sample};
use crate::model::metric_batch::{
    MetricBatch, MetricFamily, MetricOutcome, MetricPoint, Temporality,
};

/// Chunks hold at most this span of time: one per series and hour.
pub const CHUNK_SPAN_MS: i64 = 3_600_000;
/// An hour is moved into chunks this long after it ended, so samples sent
/// a little late still land in its chunk.
pub const CHUNK_GRACE_MS: i64 = 10 * 60_000;

/// How many series may exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesLimits {
    pub total: usize,
    pub per_metric: usize,
}

impl Default for SeriesLimits {
    fn default() -> Self {
        SeriesLimits {
            total: 200_000,
            per_metric: 20_000,
        }
    }
}

/// What the writer remembers of a series.
#[derive(Debug, Clone, Copy)]
struct SeriesState {
    id: i64,
    /// The newest stored sample (`i64::MIN` when none).
    last_t: i64,
    last_v: f64,
    start_ms: i64,
}

/// The writer's view of the series dictionary. Cleared when a
/// transaction fails (ids handed out in it were rolled back) and after
/// retention (series may have been deleted).
#[derive(Default)]
pub struct MetricsCache {
    series: HashMap<Labels, SeriesState>,
    /// Family names whose row is written this run.
    families: HashMap<String, MetricFamily>,
    /// Series per family and in total, loaded on first use.
    counts: Option<(usize, HashMap<String, usize>)>,
    /// Samples written in the open transaction, for the head once it
    /// commits.
    pending: PendingSamples,
}

/// Labels as stored: a JSON object with sorted keys.
pub(crate) fn encode_labels(labels: &Labels) -> String {
    let map: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                serde_json::Value::String(value.to_string()),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

pub(crate) fn decode_labels(text: &str) -> Result<Labels, StoreError> {
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("series labels {text:?}: {error}")))?;
    Ok(Labels::from_pairs(map))
}

impl MetricsCache {
    fn counts(
        &mut self,
        tx: &Transaction<'_>,
    ) -> Result<&mut (usize, HashMap<String, usize>), StoreError> {
        if self.counts.is_none() {
            let mut per_family = HashMap::new();
            let mut total = 0;
            let mut stmt =
                tx.prepare_cached("SELECT family, count(*) FROM metric_series GROUP BY family")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let count: i64 = row.get(1)?;
                total += count as usize;
                per_family.insert(row.get::<_, String>(0)?, count as usize);
            }
            self.counts = Some((total, per_family));
        }
        Ok(self.counts.get_or_insert_with(|| (0, HashMap::new())))
    }

    /// The series' state, loaded from the database on first use; `None`
    /// when the series does not exist yet.
    fn lookup(
        &mut self,
        tx: &Transaction<'_>,
        head: &MetricHead,
        labels: &Labels,
    ) -> Result<Option<SeriesState>, StoreError> {
        if let Some(state) = self.series.get(labels) {
            return Ok(Some(*state));
        }
        let found: Option<(i64, i64)> = tx
            .prepare_cached("SELECT id, start_ms FROM metric_series WHERE labels = ?1")?
            .query_row(params![encode_labels(labels)], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        let Some((id, start_ms)) = found else {
            return Ok(None);
        };
        let (last_t, last_v) = last_sample(tx, head, id)?.map_or((i64::MIN, 0.0), |s| (s.t, s.v));
        let state = SeriesState {
            id,
            last_t,
            last_v,
            start_ms,
        };
        self.series.insert(labels.clone(), state);
        Ok(Some(state))
    }

    /// Series cached, for `/metrics`.
    pub(crate) fn entries(&self) -> usize {
        self.series.len()
    }

    /// Forgets the cached series (reloaded as they are seen), keeping the
    /// counts. Only between transactions: the open one's samples update
    /// the cached states.
    pub(crate) fn forget_series(&mut self) {
        self.series.clear();
    }

    /// Forgets everything; reloaded as needed.
    pub fn clear(&mut self) {
        *self = MetricsCache::default();
    }

    /// The samples the committed transaction wrote, for the head.
    pub fn take_pending(&mut self) -> PendingSamples {
        std::mem::take(&mut self.pending)
    }
}

/// The newest stored sample of a series: in the head, else in its last
/// chunk.
fn last_sample(
    tx: &Transaction<'_>,
    head: &MetricHead,
    series_id: i64,
) -> Result<Option<Sample>, StoreError> {
    if let Some(sample) = head.last(series_id) {
        return Ok(Some(sample));
    }
    let data: Option<Vec<u8>> = tx
        .prepare_cached(
            "SELECT data FROM metric_chunks WHERE series_id = ?1 ORDER BY min_t DESC LIMIT 1",
        )?
        .query_row(params![series_id], |row| row.get(0))
        .optional()?;
    let Some(data) = data else {
        return Ok(None);
    };
    let mut samples = Vec::new();
    chunk::decode_range(&data, i64::MIN, i64::MAX, &mut samples)
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    Ok(samples.last().copied())
}

/// A value as stored: its bits, since SQLite turns a NaN into NULL (and
/// the staleness marker is a NaN that must survive).
pub(crate) fn value_bits(value: f64) -> i64 {
    value.to_bits() as i64
}

pub(crate) fn value_from_bits(bits: i64) -> f64 {
    f64::from_bits(bits as u64)
}

/// Whether two stored values are the same (NaNs compare by bits).
fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || a == b
}

/// Writes the data points of `batches`, each point stored whole or refused
/// whole; returns each batch's outcome. The samples go to one WAL row and,
/// once the transaction commits, to the head ([`MetricsCache::take_pending`]).
pub fn write_batches(
    tx: &Transaction<'_>,
    cache: &mut MetricsCache,
    head: &MetricHead,
    limits: SeriesLimits,
    batches: &[&MetricBatch],
) -> Result<Vec<MetricOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut outcome = MetricOutcome::default();
        for point in &batch.points {
            write_point(
                tx,
                cache,
                head,
                limits,
                &batch.families,
                point,
                &mut outcome,
            )?;
        }
        outcomes.push(outcome);
    }
    head::write_wal(tx, &cache.pending)?;
    Ok(outcomes)
}

#[allow(clippy::too_many_arguments)]
fn write_point(
    tx: &Transaction<'_>,
    cache: &mut MetricsCache,
    head: &MetricHead,
    limits: SeriesLimits,
    families: &[MetricFamily],
    point: &MetricPoint,
    outcome: &mut MetricOutcome,
) -> Result<(), StoreError> {
    let Some(family) = families.get(point.family) else {
        outcome.reject(point.location, "the data point names no metric");
        return Ok(());
    };
    // Conversion gives every sample of a point its own series; a point
    // that does not must not reach the database (it would fail the group).
    if point.samples.len() > 1
        && point
            .samples
            .iter()
            .enumerate()
            .any(|(i, (labels, _))| point.samples[..i].iter().any(|(other, _)| other == labels))
    {
        outcome.reject(point.location, "the data point names one series twice");
        return Ok(());
    }
    // First decide, then write: a point is stored whole or not at all.
    let mut states = Vec::with_capacity(point.samples.len());
    let mut new_series = 0usize;
    for (labels, value) in &point.samples {
        let state = cache.lookup(tx, head, labels)?;
        match &state {
            None => new_series += 1,
            Some(state) if point.t_ms < state.last_t => {
                outcome.reject(
                    point.location,
                    "out of order sample (older than the series' newest)",
                );
                return Ok(());
            }
            Some(state)
                if point.t_ms == state.last_t
                    && point.temporality != Temporality::Delta
                    && !same_value(*value, state.last_v) =>
            {
                outcome.reject(
                    point.location,
                    "duplicate sample for timestamp with a different value",
                );
                return Ok(());
            }
            Some(_) => {}
        }
        states.push(state);
    }
    if new_series > 0 {
        let (total, per_family) = cache.counts(tx)?;
        let in_family = per_family.get(&family.name).copied().unwrap_or(0);
        if *total + new_series > limits.total {
            outcome.over_limit += 1;
            outcome.reject(
                point.location,
                &format!("series limit reached ({} series in total)", limits.total),
            );
            return Ok(());
        }
        if in_family + new_series > limits.per_metric {
            outcome.over_limit += 1;
            outcome.reject(
                point.location,
                &format!(
                    "series limit reached ({} series for metric {})",
                    limits.per_metric, family.name
                ),
            );
            return Ok(());
        }
        *total += new_series;
        *per_family.entry(family.name.clone()).or_default() += new_series;
        outcome.new_series += new_series as u64;
        ensure_family(tx, cache, family)?;
    }

    let mut series_ids = Vec::with_capacity(point.samples.len());
    for ((labels, value), state) in point.samples.iter().zip(states) {
        let mut state = match state {
            Some(state) => state,
            None => create_series(tx, family, labels, point.start_ms)?,
        };
        series_ids.push(state.id);
        if point.t_ms == state.last_t {
            // A duplicate: already stored.
            continue;
        }
        let stored = match point.temporality {
            Temporality::Gauge => *value,
            Temporality::Cumulative => {
                let reset = state.last_t != i64::MIN
                    && point.start_ms > 0
                    && point.start_ms > state.start_ms
                    && point.start_ms > state.last_t
                    && point.start_ms < point.t_ms;
                if reset {
                    cache.pending.push((
                        state.id,
                        Sample {
                            t: point.start_ms,
                            v: 0.0,
                        },
                    ));
                }
                *value
            }
            Temporality::Delta => {
                if value.is_nan() {
                    // A delta with no recorded value adds nothing.
                    continue;
                }
                let base = if state.last_t == i64::MIN || state.last_v.is_nan() {
                    0.0
                } else {
                    state.last_v
                };
                base + value
            }
        };
        cache.pending.push((
            state.id,
            Sample {
                t: point.t_ms,
                v: stored,
            },
        ));
        if point.temporality == Temporality::Cumulative
            && point.start_ms != state.start_ms
            && point.start_ms > 0
        {
            tx.prepare_cached("UPDATE metric_series SET start_ms = ?1 WHERE id = ?2")?
                .execute(params![point.start_ms, state.id])?;
            state.start_ms = point.start_ms;
        }
        state.last_t = point.t_ms;
        state.last_v = stored;
        cache.series.insert(labels.clone(), state);
    }
    if !point.exemplars.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO metric_exemplars (series_id, t, value, trace_id, span_id, labels)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (sample, exemplar) in &point.exemplars {
            let Some(series_id) = series_ids.get(*sample) else {
                continue;
            };
            insert.execute(params![
                series_id,
                exemplar.t_ms,
                value_bits(exemplar.value),
                exemplar.trace_id.map(|id| id.0.to_vec()),
                exemplar.span_id.map(|id| id.0.to_vec()),
                encode_labels(&exemplar.labels),
            ])?;
        }
    }
    outcome.accepted += 1;
    Ok(())
}

/// Writes (or updates) the family's metadata row once per run.
fn ensure_family(
    tx: &Transaction<'_>,
    cache: &mut MetricsCache,
    family: &MetricFamily,
) -> Result<(), StoreError> {
    if cache.families.get(&family.name) == Some(family) {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO metric_families (name, type, unit, help) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET type = excluded.type, unit = excluded.unit, help = excluded.help",
    )?
    .execute(params![family.name, family.metric_type.as_str(), family.unit, family.help])?;
    cache.families.insert(family.name.clone(), family.clone());
    Ok(())
}

fn create_series(
    tx: &Transaction<'_>,
    family: &MetricFamily,
    labels: &Labels,
    start_ms: i64,
) -> Result<SeriesState, StoreError> {
    tx.prepare_cached(
        "INSERT INTO metric_series (family, name, labels, start_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        family.name,
        labels.metric_name().unwrap_or_default(),
        encode_labels(labels),
        start_ms
    ])?;
    Ok(SeriesState {
        id: tx.last_insert_rowid(),
        last_t: i64::MIN,
        last_v: 0.0,
        start_ms,
    })
}

/// Moves every head sample older than `boundary_ms` into chunks, one per
/// series and hour, and deletes the WAL rows all of whose samples are now
/// in chunks. Returns the chunks written and what to drop from the head
/// once the transaction committed ([`MetricHead::compacted`]).
pub fn compact(
    tx: &Transaction<'_>,
    head: &MetricHead,
    boundary_ms: i64,
) -> Result<(u64, Compacted), StoreError> {
    let mut chunks = 0u64;
    let mut compacted = Compacted::default();
    let mut insert = tx.prepare_cached(
        "INSERT INTO metric_chunks (series_id, min_t, max_t, samples, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (series_id, samples) in head.to_compact(boundary_ms) {
        for hour in
            samples.chunk_by(|a, b| a.t.div_euclid(CHUNK_SPAN_MS) == b.t.div_euclid(CHUNK_SPAN_MS))
        {
            if let (Some(first), Some(last)) = (hour.first(), hour.last()) {
                insert.execute(params![
                    series_id,
                    first.t,
                    last.t,
                    hour.len() as i64,
                    chunk::encode(hour)
                ])?;
                chunks += 1;
            }
        }
        if let Some(last) = samples.last() {
            compacted.push(series_id, last.t);
        }
    }
    tx.prepare_cached("DELETE FROM metric_wal WHERE max_t < ?1")?
        .execute(params![boundary_ms])?;
    // Rows of the head table of earlier versions, loaded into the head at start.
    tx.prepare_cached("DELETE FROM metric_head WHERE t < ?1")?
        .execute(params![boundary_ms])?;
    Ok((chunks, compacted))
}

/// The head boundary for a compaction at wall time `now_ms`: the start of
/// the newest hour that ended at least the grace period ago.
pub fn compaction_boundary(now_ms: i64) -> i64 {
    (now_ms - CHUNK_GRACE_MS).div_euclid(CHUNK_SPAN_MS) * CHUNK_SPAN_MS
}

/// Deletes samples and exemplars older than `cutoff_ms` (whole chunks
/// that end before it, WAL rows likewise) and the series left without
/// samples. Returns the chunks deleted; the head drops its samples before
/// the cutoff once the transaction committed ([`MetricHead::delete_before`]).
pub fn delete_before(
    tx: &Transaction<'_>,
    head: &MetricHead,
    cutoff_ms: i64,
) -> Result<u64, StoreError> {
    let chunks = tx
        .prepare_cached("DELETE FROM metric_chunks WHERE max_t < ?1")?
        .execute(params![cutoff_ms])? as u64;
    tx.prepare_cached("DELETE FROM metric_wal WHERE max_t < ?1")?
        .execute(params![cutoff_ms])?;
    tx.prepare_cached("DELETE FROM metric_head WHERE t < ?1")?
        .execute(params![cutoff_ms])?;
    tx.prepare_cached("DELETE FROM metric_exemplars WHERE t < ?1")?
        .execute(params![cutoff_ms])?;
    let in_head: ahash::AHashSet<i64> = head.series_since(cutoff_ms).into_iter().collect();
    let unchunked: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM metric_series WHERE NOT EXISTS
                 (SELECT 1 FROM metric_chunks c WHERE c.series_id = metric_series.id)",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut delete = tx.prepare_cached("DELETE FROM metric_series WHERE id = ?1")?;
    for id in unchunked.into_iter().filter(|id| !in_head.contains(id)) {
        delete.execute(params![id])?;
    }
    Ok(chunks)
}
