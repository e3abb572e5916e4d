//! The data-directory lock: one lookout process per data directory.
//!
//! `serve` (and `demo`) take an exclusive `flock` on `<data-dir>/lookout.lock`
//! before opening anything for writing and hold it until they exit; the
//! kernel releases it when the process ends, however it ends, so a crash
//! never leaves a stale lock behind. The lock file holds the owner's pid so
//! a refused second start can name the process in the way.
//!
//! Invariant: the SQLite write store is opened only through a held lock
//! ([`DataDirLock::open_write_store`]), at most once per lock. Since `flock`
//! locks belong to an open file description, a second lock on the same
//! directory fails in the same process too: two writers cannot coexist.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::sqlite::{self, StoreError, StoreOptions, WriteStore};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "lookout.lock";

/// A held data-directory lock; released on drop (and at process exit).
#[derive(Debug)]
pub struct DataDirLock {
    dir: PathBuf,
    _file: Flock<File>,
    write_store_opened: bool,
}

impl DataDirLock {
    /// Takes the lock without waiting: `StoreError::Locked` (naming the
    /// holder's pid where the lock file tells it) if another lookout holds
    /// it. Creates the directory if needed.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, StoreError> {
        let io_error = |source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_error)?;
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        let mut locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                let mut text = String::new();
                let holder = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse::<u32>().ok());
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err((_, errno)) => {
                return Err(StoreError::Io {
                    path,
                    source: std::io::Error::from(errno),
                })
            }
        };
        // Only the holder writes the file, so readers see a whole pid.
        let pid = std::process::id();
        let written = locked
            .set_len(0)
            .and_then(|()| locked.rewind())
            .and_then(|()| writeln!(*locked, "{pid}"))
            .and_then(|()| locked.sync_data());
        written.map_err(|source| StoreError::Io { path, source })?;
        Ok(DataDirLock {
            dir: dir.to_path_buf(),
            _file: locked,
            write_store_opened: false,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens (creating and migrating) the database for writing. Callable
    /// once per lock: the one write store is moved into the writer thread.
    pub(crate) fn open_write_store(
        &mut self,
        options: &StoreOptions,
    ) -> Result<WriteStore, StoreError> {
        if self.write_store_opened {
            return Err(StoreError::WriterOpen {
                dir: self.dir.clone(),
            });
        }
        let store = sqlite::open_write_store(&self.dir, options)?;
        self.write_store_opened = true;
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDirLock::acquire(dir.path()).expect("first lock");
        let error = DataDirLock::acquire(dir.path()).expect_err("second lock");
        match &error {
            StoreError::Locked {
                dir: locked,
                holder,
            } => {
                assert_eq!(locked, dir.path());
                assert_eq!(*holder, Some(std::process::id()));
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(error
            .to_string()
            .contains(&dir.path().display().to_string()));
        drop(first);
        DataDirLock::acquire(dir.path()).expect("free again after the holder dropped it");
    }

    #[test]
    fn the_write_store_opens_once_per_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut lock = DataDirLock::acquire(dir.path()).expect("lock");
        let store = lock
            .open_write_store(&StoreOptions::default())
            .expect("first");
        assert!(matches!(
            lock.open_write_store(&StoreOptions::default()),
            Err(StoreError::WriterOpen { .. })
        ));
        drop(store);
    }
}
