//! SQLite: opening, pragmas, migrations, the write store and the read pool.

pub mod alerts;
pub mod codec;
pub mod dashboards;
pub mod errors;
pub mod forward;
mod graph;
pub mod metrics;
mod migrate;
pub mod read;
pub mod rollups;
pub mod security;
pub mod span_dictionaries;
pub mod trace_blocks;
mod trace_search;
pub mod write;

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

pub use migrate::{applied_version, migrate, MIGRATIONS};
pub use write::WriteStore;

/// WAL pages between automatic checkpoints (32 MiB at 4 KiB pages). Larger
/// than SQLite's 1000 so pages rewritten by consecutive commits (index
/// leaves, the end of the spans b-tree) are copied back once, yet bounded so
/// a checkpoint never stalls the writer for long.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 8192;

/// The database file name inside the data directory.
pub const DB_FILE: &str = "lookout.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database was written by a newer lookout (schema version {found}, this build knows up to {supported}); \
         upgrade lookout or point --data-dir elsewhere"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Codec(#[from] codec::CodecError),
    /// Stored data that cannot be what lookout wrote.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the data directory {} is in use by another lookout{}; stop it or point --data-dir elsewhere",
        dir.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked { dir: PathBuf, holder: Option<u32> },
    #[error("the write store of {} is already open", dir.display())]
    WriterOpen { dir: PathBuf },
}

/// How the database is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `synchronous=FULL` instead of NORMAL. In WAL mode NORMAL already
    /// survives a process crash; FULL also survives power loss.
    pub synchronous_full: bool,
    /// Page cache per connection, in KiB.
    pub cache_kib: i64,
    /// Span metric series (operation, kind, status) per service before new
    /// ones count in its overflow series.
    pub span_series_limit: usize,
    /// Metric series allowed in total and per metric family.
    pub metric_series_limits: metrics::SeriesLimits,
    /// The WAL is checkpointed into the database when it reaches this
    /// many pages; smaller under a disk budget, which must hold the WAL.
    pub wal_autocheckpoint_pages: u32,
}

/// Default of `--span-series-limit`.
pub const DEFAULT_SPAN_SERIES_LIMIT: usize = 1000;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            synchronous_full: false,
            cache_kib: 32 * 1024,
            span_series_limit: DEFAULT_SPAN_SERIES_LIMIT,
            metric_series_limits: metrics::SeriesLimits::default(),
            wal_autocheckpoint_pages: WAL_AUTOCHECKPOINT_PAGES,
        }
    }
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// The database file and its `-wal` and `-shm` companions.
pub fn db_files(data_dir: &Path) -> [PathBuf; 3] {
    ["", "-wal", "-shm"].map(|suffix| {
        let mut name = db_path(data_dir).into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// Opens (creating if needed) the database, applies pending migrations and
/// returns the write store. Reached only through
/// [`DataDirLock::open_write_store`](crate::store::DataDirLock), once.
#[allow(clippy::disallowed_methods)] // the one write connection
pub(crate) fn open_write_store(
    data_dir: &Path,
    options: &StoreOptions,
) -> Result<WriteStore, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let mut conn = Connection::open_with_flags(
        db_path(data_dir),
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let synchronous = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;
         PRAGMA wal_autocheckpoint = {};
         PRAGMA cache_size = -{};",
        options.wal_autocheckpoint_pages, options.cache_kib
    ))?;
    ensure_incremental_vacuum(&conn)?;
    migrate::migrate(&mut conn)?;
    WriteStore::new(
        conn,
        options.span_series_limit,
        options.metric_series_limits,
    )
}

/// Puts the database in incremental auto-vacuum mode, in which retention
/// gives freed pages back to the file system in small steps
/// ([`WriteStore::reclaim_space`]). The mode only changes with a VACUUM,
/// which rewrites the file: instant for a new database, once (with a log
/// line, and briefly needing the database's size again in free space) for
/// one created before lookout used this mode.
fn ensure_incremental_vacuum(conn: &Connection) -> Result<(), StoreError> {
    const INCREMENTAL: i64 = 2;
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |row| row.get(0))?;
    if mode == INCREMENTAL {
        return Ok(());
    }
    let tables: i64 = conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |row| row.get(0))?;
    let bytes: i64 = conn.query_row(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |row| row.get(0),
    )?;
    let started = std::time::Instant::now();
    if tables > 0 {
        tracing::info!(
            bytes,
            "converting the database to incremental auto-vacuum (once): it is rewritten, which takes a while for a large one"
        );
    }
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    if tables > 0 {
        tracing::info!(
            took_ms = started.elapsed().as_millis() as u64,
            "the database is in incremental auto-vacuum mode"
        );
    }
    Ok(())
}

/// Opens the database read-only, without migrating: what `lookout check`
/// inspects while a server may be running. The read functions are
/// registered with the dictionaries stored when it opened.
#[allow(clippy::disallowed_methods)] // read-only, outside the pool
pub fn open_read_only(data_dir: &Path) -> Result<Connection, StoreError> {
    let open = || Connection::open_with_flags(db_path(data_dir), OpenFlags::SQLITE_OPEN_READ_ONLY);
    let conn = open()?;
    let codecs = span_dictionaries::SpanCodecs::load_following(&conn, open()?)?;
    read::register_functions(&conn, std::sync::Arc::new(codecs))?;
    Ok(conn)
}

/// What a database copy holds, read from the copy itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopiedDatabase {
    pub schema_version: i64,
    pub counts: read::StorageCounts,
    /// Journal rows above `indexed_through`: log records the copied log
    /// indexes do not hold yet.
    pub journal_waiting: u64,
}

/// Copies the database into `dest` (a new file) with SQLite's online
/// backup in one step: one read transaction, so the copy is the state of
/// one commit however much the writer commits meanwhile (a paged backup
/// would start over after every commit of another connection). The copy is
/// switched to rollback-journal mode so that it is one self-contained file.
#[allow(clippy::disallowed_methods)] // a new file outside the data directory, and a read-only source
pub fn copy_database(
    data_dir: &Path,
    dest: &Path,
    indexed_through: u64,
) -> Result<CopiedDatabase, StoreError> {
    let source = open_read_only(data_dir)?;
    source.busy_timeout(std::time::Duration::from_secs(5))?;
    let mut copy = Connection::open_with_flags(
        dest,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                // Another connection holds a lock for a moment.
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
    copy.execute_batch("PRAGMA journal_mode = DELETE;")?;
    let schema_version = applied_version(&copy)?;
    let counts = read::storage_counts(&copy)?;
    let indexed_through = i64::try_from(indexed_through).unwrap_or(i64::MAX);
    let (_, waiting) = read::journal_after(&copy, indexed_through)?;
    Ok(CopiedDatabase {
        schema_version,
        counts,
        journal_waiting: waiting.len() as u64,
    })
}

/// A small pool of read-only connections. Readers never block the writer
/// (WAL) and never write.
pub struct ReadPool {
    path: PathBuf,
    cache_kib: i64,
    codecs: std::sync::Arc<span_dictionaries::SpanCodecs>,
    idle: Mutex<Vec<Connection>>,
}

/// A pooled connection; returns to the pool when dropped.
pub struct PooledConnection<'a> {
    pool: &'a ReadPool,
    conn: Option<Connection>,
}

impl std::ops::Deref for PooledConnection<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Only `Drop` takes the connection out.
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.pool.idle.lock();
            if idle.len() < 8 {
                idle.push(conn);
            }
        }
    }
}

impl ReadPool {
    /// The dictionaries span blobs are unpacked with.
    pub fn span_codecs(&self) -> &span_dictionaries::SpanCodecs {
        &self.codecs
    }

    /// The database must exist (the write store creates and migrates it);
    /// `codecs` are the write store's ([`WriteStore::span_codecs`]), which
    /// learn each dictionary before a span is packed with it.
    pub fn new(
        data_dir: &Path,
        options: &StoreOptions,
        codecs: std::sync::Arc<span_dictionaries::SpanCodecs>,
    ) -> ReadPool {
        ReadPool {
            path: db_path(data_dir),
            cache_kib: options.cache_kib / 4,
            codecs,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn get(&self) -> Result<PooledConnection<'_>, StoreError> {
        let pooled = self.idle.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open()?,
        };
        Ok(PooledConnection {
            pool: self,
            conn: Some(conn),
        })
    }

    #[allow(clippy::disallowed_methods)] // the pool's read-only connections
    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(&format!(
            "PRAGMA busy_timeout = 5000; PRAGMA cache_size = -{};",
            self.cache_kib
        ))?;
        read::register_functions(&conn, std::sync::Arc::clone(&self.codecs))?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto_vacuum(data_dir: &Path) -> i64 {
        open_read_only(data_dir)
            .expect("open")
            .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
            .expect("pragma")
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // reason: a database as an older lookout left it
    fn new_and_older_databases_end_up_in_incremental_auto_vacuum_mode() {
        let new = tempfile::tempdir().expect("tempdir");
        drop(open_write_store(new.path(), &StoreOptions::default()).expect("open"));
        assert_eq!(auto_vacuum(new.path()), 2);

        let old = tempfile::tempdir().expect("tempdir");
        {
            let conn = Connection::open(db_path(old.path())).expect("open");
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE kept (x); INSERT INTO kept VALUES (42);",
            )
            .expect("old database");
        }
        assert_eq!(auto_vacuum(old.path()), 0);
        drop(open_write_store(old.path(), &StoreOptions::default()).expect("convert"));
        assert_eq!(auto_vacuum(old.path()), 2);
        let kept: i64 = open_read_only(old.path())
            .expect("open")
            .query_row("SELECT x FROM kept", [], |row| row.get(0))
            .expect("the data survives the conversion");
        assert_eq!(kept, 42);
    }

    #[test]
    fn reclaiming_gives_freed_pages_back_and_empties_the_wal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        store
            .execute_batch_for_test(
                "CREATE TABLE filler (blob BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO filler SELECT randomblob(4000) FROM n;
                 DELETE FROM filler;",
            )
            .expect("fill and empty");
        let file = |suffix: &str| {
            std::fs::metadata(format!("{}{suffix}", db_path(dir.path()).display()))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let mut freed = 0;
        loop {
            let step = store.reclaim_space(1000).expect("reclaim");
            freed += step.freed_pages;
            if step.free_pages_left == 0 {
                break;
            }
        }
        assert!(freed >= 1900, "freed {freed} pages");
        assert_eq!(file("-wal"), 0, "the WAL is truncated");
        // 8 MB were written; what is left is the schema and the metric head.
        assert!(file("") < 1_000_000, "{} bytes", file(""));
    }
}
