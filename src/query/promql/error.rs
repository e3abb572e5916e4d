//! Why a PromQL query could not be answered.

use super::source::SourceError;

/// A failed query. `Parse`, `Unsupported` and `BadData` are the query's
/// fault (the API answers 400 `bad_data`); `TooManySamples` is a limit the
/// query ran into; `Source` is the storage's failure (500/503).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PromqlError {
    /// The expression does not parse; the message is the parser's.
    #[error("{0}")]
    Parse(String),
    /// A construct the parser accepts that this engine does not evaluate
    /// (native-histogram and experimental functions); the message names it.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The expression parsed but cannot be evaluated on this data, with
    /// Prometheus's wording where it has one (e.g. many-to-many matching).
    #[error("{0}")]
    BadData(String),
    /// More points loaded or produced than `EngineOptions::max_samples`.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error("{0}")]
    Source(#[from] SourceError),
}

impl PromqlError {
    pub(crate) fn bad(message: impl Into<String>) -> PromqlError {
        PromqlError::BadData(message.into())
    }
}

/// The error Prometheus raises when one step of a result holds two
/// samples with the same label set.
pub(crate) fn duplicate_labelset() -> PromqlError {
    PromqlError::bad("vector cannot contain metrics with the same labelset")
}
