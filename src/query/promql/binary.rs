//! Binary operators: arithmetic, comparisons (filtering or with `bool`),
//! `atan2` and the set operators, between scalars and instant vectors,
//! with Prometheus's vector matching (`on`/`ignoring`,
//! `group_left`/`group_right`) and its errors for ambiguous matches.
//!
//! Match signatures and result label sets are computed once per series
//! (or per matched pair), not per step.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::model::metric::{Labels, SeriesSamples, METRIC_NAME};

use super::engine::Evaluator;
use super::error::PromqlError;
use super::value::{merge_same_labels, Evaluated, Grid, SeriesBuilder, StepCursor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn from_token(id: u16) -> Option<Op> {
        Some(match id {
            T_ADD => Op::Add,
            T_SUB => Op::Sub,
            T_MUL => Op::Mul,
            T_DIV => Op::Div,
            T_MOD => Op::Mod,
            T_POW => Op::Pow,
            T_ATAN2 => Op::Atan2,
            T_EQLC => Op::Eq,
            T_NEQ => Op::Ne,
            T_GTR => Op::Gt,
            T_LSS => Op::Lt,
            T_GTE => Op::Ge,
            T_LTE => Op::Le,
            T_LAND => Op::And,
            T_LOR => Op::Or,
            T_LUNLESS => Op::Unless,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// Arithmetic drops the metric name; comparisons and `atan2` keep it
    /// (Prometheus 2.42's `shouldDropMetricName`).
    fn drops_name(self) -> bool {
        matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow | Op::Mod
        )
    }
}

/// The value of `lhs op rhs` and, for comparisons, whether it holds (the
/// value is then the left-hand one).
fn element(op: Op, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        Op::Add => (lhs + rhs, true),
        Op::Sub => (lhs - rhs, true),
        Op::Mul => (lhs * rhs, true),
        Op::Div => (lhs / rhs, true),
        Op::Pow => (lhs.powf(rhs), true),
        Op::Mod => (lhs % rhs, true),
        Op::Atan2 => (lhs.atan2(rhs), true),
        Op::Eq => (lhs, lhs == rhs),
        Op::Ne => (lhs, lhs != rhs),
        Op::Gt => (lhs, lhs > rhs),
        Op::Lt => (lhs, lhs < rhs),
        Op::Ge => (lhs, lhs >= rhs),
        Op::Le => (lhs, lhs <= rhs),
        Op::And | Op::Or | Op::Unless => (f64::NAN, false),
    }
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    binary: &BinaryExpr,
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    let op = Op::from_token(binary.op.id())
        .ok_or_else(|| PromqlError::Unsupported(format!("operator {}", binary.op)))?;
    if let Some(modifier) = &binary.modifier {
        if modifier.fill_values.lhs.is_some() || modifier.fill_values.rhs.is_some() {
            return Err(PromqlError::Unsupported("fill modifiers".to_string()));
        }
    }
    let return_bool = binary.return_bool();
    let lhs = ev.eval(&binary.lhs, grid)?;
    let rhs = ev.eval(&binary.rhs, grid)?;
    match (lhs, rhs) {
        (Evaluated::Scalar(l), Evaluated::Scalar(r)) => Ok(Evaluated::Scalar(
            l.into_iter()
                .zip(r)
                .map(|(l, r)| {
                    let (value, keep) = element(op, l, r);
                    if op.is_comparison() {
                        bool_value(keep)
                    } else {
                        value
                    }
                })
                .collect(),
        )),
        (Evaluated::Vector(vector), Evaluated::Scalar(scalar)) => {
            vector_scalar(op, vector, &scalar, false, return_bool, grid)
        }
        (Evaluated::Scalar(scalar), Evaluated::Vector(vector)) => {
            vector_scalar(op, vector, &scalar, true, return_bool, grid)
        }
        (Evaluated::Vector(l), Evaluated::Vector(r)) => {
            let matching = Matching::from_expr(binary);
            match op {
                Op::And | Op::Or | Op::Unless => set_operation(op, &l, &r, &matching, grid),
                _ => vector_vector(op, &l, &r, &matching, return_bool, grid),
            }
        }
        _ => Err(PromqlError::bad(
            "binary expression must contain only scalar and instant vector types",
        )),
    }
}

fn vector_scalar(
    op: Op,
    vector: Vec<SeriesSamples>,
    scalar: &[f64],
    swap: bool,
    return_bool: bool,
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    let drop_name = op.drops_name() || return_bool;
    let mut out = Vec::with_capacity(vector.len());
    for mut series in vector {
        series.samples.retain_mut(|sample| {
            let s = scalar[grid.index(sample.t)];
            let (l, r) = if swap { (s, sample.v) } else { (sample.v, s) };
            let (mut value, mut keep) = element(op, l, r);
            // A comparison keeps the vector's value, whichever side it is on.
            if op.is_comparison() && swap {
                value = r;
            }
            if return_bool {
                value = bool_value(keep);
                keep = true;
            }
            sample.v = value;
            keep
        });
        if series.samples.is_empty() {
            continue;
        }
        if drop_name {
            series.labels = series.labels.without_name();
        }
        out.push(series);
    }
    Ok(Evaluated::Vector(merge_same_labels(out)?))
}

/// How the two sides of a vector operation are matched.
struct Matching {
    on: bool,
    names: Vec<String>,
    card: Card,
    /// `group_left`/`group_right` labels copied from the "one" side.
    include: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

impl Matching {
    fn from_expr(binary: &BinaryExpr) -> Matching {
        let Some(modifier) = &binary.modifier else {
            return Matching {
                on: false,
                names: Vec::new(),
                card: Card::OneToOne,
                include: Vec::new(),
            };
        };
        let (on, names) = match &modifier.matching {
            Some(LabelModifier::Include(list)) => (true, list.labels.clone()),
            Some(LabelModifier::Exclude(list)) => (false, list.labels.clone()),
            None => (false, Vec::new()),
        };
        let (card, include) = match &modifier.card {
            VectorMatchCardinality::OneToOne => (Card::OneToOne, Vec::new()),
            VectorMatchCardinality::ManyToOne(list) => (Card::ManyToOne, list.labels.clone()),
            VectorMatchCardinality::OneToMany(list) => (Card::OneToMany, list.labels.clone()),
            VectorMatchCardinality::ManyToMany => (Card::ManyToMany, Vec::new()),
        };
        Matching {
            on,
            names,
            card,
            include,
        }
    }

    /// The labels two series must share to match.
    fn signature(&self, labels: &Labels) -> Labels {
        let listed = |name: &str| self.names.iter().any(|n| n == name);
        if self.on {
            Labels::from_pairs(labels.iter().filter(|(name, _)| listed(name)))
        } else {
            Labels::from_pairs(
                labels
                    .iter()
                    .filter(|(name, _)| *name != METRIC_NAME && !listed(name)),
            )
        }
    }

    /// Prometheus's `resultMetric`: the "many" side's labels, narrowed for
    /// one-to-one matching, plus the `group_*` labels of the "one" side.
    fn result_labels(&self, op: Op, many: &Labels, one: &Labels, return_bool: bool) -> Labels {
        let mut labels = if self.card == Card::OneToOne {
            let listed = |name: &str| self.names.iter().any(|n| n == name);
            if self.on {
                Labels::from_pairs(many.iter().filter(|(name, _)| listed(name)))
            } else {
                Labels::from_pairs(many.iter().filter(|(name, _)| !listed(name)))
            }
        } else {
            many.clone()
        };
        if op.drops_name() || return_bool {
            labels.set(METRIC_NAME, "");
        }
        for name in &self.include {
            labels.set(name, one.get(name).unwrap_or(""));
        }
        labels
    }
}

/// Interns label sets as small integers.
#[derive(Default)]
struct Interner {
    ids: HashMap<Labels, usize>,
}

impl Interner {
    fn id(&mut self, labels: Labels) -> usize {
        let next = self.ids.len();
        *self.ids.entry(labels).or_insert(next)
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

fn signatures(
    matching: &Matching,
    l: &[SeriesSamples],
    r: &[SeriesSamples],
) -> (Vec<usize>, Vec<usize>, usize) {
    let mut interner = Interner::default();
    let left = l
        .iter()
        .map(|s| interner.id(matching.signature(&s.labels)))
        .collect();
    let right = r
        .iter()
        .map(|s| interner.id(matching.signature(&s.labels)))
        .collect();
    (left, right, interner.len())
}

fn set_operation(
    op: Op,
    l: &[SeriesSamples],
    r: &[SeriesSamples],
    matching: &Matching,
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    let (left_sig, right_sig, count) = signatures(matching, l, r);
    let mut builder = SeriesBuilder::new();
    let mut left_slot: Vec<Option<usize>> = vec![None; l.len()];
    let mut right_slot: Vec<Option<usize>> = vec![None; r.len()];
    // Step stamps instead of clearing sets: seen[sig] == step + 1.
    let mut seen = vec![0usize; count];
    let (mut left_cursor, mut right_cursor) = (StepCursor::new(l), StepCursor::new(r));
    let (mut left_present, mut right_present) = (Vec::new(), Vec::new());
    for (step, t) in grid.times().enumerate() {
        let stamp = step + 1;
        left_cursor.at(t, &mut left_present);
        right_cursor.at(t, &mut right_present);
        let mut emit_left = |builder: &mut SeriesBuilder, index: usize, v: f64| {
            let slot =
                *left_slot[index].get_or_insert_with(|| builder.slot(l[index].labels.clone()));
            builder.push(slot, t, v)
        };
        match op {
            Op::And => {
                if left_present.is_empty() || right_present.is_empty() {
                    continue;
                }
                for &(index, _) in &right_present {
                    seen[right_sig[index]] = stamp;
                }
                for &(index, v) in &left_present {
                    if seen[left_sig[index]] == stamp {
                        emit_left(&mut builder, index, v)?;
                    }
                }
            }
            Op::Unless => {
                for &(index, _) in &right_present {
                    seen[right_sig[index]] = stamp;
                }
                for &(index, v) in &left_present {
                    if seen[left_sig[index]] != stamp {
                        emit_left(&mut builder, index, v)?;
                    }
                }
            }
            _ => {
                for &(index, v) in &left_present {
                    seen[left_sig[index]] = stamp;
                    emit_left(&mut builder, index, v)?;
                }
                for &(index, v) in &right_present {
                    if seen[right_sig[index]] != stamp {
                        let slot = *right_slot[index]
                            .get_or_insert_with(|| builder.slot(r[index].labels.clone()));
                        builder.push(slot, t, v)?;
                    }
                }
            }
        }
    }
    Ok(Evaluated::Vector(builder.finish()))
}

fn vector_vector(
    op: Op,
    l: &[SeriesSamples],
    r: &[SeriesSamples],
    matching: &Matching,
    return_bool: bool,
    grid: Grid,
) -> Result<Evaluated, PromqlError> {
    let (left_sig, right_sig, count) = signatures(matching, l, r);
    // group_right: the right side is the "many" side.
    let swapped = matching.card == Card::OneToMany;
    let (many, one, many_sig, one_sig) = if swapped {
        (r, l, &right_sig, &left_sig)
    } else {
        (l, r, &left_sig, &right_sig)
    };
    let mut builder = SeriesBuilder::new();
    let mut pair_slot: HashMap<(usize, usize), usize> = HashMap::new();
    let mut last_pair: Vec<Option<(usize, usize)>> = vec![None; many.len()];
    let mut slot_sig: Vec<usize> = Vec::new();
    let mut one_stamp = vec![0usize; count];
    let mut one_at = vec![(0usize, 0.0f64); count];
    let mut matched_stamp = vec![0usize; count];
    let (mut many_cursor, mut one_cursor) = (StepCursor::new(many), StepCursor::new(one));
    let (mut many_present, mut one_present) = (Vec::new(), Vec::new());
    for (step, t) in grid.times().enumerate() {
        let stamp = step + 1;
        many_cursor.at(t, &mut many_present);
        one_cursor.at(t, &mut one_present);
        if many_present.is_empty() || one_present.is_empty() {
            continue;
        }
        for &(index, v) in &one_present {
            let sig = one_sig[index];
            if one_stamp[sig] == stamp {
                let side = if swapped { "left" } else { "right" };
                let other = one_at[sig].0;
                return Err(PromqlError::bad(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    go_labels(&matching.signature(&one[index].labels)),
                    go_labels(&one[index].labels),
                    go_labels(&one[other].labels),
                )));
            }
            one_stamp[sig] = stamp;
            one_at[sig] = (index, v);
        }
        for &(index, v) in &many_present {
            let sig = many_sig[index];
            if one_stamp[sig] != stamp {
                continue;
            }
            let (one_index, one_value) = one_at[sig];
            let (vl, vr) = if swapped {
                (one_value, v)
            } else {
                (v, one_value)
            };
            let (mut value, keep) = element(op, vl, vr);
            if return_bool {
                value = bool_value(keep);
            } else if !keep {
                continue;
            }
            let slot = match last_pair[index] {
                Some((cached_one, slot)) if cached_one == one_index => slot,
                _ => {
                    let slot = match pair_slot.get(&(index, one_index)) {
                        Some(&slot) => slot,
                        None => {
                            let labels = matching.result_labels(
                                op,
                                &many[index].labels,
                                &one[one_index].labels,
                                return_bool,
                            );
                            let slot = builder.slot(labels);
                            pair_slot.insert((index, one_index), slot);
                            slot
                        }
                    };
                    last_pair[index] = Some((one_index, slot));
                    slot
                }
            };
            if matching.card == Card::OneToOne {
                if matched_stamp[sig] == stamp {
                    return Err(PromqlError::bad(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                matched_stamp[sig] = stamp;
            } else {
                if slot_sig.len() <= slot {
                    slot_sig.resize(slot + 1, usize::MAX);
                }
                if builder.has_point_at(slot, t) && slot_sig[slot] == sig {
                    return Err(PromqlError::bad(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
                slot_sig[slot] = sig;
            }
            builder.push(slot, t, value)?;
        }
    }
    Ok(Evaluated::Vector(builder.finish()))
}

/// Go's `labels.Labels.String()`: `{a="1", b="2"}` with the name inside.
fn go_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_keep_the_left_value_and_report_whether_they_hold() {
        assert_eq!(element(Op::Gt, 3.0, 2.0), (3.0, true));
        assert_eq!(element(Op::Lt, 3.0, 2.0), (3.0, false));
        assert!(!element(Op::Eq, f64::NAN, f64::NAN).1);
        assert_eq!(element(Op::Mod, -7.0, 3.0).0, -1.0);
        assert_eq!(element(Op::Pow, 2.0, 10.0).0, 1024.0);
    }

    #[test]
    fn only_arithmetic_drops_the_name() {
        assert!(Op::Add.drops_name());
        assert!(!Op::Atan2.drops_name());
        assert!(!Op::Gt.drops_name());
    }
}
