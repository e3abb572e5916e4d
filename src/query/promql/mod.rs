//! PromQL over stored metric series and the span-derived ones.
//!
//! The expression is parsed by `promql-parser`; evaluation is ours and
//! follows Prometheus's semantics (lookback, extrapolated `rate`, vector
//! matching). Samples come from a [`SeriesSource`], so the engine knows
//! nothing of SQLite.

mod source;

pub use source::{SeriesSource, SourceError};
