//! Template variables: which values a variable offers and has selected,
//! and their substitution into a panel's queries (`$name`, `${name}`), as
//! Grafana formats them for Prometheus, plus Grafana's `$__interval`,
//! `$__rate_interval` and `$__range`.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use super::model::Variable;

/// The value of "All" in a URL (`var-name=$__all`), as in Grafana.
pub const ALL: &str = "$__all";
/// The scrape interval `$__rate_interval` assumes.
const SCRAPE_SECONDS: i64 = 15;

/// What `label_values(…)` asks for: a label of the series matching an
/// optional selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelValues {
    pub selector: Option<String>,
    pub label: String,
}

/// Reads `label_values(label)` or `label_values(selector, label)`.
pub fn parse_label_values(query: &str) -> Result<LabelValues, String> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| {
            format!("{query:?} is not label_values(label) or label_values(metric, label)")
        })?;
    let (selector, label) = match inner.rsplit_once(',') {
        Some((selector, label)) => (Some(selector.trim().to_string()), label.trim()),
        None => (None, inner.trim()),
    };
    let valid = label
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("{label:?} is not a label name"));
    }
    if selector.as_deref().is_some_and(str::is_empty) {
        return Err("the metric before the label is empty".into());
    }
    Ok(LabelValues {
        selector,
        label: label.to_string(),
    })
}

fn reference() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
            .expect("a valid pattern")
    })
}

/// Grafana's built-in variables, which are not a dashboard's own.
fn is_builtin(name: &str) -> bool {
    matches!(name, "__interval" | "__rate_interval" | "__range")
}

/// The variables `text` names that are neither the dashboard's nor
/// built in.
pub fn unknown_references(text: &str, variables: &[Variable]) -> Vec<String> {
    reference()
        .captures_iter(text)
        .filter_map(|captures| captures.get(1).or_else(|| captures.get(2)))
        .map(|name| name.as_str().to_string())
        .filter(|name| !is_builtin(name) && !variables.iter().any(|v| v.name == *name))
        .collect()
}

/// How a query's language wants several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PromQL: regular expression alternatives, escaped.
    Regex,
    /// Log, RED and trace queries: the first value as it is.
    First,
}

/// A variable's selection, ready to substitute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub values: Vec<String>,
    /// Several values or "All" can be selected (formatted as a regex).
    pub regex: bool,
}

/// The substitution context of one request.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    pub selections: HashMap<String, Selection>,
    pub step_seconds: i64,
    pub range_seconds: i64,
}

fn duration_text(seconds: i64) -> String {
    if seconds % 3600 == 0 && seconds > 0 {
        format!("{}h", seconds / 3600)
    } else if seconds % 60 == 0 && seconds > 0 {
        format!("{}m", seconds / 60)
    } else {
        format!("{}s", seconds.max(1))
    }
}

/// `text` with every variable replaced.
pub fn substitute(text: &str, bindings: &Bindings, format: Format) -> String {
    reference()
        .replace_all(text, |captures: &regex::Captures<'_>| {
            let name = captures
                .get(1)
                .or_else(|| captures.get(2))
                .map_or("", |name| name.as_str());
            match name {
                "__interval" => duration_text(bindings.step_seconds),
                "__rate_interval" => {
                    duration_text((bindings.step_seconds + SCRAPE_SECONDS).max(4 * SCRAPE_SECONDS))
                }
                "__range" => duration_text(bindings.range_seconds),
                _ => match bindings.selections.get(name) {
                    None => captures
                        .get(0)
                        .map_or(String::new(), |m| m.as_str().to_string()),
                    Some(selection) => format_values(selection, format),
                },
            }
        })
        .into_owned()
}

/// A value as a regular expression inside a PromQL string literal: its
/// metacharacters escaped, and the backslashes of that escaped for the
/// string (as Grafana does: `a.b` becomes `a\\.b` in the query text).
fn regex_literal(value: &str) -> String {
    regex::escape(value).replace('\\', "\\\\")
}

fn format_values(selection: &Selection, format: Format) -> String {
    match format {
        Format::First => selection.values.first().cloned().unwrap_or_default(),
        Format::Regex if !selection.regex => selection.values.first().cloned().unwrap_or_default(),
        Format::Regex => match selection.values.as_slice() {
            [] => ".*".into(),
            [one] => regex_literal(one),
            many => format!(
                "({})",
                many.iter()
                    .map(|value| regex_literal(value))
                    .collect::<Vec<_>>()
                    .join("|")
            ),
        },
    }
}

/// What a variable has selected, given the values the URL names (`None`:
/// none named) and the values it offers.
pub fn select(
    variable: &Variable,
    requested: Option<&[String]>,
    offered: &[String],
) -> Vec<String> {
    let wants_all = |values: &[String]| values.iter().any(|value| value == ALL);
    let chosen: Vec<String> = match requested {
        Some(values) if !values.is_empty() => values.to_vec(),
        _ if !variable.default.is_empty() => variable.default.clone(),
        _ if variable.include_all => vec![ALL.to_string()],
        _ => offered.first().cloned().into_iter().collect(),
    };
    if variable.include_all && wants_all(&chosen) {
        return offered.to_vec();
    }
    let mut chosen: Vec<String> = chosen.into_iter().filter(|value| value != ALL).collect();
    if !variable.multi {
        chosen.truncate(1);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboards::model::VariableKind;

    fn variable(name: &str, multi: bool, include_all: bool) -> Variable {
        Variable {
            name: name.into(),
            kind: VariableKind::Custom,
            query: None,
            values: vec!["a".into(), "b.c".into()],
            multi,
            include_all,
            default: Vec::new(),
        }
    }

    fn bindings(name: &str, values: &[&str], regex: bool) -> Bindings {
        let mut bindings = Bindings {
            step_seconds: 60,
            range_seconds: 21_600,
            ..Bindings::default()
        };
        bindings.selections.insert(
            name.into(),
            Selection {
                values: values.iter().map(|v| v.to_string()).collect(),
                regex,
            },
        );
        bindings
    }

    #[test]
    fn several_values_become_an_escaped_alternative_in_promql_and_the_first_elsewhere() {
        let query = r#"sum(rate(x{mode=~"$mode"}[$__rate_interval])) by (${mode})"#;
        let several = bindings("mode", &["fast", "b.c"], true);
        assert_eq!(
            substitute(query, &several, Format::Regex),
            r#"sum(rate(x{mode=~"(fast|b\\.c)"}[75s])) by ((fast|b\\.c))"#
        );
        assert_eq!(
            substitute("service:$mode", &several, Format::First),
            "service:fast"
        );
        let one = bindings("mode", &["b.c"], false);
        assert_eq!(
            substitute(r#"x{m="$mode"}"#, &one, Format::Regex),
            r#"x{m="b.c"}"#
        );
        assert_eq!(
            substitute("$__range $__interval", &one, Format::Regex),
            "6h 1m"
        );
        assert_eq!(
            substitute("$other", &one, Format::Regex),
            "$other",
            "unknown names stay"
        );
    }

    #[test]
    fn a_selection_falls_back_to_the_default_then_all_then_the_first_value() {
        let offered = vec!["a".to_string(), "b.c".to_string()];
        let mut single = variable("v", false, false);
        assert_eq!(select(&single, None, &offered), vec!["a"]);
        assert_eq!(
            select(&single, Some(&["b.c".into(), "a".into()]), &offered),
            vec!["b.c"]
        );
        single.default = vec!["b.c".into()];
        assert_eq!(select(&single, None, &offered), vec!["b.c"]);
        let all = variable("v", true, true);
        assert_eq!(select(&all, None, &offered), offered);
        assert_eq!(select(&all, Some(&[ALL.into()]), &offered), offered);
        assert_eq!(select(&all, Some(&["a".into()]), &offered), vec!["a"]);
    }

    #[test]
    fn label_values_take_an_optional_selector() {
        assert_eq!(
            parse_label_values("label_values(up{job=\"a\"}, instance)"),
            Ok(LabelValues {
                selector: Some("up{job=\"a\"}".into()),
                label: "instance".into()
            })
        );
        assert_eq!(
            parse_label_values("label_values(job)").map(|l| l.selector),
            Ok(None)
        );
        assert!(parse_label_values("query_result(up)").is_err());
        assert!(parse_label_values("label_values(up, 1x)").is_err());
        assert_eq!(
            unknown_references("$a $b ${__interval}", &[variable("a", false, false)]),
            vec!["b"]
        );
    }
}
