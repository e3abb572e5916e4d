//! Evaluates a query [`Expr`] against one record in memory, with the same
//! meaning the compiled tantivy query has over the index. Live tail uses it
//! for records as they arrive; the tests use it as the reference the index
//! must agree with.

use super::ast::{AttrSource, AttrTest, Comparison, Expr, Number};
use crate::model::{AttrValue, Attributes, LogRecord};
use crate::store::logs::LogSchema;

/// Whether the body tokens of `haystack` contain those of `needle` at the
/// same relative positions (with `prefix`, the last needle token need only
/// start a token). Both go through the index's body tokenizer, so a word
/// matches here exactly when the compiled query matches it in the index
/// (including over-long tokens, which neither side can find).
fn contains_phrase(haystack: &str, needle: &str, prefix: bool) -> bool {
    let schema = LogSchema::get();
    let needle = schema.body_tokens(needle);
    let Some((first, _)) = needle.first() else {
        return false;
    };
    let last = needle.len() - 1;
    let mut by_position: Vec<Option<String>> = Vec::new();
    for (position, token) in schema.body_tokens(haystack) {
        if by_position.len() <= position {
            by_position.resize(position + 1, None);
        }
        by_position[position] = Some(token);
    }
    (0..by_position.len()).any(|start| {
        needle.iter().enumerate().all(|(index, (position, token))| {
            by_position
                .get(start + (position - first))
                .and_then(Option::as_ref)
                .is_some_and(|found| {
                    if prefix && index == last {
                        found.starts_with(token.as_str())
                    } else {
                        found == token
                    }
                })
        })
    })
}

/// Attribute values by dotted path; nested lists and arrays flattened.
pub fn flatten(attributes: &Attributes) -> Vec<(String, AttrValue)> {
    fn walk(prefix: &str, value: &AttrValue, out: &mut Vec<(String, AttrValue)>) {
        match value {
            AttrValue::KvList(entries) => {
                for (key, value) in entries {
                    walk(&format!("{prefix}.{key}"), value, out);
                }
            }
            AttrValue::Array(items) => {
                for item in items {
                    walk(prefix, item, out);
                }
            }
            scalar => out.push((prefix.to_string(), scalar.clone())),
        }
    }
    let mut out = Vec::new();
    for (key, value) in attributes {
        walk(key, value, &mut out);
    }
    out
}

fn number_of(value: &AttrValue) -> Option<f64> {
    match value {
        AttrValue::Int(int) => Some(*int as f64),
        AttrValue::Double(float) => Some(*float),
        _ => None,
    }
}

fn value_matches(value: &AttrValue, test: &AttrTest) -> bool {
    match test {
        AttrTest::Equals(text) => match value {
            AttrValue::String(string) => string == text,
            AttrValue::Bool(flag) => text.parse::<bool>() == Ok(*flag),
            AttrValue::Int(_) | AttrValue::Double(_) => {
                Number::parse(text).is_some_and(|number| number_of(value) == Some(number.as_f64()))
            }
            _ => false,
        },
        AttrTest::Compare(comparison, bound) => number_of(value).is_some_and(|number| {
            let bound = bound.as_f64();
            match comparison {
                Comparison::Gt => number > bound,
                Comparison::Ge => number >= bound,
                Comparison::Lt => number < bound,
                Comparison::Le => number <= bound,
            }
        }),
        AttrTest::Range { low, high } => number_of(value).is_some_and(|number| {
            low.is_none_or(|low| number >= low.as_f64())
                && high.is_none_or(|high| number <= high.as_f64())
        }),
    }
}

/// Whether `record` matches `expr`.
pub fn matches(expr: &Expr, record: &LogRecord) -> bool {
    match expr {
        Expr::And(items) => items.iter().all(|item| matches(item, record)),
        Expr::Or(items) => items.iter().any(|item| matches(item, record)),
        Expr::Not(inner) => !matches(inner, record),
        Expr::Text(text) => contains_phrase(&record.body.search_text(), text, false),
        Expr::TextPrefix(stem) => contains_phrase(&record.body.search_text(), stem, true),
        Expr::Service(service) => &record.service == service,
        Expr::ServicePrefix(stem) => record.service.starts_with(stem.as_str()),
        Expr::MinSeverity(number) => record.severity_number >= *number,
        Expr::TraceId(trace_id) => record.trace_id == Some(*trace_id),
        Expr::SpanId(span_id) => record.span_id == Some(*span_id),
        Expr::Attribute { source, key, test } => {
            let attributes = match source {
                AttrSource::Record => &record.attributes,
                AttrSource::Resource => &record.resource,
            };
            flatten(attributes)
                .iter()
                .any(|(path, value)| path == key && value_matches(value, test))
        }
    }
}
