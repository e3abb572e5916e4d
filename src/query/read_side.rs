//! [`ReadSide`]: every read the API serves, executed on pooled read-only
//! SQLite connections and the log indexes' searchers. Blocking: callers on
//! an async runtime run it on a blocking pool.

use std::sync::Arc;
use std::time::Duration;

use super::logs::parse_trace_logs;
use super::params::Params;
use super::QueryError;
use crate::model::alert::{AlertInstance, AlertRule, Notification, SeriesState};
use crate::model::dashboard::StoredDashboard;
use crate::model::error_group::{ErrorFilter, ErrorGroup, ErrorGroupCount, ErrorGroupDetail};
use crate::model::security::{AuditFilter, SecurityState, StoredAuditEvent};
use crate::model::{TimeWindow, TraceId, UnixNanos};
use crate::store::logs::{HistogramBucket, LogDay, LogFilter, LogIndexes, LogPage, PageRequest};
use crate::store::sqlite::metrics::head::MetricHead;
use crate::store::sqlite::read::{
    self, OperationInfo, ServiceInfo, StorageCounts, StoredTrace, TraceFilter, TracePage,
};
use crate::store::sqlite::trace_blocks::FilterCache;
use crate::store::sqlite::{alerts, dashboards, errors, security};
use crate::store::ReadPool;

/// Journal rows not yet committed to the log index.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct IndexLag {
    pub records: i64,
    /// How long the oldest of them has waited.
    pub oldest_seconds: f64,
}

/// What `/api/stats` shows from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCounts {
    pub counts: StorageCounts,
    /// Start of the oldest and of the newest stored trace.
    pub trace_range: Option<(UnixNanos, UnixNanos)>,
    pub log_days: Vec<LogDay>,
    /// The oldest record kept, by signal: the effective retention.
    pub oldest: OldestKept,
}

/// The oldest record kept of each signal (`None`: none kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OldestKept {
    pub traces: Option<UnixNanos>,
    pub logs: Option<UnixNanos>,
    pub metrics: Option<UnixNanos>,
}

impl OldestKept {
    /// By signal name: the oldest record's time and its age in seconds
    /// at `now`.
    pub fn by_signal(&self, now: UnixNanos) -> [(&'static str, Option<(UnixNanos, f64)>); 3] {
        let age = |at: Option<UnixNanos>| at.map(|at| (at, (now.0 - at.0).max(0) as f64 / 1e9));
        [
            ("traces", age(self.traces)),
            ("logs", age(self.logs)),
            ("metrics", age(self.metrics)),
        ]
    }
}

/// The read side's handles; cheap to share.
pub struct ReadSide {
    reads: Arc<ReadPool>,
    logs: LogIndexes,
    retention: Duration,
    /// Metric samples not in chunks yet (written by the writer).
    metric_head: Arc<MetricHead>,
    /// Decoded trace block filters, shared by all searches (and primed by
    /// the block sealer at start).
    trace_blocks: Arc<FilterCache>,
}

impl ReadSide {
    pub fn new(
        reads: Arc<ReadPool>,
        logs: LogIndexes,
        retention: Duration,
        metric_head: Arc<MetricHead>,
        trace_blocks: Arc<FilterCache>,
    ) -> ReadSide {
        ReadSide {
            reads,
            logs,
            retention,
            metric_head,
            trace_blocks,
        }
    }

    pub fn services(&self) -> Result<Vec<ServiceInfo>, QueryError> {
        Ok(read::list_services(&*self.reads.get()?)?)
    }

    /// Operations of a service; `None` if the service is unknown.
    pub fn operations(&self, service: &str) -> Result<Option<Vec<OperationInfo>>, QueryError> {
        Ok(read::list_operations(&*self.reads.get()?, service)?)
    }

    /// Every metric series on one read connection: what a PromQL query
    /// evaluates over.
    pub fn metric_source(&self) -> Result<super::metrics::AllSeries<'_>, QueryError> {
        Ok(super::metrics::AllSeries {
            conn: self.reads.get()?,
            head: &self.metric_head,
            now_ms: UnixNanos::now().0 / 1_000_000,
        })
    }

    /// A PromQL instant query at `time_ms`.
    pub fn promql_instant(
        &self,
        query: &str,
        time_ms: i64,
        options: &super::promql::EngineOptions,
    ) -> Result<super::promql::Value, QueryError> {
        let source = self.metric_source()?;
        Ok(super::promql::instant_query(
            &source, query, time_ms, options,
        )?)
    }

    /// A PromQL range query.
    pub fn promql_range(
        &self,
        query: &str,
        (start_ms, end_ms, step_ms): (i64, i64, i64),
        options: &super::promql::EngineOptions,
    ) -> Result<super::promql::Value, QueryError> {
        let source = self.metric_source()?;
        Ok(super::promql::range_query(
            &source, query, start_ms, end_ms, step_ms, options,
        )?)
    }

    /// Label sets of the series matching any of `matcher_sets` (all when
    /// empty) with samples in `[start, end]` (unix ms), sorted: stored
    /// series and the span-derived ones (looked for within retention).
    pub fn metric_series(
        &self,
        matcher_sets: &[Vec<crate::model::metric::Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<crate::model::metric::Labels>, QueryError> {
        let conn = self.reads.get()?;
        let mut labels = crate::store::sqlite::metrics::read::series_in_range(
            &conn,
            &self.metric_head,
            matcher_sets,
            start,
            end,
        )?;
        let now_ms = UnixNanos::now().0 / 1_000_000;
        let spans = super::span_series::SpanSeries {
            conn: &conn,
            now_ms,
        };
        let kept_from = now_ms.saturating_sub(self.retention.as_millis() as i64);
        let all_span_series = [crate::model::metric::Matcher::new(
            crate::model::metric::METRIC_NAME,
            crate::model::metric::MatchOp::Regex,
            "traces_.*",
        )
        .map_err(|error| QueryError::Invalid(error.to_string()))?];
        let sets: Vec<&[crate::model::metric::Matcher]> = if matcher_sets.is_empty() {
            vec![&all_span_series]
        } else {
            matcher_sets.iter().map(Vec::as_slice).collect()
        };
        for matchers in sets {
            // Listed from the series dictionary, not computed from samples:
            // the label browsers ask often and over long ranges.
            labels.extend(spans.label_sets(matchers, start.max(kept_from))?);
        }
        labels.sort();
        labels.dedup();
        Ok(labels)
    }

    /// Metric samples held in memory, not in chunks yet.
    pub fn metric_head_samples(&self) -> usize {
        self.metric_head.len()
    }

    /// Every metric family (stored and span-derived) with its type, unit,
    /// help and series count, by name.
    pub fn metric_families(
        &self,
    ) -> Result<Vec<crate::store::sqlite::metrics::read::FamilyInfo>, QueryError> {
        let conn = self.reads.get()?;
        let mut families = crate::store::sqlite::metrics::read::families(&conn)?;
        families.extend(super::span_series::families(&conn)?);
        families.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(families)
    }

    /// Exemplars of the series matching `matchers` in `[start, end]`.
    pub fn metric_exemplars(
        &self,
        matchers: &[crate::model::metric::Matcher],
        start: i64,
        end: i64,
        limit: usize,
    ) -> Result<Vec<crate::store::sqlite::metrics::read::StoredExemplar>, QueryError> {
        Ok(crate::store::sqlite::metrics::read::exemplars(
            &*self.reads.get()?,
            matchers,
            start,
            end,
            limit,
        )?)
    }

    /// The service graph over `[start, end)` (unix seconds).
    pub fn dependencies(
        &self,
        start: i64,
        end: i64,
    ) -> Result<Vec<super::graph::Edge>, QueryError> {
        let conn = self.reads.get()?;
        super::graph::dependencies(start, end, |resolution, from, to| {
            Ok(read::service_edges(&conn, resolution, from, to)?)
        })
    }

    /// RED series from the span rollups.
    pub fn red(
        &self,
        query: &super::red::RedQuery,
    ) -> Result<Vec<super::red::RedPoint>, QueryError> {
        let conn = self.reads.get()?;
        super::red::red(query, |filter, visit| {
            Ok(read::visit_span_rollups(&conn, filter, visit)?)
        })
    }

    /// The totals of the selected spans from the span rollups.
    pub fn span_totals(
        &self,
        spans: &super::red::SpanSelection,
    ) -> Result<super::red::Red, QueryError> {
        let conn = self.reads.get()?;
        super::red::totals(spans, |filter, visit| {
            Ok(read::visit_span_rollups(&conn, filter, visit)?)
        })
    }

    /// RED totals per service or operation from the span rollups.
    pub fn metrics_summary(
        &self,
        query: &super::red::SummaryQuery,
    ) -> Result<Vec<super::red::SummaryGroup>, QueryError> {
        let conn = self.reads.get()?;
        super::red::summary(query, |filter| Ok(read::span_rollups(&conn, filter)?))
    }

    /// The exact number of log records matching `filter`.
    pub fn count_logs(&self, filter: &LogFilter) -> Result<u64, QueryError> {
        Ok(self.logs.count(filter)?)
    }

    /// The admin password hash, the sessions not expired by `now`, and the
    /// managed keys not revoked: what the server keeps in memory.
    pub fn security_state(&self, now: UnixNanos) -> Result<SecurityState, QueryError> {
        let conn = self.reads.get()?;
        Ok(SecurityState {
            password_hash: security::password_hash(&conn)?,
            sessions: security::live_sessions(&conn, now)?,
            keys: security::active_keys(&conn)?,
            keys_ever_created: security::any_key_created(&conn)?,
        })
    }

    /// A page of audit events, newest first, and whether more follow.
    pub fn audit_events(
        &self,
        filter: &AuditFilter,
    ) -> Result<(Vec<StoredAuditEvent>, bool), QueryError> {
        Ok(security::audit_events(&*self.reads.get()?, filter)?)
    }

    /// Every saved dashboard, by title.
    pub fn dashboards(&self) -> Result<Vec<StoredDashboard>, QueryError> {
        Ok(dashboards::list(&*self.reads.get()?)?)
    }

    pub fn dashboard(&self, id: &str) -> Result<Option<StoredDashboard>, QueryError> {
        Ok(dashboards::find(&*self.reads.get()?, id)?)
    }

    /// One page of error groups, and whether more follow.
    pub fn error_groups(
        &self,
        filter: &ErrorFilter,
    ) -> Result<(Vec<ErrorGroup>, bool), QueryError> {
        Ok(errors::list_groups(&*self.reads.get()?, filter)?)
    }

    /// An error group with its counts per `step_minutes` over the range
    /// and its releases.
    pub fn error_group(
        &self,
        id: i64,
        range: (UnixNanos, UnixNanos),
        step_minutes: i64,
    ) -> Result<Option<ErrorGroupDetail>, QueryError> {
        Ok(errors::find_group(
            &*self.reads.get()?,
            id,
            range,
            step_minutes,
        )?)
    }

    /// Occurrences in the range of every open or regressed error group.
    pub fn error_group_counts(
        &self,
        service: Option<&str>,
        range: (UnixNanos, UnixNanos),
    ) -> Result<Vec<ErrorGroupCount>, QueryError> {
        Ok(errors::window_counts(&*self.reads.get()?, service, range)?)
    }

    /// Alert rules by name (only enabled ones with `enabled_only`).
    pub fn alert_rules(&self, enabled_only: bool) -> Result<Vec<AlertRule>, QueryError> {
        Ok(alerts::list_rules(&*self.reads.get()?, enabled_only)?)
    }

    pub fn alert_rule(&self, id: &str) -> Result<Option<AlertRule>, QueryError> {
        Ok(alerts::find_rule(&*self.reads.get()?, id)?)
    }

    /// What the alert engine remembers of every series.
    pub fn alert_series(&self) -> Result<Vec<SeriesState>, QueryError> {
        Ok(alerts::list_series(&*self.reads.get()?)?)
    }

    pub fn alert_instances(
        &self,
        filter: &alerts::InstanceFilter,
    ) -> Result<Vec<AlertInstance>, QueryError> {
        Ok(alerts::list_instances(&*self.reads.get()?, filter)?)
    }

    pub fn alert_instance(&self, id: &str) -> Result<Option<AlertInstance>, QueryError> {
        Ok(alerts::find_instance(&*self.reads.get()?, id)?)
    }

    /// Open instances: (firing, acknowledged).
    pub fn alert_counts(&self) -> Result<(u64, u64), QueryError> {
        Ok(alerts::open_counts(&*self.reads.get()?)?)
    }

    pub fn instance_notifications(
        &self,
        instance_id: &str,
    ) -> Result<Vec<Notification>, QueryError> {
        Ok(alerts::instance_notifications(
            &*self.reads.get()?,
            instance_id,
        )?)
    }

    pub fn notification(&self, id: &str) -> Result<Option<Notification>, QueryError> {
        Ok(alerts::find_notification(&*self.reads.get()?, id)?)
    }

    /// Pending notifications due by `now`, oldest first.
    pub fn due_notifications(
        &self,
        now: UnixNanos,
        limit: usize,
    ) -> Result<Vec<Notification>, QueryError> {
        Ok(alerts::due_notifications(&*self.reads.get()?, now, limit)?)
    }

    /// Notifications not delivered: (pending, failed).
    pub fn notification_counts(&self) -> Result<(u64, u64), QueryError> {
        Ok(alerts::notification_counts(&*self.reads.get()?)?)
    }

    /// Instances open now or resolved since `resolved_since`.
    pub fn instances_to_sync(
        &self,
        resolved_since: UnixNanos,
    ) -> Result<Vec<AlertInstance>, QueryError> {
        Ok(alerts::instances_to_sync(
            &*self.reads.get()?,
            resolved_since,
        )?)
    }

    pub fn search_traces(&self, filter: &TraceFilter) -> Result<TracePage, QueryError> {
        Ok(read::search_traces(
            &*self.reads.get()?,
            filter,
            &self.trace_blocks,
            read::Plan::Auto,
        )?)
    }

    /// Every span of a trace; `None` if none is stored.
    pub fn trace(&self, trace_id: TraceId) -> Result<Option<StoredTrace>, QueryError> {
        Ok(read::find_trace(&*self.reads.get()?, trace_id)?)
    }

    pub fn search_logs(
        &self,
        filter: &LogFilter,
        page: &PageRequest,
    ) -> Result<LogPage, QueryError> {
        Ok(self.logs.search(filter, page)?)
    }

    pub fn log_histogram(
        &self,
        filter: &LogFilter,
        buckets: usize,
    ) -> Result<Vec<HistogramBucket>, QueryError> {
        Ok(self.logs.histogram(filter, buckets)?)
    }

    /// The logs carrying `trace_id`, with the defaults of
    /// [`parse_trace_logs`] (the trace's own range is looked up here).
    pub fn trace_logs(
        &self,
        trace_id: TraceId,
        params: &Params,
        now: UnixNanos,
    ) -> Result<LogPage, QueryError> {
        let bounds = read::trace_bounds(&*self.reads.get()?, trace_id)?
            .map(|(start, end)| (UnixNanos(start), UnixNanos(end)));
        let kept = TimeWindow::kept(self.retention, now);
        let (filter, page) = parse_trace_logs(params, trace_id, bounds, kept, now)?;
        self.search_logs(&filter, &page)
    }

    /// Row counts, the stored trace range and the log days.
    pub fn stored_counts(&self) -> Result<StoredCounts, QueryError> {
        let conn = self.reads.get()?;
        Ok(StoredCounts {
            counts: read::storage_counts(&conn)?,
            trace_range: read::trace_time_range(&conn)?
                .map(|(oldest, newest)| (UnixNanos(oldest), UnixNanos(newest))),
            log_days: self.logs.days(),
            oldest: self.oldest_kept()?,
        })
    }

    /// The oldest record kept of each signal.
    pub fn oldest_kept(&self) -> Result<OldestKept, QueryError> {
        let stored = read::oldest_times(&*self.reads.get()?)?;
        Ok(OldestKept {
            traces: stored.traces,
            logs: self.logs.oldest_timestamp()?,
            metrics: stored.metrics,
        })
    }

    /// A trivial read: SQLite answers.
    pub fn ping(&self) -> Result<(), QueryError> {
        Ok(read::ping(&*self.reads.get()?)?)
    }

    /// Journal rows above `indexed_through` and how long the oldest waited.
    pub fn index_lag(&self, indexed_through: i64, now: UnixNanos) -> Result<IndexLag, QueryError> {
        let (records, oldest) = read::journal_backlog(&*self.reads.get()?, indexed_through)?;
        let oldest_seconds = oldest.map_or(0.0, |received| {
            now.0.saturating_sub(received).max(0) as f64 / 1e9
        });
        Ok(IndexLag {
            records,
            oldest_seconds,
        })
    }
}
