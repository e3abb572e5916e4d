//! Shared parameter parsing: time ranges, limits and cursors.

use base64::Engine as _;

use super::QueryError;
use crate::model::{parse_time_param, UnixNanos};

/// Query parameters in request order; `attr` and friends may repeat.
pub type Params = [(String, String)];

/// The last value of a parameter (unknown parameters are ignored).
pub fn get<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
}

/// Every value of a repeatable parameter.
pub fn all<'a>(params: &'a Params, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    params
        .iter()
        .filter(move |(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// `[start, end)` from `start`/`end` (RFC 3339 or unix millis) or
/// `lookback` (`15m`, `1h`, `7d`); the default is the last hour.
pub fn time_range(params: &Params, now: UnixNanos) -> Result<(UnixNanos, UnixNanos), QueryError> {
    let parse = |name: &str| -> Result<Option<UnixNanos>, QueryError> {
        get(params, name)
            .map(|text| {
                parse_time_param(text).ok_or_else(|| {
                    QueryError::Invalid(format!(
                        "parameter {name}: {text:?} is not an RFC 3339 time or unix milliseconds"
                    ))
                })
            })
            .transpose()
    };
    let end = parse("end")?;
    let start = parse("start")?;
    let lookback = get(params, "lookback")
        .map(|text| {
            humantime::parse_duration(text).map_err(|_| {
                QueryError::Invalid(format!(
                    "parameter lookback: {text:?} is not a duration like 15m, 1h or 7d"
                ))
            })
        })
        .transpose()?;
    // An explicit end is inclusive for the caller; the range is half-open.
    let end = end.map_or(now, |end| UnixNanos(end.0.saturating_add(1)));
    let start = match (start, lookback) {
        (Some(start), _) => start,
        (None, Some(lookback)) => UnixNanos(
            end.0
                .saturating_sub(i64::try_from(lookback.as_nanos()).unwrap_or(i64::MAX)),
        ),
        (None, None) => UnixNanos(end.0.saturating_sub(3_600_000_000_000)),
    };
    if start >= end {
        return Err(QueryError::Invalid(
            "parameter start: must be before end".into(),
        ));
    }
    Ok((start, end))
}

pub fn limit(params: &Params, default: usize, max: usize) -> Result<usize, QueryError> {
    match get(params, "limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(value) if (1..=max).contains(&value) => Ok(value),
            _ => Err(QueryError::Invalid(format!(
                "parameter limit: must be an integer from 1 to {max}, got {text:?}"
            ))),
        },
    }
}

pub fn float(params: &Params, name: &str) -> Result<Option<f64>, QueryError> {
    get(params, name)
        .map(|text| match text.parse::<f64>() {
            Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
            _ => Err(QueryError::Invalid(format!(
                "parameter {name}: {text:?} is not a non-negative number"
            ))),
        })
        .transpose()
}

/// Cursors are opaque to clients: a versioned list of integers, base64url.
pub fn encode_cursor(values: &[i64]) -> String {
    let text = std::iter::once("v1".to_string())
        .chain(values.iter().map(i64::to_string))
        .collect::<Vec<_>>()
        .join(":");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

pub fn decode_cursor(text: &str, count: usize) -> Result<Vec<i64>, QueryError> {
    let invalid =
        || QueryError::Invalid("parameter cursor: not a cursor from a previous next_cursor".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.split(':');
    if parts.next() != Some("v1") {
        return Err(invalid());
    }
    let values: Vec<i64> = parts
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| invalid())?;
    if values.len() != count {
        return Err(invalid());
    }
    Ok(values)
}

/// [`time_range`] in whole unix seconds, `[start, end)`: what the rollups
/// are bucketed in. The end's last partial second counts.
pub fn time_range_seconds(params: &Params, now: UnixNanos) -> Result<(i64, i64), QueryError> {
    let (start, end) = time_range(params, now)?;
    let seconds = |at: i64| at.div_euclid(1_000_000_000);
    Ok((seconds(start.0), seconds(end.0.saturating_add(999_999_999))))
}

/// Parameters from literal pairs, for tests.
#[cfg(test)]
pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::from_pairs as params;
    use super::*;

    #[test]
    fn time_range_defaults_to_the_last_hour() {
        let now = UnixNanos(10_000_000_000_000);
        assert_eq!(
            time_range(&params(&[]), now).expect("valid"),
            (UnixNanos(now.0 - 3_600_000_000_000), now)
        );
        assert_eq!(
            time_range(&params(&[("lookback", "15m")]), now).expect("valid"),
            (UnixNanos(now.0 - 900_000_000_000), now)
        );
        assert_eq!(
            time_range(&params(&[("start", "1000"), ("end", "2000")]), now).expect("valid"),
            (UnixNanos(1_000_000_000), UnixNanos(2_000_000_001))
        );
    }

    #[test]
    fn bad_time_parameters_are_named() {
        let now = UnixNanos(10_000_000_000_000);
        let error = time_range(&params(&[("start", "noon")]), now).expect_err("bad");
        assert!(error.invalid_message().contains("start"));
        let error = time_range(&params(&[("lookback", "a while")]), now).expect_err("bad");
        assert!(error.invalid_message().contains("lookback"));
        assert!(time_range(&params(&[("start", "3000"), ("end", "2000")]), now).is_err());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let cursor = encode_cursor(&[123, -4]);
        assert_eq!(decode_cursor(&cursor, 2).expect("valid"), vec![123, -4]);
        assert!(decode_cursor("garbage!", 2).is_err());
        assert!(decode_cursor(&cursor, 3).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(&params(&[]), 20, 1000).expect("valid"), 20);
        assert_eq!(
            limit(&params(&[("limit", "5")]), 20, 1000).expect("valid"),
            5
        );
        assert!(limit(&params(&[("limit", "0")]), 20, 1000).is_err());
        assert!(limit(&params(&[("limit", "5000")]), 20, 1000).is_err());
        assert!(limit(&params(&[("limit", "x")]), 20, 1000).is_err());
    }
}
