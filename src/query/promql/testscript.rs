//! A runner for Prometheus's PromQL test scripts (`promql/testdata/*.test`
//! in the Prometheus repository, v2.42.0, Apache-2.0; copies in
//! `testdata/`), so the engine is checked against the same expectations
//! Prometheus's own engine is.
//!
//! The format: `load <interval>` followed by series lines
//! (`name{label="value"} 1 2+3x4 _ stale`), `clear`, and
//! `eval[_fail|_ordered] instant at <duration> <expr>` followed by the
//! expected result lines. As in Prometheus's runner, each instant
//! evaluation is repeated as a range query from one minute before to one
//! minute after, and the point at the evaluation time compared.

use std::collections::HashMap;

use crate::model::metric::{Labels, Sample, SeriesSamples, METRIC_NAME};

use super::value::STALE_NAN_BITS;
use super::{instant_query, range_query, EngineOptions, MemorySource, Value};

/// An evaluation that did not give the expected result.
#[derive(Debug)]
pub(crate) struct Failure {
    pub line: usize,
    pub expr: String,
    pub message: String,
}

struct Eval {
    line: usize,
    expr: String,
    at: i64,
    fail: bool,
    ordered: bool,
    /// Expected (labels, value) in order; a scalar has `None` labels.
    expected: Vec<(Option<Labels>, f64)>,
}

/// Runs a script; returns the evaluations that failed and how many ran.
pub(crate) fn run(script: &str, skip: &[&str]) -> (Vec<Failure>, usize) {
    let lines: Vec<String> = script
        .lines()
        .map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                String::new()
            } else {
                line.to_string()
            }
        })
        .collect();
    let mut failures = Vec::new();
    let mut evaluated = 0;
    let mut data: HashMap<Labels, Vec<Sample>> = HashMap::new();
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let command = line.split_whitespace().next().unwrap_or("").to_lowercase();
        if command == "clear" {
            data.clear();
            i += 1;
        } else if command == "load" {
            let gap = line
                .split_whitespace()
                .nth(1)
                .and_then(parse_duration)
                .unwrap_or_else(|| panic!("line {}: bad load interval", i + 1));
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                let (labels, values) = parse_series(&lines[i])
                    .unwrap_or_else(|error| panic!("line {}: {error}", i + 1));
                let samples = data.entry(labels).or_default();
                for (index, value) in values.into_iter().enumerate() {
                    if let Some(v) = value {
                        let t = index as i64 * gap;
                        samples.retain(|s| s.t != t);
                        samples.push(Sample { t, v });
                    }
                }
                samples.sort_by_key(|s| s.t);
                i += 1;
            }
        } else if command.starts_with("eval") {
            let (eval, next) = parse_eval(&lines, i);
            i = next;
            if skip.iter().any(|s| eval.expr.contains(s)) {
                continue;
            }
            evaluated += 1;
            let source = MemorySource::new(
                data.iter()
                    .map(|(labels, samples)| SeriesSamples {
                        labels: labels.clone(),
                        samples: samples.clone(),
                    })
                    .collect(),
            );
            if let Err(message) = check(&source, &eval) {
                failures.push(Failure {
                    line: eval.line,
                    expr: eval.expr.clone(),
                    message,
                });
            }
        } else {
            panic!("line {}: unknown command {line:?}", i + 1);
        }
    }
    (failures, evaluated)
}

fn parse_eval(lines: &[String], i: usize) -> (Eval, usize) {
    let line = &lines[i];
    let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix("instant")
        .unwrap_or_else(|| panic!("line {}: only instant evaluations", i + 1))
        .trim_start();
    let rest = rest.strip_prefix("at").unwrap_or(rest).trim_start();
    let (at, expr) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let at = parse_duration(at).unwrap_or_else(|| panic!("line {}: bad time {at:?}", i + 1));
    let mut eval = Eval {
        line: i + 1,
        expr: expr.trim().to_string(),
        at,
        fail: head == "eval_fail",
        ordered: head == "eval_ordered",
        expected: Vec::new(),
    };
    let mut j = i + 1;
    while j < lines.len() && !lines[j].is_empty() {
        if let Some(v) = parse_number(&lines[j]) {
            eval.expected.push((None, v));
            j += 1;
            break;
        }
        let (labels, values) =
            parse_series(&lines[j]).unwrap_or_else(|error| panic!("line {}: {error}", j + 1));
        let value = values.first().copied().flatten().unwrap_or(f64::NAN);
        eval.expected.push((Some(labels), value));
        j += 1;
    }
    (eval, j)
}

fn check(source: &MemorySource, eval: &Eval) -> Result<(), String> {
    let options = EngineOptions::default();
    let result = instant_query(source, &eval.expr, eval.at, &options);
    let value = match (result, eval.fail) {
        (Err(_), true) => return Ok(()),
        (Ok(value), true) => return Err(format!("expected an error, got {value:?}")),
        (Err(error), false) => return Err(format!("error: {error}")),
        (Ok(value), false) => value,
    };
    let got: Vec<(Option<Labels>, f64)> = match value {
        Value::Scalar(sample) => vec![(None, sample.v)],
        Value::Vector(vector) => vector
            .into_iter()
            .map(|s| (Some(s.labels), s.sample.v))
            .collect(),
        Value::Matrix(_) => return Err("received range result on instant evaluation".into()),
        Value::String(..) => return Err("unexpected string result".into()),
    };
    compare(&eval.expected, &got, eval.ordered).map_err(|e| format!("instant: {e}"))?;
    if eval.ordered {
        return Ok(());
    }
    let ranged = range_query(
        source,
        &eval.expr,
        eval.at - 60_000,
        eval.at + 60_000,
        60_000,
        &options,
    )
    .map_err(|error| format!("range: error: {error}"))?;
    let Value::Matrix(matrix) = ranged else {
        return Err("range: not a matrix".into());
    };
    let scalar = eval
        .expected
        .first()
        .is_some_and(|(labels, _)| labels.is_none());
    let got: Vec<(Option<Labels>, f64)> = matrix
        .into_iter()
        .filter_map(|s| {
            let sample = s.samples.iter().find(|sample| sample.t == eval.at)?;
            Some(((!scalar).then_some(s.labels), sample.v))
        })
        .collect();
    compare(&eval.expected, &got, false).map_err(|e| format!("range: {e}"))
}

fn compare(
    expected: &[(Option<Labels>, f64)],
    got: &[(Option<Labels>, f64)],
    ordered: bool,
) -> Result<(), String> {
    for (position, (labels, v)) in got.iter().enumerate() {
        let Some(index) = expected.iter().position(|(l, _)| l == labels) else {
            return Err(format!("unexpected {labels:?} {v} in result {got:?}"));
        };
        if ordered && index != position {
            return Err(format!(
                "expected {labels:?} at position {index}, got it at {position}"
            ));
        }
        if !almost_equal(expected[index].1, *v) {
            return Err(format!(
                "expected {} for {labels:?}, got {v}",
                expected[index].1
            ));
        }
    }
    for (labels, v) in expected {
        if !got.iter().any(|(l, _)| l == labels) {
            return Err(format!("expected {labels:?} {v} not found in {got:?}"));
        }
    }
    Ok(())
}

/// Prometheus's test comparison: relative error below 1e-6, NaN equal to
/// NaN.
fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 0.000001;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / (a.abs() + b.abs()) < EPSILON
}

/// Prometheus durations: `1h30m`, `5m`, `10s`, `100ms`, `1d`, `1w`, `1y`, `0`.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0i64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * unit;
    }
    Some(total)
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    match s {
        "Inf" | "+Inf" | "inf" | "+inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        "NaN" | "nan" => return Some(f64::NAN),
        _ => {}
    }
    let (negative, body) = match s.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let value = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()? as f64
    } else {
        if !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if negative { -value } else { value })
}

/// A series line: its labels and values (`None` where omitted).
fn parse_series(line: &str) -> Result<(Labels, Vec<Option<f64>>), String> {
    let (labels, rest) = parse_metric(line)?;
    let mut values = Vec::new();
    for token in rest.split_whitespace() {
        values.extend(parse_value_token(token)?);
    }
    Ok((labels, values))
}

fn parse_metric(line: &str) -> Result<(Labels, &str), String> {
    let name_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':'))
        .count();
    let name = &line[..name_len];
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push((METRIC_NAME.to_string(), name.to_string()));
    }
    let mut rest = &line[name_len..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            while chars
                .peek()
                .is_some_and(|(_, c)| c.is_whitespace() || *c == ',')
            {
                chars.next();
            }
            match chars.peek() {
                Some((index, '}')) => {
                    rest = &body[index + 1..];
                    break;
                }
                None => return Err(format!("unterminated labels in {line:?}")),
                _ => {}
            }
            let mut label = String::new();
            while let Some((_, c)) = chars.peek() {
                if c.is_alphanumeric() || *c == '_' {
                    label.push(*c);
                    chars.next();
                } else {
                    break;
                }
            }
            while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('=') {
                return Err(format!("expected '=' in {line:?}"));
            }
            while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                chars.next();
            }
            let quote = match chars.next() {
                Some((_, c)) if matches!(c, '"' | '\'' | '`') => c,
                _ => return Err(format!("expected a quoted value in {line:?}")),
            };
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated value in {line:?}")),
                    Some((_, c)) if c == quote => break,
                    Some((_, '\\')) if quote != '`' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, c)) => value.push(c),
                        None => return Err(format!("unterminated escape in {line:?}")),
                    },
                    Some((_, c)) => value.push(c),
                }
            }
            pairs.push((label, value));
        }
    }
    Ok((Labels::from_pairs(pairs), rest))
}

/// `1`, `_`, `_x3`, `stale`, `5x2` (three fives), `1+2x3` (1 3 5 7);
/// no hex in series values (`0x10` is eleven zeros), as in Prometheus.
fn parse_value_token(token: &str) -> Result<Vec<Option<f64>>, String> {
    let bad = || format!("bad series value {token:?}");
    let (base, times) = match token.rfind('x') {
        Some(index)
            if index > 0
                && index + 1 < token.len()
                && token[index + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let n: usize = token[index + 1..].parse().map_err(|_| bad())?;
            (&token[..index], Some(n))
        }
        _ => (token, None),
    };
    if base == "_" {
        return Ok(vec![None; times.unwrap_or(1)]);
    }
    let stale = f64::from_bits(STALE_NAN_BITS);
    // Split `a+b` / `a-b` at a sign that is not leading or an exponent's.
    let bytes = base.as_bytes();
    let split = (1..bytes.len())
        .find(|&i| matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, increment) = match (split, times) {
        (Some(i), Some(_)) => (&base[..i], Some(&base[i..])),
        _ => (base, None),
    };
    let start = if start == "stale" {
        stale
    } else {
        parse_number(start).ok_or_else(bad)?
    };
    let Some(n) = times else {
        return Ok(vec![Some(start)]);
    };
    let increment = match increment {
        Some(increment) => parse_number(increment).ok_or_else(bad)?,
        None => 0.0,
    };
    let mut values = Vec::with_capacity(n + 1);
    let mut v = start;
    for _ in 0..=n {
        values.push(Some(v));
        v += increment;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_values_expand_like_prometheus() {
        assert_eq!(
            parse_value_token("1+2x3").unwrap(),
            vec![Some(1.0), Some(3.0), Some(5.0), Some(7.0)]
        );
        assert_eq!(
            parse_value_token("10-1x2").unwrap(),
            vec![Some(10.0), Some(9.0), Some(8.0)]
        );
        assert_eq!(parse_value_token("5x2").unwrap(), vec![Some(5.0); 3]);
        assert_eq!(parse_value_token("_x2").unwrap(), vec![None, None]);
        assert_eq!(parse_value_token("-2").unwrap(), vec![Some(-2.0)]);
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        let (labels, values) = parse_series(r#"x{a="b", c="d\"e"} 1 _ 2"#).unwrap();
        assert_eq!(labels.get("c"), Some("d\"e"));
        assert_eq!(values, vec![Some(1.0), None, Some(2.0)]);
    }

    #[test]
    fn the_runner_reports_wrong_expectations() {
        let script = "load 5m\n  x{a=\"b\"} 1 2 3\n\neval instant at 10m x\n  x{a=\"b\"} 4\n\neval instant at 10m x\n  x{a=\"b\"} 3\n";
        let (failures, evaluated) = run(script, &[]);
        assert_eq!(evaluated, 2);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].line, 4);
    }

    /// Runs one copied Prometheus test file and fails on any mismatch.
    fn run_file(name: &str, script: &str, skip: &[&str]) {
        let (failures, evaluated) = run(script, skip);
        for failure in &failures {
            eprintln!(
                "{name}:{}: {}\n    {}",
                failure.line, failure.expr, failure.message
            );
        }
        assert!(evaluated > 0, "{name}: nothing evaluated");
        assert!(
            failures.is_empty(),
            "{name}: {} of {evaluated} evaluations differ",
            failures.len()
        );
    }

    #[test]
    fn prometheus_functions_test() {
        run_file(
            "functions.test",
            include_str!("testdata/functions.test"),
            SKIP_FUNCTIONS,
        );
    }

    #[test]
    fn prometheus_operators_test() {
        run_file(
            "operators.test",
            include_str!("testdata/operators.test"),
            &[],
        );
    }

    #[test]
    fn prometheus_aggregators_test() {
        run_file(
            "aggregators.test",
            include_str!("testdata/aggregators.test"),
            &[],
        );
    }

    #[test]
    fn prometheus_histograms_test() {
        run_file(
            "histograms.test",
            include_str!("testdata/histograms.test"),
            &[],
        );
    }

    #[test]
    fn prometheus_staleness_test() {
        run_file(
            "staleness.test",
            include_str!("testdata/staleness.test"),
            &[],
        );
    }

    #[test]
    fn prometheus_selectors_test() {
        run_file(
            "selectors.test",
            include_str!("testdata/selectors.test"),
            &[],
        );
    }

    #[test]
    fn prometheus_subquery_test() {
        run_file("subquery.test", include_str!("testdata/subquery.test"), &[]);
    }

    #[test]
    fn prometheus_at_modifier_test() {
        run_file(
            "at_modifier.test",
            include_str!("testdata/at_modifier.test"),
            &[],
        );
    }

    #[test]
    fn prometheus_literals_test() {
        run_file("literals.test", include_str!("testdata/literals.test"), &[]);
    }

    #[test]
    fn prometheus_collision_test() {
        run_file(
            "collision.test",
            include_str!("testdata/collision.test"),
            &[],
        );
    }

    #[test]
    fn prometheus_trig_functions_test() {
        run_file(
            "trig_functions.test",
            include_str!("testdata/trig_functions.test"),
            &[],
        );
    }

    /// `holt_winters` was renamed after 2.42 and the parser no longer
    /// knows it.
    const SKIP_FUNCTIONS: &[&str] = &["holt_winters"];
}
