//! The three tantivy collectors of log search. Each reads only the fast
//! columns cached per segment (`columns.rs`), never stored documents:
//! `CountInRange` counts matches in a time range, `TopKeys` keeps the best
//! page of `(timestamp, journal id)` keys, `HistogramCollector` counts
//! matches per time bucket and severity.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use super::super::columns::{ColumnCache, SegmentColumns};
use super::ranking::rank;
use super::types::{LogCursor, SortOrder};
use crate::model::{Severity, UnixNanos};

/// Counts matches with a timestamp in `[start, end)`.
pub(super) struct CountInRange {
    pub(super) columns: Arc<ColumnCache>,
    pub(super) start: i64,
    pub(super) end: i64,
}

pub(super) struct CountInRangeSegment {
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

/// The best `limit` documents by `(timestamp, journal id)` in `order`,
/// after the cutoff (a cursor's rank) if there is one, better than the
/// floor (the worst rank already on a full page) if there is one, and with
/// timestamps in `[start, end)` if a range is given.
#[derive(Clone)]
pub(super) struct TopKeys {
    pub(super) columns: Arc<ColumnCache>,
    pub(super) limit: usize,
    pub(super) order: SortOrder,
    pub(super) cutoff: Option<u128>,
    pub(super) floor: Option<u128>,
    pub(super) range: Option<(i64, i64)>,
}

pub(super) struct TopKeysSegment {
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

pub(super) type Keyed = (u128, LogCursor, DocAddress);

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
pub(super) const LEVELS: usize = 7;
pub(super) const LEVEL_NAMES: [&str; LEVELS] = [
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

pub(super) struct HistogramCollector {
    pub(super) columns: Arc<ColumnCache>,
    pub(super) start: i64,
    pub(super) width: i128,
    pub(super) buckets: usize,
}

pub(super) struct HistogramSegment {
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
