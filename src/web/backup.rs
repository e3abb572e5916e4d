//! `POST /api/admin/backup`: a consistent backup of the data directory
//! this server runs on, while it keeps ingesting. `lookout backup` calls
//! it (with the control file's token) when a server holds the directory.

use std::path::PathBuf;
use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::auth::caller;
use super::error::ApiError;
use super::security::json_body;
use super::AppState;
use crate::model::security::SecurityChange;
use crate::model::{format_rfc3339, UnixNanos};
use crate::store::backup::{self, BackupError, Manifest};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    /// An absolute path on the server's machine: a new or empty directory.
    dir: String,
}

/// One backup at a time: a second one would only compete for the disk.
static RUNNING: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

pub async fn create(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let given: BackupBody = json_body(&request, &body)?;
    let dir = PathBuf::from(given.dir.trim());
    if !dir.is_absolute() {
        return Err(ApiError::BadField {
            field: "dir".into(),
            message: "must be an absolute path on the server's machine".into(),
        });
    }
    let audit = caller(&request)
        .audit("backup")
        .target(dir.display().to_string());
    let data_dir = state.config.data_dir.clone();
    let hold = state.indexer.hold_journal();
    let started = Instant::now();
    let target = dir.clone();
    let result = web::block(move || {
        let Some(_running) = RUNNING.try_lock() else {
            return Err(None);
        };
        // Truncation stays held until the database copy is complete.
        let result = backup::create(&data_dir, &target);
        drop(hold);
        result.map_err(Some)
    })
    .await
    .map_err(|error| ApiError::Internal(format!("the backup task failed: {error}")))?;
    let took_ms = started.elapsed().as_millis() as u64;
    let manifest = match result {
        Ok(manifest) => manifest,
        Err(None) => {
            return Err(ApiError::Conflict(
                "a backup is already running; try again when it has finished".into(),
            ))
        }
        Err(Some(error)) => {
            tracing::error!(dir = %dir.display(), %error, "backup failed");
            let failed = audit.failed().details(json!({"error": error.to_string()}));
            if let Err(audit_error) = state
                .writer
                .write_security(SecurityChange::AuditOnly, vec![failed])
                .await
            {
                tracing::warn!(error = %audit_error, "could not audit the failed backup");
            }
            return Err(match error {
                BackupError::NotEmpty { .. } => ApiError::BadField {
                    field: "dir".into(),
                    message: error.to_string(),
                },
                other => ApiError::Internal(other.to_string()),
            });
        }
    };
    tracing::info!(
        dir = %dir.display(),
        bytes = manifest.bytes,
        files = manifest.files.len(),
        took_ms,
        "backup written"
    );
    let done = audit.details(json!({
        "bytes": manifest.bytes,
        "files": manifest.files.len(),
        "took_ms": took_ms,
    }));
    state
        .writer
        .write_security(SecurityChange::AuditOnly, vec![done])
        .await?;
    Ok(HttpResponse::Ok().json(summary(&dir, &manifest, took_ms)))
}

/// The answer: what was written, without the file list.
pub fn summary(dir: &std::path::Path, manifest: &Manifest, took_ms: u64) -> serde_json::Value {
    json!({
        "dir": dir.display().to_string(),
        "created": format_rfc3339(UnixNanos(manifest.created_unix_nano)),
        "schema_version": manifest.schema_version,
        "bytes": manifest.bytes,
        "files": manifest.files.len(),
        "counts": manifest.counts,
        "took_ms": took_ms,
    })
}
