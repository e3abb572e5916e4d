//! The Jaeger query API's parameters (`/jaeger/api/*`, as Jaeger's query
//! service reads them) → lookout's filters: times in microseconds
//! (`start`, `end`) or milliseconds (`endTs`, and `lookback` of
//! dependencies), durations as Go duration strings (`1.2s`, `500us`),
//! tags as `tag=key:value` or a `tags` JSON map (decoded by `web`).

use super::params::{self, Params};
use super::traces::MAX_LIMIT;
use super::QueryError;
use crate::model::{AttrOp, TraceId, UnixNanos};
use crate::store::sqlite::read::{AttrFilter, StatusFilter, TraceFilter};

/// Jaeger's default number of traces a search returns.
pub const DEFAULT_LIMIT: usize = 100;

/// How far back a search looks without `start` (Jaeger's default).
const DEFAULT_TRACE_LOOKBACK_NANOS: i64 = 2 * 86_400 * 1_000_000_000;

/// How far back dependencies look without `lookback` (Jaeger's default).
const DEFAULT_DEPENDENCY_LOOKBACK_MS: i64 = 86_400_000;

/// A Jaeger trace search: by filter, or by the trace ids given.
#[derive(Debug, Clone, PartialEq)]
pub struct JaegerSearch {
    pub filter: TraceFilter,
    /// `traceID` parameters: these traces, no filter.
    pub trace_ids: Vec<TraceId>,
}

/// A Go duration (`time.ParseDuration`): a sequence of decimal numbers,
/// each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `1.5s`
/// or `1h30m`; `0` alone is allowed. In nanoseconds.
pub fn parse_go_duration(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    (total.is_finite() && total < i64::MAX as f64).then_some(total.round() as i64)
}

/// A trace id as Jaeger accepts it: up to 32 hex digits, leading zeros
/// optional.
pub fn parse_trace_id(text: &str) -> Result<TraceId, QueryError> {
    let invalid = || QueryError::Invalid(format!("trace id {text:?}: not up to 32 hex digits"));
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    TraceId::from_hex(&format!("{text:0>32}")).map_err(|_| invalid())
}

/// Microseconds since the epoch in parameter `name`.
fn micros(params: &Params, name: &str) -> Result<Option<UnixNanos>, QueryError> {
    params::get(params, name)
        .map(|text| {
            text.parse::<i64>()
                .ok()
                .and_then(|us| us.checked_mul(1_000))
                .map(UnixNanos)
                .ok_or_else(|| {
                    QueryError::Invalid(format!(
                        "unable to parse param '{name}': {text:?} is not unix microseconds"
                    ))
                })
        })
        .transpose()
}

fn duration(params: &Params, name: &str) -> Result<Option<i64>, QueryError> {
    params::get(params, name)
        .map(|text| {
            parse_go_duration(text).ok_or_else(|| {
                QueryError::Invalid(format!(
                    "unable to parse param '{name}': {text:?} is not a duration like 1.2s, 100ms or 500us"
                ))
            })
        })
        .transpose()
}

/// The search's time range: `start`/`end` in microseconds; without
/// `start`, `lookback` (`1h`, `2d`, a Go duration; `custom` means the
/// range is in `start`/`end`) back from `end`, else two days.
fn time_range(params: &Params, now: UnixNanos) -> Result<(UnixNanos, UnixNanos), QueryError> {
    let end = micros(params, "end")?.unwrap_or(now);
    let start = match micros(params, "start")? {
        Some(start) => start,
        None => {
            let lookback = match params::get(params, "lookback") {
                None | Some("custom") => DEFAULT_TRACE_LOOKBACK_NANOS,
                Some(text) => parse_go_duration(text)
                    .or_else(|| {
                        humantime::parse_duration(text)
                            .ok()
                            .and_then(|d| i64::try_from(d.as_nanos()).ok())
                    })
                    .ok_or_else(|| {
                        QueryError::Invalid(format!(
                            "unable to parse param 'lookback': {text:?} is not a duration like 1h or 2d"
                        ))
                    })?,
            };
            UnixNanos(end.0.saturating_sub(lookback))
        }
    };
    // Jaeger's range is inclusive of `end`; lookout's is half-open.
    let end = UnixNanos(end.0.saturating_add(1));
    if start >= end {
        return Err(QueryError::Invalid(
            "parameter 'start' must be before 'end'".into(),
        ));
    }
    Ok((start, end))
}

/// `tag=key:value` parameters, then the `tags` map's pairs.
fn all_tags(
    params: &Params,
    json_tags: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, QueryError> {
    let mut tags = Vec::new();
    for tag in params::all(params, "tag") {
        let (key, value) = tag.split_once(':').ok_or_else(|| {
            QueryError::Invalid(format!(
                "malformed 'tag' parameter, expecting key:value, received: {tag}"
            ))
        })?;
        tags.push((key.to_string(), value.to_string()));
    }
    tags.extend(json_tags);
    Ok(tags)
}

/// `/jaeger/api/traces` parameters; `json_tags` is the `tags` parameter's
/// map, already decoded. Tags are attribute equalities (span or
/// resource), except `error` and `otel.status_code`, which are the
/// status filter as Jaeger's own tags for them mean.
pub fn parse_search(
    params: &Params,
    json_tags: Vec<(String, String)>,
    now: UnixNanos,
) -> Result<JaegerSearch, QueryError> {
    let trace_ids = params::all(params, "traceID")
        .map(parse_trace_id)
        .collect::<Result<Vec<_>, _>>()?;
    let service = params::get(params, "service").map(str::to_string);
    if service.is_none() && trace_ids.is_empty() {
        return Err(QueryError::Invalid(
            "parameter 'service' is required".into(),
        ));
    }
    let (start, end) = time_range(params, now)?;
    let min_duration_nanos = duration(params, "minDuration")?;
    let max_duration_nanos = duration(params, "maxDuration")?;
    if let (Some(min), Some(max)) = (min_duration_nanos, max_duration_nanos) {
        if min > 0 && max > 0 && max < min {
            return Err(QueryError::Invalid(
                "'maxDuration' should be greater than 'minDuration'".into(),
            ));
        }
    }
    let mut status = None;
    let mut attributes = Vec::new();
    for (key, value) in all_tags(params, json_tags)? {
        match (key.as_str(), value.to_ascii_lowercase().as_str()) {
            ("error", "true") | ("otel.status_code", "error") => status = Some(StatusFilter::Error),
            ("error", "false") => status = Some(StatusFilter::Ok),
            _ => attributes.push(AttrFilter {
                key,
                op: AttrOp::Equal,
                value,
                number: f64::NAN,
            }),
        }
    }
    let limit = match params::get(params, "limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<i64>() {
            // Jaeger reads 0 or less as its default.
            Ok(value) if value <= 0 => DEFAULT_LIMIT,
            Ok(value) => usize::try_from(value).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
            Err(_) => {
                return Err(QueryError::Invalid(format!(
                    "unable to parse param 'limit': {text:?} is not an integer"
                )))
            }
        },
    };
    Ok(JaegerSearch {
        filter: TraceFilter {
            service,
            operation: params::get(params, "operation").map(str::to_string),
            status,
            min_duration_nanos: min_duration_nanos.filter(|nanos| *nanos > 0),
            max_duration_nanos: max_duration_nanos.filter(|nanos| *nanos > 0),
            attributes,
            start,
            end,
            limit,
            after: None,
        },
        trace_ids,
    })
}

/// `/jaeger/api/dependencies`: `endTs` (unix ms, default now) and
/// `lookback` (ms, default a day) → `[start, end)` in unix seconds.
pub fn parse_dependencies(params: &Params, now: UnixNanos) -> Result<(i64, i64), QueryError> {
    let number = |name: &str| -> Result<Option<i64>, QueryError> {
        params::get(params, name)
            .map(|text| {
                text.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
                    QueryError::Invalid(format!(
                        "unable to parse param '{name}': {text:?} is not a number of milliseconds"
                    ))
                })
            })
            .transpose()
    };
    let end_ms = number("endTs")?.unwrap_or(now.0 / 1_000_000);
    let lookback_ms = number("lookback")?.unwrap_or(DEFAULT_DEPENDENCY_LOOKBACK_MS);
    let start_ms = end_ms.saturating_sub(lookback_ms);
    // Whole seconds covering the range.
    Ok((start_ms.div_euclid(1000), end_ms.div_euclid(1000) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::params::from_pairs as params;

    const NOW: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

    #[test]
    fn go_durations_parse_as_go_does() {
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("1.2s"), Some(1_200_000_000));
        assert_eq!(parse_go_duration("500us"), Some(500_000));
        assert_eq!(parse_go_duration("500µs"), Some(500_000));
        assert_eq!(parse_go_duration("100ms"), Some(100_000_000));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("7ns"), Some(7));
        for bad in ["", "5", "1d", "ms", "1.2.3s", "-1s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_search_maps_every_parameter() {
        let search = parse_search(
            &params(&[
                ("service", "checkout"),
                ("operation", "GET /cart"),
                ("start", "1699999990000000"),
                ("end", "1700000000000000"),
                ("minDuration", "1.5ms"),
                ("maxDuration", "2s"),
                ("limit", "20"),
                ("tag", "http.route:/a:b"),
            ]),
            vec![
                ("error".into(), "true".into()),
                ("region".into(), "eu".into()),
            ],
            NOW,
        )
        .expect("valid");
        let filter = &search.filter;
        assert_eq!(filter.service.as_deref(), Some("checkout"));
        assert_eq!(filter.operation.as_deref(), Some("GET /cart"));
        assert_eq!(filter.start, UnixNanos(1_699_999_990_000_000_000));
        assert_eq!(filter.end, UnixNanos(1_700_000_000_000_000_001));
        assert_eq!(filter.min_duration_nanos, Some(1_500_000));
        assert_eq!(filter.max_duration_nanos, Some(2_000_000_000));
        assert_eq!(filter.limit, 20);
        assert_eq!(filter.status, Some(StatusFilter::Error));
        let tags: Vec<(&str, &str)> = filter
            .attributes
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str()))
            .collect();
        assert_eq!(tags, [("http.route", "/a:b"), ("region", "eu")]);
        assert!(search.trace_ids.is_empty());
    }

    #[test]
    fn defaults_and_lookbacks_are_jaegers() {
        let search = parse_search(&params(&[("service", "a")]), vec![], NOW).expect("valid");
        assert_eq!(search.filter.limit, DEFAULT_LIMIT);
        assert_eq!(
            search.filter.start,
            UnixNanos(NOW.0 - DEFAULT_TRACE_LOOKBACK_NANOS)
        );
        let search = parse_search(
            &params(&[("service", "a"), ("lookback", "1h")]),
            vec![],
            NOW,
        )
        .expect("valid");
        assert_eq!(search.filter.start, UnixNanos(NOW.0 - 3_600_000_000_000));
        let search = parse_search(
            &params(&[("service", "a"), ("lookback", "2d")]),
            vec![],
            NOW,
        )
        .expect("valid");
        assert_eq!(
            search.filter.start,
            UnixNanos(NOW.0 - 2 * 86_400_000_000_000)
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        let error = |pairs: &[(&str, &str)]| {
            parse_search(&params(pairs), vec![], NOW)
                .expect_err("invalid")
                .to_string()
        };
        assert!(error(&[]).contains("'service' is required"));
        assert!(error(&[("service", "a"), ("start", "x")]).contains("'start'"));
        assert!(error(&[("service", "a"), ("minDuration", "5")]).contains("'minDuration'"));
        assert!(error(&[
            ("service", "a"),
            ("minDuration", "2s"),
            ("maxDuration", "1s")
        ])
        .contains("'maxDuration' should be greater"));
        assert!(error(&[("service", "a"), ("tag", "novalue")]).contains("'tag'"));
        assert!(error(&[("service", "a"), ("limit", "many")]).contains("'limit'"));
        assert!(error(&[("traceID", "xyz")]).contains("xyz"));
    }

    #[test]
    fn trace_ids_may_omit_leading_zeros() {
        let id = parse_trace_id("abc").expect("short id");
        assert_eq!(id.to_hex(), format!("{:0>32}", "abc"));
        assert!(parse_trace_id(&"a".repeat(33)).is_err());
        let search = parse_search(&params(&[("traceID", "abc")]), vec![], NOW).expect("by id");
        assert_eq!(search.trace_ids, vec![id]);
    }

    #[test]
    fn dependencies_read_milliseconds() {
        let (start, end) = parse_dependencies(
            &params(&[("endTs", "1700000000000"), ("lookback", "3600000")]),
            NOW,
        )
        .expect("valid");
        assert_eq!((start, end), (1_699_996_400, 1_700_000_001));
        let (start, end) = parse_dependencies(&params(&[]), NOW).expect("defaults");
        assert_eq!(end - start, 86_401);
        assert!(parse_dependencies(&params(&[("endTs", "soon")]), NOW)
            .expect_err("invalid")
            .to_string()
            .contains("'endTs'"));
    }
}
