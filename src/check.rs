//! `lookout check`: verifies a data directory without changing it.

use std::path::Path;

use crate::store::sqlite::{self, applied_version, read, StoreError, MIGRATIONS};

/// What `check` found; `problems` empty means the directory is sound.
#[derive(Debug)]
pub struct CheckReport {
    pub schema_version: i64,
    pub traces: i64,
    pub spans: i64,
    pub problems: Vec<String>,
}

pub fn check_data_dir(data_dir: &Path) -> Result<CheckReport, StoreError> {
    let path = sqlite::db_path(data_dir);
    if !path.exists() {
        return Ok(CheckReport {
            schema_version: 0,
            traces: 0,
            spans: 0,
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
    Ok(CheckReport {
        schema_version,
        traces: counts.traces,
        spans: counts.spans,
        problems,
    })
}
