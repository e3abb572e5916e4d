//! Reading metric series: by label matchers over a time range (for
//! PromQL), label names and values, and family metadata. Samples come from
//! the in-memory head, read first, and from the chunks of one SQLite
//! snapshot opened after it, merged by time: a compaction in between is
//! seen on both sides and merged, never missed (see `head`).

use rusqlite::{params, Connection};

use super::head::MetricHead;
use super::{chunk, decode_labels};
use crate::model::metric::{
    matches_all, Labels, MatchOp, Matcher, Sample, SeriesSamples, METRIC_NAME,
};
use crate::model::metric_batch::MetricType;
use crate::store::sqlite::read::in_snapshot;
use crate::store::StoreError;

/// A stored series' id and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSeries {
    pub id: i64,
    pub labels: Labels,
}

/// A metric family as stored, with its number of series.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyInfo {
    pub name: String,
    pub metric_type: MetricType,
    pub unit: String,
    pub help: String,
    pub series: u64,
}

/// Every series that matches all `matchers` (an empty list matches all).
pub fn matching_series(
    conn: &Connection,
    matchers: &[Matcher],
) -> Result<Vec<StoredSeries>, StoreError> {
    let by_name = matchers
        .iter()
        .find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal);
    let mut out = Vec::new();
    let mut collect = |rows: &mut rusqlite::Rows<'_>| -> Result<(), StoreError> {
        while let Some(row) = rows.next()? {
            let labels = decode_labels(&row.get::<_, String>(1)?)?;
            if matches_all(matchers, &labels) {
                out.push(StoredSeries {
                    id: row.get(0)?,
                    labels,
                });
            }
        }
        Ok(())
    };
    match by_name {
        Some(matcher) => {
            let mut stmt =
                conn.prepare_cached("SELECT id, labels FROM metric_series WHERE name = ?1")?;
            collect(&mut stmt.query(params![matcher.value])?)?;
        }
        None => {
            let mut stmt = conn.prepare_cached("SELECT id, labels FROM metric_series")?;
            collect(&mut stmt.query([])?)?;
        }
    }
    Ok(out)
}

/// The chunks of one series that overlap `[start, end]`, oldest first, as
/// stored.
fn overlapping_chunks(
    conn: &Connection,
    series_id: i64,
    start: i64,
    end: i64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut chunks = conn.prepare_cached(
        "SELECT data FROM metric_chunks WHERE series_id = ?1 AND min_t <= ?3 AND max_t >= ?2 ORDER BY min_t",
    )?;
    let rows = chunks.query_map(params![series_id, start, end], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Appends the head samples to the chunk samples in `out`, both in time
/// order: head samples at or before the last chunk sample are the ones a
/// compaction just put in chunks.
fn append_head(out: &mut Vec<Sample>, head: &[Sample]) {
    let after = out.last().map_or(i64::MIN, |last| last.t);
    let from = head.partition_point(|sample| sample.t <= after);
    out.extend_from_slice(&head[from..]);
}

/// A series' samples in `[start, end]` as stored, decoded on demand: the
/// chunks that overlap the range and the head's samples in it.
pub struct EncodedSeries {
    pub labels: Labels,
    chunks: Vec<Vec<u8>>,
    head: Vec<Sample>,
    start: i64,
    end: i64,
}

impl EncodedSeries {
    /// Replaces the contents of `out` with the samples in `[start, end]`,
    /// in time order (none when the range falls between two samples of a
    /// chunk).
    pub fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), StoreError> {
        out.clear();
        for data in &self.chunks {
            chunk::decode_range(data, self.start, self.end, out)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        }
        append_head(out, &self.head);
        Ok(())
    }
}

/// Series matching `matchers` with their samples in `[start, end]` (ms)
/// still encoded: the chunk bytes are read now, in one snapshot, and
/// decoded when [`EncodedSeries::decode_into`] is called.
pub fn select_encoded(
    conn: &Connection,
    head: &MetricHead,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> Result<Vec<EncodedSeries>, StoreError> {
    let series = matching_series(conn, matchers)?;
    // The head before the snapshot (see the module's comment).
    let heads: Vec<Vec<Sample>> = series
        .iter()
        .map(|s| {
            let mut samples = Vec::new();
            head.samples(s.id, start, end, &mut samples);
            samples
        })
        .collect();
    in_snapshot(conn, |conn| {
        let mut out = Vec::with_capacity(series.len());
        for (series, head) in series.into_iter().zip(heads) {
            let chunks = overlapping_chunks(conn, series.id, start, end)?;
            if chunks.is_empty() && head.is_empty() {
                continue;
            }
            out.push(EncodedSeries {
                labels: series.labels,
                chunks,
                head,
                start,
                end,
            });
        }
        Ok(out)
    })
}

/// Series matching `matchers` with their samples in `[start, end]` (ms);
/// series without samples there are left out.
pub fn select(
    conn: &Connection,
    head: &MetricHead,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> Result<Vec<SeriesSamples>, StoreError> {
    // Chunks decode into one buffer that keeps its capacity from series to
    // series; each series then gets exactly its samples. Growing a vector
    // per series instead costs a copy per doubling, and fresh pages for
    // the kernel to fault in and zero.
    let mut decoded = Vec::new();
    let mut out = Vec::new();
    for series in select_encoded(conn, head, matchers, start, end)? {
        series.decode_into(&mut decoded)?;
        if !decoded.is_empty() {
            out.push(SeriesSamples {
                labels: series.labels,
                samples: decoded.as_slice().to_vec(),
            });
        }
    }
    Ok(out)
}

/// Whether a series has a sample in `[start, end]` in its chunks.
fn has_chunk_samples(
    conn: &Connection,
    series_id: i64,
    start: i64,
    end: i64,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM metric_chunks WHERE series_id = ?1 AND min_t <= ?3 AND max_t >= ?2)",
        )?
        .query_row(params![series_id, start, end], |row| row.get(0))?)
}

/// Series matching any of the matcher sets (all series when there are
/// none) with a sample in `[start, end]`: what `/series`, `/labels` and
/// `/label/{name}/values` are built from.
pub fn series_in_range(
    conn: &Connection,
    head: &MetricHead,
    matcher_sets: &[Vec<Matcher>],
    start: i64,
    end: i64,
) -> Result<Vec<Labels>, StoreError> {
    let mut found: Vec<StoredSeries> = Vec::new();
    if matcher_sets.is_empty() {
        found = matching_series(conn, &[])?;
    } else {
        for matchers in matcher_sets {
            for series in matching_series(conn, matchers)? {
                if !found.iter().any(|s| s.id == series.id) {
                    found.push(series);
                }
            }
        }
    }
    // The head before the snapshot (see the module's comment).
    let (mut out, rest): (Vec<StoredSeries>, Vec<StoredSeries>) = found
        .into_iter()
        .partition(|series| head.has_samples(series.id, start, end));
    in_snapshot(conn, |conn| {
        for series in rest {
            if has_chunk_samples(conn, series.id, start, end)? {
                out.push(series);
            }
        }
        Ok(())
    })?;
    let mut labels: Vec<Labels> = out.into_iter().map(|series| series.labels).collect();
    labels.sort();
    Ok(labels)
}

/// Every metric family with its series count, by name.
pub fn families(conn: &Connection) -> Result<Vec<FamilyInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.name, f.type, f.unit, f.help, (SELECT count(*) FROM metric_series s WHERE s.family = f.name)
         FROM metric_families f ORDER BY f.name",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let type_text: String = row.get(1)?;
        let metric_type = MetricType::parse(&type_text)
            .ok_or_else(|| StoreError::Corrupt(format!("metric type {type_text:?}")))?;
        out.push(FamilyInfo {
            name: row.get(0)?,
            metric_type,
            unit: row.get(2)?,
            help: row.get(3)?,
            series: row.get::<_, i64>(4)? as u64,
        });
    }
    Ok(out)
}

/// An exemplar as stored, with its series' labels.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExemplar {
    pub series: Labels,
    pub t: i64,
    pub value: f64,
    pub trace_id: Option<crate::model::TraceId>,
    pub span_id: Option<crate::model::SpanId>,
    pub labels: Labels,
}

/// Exemplars of the series matching `matchers` in `[start, end]`, oldest
/// first, at most `limit`.
pub fn exemplars(
    conn: &Connection,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    limit: usize,
) -> Result<Vec<StoredExemplar>, StoreError> {
    in_snapshot(conn, |conn| {
        let mut out = Vec::new();
        let mut stmt = conn.prepare_cached(
            "SELECT t, value, trace_id, span_id, labels FROM metric_exemplars
             WHERE series_id = ?1 AND t >= ?2 AND t <= ?3 ORDER BY t LIMIT ?4",
        )?;
        for series in matching_series(conn, matchers)? {
            let mut rows = stmt.query(params![series.id, start, end, limit as i64])?;
            while let Some(row) = rows.next()? {
                let trace: Option<Vec<u8>> = row.get(2)?;
                let span: Option<Vec<u8>> = row.get(3)?;
                out.push(StoredExemplar {
                    series: series.labels.clone(),
                    t: row.get(0)?,
                    value: super::value_from_bits(row.get(1)?),
                    trace_id: trace.and_then(|b| crate::model::TraceId::from_bytes(&b).ok()),
                    span_id: span.and_then(|b| crate::model::SpanId::from_bytes(&b).ok()),
                    labels: decode_labels(&row.get::<_, String>(4)?)?,
                });
            }
            if out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(times: &[i64]) -> Vec<Sample> {
        times.iter().map(|&t| Sample { t, v: t as f64 }).collect()
    }

    #[test]
    fn head_samples_a_compaction_already_put_in_chunks_are_not_repeated() {
        let merged = |chunks: &[i64], head: &[i64]| {
            let mut out = samples(chunks);
            append_head(&mut out, &samples(head));
            out
        };
        assert_eq!(merged(&[1, 2, 3], &[2, 3, 4, 5]), samples(&[1, 2, 3, 4, 5]));
        assert_eq!(merged(&[], &[4, 5]), samples(&[4, 5]));
        assert_eq!(merged(&[1, 2], &[]), samples(&[1, 2]));
        assert_eq!(merged(&[1, 9], &[2, 3]), samples(&[1, 9]));
    }
}
