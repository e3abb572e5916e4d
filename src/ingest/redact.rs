//! Redaction before anything is stored: values of attributes whose key is
//! on a list, and parts of strings that match patterns (bearer tokens,
//! card numbers that pass the Luhn check, email addresses, or the user's
//! own expressions), become `[REDACTED]`.
//!
//! It runs on the HTTP worker after decoding and before the writer, so a
//! secret never reaches the WAL, the journal or a log index. One
//! `RegexSet` pass per string decides whether any pattern applies; only
//! strings that match pay for the replacement.

use regex::{Regex, RegexSet};

use crate::model::{AttrValue, Attributes, LogBody, LogRecord, SpanBatch};

/// What replaces a redacted value or part of one.
pub const REDACTED: &str = "[REDACTED]";

/// The keys redacted by default (matched on the last part of dotted keys,
/// case-insensitively).
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "auth",
    "cookie",
    "set-cookie",
    "session",
    "ssn",
    "credit_card",
    "card_number",
    "private_key",
];

/// A value pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `Bearer <token>`.
    Bearer,
    /// 13–19 digits, optionally grouped by spaces or dashes, that pass the
    /// Luhn check.
    Card,
    Email,
    /// The user's own expression.
    Regex(String),
}

impl Pattern {
    pub const DEFAULTS: &'static [Pattern] = &[Pattern::Bearer, Pattern::Card, Pattern::Email];

    /// `bearer`, `card`, `email` or `regex:<expr>`.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        match text.trim() {
            "bearer" => Ok(Pattern::Bearer),
            "card" => Ok(Pattern::Card),
            "email" => Ok(Pattern::Email),
            other => match other.strip_prefix("regex:") {
                Some(expression) if !expression.is_empty() => Regex::new(expression)
                    .map(|_| Pattern::Regex(expression.to_string()))
                    .map_err(|error| {
                        format!("{expression:?} is not a regular expression: {error}")
                    }),
                _ => Err(format!(
                    "{other:?} is not bearer, card, email or regex:<expression>"
                )),
            },
        }
    }

    fn expression(&self) -> &str {
        match self {
            Pattern::Bearer => r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*",
            Pattern::Card => r"\b\d(?:[ -]?\d){12,18}\b",
            Pattern::Email => {
                r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b"
            }
            Pattern::Regex(expression) => expression,
        }
    }

    /// The shortest string the pattern can match, to skip short values
    /// without running the set (0 when unknown).
    fn min_length(&self) -> usize {
        match self {
            Pattern::Bearer => 8,
            Pattern::Card => 13,
            Pattern::Email => 6,
            Pattern::Regex(_) => 0,
        }
    }
}

/// What to redact, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionRules {
    pub keys: Vec<String>,
    pub patterns: Vec<Pattern>,
}

impl Default for RedactionRules {
    fn default() -> Self {
        RedactionRules {
            keys: DEFAULT_KEYS.iter().map(|key| key.to_string()).collect(),
            patterns: Pattern::DEFAULTS.to_vec(),
        }
    }
}

impl RedactionRules {
    /// Nothing redacted.
    pub fn none() -> RedactionRules {
        RedactionRules {
            keys: Vec::new(),
            patterns: Vec::new(),
        }
    }
}

/// The compiled rules.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Lowercase keys, by length: a key is compared only with those of
    /// its own length.
    keys: Vec<Vec<String>>,
    set: Option<RegexSet>,
    patterns: Vec<(Pattern, Regex)>,
    min_length: usize,
    prefilter: Prefilter,
}

/// What a string needs before the set can match it, for the built-in
/// patterns: an `@` for `email`, the word `bearer` in any case for
/// `bearer`, 13 digits in a run (single spaces or dashes between) for
/// `card`. One pass over the bytes rules out nearly every value, so the
/// regex set runs only on the few that might match. A user's own
/// expression turns the prefilter off.
#[derive(Debug, Clone, Copy, Default)]
struct Prefilter {
    email: bool,
    bearer: bool,
    card: bool,
    /// Some pattern has no prefilter: every string goes to the set.
    always: bool,
}

impl Prefilter {
    fn new(patterns: &[(Pattern, Regex)]) -> Prefilter {
        let mut prefilter = Prefilter::default();
        for (pattern, _) in patterns {
            match pattern {
                Pattern::Email => prefilter.email = true,
                Pattern::Bearer => prefilter.bearer = true,
                Pattern::Card => prefilter.card = true,
                Pattern::Regex(_) => prefilter.always = true,
            }
        }
        prefilter
    }

    fn may_match(&self, text: &str) -> bool {
        if self.always {
            return true;
        }
        let bytes = text.as_bytes();
        (self.email && memchr::memchr(b'@', bytes).is_some())
            || (self.card && has_card_digits(bytes))
            || (self.bearer
                && memchr::memchr2_iter(b'b', b'B', bytes).any(|at| {
                    bytes
                        .get(at..at + 6)
                        .is_some_and(|word| word.eq_ignore_ascii_case(b"bearer"))
                }))
    }
}

/// Whether `bytes` hold 13 digits in a run that only single spaces or
/// dashes separate (what a card number looks like). Counting digits first
/// (a loop the compiler vectorises) rules out most values.
fn has_card_digits(bytes: &[u8]) -> bool {
    let digits: usize = bytes
        .iter()
        .map(|b| usize::from(b.wrapping_sub(b'0') < 10))
        .sum();
    if digits < 13 {
        return false;
    }
    let (mut run, mut after_separator) = (0usize, false);
    for &byte in bytes {
        if byte.is_ascii_digit() {
            run += 1;
            if run >= 13 {
                return true;
            }
            after_separator = false;
        } else if (byte == b' ' || byte == b'-') && run > 0 && !after_separator {
            after_separator = true;
        } else {
            run = 0;
            after_separator = false;
        }
    }
    false
}

/// Whether the digits of `text` can be a payment card number: 13 to 19 of
/// them, starting as the card networks' numbers do (2 to 6: Mastercard,
/// American Express, Visa, Discover, UnionPay, JCB…), and passing the Luhn
/// check. The first digit keeps epoch timestamps in milliseconds (13
/// digits) and microseconds (16), which start with 1 and pass Luhn one
/// time in ten, from being taken for cards.
fn luhn_valid(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || !(2..=6).contains(&digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, digit)| {
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                *digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl Redactor {
    pub fn new(rules: &RedactionRules) -> Result<Redactor, String> {
        let patterns: Vec<(Pattern, Regex)> = rules
            .patterns
            .iter()
            .map(|pattern| {
                Regex::new(pattern.expression())
                    .map(|regex| (pattern.clone(), regex))
                    .map_err(|error| format!("{:?}: {error}", pattern.expression()))
            })
            .collect::<Result<_, _>>()?;
        let set = if patterns.is_empty() {
            None
        } else {
            Some(
                RegexSet::new(patterns.iter().map(|(pattern, _)| pattern.expression()))
                    .map_err(|error| error.to_string())?,
            )
        };
        let mut keys: Vec<Vec<String>> = Vec::new();
        for key in &rules.keys {
            let key = key.to_lowercase();
            if keys.len() <= key.len() {
                keys.resize(key.len() + 1, Vec::new());
            }
            if !keys[key.len()].contains(&key) {
                keys[key.len()].push(key);
            }
        }
        Ok(Redactor {
            prefilter: Prefilter::new(&patterns),
            keys,
            min_length: patterns
                .iter()
                .map(|(pattern, _)| pattern.min_length())
                .min()
                .unwrap_or(0),
            set,
            patterns,
        })
    }

    /// Whether nothing is ever redacted.
    pub fn is_off(&self) -> bool {
        self.keys.is_empty() && self.set.is_none()
    }

    /// Whether values under this key are redacted: the key's last dotted
    /// part, case-insensitively, is on the list.
    pub fn key_matches(&self, key: &str) -> bool {
        let last = key.rsplit('.').next().unwrap_or(key);
        self.keys
            .get(last.len())
            .is_some_and(|same_length| same_length.iter().any(|k| k.eq_ignore_ascii_case(last)))
    }

    /// Replaces the parts of `text` that match a pattern; returns how many.
    pub fn redact_text(&self, text: &mut String) -> u64 {
        let Some(set) = &self.set else {
            return 0;
        };
        if text.len() < self.min_length || !self.prefilter.may_match(text) {
            return 0;
        }
        let matched = set.matches(text);
        if !matched.matched_any() {
            return 0;
        }
        let mut count = 0;
        for index in matched.iter() {
            let (pattern, regex) = &self.patterns[index];
            let mut replaced = 0u64;
            let result = regex.replace_all(text, |captures: &regex::Captures<'_>| {
                let whole = &captures[0];
                if *pattern == Pattern::Card && !luhn_valid(whole) {
                    whole.to_string()
                } else {
                    replaced += 1;
                    REDACTED.to_string()
                }
            });
            if replaced > 0 {
                *text = result.into_owned();
                count += replaced;
            }
        }
        count
    }

    fn redact_value(&self, value: &mut AttrValue) -> u64 {
        match value {
            AttrValue::String(text) => self.redact_text(text),
            AttrValue::Array(items) => items.iter_mut().map(|item| self.redact_value(item)).sum(),
            AttrValue::KvList(pairs) => self.redact_pairs(pairs),
            _ => 0,
        }
    }

    fn redact_pairs(&self, pairs: &mut [(String, AttrValue)]) -> u64 {
        pairs
            .iter_mut()
            .map(|(key, value)| {
                if self.key_matches(key) {
                    if matches!(value, AttrValue::String(text) if text == REDACTED) {
                        0
                    } else {
                        *value = AttrValue::String(REDACTED.into());
                        1
                    }
                } else {
                    self.redact_value(value)
                }
            })
            .sum()
    }

    /// Redacts attributes in place; returns the values replaced.
    pub fn redact_attributes(&self, attributes: &mut Attributes) -> u64 {
        self.redact_pairs(attributes)
    }

    fn redact_json(&self, value: &mut serde_json::Value) -> u64 {
        match value {
            serde_json::Value::String(text) => self.redact_text(text),
            serde_json::Value::Array(items) => {
                items.iter_mut().map(|item| self.redact_json(item)).sum()
            }
            serde_json::Value::Object(map) => map
                .iter_mut()
                .map(|(key, value)| {
                    if self.key_matches(key) {
                        *value = serde_json::Value::String(REDACTED.into());
                        1
                    } else {
                        self.redact_json(value)
                    }
                })
                .sum(),
            _ => 0,
        }
    }

    /// Redacts a span batch: span, event, link and resource attributes,
    /// span names, status messages and event names.
    pub fn redact_spans(&self, batch: &mut SpanBatch) -> u64 {
        if self.is_off() {
            return 0;
        }
        let mut count = 0;
        for resource in &mut batch.resources {
            count += self.redact_attributes(&mut resource.attributes);
        }
        for span in &mut batch.spans {
            count += self.redact_text(&mut span.name);
            count += self.redact_text(&mut span.status_message);
            count += self.redact_attributes(&mut span.attributes);
            for event in &mut span.events {
                count += self.redact_text(&mut event.name);
                count += self.redact_attributes(&mut event.attributes);
            }
            for link in &mut span.links {
                count += self.redact_attributes(&mut link.attributes);
            }
        }
        count
    }

    /// Redacts log records (OTLP and JSON lines): bodies (text and
    /// structured), attributes and resources.
    pub fn redact_logs(&self, records: &mut [LogRecord]) -> u64 {
        if self.is_off() {
            return 0;
        }
        let mut count = 0;
        for record in records {
            count += match &mut record.body {
                LogBody::Text(text) => self.redact_text(text),
                LogBody::Json(value) => self.redact_json(value),
            };
            count += self.redact_attributes(&mut record.attributes);
            count += self.redact_attributes(&mut record.resource);
        }
        count
    }
}

/// Parses `--redact-keys`: comma-separated keys, or `none`.
pub fn parse_keys(text: &str) -> Vec<String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    text.split(',')
        .map(|key| key.trim().to_string())
        .filter(|key| !key.is_empty())
        .collect()
}

/// Parses `--redact-patterns`: comma-separated patterns, or `none`. A
/// `regex:` pattern runs to the end of the text (it may hold commas).
pub fn parse_patterns(text: &str) -> Result<Vec<Pattern>, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut patterns = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if rest.starts_with("regex:") {
            patterns.push(Pattern::parse(rest)?);
            break;
        }
        let (item, tail) = rest.split_once(',').unwrap_or((rest, ""));
        if !item.trim().is_empty() {
            patterns.push(Pattern::parse(item)?);
        }
        rest = tail.trim_start();
    }
    Ok(patterns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&RedactionRules::default()).unwrap()
    }

    fn text(input: &str) -> (String, u64) {
        let mut text = input.to_string();
        let count = redactor().redact_text(&mut text);
        (text, count)
    }

    #[test]
    fn keys_match_on_the_last_dotted_part_in_any_case() {
        let redactor = redactor();
        assert!(redactor.key_matches("password"));
        assert!(redactor.key_matches("http.request.header.Authorization"));
        assert!(redactor.key_matches("db.PASSWORD"));
        assert!(!redactor.key_matches("password.length"));
        assert!(!redactor.key_matches("session.id"));
        assert!(!redactor.key_matches("user.name"));
    }

    #[test]
    fn patterns_replace_only_what_they_match() {
        assert_eq!(
            text("header Authorization: Bearer abc.DEF-123_x= sent"),
            ("header Authorization: [REDACTED] sent".into(), 1)
        );
        assert_eq!(
            text("mail jane.doe+x@example.co.uk now"),
            ("mail [REDACTED] now".into(), 1)
        );
        // 4111 1111 1111 1111 passes Luhn; 4111 1111 1111 1112 does not.
        assert_eq!(
            text("card 4111 1111 1111 1111 and 4111-1111-1111-1112"),
            ("card [REDACTED] and 4111-1111-1111-1112".into(), 1)
        );
        assert_eq!(
            text("order 12345 took 250ms"),
            ("order 12345 took 250ms".into(), 0)
        );
        assert_eq!(text("abc"), ("abc".into(), 0));
    }

    #[test]
    fn the_prefilter_passes_what_the_patterns_match() {
        let prefilter = redactor().prefilter;
        for text in [
            "to a@b.example",
            "Authorization: BEARER x",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
        ] {
            assert!(prefilter.may_match(text), "{text}");
        }
        for text in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
            "SELECT id FROM orders WHERE id = 123456",
            "1234 5678 9012",
            "12  34567890123",
            "about a bear",
        ] {
            assert!(!prefilter.may_match(text), "{text}");
        }
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("5500 0000 0000 0004"));
        assert!(luhn_valid("378282246310005"));
        // Epoch milliseconds and microseconds that pass Luhn are not cards.
        assert!(!luhn_valid("1796411806708"));
        assert!(!luhn_valid("1796411806708000"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("1234"));
    }

    #[test]
    fn nested_values_and_structured_bodies_are_redacted() {
        let redactor = redactor();
        let mut attributes: Attributes = vec![
            ("user.password".into(), AttrValue::String("hunter2".into())),
            (
                "list".into(),
                AttrValue::Array(vec![AttrValue::String("a@b.example".into())]),
            ),
            (
                "map".into(),
                AttrValue::KvList(vec![("token".into(), AttrValue::Int(5))]),
            ),
            ("status".into(), AttrValue::Int(200)),
        ];
        assert_eq!(redactor.redact_attributes(&mut attributes), 3);
        assert_eq!(attributes[0].1, AttrValue::String(REDACTED.into()));
        assert_eq!(
            attributes[1].1,
            AttrValue::Array(vec![AttrValue::String(REDACTED.into())])
        );
        assert_eq!(
            attributes[2].1,
            AttrValue::KvList(vec![("token".into(), AttrValue::String(REDACTED.into()))])
        );
        let mut body = serde_json::json!({"login": {"secret": "s3", "note": "to bob@example.org"}});
        assert_eq!(redactor.redact_json(&mut body), 2);
        assert_eq!(
            body,
            serde_json::json!({"login": {"secret": REDACTED, "note": "to [REDACTED]"}})
        );
    }

    #[test]
    fn options_parse_and_turn_off() {
        assert_eq!(parse_keys("none"), Vec::<String>::new());
        assert_eq!(parse_keys("a, b,,c"), vec!["a", "b", "c"]);
        assert_eq!(parse_patterns("none").unwrap(), vec![]);
        assert_eq!(
            parse_patterns(r"email, regex:\bAKIA[0-9A-Z]{16}\b,x").unwrap(),
            vec![
                Pattern::Email,
                Pattern::Regex(r"\bAKIA[0-9A-Z]{16}\b,x".into())
            ]
        );
        assert!(parse_patterns("phone").is_err());
        assert!(parse_patterns("regex:(").is_err());
        let off = Redactor::new(&RedactionRules::none()).unwrap();
        assert!(off.is_off());
        let custom = Redactor::new(&RedactionRules {
            keys: vec![],
            patterns: parse_patterns(r"regex:AKIA[0-9A-Z]{16}").unwrap(),
        })
        .unwrap();
        let mut value = "key AKIAABCDEFGHIJKLMNOP used".to_string();
        assert_eq!(custom.redact_text(&mut value), 1);
        assert_eq!(value, "key [REDACTED] used");
        assert!(!custom.key_matches("a.X"));
    }
}
