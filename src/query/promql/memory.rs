//! A [`SeriesSource`] over series held in memory: the engine's tests and
//! the differential test against Prometheus evaluate through it.

use crate::model::metric::{matches_all, Matcher, SeriesSamples};

use super::source::{SeriesSource, SourceError};

/// Series in memory, each with samples in time order.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    series: Vec<SeriesSamples>,
}

impl MemorySource {
    pub fn new(mut series: Vec<SeriesSamples>) -> MemorySource {
        for s in &mut series {
            s.samples.sort_by_key(|sample| sample.t);
        }
        MemorySource { series }
    }

    pub fn series(&self) -> &[SeriesSamples] {
        &self.series
    }
}

impl SeriesSource for MemorySource {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesSamples>, SourceError> {
        let mut out = Vec::new();
        for series in &self.series {
            if !matches_all(matchers, &series.labels) {
                continue;
            }
            let from = series.samples.partition_point(|s| s.t < start_ms);
            let to = series.samples.partition_point(|s| s.t <= end_ms);
            if from < to {
                out.push(SeriesSamples {
                    labels: series.labels.clone(),
                    samples: series.samples[from..to].to_vec(),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::metric::{Labels, Sample};

    #[test]
    fn selects_matching_series_within_the_inclusive_range() {
        let source = MemorySource::new(vec![SeriesSamples {
            labels: Labels::from_pairs([("__name__", "up")]),
            samples: (0..5)
                .map(|i| Sample {
                    t: i * 10,
                    v: i as f64,
                })
                .collect(),
        }]);
        let got = source
            .select(&[Matcher::equal("__name__", "up")], 10, 30)
            .unwrap();
        assert_eq!(got[0].samples.len(), 3);
        assert!(source
            .select(&[Matcher::equal("__name__", "up")], 41, 50)
            .unwrap()
            .is_empty());
        assert!(source
            .select(&[Matcher::equal("__name__", "down")], 0, 50)
            .unwrap()
            .is_empty());
    }
}
