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

mod collectors;
mod ranking;
#[cfg(test)]
mod tests;
mod types;

use std::ops::Bound;
use std::sync::Arc;

use tantivy::collector::{Collector, Count};
use tantivy::query::{AllQuery, BooleanQuery, EnableScoring, Query, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, SegmentOrdinal, TantivyDocument, Term};

use super::columns::ColumnCache;
use super::{LogDay, LogIndexError, LogIndexes, LogSchema};
use crate::model::UnixNanos;
use collectors::{CountInRange, HistogramCollector, LEVELS, LEVEL_NAMES};
use ranking::{rank_day, SINGLE_PASS_MAX_MATCHES};
pub use types::{
    HistogramBucket, LogCursor, LogFilter, LogHit, LogPage, PageRequest, SortOrder,
    MAX_HISTOGRAM_BUCKETS, MAX_PAGE_LIMIT,
};

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
            .map(|(_, cursor, searcher_index, address)| {
                let doc: TantivyDocument = searchers[searcher_index].doc(address)?;
                let record = schema.record_of(&doc, cursor.journal_id, cursor.timestamp)?;
                Ok(LogHit {
                    id: cursor.journal_id,
                    record,
                })
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

/// The filter's parts ANDed, restricted to `[start, end)` if given.
pub(super) fn filter_query(
    filter: &LogFilter,
    range: Option<(UnixNanos, UnixNanos)>,
) -> Box<dyn Query> {
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
        clauses.push(schema.trace_id_query(trace_id));
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
