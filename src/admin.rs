//! `lookout admin set-password`: sets the admin password in a data
//! directory no server is using, through the same writer a server uses
//! (the change and its audit row in one transaction; every session ends).

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::model::security::{AuditEvent, SecurityChange};
use crate::model::UnixNanos;
use crate::pipeline::{spawn_writer, PipelineOptions, WriterHandle};
use crate::security::password;
use crate::store::sqlite::StoreOptions;
use crate::store::DataDirLock;
use crate::telemetry::Metrics;

/// Reads the new password: from a terminal, asked twice without echo;
/// otherwise the first line of stdin.
pub fn read_new_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New admin password: ")?;
        let second = rpassword::prompt_password("Repeat it: ")?;
        if first != second {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Hashes `new_password` (argon2id) and stores it; every session ends.
pub fn set_password(data_dir: &Path, new_password: &str) -> anyhow::Result<()> {
    let hash = password::hash(new_password)?;
    let mut lock = DataDirLock::acquire(data_dir).map_err(|error| {
        anyhow::anyhow!(
            "{error}; with the server running, change the password with POST /api/auth/password instead"
        )
    })?;
    let audit = AuditEvent::new("admin (command line)", "auth.password")
        .details(serde_json::json!({"via": "lookout admin set-password"}));
    let result = with_own_writer(&mut lock, |writer| {
        writer.write_security_blocking(
            SecurityChange::SetPassword {
                hash,
                at: UnixNanos::now(),
            },
            vec![audit],
        )
    })?;
    drop(lock);
    result.context("storing the password failed")?;
    Ok(())
}

/// Runs `work` with a writer of the command's own on a data directory it
/// has locked (so no server runs), then stops the writer after it has
/// committed everything.
pub fn with_own_writer<T>(
    lock: &mut DataDirLock,
    work: impl FnOnce(&WriterHandle) -> T,
) -> anyhow::Result<T> {
    let store = lock
        .open_write_store(&StoreOptions::default())
        .with_context(|| format!("cannot open the database in {}", lock.dir().display()))?;
    let (writer, thread) = spawn_writer(
        store,
        &PipelineOptions::default(),
        Arc::new(Metrics::default()),
        None,
    )?;
    let result = work(&writer);
    writer.stop();
    drop(writer);
    let _ = thread.join();
    Ok(result)
}
