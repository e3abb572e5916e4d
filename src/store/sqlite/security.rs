//! The security tables: the admin password, sessions, managed ingest keys
//! and the audit log. Written by the writer (a change and its audit rows in
//! one transaction), read at start (sessions and keys live in memory while
//! the server runs) and by the audit API.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::StoreError;
use crate::model::security::{
    AuditEvent, AuditFilter, AuditOutcome, SecretHash, SecurityChange, StoredAuditEvent, StoredKey,
    StoredSession,
};
use crate::model::UnixNanos;

/// Inserts audit rows inside the caller's transaction.
pub(super) fn insert_audit(tx: &Transaction<'_>, events: &[AuditEvent]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO audit_log (unix_nano, actor, action, target, remote_addr, outcome, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for event in events {
        stmt.execute(params![
            event.time.0,
            event.actor,
            event.action,
            event.target,
            event.remote_addr,
            event.outcome.as_str(),
            event.details.to_string(),
        ])?;
    }
    Ok(())
}

/// Applies a change. The answer: the new key's id for `CreateKey`, the rows
/// affected otherwise.
pub(super) fn apply(tx: &Transaction<'_>, change: &SecurityChange) -> Result<i64, StoreError> {
    Ok(match change {
        SecurityChange::SetPassword { hash, at } => {
            tx.prepare_cached(
                "INSERT INTO admin_credentials (id, password_hash, changed_unix_nano)
                 VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash,
                     changed_unix_nano = excluded.changed_unix_nano",
            )?
            .execute(params![hash, at.0])?;
            tx.prepare_cached("DELETE FROM sessions")?.execute([])? as i64
        }
        SecurityChange::CreateSession(session) => tx
            .prepare_cached(
                "INSERT INTO sessions (id_hash, created_unix_nano, last_seen_unix_nano, expires_unix_nano)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &session.id_hash[..],
                session.created.0,
                session.last_seen.0,
                session.expires.0
            ])? as i64,
        SecurityChange::DeleteSessions(hashes) => {
            let mut stmt = tx.prepare_cached("DELETE FROM sessions WHERE id_hash = ?1")?;
            let mut deleted = 0;
            for hash in hashes {
                deleted += stmt.execute(params![&hash[..]])? as i64;
            }
            deleted
        }
        SecurityChange::Touch { sessions, keys } => {
            let mut touched = 0;
            let mut stmt = tx.prepare_cached(
                "UPDATE sessions SET last_seen_unix_nano = max(last_seen_unix_nano, ?2)
                 WHERE id_hash = ?1",
            )?;
            for (hash, at) in sessions {
                touched += stmt.execute(params![&hash[..], at.0])? as i64;
            }
            let mut stmt = tx.prepare_cached(
                "UPDATE api_keys SET last_used_unix_nano = max(coalesce(last_used_unix_nano, 0), ?2)
                 WHERE id = ?1",
            )?;
            for (id, at) in keys {
                touched += stmt.execute(params![id, at.0])? as i64;
            }
            touched
        }
        SecurityChange::CreateKey {
            name,
            prefix,
            hash,
            at,
        } => {
            tx.prepare_cached(
                "INSERT INTO api_keys (name, prefix, key_hash, created_unix_nano)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, prefix, &hash[..], at.0])?;
            tx.last_insert_rowid()
        }
        SecurityChange::RevokeKey { id, at } => tx
            .prepare_cached(
                "UPDATE api_keys SET revoked_unix_nano = ?2
                 WHERE id = ?1 AND revoked_unix_nano IS NULL",
            )?
            .execute(params![id, at.0])? as i64,
        SecurityChange::AuditOnly => 0,
        SecurityChange::ExpireAudit(cutoff) => tx
            .prepare_cached("DELETE FROM audit_log WHERE unix_nano < ?1")?
            .execute(params![cutoff.0])? as i64,
    })
}

/// The admin password hash, if one was set.
pub fn password_hash(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT password_hash FROM admin_credentials WHERE id = 1")?
        .query_row([], |row| row.get(0))
        .optional()?)
}

fn hash_column(row: &Row<'_>, index: usize) -> rusqlite::Result<SecretHash> {
    let bytes: Vec<u8> = row.get(index)?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Blob,
            format!("a secret hash of {} bytes, not 32", bytes.len()).into(),
        )
    })
}

/// Sessions that have not expired by `now` (absolute expiry only; the idle
/// limit is the caller's).
pub fn live_sessions(conn: &Connection, now: UnixNanos) -> Result<Vec<StoredSession>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id_hash, created_unix_nano, last_seen_unix_nano, expires_unix_nano
         FROM sessions WHERE expires_unix_nano > ?1",
    )?;
    let rows = stmt.query_map(params![now.0], |row| {
        Ok(StoredSession {
            id_hash: hash_column(row, 0)?,
            created: UnixNanos(row.get(1)?),
            last_seen: UnixNanos(row.get(2)?),
            expires: UnixNanos(row.get(3)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether any managed key was ever created, revoked ones included.
pub fn any_key_created(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM api_keys)")?
        .query_row([], |row| row.get(0))?)
}

/// Keys not revoked, newest first.
pub fn active_keys(conn: &Connection) -> Result<Vec<StoredKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, prefix, key_hash, created_unix_nano, last_used_unix_nano
         FROM api_keys WHERE revoked_unix_nano IS NULL ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(StoredKey {
            id: row.get(0)?,
            name: row.get(1)?,
            prefix: row.get(2)?,
            hash: hash_column(row, 3)?,
            created: UnixNanos(row.get(4)?),
            last_used: row.get::<_, Option<i64>>(5)?.map(UnixNanos),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A page of audit events, newest first, and whether more follow.
pub fn audit_events(
    conn: &Connection,
    filter: &AuditFilter,
) -> Result<(Vec<StoredAuditEvent>, bool), StoreError> {
    let (action_exact, action_prefix) = match filter.action.as_deref() {
        Some(action) if action.ends_with('.') => (None, Some(format!("{action}%"))),
        Some(action) => (Some(action.to_string()), None),
        None => (None, None),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, unix_nano, actor, action, target, remote_addr, outcome, details
         FROM audit_log
         WHERE (?1 IS NULL OR id < ?1)
           AND (?2 IS NULL OR unix_nano >= ?2)
           AND (?3 IS NULL OR unix_nano <= ?3)
           AND (?4 IS NULL OR action = ?4)
           AND (?5 IS NULL OR action LIKE ?5 ESCAPE '\\')
           AND (?6 IS NULL OR actor = ?6)
           AND (?7 IS NULL OR outcome = ?7)
         ORDER BY id DESC LIMIT ?8",
    )?;
    let limit = filter.limit.max(1);
    let rows = stmt.query_map(
        params![
            filter.before_id,
            filter.start.map(|t| t.0),
            filter.end.map(|t| t.0),
            action_exact,
            action_prefix.map(|p| p.replace('_', "\\_")),
            filter.actor,
            filter.outcome.map(AuditOutcome::as_str),
            limit as i64 + 1,
        ],
        |row| {
            let outcome: String = row.get(6)?;
            let details: String = row.get(7)?;
            Ok(StoredAuditEvent {
                id: row.get(0)?,
                event: AuditEvent {
                    time: UnixNanos(row.get(1)?),
                    actor: row.get(2)?,
                    action: row.get(3)?,
                    target: row.get(4)?,
                    remote_addr: row.get(5)?,
                    outcome: AuditOutcome::parse(&outcome).unwrap_or(AuditOutcome::Failed),
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                },
            })
        },
    )?;
    let mut events: Vec<StoredAuditEvent> = rows.collect::<Result<_, _>>()?;
    let more = events.len() > limit;
    events.truncate(limit);
    Ok((events, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // reason: an in-memory database for the test
    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().expect("memory db");
        super::super::migrate(&mut conn).expect("migrate");
        conn
    }

    fn event(at: i64, action: &str) -> AuditEvent {
        let mut event = AuditEvent::new("admin (token)", action);
        event.time = UnixNanos(at);
        event
    }

    #[test]
    fn audit_rows_page_filter_and_expire() {
        let mut conn = database();
        let tx = conn.transaction().expect("tx");
        let events: Vec<AuditEvent> = (1..=5)
            .map(|at| {
                event(
                    at * 1_000,
                    if at % 2 == 0 {
                        "key.create"
                    } else {
                        "auth.login"
                    },
                )
            })
            .collect();
        apply(&tx, &SecurityChange::AuditOnly).expect("apply");
        insert_audit(&tx, &events).expect("insert");
        tx.commit().expect("commit");
        let page =
            |conn: &Connection, filter: AuditFilter| audit_events(conn, &filter).expect("read");
        let (first, more) = page(
            &conn,
            AuditFilter {
                limit: 2,
                ..AuditFilter::default()
            },
        );
        assert!(more);
        assert_eq!(
            first.iter().map(|e| e.event.time.0).collect::<Vec<_>>(),
            [5_000, 4_000]
        );
        let (rest, more) = page(
            &conn,
            AuditFilter {
                limit: 10,
                before_id: Some(first[1].id),
                ..AuditFilter::default()
            },
        );
        assert!(!more);
        assert_eq!(rest.len(), 3);
        let (logins, _) = page(
            &conn,
            AuditFilter {
                limit: 10,
                action: Some("auth.".into()),
                ..AuditFilter::default()
            },
        );
        assert_eq!(logins.len(), 3);
        let (keys, _) = page(
            &conn,
            AuditFilter {
                limit: 10,
                action: Some("key.create".into()),
                outcome: Some(AuditOutcome::Ok),
                ..AuditFilter::default()
            },
        );
        assert_eq!(keys.len(), 2);
        let tx = conn.transaction().expect("tx");
        assert_eq!(
            apply(&tx, &SecurityChange::ExpireAudit(UnixNanos(3_500))).expect("expire"),
            3
        );
        tx.commit().expect("commit");
        let (left, _) = page(
            &conn,
            AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            },
        );
        assert_eq!(left.len(), 2);
    }

    #[test]
    fn sessions_keys_and_the_password_round_trip() {
        let mut conn = database();
        let tx = conn.transaction().expect("tx");
        let session = StoredSession {
            id_hash: [7; 32],
            created: UnixNanos(10),
            last_seen: UnixNanos(10),
            expires: UnixNanos(1_000),
        };
        apply(&tx, &SecurityChange::CreateSession(session.clone())).expect("session");
        let id = apply(
            &tx,
            &SecurityChange::CreateKey {
                name: "edge".into(),
                prefix: "lk_abcdefgh".into(),
                hash: [9; 32],
                at: UnixNanos(20),
            },
        )
        .expect("key");
        apply(
            &tx,
            &SecurityChange::Touch {
                sessions: vec![([7; 32], UnixNanos(50))],
                keys: vec![(id, UnixNanos(60))],
            },
        )
        .expect("touch");
        tx.commit().expect("commit");
        let live = live_sessions(&conn, UnixNanos(100)).expect("sessions");
        assert_eq!(live[0].last_seen, UnixNanos(50));
        assert!(live_sessions(&conn, UnixNanos(1_000))
            .expect("sessions")
            .is_empty());
        let keys = active_keys(&conn).expect("keys");
        assert_eq!(keys[0].last_used, Some(UnixNanos(60)));

        let tx = conn.transaction().expect("tx");
        let set = SecurityChange::SetPassword {
            hash: "$argon2id$…".into(),
            at: UnixNanos(70),
        };
        assert_eq!(apply(&tx, &set).expect("password"), 1, "the session ended");
        assert_eq!(
            apply(
                &tx,
                &SecurityChange::RevokeKey {
                    id,
                    at: UnixNanos(80)
                }
            )
            .expect("revoke"),
            1
        );
        assert_eq!(
            apply(
                &tx,
                &SecurityChange::RevokeKey {
                    id,
                    at: UnixNanos(90)
                }
            )
            .expect("again"),
            0
        );
        tx.commit().expect("commit");
        assert_eq!(
            password_hash(&conn).expect("hash").as_deref(),
            Some("$argon2id$…")
        );
        assert!(active_keys(&conn).expect("keys").is_empty());
        assert!(live_sessions(&conn, UnixNanos(100))
            .expect("sessions")
            .is_empty());
    }
}
