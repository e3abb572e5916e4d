//! `<data-dir>/lookout.control`: how commands on the same machine reach
//! the server that holds the data directory (`lookout backup` runs through
//! it, so the lock is respected). It names the server's address and a
//! random token that the server accepts for that purpose only. The file is
//! readable by its owner only; whoever can read it can read the database
//! beside it anyway. A server writes it once listening and removes it when
//! it stops; one left by a crash is ignored, since it is only read while
//! the lock is held by a live server.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const CONTROL_FILE: &str = "lookout.control";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    pub pid: u32,
    /// Base URL on a loopback address, e.g. `http://127.0.0.1:4318`.
    pub url: String,
    pub token: String,
}

/// Writes the control file (mode 0600) atomically.
pub fn write(data_dir: &Path, control: &Control) -> std::io::Result<()> {
    let text = serde_json::to_vec(control).map_err(std::io::Error::other)?;
    let partial = data_dir.join(format!("{CONTROL_FILE}.partial"));
    let _ = std::fs::remove_file(&partial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(&text)?;
    file.sync_all()?;
    std::fs::rename(&partial, data_dir.join(CONTROL_FILE))
}

pub fn read(data_dir: &Path) -> std::io::Result<Control> {
    let text = std::fs::read(data_dir.join(CONTROL_FILE))?;
    serde_json::from_slice(&text).map_err(std::io::Error::other)
}

/// Removes the control file if it is still this process's.
pub fn remove(data_dir: &Path) {
    if read(data_dir).is_ok_and(|control| control.pid == std::process::id()) {
        let _ = std::fs::remove_file(data_dir.join(CONTROL_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_control_file_round_trips_and_only_its_owner_reads_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let control = Control {
            pid: std::process::id(),
            url: "http://127.0.0.1:4318".into(),
            token: "secret".into(),
        };
        write(dir.path(), &control).expect("write");
        assert_eq!(read(dir.path()).expect("read"), control);
        let mode = std::fs::metadata(dir.path().join(CONTROL_FILE))
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        remove(dir.path());
        assert!(read(dir.path()).is_err());
    }
}
