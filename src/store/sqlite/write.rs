//! Every statement that changes the database. Used only by the writer
//! thread, which owns the one `WriteStore`.
//!
//! A group of batches is written in one transaction. Span rows are keyed by
//! (trace rowid, span id), so a retried batch inserts nothing twice and
//! summary counts only move for spans that were new.

// ahash: a fast hash with a random seed, so keys chosen by clients (trace
// ids, attribute keys) cannot be crafted to collide.
use ahash::{AHashMap as HashMap, AHashSet as HashSet};
use std::sync::Arc;

use rusqlite::{params, CachedStatement, Connection, OptionalExtension};

use super::codec;
use super::errors::{self, ErrorGroupCache};
use super::forward::{self, Outgoing};
use super::graph::{self, GraphChanges};
use super::metrics::head::MetricHead;
use super::metrics::{self, MetricsCache, SeriesLimits};
use super::rollups;
use super::span_dictionaries::{self, Packer, SpanCodecs};
use super::trace_blocks;
use super::StoreError;
use crate::model::error_group::{ErrorOccurrence, ErrorSource, OccurrenceContext};
use crate::model::metric_batch::{MetricBatch, MetricOutcome};
use crate::model::security::AuditEvent;
use crate::model::{Resource, Span, SpanBatch, StatusCode, TraceId, UnixNanos};
use crate::store::log_codec::EncodedLog;
use crate::telemetry::CacheSize;

/// Ids of dictionary rows already in the database. Cleared whenever a
/// transaction fails, because ids handed out inside it were rolled back.
///
/// Every map is a cache: a miss reads (or inserts) the row. So each is
/// bounded by starting over when it has passed its limit between two
/// transactions ([`Dictionaries::trim`]), when all it holds is committed.
/// Clients choose the keys (span names with ids in them, a resource per
/// process), and without a bound the writer's memory would grow with them.
#[derive(Default)]
struct Dictionaries {
    services: HashMap<String, i64>,
    /// (service id, span kind) → span name → operation id, so lookups by
    /// `&str` need no allocation.
    operations: HashMap<(i64, i32), HashMap<String, i64>>,
    /// Entries in `operations`, counted across its inner maps.
    operation_entries: usize,
    attribute_keys: HashMap<String, i64>,
    resources: HashMap<String, (i64, i64)>,
    scopes: HashMap<(String, String), i64>,
    span_series: rollups::SeriesCache,
    edges: graph::EdgeCache,
    metrics: MetricsCache,
    errors: ErrorGroupCache,
}

/// The writer's caches, in the order `/metrics` lists them, with the
/// entries each may hold between transactions. A cache of names holds
/// short strings (about 100 bytes an entry with the map's overhead);
/// resources are their attributes as JSON, so fewer are kept.
const CACHES: [(&str, usize); 9] = [
    ("services", 4_096),
    ("operations", 65_536),
    ("attribute_keys", 16_384),
    ("resources", 4_096),
    ("scopes", 4_096),
    ("metric_series", 50_000),
    ("span_series", rollups::CACHE_LIMIT),
    ("span_rollup_rows", rollups::CACHE_LIMIT),
    ("edge_rows", graph::CACHE_LIMIT),
];

impl Dictionaries {
    /// The entries of each cache, in [`CACHES`] order.
    fn entries(&self) -> [usize; 9] {
        let (span_series, span_rollup_rows) = self.span_series.entries();
        [
            self.services.len(),
            self.operation_entries,
            self.attribute_keys.len(),
            self.resources.len(),
            self.scopes.len(),
            self.metrics.entries(),
            span_series,
            span_rollup_rows,
            self.edges.entries(),
        ]
    }

    /// Starts over each of the name caches that has passed its limit; to
    /// be called between transactions. Returns which were cleared, in
    /// [`CACHES`] order. (The rollup and edge caches bound themselves
    /// inside the transaction, where they know which rows they changed.)
    fn trim(&mut self) -> [bool; 9] {
        let entries = self.entries();
        let over: [bool; 9] = std::array::from_fn(|index| entries[index] > CACHES[index].1);
        let [services, operations, attribute_keys, resources, scopes, metric_series, ..] = over;
        if services {
            self.services.clear();
        }
        if operations {
            self.operations.clear();
            self.operation_entries = 0;
        }
        if attribute_keys {
            self.attribute_keys.clear();
        }
        if resources {
            self.resources.clear();
        }
        if scopes {
            self.scopes.clear();
        }
        if metric_series {
            self.metrics.forget_series();
        }
        [
            services,
            operations,
            attribute_keys,
            resources,
            scopes,
            metric_series,
            false,
            false,
            false,
        ]
    }
}

/// What one committed group wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GroupStats {
    /// Spans that were new (duplicates of stored spans are not counted).
    pub spans_inserted: u64,
    pub traces_touched: u64,
    /// Log records appended to the journal.
    pub logs_inserted: u64,
    /// The journal id of the last record appended, if any.
    pub last_journal_id: Option<i64>,
    /// New spans whose metrics count in an overflow series.
    pub spans_in_overflow: u64,
    /// Exceptions (of new spans and of log records) folded into groups.
    pub errors_recorded: u64,
    /// Of those, the ones counted in an overflow group.
    pub errors_in_overflow: u64,
    /// Trace block filters dropped because their blocks got new spans.
    pub blocks_unsealed: u64,
    /// Outbox rows (and their bytes) dropped unsent: the outbox was past
    /// its size limit.
    pub outbox_dropped_rows: u64,
    pub outbox_dropped_bytes: i64,
}

/// What one retention step deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    pub traces: u64,
    pub spans: u64,
    pub metric_chunks: u64,
}

/// What one [`WriteStore::reclaim_space`] step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimed {
    pub freed_pages: u64,
    pub free_pages_left: u64,
    /// Pages the database file holds after the step, free ones included.
    pub file_pages: u64,
    /// Bytes of one page.
    pub page_size: u64,
}

impl Reclaimed {
    /// Bytes the step gave back to the file system.
    pub fn freed_bytes(&self) -> u64 {
        self.freed_pages * self.page_size
    }
}

/// The log records of one ingest request, encoded for the journal, with
/// the exceptions they carry.
pub type LogInput<'a> = (&'a [EncodedLog], &'a [ErrorOccurrence]);

pub struct WriteStore {
    conn: Connection,
    dictionaries: Dictionaries,
    span_series_limit: usize,
    metric_series_limits: SeriesLimits,
    /// Metric samples not in chunks yet, shared with the readers.
    metric_head: Arc<MetricHead>,
    /// Times each of [`CACHES`] started over at its limit.
    cache_resets: [u64; 9],
    /// Span dictionaries for the readers of this process.
    codecs: Arc<SpanCodecs>,
    /// Packs new spans' attributes and events with the newest dictionary.
    packer: Option<Packer>,
    /// Bytes the forwarding outbox holds, kept as rows come and go.
    outbox_bytes: i64,
}

/// The stored summary of a trace, as read before merging a batch into it.
struct TraceSummary {
    rowid: i64,
    /// What the trace's span starts are stored as offsets from
    /// (`traces.span_base_unix_nano`; 0 for a trace stored before it).
    span_base: i64,
    start: i64,
    end: i64,
    root_operation_id: Option<i64>,
    span_count: i64,
    error_count: i64,
    services: Vec<i64>,
}

fn parse_service_list(text: &str) -> Vec<i64> {
    text.split(',').filter_map(|id| id.parse().ok()).collect()
}

fn format_service_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// A span this group stored (not a duplicate), with its ids: what the
/// service metrics and the service graph count.
pub(super) struct NewSpan<'a> {
    pub service_id: i64,
    pub operation_id: i64,
    pub span: &'a Span,
}

/// One span resolved against the dictionaries, ready for its row.
struct PreparedSpan<'a> {
    span: &'a Span,
    resource: &'a Resource,
    operation_id: i64,
    service_id: i64,
    resource_id: i64,
    scope_id: i64,
}

impl WriteStore {
    pub(super) fn new(
        conn: Connection,
        span_series_limit: usize,
        metric_series_limits: SeriesLimits,
    ) -> Result<WriteStore, StoreError> {
        let metric_head = Arc::new(MetricHead::load(&conn)?);
        let codecs = Arc::new(SpanCodecs::load(&conn)?);
        let packer = match span_dictionaries::newest(&conn)? {
            Some((id, dictionary)) => Some(Packer::new(id, &dictionary)?),
            None => None,
        };
        let outbox_bytes = forward::outbox_bytes(&conn)?;
        Ok(WriteStore {
            outbox_bytes,
            conn,
            dictionaries: Dictionaries::default(),
            span_series_limit,
            metric_series_limits,
            metric_head,
            cache_resets: [0; 9],
            codecs,
            packer,
        })
    }

    /// Bytes the forwarding outbox holds.
    pub fn outbox_bytes(&self) -> i64 {
        self.outbox_bytes
    }

    /// Records an upstream's progress through the outbox and deletes what
    /// every one of `destinations` has.
    pub fn forward_advance(
        &mut self,
        destination: &str,
        through: i64,
        destinations: &[String],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let deleted = forward::advance(&tx, destination, through, destinations)?;
        tx.commit()?;
        self.outbox_bytes -= deleted;
        Ok(())
    }

    /// The span dictionaries, for the read pool: the writer adds each one it
    /// stores before any span is packed with it.
    pub fn span_codecs(&self) -> Arc<SpanCodecs> {
        Arc::clone(&self.codecs)
    }

    /// Stores a span dictionary and packs the spans written from now on
    /// with it; answers its id.
    pub fn store_span_dictionary(
        &mut self,
        trained: &span_dictionaries::Trained,
        now: UnixNanos,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        let id = span_dictionaries::store(&tx, trained, now.0)?;
        // Checked before the commit: a dictionary zstd cannot load is
        // never stored.
        let packer = Packer::new(id, &trained.dictionary)?;
        tx.commit()?;
        self.codecs.insert_packed(id, &trained.dictionary)?;
        self.packer = Some(packer);
        Ok(id)
    }

    /// The in-memory metric head, for the read side.
    pub fn metric_head(&self) -> Arc<MetricHead> {
        Arc::clone(&self.metric_head)
    }

    /// Makes the connection refuse writes (`PRAGMA query_only`). The writer
    /// uses it to simulate a failing disk in tests of the failure path.
    pub fn set_query_only(&mut self, on: bool) -> Result<(), StoreError> {
        self.conn.execute_batch(if on {
            "PRAGMA query_only = ON"
        } else {
            "PRAGMA query_only = OFF"
        })?;
        Ok(())
    }

    /// Writes all `batches` in one transaction and commits. On error nothing
    /// of the group is stored.
    pub fn write_group(&mut self, batches: &[&SpanBatch]) -> Result<GroupStats, StoreError> {
        self.write(batches, &[])
    }

    /// Writes span batches and journals log records, all in one
    /// transaction. On error nothing of the group is stored.
    pub fn write(
        &mut self,
        batches: &[&SpanBatch],
        logs: &[&[EncodedLog]],
    ) -> Result<GroupStats, StoreError> {
        let logs: Vec<LogInput<'_>> = logs.iter().map(|records| (*records, &[][..])).collect();
        self.write_all(batches, &logs, &[], &[], i64::MAX)
            .map(|(stats, _)| stats)
    }

    /// Writes span batches, log records and metric points, all in one
    /// transaction; returns what each metric batch's points came to. On
    /// error nothing of the group is stored.
    /// Writes a group of ingest in one transaction, with `outgoing` into
    /// the forwarding outbox (trimmed to `max_outbox_bytes`, oldest
    /// first).
    pub fn write_all(
        &mut self,
        batches: &[&SpanBatch],
        logs: &[LogInput<'_>],
        metric_batches: &[&MetricBatch],
        outgoing: &[&Outgoing],
        max_outbox_bytes: i64,
    ) -> Result<(GroupStats, Vec<MetricOutcome>), StoreError> {
        let cleared = self.dictionaries.trim();
        for (resets, cleared) in self.cache_resets.iter_mut().zip(cleared) {
            *resets += u64::from(cleared);
        }
        let result = Self::write_group_in(
            &mut self.conn,
            &mut self.dictionaries,
            self.packer.as_mut(),
            (self.span_series_limit, self.metric_series_limits),
            &self.metric_head,
            batches,
            logs,
            metric_batches,
            (outgoing, self.outbox_bytes, max_outbox_bytes),
        );
        if let Ok((stats, _)) = &result {
            let added: i64 = outgoing.iter().map(|item| item.body.len() as i64).sum();
            self.outbox_bytes += added - stats.outbox_dropped_bytes;
        }
        if result.is_err() {
            self.dictionaries = Dictionaries::default();
        } else {
            // Committed: the samples are durable and may be read.
            self.metric_head
                .append(self.dictionaries.metrics.take_pending());
        }
        result
    }

    /// Stores the trace block filters the sealer built whose blocks have
    /// not changed since; returns the index and seal id of each stored.
    pub fn seal_trace_blocks(
        &mut self,
        seals: &[Arc<trace_blocks::BlockSeal>],
    ) -> Result<Vec<(usize, i64)>, StoreError> {
        let tx = self.conn.transaction()?;
        let stored = trace_blocks::store_seals(&tx, seals)?;
        tx.commit()?;
        Ok(stored)
    }

    /// The writer's caches: entries, limit and resets of each.
    pub fn cache_sizes(&self) -> Vec<CacheSize> {
        let entries = self.dictionaries.entries();
        CACHES
            .iter()
            .zip(entries)
            .zip(self.cache_resets)
            .map(|((&(name, limit), entries), resets)| CacheSize {
                name,
                entries,
                limit,
                resets,
            })
            .collect()
    }

    /// Moves metric samples whose hour is over (at wall time `now_ms`)
    /// from the head into compressed chunks. Returns the chunks written.
    pub fn compact_metrics(&mut self, now_ms: i64) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let (chunks, compacted) =
            metrics::compact(&tx, &self.metric_head, metrics::compaction_boundary(now_ms))?;
        tx.commit()?;
        self.metric_head.compacted(compacted);
        Ok(chunks)
    }

    /// Deletes metric samples older than `cutoff_ms` and the series left
    /// without any. Returns the series deleted.
    pub fn delete_metrics_before(&mut self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let result = (|| {
            let tx = self.conn.transaction()?;
            let deleted = metrics::delete_before(&tx, &self.metric_head, cutoff_ms)?;
            tx.commit()?;
            self.metric_head.delete_before(cutoff_ms);
            Ok(deleted)
        })();
        // Series may be gone; their cached ids with them.
        self.dictionaries.metrics.clear();
        result
    }

    /// Applies a change to the alert tables in one transaction (a state
    /// change with its notifications). Returns whether it applied.
    pub fn apply_alert_change(
        &mut self,
        change: &crate::model::alert::AlertChange,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let applied = super::alerts::apply(&tx, change)?;
        if applied {
            super::security::insert_audit(&tx, audit)?;
        }
        tx.commit()?;
        Ok(applied)
    }

    /// Applies a change to the security tables with its audit rows, in one
    /// transaction. Returns the new key's id for `CreateKey`, the rows
    /// affected otherwise.
    pub fn apply_security_change(
        &mut self,
        change: &crate::model::security::SecurityChange,
        audit: &[AuditEvent],
    ) -> Result<i64, StoreError> {
        let tx = self.conn.transaction()?;
        let result = super::security::apply(&tx, change)?;
        super::security::insert_audit(&tx, audit)?;
        tx.commit()?;
        Ok(result)
    }

    /// Deletes alert instances resolved before `cutoff`, with their
    /// notifications. Returns the instances deleted.
    pub fn delete_resolved_alerts_before(&mut self, cutoff: UnixNanos) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let deleted = super::alerts::delete_resolved_before(&tx, cutoff)?;
        tx.commit()?;
        Ok(deleted)
    }

    /// Saves or deletes a dashboard. Returns whether its target exists.
    pub fn apply_dashboard_change(
        &mut self,
        change: &crate::model::dashboard::DashboardChange,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let found = super::dashboards::apply(&tx, change)?;
        if found {
            super::security::insert_audit(&tx, audit)?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// Resolves, ignores or reopens an error group. Returns whether the
    /// group exists.
    pub fn apply_error_action(
        &mut self,
        id: i64,
        action: crate::model::error_group::ErrorAction,
        now: UnixNanos,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let found = errors::apply_action(&tx, id, action, now)?;
        if found {
            super::security::insert_audit(&tx, audit)?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// Deletes error counts older than `cutoff` and the groups not seen
    /// since. Returns the groups deleted.
    pub fn delete_errors_before(&mut self, cutoff: UnixNanos) -> Result<u64, StoreError> {
        let result = (|| {
            let tx = self.conn.transaction()?;
            let deleted = errors::delete_before(&tx, cutoff)?;
            tx.commit()?;
            Ok(deleted)
        })();
        self.dictionaries.errors.forget();
        result
    }

    /// Deletes journal rows up to `up_to` once the log indexer has
    /// committed them.
    pub fn truncate_journal(&mut self, up_to: i64) -> Result<u64, StoreError> {
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM log_journal WHERE id <= ?1")?
            .execute(params![up_to])?;
        Ok(deleted as u64)
    }

    /// Whether every journaled log record has been indexed and truncated.
    pub fn journal_is_empty(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM log_journal)", [], |row| {
                row.get(0)
            })?)
    }

    /// Proves the database is writable: one tiny committed write.
    pub fn write_probe(&mut self) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES ('health_probe', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![UnixNanos::now().0.to_string()],
        )?;
        Ok(())
    }

    /// Checkpoints the WAL into the database file (used at shutdown so the
    /// directory is left compact).
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// One step of retention: up to `max_traces` traces that started
    /// before `cutoff` with their spans, rollups and edges. The step that
    /// finds fewer than that (the last of a pass) also deletes the metric
    /// chunks, resolved alerts and error counts before the cutoff, so that
    /// a pass of many steps does those once.
    pub fn retain(&mut self, cutoff: UnixNanos, max_traces: usize) -> Result<Retained, StoreError> {
        let (traces, spans) = self.delete_traces_before(cutoff, max_traces)?;
        let mut retained = Retained {
            traces,
            spans,
            metric_chunks: 0,
        };
        if traces < max_traces as u64 {
            retained.metric_chunks = self.delete_metrics_before(cutoff.0 / 1_000_000)?;
            self.delete_resolved_alerts_before(cutoff)?;
            self.delete_errors_before(cutoff)?;
        }
        Ok(retained)
    }

    /// Runs SQL on the write connection, for tests that need a shape of
    /// database the API does not make.
    #[cfg(test)]
    pub(crate) fn execute_batch_for_test(&mut self, sql: &str) -> rusqlite::Result<()> {
        self.conn.execute_batch(sql)
    }

    /// Gives up to `max_pages` free pages back to the file system
    /// (`incremental_vacuum`: the database is in incremental auto-vacuum
    /// mode) and checkpoints the WAL, truncating it to zero bytes when no
    /// reader is in the way. Bounded so ingest never waits long behind it.
    pub fn reclaim_space(&mut self, max_pages: u64) -> Result<Reclaimed, StoreError> {
        let (free_before, _) = self.page_counts()?;
        self.conn
            .execute_batch(&format!("PRAGMA incremental_vacuum({max_pages});"))?;
        let (free_after, file_pages) = self.page_counts()?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let page_size: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))?;
        Ok(Reclaimed {
            freed_pages: free_before.saturating_sub(free_after),
            free_pages_left: free_after,
            file_pages,
            page_size: page_size.max(0) as u64,
        })
    }

    /// The database's free pages and all of its pages (two header reads).
    pub fn page_counts(&self) -> Result<(u64, u64), StoreError> {
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
        let total: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))?;
        Ok((free.max(0) as u64, total.max(0) as u64))
    }

    /// Deletes up to `max_traces` traces that started before `cutoff`, with
    /// their spans, in one transaction, and takes their spans out of the
    /// service and operation counts; when fewer than `max_traces` were left
    /// (the pass's last chunk), also the rollups and edges before `cutoff`.
    /// Returns (traces, spans) deleted.
    pub fn delete_traces_before(
        &mut self,
        cutoff: UnixNanos,
        max_traces: usize,
    ) -> Result<(u64, u64), StoreError> {
        let result = Self::delete_traces_in(
            &mut self.conn,
            &mut self.dictionaries.span_series,
            cutoff,
            max_traces,
        );
        if result.is_err() {
            self.dictionaries = Dictionaries::default();
        }
        // Retention deleted rollup and edge rows the caches may hold.
        self.dictionaries.span_series.forget_rows_before(cutoff);
        self.dictionaries.edges.forget_rows_before(cutoff);
        result
    }

    fn delete_traces_in(
        conn: &mut Connection,
        series: &mut rollups::SeriesCache,
        cutoff: UnixNanos,
        max_traces: usize,
    ) -> Result<(u64, u64), StoreError> {
        let tx = conn.transaction()?;
        let victims: Vec<(i64, i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id, start_unix_nano, services FROM traces WHERE start_unix_nano < ?1
                 ORDER BY start_unix_nano LIMIT ?2",
            )?;
            let rows = stmt.query_map(
                params![cutoff.0, i64::try_from(max_traces).unwrap_or(i64::MAX)],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?;
            rows.collect::<Result<_, _>>()?
        };
        let mut operation_counts: HashMap<i64, i64> = HashMap::new();
        let mut spans_deleted = 0u64;
        {
            // One pass over each trace's spans: the delete returns what the
            // operation counts need.
            let mut delete_spans = tx.prepare_cached(
                "DELETE FROM spans WHERE trace_rowid = ?1 RETURNING operation_id",
            )?;
            let mut delete_link = tx.prepare_cached(
                "DELETE FROM trace_services WHERE service_id = ?1 AND start_unix_nano = ?2 AND trace_rowid = ?3",
            )?;
            let mut delete_trace = tx.prepare_cached("DELETE FROM traces WHERE id = ?1")?;
            for (rowid, start, services) in &victims {
                let operations =
                    delete_spans.query_map(params![rowid], |row| row.get::<_, i64>(0))?;
                for operation_id in operations {
                    *operation_counts.entry(operation_id?).or_default() += 1;
                    spans_deleted += 1;
                }
                for service_id in parse_service_list(services) {
                    delete_link.execute(params![service_id, start, rowid])?;
                }
                delete_trace.execute(params![rowid])?;
                graph::delete_trace(&tx, *rowid)?;
            }
            let mut update_op = tx.prepare_cached(
                "UPDATE operations SET span_count = MAX(span_count - ?1, 0) WHERE id = ?2",
            )?;
            let mut update_service = tx.prepare_cached(
                "UPDATE services SET span_count = MAX(span_count - ?1, 0)
                 WHERE id = (SELECT service_id FROM operations WHERE id = ?2)",
            )?;
            for (operation_id, count) in &operation_counts {
                update_op.execute(params![count, operation_id])?;
                update_service.execute(params![count, operation_id])?;
            }
        }
        // The rollups and edges of the deleted time go once per pass, on its
        // last chunk: compacting the rollup deltas on every chunk would
        // merge them while they are still few per row.
        if victims.len() < max_traces {
            rollups::compact_pending(&tx, series)?;
            rollups::delete_before(&tx, cutoff)?;
            graph::delete_before(&tx, cutoff)?;
            trace_blocks::delete_before(&tx, cutoff.0)?;
        }
        tx.commit()?;
        Ok((victims.len() as u64, spans_deleted))
    }

    #[allow(clippy::too_many_arguments)] // the store's parts, borrowed apart
    fn write_group_in(
        conn: &mut Connection,
        dictionaries: &mut Dictionaries,
        packer: Option<&mut Packer>,
        (span_series_limit, metric_series_limits): (usize, SeriesLimits),
        metric_head: &MetricHead,
        batches: &[&SpanBatch],
        logs: &[LogInput<'_>],
        metric_batches: &[&MetricBatch],
        (outgoing, outbox_bytes, max_outbox_bytes): (&[&Outgoing], i64, i64),
    ) -> Result<(GroupStats, Vec<MetricOutcome>), StoreError> {
        let tx = conn.transaction()?;

        let mut stats = GroupStats::default();
        let mut operation_counts: HashMap<i64, i64> = HashMap::new();
        let mut service_seen: HashMap<i64, (i64, i64)> = HashMap::new();

        // Group spans by trace, keeping first-seen order so new traces get
        // rowids in arrival order (appends at the end of the spans b-tree).
        let mut trace_order: Vec<TraceId> = Vec::new();
        let mut by_trace: HashMap<TraceId, Vec<PreparedSpan<'_>>> = HashMap::new();
        for batch in batches {
            let mut resource_ids = Vec::with_capacity(batch.resources.len());
            for resource in &batch.resources {
                resource_ids.push(resource_id(&tx, dictionaries, resource)?);
            }
            let mut scope_ids = Vec::with_capacity(batch.scopes.len());
            for scope in &batch.scopes {
                scope_ids.push(scope_id(&tx, dictionaries, &scope.name, &scope.version)?);
            }
            for span in &batch.spans {
                let resource = batch
                    .resources
                    .get(span.resource)
                    .expect("ingest sets resource indexes within the batch");
                let (resource_id, service_id) = *resource_ids
                    .get(span.resource)
                    .expect("ingest sets resource indexes within the batch");
                let scope_id = *scope_ids
                    .get(span.scope)
                    .expect("ingest sets scope indexes within the batch");
                let operation_id =
                    operation_id(&tx, dictionaries, service_id, &span.name, span.kind as i32)?;
                let prepared = PreparedSpan {
                    span,
                    resource,
                    operation_id,
                    service_id,
                    resource_id,
                    scope_id,
                };
                by_trace
                    .entry(span.trace_id)
                    .or_insert_with(|| {
                        trace_order.push(span.trace_id);
                        Vec::new()
                    })
                    .push(prepared);
            }
        }

        let mut new_spans: Vec<NewSpan<'_>> = Vec::new();
        let mut occurrences: Vec<ErrorOccurrence> = Vec::new();
        let mut graph_changes = GraphChanges::default();
        let mut traces = TraceWriter::new(&tx, dictionaries, packer)?;
        let mut touched_blocks = HashSet::new();
        for trace_id in &trace_order {
            let Some(spans) = by_trace.get(trace_id) else {
                continue;
            };
            let (trace_rowid, existed, inserted) = traces.write_trace(*trace_id, spans)?;
            stats.traces_touched += 1;
            let trace_start = new_spans.len();
            for prepared in inserted {
                stats.spans_inserted += 1;
                *operation_counts.entry(prepared.operation_id).or_default() += 1;
                let seen = service_seen.entry(prepared.service_id).or_insert((0, 0));
                seen.0 += 1;
                seen.1 = seen.1.max(prepared.span.end.0);
                span_exceptions(prepared, &mut occurrences);
                new_spans.push(NewSpan {
                    service_id: prepared.service_id,
                    operation_id: prepared.operation_id,
                    span: prepared.span,
                });
            }
            if new_spans.len() > trace_start {
                graph_changes.add_trace(&tx, trace_rowid, existed, &new_spans[trace_start..])?;
                touched_blocks.insert(trace_blocks::block_of(trace_rowid));
            }
        }
        drop(traces);
        stats.blocks_unsealed = trace_blocks::unseal(&tx, touched_blocks)?;
        graph_changes.apply(&tx, &mut dictionaries.edges)?;
        stats.spans_in_overflow = rollups::record(
            &tx,
            &mut dictionaries.span_series,
            span_series_limit,
            &new_spans,
        )?;

        {
            let mut update_op = tx.prepare_cached(
                "UPDATE operations SET span_count = span_count + ?1 WHERE id = ?2",
            )?;
            for (operation_id, count) in &operation_counts {
                update_op.execute(params![count, operation_id])?;
            }
            let mut update_service = tx.prepare_cached(
                "UPDATE services SET span_count = span_count + ?1,
                     last_seen_unix_nano = MAX(last_seen_unix_nano, ?2) WHERE id = ?3",
            )?;
            for (service_id, (count, last_seen)) in &service_seen {
                update_service.execute(params![count, last_seen, service_id])?;
            }
        }
        if !logs.is_empty() {
            let received = UnixNanos::now().0;
            let mut insert = tx.prepare_cached(
                "INSERT INTO log_journal (received_unix_nano, record) VALUES (?1, ?2)",
            )?;
            for record in logs.iter().flat_map(|(records, _)| records.iter()) {
                insert.execute(params![received, &record.0])?;
                stats.logs_inserted += 1;
            }
            stats.last_journal_id = Some(tx.last_insert_rowid());
        }
        let errors: Vec<&ErrorOccurrence> = occurrences
            .iter()
            .chain(logs.iter().flat_map(|(_, errors)| errors.iter()))
            .collect();
        stats.errors_recorded = errors.len() as u64;
        stats.errors_in_overflow = errors::record(&tx, &mut dictionaries.errors, &errors)?;
        let outcomes = if metric_batches.is_empty() {
            Vec::new()
        } else {
            metrics::write_batches(
                &tx,
                &mut dictionaries.metrics,
                metric_head,
                metric_series_limits,
                metric_batches,
            )?
        };
        if !outgoing.is_empty() {
            let added = forward::append(&tx, outgoing, UnixNanos::now().0)?;
            let (rows, bytes) = forward::trim(&tx, outbox_bytes + added, max_outbox_bytes)?;
            stats.outbox_dropped_rows = rows;
            stats.outbox_dropped_bytes = bytes;
        }
        tx.commit()?;
        Ok((stats, outcomes))
    }
}

/// The exceptions a newly stored span's `exception` events record.
fn span_exceptions(prepared: &PreparedSpan<'_>, out: &mut Vec<ErrorOccurrence>) {
    let span = prepared.span;
    for event in span.events.iter().filter(|event| event.name == "exception") {
        let context = OccurrenceContext {
            service: &prepared.resource.service,
            resource: &prepared.resource.attributes,
            time: if event.time.0 > 0 {
                event.time
            } else {
                span.end
            },
            trace_id: Some(span.trace_id),
            span_id: Some(span.span_id),
            source: ErrorSource::Span,
        };
        out.extend(ErrorOccurrence::from_attributes(
            &event.attributes,
            &context,
        ));
    }
}

#[derive(Default)]
struct RowBuffers {
    attributes: Vec<u8>,
    events: Vec<u8>,
    links: Vec<u8>,
    packed_attributes: Vec<u8>,
    packed_events: Vec<u8>,
}

impl TraceSummary {
    /// A summary of nothing yet, for a trace about to be inserted.
    fn empty() -> TraceSummary {
        TraceSummary {
            rowid: 0,
            span_base: 0,
            start: i64::MAX,
            end: i64::MIN,
            root_operation_id: None,
            span_count: 0,
            error_count: 0,
            services: Vec::new(),
        }
    }

    /// Adds one newly stored span.
    fn absorb(&mut self, prepared: &PreparedSpan<'_>) {
        let span = prepared.span;
        self.span_count += 1;
        if span.status_code == StatusCode::Error {
            self.error_count += 1;
        }
        self.start = self.start.min(span.start.0);
        self.end = self.end.max(span.end.0);
        if span.parent_span_id.is_none() && self.root_operation_id.is_none() {
            self.root_operation_id = Some(prepared.operation_id);
        }
        if let Err(position) = self.services.binary_search(&prepared.service_id) {
            self.services.insert(position, prepared.service_id);
        }
    }
}

/// Writes the traces of one group, with its hot statements prepared once.
struct TraceWriter<'t> {
    conn: &'t Connection,
    dictionaries: &'t mut Dictionaries,
    packer: Option<&'t mut Packer>,
    buffers: RowBuffers,
    find_trace: CachedStatement<'t>,
    insert_trace: CachedStatement<'t>,
    update_trace: CachedStatement<'t>,
    insert_span: CachedStatement<'t>,
    insert_trace_service: CachedStatement<'t>,
    delete_trace_service: CachedStatement<'t>,
}

impl<'t> TraceWriter<'t> {
    fn new(
        conn: &'t Connection,
        dictionaries: &'t mut Dictionaries,
        packer: Option<&'t mut Packer>,
    ) -> Result<Self, StoreError> {
        Ok(TraceWriter {
            conn,
            dictionaries,
            packer,
            buffers: RowBuffers::default(),
            find_trace: conn.prepare_cached(
                "SELECT id, start_unix_nano, end_unix_nano, root_operation_id, span_count, error_count, services,
                        COALESCE(span_base_unix_nano, 0)
                 FROM traces WHERE trace_id = ?1",
            )?,
            insert_trace: conn.prepare_cached(
                "INSERT INTO traces (trace_id, start_unix_nano, end_unix_nano, root_operation_id, span_count,
                     error_count, services, span_base_unix_nano)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?2)",
            )?,
            update_trace: conn.prepare_cached(
                "UPDATE traces SET start_unix_nano = ?1, end_unix_nano = ?2, root_operation_id = ?3,
                     span_count = ?4, error_count = ?5, services = ?6 WHERE id = ?7",
            )?,
            insert_span: conn.prepare_cached(
                "INSERT OR IGNORE INTO spans (trace_rowid, span_id, parent_span_id, operation_id, start_offset_nano,
                     duration_nano, status_code, status_message, resource_id, scope_id, attributes, events, links,
                     dictionary_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?,
            insert_trace_service: conn.prepare_cached(
                "INSERT OR IGNORE INTO trace_services (service_id, start_unix_nano, trace_rowid) VALUES (?1, ?2, ?3)",
            )?,
            delete_trace_service: conn.prepare_cached(
                "DELETE FROM trace_services WHERE service_id = ?1 AND start_unix_nano = ?2 AND trace_rowid = ?3",
            )?,
        })
    }

    /// Merges one trace's spans of this group into the store; returns the
    /// spans that were new.
    /// Writes a trace's spans; answers its rowid, whether it was stored
    /// before, and the spans that were new.
    fn write_trace<'s, 'a>(
        &mut self,
        trace_id: TraceId,
        spans: &'s [PreparedSpan<'a>],
    ) -> Result<(i64, bool, Vec<&'s PreparedSpan<'a>>), StoreError> {
        match self.find_trace_summary(trace_id)? {
            None => {
                let (rowid, inserted) = self.write_new_trace(trace_id, spans)?;
                Ok((rowid, false, inserted))
            }
            Some(summary) => {
                let rowid = summary.rowid;
                Ok((rowid, true, self.merge_into_trace(summary, spans)?))
            }
        }
    }

    /// A trace not stored yet: its summary is complete before its row is
    /// inserted, so the row is written once.
    fn write_new_trace<'s, 'a>(
        &mut self,
        trace_id: TraceId,
        spans: &'s [PreparedSpan<'a>],
    ) -> Result<(i64, Vec<&'s PreparedSpan<'a>>), StoreError> {
        let mut seen = HashSet::with_capacity(spans.len());
        let unique: Vec<&PreparedSpan<'a>> = spans
            .iter()
            .filter(|p| seen.insert(p.span.span_id))
            .collect();
        let mut summary = TraceSummary::empty();
        for prepared in &unique {
            summary.absorb(prepared);
        }
        self.insert_trace.execute(params![
            &trace_id.0[..],
            summary.start,
            summary.end,
            summary.root_operation_id,
            summary.span_count,
            summary.error_count,
            format_service_list(&summary.services),
        ])?;
        summary.rowid = self.conn.last_insert_rowid();
        summary.span_base = summary.start;
        for prepared in &unique {
            let inserted = self.insert_span(summary.rowid, summary.span_base, prepared)?;
            debug_assert!(inserted, "spans of a new trace are new");
        }
        for service_id in &summary.services {
            self.insert_trace_service
                .execute(params![service_id, summary.start, summary.rowid])?;
        }
        Ok((summary.rowid, unique))
    }

    /// A trace with stored spans: insert what is new, then update its
    /// summary and, if its start moved or services joined, its
    /// `trace_services` rows.
    fn merge_into_trace<'s, 'a>(
        &mut self,
        mut summary: TraceSummary,
        spans: &'s [PreparedSpan<'a>],
    ) -> Result<Vec<&'s PreparedSpan<'a>>, StoreError> {
        let (old_start, old_services) = (summary.start, summary.services.clone());
        let mut inserted = Vec::with_capacity(spans.len());
        for prepared in spans {
            if self.insert_span(summary.rowid, summary.span_base, prepared)? {
                summary.absorb(prepared);
                inserted.push(prepared);
            }
        }
        if inserted.is_empty() {
            return Ok(inserted); // a retry of spans already stored
        }
        self.update_trace.execute(params![
            summary.start,
            summary.end,
            summary.root_operation_id,
            summary.span_count,
            summary.error_count,
            format_service_list(&summary.services),
            summary.rowid,
        ])?;
        if old_start != summary.start {
            for service_id in &old_services {
                self.delete_trace_service
                    .execute(params![service_id, old_start, summary.rowid])?;
            }
            for service_id in &summary.services {
                self.insert_trace_service.execute(params![
                    service_id,
                    summary.start,
                    summary.rowid
                ])?;
            }
        } else {
            for service_id in summary
                .services
                .iter()
                .filter(|id| !old_services.contains(id))
            {
                self.insert_trace_service.execute(params![
                    service_id,
                    summary.start,
                    summary.rowid
                ])?;
            }
        }
        Ok(inserted)
    }

    /// Inserts one span row unless (trace, span id) is already stored;
    /// returns whether it was new.
    fn insert_span(
        &mut self,
        trace_rowid: i64,
        span_base: i64,
        prepared: &PreparedSpan<'_>,
    ) -> Result<bool, StoreError> {
        let span = prepared.span;
        let (conn, dictionaries, buffers) = (self.conn, &mut *self.dictionaries, &mut self.buffers);
        let mut key_error = None;
        let mut key_id = |key: &str| match attribute_key_id(conn, dictionaries, key) {
            Ok(id) => id,
            Err(error) => {
                key_error.get_or_insert(error);
                0
            }
        };
        buffers.attributes.clear();
        buffers.events.clear();
        buffers.links.clear();
        if !span.attributes.is_empty() {
            codec::encode_attributes(&mut buffers.attributes, &span.attributes, &mut key_id);
        }
        if !span.events.is_empty() {
            codec::encode_events(&mut buffers.events, &span.events, span.start, &mut key_id);
        }
        if !span.links.is_empty() {
            codec::encode_links(&mut buffers.links, &span.links, &mut key_id);
        }
        if let Some(error) = key_error {
            return Err(error);
        }
        fn blob(buffer: &[u8]) -> Option<&[u8]> {
            (!buffer.is_empty()).then_some(buffer)
        }
        let dictionary_id = self.pack_blobs();
        let (attributes, events) = if dictionary_id.is_some() {
            (&self.buffers.packed_attributes, &self.buffers.packed_events)
        } else {
            (&self.buffers.attributes, &self.buffers.events)
        };
        let changed = self.insert_span.execute(params![
            trace_rowid,
            &span.span_id.0[..],
            span.parent_span_id.as_ref().map(|id| &id.0[..]),
            prepared.operation_id,
            span.start.0.wrapping_sub(span_base),
            span.duration_nanos(),
            span.status_code as i32,
            (!span.status_message.is_empty()).then_some(span.status_message.as_str()),
            prepared.resource_id,
            prepared.scope_id,
            blob(attributes),
            blob(events),
            blob(&self.buffers.links),
            dictionary_id,
        ])?;
        Ok(changed > 0)
    }

    /// Packs the span's encoded attributes and events (in `buffers`) with
    /// the newest dictionary; answers its id when the two packed are
    /// smaller than as encoded (one of them may have grown), `None` to
    /// store them as encoded. Links, rare, are never packed.
    fn pack_blobs(&mut self) -> Option<i64> {
        let packer = self.packer.as_deref_mut()?;
        let buffers = &mut self.buffers;
        let encoded = buffers.attributes.len() + buffers.events.len();
        if encoded == 0 {
            return None;
        }
        let mut packed = 0;
        for (source, out) in [
            (&buffers.attributes, &mut buffers.packed_attributes),
            (&buffers.events, &mut buffers.packed_events),
        ] {
            out.clear();
            if !source.is_empty() {
                packer.pack(source, out);
                packed += out.len();
            }
        }
        (packed < encoded).then(|| packer.id())
    }

    fn find_trace_summary(
        &mut self,
        trace_id: TraceId,
    ) -> Result<Option<TraceSummary>, StoreError> {
        Ok(self
            .find_trace
            .query_row(params![&trace_id.0[..]], |row| {
                Ok(TraceSummary {
                    rowid: row.get(0)?,
                    start: row.get(1)?,
                    end: row.get(2)?,
                    root_operation_id: row.get(3)?,
                    span_count: row.get(4)?,
                    error_count: row.get(5)?,
                    services: parse_service_list(&row.get::<_, String>(6)?),
                    span_base: row.get(7)?,
                })
            })
            .optional()?)
    }
}

fn service_id(
    tx: &Connection,
    dictionaries: &mut Dictionaries,
    name: &str,
) -> Result<i64, StoreError> {
    if let Some(id) = dictionaries.services.get(name) {
        return Ok(*id);
    }
    tx.prepare_cached("INSERT OR IGNORE INTO services (name) VALUES (?1)")?
        .execute(params![name])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM services WHERE name = ?1")?
        .query_row(params![name], |row| row.get(0))?;
    dictionaries.services.insert(name.to_string(), id);
    Ok(id)
}

fn operation_id(
    tx: &Connection,
    dictionaries: &mut Dictionaries,
    service_id: i64,
    name: &str,
    kind: i32,
) -> Result<i64, StoreError> {
    if let Some(id) = dictionaries
        .operations
        .get(&(service_id, kind))
        .and_then(|names| names.get(name))
    {
        return Ok(*id);
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO operations (service_id, name, kind) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![service_id, name, kind])?;
    let id: i64 = tx
        .prepare_cached(
            "SELECT id FROM operations WHERE service_id = ?1 AND name = ?2 AND kind = ?3",
        )?
        .query_row(params![service_id, name, kind], |row| row.get(0))?;
    dictionaries
        .operations
        .entry((service_id, kind))
        .or_default()
        .insert(name.to_string(), id);
    dictionaries.operation_entries += 1;
    Ok(id)
}

fn attribute_key_id(
    tx: &Connection,
    dictionaries: &mut Dictionaries,
    key: &str,
) -> Result<i64, StoreError> {
    if let Some(id) = dictionaries.attribute_keys.get(key) {
        return Ok(*id);
    }
    tx.prepare_cached("INSERT OR IGNORE INTO attribute_keys (key) VALUES (?1)")?
        .execute(params![key])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM attribute_keys WHERE key = ?1")?
        .query_row(params![key], |row| row.get(0))?;
    dictionaries.attribute_keys.insert(key.to_string(), id);
    Ok(id)
}

/// Returns (resource id, service id).
fn resource_id(
    tx: &Connection,
    dictionaries: &mut Dictionaries,
    resource: &crate::model::Resource,
) -> Result<(i64, i64), StoreError> {
    let canonical = canonical_resource_json(&resource.attributes);
    if let Some(ids) = dictionaries.resources.get(&canonical) {
        return Ok(*ids);
    }
    let service = service_id(tx, dictionaries, &resource.service)?;
    tx.prepare_cached("INSERT OR IGNORE INTO resources (service_id, attributes) VALUES (?1, ?2)")?
        .execute(params![service, canonical])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM resources WHERE attributes = ?1")?
        .query_row(params![canonical], |row| row.get(0))?;
    dictionaries.resources.insert(canonical, (id, service));
    Ok((id, service))
}

/// Resource attributes as JSON with sorted keys, so equal resources map to
/// one row whatever order their attributes came in.
pub fn canonical_resource_json(attributes: &crate::model::Attributes) -> String {
    let map: serde_json::Map<String, serde_json::Value> = attributes
        .iter()
        .map(|(key, value)| (key.clone(), value.to_json()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn scope_id(
    tx: &Connection,
    dictionaries: &mut Dictionaries,
    name: &str,
    version: &str,
) -> Result<i64, StoreError> {
    let key = (name.to_string(), version.to_string());
    if let Some(id) = dictionaries.scopes.get(&key) {
        return Ok(*id);
    }
    tx.prepare_cached("INSERT OR IGNORE INTO scopes (name, version) VALUES (?1, ?2)")?
        .execute(params![name, version])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM scopes WHERE name = ?1 AND version = ?2")?
        .query_row(params![name, version], |row| row.get(0))?;
    dictionaries.scopes.insert(key, id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttrValue, Resource, Scope, SpanEvent, SpanId, SpanKind};
    use crate::store::sqlite::read::{self, StatusFilter, TraceFilter};
    use crate::store::sqlite::{open_write_store, ReadPool, StoreOptions};

    fn span(trace: u8, id: u8, parent: Option<u8>, start: i64, end: i64, resource: usize) -> Span {
        Span {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            name: format!("op{id}"),
            kind: SpanKind::Server,
            start: UnixNanos(start),
            end: UnixNanos(end),
            status_code: if id == 3 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            status_message: String::new(),
            attributes: vec![("n".into(), AttrValue::Int(i64::from(id)))],
            events: Vec::new(),
            links: Vec::new(),
            resource,
            scope: 0,
        }
    }

    fn batch(spans: Vec<Span>) -> SpanBatch {
        SpanBatch {
            resources: vec![
                Resource {
                    service: "front".into(),
                    attributes: vec![("service.name".into(), AttrValue::String("front".into()))],
                },
                Resource {
                    service: "back".into(),
                    attributes: vec![("service.name".into(), AttrValue::String("back".into()))],
                },
            ],
            scopes: vec![Scope::default()],
            spans,
        }
    }

    fn search(conn: &Connection, filter: &TraceFilter) -> Result<read::TracePage, StoreError> {
        let cache = super::trace_blocks::FilterCache::default();
        read::search_traces(conn, filter, &cache, read::Plan::Auto)
    }

    fn filter(service: Option<&str>) -> TraceFilter {
        TraceFilter {
            service: service.map(str::to_string),
            operation: None,
            status: None,
            min_duration_nanos: None,
            max_duration_nanos: None,
            attributes: Vec::new(),
            start: UnixNanos(0),
            end: UnixNanos(i64::MAX),
            limit: 100,
            after: None,
        }
    }

    /// A span like an HTTP server's: attributes mostly repeated from span
    /// to span, an exception event with a stack trace.
    fn rich_span(trace: u8, order: u32) -> Span {
        let mut span = span(trace, 1, None, 1_000 + i64::from(order), 9_000, 0);
        span.attributes = vec![
            (
                "http.request.method".into(),
                AttrValue::String("GET".into()),
            ),
            (
                "url.full".into(),
                AttrValue::String(format!("https://shop.example/api/orders/{order}?page=2")),
            ),
            ("http.response.status_code".into(), AttrValue::Int(200)),
            ("server.port".into(), AttrValue::Int(443)),
            ("ratio".into(), AttrValue::Double(0.25)),
            ("cached".into(), AttrValue::Bool(order.is_multiple_of(2))),
            (
                "tags".into(),
                AttrValue::Array(vec![AttrValue::String("a".into()), AttrValue::Int(7)]),
            ),
        ];
        span.events = vec![SpanEvent {
            name: "exception".into(),
            time: UnixNanos(1_500),
            attributes: vec![
                ("exception.type".into(), AttrValue::String("KeyError".into())),
                (
                    "exception.stacktrace".into(),
                    AttrValue::String(format!(
                        "Traceback:\n  File \"shop/orders.py\", line {order}, in load\nKeyError: 'id'"
                    )),
                ),
            ],
        }];
        span
    }

    #[test]
    fn spans_packed_with_a_dictionary_read_back_as_written_and_are_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        let pool = ReadPool::new(dir.path(), &StoreOptions::default(), store.span_codecs());
        let before: Vec<Span> = (0..200)
            .map(|i| rich_span(1 + (i % 100) as u8, i))
            .collect();
        for chunk in before.chunks(1) {
            store
                .write_group(&[&batch(chunk.to_vec())])
                .expect("write plain");
        }
        let samples = {
            let conn = pool.get().expect("reader");
            span_dictionaries::newest_samples(&conn, pool.span_codecs(), 4000).expect("samples")
        };
        assert_eq!(samples.len(), 200, "the attributes and events of 100 spans");
        let trained = span_dictionaries::train(&samples)
            .expect("train")
            .expect("a dictionary");
        let id = store
            .store_span_dictionary(&trained, UnixNanos(5))
            .expect("store");

        let written = rich_span(200, 123_456);
        store
            .write_group(&[&batch(vec![written.clone()])])
            .expect("write packed");
        let conn = pool.get().expect("reader");
        let (dictionary_id, packed, encoded): (Option<i64>, i64, i64) = conn
            .query_row(
                "SELECT s.dictionary_id, length(s.attributes) + length(s.events),
                        length(lookout_span_blob(s.dictionary_id, s.attributes))
                          + length(lookout_span_blob(s.dictionary_id, s.events))
                 FROM spans s JOIN traces t ON t.id = s.trace_rowid WHERE t.trace_id = ?1",
                params![&[200u8; 16][..]],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("row");
        assert_eq!(dictionary_id, Some(id));
        assert!(packed * 2 < encoded, "{packed} B packed of {encoded} B");

        // Read back through every reader: the pool, a reopened store's
        // pool, and a read-only connection of another process.
        let check = |conn: &Connection| {
            let trace = read::find_trace(conn, TraceId([200; 16]))
                .expect("read")
                .expect("stored");
            assert_eq!(trace.spans[0].attributes, written.attributes);
            assert_eq!(trace.spans[0].events, written.events);
            let mut found = filter(None);
            found.limit = 1000;
            found.attributes = vec![read::AttrFilter {
                key: "url.full".into(),
                op: crate::model::AttrOp::Equal,
                value: "https://shop.example/api/orders/123456?page=2".into(),
                number: f64::NAN,
            }];
            let page = search(conn, &found).expect("search");
            assert_eq!(page.traces.len(), 1);
            found.attributes[0] = read::AttrFilter {
                key: "server.port".into(),
                op: crate::model::AttrOp::GreaterOrEqual,
                value: "443".into(),
                number: 443.0,
            };
            assert_eq!(search(conn, &found).expect("search").traces.len(), 101);
        };
        check(&conn);
        drop(conn);
        drop(pool);
        drop(store);
        let store = open_write_store(dir.path(), &StoreOptions::default()).expect("reopen");
        let pool = ReadPool::new(dir.path(), &StoreOptions::default(), store.span_codecs());
        check(&pool.get().expect("reader"));
        check(&super::super::open_read_only(dir.path()).expect("read-only"));
    }

    #[test]
    fn out_of_order_batches_merge_into_one_summary_and_retries_count_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        let pool = ReadPool::new(dir.path(), &StoreOptions::default(), store.span_codecs());
        // The child (service back) arrives first, the root (front) later and
        // starting earlier; then the child's batch is retried.
        let child = batch(vec![
            span(1, 2, Some(1), 2_000, 5_000, 1),
            span(1, 3, Some(2), 2_500, 3_000, 1),
        ]);
        let stats = store.write_group(&[&child]).expect("child");
        assert_eq!(stats.spans_inserted, 2);
        let root = batch(vec![span(1, 1, None, 1_000, 6_000, 0)]);
        store.write_group(&[&root]).expect("root");
        let retry = store.write_group(&[&child]).expect("retry");
        assert_eq!(retry.spans_inserted, 0);

        let conn = pool.get().expect("reader");
        let page = search(&conn, &filter(None)).expect("search");
        assert_eq!(page.traces.len(), 1);
        let trace = &page.traces[0];
        assert_eq!(trace.root_service.as_deref(), Some("front"));
        assert_eq!(trace.root_operation.as_deref(), Some("op1"));
        assert_eq!((trace.span_count, trace.error_count), (3, 1));
        assert_eq!(
            trace.services,
            vec!["back".to_string(), "front".to_string()]
        );
        assert_eq!(trace.duration_nanos, 5_000);
        // The start moved earlier: the service index follows it, once.
        for service in ["front", "back"] {
            let page = search(&conn, &filter(Some(service))).expect("search");
            assert_eq!(page.traces.len(), 1, "{service}");
        }
        let services = read::list_services(&conn).expect("services");
        assert_eq!(services.iter().map(|s| s.span_count).sum::<i64>(), 3);
        let mut errors = filter(None);
        errors.status = Some(StatusFilter::Ok);
        assert!(search(&conn, &errors).expect("search").traces.is_empty());
    }

    /// The starts and ends of trace `trace`'s spans, read back, by span id.
    fn span_times(conn: &Connection, trace: u8) -> Vec<(u8, i64, i64)> {
        let mut times: Vec<(u8, i64, i64)> = read::find_trace(conn, TraceId([trace; 16]))
            .expect("read")
            .expect("stored")
            .spans
            .iter()
            .map(|s| (s.span_id.0[0], s.start.0, s.start.0 + s.duration_nanos))
            .collect();
        times.sort_unstable();
        times
    }

    #[test]
    fn span_starts_read_back_exactly_however_the_trace_s_start_moves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        let pool = ReadPool::new(dir.path(), &StoreOptions::default(), store.span_codecs());
        let t0 = 1_765_000_000_123_456_789;
        // A child first; its parent starting 3 s earlier; a span an hour
        // later; and a retry of the first.
        let first = batch(vec![span(4, 2, Some(1), t0, t0 + 5_000, 1)]);
        store.write_group(&[&first]).expect("first");
        store
            .write_group(&[&batch(vec![span(
                4,
                1,
                None,
                t0 - 3_000_000_000,
                t0 + 9_000,
                0,
            )])])
            .expect("parent");
        store
            .write_group(&[&batch(vec![span(
                4,
                3,
                Some(1),
                t0 + 3_600_000_000_000,
                t0 + 3_600_000_000_007,
                1,
            )])])
            .expect("later");
        store.write_group(&[&first]).expect("retry");
        let conn = pool.get().expect("reader");
        let expected = vec![
            (1, t0 - 3_000_000_000, t0 + 9_000),
            (2, t0, t0 + 5_000),
            (3, t0 + 3_600_000_000_000, t0 + 3_600_000_000_007),
        ];
        assert_eq!(span_times(&conn, 4), expected);
        // Stored as offsets from the first write's start: a few bytes each.
        let widest: i64 = conn
            .query_row("SELECT MAX(ABS(start_offset_nano)) FROM spans", [], |row| {
                row.get(0)
            })
            .expect("offsets");
        assert_eq!(widest, 3_600_000_000_000);

        // A trace stored before offsets (its spans hold their starts, its
        // base is NULL) takes a later span and reads back the same.
        store
            .execute_batch_for_test(
                "UPDATE spans SET start_offset_nano = start_offset_nano
                     + (SELECT span_base_unix_nano FROM traces WHERE id = trace_rowid);
                 UPDATE traces SET span_base_unix_nano = NULL;",
            )
            .expect("as before offsets");
        assert_eq!(span_times(&conn, 4), expected);
        store
            .write_group(&[&batch(vec![span(4, 5, Some(1), t0 - 7, t0 + 1, 0)])])
            .expect("late");
        let mut with_late = expected.clone();
        with_late.push((5, t0 - 7, t0 + 1));
        with_late.sort_unstable();
        assert_eq!(span_times(&conn, 4), with_late);
    }

    fn rollup_counts(conn: &Connection, resolution: i64) -> Vec<(i64, i64)> {
        read::span_rollups(
            conn,
            &read::RollupFilter {
                resolution,
                start: i64::MIN,
                end: i64::MAX,
                service: None,
                operation: None,
                kinds: Vec::new(),
            },
        )
        .expect("rollups")
        .into_iter()
        .fold(std::collections::BTreeMap::new(), |mut sums, row| {
            *sums.entry(row.bucket_start).or_insert(0) += row.span_count;
            sums
        })
        .into_iter()
        .collect()
    }

    #[test]
    fn rollups_count_new_spans_once_and_go_with_retention() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        let pool = ReadPool::new(dir.path(), &StoreOptions::default(), store.span_codecs());
        const S: i64 = 1_000_000_000;
        // Two spans in minute 0, one in minute 61 (hour 1).
        let spans = batch(vec![
            span(1, 1, None, 10 * S, 11 * S, 0),
            span(1, 2, Some(1), 20 * S, 21 * S, 0),
            span(2, 1, None, 3_670 * S, 3_671 * S, 0),
        ]);
        store.write_group(&[&spans]).expect("write");
        store.write_group(&[&spans]).expect("the same spans again");
        let conn = pool.get().expect("reader");
        assert_eq!(rollup_counts(&conn, 60), [(0, 2), (3_660, 1)]);
        assert_eq!(rollup_counts(&conn, 3_600), [(0, 2), (3_600, 1)]);
        // Retention at 1 h 1 min: minute 0 and hour 0 have ended before it.
        store
            .delete_traces_before(UnixNanos(3_660 * S), 10)
            .expect("retain");
        assert_eq!(rollup_counts(&conn, 60), [(3_660, 1)]);
        assert_eq!(rollup_counts(&conn, 3_600), [(3_600, 1)]);
    }

    #[test]
    fn chunked_retention_deletes_the_rollups_on_the_pass_s_last_chunk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        let pool = ReadPool::new(dir.path(), &StoreOptions::default(), store.span_codecs());
        const S: i64 = 1_000_000_000;
        let spans = batch(vec![
            span(1, 1, None, 10 * S, 11 * S, 0),
            span(3, 1, None, 20 * S, 21 * S, 0),
            span(2, 1, None, 3_670 * S, 3_671 * S, 0),
        ]);
        store.write_group(&[&spans]).expect("write");
        let conn = pool.get().expect("reader");
        let cutoff = UnixNanos(3_660 * S);
        // Chunks of one trace: two full chunks, then the last (empty) one.
        assert_eq!(store.delete_traces_before(cutoff, 1).expect("1"), (1, 1));
        assert_eq!(store.delete_traces_before(cutoff, 1).expect("2"), (1, 1));
        assert_eq!(rollup_counts(&conn, 60), [(0, 2), (3_660, 1)]);
        assert_eq!(store.delete_traces_before(cutoff, 1).expect("3"), (0, 0));
        assert_eq!(rollup_counts(&conn, 60), [(3_660, 1)]);
        assert_eq!(rollup_counts(&conn, 3_600), [(3_600, 1)]);
    }

    #[test]
    fn retention_deletes_old_traces_and_their_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        let pool = ReadPool::new(dir.path(), &StoreOptions::default(), store.span_codecs());
        let old = batch(vec![
            span(1, 1, None, 1_000, 2_000, 0),
            span(1, 2, Some(1), 1_100, 1_900, 1),
        ]);
        let new = batch(vec![span(2, 1, None, 10_000, 12_000, 0)]);
        store.write_group(&[&old, &new]).expect("write");
        assert_eq!(
            store
                .delete_traces_before(UnixNanos(5_000), 10)
                .expect("retain"),
            (1, 2)
        );
        assert_eq!(
            store
                .delete_traces_before(UnixNanos(5_000), 10)
                .expect("again"),
            (0, 0)
        );
        let conn = pool.get().expect("reader");
        assert!(read::find_trace(&conn, TraceId([1; 16]))
            .expect("find")
            .is_none());
        assert!(read::find_trace(&conn, TraceId([2; 16]))
            .expect("find")
            .is_some());
        assert!(search(&conn, &filter(Some("back")))
            .expect("search")
            .traces
            .is_empty());
        let services = read::list_services(&conn).expect("services");
        assert_eq!(
            services.len(),
            1,
            "a service with no spans left is not listed"
        );
        assert_eq!(services[0].span_count, 1);
    }

    #[test]
    fn a_failed_group_stores_nothing_and_the_store_recovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        store.set_query_only(true).expect("query only");
        assert!(store
            .write_group(&[&batch(vec![span(1, 1, None, 1, 2, 0)])])
            .is_err());
        store.set_query_only(false).expect("writable");
        // Dictionary ids handed out in the failed transaction must not leak.
        let stats = store
            .write_group(&[&batch(vec![span(1, 1, None, 1, 2, 0)])])
            .expect("write");
        assert_eq!(stats.spans_inserted, 1);
        let pool = ReadPool::new(dir.path(), &StoreOptions::default(), store.span_codecs());
        let conn = pool.get().expect("reader");
        let trace = read::find_trace(&conn, TraceId([1; 16]))
            .expect("find")
            .expect("stored");
        assert_eq!(trace.spans[0].service, "front");
        assert!(trace.spans[0]
            .attributes
            .contains(&("n".to_string(), crate::model::AttrValue::Int(1))));
    }

    #[test]
    fn a_cache_past_its_limit_starts_over_between_transactions_and_ids_stay_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open_write_store(dir.path(), &StoreOptions::default()).expect("open");
        let scopes_limit = CACHES[4].1;
        assert_eq!(CACHES[4].0, "scopes");
        // One group with a span per scope, one scope more than the cache
        // may keep.
        let count = scopes_limit + 1;
        let mut many = batch(Vec::new());
        many.scopes = (0..count)
            .map(|n| Scope {
                name: format!("scope-{n}"),
                version: "1".into(),
            })
            .collect();
        many.spans = (0..count)
            .map(|n| {
                let mut span = span(9, 1, None, 1_000, 2_000, 0);
                span.trace_id = TraceId(u128::try_from(n).expect("small").to_be_bytes());
                span.scope = n;
                span
            })
            .collect();
        store.write_group(&[&many]).expect("write");
        let scopes = |store: &WriteStore| {
            store
                .cache_sizes()
                .into_iter()
                .find(|cache| cache.name == "scopes")
                .expect("listed")
        };
        assert_eq!(scopes(&store).entries, count);
        assert_eq!(scopes(&store).resets, 0);

        // The next group starts with the cache cleared, and the scope it
        // names again keeps its row and id.
        let mut again = batch(vec![span(200, 1, None, 3_000, 4_000, 0)]);
        again.scopes = vec![Scope {
            name: "scope-0".into(),
            version: "1".into(),
        }];
        store.write_group(&[&again]).expect("write again");
        assert_eq!(scopes(&store).entries, 1);
        assert_eq!(scopes(&store).resets, 1);
        let rows: i64 = store
            .conn
            .query_row("SELECT count(*) FROM scopes", [], |row| row.get(0))
            .expect("count");
        assert_eq!(rows, i64::try_from(count).expect("small"));
        let scope_of = |trace: TraceId| -> i64 {
            store
                .conn
                .query_row(
                    "SELECT s.scope_id FROM spans s JOIN traces t ON t.rowid = s.trace_rowid
                     WHERE t.trace_id = ?1",
                    params![&trace.0[..]],
                    |row| row.get(0),
                )
                .expect("scope")
        };
        assert_eq!(
            scope_of(TraceId([200; 16])),
            scope_of(TraceId(0u128.to_be_bytes()))
        );
    }
}
