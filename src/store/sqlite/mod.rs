//! SQLite: opening, pragmas, migrations, the write store and the read pool.

pub mod alerts;
pub mod codec;
pub mod dashboards;
pub mod errors;
mod graph;
pub mod metrics;
mod migrate;
pub mod read;
pub mod rollups;
pub mod security;
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
const WAL_AUTOCHECKPOINT_PAGES: u32 = 8192;

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
        }
    }
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
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
         PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};
         PRAGMA cache_size = -{};",
        options.cache_kib
    ))?;
    migrate::migrate(&mut conn)?;
    WriteStore::new(
        conn,
        options.span_series_limit,
        options.metric_series_limits,
    )
}

/// Opens the database read-only, without migrating: what `lookout check`
/// inspects while a server may be running.
#[allow(clippy::disallowed_methods)] // read-only, outside the pool
pub fn open_read_only(data_dir: &Path) -> Result<Connection, StoreError> {
    Ok(Connection::open_with_flags(
        db_path(data_dir),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?)
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
    /// The database must exist (the write store creates and migrates it).
    pub fn new(data_dir: &Path, options: &StoreOptions) -> ReadPool {
        ReadPool {
            path: db_path(data_dir),
            cache_kib: options.cache_kib / 4,
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
        read::register_functions(&conn)?;
        Ok(conn)
    }
}
