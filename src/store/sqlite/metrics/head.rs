//! The head: metric samples not yet in chunks, held in memory and shared
//! by the writer and the readers, with a write-ahead log in SQLite.
//!
//! A sample row per sample (the head table this replaces) capped ingest at
//! SQLite's rate of row inserts. Now each group commit writes one
//! `metric_wal` row holding all of the group's samples, and only after the
//! commit are they appended here, so a reader never sees a sample that is
//! not durable. At start the head is rebuilt from the WAL rows (and from
//! rows of the old head table), skipping what chunks already hold.
//!
//! Compaction writes chunks from the head and deletes the WAL rows whose
//! samples are all in chunks, in one transaction; only after it committed
//! are the samples dropped from memory. Readers take the head's samples
//! first and then open their SQLite snapshot, and merge the two by time:
//! a compaction in between is seen twice (and merged), never missed, since
//! a sample leaves the head only after its chunk is visible to any
//! snapshot opened later.
//!
//! Samples of a series are appended in time order only (older ones are
//! refused by the writer), so what compaction takes of a series is always
//! a prefix, and a replayed sample at or before a series' last chunk is
//! known to be in that chunk.

use ahash::AHashMap as HashMap;
use parking_lot::RwLock;
use rusqlite::{params, Connection, Transaction};

use super::super::codec::{put_varint, put_zigzag, Reader};
use super::{value_from_bits, StoreError};
use crate::model::metric::Sample;

/// One series' samples in the head, in time order.
#[derive(Debug, Default)]
struct SeriesHead {
    samples: Vec<Sample>,
    /// Samples up to this time are in chunks (`i64::MIN`: none).
    compacted_through: i64,
}

/// The in-memory head, shared by the writer (which appends and compacts)
/// and the readers.
#[derive(Debug, Default)]
pub struct MetricHead {
    series: RwLock<HashMap<i64, SeriesHead>>,
}

/// Samples of one group, appended to the head once the group committed.
pub type PendingSamples = Vec<(i64, Sample)>;

/// What a compaction took from the head, to mark once it committed.
#[derive(Debug, Default)]
pub struct Compacted {
    /// (series id, time of the last sample put in a chunk).
    through: Vec<(i64, i64)>,
}

impl MetricHead {
    /// Rebuilds the head from the WAL rows and the old head table: every
    /// sample after the last chunk of its series.
    pub fn load(conn: &Connection) -> Result<MetricHead, StoreError> {
        let mut chunked: HashMap<i64, i64> = HashMap::new();
        {
            let mut stmt =
                conn.prepare("SELECT series_id, max(max_t) FROM metric_chunks GROUP BY series_id")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                chunked.insert(row.get(0)?, row.get(1)?);
            }
        }
        let mut series: HashMap<i64, SeriesHead> = HashMap::new();
        let mut add = |series_id: i64, sample: Sample| {
            let after = chunked.get(&series_id).copied().unwrap_or(i64::MIN);
            if sample.t <= after {
                return;
            }
            let head = series.entry(series_id).or_insert_with(|| SeriesHead {
                compacted_through: after,
                samples: Vec::new(),
            });
            if head.samples.last().is_none_or(|last| last.t < sample.t) {
                head.samples.push(sample);
            }
        };
        {
            let mut stmt =
                conn.prepare("SELECT series_id, t, v FROM metric_head ORDER BY series_id, t")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                add(
                    row.get(0)?,
                    Sample {
                        t: row.get(1)?,
                        v: value_from_bits(row.get(2)?),
                    },
                );
            }
        }
        {
            let mut stmt = conn.prepare("SELECT data FROM metric_wal ORDER BY id")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let data = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
                for (series_id, sample) in decode_wal(data)? {
                    add(series_id, sample);
                }
            }
        }
        Ok(MetricHead {
            series: RwLock::new(series),
        })
    }

    /// Makes a committed group's samples visible.
    pub fn append(&self, pending: PendingSamples) {
        if pending.is_empty() {
            return;
        }
        let mut series = self.series.write();
        for (series_id, sample) in pending {
            let head = series.entry(series_id).or_insert_with(|| SeriesHead {
                compacted_through: i64::MIN,
                samples: Vec::new(),
            });
            if head.samples.last().is_none_or(|last| last.t < sample.t) {
                head.samples.push(sample);
            }
        }
    }

    /// The head's samples of a series with `start <= t <= end`, appended
    /// to `out` in time order.
    pub fn samples(&self, series_id: i64, start: i64, end: i64, out: &mut Vec<Sample>) {
        let series = self.series.read();
        if let Some(head) = series.get(&series_id) {
            let from = head.samples.partition_point(|s| s.t < start);
            let to = head.samples.partition_point(|s| s.t <= end);
            if from < to {
                out.extend_from_slice(&head.samples[from..to]);
            }
        }
    }

    /// Whether the head holds a sample of a series in `[start, end]`.
    pub fn has_samples(&self, series_id: i64, start: i64, end: i64) -> bool {
        self.series.read().get(&series_id).is_some_and(|head| {
            let from = head.samples.partition_point(|s| s.t < start);
            head.samples.get(from).is_some_and(|s| s.t <= end)
        })
    }

    /// The newest sample of a series in the head.
    pub fn last(&self, series_id: i64) -> Option<Sample> {
        self.series
            .read()
            .get(&series_id)
            .and_then(|head| head.samples.last().copied())
    }

    /// Series with a sample at or after `since`.
    pub fn series_since(&self, since: i64) -> Vec<i64> {
        self.series
            .read()
            .iter()
            .filter(|(_, head)| head.samples.last().is_some_and(|s| s.t >= since))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Samples in the head (for `/metrics`-style accounting and tests).
    pub fn len(&self) -> usize {
        self.series.read().values().map(|h| h.samples.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples before `boundary` not in chunks yet, per series (copies:
    /// the head keeps them until the compaction has committed).
    pub fn to_compact(&self, boundary: i64) -> Vec<(i64, Vec<Sample>)> {
        let series = self.series.read();
        let mut out: Vec<(i64, Vec<Sample>)> = series
            .iter()
            .filter_map(|(id, head)| {
                let from = head
                    .samples
                    .partition_point(|s| s.t <= head.compacted_through);
                let to = head.samples.partition_point(|s| s.t < boundary);
                (from < to).then(|| (*id, head.samples[from..to].to_vec()))
            })
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// After a compaction committed: what it wrote is in chunks and leaves
    /// memory.
    pub fn compacted(&self, compacted: Compacted) {
        let mut series = self.series.write();
        for (series_id, through) in compacted.through {
            if let Some(head) = series.get_mut(&series_id) {
                head.compacted_through = head.compacted_through.max(through);
                let keep = head.samples.partition_point(|s| s.t <= through);
                head.samples.drain(..keep);
            }
        }
        series.retain(|_, head| !head.samples.is_empty());
    }

    /// After retention committed: samples before `cutoff` leave memory.
    pub fn delete_before(&self, cutoff: i64) {
        let mut series = self.series.write();
        for head in series.values_mut() {
            let keep = head.samples.partition_point(|s| s.t < cutoff);
            head.samples.drain(..keep);
        }
        series.retain(|_, head| !head.samples.is_empty());
    }
}

impl Compacted {
    pub(super) fn push(&mut self, series_id: i64, through: i64) {
        self.through.push((series_id, through));
    }
}

/// Writes one group's samples as one WAL row.
pub(super) fn write_wal(tx: &Transaction<'_>, pending: &PendingSamples) -> Result<(), StoreError> {
    let Some(max_t) = pending.iter().map(|(_, s)| s.t).max() else {
        return Ok(());
    };
    let mut data = Vec::with_capacity(pending.len() * 12 + 8);
    put_varint(&mut data, pending.len() as u64);
    let mut previous_t = 0i64;
    for (series_id, sample) in pending {
        put_varint(&mut data, *series_id as u64);
        put_zigzag(&mut data, sample.t.wrapping_sub(previous_t));
        previous_t = sample.t;
        data.extend_from_slice(&sample.v.to_bits().to_le_bytes());
    }
    tx.prepare_cached("INSERT INTO metric_wal (max_t, data) VALUES (?1, ?2)")?
        .execute(params![max_t, data])?;
    Ok(())
}

/// The samples of a WAL row, in the order written.
fn decode_wal(data: &[u8]) -> Result<PendingSamples, StoreError> {
    let corrupt = |error: super::super::codec::CodecError| {
        StoreError::Corrupt(format!("metric WAL row: {error}"))
    };
    let mut reader = Reader::new(data);
    let count = reader.varint().map_err(corrupt)?;
    // Each sample takes at least 10 bytes: a corrupt count cannot size the
    // vector beyond the row.
    let mut out = Vec::with_capacity((count as usize).min(data.len() / 10));
    let mut t = 0i64;
    for _ in 0..count {
        let series_id = reader.varint().map_err(corrupt)? as i64;
        t = t.wrapping_add(reader.zigzag().map_err(corrupt)?);
        let bytes = reader.take(8).map_err(corrupt)?;
        let mut bits = [0u8; 8];
        bits.copy_from_slice(bytes);
        out.push((
            series_id,
            Sample {
                t,
                v: f64::from_bits(u64::from_le_bytes(bits)),
            },
        ));
    }
    if !reader.is_empty() {
        return Err(StoreError::Corrupt("metric WAL row: trailing bytes".into()));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an in-memory database for the WAL codec
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn wal_rows_round_trip_samples_and_nan_bits() {
        let stale = f64::from_bits(crate::model::metric::STALE_NAN_BITS);
        let pending = vec![(3, s(1_000, 1.5)), (9, s(900, stale)), (3, s(2_000, -0.0))];
        let mut conn = Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE metric_wal (id INTEGER PRIMARY KEY, max_t INTEGER NOT NULL, data BLOB NOT NULL)")
            .expect("table");
        let tx = conn.transaction().expect("tx");
        write_wal(&tx, &pending).expect("write");
        let data: Vec<u8> = tx
            .query_row("SELECT data FROM metric_wal", [], |row| row.get(0))
            .expect("row");
        let decoded = decode_wal(&data).expect("decode");
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded[1].1.v.to_bits(), stale.to_bits());
        assert_eq!(decoded[2].1.v.to_bits(), (-0.0f64).to_bits());
        assert_eq!((decoded[0].0, decoded[0].1.t), (3, 1_000));
        assert!(decode_wal(&data[..data.len() - 1]).is_err());
    }

    #[test]
    fn compaction_takes_a_prefix_and_drops_it_once_committed() {
        let head = MetricHead::default();
        head.append(vec![(1, s(10, 1.0)), (1, s(20, 2.0)), (1, s(30, 3.0))]);
        // Out of order and duplicate samples never reach the head.
        head.append(vec![(1, s(30, 9.0)), (1, s(5, 9.0))]);
        let taken = head.to_compact(25);
        assert_eq!(taken, vec![(1, vec![s(10, 1.0), s(20, 2.0)])]);
        // Until the compaction commits, the head still answers for them.
        let mut out = Vec::new();
        head.samples(1, 0, 100, &mut out);
        assert_eq!(out.len(), 3);
        let mut done = Compacted::default();
        done.push(1, 20);
        head.compacted(done);
        out.clear();
        head.samples(1, 0, 100, &mut out);
        assert_eq!(out, vec![s(30, 3.0)]);
        assert!(head.to_compact(25).is_empty());
        head.delete_before(31);
        assert!(head.is_empty());
    }
}
