//! The service graph over a time range (`/api/dependencies`), from the
//! per-minute and per-hour edge buckets the writer keeps.

use std::collections::BTreeMap;

use super::params::{self, Params};
use super::red::rollup_ranges;
use super::QueryError;
use crate::model::{DurationHistogram, UnixNanos};
use crate::store::sqlite::read::EdgeRow;

/// One edge over the whole range.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub parent: String,
    pub child: String,
    pub is_virtual: bool,
    pub call_count: i64,
    pub error_count: i64,
    histogram: DurationHistogram,
}

impl Edge {
    /// The 95th percentile of the calls' client-side durations, in ms.
    pub fn p95_ms(&self) -> Option<f64> {
        self.histogram.quantile(0.95).map(|nanos| nanos / 1e6)
    }
}

/// `[start, end)` in unix seconds from the usual time parameters.
pub fn parse_dependencies(params: &Params, now: UnixNanos) -> Result<(i64, i64), QueryError> {
    params::time_range_seconds(params, now)
}

/// The edges over `[start, end)`, read with `read(resolution, from, to)`,
/// sorted by parent and child.
pub fn dependencies(
    start: i64,
    end: i64,
    read: impl Fn(i64, i64, i64) -> Result<Vec<EdgeRow>, QueryError>,
) -> Result<Vec<Edge>, QueryError> {
    let (_, _, parts) = rollup_ranges(start, end);
    let mut edges: BTreeMap<(String, String, bool), Edge> = BTreeMap::new();
    for (resolution, from, to) in parts {
        for row in read(resolution, from, to)? {
            let edge = edges
                .entry((row.parent.clone(), row.child.clone(), row.is_virtual))
                .or_insert_with(|| Edge {
                    parent: row.parent.clone(),
                    child: row.child.clone(),
                    is_virtual: row.is_virtual,
                    call_count: 0,
                    error_count: 0,
                    histogram: DurationHistogram::default(),
                });
            edge.call_count += row.call_count;
            edge.error_count += row.error_count;
            edge.histogram.merge(&row.histogram);
        }
    }
    Ok(edges.into_values().collect())
}
