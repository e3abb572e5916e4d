//! Read-only verification of the day indexes for `lookout check`: each day
//! opens with the expected schema, its files pass tantivy's checksums, its
//! payload is a journal id, and no journal id is indexed twice (within a
//! day or across days).

use std::path::Path;

use tantivy::Index;

use super::day::LogDay;
use super::schema::{LogSchema, JOURNAL_ID};

/// What verification found in one day index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReport {
    pub day: LogDay,
    /// Live documents.
    pub records: u64,
    /// The committed payload (0 when never committed or unreadable).
    pub payload: u64,
    pub problems: Vec<String>,
}

/// The whole log store's verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsReport {
    pub days: Vec<DayReport>,
    /// Problems that span days (ids indexed twice).
    pub problems: Vec<String>,
}

impl LogsReport {
    /// The highest payload of any day: every journal row above it must
    /// still be in the journal.
    pub fn highest_payload(&self) -> u64 {
        self.days.iter().map(|day| day.payload).max().unwrap_or(0)
    }

    pub fn records(&self) -> u64 {
        self.days.iter().map(|day| day.records).sum()
    }
}

/// Verifies the day indexes under `dir` without writing anything (a
/// missing directory is an empty store).
pub fn verify(dir: &Path) -> LogsReport {
    let mut report = LogsReport::default();
    let days = super::snapshot::day_dirs(dir);
    let mut all_ids: Vec<(u64, LogDay)> = Vec::new();
    for (day, path) in days {
        let mut day_report = DayReport {
            day,
            records: 0,
            payload: 0,
            problems: Vec::new(),
        };
        if let Err(problem) = verify_day(day, &path, &mut day_report, &mut all_ids) {
            day_report.problems.push(problem);
        }
        report.days.push(day_report);
    }
    all_ids.sort_unstable();
    let mut duplicates = 0u64;
    let mut examples = Vec::new();
    for pair in all_ids.windows(2) {
        if pair[0].0 == pair[1].0 {
            duplicates += 1;
            if examples.len() < 5 {
                examples.push(format!("{} ({} and {})", pair[0].0, pair[0].1, pair[1].1));
            }
        }
    }
    if duplicates > 0 {
        report.problems.push(format!(
            "{duplicates} journal id(s) are indexed more than once, e.g. {}",
            examples.join(", ")
        ));
    }
    report
}

fn verify_day(
    day: LogDay,
    path: &Path,
    report: &mut DayReport,
    all_ids: &mut Vec<(u64, LogDay)>,
) -> Result<(), String> {
    let index = Index::open_in_dir(path).map_err(|e| format!("does not open: {e}"))?;
    if !LogSchema::get().reads(&index.schema()) {
        return Err("its schema is not this build's log schema".into());
    }
    let metas = index
        .load_metas()
        .map_err(|e| format!("its meta.json does not load: {e}"))?;
    report.payload = match metas.payload.as_deref() {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| format!("its commit payload {text:?} is not a journal id"))?,
    };
    let corrupt = index
        .validate_checksum()
        .map_err(|e| format!("its files cannot be checked: {e}"))?;
    if !corrupt.is_empty() {
        let mut names: Vec<String> = corrupt
            .iter()
            .map(|file| file.display().to_string())
            .collect();
        names.sort();
        report
            .problems
            .push(format!("checksum mismatch in {}", names.join(", ")));
    }
    let reader = index.reader().map_err(|e| format!("cannot be read: {e}"))?;
    let searcher = reader.searcher();
    let mut above_payload = 0u64;
    for segment in searcher.segment_readers() {
        let ids = segment
            .fast_fields()
            .u64(JOURNAL_ID)
            .map_err(|e| format!("segment {}: no journal ids: {e}", segment.segment_id()))?;
        for doc in segment.doc_ids_alive() {
            let Some(id) = ids.first(doc) else {
                report.problems.push(format!(
                    "segment {}: a record without a journal id",
                    segment.segment_id()
                ));
                continue;
            };
            above_payload += u64::from(id > report.payload);
            report.records += 1;
            all_ids.push((id, day));
        }
    }
    if above_payload > 0 {
        report.problems.push(format!(
            "{above_payload} record(s) have a journal id above the committed payload {}",
            report.payload
        ));
    }
    // One line per kind of problem is enough for a report.
    report.problems.dedup();
    report.problems.truncate(20);
    Ok(())
}
