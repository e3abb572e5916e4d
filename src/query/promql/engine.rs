//! The evaluator: walks the parsed expression and computes each node over
//! a [`Grid`] of steps, reading samples through a [`SeriesSource`].
//!
//! Semantics follow Prometheus 2.42's engine: instant selectors take the
//! latest sample in `[t - lookback, t]` unless it is a staleness marker,
//! range selectors take `[t - range, t]` (both ends inclusive) without
//! markers, `offset` and `@` shift the time a selector is evaluated at,
//! and subqueries evaluate their expression on a grid aligned to multiples
//! of their step.

use std::time::{Duration, SystemTime};

use promql_parser::label::MatchOp as ParserMatchOp;
use promql_parser::parser::{
    AtModifier, Call, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector,
};

use crate::model::metric::{Labels, MatchOp, Matcher, Sample, SeriesSamples, METRIC_NAME};

use super::error::PromqlError;
use super::source::{LazySeries, SeriesSource};
use super::value::{is_stale_nan, reject_same_labels, Evaluated, Grid};
use super::{aggregate, binary, functions, range_functions};

/// The step of a subquery written without one (`x[1h:]`): Prometheus uses
/// the global evaluation interval, 1m unless configured.
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

/// Limits and defaults of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus's
    /// `--query.lookback-delta`, 5m by default).
    pub lookback_ms: i64,
    /// Points loaded from the source plus points produced by all nodes;
    /// past it the query fails with [`PromqlError::TooManySamples`].
    pub max_samples: usize,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            lookback_ms: 300_000,
            max_samples: 50_000_000,
        }
    }
}

/// A range-vector argument: its series (staleness markers removed) and
/// how the window for a step is placed.
pub(crate) struct RangeArg {
    pub series: Vec<SeriesSamples>,
    pub range: i64,
    pub end: WindowEnd,
}

/// A range-vector argument whose series are decoded one at a time
/// ([`Evaluator::lazy_range_arg`]).
pub(crate) struct LazyRangeArg {
    /// Sorted by labels; staleness markers not yet removed.
    pub series: Vec<LazySeries>,
    pub range: i64,
    pub end: WindowEnd,
    /// The inclusive time range the series were selected over: samples
    /// outside it are not the selector's.
    pub loaded: (i64, i64),
    /// How many more samples decoding the series may load, counted then;
    /// `None` when they were counted as they were evaluated (a subquery's).
    pub load_budget: Option<usize>,
}

/// Where the window of a range vector ends for an evaluation step.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WindowEnd {
    /// `t - offset`.
    Offset(i64),
    /// Pinned by `@`: the same window at every step.
    Fixed(i64),
}

impl WindowEnd {
    pub fn at(&self, t: i64) -> i64 {
        match *self {
            WindowEnd::Offset(offset) => t - offset,
            WindowEnd::Fixed(end) => end,
        }
    }

    pub fn is_fixed(&self) -> bool {
        matches!(self, WindowEnd::Fixed(_))
    }
}

pub(crate) struct Evaluator<'a> {
    source: &'a dyn SeriesSource,
    lookback: i64,
    max_samples: usize,
    samples: usize,
    /// The query's own start and end, for `@ start()` and `@ end()` (also
    /// inside subqueries).
    query_start: i64,
    query_end: i64,
}

impl<'a> Evaluator<'a> {
    pub fn new(
        source: &'a dyn SeriesSource,
        options: &EngineOptions,
        query_start: i64,
        query_end: i64,
    ) -> Evaluator<'a> {
        Evaluator {
            source,
            lookback: options.lookback_ms,
            max_samples: options.max_samples,
            samples: 0,
            query_start,
            query_end,
        }
    }

    /// Accounts for points held, failing past the limit.
    pub fn count(&mut self, points: usize) -> Result<(), PromqlError> {
        self.samples = self.samples.saturating_add(points);
        if self.samples > self.max_samples {
            return Err(PromqlError::TooManySamples);
        }
        Ok(())
    }

    fn count_series(&mut self, series: &[SeriesSamples]) -> Result<(), PromqlError> {
        self.count(series.iter().map(|s| s.samples.len()).sum())
    }

    pub fn eval(&mut self, expr: &Expr, grid: Grid) -> Result<Evaluated, PromqlError> {
        match expr {
            Expr::NumberLiteral(literal) => Ok(Evaluated::Scalar(vec![literal.val; grid.len()])),
            Expr::StringLiteral(literal) => Ok(Evaluated::String(literal.val.clone())),
            Expr::Paren(paren) => self.eval(&paren.expr, grid),
            Expr::Unary(unary) => match self.eval(&unary.expr, grid)? {
                Evaluated::Scalar(values) => {
                    Ok(Evaluated::Scalar(values.into_iter().map(|v| -v).collect()))
                }
                Evaluated::Vector(mut series) => {
                    for s in &mut series {
                        s.labels = s.labels.without_name();
                        for sample in &mut s.samples {
                            sample.v = -sample.v;
                        }
                    }
                    reject_same_labels(&series)?;
                    Ok(Evaluated::Vector(series))
                }
                _ => Err(PromqlError::bad(
                    "unary expression only allowed on expressions of type scalar or vector",
                )),
            },
            Expr::VectorSelector(selector) => {
                let series = self.vector_selector(selector, grid, false)?;
                Ok(Evaluated::Vector(series))
            }
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                if grid.len() != 1 {
                    return Err(PromqlError::bad(
                        "range vectors can only be evaluated in instant queries",
                    ));
                }
                let arg = self.range_arg(expr, grid)?;
                Ok(Evaluated::Matrix(window_at(&arg, grid.start)))
            }
            Expr::Aggregate(aggregation) => aggregate::eval(self, aggregation, grid),
            Expr::Binary(binary) => binary::eval(self, binary, grid),
            Expr::Call(call) => self.call(call, grid),
            Expr::Extension(extension) => Err(PromqlError::Unsupported(format!(
                "extension expression {}",
                extension.expr.name()
            ))),
        }
    }

    /// Evaluates an expression the parser typed as an instant vector.
    pub fn eval_vector(
        &mut self,
        expr: &Expr,
        grid: Grid,
    ) -> Result<Vec<SeriesSamples>, PromqlError> {
        match self.eval(expr, grid)? {
            Evaluated::Vector(series) => Ok(series),
            other => Err(PromqlError::bad(format!(
                "expected an instant vector, got {}",
                kind(&other)
            ))),
        }
    }

    /// Evaluates an expression the parser typed as a scalar.
    pub fn eval_scalar(&mut self, expr: &Expr, grid: Grid) -> Result<Vec<f64>, PromqlError> {
        match self.eval(expr, grid)? {
            Evaluated::Scalar(values) => Ok(values),
            other => Err(PromqlError::bad(format!(
                "expected a scalar, got {}",
                kind(&other)
            ))),
        }
    }

    fn call(&mut self, call: &Call, grid: Grid) -> Result<Evaluated, PromqlError> {
        let name = call.func.name;
        let args: Vec<&Expr> = call
            .args
            .args
            .iter()
            .map(|arg| unwrap_parens(arg))
            .collect();
        if range_functions::is_range_function(name) {
            return range_functions::eval(self, name, &args, grid);
        }
        functions::eval(self, name, &args, grid)
    }

    /// Evaluates a range-vector argument (a range selector or a subquery,
    /// possibly in parentheses) for all steps of `grid`.
    pub fn range_arg(&mut self, expr: &Expr, grid: Grid) -> Result<RangeArg, PromqlError> {
        match unwrap_parens(expr) {
            Expr::MatrixSelector(selector) => self.matrix_selector(selector, grid),
            Expr::Subquery(subquery) => self.subquery(subquery, grid),
            other => Err(PromqlError::bad(format!(
                "expected a range vector, got {}",
                other.value_type()
            ))),
        }
    }

    /// [`range_arg`](Self::range_arg) with the series of a matrix selector
    /// still encoded: range functions decode them one at a time (the
    /// samples are counted against the limit as they are decoded). A
    /// subquery's series are evaluated, and counted, now.
    pub fn lazy_range_arg(&mut self, expr: &Expr, grid: Grid) -> Result<LazyRangeArg, PromqlError> {
        let Expr::MatrixSelector(selector) = unwrap_parens(expr) else {
            let arg = self.range_arg(expr, grid)?;
            return Ok(LazyRangeArg {
                series: arg.series.into_iter().map(LazySeries::decoded).collect(),
                range: arg.range,
                end: arg.end,
                loaded: (i64::MIN, i64::MAX),
                load_budget: None,
            });
        };
        let (range, end, first_end, last_end) = self.matrix_window(selector, grid);
        let matchers = selector_matchers(&selector.vs)?;
        let mut series = self
            .source
            .select_lazy(&matchers, first_end - range, last_end)?;
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(LazyRangeArg {
            series,
            range,
            end,
            loaded: (first_end - range, last_end),
            load_budget: Some(self.max_samples.saturating_sub(self.samples)),
        })
    }

    /// A matrix selector's range, where its window ends, and the first and
    /// last window ends of the grid.
    fn matrix_window(&self, selector: &MatrixSelector, grid: Grid) -> (i64, WindowEnd, i64, i64) {
        let range = duration_ms(&selector.range);
        let offset = offset_ms(&selector.vs.offset);
        let (end, first_end, last_end) = match self.at_ms(&selector.vs.at) {
            Some(at) => (WindowEnd::Fixed(at - offset), at - offset, at - offset),
            None => (
                WindowEnd::Offset(offset),
                grid.start - offset,
                grid.end - offset,
            ),
        };
        (range, end, first_end, last_end)
    }

    fn matrix_selector(
        &mut self,
        selector: &MatrixSelector,
        grid: Grid,
    ) -> Result<RangeArg, PromqlError> {
        let (range, end, first_end, last_end) = self.matrix_window(selector, grid);
        let mut series = self.load(&selector.vs, first_end - range, last_end)?;
        for s in &mut series {
            s.samples.retain(|sample| !is_stale_nan(sample.v));
        }
        series.retain(|s| !s.samples.is_empty());
        Ok(RangeArg { series, range, end })
    }

    fn subquery(&mut self, subquery: &SubqueryExpr, grid: Grid) -> Result<RangeArg, PromqlError> {
        let range = duration_ms(&subquery.range);
        let offset = offset_ms(&subquery.offset);
        let step = match subquery.step {
            Some(step) if duration_ms(&step) > 0 => duration_ms(&step),
            _ => DEFAULT_SUBQUERY_STEP_MS,
        };
        let (end, first_end, last_end) = match self.at_ms(&subquery.at) {
            Some(at) => (WindowEnd::Fixed(at - offset), at - offset, at - offset),
            None => (
                WindowEnd::Offset(offset),
                grid.start - offset,
                grid.end - offset,
            ),
        };
        // The first multiple of the step at or after the earliest window start.
        let earliest = first_end - range;
        let mut start = step * (earliest / step);
        if start < earliest {
            start += step;
        }
        let inner = Grid {
            start,
            end: last_end,
            step,
        };
        // Every step holds at least a value per series: refuse before
        // allocating for a grid that could not fit anyway.
        if inner.len() > self.max_samples {
            return Err(PromqlError::TooManySamples);
        }
        let series = self.eval_vector(&subquery.expr, inner)?;
        Ok(RangeArg { series, range, end })
    }

    /// An instant selector over the grid: per step the latest sample in
    /// `[t - lookback, t]` (after offset/@), none if that is a staleness
    /// marker. With `timestamps`, the value is the sample's own time in
    /// seconds (for `timestamp()`).
    pub fn vector_selector(
        &mut self,
        selector: &VectorSelector,
        grid: Grid,
        timestamps: bool,
    ) -> Result<Vec<SeriesSamples>, PromqlError> {
        let offset = offset_ms(&selector.offset);
        let at = self.at_ms(&selector.at);
        let (first, last) = match at {
            Some(at) => (at - offset, at - offset),
            None => (grid.start - offset, grid.end - offset),
        };
        let loaded = self.load(selector, first - self.lookback, last)?;
        let mut out = Vec::with_capacity(loaded.len());
        let mut produced = 0;
        for series in loaded {
            let samples = &series.samples;
            let mut points = Vec::with_capacity(grid.len().min(samples.len() + 1));
            let mut next = 0;
            for t in grid.times() {
                let reference = at.unwrap_or(t) - offset;
                while next < samples.len() && samples[next].t <= reference {
                    next += 1;
                }
                if next == 0 {
                    continue;
                }
                let sample = samples[next - 1];
                if sample.t < reference - self.lookback || is_stale_nan(sample.v) {
                    continue;
                }
                let v = if timestamps {
                    sample.t as f64 / 1000.0
                } else {
                    sample.v
                };
                points.push(Sample { t, v });
            }
            if !points.is_empty() {
                produced += points.len();
                out.push(SeriesSamples {
                    labels: series.labels,
                    samples: points,
                });
            }
        }
        self.count(produced)?;
        Ok(out)
    }

    /// Reads a selector's series with samples in `[start, end]`, sorted by
    /// labels (the order Prometheus's storage hands them out in).
    fn load(
        &mut self,
        selector: &VectorSelector,
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesSamples>, PromqlError> {
        let matchers = selector_matchers(selector)?;
        let mut series = self.source.select(&matchers, start, end)?;
        for s in &mut series {
            s.samples
                .retain(|sample| sample.t >= start && sample.t <= end);
        }
        series.retain(|s| !s.samples.is_empty());
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.count_series(&series)?;
        Ok(series)
    }

    /// The time an `@` modifier pins, in ms.
    pub fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(time)) => Some(system_time_ms(time)),
        }
    }
}

/// The samples of a range vector in the window of one step.
pub(crate) fn window_at(arg: &RangeArg, t: i64) -> Vec<SeriesSamples> {
    let end = arg.end.at(t);
    let start = end - arg.range;
    arg.series
        .iter()
        .filter_map(|s| {
            let from = s.samples.partition_point(|sample| sample.t < start);
            let to = s.samples.partition_point(|sample| sample.t <= end);
            (from < to).then(|| SeriesSamples {
                labels: s.labels.clone(),
                samples: s.samples[from..to].to_vec(),
            })
        })
        .collect()
}

/// The label matchers of a selector, the metric name as `__name__=`.
pub(crate) fn selector_matchers(selector: &VectorSelector) -> Result<Vec<Matcher>, PromqlError> {
    if !selector.matchers.or_matchers.is_empty() {
        return Err(PromqlError::Unsupported(
            "`or` between label matchers".to_string(),
        ));
    }
    let mut matchers = Vec::with_capacity(selector.matchers.matchers.len() + 1);
    if let Some(name) = &selector.name {
        matchers.push(Matcher::equal(METRIC_NAME, name));
    }
    for matcher in &selector.matchers.matchers {
        let op = match matcher.op {
            ParserMatchOp::Equal => MatchOp::Equal,
            ParserMatchOp::NotEqual => MatchOp::NotEqual,
            ParserMatchOp::Re(_) => MatchOp::Regex,
            ParserMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        matchers.push(
            Matcher::new(&matcher.name, op, &matcher.value)
                .map_err(|error| PromqlError::bad(error.to_string()))?,
        );
    }
    if matchers.iter().all(|matcher| matcher.matches_empty()) {
        return Err(PromqlError::bad(
            "vector selector must contain at least one non-empty matcher",
        ));
    }
    Ok(matchers)
}

/// The labels `absent()` and `absent_over_time()` give their result: those
/// set by exactly one equality matcher (never the metric name).
pub(crate) fn absent_labels(expr: &Expr) -> Labels {
    let selector = match unwrap_parens(expr) {
        Expr::VectorSelector(selector) => selector,
        Expr::MatrixSelector(selector) => &selector.vs,
        _ => return Labels::default(),
    };
    let mut labels = Labels::default();
    let mut seen: Vec<&str> = Vec::new();
    for matcher in &selector.matchers.matchers {
        if matcher.name == METRIC_NAME {
            continue;
        }
        let first = !seen.contains(&matcher.name.as_str());
        if matches!(matcher.op, ParserMatchOp::Equal) && first {
            labels.set(&matcher.name, &matcher.value);
            seen.push(&matcher.name);
        } else {
            labels.set(&matcher.name, "");
        }
    }
    labels
}

pub(crate) fn unwrap_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(paren) = expr {
        expr = &paren.expr;
    }
    expr
}

/// A string-literal argument (possibly in parentheses).
pub(crate) fn string_arg(expr: &Expr) -> Result<&str, PromqlError> {
    match unwrap_parens(expr) {
        Expr::StringLiteral(literal) => Ok(&literal.val),
        other => Err(PromqlError::bad(format!(
            "expected a string literal, got {}",
            other.value_type()
        ))),
    }
}

fn kind(value: &Evaluated) -> &'static str {
    match value {
        Evaluated::Scalar(_) => "scalar",
        Evaluated::Vector(_) => "instant vector",
        Evaluated::Matrix(_) => "range vector",
        Evaluated::String(_) => "string",
    }
}

pub(crate) fn duration_ms(duration: &Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(duration)) => duration_ms(duration),
        Some(Offset::Neg(duration)) => -duration_ms(duration),
    }
}

fn system_time_ms(time: &SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => duration_ms(&after),
        Err(before) => -duration_ms(&before.duration()),
    }
}
