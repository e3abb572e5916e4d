//! The forwarding outbox (`forward_outbox`, `forward_cursors`): accepted
//! batches as the OTLP requests an upstream receives, written in the
//! transaction that stores them; each upstream's progress through them;
//! the rows every upstream has, and the oldest past the size limit,
//! deleted.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::StoreError;

/// What an outbox row holds, and the OTLP/HTTP path it is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardSignal {
    Traces = 0,
    Logs = 1,
    Metrics = 2,
}

impl ForwardSignal {
    fn from_i64(value: i64) -> Option<ForwardSignal> {
        match value {
            0 => Some(ForwardSignal::Traces),
            1 => Some(ForwardSignal::Logs),
            2 => Some(ForwardSignal::Metrics),
            _ => None,
        }
    }

    /// The path after the upstream's base URL.
    pub fn path(self) -> &'static str {
        match self {
            ForwardSignal::Traces => "/v1/traces",
            ForwardSignal::Logs => "/v1/logs",
            ForwardSignal::Metrics => "/v1/metrics",
        }
    }
}

/// zstd level of outbox bodies: the fastest. A batch is written twice
/// (the WAL, then the database) and deleted once sent; compressed it is a
/// fraction of that I/O.
const BODY_LEVEL: i32 = 1;

/// A batch to put in the outbox with the data it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub signal: ForwardSignal,
    /// The OTLP `Export*ServiceRequest` (protobuf), zstd-compressed.
    pub body: Vec<u8>,
}

impl Outgoing {
    /// `request` (an encoded OTLP request) as stored in the outbox; `None`
    /// if it cannot be compressed (it then cannot be forwarded either).
    pub fn new(signal: ForwardSignal, request: &[u8]) -> Option<Outgoing> {
        match zstd::bulk::compress(request, BODY_LEVEL) {
            Ok(body) => Some(Outgoing { signal, body }),
            Err(error) => {
                tracing::error!(%error, "cannot compress a batch for the forwarding outbox; it is not forwarded");
                None
            }
        }
    }
}

/// One outbox row to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub signal: ForwardSignal,
    pub created_unix_nano: i64,
    /// As stored: compressed.
    pub body: Vec<u8>,
}

impl Queued {
    /// The OTLP request to send.
    pub fn request(&self) -> Result<Vec<u8>, StoreError> {
        zstd::stream::decode_all(&self.body[..]).map_err(|error| {
            StoreError::Corrupt(format!(
                "forward_outbox row {} does not decompress: {error}",
                self.id
            ))
        })
    }
}

/// Appends `outgoing` in the caller's transaction; returns the bytes
/// added.
pub fn append(tx: &Transaction<'_>, outgoing: &[&Outgoing], now: i64) -> Result<i64, StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO forward_outbox (signal, created_unix_nano, body) VALUES (?1, ?2, ?3)",
    )?;
    let mut bytes = 0;
    for item in outgoing {
        stmt.execute(params![item.signal as i64, now, item.body])?;
        bytes += item.body.len() as i64;
    }
    Ok(bytes)
}

/// Bytes the outbox holds (its bodies).
pub fn outbox_bytes(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(length(body)), 0) FROM forward_outbox",
        [],
        |row| row.get(0),
    )?)
}

/// Deletes the oldest rows until the outbox holds at most `max_bytes`
/// (of `current` bytes); returns the rows and bytes deleted.
pub fn trim(tx: &Transaction<'_>, current: i64, max_bytes: i64) -> Result<(u64, i64), StoreError> {
    if current <= max_bytes {
        return Ok((0, 0));
    }
    let mut over = current - max_bytes;
    let mut rows = 0u64;
    let mut bytes = 0i64;
    let mut through = None;
    {
        let mut stmt =
            tx.prepare_cached("SELECT id, length(body) FROM forward_outbox ORDER BY id")?;
        let mut cursor = stmt.query([])?;
        while over > 0 {
            let Some(row) = cursor.next()? else { break };
            let (id, length): (i64, i64) = (row.get(0)?, row.get(1)?);
            through = Some(id);
            rows += 1;
            bytes += length;
            over -= length;
        }
    }
    if let Some(through) = through {
        tx.execute(
            "DELETE FROM forward_outbox WHERE id <= ?1",
            params![through],
        )?;
    }
    Ok((rows, bytes))
}

/// The rows after `after`, oldest first, at most `limit`.
pub fn pending(conn: &Connection, after: i64, limit: usize) -> Result<Vec<Queued>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, signal, created_unix_nano, body FROM forward_outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit as i64], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get(2)?,
            row.get(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, signal, created_unix_nano, body) = row?;
        let signal = ForwardSignal::from_i64(signal).ok_or_else(|| {
            StoreError::Corrupt(format!("forward_outbox row {id} has signal {signal}"))
        })?;
        out.push(Queued {
            id,
            signal,
            created_unix_nano,
            body,
        });
    }
    Ok(out)
}

/// How many rows after `after` wait, and when the oldest was written.
pub fn backlog(conn: &Connection, after: i64) -> Result<(u64, Option<i64>), StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*), MIN(created_unix_nano) FROM forward_outbox WHERE id > ?1",
        params![after],
        |row| Ok((row.get::<_, i64>(0)? as u64, row.get(1)?)),
    )?)
}

/// An upstream's progress: the highest id it has (0 before the first).
pub fn cursor(conn: &Connection, destination: &str) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT sent_through FROM forward_cursors WHERE destination = ?1",
            params![destination],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Records that `destination` has everything through `through`, then
/// deletes the rows every one of `destinations` has; returns the bytes
/// deleted.
pub fn advance(
    tx: &Transaction<'_>,
    destination: &str,
    through: i64,
    destinations: &[String],
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO forward_cursors (destination, sent_through) VALUES (?1, ?2)
         ON CONFLICT (destination) DO UPDATE SET sent_through = MAX(sent_through, excluded.sent_through)",
        params![destination, through],
    )?;
    let mut everyone = i64::MAX;
    for destination in destinations {
        everyone = everyone.min(cursor(tx, destination)?);
    }
    if everyone == i64::MAX || everyone <= 0 {
        return Ok(0);
    }
    let bytes: i64 = tx.query_row(
        "SELECT COALESCE(SUM(length(body)), 0) FROM forward_outbox WHERE id <= ?1",
        params![everyone],
        |row| row.get(0),
    )?;
    tx.execute(
        "DELETE FROM forward_outbox WHERE id <= ?1",
        params![everyone],
    )?;
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an in-memory database to exercise the outbox on
mod tests {
    use super::*;

    fn conn() -> Connection {
        let mut conn = Connection::open_in_memory().expect("memory db");
        super::super::migrate::migrate(&mut conn).expect("migrate");
        conn
    }

    fn item(signal: ForwardSignal, size: usize) -> Outgoing {
        Outgoing {
            signal,
            body: vec![7; size],
        }
    }

    #[test]
    fn bodies_are_stored_compressed_and_sent_as_given() {
        let request: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let outgoing = Outgoing::new(ForwardSignal::Logs, &request).expect("compresses");
        assert!(
            outgoing.body.len() < request.len() / 4,
            "{} B",
            outgoing.body.len()
        );
        let queued = Queued {
            id: 1,
            signal: ForwardSignal::Logs,
            created_unix_nano: 0,
            body: outgoing.body,
        };
        assert_eq!(queued.request().expect("decompresses"), request);
        let damaged = Queued {
            body: vec![1, 2, 3],
            ..queued
        };
        assert!(damaged.request().is_err());
    }

    /// Ids are never reused, not even once the outbox has been emptied:
    /// an upstream's cursor is past every id it had.
    #[test]
    fn ids_keep_growing_after_the_outbox_empties() {
        let mut conn = conn();
        let upstreams = vec!["a".to_string()];
        let tx = conn.transaction().expect("tx");
        append(&tx, &[&item(ForwardSignal::Traces, 10)], 1).expect("append");
        let first = pending(&tx, 0, 10).expect("pending")[0].id;
        assert_eq!(advance(&tx, "a", first, &upstreams).expect("a"), 10);
        assert!(pending(&tx, 0, 10).expect("pending").is_empty());
        append(&tx, &[&item(ForwardSignal::Traces, 10)], 2).expect("append");
        let rows = pending(&tx, cursor(&tx, "a").expect("cursor"), 10).expect("pending");
        assert_eq!(rows.len(), 1, "the new row is after the upstream's cursor");
        tx.commit().expect("commit");
    }

    #[test]
    fn rows_go_once_every_upstream_has_them_and_the_oldest_past_the_limit() {
        let mut conn = conn();
        let tx = conn.transaction().expect("tx");
        let added = append(
            &tx,
            &[
                &item(ForwardSignal::Traces, 10),
                &item(ForwardSignal::Logs, 20),
                &item(ForwardSignal::Metrics, 30),
            ],
            5,
        )
        .expect("append");
        assert_eq!(added, 60);
        tx.commit().expect("commit");
        let rows = pending(&conn, 0, 10).expect("pending");
        assert_eq!(
            rows.iter().map(|r| r.signal).collect::<Vec<_>>(),
            [
                ForwardSignal::Traces,
                ForwardSignal::Logs,
                ForwardSignal::Metrics
            ]
        );
        assert_eq!(backlog(&conn, rows[0].id).expect("backlog"), (2, Some(5)));
        let upstreams = vec!["a".to_string(), "b".to_string()];
        let tx = conn.transaction().expect("tx");
        // Only `a` has the first two: nothing is deleted yet.
        assert_eq!(advance(&tx, "a", rows[1].id, &upstreams).expect("a"), 0);
        // `b` has the first: that one goes.
        assert_eq!(advance(&tx, "b", rows[0].id, &upstreams).expect("b"), 10);
        // A cursor never goes back.
        advance(&tx, "a", rows[0].id, &upstreams).expect("a again");
        assert_eq!(cursor(&tx, "a").expect("cursor"), rows[1].id);
        // Past 25 bytes the oldest go: the 20- and the 30-byte rows hold
        // 50, so the 20-byte one is dropped.
        assert_eq!(trim(&tx, 50, 30).expect("trim"), (1, 20));
        tx.commit().expect("commit");
        assert_eq!(outbox_bytes(&conn).expect("bytes"), 30);
        assert_eq!(pending(&conn, 0, 10).expect("pending").len(), 1);
    }
}
