//! `lookout backup DIR` and `lookout restore DIR`.
//!
//! A backup of a data directory a server is using runs inside that server
//! (`POST /api/admin/backup`, found through the control file), which can
//! hold journal truncation while it copies; with no server, the command
//! takes the data-directory lock itself and copies directly. Either way the
//! work is `store::backup`'s. A restore needs the lock: it is refused
//! while a server runs. On a terminal both show the bytes written so far.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::admin::with_own_writer;
use crate::model::security::{AuditEvent, SecurityChange};
use crate::store::backup::{self, Manifest};
use crate::store::control;
use crate::store::sqlite;
use crate::store::usage;
use crate::store::{DataDirLock, StoreError};

/// What a finished backup or restore reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Through a running server (backup only).
    pub through_server: bool,
    pub bytes: u64,
    pub files: usize,
    pub traces: i64,
    pub spans: i64,
    pub log_records: u64,
    pub took: Duration,
}

impl std::fmt::Display for Outcome {
    /// `12.0 MiB in 40 files (…) in 1.2 s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} in {} files ({} traces, {} spans, {} log records) in {:.1} s",
            mebibytes(self.bytes),
            self.files,
            self.traces,
            self.spans,
            self.log_records,
            self.took.as_secs_f64()
        )
    }
}

impl Outcome {
    fn of(manifest: &Manifest, through_server: bool, took: Duration) -> Outcome {
        Outcome {
            through_server,
            bytes: manifest.bytes,
            files: manifest.files.len(),
            traces: manifest.counts.traces,
            spans: manifest.counts.spans,
            log_records: manifest.counts.log_records,
            took,
        }
    }
}

/// Backs up `data_dir` into `dest`.
pub fn backup(data_dir: &Path, dest: &Path) -> anyhow::Result<Outcome> {
    let dest =
        std::path::absolute(dest).with_context(|| format!("cannot resolve {}", dest.display()))?;
    let started = Instant::now();
    match DataDirLock::acquire(data_dir) {
        Ok(lock) => {
            let total = estimate(data_dir);
            let progress = Progress::start("backup", dest.clone(), total);
            let result = backup_directly(lock, &dest);
            progress.finish();
            Ok(Outcome::of(&result?, false, started.elapsed()))
        }
        Err(StoreError::Locked { holder, .. }) => {
            let total = estimate(data_dir);
            let progress = Progress::start("backup", dest.clone(), total);
            let result = backup_through_server(data_dir, holder, &dest);
            progress.finish();
            let answer = result?;
            Ok(Outcome {
                through_server: true,
                bytes: answer["bytes"].as_u64().unwrap_or(0),
                files: answer["files"].as_u64().unwrap_or(0) as usize,
                traces: answer["counts"]["traces"].as_i64().unwrap_or(0),
                spans: answer["counts"]["spans"].as_i64().unwrap_or(0),
                log_records: answer["counts"]["log_records"].as_u64().unwrap_or(0),
                took: started.elapsed(),
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// Bytes the backup will write, about: the data directory's size.
fn estimate(data_dir: &Path) -> u64 {
    usage::measure(data_dir)
        .map(|usage| usage.total)
        .unwrap_or(0)
}

/// No server runs: copy under our own lock, then audit through a writer of
/// our own (as `admin set-password` does).
fn backup_directly(mut lock: DataDirLock, dest: &Path) -> anyhow::Result<Manifest> {
    let data_dir = lock.dir().to_path_buf();
    if !sqlite::db_path(&data_dir).exists() {
        anyhow::bail!("{} holds no lookout database", data_dir.display());
    }
    let (result, audited) = with_own_writer(&mut lock, |writer| {
        let result = backup::create(&data_dir, dest);
        let event = AuditEvent::new(crate::security::Principal::Local.actor(), "backup")
            .target(dest.display().to_string());
        let event = match &result {
            Ok(manifest) => event.details(serde_json::json!({
                "bytes": manifest.bytes,
                "files": manifest.files.len(),
                "via": "lookout backup, no server running",
            })),
            Err(error) => event
                .failed()
                .details(serde_json::json!({"error": error.to_string()})),
        };
        let audited = writer.write_security_blocking(SecurityChange::AuditOnly, vec![event]);
        (result, audited)
    })?;
    drop(lock);
    let manifest = result?;
    audited.context("the backup was written, but recording it in the audit log failed")?;
    Ok(manifest)
}

/// A server holds the lock: ask it to write the backup.
fn backup_through_server(
    data_dir: &Path,
    holder: Option<u32>,
    dest: &Path,
) -> anyhow::Result<serde_json::Value> {
    let control = control::read(data_dir).with_context(|| {
        format!(
            "a server{} uses {} but its {} cannot be read (is it still starting?)",
            holder
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default(),
            data_dir.display(),
            control::CONTROL_FILE
        )
    })?;
    if holder.is_some_and(|pid| pid != control.pid) {
        anyhow::bail!(
            "{} in {} belongs to pid {}, but pid {} holds the directory: the server may still be starting; try again",
            control::CONTROL_FILE,
            data_dir.display(),
            control.pid,
            holder.unwrap_or_default()
        );
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let body = serde_json::json!({ "dir": dest.display().to_string() }).to_string();
    let url = format!("{}/api/admin/backup", control.url.trim_end_matches('/'));
    let mut response = agent
        .post(&url)
        .header("authorization", &format!("Bearer {}", control.token))
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .with_context(|| format!("cannot reach the server at {}", control.url))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if !(200..300).contains(&status) {
        let message = answer["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text.trim().to_string());
        anyhow::bail!("the server refused the backup (HTTP {status}): {message}");
    }
    Ok(answer)
}

/// Restores the backup in `from` into `data_dir`, which no server may use.
pub fn restore(data_dir: &Path, from: &Path, force: bool) -> anyhow::Result<Outcome> {
    let from =
        std::path::absolute(from).with_context(|| format!("cannot resolve {}", from.display()))?;
    let started = Instant::now();
    let lock = DataDirLock::acquire(data_dir).map_err(|error| match error {
        StoreError::Locked { holder, .. } => anyhow::anyhow!(
            "a server{} is using {}: stop it before restoring into it",
            holder
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default(),
            data_dir.display()
        ),
        other => other.into(),
    })?;
    let total = usage::dir_size(&from).unwrap_or(0);
    let progress = Progress::start("restore", data_dir.join(backup::STAGING_DIR), total);
    let result = backup::restore(&from, &lock, force);
    progress.finish();
    drop(lock);
    Ok(Outcome::of(&result?, false, started.elapsed()))
}

/// Bytes written so far against the expected total, redrawn on stderr
/// twice a second while stderr is a terminal.
struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(what: &'static str, dir: PathBuf, total: u64) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let written = usage::dir_size(&dir).unwrap_or(0);
                    let percent = if total > 0 {
                        format!(
                            " ({:.0} %)",
                            (written as f64 / total as f64 * 100.0).min(100.0)
                        )
                    } else {
                        String::new()
                    };
                    eprint!(
                        "\r{what}: {} of about {}{percent}   ",
                        mebibytes(written),
                        mebibytes(total)
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
                eprintln!();
            })
        });
        Progress { done, thread }
    }

    fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
