//! Query results and the shapes values take during evaluation.
//!
//! Like Prometheus, the engine evaluates every node over all steps of a
//! [`Grid`] at once (an instant query is a grid of one step), so a node's
//! instant-vector result is a set of series with one point per step at
//! which the series has a value. That lets a range query load each
//! selector's samples once and lets per-series work (label sets, group
//! keys, match signatures) be done once rather than per step.

use std::collections::HashMap;

use crate::model::metric::{Labels, Sample, SeriesSamples};

use super::error::{duplicate_labelset, PromqlError};

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Sample),
    /// A string literal's value and the evaluation time in ms.
    String(String, i64),
    Vector(Vec<VectorSample>),
    Matrix(Vec<SeriesSamples>),
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    pub labels: Labels,
    pub sample: Sample,
}

pub use crate::model::metric::STALE_NAN_BITS;

/// Whether a value is Prometheus's staleness marker (not just any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The evaluation times of a node: `start, start + step, …, ≤ end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    /// At least 1 (an instant query uses 1, as Prometheus does).
    pub step: i64,
}

impl Grid {
    pub fn instant(t: i64) -> Grid {
        Grid {
            start: t,
            end: t,
            step: 1,
        }
    }

    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.step) as usize + 1
        }
    }

    pub fn time(&self, index: usize) -> i64 {
        self.start + index as i64 * self.step
    }

    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|index| self.time(index))
    }

    /// The step index of a time on the grid.
    pub fn index(&self, t: i64) -> usize {
        ((t - self.start) / self.step) as usize
    }
}

/// A node's value over a grid.
#[derive(Debug, Clone)]
pub(crate) enum Evaluated {
    /// One value per grid step (scalars have a value at every step).
    Scalar(Vec<f64>),
    /// Series with points at grid times; label sets are unique.
    Vector(Vec<SeriesSamples>),
    /// A range vector, only as the result of an instant query.
    Matrix(Vec<SeriesSamples>),
    String(String),
}

/// Collects output points into series keyed by label set, in the order
/// label sets first appear, and rejects two points of one label set at the
/// same step as Prometheus does.
#[derive(Debug, Default)]
pub(crate) struct SeriesBuilder {
    index: HashMap<Labels, usize>,
    series: Vec<SeriesSamples>,
}

impl SeriesBuilder {
    pub fn new() -> SeriesBuilder {
        SeriesBuilder::default()
    }

    /// The slot of a label set, created on first use.
    pub fn slot(&mut self, labels: Labels) -> usize {
        if let Some(&slot) = self.index.get(&labels) {
            return slot;
        }
        let slot = self.series.len();
        self.index.insert(labels.clone(), slot);
        self.series.push(SeriesSamples {
            labels,
            samples: Vec::new(),
        });
        slot
    }

    /// Appends a point; points of a slot must come in time order.
    pub fn push(&mut self, slot: usize, t: i64, v: f64) -> Result<(), PromqlError> {
        let samples = &mut self.series[slot].samples;
        if samples.last().is_some_and(|last| last.t >= t) {
            return Err(duplicate_labelset());
        }
        samples.push(Sample { t, v });
        Ok(())
    }

    /// Whether a slot already has a point at `t` (the latest one pushed).
    pub fn has_point_at(&self, slot: usize, t: i64) -> bool {
        self.series[slot]
            .samples
            .last()
            .is_some_and(|last| last.t == t)
    }

    /// The series that received points.
    pub fn finish(self) -> Vec<SeriesSamples> {
        self.series
            .into_iter()
            .filter(|series| !series.samples.is_empty())
            .collect()
    }
}

/// Merges series that ended up with the same label set (e.g. after the
/// metric name was dropped) into one, as Prometheus's step-wise evaluation
/// does; two points of one label set at the same step are an error.
pub(crate) fn merge_same_labels(
    series: Vec<SeriesSamples>,
) -> Result<Vec<SeriesSamples>, PromqlError> {
    let mut index: HashMap<&Labels, usize> = HashMap::with_capacity(series.len());
    let mut duplicated = false;
    for (i, s) in series.iter().enumerate() {
        if index.insert(&s.labels, i).is_some() {
            duplicated = true;
            break;
        }
    }
    if !duplicated {
        return Ok(series);
    }
    drop(index);
    let mut builder: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<SeriesSamples> = Vec::new();
    for s in series {
        match builder.get(&s.labels) {
            Some(&slot) => {
                let merged = &mut out[slot].samples;
                let mut all = std::mem::take(merged);
                all.extend(s.samples);
                all.sort_by_key(|sample| sample.t);
                if all.windows(2).any(|pair| pair[0].t == pair[1].t) {
                    return Err(duplicate_labelset());
                }
                *merged = all;
            }
            None => {
                builder.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Rejects a matrix whose series share a label set, whether or not their
/// points overlap (Prometheus's check after range-vector functions and
/// unary minus).
pub(crate) fn reject_same_labels(series: &[SeriesSamples]) -> Result<(), PromqlError> {
    let mut seen: HashMap<&Labels, ()> = HashMap::with_capacity(series.len());
    for s in series {
        if seen.insert(&s.labels, ()).is_some() {
            return Err(duplicate_labelset());
        }
    }
    Ok(())
}

/// Walks the series of an instant-vector value step by step: the samples
/// present at each grid time, in series order.
pub(crate) struct StepCursor<'a> {
    series: &'a [SeriesSamples],
    positions: Vec<usize>,
}

impl<'a> StepCursor<'a> {
    pub fn new(series: &'a [SeriesSamples]) -> StepCursor<'a> {
        StepCursor {
            series,
            positions: vec![0; series.len()],
        }
    }

    /// Fills `out` with `(series index, value)` of the series that have a
    /// point at `t`. Times must be asked in increasing order.
    pub fn at(&mut self, t: i64, out: &mut Vec<(usize, f64)>) {
        out.clear();
        for (index, series) in self.series.iter().enumerate() {
            let position = &mut self.positions[index];
            let samples = &series.samples;
            while *position < samples.len() && samples[*position].t < t {
                *position += 1;
            }
            if *position < samples.len() && samples[*position].t == t {
                out.push((index, samples[*position].v));
                *position += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(i64, f64)]) -> SeriesSamples {
        SeriesSamples {
            labels: Labels::from_pairs([("a", name)]),
            samples: points.iter().map(|&(t, v)| Sample { t, v }).collect(),
        }
    }

    #[test]
    fn grid_counts_steps_up_to_end() {
        let grid = Grid {
            start: 0,
            end: 10,
            step: 3,
        };
        assert_eq!(grid.times().collect::<Vec<_>>(), [0, 3, 6, 9]);
        assert_eq!(Grid::instant(5).len(), 1);
    }

    #[test]
    fn merging_joins_disjoint_points_and_rejects_overlaps() {
        let merged =
            merge_same_labels(vec![series("x", &[(0, 1.0)]), series("x", &[(1, 2.0)])]).unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].samples.len(), 2);
        assert!(
            merge_same_labels(vec![series("x", &[(0, 1.0)]), series("x", &[(0, 2.0)])]).is_err()
        );
    }

    #[test]
    fn cursor_yields_points_present_at_each_step() {
        let data = [series("x", &[(0, 1.0), (2, 3.0)]), series("y", &[(1, 5.0)])];
        let mut cursor = StepCursor::new(&data);
        let mut out = Vec::new();
        cursor.at(0, &mut out);
        assert_eq!(out, [(0, 1.0)]);
        cursor.at(1, &mut out);
        assert_eq!(out, [(1, 5.0)]);
        cursor.at(2, &mut out);
        assert_eq!(out, [(0, 3.0)]);
    }

    #[test]
    fn only_the_marker_bit_pattern_is_stale() {
        assert!(is_stale_nan(f64::from_bits(STALE_NAN_BITS)));
        assert!(!is_stale_nan(f64::NAN));
    }
}
