//! Metric series as PromQL sees them: a sorted label set (with the metric
//! name under `__name__`), float samples with millisecond timestamps, and
//! the label matchers a selector uses.
//!
//! OTLP metric points are translated into these series at ingest (a
//! histogram becomes its `_bucket`, `_sum` and `_count` series, as
//! Prometheus's own OTLP receiver does), so storage and the PromQL engine
//! deal in one shape only.

use std::fmt;

/// The label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// Prometheus's staleness marker: a NaN with this bit pattern ends a
/// series for the lookback. An OTLP point flagged "no recorded value" is
/// stored as it.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A sample value, bucket bound or quantile as Prometheus writes it: the
/// shortest decimal that round-trips, never an exponent, `+Inf`, `-Inf`,
/// `NaN`.
pub fn format_value(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else if value.is_nan() {
        "NaN".to_string()
    } else {
        value.to_string()
    }
}

/// A series' labels, sorted by name, names unique, no empty values (an
/// empty value means "label absent" in PromQL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// Builds a label set from any pairs: sorts them, drops empty values and
    /// keeps the last value of a repeated name.
    pub fn from_pairs<I, K, V>(pairs: I) -> Labels
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut pairs: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        // Stable, so "last one wins" survives the sort.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            match out.last_mut() {
                Some(last) if last.0 == name => last.1 = value,
                _ => out.push((name, value)),
            }
        }
        out.retain(|(_, value)| !value.is_empty());
        Labels(out)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|index| self.0[index].1.as_str())
    }

    /// The metric name, if the set has one.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets (or, with an empty value, removes) one label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(index) if value.is_empty() => {
                self.0.remove(index);
            }
            Ok(index) => self.0[index].1 = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(index) => self.0.insert(index, (name.to_string(), value.to_string())),
        }
    }

    /// The same labels without `__name__`.
    pub fn without_name(&self) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(n, _)| n != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }
}

impl fmt::Display for Labels {
    /// Prometheus's notation: `name{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (name, value) in self.iter().filter(|(n, _)| *n != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{name}={value:?}")?;
        }
        f.write_str("}")
    }
}

/// One float sample: milliseconds since the Unix epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// A series and its samples in time order (no two with the same `t`).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    /// Fully anchored, as in Prometheus.
    Regex,
    NotRegex,
}

/// One label matcher of a selector. An absent label matches as the empty
/// string, so `{a=""}` selects series without `a`.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The anchored regex, for `Regex` and `NotRegex`.
    regex: Option<regex::Regex>,
}

/// A regex that does not compile.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {message}")]
pub struct BadRegex {
    pub pattern: String,
    pub message: String,
}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, BadRegex> {
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                regex::Regex::new(&format!("^(?:{value})$")).map_err(|error| BadRegex {
                    pattern: value.to_string(),
                    message: error.to_string(),
                })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// `name = value`.
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.to_string(),
            op: MatchOp::Equal,
            value: value.to_string(),
            regex: None,
        }
    }

    /// Whether a label value (empty when the label is absent) matches.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(value),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(value),
            // `new` always compiles the regex for these two.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Whether a series with these labels matches.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    /// Whether the matcher also matches a series without the label; a
    /// selector needs at least one matcher that does not.
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }
}

/// Whether a series matches every matcher.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|matcher| matcher.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_deduplicated_and_without_empty_values() {
        let labels = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(labels.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "3")]);
        assert_eq!(labels.get("b"), Some("3"));
        assert_eq!(labels.get("c"), None);
    }

    #[test]
    fn regex_matchers_are_anchored_and_absent_labels_match_empty() {
        let labels = Labels::from_pairs([(METRIC_NAME, "up"), ("job", "api-1")]);
        let anchored = Matcher::new("job", MatchOp::Regex, "api").unwrap();
        assert!(!anchored.matches(&labels));
        let full = Matcher::new("job", MatchOp::Regex, "api-.*").unwrap();
        assert!(full.matches(&labels));
        let absent = Matcher::new("zone", MatchOp::Equal, "").unwrap();
        assert!(absent.matches(&labels));
        assert!(absent.matches_empty());
        assert!(Matcher::new("job", MatchOp::Regex, "(").is_err());
    }

    #[test]
    fn display_uses_prometheus_notation() {
        let labels = Labels::from_pairs([(METRIC_NAME, "up"), ("job", "a")]);
        assert_eq!(labels.to_string(), "up{job=\"a\"}");
    }
}
