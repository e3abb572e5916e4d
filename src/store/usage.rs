//! Bytes on disk: what the data directory holds, by store.
//!
//! Walking a directory of log segments costs a syscall per file, so it is
//! never done on a request: the `storage-usage` thread measures every
//! [`USAGE_INTERVAL`] and publishes into a [`UsageCache`] that `/metrics`,
//! `/api/stats` and `/health/deep` read. A failed measurement is kept as
//! the error (and logged), never turned into zero bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::RwLock;

use super::logs::LOGS_DIR;
use super::sqlite;
use crate::model::UnixNanos;

/// How often the data directory is measured.
pub const USAGE_INTERVAL: Duration = Duration::from_secs(10);

/// Bytes used, by store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUsage {
    /// `lookout.db` with its `-wal` and `-shm` files.
    pub sqlite: u64,
    /// The log day indexes.
    pub logs: u64,
    /// Everything in the data directory.
    pub total: u64,
}

/// A measurement that failed: which path, and why.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("cannot measure {}: {message}", path.display())]
pub struct UsageError {
    pub path: PathBuf,
    pub message: String,
}

/// Measures the data directory now.
pub fn measure(data_dir: &Path) -> Result<StorageUsage, UsageError> {
    let mut sqlite_bytes = 0;
    for (index, path) in sqlite::db_files(data_dir).into_iter().enumerate() {
        match std::fs::metadata(&path) {
            Ok(meta) => sqlite_bytes += meta.len(),
            // The WAL and shm files come and go with checkpoints.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && index > 0 => {}
            Err(error) => return Err(usage_error(&path, &error)),
        }
    }
    let logs_dir = data_dir.join(LOGS_DIR);
    let logs = if logs_dir.exists() {
        dir_size(&logs_dir)?
    } else {
        0
    };
    Ok(StorageUsage {
        sqlite: sqlite_bytes,
        logs,
        total: dir_size(data_dir)?,
    })
}

fn usage_error(path: &Path, error: &std::io::Error) -> UsageError {
    UsageError {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

/// Bytes of every file below `path`. A file that disappears while being
/// walked (a merged segment, a checkpointed WAL) counts as gone, not as an
/// error.
pub fn dir_size(path: &Path) -> Result<u64, UsageError> {
    let entries = std::fs::read_dir(path).map_err(|error| usage_error(path, &error))?;
    let mut total = 0;
    for entry in entries {
        let entry = entry.map_err(|error| usage_error(path, &error))?;
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(usage_error(&entry.path(), &error)),
        };
        total += if meta.is_dir() {
            match dir_size(&entry.path()) {
                Ok(bytes) => bytes,
                Err(_) if !entry.path().exists() => 0,
                Err(error) => return Err(error),
            }
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The last measurement, shared by the measuring thread and the readers.
#[derive(Debug, Default)]
pub struct UsageCache {
    last: RwLock<Option<Measured>>,
}

/// One measurement and when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub at: UnixNanos,
    pub usage: Result<StorageUsage, UsageError>,
}

impl UsageCache {
    /// Measures `data_dir` and publishes the result; logs a failure when
    /// it starts (not on every interval of an outage).
    pub fn refresh(&self, data_dir: &Path) {
        let usage = measure(data_dir);
        let was_ok = self
            .last
            .read()
            .as_ref()
            .is_none_or(|last| last.usage.is_ok());
        match &usage {
            Err(error) if was_ok => {
                tracing::warn!(%error, "cannot measure the data directory's size")
            }
            Ok(_) if !was_ok => tracing::info!("measuring the data directory works again"),
            _ => {}
        }
        *self.last.write() = Some(Measured {
            at: UnixNanos::now(),
            usage,
        });
    }

    /// The last measurement; `None` before the first.
    pub fn last(&self) -> Option<Measured> {
        self.last.read().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_add_up_by_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(sqlite::DB_FILE), vec![0u8; 100]).expect("db");
        std::fs::create_dir_all(dir.path().join(LOGS_DIR).join("2026-12-01")).expect("logs");
        std::fs::write(
            dir.path().join(LOGS_DIR).join("2026-12-01").join("seg"),
            vec![0u8; 40],
        )
        .expect("segment");
        std::fs::write(dir.path().join("other"), vec![0u8; 7]).expect("other");
        let usage = measure(dir.path()).expect("measured");
        assert_eq!(usage.sqlite, 100);
        assert_eq!(usage.logs, 40);
        assert_eq!(usage.total, 147);
    }

    #[test]
    fn a_missing_data_directory_is_an_error_not_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("gone");
        let cache = UsageCache::default();
        cache.refresh(&missing);
        let last = cache.last().expect("measured once");
        assert!(last.usage.is_err(), "{last:?}");
    }
}
