//! The search side's vocabulary: what a search covers (`LogFilter`),
//! which page it wants (`PageRequest`, `LogCursor`) and what it answers
//! (`LogPage`, `HistogramBucket`).

use std::collections::BTreeMap;

use tantivy::query::Query;

use crate::model::{LogRecord, TraceId, UnixNanos};

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
