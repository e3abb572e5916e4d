//! What the PromQL engine reads samples from.

use crate::model::metric::{Labels, Matcher, Sample, SeriesSamples};

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

    /// [`select`](Self::select), except that a series' samples may be
    /// produced only when asked for ([`LazySeries::samples_into`]). Range
    /// functions read a long range this way one series at a time, on
    /// several threads: a query then holds one series' samples per thread
    /// instead of every sample of every series at once. A series may turn
    /// out to have no sample in the range.
    fn select_lazy(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<LazySeries>, SourceError> {
        Ok(self
            .select(matchers, start_ms, end_ms)?
            .into_iter()
            .map(LazySeries::decoded)
            .collect())
    }
}

/// Samples kept in a compact form until they are needed (a store's
/// encoded chunks).
pub trait EncodedSamples: Send + Sync {
    /// Replaces the contents of `out` with the samples, in time order.
    fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), SourceError>;
}

/// One series of [`SeriesSource::select_lazy`].
pub struct LazySeries {
    pub labels: Labels,
    samples: Samples,
}

enum Samples {
    Decoded(Vec<Sample>),
    Encoded(Box<dyn EncodedSamples>),
}

impl LazySeries {
    pub fn decoded(series: SeriesSamples) -> LazySeries {
        LazySeries {
            labels: series.labels,
            samples: Samples::Decoded(series.samples),
        }
    }

    pub fn encoded(labels: Labels, samples: Box<dyn EncodedSamples>) -> LazySeries {
        LazySeries {
            labels,
            samples: Samples::Encoded(samples),
        }
    }

    /// Replaces the contents of `out` with the series' samples, in time
    /// order.
    pub fn samples_into(&self, out: &mut Vec<Sample>) -> Result<(), SourceError> {
        match &self.samples {
            Samples::Decoded(samples) => {
                out.clear();
                out.extend_from_slice(samples);
                Ok(())
            }
            Samples::Encoded(encoded) => encoded.decode_into(out),
        }
    }
}
