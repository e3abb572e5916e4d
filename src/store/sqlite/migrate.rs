//! Schema migrations: the files of `schema/`, compiled in, applied in order
//! at start, each in its own transaction and recorded in
//! `schema_migrations`. A database migrated by a newer build is refused.

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// Every migration, in order. Append only: a released migration never
/// changes.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "traces", include_str!("../../../schema/0001_traces.sql")),
    (
        2,
        "log_journal",
        include_str!("../../../schema/0002_log_journal.sql"),
    ),
    (
        3,
        "span_rollups",
        include_str!("../../../schema/0003_span_rollups.sql"),
    ),
    (
        4,
        "service_edges",
        include_str!("../../../schema/0004_service_edges.sql"),
    ),
    (
        5,
        "metrics",
        include_str!("../../../schema/0005_metrics.sql"),
    ),
    (
        6,
        "span_rollups_ten_minutes",
        include_str!("../../../schema/0006_span_rollups_ten_minutes.sql"),
    ),
    (
        7,
        "metric_wal",
        include_str!("../../../schema/0007_metric_wal.sql"),
    ),
    (8, "alerts", include_str!("../../../schema/0008_alerts.sql")),
    (9, "errors", include_str!("../../../schema/0009_errors.sql")),
    (
        10,
        "dashboards",
        include_str!("../../../schema/0010_dashboards.sql"),
    ),
    (
        11,
        "security",
        include_str!("../../../schema/0011_security.sql"),
    ),
    (
        12,
        "trace_blocks",
        include_str!("../../../schema/0012_trace_blocks.sql"),
    ),
    (
        13,
        "span_dictionaries",
        include_str!("../../../schema/0013_span_dictionaries.sql"),
    ),
    (
        14,
        "forward_outbox",
        include_str!("../../../schema/0014_forward_outbox.sql"),
    ),
    (
        15,
        "forward_outbox_ids",
        include_str!("../../../schema/0015_forward_outbox_ids.sql"),
    ),
    (
        16,
        "span_dictionary_blocks",
        include_str!("../../../schema/0016_span_dictionary_blocks.sql"),
    ),
    (
        17,
        "span_start_offsets",
        include_str!("../../../schema/0017_span_start_offsets.sql"),
    ),
];

/// The highest migration recorded in the database, 0 for a new one.
pub fn applied_version(conn: &Connection) -> Result<i64, StoreError> {
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(0);
    }
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?)
}

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version            INTEGER PRIMARY KEY,
             name               TEXT NOT NULL,
             applied_unix_nano  INTEGER NOT NULL
         )",
    )?;
    let current = applied_version(conn)?;
    super::rollups::register_migration_functions(conn)?;
    let supported = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
    if current > supported {
        return Err(StoreError::NewerSchema {
            found: current,
            supported,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        let fail = |source| StoreError::Migration {
            version: *version,
            name,
            source,
        };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_unix_nano) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, crate::model::UnixNanos::now().0],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version, name, "applied schema migration");
    }
    Ok(())
}

/// An in-memory database migrated to `version` only.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an in-memory database to migrate
pub(crate) fn database_at(version: usize) -> Connection {
    let conn = Connection::open_in_memory().expect("memory db");
    conn.execute_batch(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                         applied_unix_nano INTEGER NOT NULL)",
    )
    .expect("table");
    super::rollups::register_migration_functions(&conn).expect("functions");
    for (version, name, sql) in &MIGRATIONS[..version] {
        conn.execute_batch(sql).expect("migration");
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?1, ?2, 0)",
            rusqlite::params![version, name],
        )
        .expect("record");
    }
    conn
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // in-memory databases to migrate
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_match_the_schema_folder() {
        let mut files: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/schema"))
                .expect("schema folder")
                .map(|entry| {
                    entry
                        .expect("entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .filter(|name| name.ends_with(".sql"))
                .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|(version, name, _)| format!("{version:04}_{name}.sql"))
            .collect();
        assert_eq!(files, listed);
    }

    #[test]
    fn migrating_twice_is_a_no_op_and_newer_databases_are_refused() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        migrate(&mut conn).expect("first");
        migrate(&mut conn).expect("second");
        assert_eq!(
            applied_version(&conn).expect("version"),
            MIGRATIONS.len() as i64
        );
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_unix_nano) VALUES (99, 'future', 0)",
            [],
        )
        .expect("insert");
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::NewerSchema {
                found: 99,
                supported
            }) if supported == MIGRATIONS.len() as i64
        ));
    }

    #[test]
    fn outbox_ids_continue_past_every_cursor_after_the_upgrade() {
        let mut conn = database_at(14);
        // An upstream that had everything through 10 while the emptied
        // outbox started again at 1.
        conn.execute_batch(
            "INSERT INTO forward_cursors VALUES ('http://central', 10);
             INSERT INTO forward_outbox VALUES (4, 0, 1, x'00');",
        )
        .expect("rows");
        migrate(&mut conn).expect("upgrade");
        let kept: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM forward_outbox WHERE id = 4",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(kept, 1);
        conn.execute(
            "INSERT INTO forward_outbox (signal, created_unix_nano, body) VALUES (0, 2, x'00')",
            [],
        )
        .expect("insert");
        assert_eq!(conn.last_insert_rowid(), 11);
    }

    #[test]
    fn ten_minute_rollups_are_built_from_the_stored_minute_rollups() {
        use crate::model::DurationHistogram;
        // A database of version 5 with minute rollups of one series.
        let mut conn = database_at(5);
        conn.execute_batch(
            "INSERT INTO services (id, name) VALUES (1, 'svc');
             INSERT INTO span_series (id, service_id, operation, kind, status) VALUES (7, 1, 'op', 2, 0);",
        )
        .expect("series");
        let mut expected = DurationHistogram::default();
        for (minute, nanos) in [(0i64, 1_000_000i64), (60, 5_000_000), (540, 2_000_000)] {
            let mut histogram = DurationHistogram::default();
            histogram.record(nanos);
            expected.merge(&histogram);
            conn.execute(
                "INSERT INTO span_rollups VALUES (60, 7, ?1, 1, ?2, ?2, ?2, ?3)",
                rusqlite::params![6_000 + minute, nanos, histogram.to_bytes()],
            )
            .expect("row");
        }
        // One minute in the next ten minutes.
        let mut later = DurationHistogram::default();
        later.record(9_000_000);
        conn.execute(
            "INSERT INTO span_rollups VALUES (60, 7, 6600, 1, 9000000, 9000000, 9000000, ?1)",
            rusqlite::params![later.to_bytes()],
        )
        .expect("row");

        migrate(&mut conn).expect("migrate");
        let rows: Vec<(i64, i64, i64, i64, i64, Vec<u8>)> = conn
            .prepare(
                "SELECT bucket_start, span_count, duration_sum_nano, duration_min_nano,
                        duration_max_nano, histogram
                 FROM span_rollups WHERE resolution = 600 ORDER BY bucket_start",
            )
            .expect("prepare")
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(rows.len(), 2, "{rows:?}");
        let (start, count, sum, min, max, histogram) = &rows[0];
        assert_eq!(
            (*start, *count, *sum, *min, *max),
            (6_000, 3, 8_000_000, 1_000_000, 5_000_000)
        );
        assert_eq!(
            DurationHistogram::from_bytes(histogram).expect("histogram"),
            expected
        );
        assert_eq!((rows[1].0, rows[1].1), (6_600, 1));
    }

    /// The migrated schema, as SQLite reports it, must equal the golden file:
    /// a schema change is always a deliberate, reviewed change of both.
    #[test]
    fn migrated_schema_matches_golden_file() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        migrate(&mut conn).expect("migrate");
        let mut stmt = conn
            .prepare(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC, name",
            )
            .expect("prepare");
        let schema: Vec<String> = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .expect("query")
            .map(|sql| sql.expect("row") + ";\n")
            .collect();
        let actual = schema.concat();
        let golden_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/schema.sql");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(golden_path, &actual).expect("write golden");
        }
        let golden = std::fs::read_to_string(golden_path).expect("golden schema file");
        assert_eq!(
            actual, golden,
            "schema differs from tests/golden/schema.sql (UPDATE_GOLDEN=1 rewrites it)"
        );
    }
}
