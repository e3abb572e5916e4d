//! The meaning of a field filter or a word: `service:`, `level:`, the id
//! fields and attributes, each checked as it is read so that a bad value
//! is an error at its own position.

use super::ast::{AttrSource, AttrTest, Expr, Number, ParseError};
use super::lexer::{FieldValue, FIELD_HELP};
use crate::model::{Severity, SpanId, TraceId};

/// A word or phrase; it must contain something the index can match.
pub(super) fn text_term(text: String, pos: usize) -> Result<Expr, ParseError> {
    if !text.chars().any(char::is_alphanumeric) {
        let shown = if text.is_empty() {
            "\"\""
        } else {
            text.as_str()
        };
        return Err(ParseError::new(
            format!("`{shown}` has no letters or digits to search for"),
            pos,
        ));
    }
    Ok(Expr::Text(text))
}

/// An unquoted word: text, or with a trailing `*` a prefix.
pub(super) fn word_term(word: &str, pos: usize) -> Result<Expr, ParseError> {
    let Some(star) = word.find('*') else {
        return text_term(word.to_string(), pos);
    };
    if star + 1 != word.len() {
        return Err(ParseError::new(
            "`*` can only end a word, as in declin*",
            pos + star,
        ));
    }
    let stem = &word[..star];
    if !stem.ends_with(char::is_alphanumeric) {
        return Err(ParseError::new(
            "`*` must follow a letter or digit, as in declin*",
            pos + star,
        ));
    }
    // One word as the body tokenizer splits words: a prefix after a phrase
    // (`order-4*`) would need a bounded expansion, which could answer
    // incompletely without saying so.
    if let Some(offset) = stem.find(|c: char| !c.is_alphanumeric()) {
        return Err(ParseError::new(
            "a wildcard applies to one word of letters and digits, as in declin*",
            pos + offset,
        ));
    }
    if stem.chars().filter(|c| c.is_alphanumeric()).count() < MIN_PREFIX_CHARS {
        return Err(ParseError::new(
            format!("a wildcard needs at least {MIN_PREFIX_CHARS} letters or digits before `*`"),
            pos,
        ));
    }
    Ok(Expr::TextPrefix(stem.to_string()))
}

/// Shortest stem of a word wildcard: a one-letter prefix would expand to a
/// large part of the vocabulary.
const MIN_PREFIX_CHARS: usize = 2;

pub(super) fn field_expr(
    name: &str,
    name_pos: usize,
    value: FieldValue,
    value_pos: usize,
) -> Result<Expr, ParseError> {
    let lower = name.to_ascii_lowercase();
    let plain = |value: FieldValue| match value {
        FieldValue::Text(text) => Ok(text),
        FieldValue::Compare(..) | FieldValue::Range(..) => Err(ParseError::new(
            format!("`{name}` takes a plain value; only attributes can be compared or ranged"),
            value_pos,
        )),
        FieldValue::Wildcard(stem) => Err(wildcard_not_here(name, &stem, value_pos)),
    };
    match lower.as_str() {
        "service" => match value {
            FieldValue::Wildcard(stem) => Ok(Expr::ServicePrefix(stem)),
            other => Ok(Expr::Service(plain(other)?)),
        },
        "level" | "severity" => {
            let text = plain(value)?;
            let number = Severity::from_level_name(&text)
                .map(Severity::min_number)
                .or_else(|| text.parse::<i32>().ok().filter(|n| (1..=24).contains(n)));
            number.map(Expr::MinSeverity).ok_or_else(|| {
                ParseError::new(
                    format!(
                        "unknown level {text:?}: use {} or a severity number from 1 to 24",
                        Severity::LEVEL_NAMES
                    ),
                    value_pos,
                )
            })
        }
        "trace_id" => TraceId::from_hex(&plain(value)?)
            .map(Expr::TraceId)
            .map_err(|error| ParseError::new(error.to_string(), value_pos)),
        "span_id" => SpanId::from_hex(&plain(value)?)
            .map(Expr::SpanId)
            .map_err(|error| ParseError::new(error.to_string(), value_pos)),
        _ => {
            let prefixes = [
                ("attributes.", AttrSource::Record),
                ("attr.", AttrSource::Record),
                ("resource.", AttrSource::Resource),
            ];
            let Some((prefix, source)) = prefixes.iter().find(|(prefix, _)| {
                lower.starts_with(prefix) || lower == prefix[..prefix.len() - 1]
            }) else {
                return Err(ParseError::new(
                    format!("unknown field `{name}`: {FIELD_HELP}"),
                    name_pos,
                ));
            };
            // The prefixes are ASCII, so the byte offset is the same in `name`.
            let key = name.get(prefix.len()..).unwrap_or("");
            if key.is_empty() {
                return Err(ParseError::new(
                    format!("`{name}` needs a key, like {prefix}http.method"),
                    name_pos,
                ));
            }
            let test = attr_test(value, value_pos)?;
            Ok(Expr::Attribute {
                source: *source,
                key: key.to_string(),
                test,
            })
        }
    }
}

/// A `*` after a field whose values cannot be matched by prefix.
fn wildcard_not_here(name: &str, stem: &str, pos: usize) -> ParseError {
    ParseError::new(
        format!(
            "`{name}` values cannot end in a wildcard; only words and service: can \
             (put \"{stem}*\" in quotes to match a literal `*`)"
        ),
        pos,
    )
}

fn attr_test(value: FieldValue, value_pos: usize) -> Result<AttrTest, ParseError> {
    let number = |text: &str, pos: usize| {
        Number::parse(text).ok_or_else(|| ParseError::new(format!("`{text}` is not a number"), pos))
    };
    match value {
        FieldValue::Text(text) => Ok(AttrTest::Equals(text)),
        FieldValue::Wildcard(stem) => Err(wildcard_not_here("attributes", &stem, value_pos)),
        FieldValue::Compare(comparison, text, pos) => {
            Ok(AttrTest::Compare(comparison, number(&text, pos)?))
        }
        FieldValue::Range(None, None) => Err(ParseError::new(
            "a range needs at least one bound",
            value_pos,
        )),
        FieldValue::Range(low, high) => Ok(AttrTest::Range {
            low: low.map(|text| number(&text, value_pos)).transpose()?,
            high: high.map(|text| number(&text, value_pos)).transpose()?,
        }),
    }
}
