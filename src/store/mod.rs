//! Persistent storage. `sqlite` owns the database: its schema migrations,
//! the one write connection (moved into the writer thread) and the pool of
//! read-only connections.
//!
//! Invariants: only this module constructs a writable connection, only
//! through a held [`DataDirLock`], and only `sqlite::write` issues DML that
//! changes data.

pub mod backup;
pub mod control;
mod lock;
pub mod log_codec;
pub mod logs;
pub mod sqlite;
pub mod usage;

pub use lock::{DataDirLock, LOCK_FILE};
pub use sqlite::{ReadPool, StoreError, StoreOptions, WriteStore};
