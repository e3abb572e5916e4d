//! UTC days: the log index partition key and its directory name.
//!
//! The calendar arithmetic is done here, on whole days since the epoch, so
//! that mapping a timestamp to its partition can never fail: every `i64`
//! nanosecond value has a day, and every day has a `YYYY-MM-DD` name.

use std::fmt;

use crate::model::UnixNanos;

pub(crate) const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// One UTC calendar day, counted in days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogDay(pub i64);

impl LogDay {
    /// The day a timestamp falls on (timestamps before 1970 included).
    pub fn of(time: UnixNanos) -> LogDay {
        LogDay(time.0.div_euclid(NANOS_PER_DAY))
    }

    /// First nanosecond of the day.
    pub fn start(self) -> UnixNanos {
        UnixNanos(self.0.saturating_mul(NANOS_PER_DAY))
    }

    /// First nanosecond after the day (exclusive end), saturating at the
    /// end of the representable range.
    pub fn end(self) -> UnixNanos {
        UnixNanos(self.0.saturating_add(1).saturating_mul(NANOS_PER_DAY))
    }

    /// Whether `[start, end)` covers the whole day, so a search can skip
    /// its time clause there.
    pub fn covered_by(self, start: UnixNanos, end: UnixNanos) -> bool {
        start <= self.start() && end >= self.end()
    }

    /// `YYYY-MM-DD`, the index directory name.
    pub fn dir_name(self) -> String {
        let (year, month, day) = civil_from_days(self.0);
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// The inverse of [`LogDay::dir_name`]; anything else (other files in
    /// the directory, impossible dates) is `None`.
    pub fn parse_dir_name(name: &str) -> Option<LogDay> {
        let bytes = name.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year: i64 = name.get(0..4)?.parse().ok()?;
        let month: u32 = name.get(5..7)?.parse().ok()?;
        let day: u32 = name.get(8..10)?.parse().ok()?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let parsed = LogDay(days_from_civil(year, month, day));
        // Rejects dates like 2025-02-30 that the arithmetic would roll over.
        (parsed.dir_name() == name).then_some(parsed)
    }
}

impl fmt::Display for LogDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dir_name())
    }
}

// Howard Hinnant's `days_from_civil` / `civil_from_days` (proleptic
// Gregorian calendar, exact for the whole i64 nanosecond range).

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_map_to_their_utc_day() {
        // 2025-11-21T10:00:00Z
        let day = LogDay::of(UnixNanos(1_763_719_200_000_000_000));
        assert_eq!(day.dir_name(), "2025-11-21");
        assert_eq!(LogDay::of(day.start()), day);
        assert_eq!(LogDay::of(UnixNanos(day.end().0 - 1)), day);
        assert_eq!(LogDay::of(day.end()), LogDay(day.0 + 1));
        assert_eq!(LogDay::of(UnixNanos(0)).dir_name(), "1970-01-01");
        assert_eq!(LogDay::of(UnixNanos(-1)).dir_name(), "1969-12-31");
    }

    #[test]
    fn directory_names_round_trip_and_reject_junk() {
        for name in ["2024-02-29", "1970-01-01", "2262-04-11", "2000-12-31"] {
            let day = LogDay::parse_dir_name(name).expect(name);
            assert_eq!(day.dir_name(), name);
        }
        for junk in [
            "2025-02-30",
            "2025-13-01",
            "2025-1-01",
            "meta.json",
            "2025-01-01x",
            "",
        ] {
            assert_eq!(LogDay::parse_dir_name(junk), None, "{junk}");
        }
    }

    #[test]
    fn coverage_is_half_open() {
        let day = LogDay(20_000);
        assert!(day.covered_by(day.start(), day.end()));
        assert!(!day.covered_by(UnixNanos(day.start().0 + 1), day.end()));
        assert!(!day.covered_by(day.start(), UnixNanos(day.end().0 - 1)));
    }

    proptest::proptest! {
        #[test]
        fn every_timestamp_has_a_parsable_day(nanos in proptest::num::i64::ANY) {
            let day = LogDay::of(UnixNanos(nanos));
            proptest::prop_assert!(day.start().0 <= nanos);
            proptest::prop_assert_eq!(LogDay::parse_dir_name(&day.dir_name()), Some(day));
        }
    }
}
