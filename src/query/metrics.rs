//! Reading metric series: the [`SeriesSource`] the PromQL engine evaluates
//! over (stored OTLP series and the span-derived ones), series selectors of `match[]`, and the parameters of
//! the Prometheus-compatible API (times, durations).

use promql_parser::label::MatchOp as ParserOp;
use promql_parser::parser::Expr;

use super::promql::{EncodedSamples, LazySeries, SeriesSource, SourceError};
use super::span_series::SpanSeries;
use super::QueryError;
use crate::model::metric::{MatchOp, Matcher, Sample, SeriesSamples, METRIC_NAME};
use crate::store::sqlite::metrics::head::MetricHead;
use crate::store::sqlite::metrics::read;
use crate::store::sqlite::PooledConnection;

/// Every series PromQL sees, for one query on one pooled read connection:
/// the stored OTLP series and the span-derived ones.
pub struct AllSeries<'a> {
    pub(super) conn: PooledConnection<'a>,
    pub(super) head: &'a MetricHead,
    /// Wall time (unix ms) for the span-derived series.
    pub(super) now_ms: i64,
}

impl SeriesSource for AllSeries<'_> {
    fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesSamples>, SourceError> {
        let mut series = read::select(&self.conn, self.head, matchers, start_ms, end_ms)
            .map_err(|error| SourceError(error.to_string()))?;
        let spans = SpanSeries {
            conn: &self.conn,
            now_ms: self.now_ms,
        };
        series.extend(spans.select(matchers, start_ms, end_ms)?);
        Ok(series)
    }

    fn select_lazy(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<LazySeries>, SourceError> {
        let stored = read::select_encoded(&self.conn, self.head, matchers, start_ms, end_ms)
            .map_err(|error| SourceError(error.to_string()))?;
        let mut series: Vec<LazySeries> = stored
            .into_iter()
            .map(|mut encoded| {
                let labels = std::mem::take(&mut encoded.labels);
                LazySeries::encoded(labels, Box::new(Chunked(encoded)))
            })
            .collect();
        let spans = SpanSeries {
            conn: &self.conn,
            now_ms: self.now_ms,
        };
        series.extend(
            spans
                .select(matchers, start_ms, end_ms)?
                .into_iter()
                .map(LazySeries::decoded),
        );
        Ok(series)
    }
}

/// A stored series whose chunks PromQL decodes when it reaches it.
struct Chunked(read::EncodedSeries);

impl EncodedSamples for Chunked {
    fn decode_into(&self, out: &mut Vec<Sample>) -> Result<(), SourceError> {
        self.0
            .decode_into(out)
            .map_err(|error| SourceError(error.to_string()))
    }
}

/// Converts a parser matcher into the model's.
pub fn convert_matcher(matcher: &promql_parser::label::Matcher) -> Result<Matcher, QueryError> {
    let op = match matcher.op {
        ParserOp::Equal => MatchOp::Equal,
        ParserOp::NotEqual => MatchOp::NotEqual,
        ParserOp::Re(_) => MatchOp::Regex,
        ParserOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(&matcher.name, op, &matcher.value)
        .map_err(|error| QueryError::Invalid(error.to_string()))
}

/// A series selector of `match[]` (`up{job="a"}`, `{__name__=~"x.*"}`) as
/// matcher sets: one per `or` alternative.
pub fn parse_selector(text: &str) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let expr = promql_parser::parser::parse(text)
        .map_err(|error| QueryError::Invalid(format!("match[] {text:?}: {error}")))?;
    let Expr::VectorSelector(selector) = expr else {
        return Err(QueryError::Invalid(format!(
            "match[] {text:?}: expected a series selector such as up{{job=\"a\"}}"
        )));
    };
    let sets = selector_matchers(&selector)?;
    if sets
        .iter()
        .any(|set| set.iter().all(Matcher::matches_empty))
    {
        return Err(QueryError::Invalid(format!(
            "match[] {text:?}: a selector needs at least one matcher that does not match the empty string"
        )));
    }
    Ok(sets)
}

/// Every series selector of a PromQL expression as matcher sets (for
/// `query_exemplars`, which answers for the series a query reads).
pub fn selectors_of(query: &str) -> Result<Vec<Vec<Matcher>>, QueryError> {
    struct Collect(Vec<promql_parser::parser::VectorSelector>);
    impl promql_parser::util::ExprVisitor for Collect {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
            match expr {
                Expr::VectorSelector(selector) => self.0.push(selector.clone()),
                Expr::MatrixSelector(matrix) => self.0.push(matrix.vs.clone()),
                _ => {}
            }
            Ok(true)
        }
    }
    let expr = promql_parser::parser::parse(query)
        .map_err(|error| QueryError::Invalid(format!("invalid parameter \"query\": {error}")))?;
    let mut collect = Collect(Vec::new());
    let Ok(_) = promql_parser::util::walk_expr(&mut collect, &expr);
    let mut sets = Vec::new();
    for selector in collect.0 {
        sets.extend(selector_matchers(&selector)?);
    }
    Ok(sets)
}

/// A selector's matchers, one set per `or` alternative.
fn selector_matchers(
    selector: &promql_parser::parser::VectorSelector,
) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let mut base = Vec::new();
    if let Some(name) = &selector.name {
        base.push(Matcher::equal(METRIC_NAME, name));
    }
    let alternatives: Vec<&Vec<promql_parser::label::Matcher>> =
        if selector.matchers.or_matchers.is_empty() {
            vec![&selector.matchers.matchers]
        } else {
            selector.matchers.or_matchers.iter().collect()
        };
    let mut sets = Vec::with_capacity(alternatives.len());
    for alternative in alternatives {
        let mut set = base.clone();
        for matcher in alternative {
            set.push(convert_matcher(matcher)?);
        }
        sets.push(set);
    }
    Ok(sets)
}

/// A Prometheus API time: RFC 3339 or unix seconds with an optional
/// fraction. Returns unix milliseconds.
pub fn parse_time(parameter: &str, text: &str) -> Result<i64, QueryError> {
    let invalid = || {
        QueryError::Invalid(format!(
            "invalid parameter {parameter:?}: cannot parse {text:?} to a valid timestamp"
        ))
    };
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() {
            return Err(invalid());
        }
        let millis = (seconds * 1000.0).round();
        if millis.abs() > 9.2e18 {
            return Err(invalid());
        }
        return Ok(millis as i64);
    }
    let datetime =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid())?;
    i64::try_from(datetime.unix_timestamp_nanos() / 1_000_000).map_err(|_| invalid())
}

/// A Prometheus API duration: seconds with an optional fraction, or a
/// PromQL duration (`15s`, `1m30s`, `2h`, `1d`, `1w`, `500ms`). Returns
/// milliseconds.
pub fn parse_duration(parameter: &str, text: &str) -> Result<i64, QueryError> {
    let invalid = || {
        QueryError::Invalid(format!(
            "invalid parameter {parameter:?}: cannot parse {text:?} to a valid duration"
        ))
    };
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || seconds.abs() > 9.2e15 {
            return Err(invalid());
        }
        return Ok((seconds * 1000.0).round() as i64);
    }
    let mut total: i64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(invalid());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let (unit_ms, unit_len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let unit = match rest.chars().next() {
                Some('s') => 1_000,
                Some('m') => 60_000,
                Some('h') => 3_600_000,
                Some('d') => 86_400_000,
                Some('w') => 7 * 86_400_000,
                Some('y') => 365 * 86_400_000,
                _ => return Err(invalid()),
            };
            (unit, 1)
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(invalid)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_parse_like_prometheus() {
        assert_eq!(
            parse_time("time", "1700000000.5").unwrap(),
            1_700_000_000_500
        );
        assert_eq!(
            parse_time("time", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert!(parse_time("time", "yesterday").is_err());
        assert_eq!(parse_duration("step", "15").unwrap(), 15_000);
        assert_eq!(parse_duration("step", "0.5").unwrap(), 500);
        assert_eq!(parse_duration("step", "1m30s").unwrap(), 90_000);
        assert_eq!(parse_duration("step", "500ms").unwrap(), 500);
        assert_eq!(parse_duration("step", "2h").unwrap(), 7_200_000);
        assert!(parse_duration("step", "5x").is_err());
        assert!(parse_duration("step", "").is_err());
    }

    #[test]
    fn selectors_become_matcher_sets() {
        let sets = parse_selector(r#"up{job="a",code=~"5.."}"#).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].len(), 3);
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector(r#"{job=~".*"}"#).is_err());
    }
}
