//! Aggregation operators (`sum by (job) (…)` and the rest).
//!
//! Each input series' group is computed once; each step then folds the
//! samples present into per-group state, with Prometheus 2.42's exact
//! arithmetic: a plain running sum, the incremental mean for `avg`,
//! Welford's update for `stddev`/`stdvar` and Go's heap for `topk`.

use std::collections::HashMap;

use promql_parser::label::Labels as LabelList;
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV,
    T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use crate::model::metric::{Labels, SeriesSamples, METRIC_NAME};

use super::engine::{string_arg, Evaluator};
use super::error::PromqlError;
use super::functions::is_valid_label_name;
use super::numeric::{format_go_float, less_nan_first, quantile, GoHeap};
use super::value::{Evaluated, Grid, SeriesBuilder, StepCursor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
}

/// How series are grouped: `by` keeps the listed labels, `without` drops
/// them and the metric name.
struct Grouping {
    names: Vec<String>,
    without: bool,
}

impl Grouping {
    fn from_modifier(modifier: &Option<LabelModifier>) -> Grouping {
        let (list, without): (Option<&LabelList>, bool) = match modifier {
            None => (None, false),
            Some(LabelModifier::Include(list)) => (Some(list), false),
            Some(LabelModifier::Exclude(list)) => (Some(list), true),
        };
        Grouping {
            names: list.map(|list| list.labels.clone()).unwrap_or_default(),
            without,
        }
    }

    fn labels(&self, labels: &Labels) -> Labels {
        if self.without {
            Labels::from_pairs(
                labels.iter().filter(|(name, _)| {
                    *name != METRIC_NAME && !self.names.iter().any(|n| n == name)
                }),
            )
        } else if self.names.is_empty() {
            Labels::default()
        } else {
            Labels::from_pairs(
                labels
                    .iter()
                    .filter(|(name, _)| self.names.iter().any(|n| n == name)),
            )
        }
    }
}

/// Per-group running state of one step.
#[derive(Debug, Clone, Copy, Default)]
struct State {
    value: f64,
    mean: f64,
    count: f64,
}

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    aggregation: &AggregateExpr,
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    let op = match aggregation.op.id() {
        T_SUM => Op::Sum,
        T_AVG => Op::Avg,
        T_COUNT => Op::Count,
        T_MIN => Op::Min,
        T_MAX => Op::Max,
        T_GROUP => Op::Group,
        T_STDDEV => Op::Stddev,
        T_STDVAR => Op::Stdvar,
        T_TOPK => Op::Topk,
        T_BOTTOMK => Op::Bottomk,
        T_QUANTILE => Op::Quantile,
        T_COUNT_VALUES => Op::CountValues,
        _ => {
            return Err(PromqlError::Unsupported(format!(
                "aggregation {}",
                aggregation.op
            )))
        }
    };
    let grouping = Grouping::from_modifier(&aggregation.modifier);
    let param = aggregation
        .param
        .as_deref()
        .ok_or_else(|| PromqlError::bad(format!("{} needs a parameter", aggregation.op)));
    if op == Op::CountValues {
        let label = string_arg(param?)?.to_string();
        let series = ev.eval_vector(&aggregation.expr, grid)?;
        return count_values(&series, &grouping, &label, grid);
    }
    let params = match op {
        Op::Topk | Op::Bottomk | Op::Quantile => Some(ev.eval_scalar(param?, grid)?),
        _ => None,
    };
    let series = ev.eval_vector(&aggregation.expr, grid)?;

    let mut group_index: HashMap<Labels, usize> = HashMap::new();
    let mut group_labels: Vec<Labels> = Vec::new();
    let group_of: Vec<usize> = series
        .iter()
        .map(|s| {
            let labels = grouping.labels(&s.labels);
            let next = group_labels.len();
            *group_index.entry(labels.clone()).or_insert_with(|| {
                group_labels.push(labels);
                next
            })
        })
        .collect();
    drop(group_index);

    let mut builder = SeriesBuilder::new();
    let mut group_slot: Vec<Option<usize>> = vec![None; group_labels.len()];
    let mut series_slot: Vec<Option<usize>> = vec![None; series.len()];
    let mut states = vec![State::default(); group_labels.len()];
    let mut active = vec![false; group_labels.len()];
    let mut members: Vec<Vec<(f64, usize)>> = vec![Vec::new(); group_labels.len()];
    let mut touched: Vec<usize> = Vec::new();
    let mut cursor = StepCursor::new(&series);
    let mut present = Vec::new();

    for (step, t) in grid.times().enumerate() {
        cursor.at(t, &mut present);
        let mut k = 0usize;
        if matches!(op, Op::Topk | Op::Bottomk) {
            let f = params.as_ref().map_or(0.0, |p| p[step]);
            if !convertible_to_int64(f) {
                return Err(PromqlError::bad(format!(
                    "Scalar value {} overflows int64",
                    format_go_value(f)
                )));
            }
            if f < 1.0 {
                continue;
            }
            // Positive and convertible, so in range; more than the input
            // never matters.
            k = (f as i64).min(series.len() as i64 + 1) as usize;
        }
        for &(index, v) in &present {
            let group = group_of[index];
            if !active[group] {
                active[group] = true;
                touched.push(group);
                states[group] = State {
                    value: match op {
                        Op::Stddev | Op::Stdvar => 0.0,
                        Op::Group => 1.0,
                        _ => v,
                    },
                    mean: v,
                    count: 1.0,
                };
                members[group].clear();
                members[group].push((v, index));
                continue;
            }
            let state = &mut states[group];
            match op {
                Op::Sum => state.value += v,
                Op::Avg => {
                    state.count += 1.0;
                    if state.mean.is_infinite() {
                        if v.is_infinite() && (state.mean > 0.0) == (v > 0.0) {
                            continue;
                        }
                        if !v.is_infinite() && !v.is_nan() {
                            continue;
                        }
                    }
                    // Both sides divided by the count to avoid overflow.
                    state.mean += v / state.count - state.mean / state.count;
                }
                Op::Group => {}
                Op::Max => {
                    if state.value < v || state.value.is_nan() {
                        state.value = v;
                    }
                }
                Op::Min => {
                    if state.value > v || state.value.is_nan() {
                        state.value = v;
                    }
                }
                Op::Count | Op::CountValues => state.count += 1.0,
                Op::Stddev | Op::Stdvar => {
                    state.count += 1.0;
                    let delta = v - state.mean;
                    state.mean += delta / state.count;
                    state.value += delta * (v - state.mean);
                }
                Op::Topk => push_bounded(&mut members[group], k, (v, index), less_top),
                Op::Bottomk => push_bounded(&mut members[group], k, (v, index), less_bottom),
                Op::Quantile => members[group].push((v, index)),
            }
        }
        for &group in &touched {
            active[group] = false;
            let state = states[group];
            let value = match op {
                Op::Avg => state.mean,
                Op::Count | Op::CountValues => state.count,
                Op::Stdvar => state.value / state.count,
                Op::Stddev => (state.value / state.count).sqrt(),
                Op::Quantile => {
                    let mut values: Vec<f64> = members[group].iter().map(|m| m.0).collect();
                    quantile(params.as_ref().map_or(0.0, |p| p[step]), &mut values)
                }
                Op::Topk | Op::Bottomk => {
                    let less = if op == Op::Topk {
                        less_top
                    } else {
                        less_bottom
                    };
                    let mut kept = std::mem::take(&mut members[group]);
                    // The heap has the "least" on top: emit in reverse order.
                    kept.sort_by(|a, b| order_of(less, b, a));
                    for &(v, index) in &kept {
                        let slot = *series_slot[index]
                            .get_or_insert_with(|| builder.slot(series[index].labels.clone()));
                        builder.push(slot, t, v)?;
                    }
                    members[group] = kept;
                    continue;
                }
                _ => state.value,
            };
            let slot =
                *group_slot[group].get_or_insert_with(|| builder.slot(group_labels[group].clone()));
            builder.push(slot, t, value)?;
        }
        touched.clear();
    }
    let out = builder.finish();
    ev.count(out.iter().map(|s| s.samples.len()).sum())?;
    Ok(Evaluated::Vector(out))
}

type Less = fn(&(f64, usize), &(f64, usize)) -> bool;

/// `topk`'s heap order: NaN and small values on top, to be replaced first.
fn less_top(a: &(f64, usize), b: &(f64, usize)) -> bool {
    less_nan_first(a.0, b.0)
}

/// `bottomk`'s heap order: NaN and large values on top.
fn less_bottom(a: &(f64, usize), b: &(f64, usize)) -> bool {
    a.0.is_nan() || a.0 > b.0
}

fn order_of(less: Less, a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    if less(a, b) {
        std::cmp::Ordering::Less
    } else if less(b, a) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}

/// Prometheus's `topk`/`bottomk` step: keep at most `k`, replacing the
/// top of the heap when the new value beats it (or it is NaN).
fn push_bounded(heap: &mut Vec<(f64, usize)>, k: usize, item: (f64, usize), less: Less) {
    let top = heap[0];
    if heap.len() < k || less(&top, &item) || top.0.is_nan() {
        if heap.len() == k {
            if k == 1 {
                heap[0] = item;
                return;
            }
            let mut go_heap = GoHeap {
                items: std::mem::take(heap),
            };
            go_heap.pop(less);
            go_heap.push(item, less);
            *heap = go_heap.items;
            return;
        }
        let mut go_heap = GoHeap {
            items: std::mem::take(heap),
        };
        go_heap.push(item, less);
        *heap = go_heap.items;
    }
}

/// `count_values`: counts per distinct value, the value (as Go formats
/// it) in the named label, which also joins the `by` labels.
fn count_values(
    series: &[SeriesSamples],
    grouping: &Grouping,
    label: &str,
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    if !is_valid_label_name(label) {
        return Err(PromqlError::bad(format!("invalid label name {label:?}")));
    }
    let mut grouping_with_label = Grouping {
        names: grouping.names.clone(),
        without: grouping.without,
    };
    if !grouping.without {
        grouping_with_label.names.push(label.to_string());
    }
    let mut builder = SeriesBuilder::new();
    let mut cursor = StepCursor::new(series);
    let mut present = Vec::new();
    let mut counts: Vec<(usize, f64)> = Vec::new();
    let mut position: HashMap<usize, usize> = HashMap::new();
    for t in grid.times() {
        cursor.at(t, &mut present);
        counts.clear();
        position.clear();
        for &(index, v) in &present {
            let mut labels = series[index].labels.clone();
            labels.set(label, &format_go_float(v));
            let slot = builder.slot(grouping_with_label.labels(&labels));
            match position.get(&slot) {
                Some(&at) => counts[at].1 += 1.0,
                None => {
                    position.insert(slot, counts.len());
                    counts.push((slot, 1.0));
                }
            }
        }
        for &(slot, count) in &counts {
            builder.push(slot, t, count)?;
        }
    }
    Ok(Evaluated::Vector(builder.finish()))
}

/// Go's check before converting a float to int64.
fn convertible_to_int64(v: f64) -> bool {
    (-9_223_372_036_854_775_808.0..=9_223_372_036_854_774_784.0).contains(&v)
}

/// A float as Go's `%v` prints it, for error messages.
fn format_go_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Go's shortest %e: a sign and at least two exponent digits.
        let formatted = format!("{v:e}");
        match formatted.split_once('e') {
            Some((mantissa, exponent)) => {
                let (sign, digits) = match exponent.strip_prefix('-') {
                    Some(digits) => ('-', digits),
                    None => ('+', exponent),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => formatted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_keeps_or_drops_labels() {
        let labels = Labels::from_pairs([("__name__", "x"), ("job", "a"), ("instance", "1")]);
        let by = Grouping {
            names: vec!["job".into()],
            without: false,
        };
        assert_eq!(by.labels(&labels), Labels::from_pairs([("job", "a")]));
        let without = Grouping {
            names: vec!["job".into()],
            without: true,
        };
        assert_eq!(
            without.labels(&labels),
            Labels::from_pairs([("instance", "1")])
        );
    }

    #[test]
    fn bounded_heap_keeps_the_largest() {
        let mut heap = vec![(1.0, 0)];
        for (i, v) in [5.0, 3.0, 4.0, 2.0].into_iter().enumerate() {
            push_bounded(&mut heap, 2, (v, i + 1), less_top);
        }
        let mut values: Vec<f64> = heap.iter().map(|m| m.0).collect();
        values.sort_by(f64::total_cmp);
        assert_eq!(values, [4.0, 5.0]);
    }

    #[test]
    fn int64_conversion_bounds_follow_go() {
        assert!(convertible_to_int64(3.0));
        assert!(!convertible_to_int64(f64::NAN));
        assert!(!convertible_to_int64(1e19));
        assert_eq!(format_go_value(1.5e19), "1.5e+19");
    }
}
