//! The read side's request models: parsing and validating query
//! parameters into store filters, time ranges and opaque cursors.
//! Execution happens in `store::sqlite::read` on read-only connections.

pub mod logql;
pub mod logs;
pub mod params;
pub mod traces;

/// A query parameter that could not be used; the message names it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct QueryError(pub String);
