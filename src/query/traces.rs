//! `/api/traces` parameters → [`TraceFilter`].

use super::params::{self, Params};
use super::QueryError;
use crate::model::{AttrOp, UnixNanos};
use crate::store::sqlite::read::{AttrFilter, StatusFilter, TraceFilter};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 1000;

pub fn parse_trace_filter(params: &Params, now: UnixNanos) -> Result<TraceFilter, QueryError> {
    let (start, end) = params::time_range(params, now)?;
    let status = match params::get(params, "status") {
        None => None,
        Some("error") => Some(StatusFilter::Error),
        Some("ok") => Some(StatusFilter::Ok),
        Some(other) => {
            return Err(QueryError::Invalid(format!(
                "parameter status: must be error or ok, got {other:?}"
            )))
        }
    };
    let to_nanos = |ms: f64| (ms * 1_000_000.0).round() as i64;
    let min_duration_nanos = params::float(params, "min_duration_ms")?.map(to_nanos);
    let max_duration_nanos = params::float(params, "max_duration_ms")?.map(to_nanos);
    let mut attributes = Vec::new();
    for attr in params::all(params, "attr") {
        attributes.push(parse_attr(attr)?);
    }
    let after = params::get(params, "cursor")
        .map(|text| params::decode_cursor(text, 2).map(|values| (values[0], values[1])))
        .transpose()?;
    Ok(TraceFilter {
        service: params::get(params, "service").map(str::to_string),
        operation: params::get(params, "operation").map(str::to_string),
        status,
        min_duration_nanos,
        max_duration_nanos,
        attributes,
        start,
        end,
        limit: params::limit(params, DEFAULT_LIMIT, MAX_LIMIT)?,
        after,
    })
}

/// One `attr` parameter: `key=value` (the text form), or a numeric
/// comparison `key>=N`, `key>N`, `key<=N`, `key<N`. The key ends at the
/// first `=`, `<` or `>`, so values may hold them (`url=/a=b`).
fn parse_attr(attr: &str) -> Result<AttrFilter, QueryError> {
    let invalid = || {
        QueryError::Invalid(format!(
            "parameter attr: {attr:?} is not key=value or a comparison such as key>=500"
        ))
    };
    let at = attr.find(['=', '<', '>']).ok_or_else(invalid)?;
    let (key, rest) = attr.split_at(at);
    if key.is_empty() {
        return Err(invalid());
    }
    let (op, value) = if let Some(value) = rest.strip_prefix(">=") {
        (AttrOp::GreaterOrEqual, value)
    } else if let Some(value) = rest.strip_prefix("<=") {
        (AttrOp::LessOrEqual, value)
    } else if let Some(value) = rest.strip_prefix('>') {
        (AttrOp::Greater, value)
    } else if let Some(value) = rest.strip_prefix('<') {
        (AttrOp::Less, value)
    } else {
        (AttrOp::Equal, rest.strip_prefix('=').unwrap_or(rest))
    };
    let number = match op {
        AttrOp::Equal => f64::NAN,
        _ => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| !n.is_nan())
            .ok_or_else(|| {
                QueryError::Invalid(format!(
                    "parameter attr: {attr:?} compares with {value:?}, which is not a number"
                ))
            })?,
    };
    Ok(AttrFilter {
        key: key.to_string(),
        op,
        value: value.to_string(),
        number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::params::from_pairs as params;

    #[test]
    fn every_filter_is_parsed() {
        let filter = parse_trace_filter(
            &params(&[
                ("service", "checkout"),
                ("operation", "GET /cart"),
                ("status", "error"),
                ("min_duration_ms", "1.5"),
                ("max_duration_ms", "20"),
                ("attr", "http.method=GET"),
                ("attr", "url=/a=b"),
                ("attr", "http.status_code>=500"),
                ("attr", "size<1e3"),
                ("limit", "5"),
                ("unknown", "ignored"),
            ]),
            UnixNanos(100_000_000_000_000),
        )
        .expect("valid");
        assert_eq!(filter.service.as_deref(), Some("checkout"));
        assert_eq!(filter.status, Some(StatusFilter::Error));
        assert_eq!(filter.min_duration_nanos, Some(1_500_000));
        assert_eq!(filter.max_duration_nanos, Some(20_000_000));
        let attributes: Vec<(&str, AttrOp, &str)> = filter
            .attributes
            .iter()
            .map(|a| (a.key.as_str(), a.op, a.value.as_str()))
            .collect();
        assert_eq!(
            attributes,
            [
                ("http.method", AttrOp::Equal, "GET"),
                ("url", AttrOp::Equal, "/a=b"),
                ("http.status_code", AttrOp::GreaterOrEqual, "500"),
                ("size", AttrOp::Less, "1e3"),
            ]
        );
        assert_eq!(filter.attributes[2].number, 500.0);
        assert_eq!(filter.limit, 5);
    }

    #[test]
    fn malformed_parameters_are_named() {
        let now = UnixNanos(100_000_000_000_000);
        for (name, value) in [
            ("status", "broken"),
            ("min_duration_ms", "-1"),
            ("max_duration_ms", "fast"),
            ("attr", "novalue"),
            ("attr", "code>=five"),
            ("attr", ">=5"),
            ("cursor", "zzz"),
            ("limit", "0"),
        ] {
            let error = parse_trace_filter(&params(&[(name, value)]), now).expect_err(name);
            assert!(
                error.invalid_message().contains(name),
                "{name}: {}",
                error.invalid_message()
            );
        }
    }
}
