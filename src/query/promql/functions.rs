//! Functions over instant vectors and scalars: math, clamping, dates,
//! sorting, label rewriting, `absent`, `scalar`/`vector` and
//! `histogram_quantile` over classic `le` buckets.
//!
//! Functions that compute a new value drop the metric name, as Prometheus
//! does; `sort`, `sort_desc`, `label_replace` and `label_join` keep it.

use std::collections::HashMap;

use promql_parser::parser::Expr;
use regex::Regex;

use crate::model::metric::{Labels, Sample, SeriesSamples};

use super::engine::{absent_labels, string_arg, Evaluator};
use super::error::PromqlError;
use super::numeric::{bucket_quantile, go_max, go_min, parse_go_float, Bucket};
use super::value::{merge_same_labels, Evaluated, Grid, SeriesBuilder, StepCursor};

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    let arg = |index: usize| -> Result<&Expr, PromqlError> {
        args.get(index)
            .copied()
            .ok_or_else(|| PromqlError::bad(format!("missing argument {} of {name}", index + 1)))
    };
    if let Some(f) = simple_function(name) {
        let series = ev.eval_vector(arg(0)?, grid)?;
        return map_values(series, |_, v| f(v));
    }
    if is_date_function(name) {
        let f = date_function(name);
        if args.is_empty() {
            let samples = grid.times().map(|t| Sample { t, v: f(t / 1000) }).collect();
            return Ok(Evaluated::Vector(vec![SeriesSamples {
                labels: Labels::default(),
                samples,
            }]));
        }
        let series = ev.eval_vector(arg(0)?, grid)?;
        return map_values(series, |_, v| f(go_float_to_int(v)));
    }
    match name {
        "time" => Ok(Evaluated::Scalar(
            grid.times().map(|t| t as f64 / 1000.0).collect(),
        )),
        "pi" => Ok(Evaluated::Scalar(vec![std::f64::consts::PI; grid.len()])),
        "vector" => {
            let values = ev.eval_scalar(arg(0)?, grid)?;
            let samples = grid
                .times()
                .zip(values)
                .map(|(t, v)| Sample { t, v })
                .collect();
            Ok(Evaluated::Vector(vec![SeriesSamples {
                labels: Labels::default(),
                samples,
            }]))
        }
        "scalar" => {
            let series = ev.eval_vector(arg(0)?, grid)?;
            let mut cursor = StepCursor::new(&series);
            let mut present = Vec::new();
            let values = grid
                .times()
                .map(|t| {
                    cursor.at(t, &mut present);
                    match present.as_slice() {
                        [(_, v)] => *v,
                        _ => f64::NAN,
                    }
                })
                .collect();
            Ok(Evaluated::Scalar(values))
        }
        "timestamp" => {
            let series = match arg(0)? {
                Expr::VectorSelector(selector) => ev.vector_selector(selector, grid, true)?,
                other => {
                    let mut series = ev.eval_vector(other, grid)?;
                    for s in &mut series {
                        for sample in &mut s.samples {
                            sample.v = sample.t as f64 / 1000.0;
                        }
                    }
                    series
                }
            };
            map_values(series, |_, v| v)
        }
        "round" => {
            let series = ev.eval_vector(arg(0)?, grid)?;
            let to_nearest = match args.get(1) {
                Some(expr) => ev.eval_scalar(expr, grid)?,
                None => vec![1.0; grid.len()],
            };
            map_values(series, |t, v| {
                // The inverse is used as it causes fewer floating-point errors.
                let inverse = 1.0 / to_nearest[grid.index(t)];
                (v * inverse + 0.5).floor() / inverse
            })
        }
        "clamp" => {
            let series = ev.eval_vector(arg(0)?, grid)?;
            let min = ev.eval_scalar(arg(1)?, grid)?;
            let max = ev.eval_scalar(arg(2)?, grid)?;
            let mut out = Vec::with_capacity(series.len());
            for mut s in series {
                s.labels = s.labels.without_name();
                s.samples.retain_mut(|sample| {
                    let step = grid.index(sample.t);
                    if max[step] < min[step] {
                        return false;
                    }
                    sample.v = go_max(min[step], go_min(max[step], sample.v));
                    true
                });
                if !s.samples.is_empty() {
                    out.push(s);
                }
            }
            Ok(Evaluated::Vector(merge_same_labels(out)?))
        }
        "clamp_min" => {
            let series = ev.eval_vector(arg(0)?, grid)?;
            let min = ev.eval_scalar(arg(1)?, grid)?;
            map_values(series, |t, v| go_max(min[grid.index(t)], v))
        }
        "clamp_max" => {
            let series = ev.eval_vector(arg(0)?, grid)?;
            let max = ev.eval_scalar(arg(1)?, grid)?;
            map_values(series, |t, v| go_min(max[grid.index(t)], v))
        }
        "sort" | "sort_desc" => {
            let mut series = ev.eval_vector(arg(0)?, grid)?;
            // Only an instant result has an order; a range result is sorted
            // by labels at the end.
            if grid.len() == 1 {
                let descending = name == "sort_desc";
                series.sort_by(|a, b| {
                    let value = |s: &SeriesSamples| s.samples.first().map_or(f64::NAN, |p| p.v);
                    let (x, y) = (value(a), value(b));
                    // NaN last either way.
                    x.is_nan().cmp(&y.is_nan()).then_with(|| {
                        let order = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
                        if descending {
                            order.reverse()
                        } else {
                            order
                        }
                    })
                });
            }
            Ok(Evaluated::Vector(series))
        }
        "label_replace" => {
            let series = ev.eval_vector(arg(0)?, grid)?;
            let destination = string_arg(arg(1)?)?;
            let replacement = string_arg(arg(2)?)?;
            let source = string_arg(arg(3)?)?;
            let pattern = string_arg(arg(4)?)?;
            let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|_| {
                PromqlError::bad(format!(
                    "invalid regular expression in label_replace(): {pattern}"
                ))
            })?;
            if !is_valid_label_name(destination) {
                return Err(PromqlError::bad(format!(
                    "invalid destination label name in label_replace(): {destination}"
                )));
            }
            let mut out = Vec::with_capacity(series.len());
            for mut s in series {
                let value = s.labels.get(source).unwrap_or("");
                if let Some(captures) = regex.captures(value) {
                    let mut expanded = String::new();
                    captures.expand(replacement, &mut expanded);
                    s.labels.set(destination, &expanded);
                }
                out.push(s);
            }
            Ok(Evaluated::Vector(merge_same_labels(out)?))
        }
        "label_join" => {
            let series = ev.eval_vector(arg(0)?, grid)?;
            let destination = string_arg(arg(1)?)?;
            let separator = string_arg(arg(2)?)?;
            let mut sources = Vec::new();
            for expr in args.iter().skip(3) {
                let source = string_arg(expr)?;
                if !is_valid_label_name(source) {
                    return Err(PromqlError::bad(format!(
                        "invalid source label name in label_join(): {source}"
                    )));
                }
                sources.push(source);
            }
            if !is_valid_label_name(destination) {
                return Err(PromqlError::bad(format!(
                    "invalid destination label name in label_join(): {destination}"
                )));
            }
            let mut out = Vec::with_capacity(series.len());
            for mut s in series {
                let joined = sources
                    .iter()
                    .map(|source| s.labels.get(source).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(separator);
                s.labels.set(destination, &joined);
                out.push(s);
            }
            Ok(Evaluated::Vector(merge_same_labels(out)?))
        }
        "absent" => {
            let expr = arg(0)?;
            let series = ev.eval_vector(expr, grid)?;
            let mut present = vec![false; grid.len()];
            for s in &series {
                for sample in &s.samples {
                    present[grid.index(sample.t)] = true;
                }
            }
            let samples: Vec<Sample> = grid
                .times()
                .zip(present)
                .filter(|(_, present)| !present)
                .map(|(t, _)| Sample { t, v: 1.0 })
                .collect();
            if samples.is_empty() {
                return Ok(Evaluated::Vector(Vec::new()));
            }
            Ok(Evaluated::Vector(vec![SeriesSamples {
                labels: absent_labels(expr),
                samples,
            }]))
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(0)?, grid)?;
            let series = ev.eval_vector(arg(1)?, grid)?;
            histogram_quantile(&q, &series, grid)
        }
        other => Err(PromqlError::Unsupported(format!("function {other}"))),
    }
}

/// Applies `f(step time, value)` to every point, drops the metric name and
/// merges series that now share labels.
fn map_values(
    series: Vec<SeriesSamples>,
    f: impl Fn(i64, f64) -> f64,
) -> Result<Evaluated, PromqlError> {
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        s.labels = s.labels.without_name();
        for sample in &mut s.samples {
            sample.v = f(sample.t, sample.v);
        }
        out.push(s);
    }
    Ok(Evaluated::Vector(merge_same_labels(out)?))
}

fn simple_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

fn is_date_function(name: &str) -> bool {
    matches!(
        name,
        "minute"
            | "hour"
            | "day_of_week"
            | "day_of_month"
            | "day_of_year"
            | "days_in_month"
            | "month"
            | "year"
    )
}

/// The date function over Unix seconds (UTC).
fn date_function(name: &str) -> fn(i64) -> f64 {
    match name {
        "minute" => |s| (s.rem_euclid(3600) / 60) as f64,
        "hour" => |s| (s.rem_euclid(86_400) / 3600) as f64,
        "day_of_week" => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
        "day_of_month" => |s| civil_from_days(s.div_euclid(86_400)).2 as f64,
        "day_of_year" => |s| {
            let days = s.div_euclid(86_400);
            let (year, _, _) = civil_from_days(days);
            (days - days_from_civil(year, 1, 1) + 1) as f64
        },
        "days_in_month" => |s| {
            let (year, month, _) = civil_from_days(s.div_euclid(86_400));
            days_in_month(year, month) as f64
        },
        "month" => |s| civil_from_days(s.div_euclid(86_400)).1 as f64,
        _ => |s| civil_from_days(s.div_euclid(86_400)).0 as f64,
    }
}

/// Go's `int64(f)` on amd64: truncation, and the minimum for NaN and
/// values out of range (where Rust's cast would saturate).
fn go_float_to_int(v: f64) -> i64 {
    // 2^63, exactly representable.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// Year, month (1–12) and day (1–31) of a day count since 1970-01-01, in
/// the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Prometheus's (pre-UTF-8) label name syntax.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `histogram_quantile` over classic buckets: series grouped by their
/// labels without `le` (the name included, so two histograms never mix),
/// one result per group and step, without the name and `le`.
fn histogram_quantile(
    q: &[f64],
    series: &[SeriesSamples],
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    // Per series: its bound and group, computed once.
    let mut group_index: HashMap<Labels, usize> = HashMap::new();
    let mut group_labels: Vec<Labels> = Vec::new();
    let mut bucket_of: Vec<Option<(f64, usize)>> = Vec::with_capacity(series.len());
    for s in series {
        let Some(upper_bound) = s.labels.get("le").and_then(parse_go_float) else {
            bucket_of.push(None);
            continue;
        };
        let mut key = s.labels.clone();
        key.set("le", "");
        let next = group_labels.len();
        let group = *group_index.entry(key.clone()).or_insert_with(|| {
            group_labels.push(key.without_name());
            next
        });
        bucket_of.push(Some((upper_bound, group)));
    }
    let mut builder = SeriesBuilder::new();
    let slots: Vec<usize> = group_labels
        .into_iter()
        .map(|labels| builder.slot(labels))
        .collect();
    let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); slots.len()];
    let mut touched: Vec<usize> = Vec::new();
    let mut cursor = StepCursor::new(series);
    let mut present = Vec::new();
    for (step, t) in grid.times().enumerate() {
        cursor.at(t, &mut present);
        for &(index, count) in &present {
            if let Some((upper_bound, group)) = bucket_of[index] {
                if buckets[group].is_empty() {
                    touched.push(group);
                }
                buckets[group].push(Bucket { upper_bound, count });
            }
        }
        for &group in &touched {
            let value = bucket_quantile(q[step], &mut buckets[group]);
            builder.push(slots[group], t, value)?;
            buckets[group].clear();
        }
        touched.clear();
    }
    Ok(Evaluated::Vector(builder.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_conversions_match_known_dates() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let s = 1_709_214_300;
        assert_eq!(date_function("year")(s), 2024.0);
        assert_eq!(date_function("month")(s), 2.0);
        assert_eq!(date_function("day_of_month")(s), 29.0);
        assert_eq!(date_function("days_in_month")(s), 29.0);
        assert_eq!(date_function("day_of_year")(s), 60.0);
        assert_eq!(date_function("day_of_week")(s), 4.0);
        assert_eq!(date_function("hour")(s), 13.0);
        assert_eq!(date_function("minute")(s), 45.0);
        // Before the epoch: 1969-12-31T23:59:59Z, a Wednesday.
        assert_eq!(date_function("year")(-1), 1969.0);
        assert_eq!(date_function("day_of_week")(-1), 3.0);
        assert_eq!(date_function("hour")(-1), 23.0);
    }

    #[test]
    fn label_names_follow_prometheus_syntax() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a-b"));
        assert!(!is_valid_label_name(""));
    }
}
