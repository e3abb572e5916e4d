//! The read side: parsing API parameters into store filters, time ranges
//! and opaque cursors, and executing trace search, trace fetch and log
//! search on read-only SQLite connections and tantivy searchers
//! ([`ReadSide`]). Knows neither HTTP nor JSON; runs no SQL itself (that
//! is `store::sqlite::read`) and never writes.

pub mod audit;
pub mod errors;
pub mod graph;
pub mod jaeger;
pub mod logql;
pub mod logs;
pub mod metrics;
pub mod params;
pub mod promql;
mod read_side;
pub mod red;
pub mod span_series;
pub mod traces;

pub use read_side::{IndexLag, ReadSide, StoredCounts};

use crate::store::logs::LogIndexError;
use crate::store::StoreError;

/// Why a read could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter that could not be used; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// A log query (`q`) that does not parse; the error says where.
    #[error("parameter {parameter}: {error}")]
    Syntax {
        parameter: &'static str,
        error: logql::ParseError,
    },
    /// A PromQL query that failed: its own fault, a limit or the storage.
    #[error(transparent)]
    Promql(#[from] promql::PromqlError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    LogIndex(#[from] LogIndexError),
}

impl QueryError {
    /// The message of an `Invalid` or `Syntax` error (empty for the
    /// others): what the parser tests check.
    pub fn invalid_message(&self) -> String {
        match self {
            QueryError::Invalid(message) => message.clone(),
            QueryError::Syntax { .. } => self.to_string(),
            _ => String::new(),
        }
    }
}
