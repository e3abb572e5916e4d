//! Unix-nanosecond timestamps and their RFC 3339 form on the API.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Nanoseconds since the Unix epoch, as OTLP carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixNanos(pub i64);

impl UnixNanos {
    pub fn now() -> UnixNanos {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        UnixNanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// Converts OTLP's unsigned nanoseconds, saturating values past year 2262.
    pub fn from_u64(nanos: u64) -> UnixNanos {
        UnixNanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }
}

/// RFC 3339 in UTC with all nine fractional digits, e.g.
/// `2026-11-21T10:00:00.123456789Z`, so timestamps sort as text too.
pub fn format_rfc3339(nanos: UnixNanos) -> String {
    let Ok(datetime) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos.0)) else {
        return String::new();
    };
    let (year, month, day) = (datetime.year(), u8::from(datetime.month()), datetime.day());
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        datetime.hour(),
        datetime.minute(),
        datetime.second(),
        datetime.nanosecond()
    )
}

/// Parses a time query parameter: RFC 3339, or an integer of unix
/// milliseconds.
pub fn parse_time_param(text: &str) -> Option<UnixNanos> {
    if let Ok(millis) = text.parse::<i64>() {
        return millis.checked_mul(1_000_000).map(UnixNanos);
    }
    let datetime = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(datetime.unix_timestamp_nanos())
        .ok()
        .map(UnixNanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_nanoseconds_in_utc() {
        assert_eq!(
            format_rfc3339(UnixNanos(1_763_719_200_123_456_789)),
            "2025-11-21T10:00:00.123456789Z"
        );
        assert_eq!(
            format_rfc3339(UnixNanos(0)),
            "1970-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn parses_rfc3339_and_unix_millis() {
        assert_eq!(
            parse_time_param("2025-11-21T10:00:00.5Z"),
            Some(UnixNanos(1_763_719_200_500_000_000))
        );
        assert_eq!(
            parse_time_param("2025-11-21T11:00:00+01:00"),
            Some(UnixNanos(1_763_719_200_000_000_000))
        );
        assert_eq!(parse_time_param("1000"), Some(UnixNanos(1_000_000_000)));
        assert_eq!(parse_time_param("yesterday"), None);
    }
}
