//! The window of record timestamps lookout keeps: back to the retention
//! period and a little into the future. Ingest refuses records outside it;
//! the read side searches it when a request names no range.

use std::time::Duration;

use super::{format_rfc3339, UnixNanos};

/// How far into the future a record's timestamp may be (clock skew).
pub const MAX_FUTURE: Duration = Duration::from_secs(24 * 3600);

/// The accepted time window for record timestamps. Records outside it are
/// rejected (each would otherwise create an index partition of its own,
/// or be deleted by retention at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub earliest: UnixNanos,
    pub latest: UnixNanos,
}

impl TimeWindow {
    /// Back to the retention period, and up to [`MAX_FUTURE`] ahead.
    pub fn kept(retention: Duration, now: UnixNanos) -> TimeWindow {
        TimeWindow {
            earliest: UnixNanos(now.0.saturating_sub(nanos(retention))),
            latest: UnixNanos(now.0.saturating_add(nanos(MAX_FUTURE))),
        }
    }

    pub fn check(&self, timestamp: UnixNanos) -> Result<(), String> {
        if timestamp < self.earliest || timestamp > self.latest {
            return Err(format!(
                "timestamp {} is outside the accepted window {} .. {} (retention and clock skew)",
                format_rfc3339(timestamp),
                format_rfc3339(self.earliest),
                format_rfc3339(self.latest)
            ));
        }
        Ok(())
    }
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_spans_retention_back_and_a_day_ahead() {
        let now = UnixNanos(10 * 86_400 * 1_000_000_000);
        let window = TimeWindow::kept(Duration::from_secs(86_400), now);
        assert!(window.check(now).is_ok());
        assert!(window
            .check(UnixNanos(now.0 - 86_400 * 1_000_000_000))
            .is_ok());
        assert!(window
            .check(UnixNanos(now.0 - 86_400 * 1_000_000_000 - 1))
            .is_err());
        assert!(window
            .check(UnixNanos(now.0 + 86_400 * 1_000_000_000 + 1))
            .is_err());
    }
}
