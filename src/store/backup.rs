//! Backups of a data directory and their restore.
//!
//! A backup directory has the data directory's layout (`lookout.db`,
//! `logs/<day>/…`) and a `manifest.json` naming every file with its size
//! and SHA-256, written last: a directory without one is an unfinished
//! backup and is refused.
//!
//! Consistency: the log indexes are pinned first (each day's committed
//! state, see [`snapshot`](super::logs::snapshot)), then the database is
//! copied in one read transaction. The database is therefore at least as
//! new as the indexes, so every log record the indexes hold is also
//! accounted for in the copied journal's sequence, and every record they
//! lack is still in the copied journal, provided the server did not
//! truncate the journal in between: a server holds truncation while it
//! backs up (`IndexerStatus::hold_journal`). On restore, the indexer
//! replays the journal rows above each day's payload, as after any
//! restart.
//!
//! The checksums find damage and changes made by hand; they are not a
//! signature: whoever can rewrite the files can rewrite the manifest too.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::logs::snapshot::{self, DaySnapshot};
use super::logs::{LogIndexError, LOGS_DIR};
use super::sqlite::{self, StoreError, DB_FILE, MIGRATIONS};
use super::DataDirLock;
use crate::model::UnixNanos;

pub const MANIFEST_FILE: &str = "manifest.json";
/// Left in a data directory by a restore; the next server start records
/// the restore in the audit log and removes it.
pub const RESTORE_MARKER: &str = "restored.json";
const FORMAT: &str = "lookout-backup";
const FORMAT_VERSION: u32 = 1;
/// Where a restore assembles the files before moving them into place.
pub const STAGING_DIR: &str = ".restore-staging";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub created_unix_nano: i64,
    pub lookout_version: String,
    pub schema_version: i64,
    pub counts: BackupCounts,
    /// Sum of the files' sizes.
    pub bytes: u64,
    pub files: Vec<ManifestFile>,
}

/// What the backup holds, counted in the copy itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCounts {
    pub traces: i64,
    pub spans: i64,
    /// Records in the log indexes plus journal rows not yet indexed.
    pub log_records: u64,
    pub log_days: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a restore leaves for the next start to audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreMarker {
    pub from: String,
    pub backup_created_unix_nano: i64,
    pub restored_unix_nano: i64,
    pub bytes: u64,
    pub counts: BackupCounts,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{} is not empty: a backup goes into a new or empty directory", path.display())]
    NotEmpty { path: PathBuf },
    #[error(
        "{} already holds a lookout database or log indexes: restore into an empty data directory, or pass --force to replace what is there",
        path.display()
    )]
    TargetHasData { path: PathBuf },
    #[error("{} is not a usable backup: {message}", dir.display())]
    Invalid { dir: PathBuf, message: String },
    #[error("i/o on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Logs(#[from] LogIndexError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `from` to its end, hashing it and writing it to `to` if given;
/// errors name `path`.
fn digest(
    mut from: impl Read,
    mut to: Option<&mut File>,
    path: &Path,
) -> Result<(u64, String), BackupError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(io_error(path)(error)),
        };
        hasher.update(&buffer[..read]);
        if let Some(out) = to.as_mut() {
            out.write_all(&buffer[..read]).map_err(io_error(path))?;
        }
        total += read as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Copies into a new file `to` (synced) and hashes what was copied.
fn copy_hashed(from: impl Read, to: &Path) -> Result<(u64, String), BackupError> {
    let mut out = File::create(to).map_err(io_error(to))?;
    let copied = digest(from, Some(&mut out), to)?;
    out.sync_all().map_err(io_error(to))?;
    Ok(copied)
}

fn hash_file(path: &Path) -> Result<(u64, String), BackupError> {
    let file = File::open(path).map_err(io_error(path))?;
    digest(file, None, path)
}

fn is_empty_dir(path: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(true),
        Err(error) => Err(io_error(path)(error)),
    }
}

/// Writes a backup of `data_dir` into `dest` (created if missing; it must
/// be empty). On failure what was written is removed again.
pub fn create(data_dir: &Path, dest: &Path) -> Result<Manifest, BackupError> {
    if !is_empty_dir(dest)? {
        return Err(BackupError::NotEmpty {
            path: dest.to_path_buf(),
        });
    }
    std::fs::create_dir_all(dest).map_err(io_error(dest))?;
    let result = write_backup(data_dir, dest);
    if result.is_err() {
        if let Ok(entries) = std::fs::read_dir(dest) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
    result
}

fn write_backup(data_dir: &Path, dest: &Path) -> Result<Manifest, BackupError> {
    let created = UnixNanos::now();
    let mut files = Vec::new();
    let mut log_records = 0u64;
    let mut log_days = 0usize;
    let mut indexed_through = 0u64;
    for (day, path) in snapshot::day_dirs(&data_dir.join(LOGS_DIR)) {
        let Some(pinned) = snapshot::snapshot_day(day, &path)? else {
            continue;
        };
        log_records += pinned.records;
        log_days += 1;
        indexed_through = indexed_through.max(pinned.payload);
        files.extend(copy_day(pinned, dest)?);
    }
    let db = dest.join(DB_FILE);
    let copied = sqlite::copy_database(data_dir, &db, indexed_through)?;
    let (bytes, sha256) = hash_file(&db)?;
    files.push(ManifestFile {
        path: DB_FILE.into(),
        bytes,
        sha256,
    });
    let manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        created_unix_nano: created.0,
        lookout_version: env!("CARGO_PKG_VERSION").into(),
        schema_version: copied.schema_version,
        counts: BackupCounts {
            traces: copied.counts.traces,
            spans: copied.counts.spans,
            log_records: log_records + copied.journal_waiting,
            log_days,
        },
        bytes: files.iter().map(|file| file.bytes).sum(),
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|error| BackupError::Invalid {
        dir: dest.to_path_buf(),
        message: format!("cannot encode the manifest: {error}"),
    })?;
    let partial = dest.join(format!("{MANIFEST_FILE}.partial"));
    std::fs::write(&partial, text).map_err(io_error(&partial))?;
    File::open(&partial)
        .and_then(|file| file.sync_all())
        .map_err(io_error(&partial))?;
    let final_path = dest.join(MANIFEST_FILE);
    std::fs::rename(&partial, &final_path).map_err(io_error(&final_path))?;
    sync_dir(dest)?;
    Ok(manifest)
}

/// Copies one pinned day into `dest/logs/<day>/`.
fn copy_day(pinned: DaySnapshot, dest: &Path) -> Result<Vec<ManifestFile>, BackupError> {
    let relative = format!("{LOGS_DIR}/{}", pinned.day.dir_name());
    let dir = dest.join(&relative);
    std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let mut files = Vec::with_capacity(pinned.files.len() + 2);
    for (name, file) in pinned.files {
        let (bytes, sha256) = copy_hashed(file, &dir.join(&name))?;
        files.push(ManifestFile {
            path: format!("{relative}/{name}"),
            bytes,
            sha256,
        });
    }
    for (name, contents) in [
        ("meta.json", &pinned.meta_json),
        (".managed.json", &pinned.managed_json),
    ] {
        let (bytes, sha256) = copy_hashed(contents.as_slice(), &dir.join(name))?;
        files.push(ManifestFile {
            path: format!("{relative}/{name}"),
            bytes,
            sha256,
        });
    }
    sync_dir(&dir)?;
    Ok(files)
}

fn sync_dir(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(path))
}

/// The relative path of a manifest entry, if it is one a backup can hold:
/// `lookout.db`, or a file of a day index.
fn allowed_path(path: &str) -> Option<PathBuf> {
    let relative = PathBuf::from(path);
    let parts: Vec<&str> = relative
        .components()
        .map(|component| match component {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [DB_FILE] => Some(relative),
        [LOGS_DIR, day, _file] if crate::store::logs::LogDay::parse_dir_name(day).is_some() => {
            Some(relative)
        }
        _ => None,
    }
}

/// Reads and checks a backup: its manifest, then every file's size and
/// checksum. Changes nothing.
pub fn verify(dir: &Path) -> Result<Manifest, BackupError> {
    let invalid = |message: String| BackupError::Invalid {
        dir: dir.to_path_buf(),
        message,
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read(&manifest_path) {
        Ok(text) => text,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            return Err(invalid(format!(
                "it has no {MANIFEST_FILE} (not a lookout backup, or one that did not finish)"
            )))
        }
        Err(error) => return Err(io_error(&manifest_path)(error)),
    };
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|error| invalid(format!("{MANIFEST_FILE} does not parse: {error}")))?;
    if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
        return Err(invalid(format!(
            "{MANIFEST_FILE} is format {:?} version {}; this lookout reads {FORMAT:?} version {FORMAT_VERSION}",
            manifest.format, manifest.version
        )));
    }
    let supported = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
    if manifest.schema_version > supported {
        return Err(invalid(format!(
            "it was taken by a newer lookout (schema version {}, this build knows up to {supported})",
            manifest.schema_version
        )));
    }
    if !manifest.files.iter().any(|file| file.path == DB_FILE) {
        return Err(invalid(format!("{MANIFEST_FILE} names no {DB_FILE}")));
    }
    for file in &manifest.files {
        let Some(relative) = allowed_path(&file.path) else {
            return Err(invalid(format!(
                "{MANIFEST_FILE} names {:?}, which a backup cannot hold",
                file.path
            )));
        };
        let path = dir.join(relative);
        let (bytes, sha256) = match hash_file(&path) {
            Ok(found) => found,
            Err(BackupError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(invalid(format!("{} is missing", file.path)))
            }
            Err(error) => return Err(error),
        };
        if bytes != file.bytes || sha256 != file.sha256 {
            return Err(invalid(format!(
                "{} differs from the manifest ({bytes} bytes, {} expected): the backup is damaged or was changed",
                file.path, file.bytes
            )));
        }
    }
    Ok(manifest)
}

/// Whether `dir` holds a database or day indexes.
fn holds_data(dir: &Path) -> bool {
    sqlite::db_path(dir).exists() || !snapshot::day_dirs(&dir.join(LOGS_DIR)).is_empty()
}

/// Restores the backup in `backup` into the locked data directory. The
/// backup is verified before anything in the data directory changes, and
/// every file again as it is copied. `force` replaces what the directory
/// holds; without it a directory with data is refused.
pub fn restore(backup: &Path, lock: &DataDirLock, force: bool) -> Result<Manifest, BackupError> {
    let manifest = verify(backup)?;
    let target = lock.dir();
    if holds_data(target) && !force {
        return Err(BackupError::TargetHasData {
            path: target.to_path_buf(),
        });
    }
    let staging = target.join(STAGING_DIR);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_error(&staging))?;
    }
    for file in &manifest.files {
        let relative = allowed_path(&file.path).ok_or_else(|| BackupError::Invalid {
            dir: backup.to_path_buf(),
            message: format!("{MANIFEST_FILE} names {:?}", file.path),
        })?;
        let to = staging.join(&relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        let from_path = backup.join(&relative);
        let from = File::open(&from_path).map_err(io_error(&from_path))?;
        let (bytes, sha256) = copy_hashed(from, &to)?;
        if bytes != file.bytes || sha256 != file.sha256 {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(BackupError::Invalid {
                dir: backup.to_path_buf(),
                message: format!("{} changed while it was being restored", file.path),
            });
        }
    }
    // Everything is in place and verified: replace the old data.
    for path in sqlite::db_files(target) {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(io_error(&path)(error)),
        }
    }
    let logs = target.join(LOGS_DIR);
    if logs.exists() {
        std::fs::remove_dir_all(&logs).map_err(io_error(&logs))?;
    }
    let staged_logs = staging.join(LOGS_DIR);
    if staged_logs.exists() {
        std::fs::rename(&staged_logs, &logs).map_err(io_error(&logs))?;
    }
    let db = sqlite::db_path(target);
    std::fs::rename(staging.join(DB_FILE), &db).map_err(io_error(&db))?;
    std::fs::remove_dir_all(&staging).map_err(io_error(&staging))?;
    let marker = RestoreMarker {
        from: backup.display().to_string(),
        backup_created_unix_nano: manifest.created_unix_nano,
        restored_unix_nano: UnixNanos::now().0,
        bytes: manifest.bytes,
        counts: manifest.counts,
    };
    let marker_path = target.join(RESTORE_MARKER);
    let text = serde_json::to_vec_pretty(&marker).map_err(|error| BackupError::Invalid {
        dir: backup.to_path_buf(),
        message: format!("cannot encode the restore marker: {error}"),
    })?;
    std::fs::write(&marker_path, text).map_err(io_error(&marker_path))?;
    sync_dir(target)?;
    Ok(manifest)
}

/// The restore a data directory records, if its marker is there.
pub fn take_restore_marker(data_dir: &Path) -> Option<Result<RestoreMarker, String>> {
    let path = data_dir.join(RESTORE_MARKER);
    let text = std::fs::read(&path).ok()?;
    Some(
        serde_json::from_slice(&text)
            .map_err(|error| format!("{} does not parse: {error}", path.display())),
    )
}

/// Removes the restore marker once it has been recorded.
pub fn clear_restore_marker(data_dir: &Path) -> std::io::Result<()> {
    std::fs::remove_file(data_dir.join(RESTORE_MARKER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_database_and_day_index_files_are_accepted_in_a_manifest() {
        assert!(allowed_path("lookout.db").is_some());
        assert!(allowed_path("logs/2026-12-04/abc.idx").is_some());
        for bad in [
            "../lookout.db",
            "/etc/passwd",
            "logs/../../x",
            "logs/not-a-day/x",
            "lookout.lock",
            "logs/2026-12-04/sub/x",
        ] {
            assert!(allowed_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_backup_into_a_non_empty_directory_is_refused_and_leaves_it_alone() {
        let data = tempfile::tempdir().expect("tempdir");
        let dest = tempfile::tempdir().expect("tempdir");
        std::fs::write(dest.path().join("keep.txt"), b"mine").expect("write");
        let error = create(data.path(), dest.path()).expect_err("not empty");
        assert!(matches!(error, BackupError::NotEmpty { .. }), "{error}");
        assert_eq!(
            std::fs::read(dest.path().join("keep.txt")).expect("still there"),
            b"mine"
        );
    }
}
