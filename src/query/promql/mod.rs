//! PromQL over stored metric series and the span-derived ones.
//!
//! The expression is parsed by `promql-parser`; evaluation is ours and
//! follows Prometheus 2.42's semantics (lookback and staleness, extrapolated
//! `rate`, vector matching, the floating-point algorithms of its
//! aggregations), so answers agree with a real Prometheus on the same float
//! samples. Samples come from a [`SeriesSource`], so the engine knows
//! nothing of SQLite.
//!
//! [`instant_query`] and [`range_query`] are the entry points; both
//! evaluate every node over a grid of steps at once (see `value`), loading
//! each selector's samples once per query.

mod aggregate;
mod binary;
mod engine;
mod error;
mod functions;
mod memory;
mod numeric;
mod range_functions;
mod source;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testscript;
mod value;

pub use engine::{EngineOptions, DEFAULT_SUBQUERY_STEP_MS};
pub use error::PromqlError;
pub use memory::MemorySource;
pub use source::{EncodedSamples, LazySeries, SeriesSource, SourceError};
pub use value::{is_stale_nan, Value, VectorSample, STALE_NAN_BITS};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::Expr;

use crate::model::metric::{Labels, Sample, SeriesSamples};

use engine::Evaluator;
use value::{Evaluated, Grid};

/// Evaluates `query` at `time_ms`. A vector's samples carry `time_ms`, as
/// in Prometheus's API; its order is Prometheus's where that is defined
/// (after `sort`, `sort_desc`, `topk`, `bottomk`). A range vector comes
/// back as a matrix sorted by labels.
pub fn instant_query(
    source: &dyn SeriesSource,
    query: &str,
    time_ms: i64,
    options: &EngineOptions,
) -> Result<Value, PromqlError> {
    let expr = parse(query)?;
    let mut evaluator = Evaluator::new(source, options, time_ms, time_ms);
    Ok(match evaluator.eval(&expr, Grid::instant(time_ms))? {
        Evaluated::Scalar(values) => Value::Scalar(Sample {
            t: time_ms,
            v: values.first().copied().unwrap_or(f64::NAN),
        }),
        Evaluated::String(value) => Value::String(value, time_ms),
        Evaluated::Vector(series) => Value::Vector(
            series
                .into_iter()
                .filter_map(|s| {
                    let v = s.samples.first()?.v;
                    Some(VectorSample {
                        labels: s.labels,
                        sample: Sample { t: time_ms, v },
                    })
                })
                .collect(),
        ),
        Evaluated::Matrix(mut series) => {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            Value::Matrix(series)
        }
    })
}

/// Evaluates `query` at `start_ms, start_ms + step_ms, …, ≤ end_ms`. The
/// result is always a matrix sorted by labels, a series having points only
/// at the steps where it has a value; a scalar expression gives one series
/// with empty labels.
pub fn range_query(
    source: &dyn SeriesSource,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    options: &EngineOptions,
) -> Result<Value, PromqlError> {
    if step_ms <= 0 {
        return Err(PromqlError::bad(
            "zero or negative query resolution step widths are not accepted",
        ));
    }
    if end_ms < start_ms {
        return Err(PromqlError::bad(
            "end timestamp must not be before start time",
        ));
    }
    let grid = Grid {
        start: start_ms,
        end: end_ms,
        step: step_ms,
    };
    if grid.len() > options.max_samples {
        return Err(PromqlError::TooManySamples);
    }
    let expr = parse(query)?;
    match expr.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        other => {
            return Err(PromqlError::bad(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                match other {
                    ValueType::Matrix => "range vector",
                    _ => "string",
                }
            )))
        }
    }
    let mut evaluator = Evaluator::new(source, options, start_ms, end_ms);
    let mut series = match evaluator.eval(&expr, grid)? {
        Evaluated::Scalar(values) => vec![SeriesSamples {
            labels: Labels::default(),
            samples: grid
                .times()
                .zip(values)
                .map(|(t, v)| Sample { t, v })
                .collect(),
        }],
        Evaluated::Vector(series) => series,
        Evaluated::Matrix(_) | Evaluated::String(_) => {
            return Err(PromqlError::bad(
                "range queries need a scalar or instant-vector expression",
            ))
        }
    };
    series.retain(|s| !s.samples.is_empty());
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Value::Matrix(series))
}

/// Parses with `promql-parser`, which is not relied on never to panic: a
/// panic is reported as a parse error.
fn parse(query: &str) -> Result<Expr, PromqlError> {
    match std::panic::catch_unwind(|| promql_parser::parser::parse(query)) {
        Ok(Ok(expr)) => Ok(expr),
        Ok(Err(message)) => Err(PromqlError::Parse(message)),
        Err(_) => Err(PromqlError::Parse(format!("cannot parse {query:?}"))),
    }
}
