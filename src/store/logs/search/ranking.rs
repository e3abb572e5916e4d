//! Ranking a day's matches in page order without sorting them all: widening
//! time windows within the day, segments visited by their timestamp
//! bounds, and one rank number for both orders.

use std::cmp::Reverse;
use std::sync::Arc;

use tantivy::collector::Collector;
use tantivy::query::{EnableScoring, Query};
use tantivy::SegmentOrdinal;

use super::super::columns::ColumnCache;
use super::super::{LogDay, LogIndexError};
use super::collectors::{Keyed, TopKeys};
use super::filter_query;
use super::types::{LogCursor, LogFilter, PageRequest, SortOrder};
use crate::model::UnixNanos;

/// Width of the first time window ranked in a day.
const FIRST_WINDOW_NANOS: i64 = 3_600_000_000_000;

/// A day with at most this many matches is ranked in one pass: reading
/// that many sort keys costs less than a few extra windowed searches.
#[cfg(not(test))]
pub(super) const SINGLE_PASS_MAX_MATCHES: usize = 10_000;
/// Small in tests, so that small corpora exercise both ways of ranking.
#[cfg(test)]
pub(super) const SINGLE_PASS_MAX_MATCHES: usize = 8;

/// The first `wanted` matches of one day in the page's order, and whether
/// any ranking ran (the cursor may have passed the whole day).
///
/// When `windowed`, ranking starts with the hour nearest the page's edge of
/// the day and widens the window fourfold until the page is full or the day
/// is exhausted. Windows are disjoint and visited in order, so every match
/// in a window precedes every match in the next: for a common word on a
/// busy day this ranks the last hour's matches instead of the whole day's.
/// Otherwise the day is ranked in one pass.
pub(super) fn rank_day(
    searcher: &tantivy::Searcher,
    columns: &Arc<ColumnCache>,
    filter: &LogFilter,
    day: LogDay,
    page: &PageRequest,
    wanted: usize,
    windowed: bool,
) -> Result<(Vec<Keyed>, bool), LogIndexError> {
    let mut low = filter.start.max(day.start());
    let mut high = filter.end.min(day.end());
    if let Some(cursor) = page.after {
        match page.order {
            SortOrder::Desc => high = high.min(UnixNanos(cursor.timestamp.0.saturating_add(1))),
            SortOrder::Asc => low = low.max(cursor.timestamp),
        }
    }
    let cutoff = page.after.map(|cursor| rank(cursor, page.order));
    let mut found: Vec<Keyed> = Vec::new();
    let mut ranked = false;
    let mut width = if windowed {
        FIRST_WINDOW_NANOS
    } else {
        i64::MAX
    };
    while low < high && found.len() < wanted {
        let (window_low, window_high) = match page.order {
            SortOrder::Desc => (UnixNanos(high.0.saturating_sub(width).max(low.0)), high),
            SortOrder::Asc => (low, UnixNanos(low.0.saturating_add(width).min(high.0))),
        };
        let whole_day = window_low <= day.start() && window_high >= day.end();
        let range = (!whole_day).then_some((window_low, window_high));
        // One pass over a day with few matches checks their timestamps in
        // the collector, which reads them anyway; a range clause would
        // make tantivy scan the timestamp column for the whole segment.
        let (query_range, collector_range) = if windowed {
            (range, None)
        } else {
            (None, range)
        };
        let collector = TopKeys {
            columns: Arc::clone(columns),
            limit: wanted - found.len(),
            order: page.order,
            cutoff,
            floor: None,
            range: collector_range.map(|(start, end)| (start.0, end.0)),
        };
        let query = filter_query(filter, query_range);
        found.extend(rank_segments(searcher, &*query, &collector)?);
        ranked = true;
        match page.order {
            SortOrder::Desc => high = window_low,
            SortOrder::Asc => low = window_high,
        }
        width = width.saturating_mul(4);
    }
    Ok((found, ranked))
}

/// Runs `collector` segment by segment, those that can hold the best keys
/// first (by their timestamp column's bounds), and stops at the first
/// segment that cannot beat the page once it is full: newest-first search
/// of a recent page reads the newest segments only.
fn rank_segments(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    collector: &TopKeys,
) -> Result<Vec<Keyed>, LogIndexError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut segments = Vec::with_capacity(searcher.segment_readers().len());
    for (ordinal, reader) in searcher.segment_readers().iter().enumerate() {
        if reader.num_docs() == 0 {
            continue;
        }
        let timestamps = &collector.columns.get(reader)?.timestamps;
        let best = match collector.order {
            SortOrder::Desc => LogCursor {
                timestamp: UnixNanos(timestamps.max_value()),
                journal_id: u64::MAX,
            },
            SortOrder::Asc => LogCursor {
                timestamp: UnixNanos(timestamps.min_value()),
                journal_id: 0,
            },
        };
        segments.push((
            rank(best, collector.order),
            ordinal as SegmentOrdinal,
            reader,
        ));
    }
    segments.sort_unstable_by_key(|(best, _, _)| Reverse(*best));
    let mut kept: Vec<Keyed> = Vec::new();
    for (best, ordinal, reader) in segments {
        let floor = kept
            .get(collector.limit.saturating_sub(1))
            .filter(|_| kept.len() >= collector.limit)
            .map(|worst| worst.0);
        if floor.is_some_and(|floor| best <= floor) {
            break;
        }
        let segment_collector = TopKeys {
            floor,
            ..collector.clone()
        };
        kept.extend(segment_collector.collect_segment(&*weight, ordinal, reader)?);
        kept.sort_unstable_by_key(|keyed| Reverse(keyed.0));
        kept.truncate(collector.limit);
    }
    Ok(kept)
}

/// Maps a key to a number that is larger the earlier the key comes in
/// `order`, so one "keep the largest" heap serves both orders.
pub(super) fn rank(cursor: LogCursor, order: SortOrder) -> u128 {
    // Flipping the sign bit makes i64 order agree with u64 order.
    let timestamp = (cursor.timestamp.0 as u64) ^ (1 << 63);
    let key = (u128::from(timestamp) << 64) | u128::from(cursor.journal_id);
    match order {
        SortOrder::Desc => key,
        SortOrder::Asc => u128::MAX - key,
    }
}
