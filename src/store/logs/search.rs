//! Log search on the day indexes: a page of records in time order with an
//! exact total, and a per-severity histogram over the same filter.
//!
//! Pages are keyset-paginated on `(timestamp, journal id)`, which is unique
//! and stable while records arrive. Newest-first search visits the day
//! indexes newest first and stops ranking once the page (plus one record,
//! to know whether there is a next page) is full; older days are only
//! counted, which for a plain word over whole days reads its posting list
//! length and no documents. Within a day, ranking starts with the newest
//! hour and widens from there (see `rank_day`), and visits segments newest
//! first by their timestamp bounds, stopping at the first that cannot beat
//! the full page (`rank_segments`). Ascending order is the mirror image.
//! The fast columns all this reads are opened once per segment
//! (`columns.rs`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::ops::Bound;

use std::sync::Arc;

use tantivy::collector::{Collector, Count, SegmentCollector};
use tantivy::query::{AllQuery, BooleanQuery, EnableScoring, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader, TantivyDocument, Term};

use super::columns::{ColumnCache, SegmentColumns};
use super::{LogDay, LogIndexError, LogIndexes, LogSchema};
use crate::model::{LogRecord, Severity, TraceId, UnixNanos};

/// Largest page a search returns; bounds the memory of one request.
pub const MAX_PAGE_LIMIT: usize = 10_000;
/// Most buckets a histogram has.
pub const MAX_HISTOGRAM_BUCKETS: usize = 1_000;

/// Which records a search or histogram covers. All parts are ANDed.
#[derive(Debug)]
pub struct LogFilter {
    /// The compiled log query (`query::logql`), if any.
    pub query: Option<Box<dyn Query>>,
    pub service: Option<String>,
    /// Minimum OTLP severity number.
    pub min_severity: Option<i32>,
    pub trace_id: Option<TraceId>,
    /// Inclusive start of the time range.
    pub start: UnixNanos,
    /// Exclusive end of the time range.
    pub end: UnixNanos,
}

impl Clone for LogFilter {
    fn clone(&self) -> Self {
        LogFilter {
            query: self.query.as_ref().map(|query| query.box_clone()),
            service: self.service.clone(),
            min_severity: self.min_severity,
            trace_id: self.trace_id,
            start: self.start,
            end: self.end,
        }
    }
}

impl LogFilter {
    /// Every record in `[start, end)`.
    pub fn new(start: UnixNanos, end: UnixNanos) -> LogFilter {
        LogFilter {
            query: None,
            service: None,
            min_severity: None,
            trace_id: None,
            start,
            end,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Newest first.
    #[default]
    Desc,
    Asc,
}

/// A position in the `(timestamp, journal id)` order: the last record of a
/// page. The next page starts strictly after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCursor {
    pub timestamp: UnixNanos,
    pub journal_id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub order: SortOrder,
    /// Records per page, clamped to 1..=[`MAX_PAGE_LIMIT`].
    pub limit: usize,
    pub after: Option<LogCursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            order: SortOrder::Desc,
            limit: 100,
            after: None,
        }
    }
}

/// One matching record with its id (the journal id).
#[derive(Debug, Clone, PartialEq)]
pub struct LogHit {
    pub id: u64,
    pub record: LogRecord,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    pub hits: Vec<LogHit>,
    /// Exact number of records matching the filter, on all pages.
    pub total: u64,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<LogCursor>,
    /// Day indexes whose matches were ranked for this page; the other days
    /// in range were only counted.
    pub days_ranked: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramBucket {
    pub start: UnixNanos,
    /// Exclusive.
    pub end: UnixNanos,
    /// Record count per severity range name (`"ERROR"`, `"INFO"`, …, and
    /// `"UNSPECIFIED"` for records without a severity); zero counts are
    /// left out.
    pub counts: BTreeMap<&'static str, u64>,
}

impl LogIndexes {
    /// A page of matching records in the requested order, with the exact
    /// total. See the module docs for how it avoids ranking every day.
    pub fn search(&self, filter: &LogFilter, page: &PageRequest) -> Result<LogPage, LogIndexError> {
        let limit = page.limit.clamp(1, MAX_PAGE_LIMIT);
        let mut slots = self.slots_in_range(filter.start, filter.end);
        if page.order == SortOrder::Desc {
            slots.reverse();
        }
        let mut total = 0u64;
        let mut days_ranked = 0;
        let mut searchers = Vec::with_capacity(slots.len());
        // (rank, cursor, index into `searchers`, address), best rank first.
        let mut found: Vec<(u128, LogCursor, usize, DocAddress)> = Vec::new();
        for slot in slots {
            let day_index = slot.open(&self.inner.options)?;
            let searcher = day_index.reader.searcher();
            day_index.columns.retain_live(&searcher);
            let day_count = count_day(&searcher, &day_index.columns, filter, slot.day)?;
            total += day_count;
            let wanted = (limit + 1).saturating_sub(found.len());
            if wanted > 0 && day_count > 0 {
                let windowed = day_count > SINGLE_PASS_MAX_MATCHES as u64;
                let (keys, ranked) = rank_day(
                    &searcher,
                    &day_index.columns,
                    filter,
                    slot.day,
                    page,
                    wanted,
                    windowed,
                )?;
                days_ranked += usize::from(ranked);
                let searcher_index = searchers.len();
                found.extend(
                    keys.into_iter()
                        .map(|(rank, cursor, address)| (rank, cursor, searcher_index, address)),
                );
            }
            searchers.push(searcher);
        }
        debug_assert!(found.windows(2).all(|pair| pair[0].0 > pair[1].0));
        let next_cursor = (found.len() > limit).then(|| found[limit - 1].1);
        found.truncate(limit);
        let schema = LogSchema::get();
        let hits = found
            .into_iter()
            .map(|(_, _, searcher_index, address)| {
                let doc: TantivyDocument = searchers[searcher_index].doc(address)?;
                let (id, record) = schema.record_of(&doc)?;
                Ok(LogHit { id, record })
            })
            .collect::<Result<Vec<_>, LogIndexError>>()?;
        Ok(LogPage {
            hits,
            total,
            next_cursor,
            days_ranked,
        })
    }

    /// The exact number of records matching the filter.
    pub fn count(&self, filter: &LogFilter) -> Result<u64, LogIndexError> {
        let mut total = 0u64;
        for slot in self.slots_in_range(filter.start, filter.end) {
            let day_index = slot.open(&self.inner.options)?;
            let searcher = day_index.reader.searcher();
            total += count_day(&searcher, &day_index.columns, filter, slot.day)?;
        }
        Ok(total)
    }

    /// Matching records counted per time bucket and severity. The range is
    /// split into `buckets` equal parts (clamped to 1..=
    /// [`MAX_HISTOGRAM_BUCKETS`], and at most one per nanosecond); the
    /// counts add up to [`LogIndexes::count`] for the same filter.
    pub fn histogram(
        &self,
        filter: &LogFilter,
        buckets: usize,
    ) -> Result<Vec<HistogramBucket>, LogIndexError> {
        if filter.start >= filter.end {
            return Ok(Vec::new());
        }
        let span = i128::from(filter.end.0) - i128::from(filter.start.0);
        let wanted = buckets.clamp(1, MAX_HISTOGRAM_BUCKETS) as i128;
        let width = (span + wanted - 1) / wanted;
        let count = ((span + width - 1) / width) as usize;
        let mut totals = vec![[0u64; LEVELS]; count];
        for slot in self.slots_in_range(filter.start, filter.end) {
            let day_index = slot.open(&self.inner.options)?;
            let searcher = day_index.reader.searcher();
            let collector = HistogramCollector {
                columns: Arc::clone(&day_index.columns),
                start: filter.start.0,
                width,
                buckets: count,
            };
            let day_counts = searcher.search(&*day_query(filter, slot.day), &collector)?;
            for (total, day) in totals.iter_mut().zip(day_counts) {
                for (sum, add) in total.iter_mut().zip(day) {
                    *sum += add;
                }
            }
        }
        Ok(totals
            .into_iter()
            .enumerate()
            .map(|(index, levels)| {
                let offset = |i: i128| {
                    let nanos = i128::from(filter.start.0) + i * width;
                    UnixNanos(i64::try_from(nanos).unwrap_or(i64::MAX).min(filter.end.0))
                };
                HistogramBucket {
                    start: offset(index as i128),
                    end: offset(index as i128 + 1),
                    counts: levels
                        .iter()
                        .enumerate()
                        .filter(|(_, count)| **count > 0)
                        .map(|(level, count)| (LEVEL_NAMES[level], *count))
                        .collect(),
                }
            })
            .collect())
    }
}

/// The query for one day: the filter's parts ANDed, with the time clause
/// left out when the range covers the whole day (so that a plain term
/// query can be counted from its posting list alone).
fn day_query(filter: &LogFilter, day: LogDay) -> Box<dyn Query> {
    let range = (!day.covered_by(filter.start, filter.end)).then_some((filter.start, filter.end));
    filter_query(filter, range)
}

/// The number of records of one day matching the filter. A day the range
/// covers is counted by the query alone (a plain word: its posting list
/// lengths). Otherwise the time range is checked on the matches' cached
/// timestamps rather than by a range clause, which opens the timestamp
/// column of every segment on every search.
fn count_day(
    searcher: &tantivy::Searcher,
    columns: &Arc<ColumnCache>,
    filter: &LogFilter,
    day: LogDay,
) -> Result<u64, LogIndexError> {
    let query = filter_query(filter, None);
    if day.covered_by(filter.start, filter.end) {
        return Ok(searcher.search(&*query, &Count)? as u64);
    }
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let collector = CountInRange {
        columns: Arc::clone(columns),
        start: filter.start.0,
        end: filter.end.0,
    };
    let mut total = 0u64;
    for (ordinal, reader) in searcher.segment_readers().iter().enumerate() {
        if reader.num_docs() == 0 {
            continue;
        }
        let timestamps = &columns.get(reader)?.timestamps;
        let (first, last) = (timestamps.min_value(), timestamps.max_value());
        if last < filter.start.0 || first >= filter.end.0 {
            continue;
        }
        total += if first >= filter.start.0 && last < filter.end.0 {
            // Inside the range: the query's own count (for a plain word,
            // its posting list length).
            u64::from(weight.count(reader)?)
        } else {
            collector.collect_segment(&*weight, ordinal as SegmentOrdinal, reader)?
        };
    }
    Ok(total)
}

/// Counts matches with a timestamp in `[start, end)`.
struct CountInRange {
    columns: Arc<ColumnCache>,
    start: i64,
    end: i64,
}

struct CountInRangeSegment {
    columns: Arc<SegmentColumns>,
    start: i64,
    end: i64,
    count: u64,
}

impl Collector for CountInRange {
    type Fruit = u64;
    type Child = CountInRangeSegment;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<CountInRangeSegment> {
        Ok(CountInRangeSegment {
            columns: self.columns.get(reader)?,
            start: self.start,
            end: self.end,
            count: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<u64>) -> tantivy::Result<u64> {
        Ok(fruits.into_iter().sum())
    }
}

impl SegmentCollector for CountInRangeSegment {
    type Fruit = u64;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self
            .columns
            .timestamps
            .first(doc)
            .is_some_and(|timestamp| timestamp >= self.start && timestamp < self.end)
        {
            self.count += 1;
        }
    }

    fn harvest(self) -> u64 {
        self.count
    }
}

/// The filter's parts ANDed, restricted to `[start, end)` if given.
fn filter_query(filter: &LogFilter, range: Option<(UnixNanos, UnixNanos)>) -> Box<dyn Query> {
    let schema = LogSchema::get();
    let mut clauses: Vec<Box<dyn Query>> = Vec::new();
    if let Some(query) = &filter.query {
        clauses.push(query.box_clone());
    }
    if let Some(service) = &filter.service {
        clauses.push(Box::new(TermQuery::new(
            Term::from_field_text(schema.service, service),
            IndexRecordOption::Basic,
        )));
    }
    if let Some(min_severity) = filter.min_severity {
        clauses.push(Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(
                schema.severity_number,
                i64::from(min_severity),
            )),
            Bound::Unbounded,
        )));
    }
    if let Some(trace_id) = filter.trace_id {
        clauses.push(Box::new(TermQuery::new(
            Term::from_field_text(schema.trace_id, &trace_id.to_hex()),
            IndexRecordOption::Basic,
        )));
    }
    if let Some((start, end)) = range {
        clauses.push(Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_i64(schema.timestamp, start.0)),
            Bound::Excluded(Term::from_field_i64(schema.timestamp, end.0)),
        )));
    }
    match clauses.len() {
        0 => Box::new(AllQuery),
        1 => clauses.remove(0),
        _ => Box::new(BooleanQuery::intersection(clauses)),
    }
}

/// Width of the first time window ranked in a day.
const FIRST_WINDOW_NANOS: i64 = 3_600_000_000_000;

/// A day with at most this many matches is ranked in one pass: reading
/// that many sort keys costs less than a few extra windowed searches.
#[cfg(not(test))]
const SINGLE_PASS_MAX_MATCHES: usize = 10_000;
/// Small in tests, so that small corpora exercise both ways of ranking.
#[cfg(test)]
const SINGLE_PASS_MAX_MATCHES: usize = 8;

/// The first `wanted` matches of one day in the page's order, and whether
/// any ranking ran (the cursor may have passed the whole day).
///
/// When `windowed`, ranking starts with the hour nearest the page's edge of
/// the day and widens the window fourfold until the page is full or the day
/// is exhausted. Windows are disjoint and visited in order, so every match
/// in a window precedes every match in the next: for a common word on a
/// busy day this ranks the last hour's matches instead of the whole day's.
/// Otherwise the day is ranked in one pass.
fn rank_day(
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
fn rank(cursor: LogCursor, order: SortOrder) -> u128 {
    // Flipping the sign bit makes i64 order agree with u64 order.
    let timestamp = (cursor.timestamp.0 as u64) ^ (1 << 63);
    let key = (u128::from(timestamp) << 64) | u128::from(cursor.journal_id);
    match order {
        SortOrder::Desc => key,
        SortOrder::Asc => u128::MAX - key,
    }
}

/// The best `limit` documents by `(timestamp, journal id)` in `order`,
/// after the cutoff (a cursor's rank) if there is one, better than the
/// floor (the worst rank already on a full page) if there is one, and with
/// timestamps in `[start, end)` if a range is given.
#[derive(Clone)]
struct TopKeys {
    columns: Arc<ColumnCache>,
    limit: usize,
    order: SortOrder,
    cutoff: Option<u128>,
    floor: Option<u128>,
    range: Option<(i64, i64)>,
}

struct TopKeysSegment {
    segment: SegmentOrdinal,
    columns: Arc<SegmentColumns>,
    limit: usize,
    order: SortOrder,
    cutoff: Option<u128>,
    floor: Option<u128>,
    range: Option<(i64, i64)>,
    /// Min-heap of the best seen so far: its top is the worst kept.
    heap: BinaryHeap<Reverse<(u128, i64, u64, DocId)>>,
}

type Keyed = (u128, LogCursor, DocAddress);

impl Collector for TopKeys {
    type Fruit = Vec<Keyed>;
    type Child = TopKeysSegment;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<TopKeysSegment> {
        Ok(TopKeysSegment {
            segment,
            columns: self.columns.get(reader)?,
            limit: self.limit,
            order: self.order,
            cutoff: self.cutoff,
            floor: self.floor,
            range: self.range,
            heap: BinaryHeap::with_capacity(self.limit.min(1024) + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Keyed>>) -> tantivy::Result<Vec<Keyed>> {
        let mut all: Vec<Keyed> = fruits.into_iter().flatten().collect();
        all.sort_unstable_by_key(|keyed| Reverse(keyed.0));
        all.truncate(self.limit);
        Ok(all)
    }
}

impl SegmentCollector for TopKeysSegment {
    type Fruit = Vec<Keyed>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        if self.limit == 0 {
            return;
        }
        let (Some(timestamp), Some(journal_id)) = (
            self.columns.timestamps.first(doc),
            self.columns.ids.first(doc),
        ) else {
            return;
        };
        if self
            .range
            .is_some_and(|(start, end)| timestamp < start || timestamp >= end)
        {
            return;
        }
        let cursor = LogCursor {
            timestamp: UnixNanos(timestamp),
            journal_id,
        };
        let key_rank = rank(cursor, self.order);
        if self.cutoff.is_some_and(|cutoff| key_rank >= cutoff)
            || self.floor.is_some_and(|floor| key_rank <= floor)
        {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap
                .push(Reverse((key_rank, timestamp, journal_id, doc)));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if key_rank > worst.0 .0 {
                *worst = Reverse((key_rank, timestamp, journal_id, doc));
            }
        }
    }

    fn harvest(self) -> Vec<Keyed> {
        let segment = self.segment;
        self.heap
            .into_iter()
            .map(|Reverse((key_rank, timestamp, journal_id, doc))| {
                (
                    key_rank,
                    LogCursor {
                        timestamp: UnixNanos(timestamp),
                        journal_id,
                    },
                    DocAddress::new(segment, doc),
                )
            })
            .collect()
    }
}

/// Severity buckets of the histogram: unset, then the six OTLP ranges.
const LEVELS: usize = 7;
const LEVEL_NAMES: [&str; LEVELS] = [
    "UNSPECIFIED",
    "TRACE",
    "DEBUG",
    "INFO",
    "WARN",
    "ERROR",
    "FATAL",
];

fn level_index(severity_number: i64) -> usize {
    i32::try_from(severity_number)
        .ok()
        .and_then(Severity::from_number)
        .and_then(|severity| Severity::ALL.iter().position(|s| *s == severity))
        .map_or(0, |position| position + 1)
}

struct HistogramCollector {
    columns: Arc<ColumnCache>,
    start: i64,
    width: i128,
    buckets: usize,
}

struct HistogramSegment {
    columns: Arc<SegmentColumns>,
    start: i64,
    width: i128,
    counts: Vec<[u64; LEVELS]>,
}

impl Collector for HistogramCollector {
    type Fruit = Vec<[u64; LEVELS]>;
    type Child = HistogramSegment;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<HistogramSegment> {
        Ok(HistogramSegment {
            columns: self.columns.get(reader)?,
            start: self.start,
            width: self.width,
            counts: vec![[0; LEVELS]; self.buckets],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<[u64; LEVELS]>>) -> tantivy::Result<Self::Fruit> {
        let mut merged = vec![[0u64; LEVELS]; self.buckets];
        for fruit in fruits {
            for (total, segment) in merged.iter_mut().zip(fruit) {
                for (sum, add) in total.iter_mut().zip(segment) {
                    *sum += add;
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for HistogramSegment {
    type Fruit = Vec<[u64; LEVELS]>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(timestamp) = self.columns.timestamps.first(doc) else {
            return;
        };
        let offset = i128::from(timestamp) - i128::from(self.start);
        if offset < 0 {
            return;
        }
        let Some(bucket) = usize::try_from(offset / self.width)
            .ok()
            .and_then(|index| self.counts.get_mut(index))
        else {
            return;
        };
        bucket[level_index(self.columns.severities.first(doc).unwrap_or(0))] += 1;
    }

    fn harvest(self) -> Self::Fruit {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record_at;
    use super::super::LogIndexOptions;
    use super::*;
    use crate::model::{LogBody, SpanId};

    const DAY: i64 = super::super::day::NANOS_PER_DAY;
    /// 2025-11-21T00:00:00Z
    const BASE: i64 = 1_763_683_200_000_000_000;

    fn open(dir: &tempfile::TempDir) -> LogIndexes {
        LogIndexes::open(dir.path(), LogIndexOptions::default()).expect("open")
    }

    fn body_term(word: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(LogSchema::get().body, word),
            IndexRecordOption::Basic,
        ))
    }

    /// `count` records spread over `days` days, several per timestamp so the
    /// journal id has to break ties. Returns (id, record) in journal order.
    fn corpus(count: u64, days: i64) -> Vec<(u64, LogRecord)> {
        (1..=count)
            .map(|id| {
                let slot = (id * 7919) % (count / 3 + 1);
                let nanos = BASE + (slot as i64 * days * DAY) / (count as i64 / 3 + 1);
                let word = if id % 3 == 0 { "fizz" } else { "plain" };
                let mut record = record_at(nanos, &format!("{word} record {id}"));
                record.severity_number = [5, 9, 13, 17][(id % 4) as usize];
                record.severity_text.clear();
                record.normalize_severity();
                record.service = if id % 2 == 0 { "even" } else { "odd" }.into();
                (id, record)
            })
            .collect()
    }

    fn index(indexes: &LogIndexes, records: &[(u64, LogRecord)]) {
        let mut writer = indexes.writer().expect("writer");
        for (id, record) in records {
            writer.add(*id, record).expect("add");
        }
        writer.commit().expect("commit");
    }

    fn sorted_ids(records: &[(u64, LogRecord)], order: SortOrder) -> Vec<u64> {
        let mut keyed: Vec<(i64, u64)> = records
            .iter()
            .map(|(id, record)| (record.timestamp.0, *id))
            .collect();
        keyed.sort();
        if order == SortOrder::Desc {
            keyed.reverse();
        }
        keyed.into_iter().map(|(_, id)| id).collect()
    }

    fn all_time() -> LogFilter {
        LogFilter::new(UnixNanos(BASE - DAY), UnixNanos(BASE + 10 * DAY))
    }

    #[test]
    fn keyset_pages_cover_every_record_once_in_both_orders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = open(&dir);
        let records = corpus(3000, 3);
        index(&indexes, &records);
        for order in [SortOrder::Desc, SortOrder::Asc] {
            let filter = all_time();
            let mut page = PageRequest {
                order,
                limit: 97,
                after: None,
            };
            let mut seen = Vec::new();
            loop {
                let result = indexes.search(&filter, &page).expect("search");
                assert_eq!(result.total, 3000);
                assert!(result.hits.len() <= 97);
                seen.extend(result.hits.iter().map(|hit| hit.id));
                match result.next_cursor {
                    Some(cursor) => page.after = Some(cursor),
                    None => break,
                }
            }
            assert_eq!(seen, sorted_ids(&records, order), "{order:?}");
        }
    }

    #[test]
    fn many_segments_and_partial_days_page_and_count_like_a_sort() {
        // Shuffled in time, segments overlap; in time order (as records
        // usually arrive) they are disjoint and ranking skips most.
        let shuffled = corpus(2400, 3);
        let mut in_order: Vec<LogRecord> =
            shuffled.iter().map(|(_, record)| record.clone()).collect();
        in_order.sort_by_key(|record| record.timestamp);
        let in_order: Vec<(u64, LogRecord)> = (1..).zip(in_order).collect();
        segments_page_and_count_like_a_sort(&shuffled);
        segments_page_and_count_like_a_sort(&in_order);
    }

    fn segments_page_and_count_like_a_sort(records: &[(u64, LogRecord)]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = open(&dir);
        // A commit per 150 records: many segments per day.
        let mut writer = indexes.writer().expect("writer");
        for chunk in records.chunks(150) {
            for (id, record) in chunk {
                writer.add(*id, record).expect("add");
            }
            writer.commit().expect("commit");
        }
        drop(writer);
        let start = UnixNanos(BASE + DAY / 2);
        let end = UnixNanos(BASE + 2 * DAY + DAY / 3);
        for query in [None, Some("fizz")] {
            let mut filter = LogFilter::new(start, end);
            filter.query = query.map(body_term);
            let wanted = |record: &LogRecord| {
                record.timestamp >= start
                    && record.timestamp < end
                    && (query.is_none() || record.body.search_text().starts_with("fizz"))
            };
            let matching: Vec<(u64, LogRecord)> = records
                .iter()
                .filter(|(_, record)| wanted(record))
                .cloned()
                .collect();
            assert_eq!(
                indexes.count(&filter).expect("count"),
                matching.len() as u64,
                "{query:?}"
            );
            for order in [SortOrder::Desc, SortOrder::Asc] {
                let mut page = PageRequest {
                    order,
                    limit: 41,
                    after: None,
                };
                let mut seen = Vec::new();
                loop {
                    let result = indexes.search(&filter, &page).expect("search");
                    assert_eq!(result.total, matching.len() as u64);
                    seen.extend(result.hits.iter().map(|hit| hit.id));
                    match result.next_cursor {
                        Some(cursor) => page.after = Some(cursor),
                        None => break,
                    }
                }
                assert_eq!(seen, sorted_ids(&matching, order), "{query:?} {order:?}");
            }
        }
    }

    #[test]
    fn filtered_pages_have_exact_totals_and_stop_early() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = open(&dir);
        let records = corpus(600, 3);
        index(&indexes, &records);
        let mut filter = all_time();
        filter.query = Some(body_term("fizz"));
        filter.service = Some("even".into());
        filter.min_severity = Some(13);
        let expected: Vec<u64> = sorted_ids(&records, SortOrder::Desc)
            .into_iter()
            .filter(|id| id % 3 == 0 && id % 2 == 0 && id % 4 >= 2)
            .collect();
        let page = indexes
            .search(
                &filter,
                &PageRequest {
                    limit: 5,
                    ..PageRequest::default()
                },
            )
            .expect("search");
        assert_eq!(page.total, expected.len() as u64);
        assert_eq!(
            indexes.count(&filter).expect("count"),
            expected.len() as u64
        );
        assert_eq!(
            page.hits.iter().map(|hit| hit.id).collect::<Vec<_>>(),
            expected[..5]
        );
        // The newest day fills a page of 5, so older days are only counted.
        assert_eq!(page.days_ranked, 1);
        let whole = indexes
            .search(
                &filter,
                &PageRequest {
                    limit: 10_000,
                    ..PageRequest::default()
                },
            )
            .expect("search");
        assert_eq!(whole.hits.len(), expected.len());
        assert_eq!(whole.next_cursor, None);
        assert_eq!(whole.days_ranked, 3);
    }

    #[test]
    fn a_time_range_opens_only_the_days_it_touches() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let indexes = open(&dir);
            index(&indexes, &corpus(90, 5));
        }
        let indexes = open(&dir);
        assert_eq!(indexes.days().len(), 5);
        assert!(indexes.opened_days().is_empty());
        // From the middle of day 2 to the middle of day 3.
        let filter = LogFilter::new(
            UnixNanos(BASE + DAY + DAY / 2),
            UnixNanos(BASE + 2 * DAY + DAY / 2),
        );
        let page = indexes
            .search(&filter, &PageRequest::default())
            .expect("search");
        let opened: Vec<String> = indexes
            .opened_days()
            .into_iter()
            .map(LogDay::dir_name)
            .collect();
        assert_eq!(opened, ["2025-11-22", "2025-11-23"]);
        assert!(page.total > 0);
        for hit in &page.hits {
            assert!(hit.record.timestamp >= filter.start && hit.record.timestamp < filter.end);
        }
    }

    #[test]
    fn histogram_counts_add_up_to_the_total() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = open(&dir);
        let mut records = corpus(500, 3);
        records[0].1.severity_number = 0;
        records[0].1.severity_text.clear();
        index(&indexes, &records);
        let mut filter = LogFilter::new(UnixNanos(BASE + DAY / 3), UnixNanos(BASE + 2 * DAY + 17));
        let total = indexes.count(&filter).expect("count");
        let buckets = indexes.histogram(&filter, 60).expect("histogram");
        assert_eq!(buckets.len(), 60);
        assert_eq!(buckets[0].start, filter.start);
        assert_eq!(buckets[59].end, filter.end);
        assert!(buckets.windows(2).all(|pair| pair[0].end == pair[1].start));
        let sum: u64 = buckets.iter().flat_map(|b| b.counts.values()).sum();
        assert_eq!(sum, total);
        let errors: u64 = buckets.iter().filter_map(|b| b.counts.get("ERROR")).sum();
        filter.min_severity = Some(17);
        assert_eq!(errors, indexes.count(&filter).expect("count"));

        let whole = all_time();
        let buckets = indexes.histogram(&whole, 7).expect("histogram");
        let unset: u64 = buckets
            .iter()
            .filter_map(|b| b.counts.get("UNSPECIFIED"))
            .sum();
        assert_eq!(unset, 1);
        let sum: u64 = buckets.iter().flat_map(|b| b.counts.values()).sum();
        assert_eq!(sum, 500);
        // A range shorter than the bucket count gets one bucket per nanosecond.
        let tiny = LogFilter::new(UnixNanos(BASE), UnixNanos(BASE + 3));
        assert_eq!(indexes.histogram(&tiny, 60).expect("histogram").len(), 3);
    }

    #[test]
    fn hits_carry_the_stored_record_and_trace_filters_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = open(&dir);
        let mut record = record_at(BASE + 5, "payment declined");
        record.trace_id = Some(TraceId([3; 16]));
        record.span_id = Some(SpanId([4; 8]));
        record.body = LogBody::Json(serde_json::json!({"msg": "payment declined", "code": 51}));
        let other = record_at(BASE + 6, "payment accepted");
        index(&indexes, &[(1, record.clone()), (2, other)]);
        let mut filter = all_time();
        filter.trace_id = Some(TraceId([3; 16]));
        let page = indexes
            .search(&filter, &PageRequest::default())
            .expect("search");
        assert_eq!(page.total, 1);
        assert_eq!(page.hits, [LogHit { id: 1, record }]);
        // Structured bodies are searchable by their JSON text.
        let mut filter = all_time();
        filter.query = Some(body_term("51"));
        assert_eq!(indexes.count(&filter).expect("count"), 1);
    }

    #[test]
    fn searches_see_only_committed_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = open(&dir);
        let mut writer = indexes.writer().expect("writer");
        writer.add(1, &record_at(BASE, "one")).expect("add");
        writer.commit().expect("commit");
        writer.add(2, &record_at(BASE + 1, "two")).expect("add");
        assert_eq!(indexes.count(&all_time()).expect("count"), 1);
        writer.commit().expect("commit");
        assert_eq!(indexes.count(&all_time()).expect("count"), 2);
    }

    #[test]
    fn empty_ranges_and_missing_days_find_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let indexes = open(&dir);
        let page = indexes
            .search(&all_time(), &PageRequest::default())
            .expect("search");
        assert_eq!(
            (page.total, page.hits.len(), page.next_cursor),
            (0, 0, None)
        );
        let backwards = LogFilter::new(UnixNanos(BASE), UnixNanos(BASE - 1));
        assert!(indexes
            .histogram(&backwards, 10)
            .expect("histogram")
            .is_empty());
    }

    #[test]
    fn ranks_order_keys_in_both_directions() {
        let key = |timestamp: i64, journal_id: u64| LogCursor {
            timestamp: UnixNanos(timestamp),
            journal_id,
        };
        let desc = |c| rank(c, SortOrder::Desc);
        assert!(desc(key(5, 1)) > desc(key(4, 9)));
        assert!(desc(key(5, 2)) > desc(key(5, 1)));
        assert!(desc(key(0, 0)) > desc(key(-1, u64::MAX)));
        assert!(desc(key(i64::MIN, 0)) < desc(key(i64::MIN, 1)));
        let asc = |c| rank(c, SortOrder::Asc);
        assert!(asc(key(4, 9)) > asc(key(5, 1)));
        assert!(asc(key(-1, 3)) > asc(key(0, 0)));
    }
}
