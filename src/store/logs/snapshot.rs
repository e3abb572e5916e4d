//! A committed state of a day index, pinned for copying while the log
//! indexer keeps writing and merging (`lookout backup`).
//!
//! tantivy never changes a segment file once written; it only deletes the
//! files of segments merged away, after a newer `meta.json` stops naming
//! them. So a snapshot reads the committed metas, then opens every file
//! they name: an open file stays readable after it is unlinked (POSIX), so
//! once all are open the state cannot change under the copy. A file that
//! is already gone means a merge finished in between; the snapshot starts
//! over from the newer metas. Nothing here writes to the index.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;

use tantivy::index::SegmentComponent;
use tantivy::Index;

use super::day::LogDay;
use super::LogIndexError;

/// How often a snapshot starts over because a merge removed a file.
const ATTEMPTS: usize = 20;

/// The files of one day index's committed state, opened, with the two
/// small files a copy needs written beside them.
#[derive(Debug)]
pub struct DaySnapshot {
    pub day: LogDay,
    /// `meta.json` of the pinned state.
    pub meta_json: Vec<u8>,
    /// `.managed.json`: the segment files, so that the restored index's
    /// garbage collection removes them once merged away.
    pub managed_json: Vec<u8>,
    /// Segment files by name, open for reading.
    pub files: Vec<(String, File)>,
    /// The commit payload (a journal id; 0 when never committed).
    pub payload: u64,
    /// Live documents.
    pub records: u64,
}

/// Pins the committed state of the day index at `path`; `None` when the
/// day is gone (retention deleted it meanwhile).
pub fn snapshot_day(day: LogDay, path: &Path) -> Result<Option<DaySnapshot>, LogIndexError> {
    for _ in 0..ATTEMPTS {
        if !path.join("meta.json").is_file() {
            return Ok(None);
        }
        match try_snapshot(day, path) {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(Attempt::Moved) => continue,
            Err(Attempt::Failed(error)) => return Err(error),
        }
    }
    Err(LogIndexError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!(
            "the index kept changing during {ATTEMPTS} attempts to pin a committed state"
        )),
    })
}

enum Attempt {
    /// A file named by the metas was deleted: a merge ended meanwhile.
    Moved,
    Failed(LogIndexError),
}

impl From<LogIndexError> for Attempt {
    fn from(error: LogIndexError) -> Self {
        Attempt::Failed(error)
    }
}

fn try_snapshot(day: LogDay, path: &Path) -> Result<DaySnapshot, Attempt> {
    let io_error = |source: std::io::Error| {
        if source.kind() == ErrorKind::NotFound {
            Attempt::Moved
        } else {
            Attempt::Failed(LogIndexError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let index = Index::open_in_dir(path).map_err(|error| match error {
        tantivy::TantivyError::OpenReadError(_) | tantivy::TantivyError::OpenDirectoryError(_) => {
            Attempt::Moved
        }
        other => Attempt::Failed(other.into()),
    })?;
    let metas = index.load_metas().map_err(LogIndexError::from)?;
    let present: BTreeSet<String> = std::fs::read_dir(path)
        .map_err(io_error)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    let mut files = Vec::new();
    let mut records = 0u64;
    for segment in &metas.segments {
        records += u64::from(segment.num_docs());
        let prefix = format!("{}.", segment.id().uuid_string());
        let deletes = segment
            .has_deletes()
            .then(|| segment.relative_path(SegmentComponent::Delete));
        let mut found = 0;
        for name in present.iter().filter(|name| name.starts_with(&prefix)) {
            let is_delete_file = name.ends_with(".del");
            let current_deletes = deletes.as_ref().and_then(|p| p.to_str()) == Some(name.as_str());
            if (is_delete_file && !current_deletes) || name.ends_with(".temp") {
                continue;
            }
            let file = File::open(path.join(name)).map_err(io_error)?;
            files.push((name.clone(), file));
            found += 1;
        }
        if found == 0 {
            return Err(Attempt::Moved);
        }
    }
    let payload = match &metas.payload {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| LogIndexError::BadPayload {
            day,
            payload: text.clone(),
        })?,
    };
    let meta_json = serde_json::to_vec_pretty(&metas).map_err(|error| {
        LogIndexError::Corrupt(format!("cannot encode the index metas: {error}"))
    })?;
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    let mut managed_json = serde_json::to_vec(&names)
        .map_err(|error| LogIndexError::Corrupt(format!("cannot encode the file list: {error}")))?;
    managed_json.push(b'\n');
    Ok(DaySnapshot {
        day,
        meta_json,
        managed_json,
        files,
        payload,
        records,
    })
}

/// The day index directories under `dir`, oldest first (a missing
/// directory has none).
pub fn day_dirs(dir: &Path) -> Vec<(LogDay, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut days: Vec<(LogDay, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let day = entry
                .file_name()
                .to_str()
                .and_then(LogDay::parse_dir_name)?;
            Some((day, entry.path()))
        })
        .filter(|(_, path)| path.join("meta.json").is_file())
        .collect();
    days.sort();
    days
}

#[cfg(test)]
mod tests {
    use super::super::tests::record_at as record;
    use super::*;
    use crate::model::UnixNanos;
    use crate::store::logs::{LogIndexOptions, LogIndexes};
    use std::io::Read as _;

    #[test]
    fn a_snapshot_copied_elsewhere_opens_with_the_same_documents_and_payload() {
        let source = tempfile::tempdir().expect("tempdir");
        let indexes = LogIndexes::open(source.path(), LogIndexOptions::default()).expect("open");
        let day = LogDay::of(UnixNanos(1_790_000_000_000_000_000));
        let mut writer = indexes.writer().expect("writer");
        for id in 1..=3u64 {
            writer
                .add(id, &record(day.start().0 + id as i64, "hello"))
                .expect("add");
            writer.commit().expect("commit");
        }
        let path = source.path().join(day.dir_name());
        let snapshot = snapshot_day(day, &path)
            .expect("snapshot")
            .expect("day exists");
        assert_eq!(snapshot.payload, 3);
        assert_eq!(snapshot.records, 3);
        // More commits (and their merges) after pinning do not disturb it.
        for id in 4..=6u64 {
            writer
                .add(id, &record(day.start().0 + id as i64, "later"))
                .expect("add");
            writer.commit().expect("commit");
        }
        drop(writer);

        let copy = tempfile::tempdir().expect("tempdir");
        let day_copy = copy.path().join(day.dir_name());
        std::fs::create_dir_all(&day_copy).expect("mkdir");
        for (name, mut file) in snapshot.files {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).expect("read");
            std::fs::write(day_copy.join(name), bytes).expect("write");
        }
        std::fs::write(day_copy.join("meta.json"), &snapshot.meta_json).expect("meta");
        std::fs::write(day_copy.join(".managed.json"), &snapshot.managed_json).expect("managed");
        let copied = LogIndexes::open(copy.path(), LogIndexOptions::default()).expect("open copy");
        assert_eq!(copied.replay_from().expect("payload"), 3);
        let report = super::super::verify::verify(copy.path());
        assert_eq!(report.records(), 3, "{report:?}");
        assert!(
            report.days.iter().all(|d| d.problems.is_empty()),
            "{report:?}"
        );
    }

    #[test]
    fn a_day_that_is_gone_has_no_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let day = LogDay(20_000);
        assert!(snapshot_day(day, &dir.path().join(day.dir_name()))
            .expect("no error")
            .is_none());
        assert!(day_dirs(&dir.path().join("missing")).is_empty());
    }
}
