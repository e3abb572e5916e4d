//! `lookout check`: verifies a data directory without changing it: the
//! database's schema version and integrity, every day index (it opens, its
//! checksums hold, no journal id is indexed twice), and the journal against
//! the indexes (every id above the highest committed payload is still in
//! the journal, so nothing acknowledged was lost between them, and no
//! journal row is stranded below the replay point outside its day), every
//! span's attributes and events (they unpack and decode), and every trace
//! block filter against the spans of its block.

use std::collections::BTreeMap;
use std::path::Path;

use crate::store::log_codec;
use crate::store::logs::verify;
use crate::store::logs::{LogDay, LOGS_DIR};
use crate::store::sqlite::{self, applied_version, read, StoreError, MIGRATIONS};

/// What `check` found; `problems` empty means the directory is sound.
#[derive(Debug)]
pub struct CheckReport {
    pub schema_version: i64,
    pub traces: i64,
    pub spans: i64,
    /// Spans whose attributes and events are packed with a dictionary
    /// (every span's are unpacked and decoded).
    pub packed_spans: u64,
    /// Trace block filters checked against their spans.
    pub trace_blocks: usize,
    /// Records in the log indexes, and the day indexes.
    pub log_records: u64,
    pub log_days: usize,
    /// Journal rows waiting to be indexed.
    pub journal_rows: usize,
    pub problems: Vec<String>,
}

pub fn check_data_dir(data_dir: &Path) -> Result<CheckReport, StoreError> {
    let path = sqlite::db_path(data_dir);
    if !path.exists() {
        return Ok(CheckReport {
            schema_version: 0,
            traces: 0,
            spans: 0,
            packed_spans: 0,
            trace_blocks: 0,
            log_records: 0,
            log_days: 0,
            journal_rows: 0,
            problems: vec![format!("no database at {}", path.display())],
        });
    }
    let conn = sqlite::open_read_only(data_dir)?;
    let mut problems = Vec::new();
    let schema_version = applied_version(&conn)?;
    let supported = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
    if schema_version > supported {
        problems.push(format!(
            "schema version {schema_version} is newer than this build supports ({supported})"
        ));
    }
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let results: Vec<String> = stmt
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if results != ["ok"] {
        problems.extend(results.into_iter().map(|line| format!("integrity: {line}")));
    }
    let counts = if schema_version >= 1 {
        read::storage_counts(&conn)?
    } else {
        read::StorageCounts::default()
    };
    let mut packed_spans = 0;
    if schema_version >= 13 {
        let verified = sqlite::span_dictionaries::verify(&conn)?;
        packed_spans = verified.packed;
        problems.extend(verified.problems);
    }
    let mut trace_blocks = 0;
    if schema_version >= 12 {
        let (checked, block_problems) = sqlite::trace_blocks::verify(&conn)?;
        trace_blocks = checked;
        problems.extend(block_problems);
    }
    let logs = verify::verify(&data_dir.join(LOGS_DIR));
    for day in &logs.days {
        problems.extend(
            day.problems
                .iter()
                .map(|problem| format!("log index {}: {problem}", day.day)),
        );
    }
    problems.extend(logs.problems.iter().map(|p| format!("log indexes: {p}")));
    let mut journal_rows = 0;
    if schema_version >= 2 {
        let highest = i64::try_from(logs.highest_payload()).unwrap_or(i64::MAX);
        let (sequence, waiting) = read::journal_after(&conn, highest)?;
        journal_rows = waiting.len();
        problems.extend(journal_gaps(highest, sequence, &waiting));
        problems.extend(stranded_journal_rows(&conn, &logs)?);
    }
    Ok(CheckReport {
        schema_version,
        traces: counts.traces,
        spans: counts.spans,
        packed_spans,
        trace_blocks,
        log_records: logs.records(),
        log_days: logs.days.len(),
        journal_rows,
        problems,
    })
}

/// Journal rows at or below the replay point (the smallest payload, where
/// the log indexer resumes after a restart) that their day's index lacks:
/// acknowledged records that no replay will ever index.
fn stranded_journal_rows(
    conn: &rusqlite::Connection,
    logs: &verify::LogsReport,
) -> Result<Vec<String>, StoreError> {
    let payloads: BTreeMap<LogDay, u64> =
        logs.days.iter().map(|day| (day.day, day.payload)).collect();
    let replay_from = i64::try_from(payloads.values().copied().min().unwrap_or(0)).unwrap_or(0);
    let mut stranded = Vec::new();
    let mut after = 0;
    while after < replay_from {
        let rows = read::read_journal(conn, after, 10_000)?;
        let Some(&(last, _)) = rows.last() else {
            break;
        };
        let days = rows
            .into_iter()
            .take_while(|(id, _)| *id <= replay_from)
            // Undecodable rows are skipped by the indexer, loudly.
            .filter_map(|(id, blob)| {
                let record = log_codec::decode_record(&blob).ok()?;
                Some((id, LogDay::of(record.timestamp)))
            });
        stranded.extend(not_held(&payloads, days));
        after = last;
    }
    if stranded.is_empty() {
        return Ok(Vec::new());
    }
    let examples: Vec<String> = stranded.iter().take(5).map(i64::to_string).collect();
    Ok(vec![format!(
        "journal: {} record(s) at or below the replay point {replay_from} are not in their day's index and will never be indexed (ids {})",
        stranded.len(),
        examples.join(", ")
    )])
}

/// The ids of the journal rows whose day's index does not hold them (no
/// such day, or a payload below the id).
fn not_held<'a>(
    payloads: &'a BTreeMap<LogDay, u64>,
    rows: impl Iterator<Item = (i64, LogDay)> + 'a,
) -> impl Iterator<Item = i64> + 'a {
    rows.filter(|(id, day)| {
        !payloads
            .get(day)
            .is_some_and(|payload| u64::try_from(*id).is_ok_and(|id| id <= *payload))
    })
    .map(|(id, _)| id)
}

/// The journal ids above the indexes' highest payload that are not in the
/// journal: records that were acknowledged and then lost.
fn journal_gaps(highest_payload: i64, sequence: i64, waiting: &[i64]) -> Vec<String> {
    let mut gaps = Vec::new();
    let mut expected = highest_payload + 1;
    for &id in waiting.iter().chain(std::iter::once(&(sequence + 1))) {
        if id > expected {
            gaps.push((expected, id - 1));
        }
        expected = expected.max(id + 1);
    }
    let missing: i64 = gaps.iter().map(|(from, to)| to - from + 1).sum();
    if missing == 0 {
        return Vec::new();
    }
    let ranges: Vec<String> = gaps
        .iter()
        .take(5)
        .map(|(from, to)| {
            if from == to {
                from.to_string()
            } else {
                format!("{from}–{to}")
            }
        })
        .collect();
    vec![format!(
        "journal: {missing} record(s) were acknowledged but are neither indexed nor journaled (ids {}; the indexes are complete up to {highest_payload})",
        ranges.join(", ")
    )]
}

#[cfg(test)]
mod tests {
    use super::{journal_gaps, not_held, BTreeMap, LogDay};
    use crate::model::UnixNanos;

    #[test]
    fn rows_their_day_lacks_are_named() {
        let day = |n: i64| {
            LogDay::of(UnixNanos(
                1_763_683_200_000_000_000 + n * 86_400_000_000_000,
            ))
        };
        let payloads = BTreeMap::from([(day(0), 20), (day(1), 10)]);
        let rows = [(5, day(0)), (15, day(1)), (18, day(2)), (20, day(0))];
        assert_eq!(
            not_held(&payloads, rows.into_iter()).collect::<Vec<_>>(),
            [15, 18]
        );
    }

    #[test]
    fn gaps_between_payload_journal_and_sequence_are_named() {
        assert!(journal_gaps(10, 10, &[]).is_empty());
        assert!(journal_gaps(10, 13, &[11, 12, 13]).is_empty());
        let gaps = journal_gaps(10, 16, &[11, 14]);
        assert_eq!(gaps.len(), 1);
        assert!(gaps[0].contains("4 record(s)"), "{gaps:?}");
        assert!(gaps[0].contains("12–13, 15–16"), "{gaps:?}");
        // An id below the payload (not truncated yet) is no gap.
        assert!(journal_gaps(10, 11, &[11]).is_empty());
    }
}
