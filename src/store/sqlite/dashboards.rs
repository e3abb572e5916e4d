//! Stored dashboards: their documents as text, written by the writer,
//! read by the API.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::StoreError;
use crate::model::dashboard::{DashboardChange, StoredDashboard};
use crate::model::UnixNanos;

/// Applies a change; returns whether it found its target (a `Put` always
/// does).
pub(super) fn apply(tx: &Transaction<'_>, change: &DashboardChange) -> Result<bool, StoreError> {
    match change {
        DashboardChange::Put {
            id,
            title,
            body,
            at,
        } => {
            tx.prepare_cached(
                "INSERT INTO dashboards (id, title, body, created_unix_nano, updated_unix_nano)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body,
                     updated_unix_nano = excluded.updated_unix_nano",
            )?
            .execute(params![id, title, body, at.0])?;
            Ok(true)
        }
        DashboardChange::Delete { id } => Ok(tx
            .prepare_cached("DELETE FROM dashboards WHERE id = ?1")?
            .execute(params![id])?
            > 0),
    }
}

fn row(row: &Row<'_>) -> rusqlite::Result<StoredDashboard> {
    Ok(StoredDashboard {
        id: row.get(0)?,
        title: row.get(1)?,
        body: row.get(2)?,
        created_at: UnixNanos(row.get(3)?),
        updated_at: UnixNanos(row.get(4)?),
    })
}

/// Every stored dashboard, by title.
pub fn list(conn: &Connection) -> Result<Vec<StoredDashboard>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, title, body, created_unix_nano, updated_unix_nano FROM dashboards
         ORDER BY title COLLATE NOCASE, id",
    )?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn find(conn: &Connection, id: &str) -> Result<Option<StoredDashboard>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, title, body, created_unix_nano, updated_unix_nano FROM dashboards WHERE id = ?1",
        )?
        .query_row(params![id], row)
        .optional()?)
}
