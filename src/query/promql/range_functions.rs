//! Functions over range vectors (`rate`, `*_over_time`, …): evaluated one
//! series at a time, sliding the window over the series' samples as the
//! steps advance, so each sample is visited a bounded number of times.

use promql_parser::parser::Expr;

use crate::model::metric::{Sample, SeriesSamples};

use std::sync::atomic::{AtomicUsize, Ordering};

use super::engine::{absent_labels, Evaluator, WindowEnd};
use super::error::PromqlError;
use super::numeric::{kahan_sum_inc, quantile};
use super::source::LazySeries;
use super::value::{is_stale_nan, reject_same_labels, Evaluated, Grid};

/// The functions whose (only) range-vector argument this module evaluates.
pub(crate) fn is_range_function(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "irate"
            | "increase"
            | "delta"
            | "idelta"
            | "changes"
            | "resets"
            | "deriv"
            | "predict_linear"
            | "avg_over_time"
            | "min_over_time"
            | "max_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "last_over_time"
            | "quantile_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "present_over_time"
            | "absent_over_time"
    )
}

/// What a window function sees besides the samples.
struct Window {
    /// The evaluation time.
    t: i64,
    /// The window's bounds after offset/@ (inclusive).
    start: i64,
    end: i64,
    range: i64,
    /// The scalar argument at this step (`quantile_over_time`'s φ,
    /// `predict_linear`'s horizon).
    param: f64,
    /// No sample in the window is below the one before it, so a counter
    /// function need not look for resets.
    no_resets: bool,
}

type WindowFn = fn(&[Sample], &Window) -> Option<f64>;

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    let (matrix_index, param_index) = match name {
        "quantile_over_time" => (1, Some(0)),
        "predict_linear" => (0, Some(1)),
        _ => (0, None),
    };
    let matrix_expr = args
        .get(matrix_index)
        .ok_or_else(|| PromqlError::bad(format!("missing range argument of {name}")))?;
    let params = match param_index {
        Some(index) => {
            let expr = args
                .get(index)
                .ok_or_else(|| PromqlError::bad(format!("missing scalar argument of {name}")))?;
            Some(ev.eval_scalar(expr, grid)?)
        }
        None => None,
    };
    let arg = ev.lazy_range_arg(matrix_expr, grid)?;
    let function: WindowFn = match name {
        "rate" => |s, w| extrapolated_rate(s, w, true, true),
        "increase" => |s, w| extrapolated_rate(s, w, true, false),
        "delta" => |s, w| extrapolated_rate(s, w, false, false),
        "irate" => |s, _| instant_value(s, true),
        "idelta" => |s, _| instant_value(s, false),
        "changes" => |s, _| Some(changes(s)),
        "resets" => |s, _| Some(resets(s)),
        "deriv" => |s, _| deriv(s),
        "predict_linear" => predict_linear,
        "avg_over_time" => |s, _| Some(avg_over_time(s)),
        "min_over_time" => |s, _| Some(min_over_time(s)),
        "max_over_time" => |s, _| Some(max_over_time(s)),
        "sum_over_time" => |s, _| Some(sum_over_time(s)),
        "count_over_time" => |s, _| Some(s.len() as f64),
        "last_over_time" => |s, _| s.last().map(|sample| sample.v),
        "quantile_over_time" => |s, w| {
            let mut values: Vec<f64> = s.iter().map(|sample| sample.v).collect();
            Some(quantile(w.param, &mut values))
        },
        "stddev_over_time" => |s, _| Some(stdvar_over_time(s).sqrt()),
        "stdvar_over_time" => |s, _| Some(stdvar_over_time(s)),
        "present_over_time" | "absent_over_time" => |_, _| Some(1.0),
        other => return Err(PromqlError::Unsupported(format!("function {other}"))),
    };
    let plan = SeriesPlan {
        grid,
        range: arg.range,
        end: arg.end,
        loaded: arg.loaded,
        function,
        params: params.as_deref(),
        // A pinned window gives the same value at every step, except where
        // the function reads the evaluation time itself.
        reuse: arg.end.is_fixed() && name != "predict_linear",
        counts_resets: matches!(name, "rate" | "increase"),
    };
    let keep_name = name == "last_over_time";
    let budget = SampleBudget::new(arg.load_budget.unwrap_or(usize::MAX));
    let results = map_series(&arg.series, |series, scratch| {
        series.samples_into(&mut scratch.samples)?;
        plan.clean(&mut scratch.samples);
        budget.take(scratch.samples.len())?;
        let points = plan.points(&scratch.samples, &mut scratch.resets);
        Ok((!points.is_empty()).then(|| SeriesSamples {
            labels: if keep_name {
                series.labels.clone()
            } else {
                series.labels.without_name()
            },
            samples: points,
        }))
    });
    let mut out: Vec<SeriesSamples> = Vec::with_capacity(arg.series.len());
    for result in results {
        if let Some(series) = result? {
            out.push(series);
        }
    }
    if arg.load_budget.is_some() {
        ev.count(budget.taken())?;
    }
    ev.count(out.iter().map(|s| s.samples.len()).sum())?;
    if name == "absent_over_time" {
        return Ok(Evaluated::Vector(absent_over_time(&out, matrix_expr, grid)));
    }
    reject_same_labels(&out)?;
    Ok(Evaluated::Vector(out))
}

/// How one series of a range function's argument becomes its points.
struct SeriesPlan<'a> {
    grid: Grid,
    range: i64,
    end: WindowEnd,
    loaded: (i64, i64),
    function: WindowFn,
    params: Option<&'a [f64]>,
    /// The window is the same at every step: compute it once.
    reuse: bool,
    /// `rate` and `increase`: count resets before each sample, so that a
    /// window without any (the common case) costs its two ends, not a scan.
    counts_resets: bool,
}

impl SeriesPlan<'_> {
    /// Keeps the samples a range selector sees: in the selected range, and
    /// no staleness markers.
    fn clean(&self, samples: &mut Vec<Sample>) {
        let (first, last) = self.loaded;
        samples.retain(|sample| sample.t >= first && sample.t <= last && !is_stale_nan(sample.v));
    }

    /// The function's value at every step whose window holds samples,
    /// sliding the window over `samples` (in time order).
    fn points(&self, samples: &[Sample], resets: &mut Vec<u32>) -> Vec<Sample> {
        if self.counts_resets {
            resets.clear();
            resets.reserve(samples.len());
            let mut seen = 0u32;
            let mut previous = f64::NEG_INFINITY;
            for sample in samples {
                if sample.v < previous {
                    seen += 1;
                }
                previous = sample.v;
                resets.push(seen);
            }
        }
        let (mut lo, mut hi) = (0, 0);
        let mut points = Vec::with_capacity(self.grid.len().min(samples.len() * 2));
        let mut cached: Option<Option<f64>> = None;
        for (step, t) in self.grid.times().enumerate() {
            let end = self.end.at(t);
            let start = end - self.range;
            while hi < samples.len() && samples[hi].t <= end {
                hi += 1;
            }
            while lo < hi && samples[lo].t < start {
                lo += 1;
            }
            if lo == hi {
                continue;
            }
            let value = match cached {
                Some(value) if self.reuse => value,
                _ => {
                    let window = Window {
                        t,
                        start,
                        end,
                        range: self.range,
                        param: self.params.map_or(0.0, |p| p[step]),
                        no_resets: self.counts_resets && resets[hi - 1] == resets[lo],
                    };
                    let value = (self.function)(&samples[lo..hi], &window);
                    cached = Some(value);
                    value
                }
            };
            if let Some(v) = value {
                points.push(Sample { t, v });
            }
        }
        points
    }
}

/// The samples a query may still load, shared by the threads decoding its
/// series.
struct SampleBudget {
    limit: usize,
    taken: AtomicUsize,
}

impl SampleBudget {
    fn new(limit: usize) -> SampleBudget {
        SampleBudget {
            limit,
            taken: AtomicUsize::new(0),
        }
    }

    fn take(&self, samples: usize) -> Result<(), PromqlError> {
        let before = self.taken.fetch_add(samples, Ordering::Relaxed);
        if before.saturating_add(samples) > self.limit {
            return Err(PromqlError::TooManySamples);
        }
        Ok(())
    }

    fn taken(&self) -> usize {
        self.taken.load(Ordering::Relaxed)
    }
}

/// Buffers one thread reuses from series to series.
#[derive(Default)]
struct Scratch {
    samples: Vec<Sample>,
    resets: Vec<u32>,
}

/// Fewest series a thread is started for.
const MIN_SERIES_PER_THREAD: usize = 16;
/// At most this many threads per range function.
const MAX_THREADS: usize = 4;

/// `f` over every series, in order, on up to [`MAX_THREADS`] threads that
/// each take a contiguous share and keep their own [`Scratch`]: decoding
/// and window functions are most of a long range query's work, and each
/// series is independent of the others.
fn map_series<T: Send>(
    series: &[LazySeries],
    f: impl Fn(&LazySeries, &mut Scratch) -> Result<T, PromqlError> + Sync,
) -> Vec<Result<T, PromqlError>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_THREADS)
        .min(series.len() / MIN_SERIES_PER_THREAD)
        .max(1);
    let run = |share: &[LazySeries]| {
        let mut scratch = Scratch::default();
        share.iter().map(|s| f(s, &mut scratch)).collect::<Vec<_>>()
    };
    if threads == 1 {
        return run(series);
    }
    let per_thread = series.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = series
            .chunks(per_thread)
            .map(|share| scope.spawn(move || run(share)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// 1 at the steps where no series had a sample in its window.
fn absent_over_time(present: &[SeriesSamples], expr: &Expr, grid: Grid) -> Vec<SeriesSamples> {
    let mut seen = vec![false; grid.len()];
    for series in present {
        for sample in &series.samples {
            seen[grid.index(sample.t)] = true;
        }
    }
    let samples: Vec<Sample> = grid
        .times()
        .zip(seen)
        .filter(|(_, seen)| !seen)
        .map(|(t, _)| Sample { t, v: 1.0 })
        .collect();
    if samples.is_empty() {
        return Vec::new();
    }
    vec![SeriesSamples {
        labels: absent_labels(expr),
        samples,
    }]
}

/// `rate`, `increase` and `delta`: the change over the window (with
/// counter resets compensated for counters), extrapolated towards the
/// window's edges as Prometheus does.
fn extrapolated_rate(
    samples: &[Sample],
    window: &Window,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.v - first.v;
    if is_counter && !window.no_resets {
        let mut previous = first.v;
        for sample in &samples[1..] {
            if sample.v < previous {
                result += previous;
            }
            previous = sample.v;
        }
    }
    let mut duration_to_start = (first.t - window.start) as f64 / 1000.0;
    let duration_to_end = (window.end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_between = sampled_interval / (samples.len() - 1) as f64;
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // Do not extrapolate a counter below zero.
        let duration_to_zero = sampled_interval * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_between / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_between / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= window.range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples.
fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let last = samples[samples.len() - 1];
    let previous = samples[samples.len() - 2];
    let mut result = if is_rate && last.v < previous.v {
        last.v
    } else {
        last.v - previous.v
    };
    let interval = last.t - previous.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

fn changes(samples: &[Sample]) -> f64 {
    let mut count = 0;
    let mut previous = samples[0].v;
    for sample in &samples[1..] {
        let current = sample.v;
        if current != previous && !(current.is_nan() && previous.is_nan()) {
            count += 1;
        }
        previous = current;
    }
    count as f64
}

fn resets(samples: &[Sample]) -> f64 {
    let mut count = 0;
    let mut previous = samples[0].v;
    for sample in &samples[1..] {
        if sample.v < previous {
            count += 1;
        }
        previous = sample.v;
    }
    count as f64
}

/// Least-squares slope and intercept at `intercept_time`, with
/// compensated sums, as Prometheus's `linearRegression`.
fn linear_regression(samples: &[Sample], intercept_time: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    let init_y = samples[0].v;
    let mut const_y = true;
    for (i, sample) in samples.iter().enumerate() {
        if const_y && i > 0 && sample.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (sample.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(sample.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * sample.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let sum_x = sum_x + c_x;
    let sum_y = sum_y + c_y;
    let sum_xy = sum_xy + c_xy;
    let sum_x2 = sum_x2 + c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn deriv(samples: &[Sample]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    // Relative to the first sample's time, for precision (as Prometheus).
    Some(linear_regression(samples, samples[0].t).0)
}

fn predict_linear(samples: &[Sample], window: &Window) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(samples, window.t);
    Some(slope * window.param + intercept)
}

/// The incremental mean of `avg_over_time`, compensated, keeping an
/// infinite mean rather than turning it into NaN.
fn avg_over_time(samples: &[Sample]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
    for sample in samples {
        let v = sample.v;
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_sum_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

fn min_over_time(samples: &[Sample]) -> f64 {
    let mut min = samples[0].v;
    for sample in samples {
        if sample.v < min || min.is_nan() {
            min = sample.v;
        }
    }
    min
}

fn max_over_time(samples: &[Sample]) -> f64 {
    let mut max = samples[0].v;
    for sample in samples {
        if sample.v > max || max.is_nan() {
            max = sample.v;
        }
    }
    max
}

fn sum_over_time(samples: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0);
    for sample in samples {
        (sum, c) = kahan_sum_inc(sample.v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// Welford's running variance with compensated sums.
fn stdvar_over_time(samples: &[Sample]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for sample in samples {
        count += 1.0;
        let delta = sample.v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (sample.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample { t, v }).collect()
    }

    fn window(t: i64, range: i64) -> Window {
        Window {
            t,
            start: t - range,
            end: t,
            range,
            param: 0.0,
            no_resets: false,
        }
    }

    #[test]
    fn rate_extrapolates_to_the_window_edges() {
        // 0..=300s every 60s, +10 each: exactly 50 over 300s (the first
        // sample sits on the window start).
        let s = samples(&[
            (0, 0.0),
            (60_000, 10.0),
            (120_000, 20.0),
            (180_000, 30.0),
            (240_000, 40.0),
            (300_000, 50.0),
        ]);
        let w = window(300_000, 300_000);
        assert_eq!(extrapolated_rate(&s, &w, true, false), Some(50.0));
        assert!((extrapolated_rate(&s, &w, true, true).unwrap() - 50.0 / 300.0).abs() < 1e-12);
    }

    #[test]
    fn counter_resets_are_compensated() {
        let s = samples(&[(0, 5.0), (10_000, 8.0), (20_000, 2.0)]);
        assert_eq!(resets(&s), 1.0);
        let w = window(20_000, 20_000);
        // 8 - 5 + 2 = 5, no extrapolation needed (edges are on samples).
        assert_eq!(extrapolated_rate(&s, &w, true, false), Some(5.0));
        assert_eq!(instant_value(&s, true), Some(0.2));
    }

    #[test]
    fn deriv_of_a_line_is_its_slope() {
        let s = samples(&[(0, 1.0), (10_000, 3.0), (20_000, 5.0)]);
        assert!((deriv(&s).unwrap() - 0.2).abs() < 1e-12);
        let mut w = window(20_000, 20_000);
        w.param = 10.0;
        assert!((predict_linear(&s, &w).unwrap() - 7.0).abs() < 1e-9);
    }

    #[test]
    fn over_time_aggregates() {
        let s = samples(&[(0, 1.0), (1, f64::NAN), (2, 3.0)]);
        assert_eq!(max_over_time(&s), 3.0);
        assert_eq!(changes(&samples(&[(0, f64::NAN), (1, f64::NAN)])), 0.0);
        let s = samples(&[(0, 2.0), (1, 4.0), (2, 4.0), (3, 4.0), (4, 5.0)]);
        assert!((avg_over_time(&s) - 3.8).abs() < 1e-12);
        assert!((stdvar_over_time(&s) - 0.96).abs() < 1e-12);
        assert_eq!(sum_over_time(&s), 19.0);
    }
}
