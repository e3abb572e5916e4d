//! `/api/traces` parameters → [`TraceFilter`].

use super::params::{self, Params};
use super::QueryError;
use crate::model::UnixNanos;
use crate::store::sqlite::read::{StatusFilter, TraceFilter};

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
        match attr.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                attributes.push((key.to_string(), value.to_string()))
            }
            _ => {
                return Err(QueryError::Invalid(format!(
                    "parameter attr: {attr:?} is not key=value"
                )))
            }
        }
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
        assert_eq!(
            filter.attributes,
            vec![
                ("http.method".into(), "GET".into()),
                ("url".into(), "/a=b".into())
            ]
        );
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
