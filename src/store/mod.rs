//! Persistent storage. `sqlite` owns the database: its schema migrations,
//! the one write connection (moved into the writer thread) and the pool of
//! read-only connections.
//!
//! Invariant: only this module constructs a writable connection, and only
//! `sqlite::write` issues DML that changes data.

pub mod logs;
pub mod sqlite;

pub use sqlite::{ReadPool, StoreError, StoreOptions, WriteStore};
