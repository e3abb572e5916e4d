//! What the PromQL engine reads samples from.

use crate::model::metric::{Matcher, SeriesSamples};

/// A failure of the storage behind a [`SeriesSource`] (not the query's
/// fault: the API answers 500/503, not 400).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Series by label matchers, with their samples over a time range.
pub trait SeriesSource {
    /// Every series that matches all `matchers` and has at least one sample
    /// with `start_ms <= t <= end_ms`, with exactly those samples in time
    /// order. The order of the series is unspecified.
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesSamples>, SourceError>;
}
