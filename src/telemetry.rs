//! lookout's own telemetry: the metrics registry rendered at `/metrics`
//! (Prometheus text format 0.0.4) and the `tracing` subscriber setup.
//!
//! The registry is a fixed struct of atomics rather than a dynamic
//! registry: every metric lookout exports is named here, once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Seconds buckets from 0.5 ms to ~16 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in nanoseconds-of-a-unit so it can be an atomic integer.
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: SECONDS_BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, value: f64) {
        for (bound, bucket) in SECONDS_BUCKETS.iter().zip(&self.buckets) {
            if value <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add((value.max(0.0) * 1e9) as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in SECONDS_BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = |labels: &str| {
            if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            }
        };
        let _ = writeln!(
            out,
            "{name}_sum{} {}",
            braces(labels),
            self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// HTTP request series key: (method, route pattern, status).
type RequestKey = (String, String, u16);

/// Why ingest turned items (or whole requests) away: the `reason` label of
/// `lookout_ingest_rejected_total`, named once here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RejectReason {
    /// A journal row that cannot be decoded (skipped by the indexer).
    CorruptJournalRecord,
    /// The body is not valid protobuf, JSON, gzip or JSON lines.
    Decode,
    /// One span or record failed validation (partial success).
    InvalidItem,
    TooLarge,
    UnsupportedMediaType,
    /// The write queue was full (503 + Retry-After).
    QueueFull,
    /// Log indexing is too far behind (503 + Retry-After).
    IndexLag,
    /// The transaction failed or the writer is gone.
    WriteFailed,
    /// A metric data point would have created a series beyond
    /// `--metric-series-limit` or `--metric-series-per-metric-limit`.
    SeriesLimit,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::CorruptJournalRecord,
        RejectReason::Decode,
        RejectReason::InvalidItem,
        RejectReason::TooLarge,
        RejectReason::UnsupportedMediaType,
        RejectReason::QueueFull,
        RejectReason::IndexLag,
        RejectReason::WriteFailed,
        RejectReason::SeriesLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::CorruptJournalRecord => "corrupt_journal_record",
            RejectReason::Decode => "decode",
            RejectReason::InvalidItem => "invalid_item",
            RejectReason::TooLarge => "too_large",
            RejectReason::UnsupportedMediaType => "unsupported_media_type",
            RejectReason::QueueFull => "queue_full",
            RejectReason::IndexLag => "index_lag",
            RejectReason::WriteFailed => "write_failed",
            RejectReason::SeriesLimit => "series_limit",
        }
    }
}

/// Per `--forward-otlp` upstream: what `/metrics` reports of it.
#[derive(Debug, Clone, Default)]
struct ForwardCounts {
    sent: u64,
    failed: u64,
    lag_seconds: f64,
    rejected_items: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub ingested_spans: Counter,
    /// New spans whose service metrics count in an overflow series.
    pub span_series_overflow: Counter,
    /// Trace block filters stored, and dropped again by late spans.
    pub trace_blocks_sealed: Counter,
    pub trace_blocks_unsealed: Counter,
    /// Complete trace blocks without a filter, as the sealer last saw.
    pub trace_blocks_pending: Gauge,
    /// Filters the sealer could not build (corrupt rows).
    pub trace_block_failures: Counter,
    /// Span dictionaries trained and stored, and training passes that
    /// failed.
    pub span_dictionaries_stored: Counter,
    pub span_dictionary_failures: Counter,
    /// Span dictionaries trained, stored or not.
    pub span_dictionary_trainings: Counter,
    pub ingested_logs: Counter,
    /// Exceptions grouped into error groups.
    pub errors_recorded: Counter,
    /// Exceptions counted in a service's overflow group.
    pub error_group_overflow: Counter,
    /// Bytes of free database pages given back to the file system.
    pub storage_reclaimed_bytes: Counter,
    /// Values replaced by `[REDACTED]` in spans.
    pub redacted_spans: Counter,
    /// Values replaced by `[REDACTED]` in log records.
    pub redacted_logs: Counter,
    /// OTLP metric data points stored.
    pub ingested_metric_points: Counter,
    /// Metric series created.
    pub metric_series_created: Counter,
    /// Log records added to the tantivy indexes.
    pub indexed_logs: Counter,
    pub index_commit_seconds: Histogram,
    /// Rejections by reason, counted in items where items are known, else
    /// in requests.
    rejected: Mutex<BTreeMap<RejectReason, u64>>,
    pub queue_depth: Gauge,
    pub commit_seconds: Histogram,
    pub writer_errors: Counter,
    http_requests: Mutex<BTreeMap<RequestKey, u64>>,
    /// Bytes the forwarding outbox holds.
    pub forward_outbox_bytes: Gauge,
    /// Outbox batches dropped unsent because the outbox was full.
    pub forward_dropped_outbox_full: Counter,
    /// Batches an upstream refused for good (a 4xx other than 429).
    pub forward_dropped_rejected: Counter,
    /// Per upstream: batches delivered, failed attempts, and how long the
    /// oldest waiting batch has waited (seconds, as of the last look).
    forward: Mutex<BTreeMap<String, ForwardCounts>>,
    /// OTLP/gRPC calls by method and status code name.
    grpc_requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    http_duration: Mutex<BTreeMap<String, Histogram>>,
    /// Seconds per alert rule evaluation.
    pub alert_evaluation_seconds: Histogram,
    /// Delivery attempts by (channel type, outcome).
    notifications: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// What retention deleted, by signal and reason.
    pub retention_deleted: RetentionDeleted,
    /// The writer's caches, published after each group.
    caches: Mutex<Vec<CacheSize>>,
}

/// Why retention deleted data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionReason {
    /// Older than `--retention`.
    Age,
    /// The oldest data, to keep within `--max-disk`.
    Disk,
}

/// `lookout_retention_deleted_total{signal,reason}`: spans, log records
/// and metric chunks deleted.
#[derive(Debug, Default)]
pub struct RetentionDeleted {
    counts: [[Counter; 2]; 3],
}

/// The signals retention counts, in their label order.
pub const RETENTION_SIGNALS: [&str; 3] = ["spans", "logs", "metric_chunks"];

impl RetentionDeleted {
    fn cell(&self, signal: usize, reason: RetentionReason) -> &Counter {
        &self.counts[signal][reason as usize]
    }
    pub fn spans(&self, reason: RetentionReason, count: u64) {
        self.cell(0, reason).add(count);
    }
    pub fn logs(&self, reason: RetentionReason, count: u64) {
        self.cell(1, reason).add(count);
    }
    pub fn metric_chunks(&self, reason: RetentionReason, count: u64) {
        self.cell(2, reason).add(count);
    }
    pub fn get(&self, signal: &str, reason: RetentionReason) -> u64 {
        RETENTION_SIGNALS
            .iter()
            .position(|name| *name == signal)
            .map_or(0, |index| self.cell(index, reason).get())
    }
}

/// One in-memory cache's size, as its owner last published it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSize {
    pub name: &'static str,
    pub entries: usize,
    /// The entries it may hold; past it, it starts over.
    pub limit: usize,
    /// Times it started over at its limit.
    pub resets: u64,
}

/// One number of a [`CacheSize`], for rendering each as a metric family.
type CacheField = fn(&CacheSize) -> u64;

/// One supervised thread's state at scrape time.
#[derive(Debug, Clone)]
pub struct ThreadState {
    pub name: &'static str,
    pub alive: bool,
    pub panicked: bool,
}

/// Values computed at scrape time by the caller (file sizes, capacities).
#[derive(Debug, Default)]
pub struct ScrapeValues {
    /// Bytes on disk by store, as last measured; empty when the last
    /// measurement failed (`storage_measure_failed` says so).
    pub storage_bytes: Vec<(&'static str, u64)>,
    pub storage_measure_failed: bool,
    pub threads: Vec<ThreadState>,
    /// Journal rows not yet committed to the log index, and the age of the
    /// oldest in seconds.
    pub index_lag_records: i64,
    pub index_lag_seconds: f64,
    /// The log indexer's measured speed, records/s (0 until measured).
    pub index_capacity: u64,
    pub queue_capacity: usize,
    /// Metric samples held in memory, not in chunks yet.
    pub metric_head_samples: usize,
    /// Open, unacknowledged alert instances.
    pub alerts_firing: u64,
    /// Alert rules by state after the last evaluation round.
    pub alert_rules: Vec<(&'static str, u64)>,
    /// `--max-disk`, if set.
    pub disk_budget_bytes: Option<u64>,
    /// Age of the oldest record kept, by signal (signals with none left
    /// out).
    pub oldest_age_seconds: Vec<(&'static str, f64)>,
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Counts a notification delivery attempt: `delivered`, `retry` or
    /// `failed`.
    pub fn notification(&self, channel: &str, outcome: &'static str) {
        *self
            .notifications
            .lock()
            .entry((channel.to_string(), outcome))
            .or_default() += 1;
    }

    /// Replaces the published cache sizes.
    pub fn set_caches(&self, caches: Vec<CacheSize>) {
        *self.caches.lock() = caches;
    }

    pub fn caches(&self) -> Vec<CacheSize> {
        self.caches.lock().clone()
    }

    pub fn reject(&self, reason: RejectReason, count: u64) {
        *self.rejected.lock().entry(reason).or_default() += count;
    }

    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected.lock().get(&reason).copied().unwrap_or(0)
    }

    pub fn record_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        *self
            .http_requests
            .lock()
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        self.http_duration
            .lock()
            .entry(route.to_string())
            .or_default()
            .observe(seconds);
    }

    /// `batches` (outbox rows, accepted requests) delivered to
    /// `destination`, in one request or several.
    pub fn forward_sent(&self, destination: &str, batches: u64) {
        self.forward
            .lock()
            .entry(destination.to_string())
            .or_default()
            .sent += batches;
    }

    /// A failed attempt to deliver to `destination`.
    pub fn forward_failed(&self, destination: &str) {
        self.forward
            .lock()
            .entry(destination.to_string())
            .or_default()
            .failed += 1;
    }

    /// How long the oldest batch waiting for `destination` has waited.
    pub fn forward_lag(&self, destination: &str, seconds: f64) {
        self.forward
            .lock()
            .entry(destination.to_string())
            .or_default()
            .lag_seconds = seconds;
    }

    /// Items (spans, log records, data points) an upstream took a request
    /// of but refused in its `partial_success`.
    pub fn forward_rejected_items(&self, destination: &str, items: u64) {
        self.forward
            .lock()
            .entry(destination.to_string())
            .or_default()
            .rejected_items += items;
    }

    /// One OTLP/gRPC call: its method (`/opentelemetry.proto…/Export`)
    /// and the name of the status it ended with (`OK`, `UNAVAILABLE`).
    pub fn record_grpc(&self, method: &'static str, code: &'static str) {
        *self.grpc_requests.lock().entry((method, code)).or_default() += 1;
    }

    pub fn render(&self, scrape: &ScrapeValues) -> String {
        let mut out = String::with_capacity(4096);
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "lookout_ingested_spans_total",
            "counter",
            "Spans stored (duplicates not counted).",
        );
        let _ = writeln!(
            out,
            "lookout_ingested_spans_total {}",
            self.ingested_spans.get()
        );

        header(
            &mut out,
            "lookout_span_metrics_overflow_spans_total",
            "counter",
            "Spans whose service metrics counted in the __overflow__ operation: their service \
             reached --span-series-limit.",
        );
        let _ = writeln!(
            out,
            "lookout_span_metrics_overflow_spans_total {}",
            self.span_series_overflow.get()
        );

        header(
            &mut out,
            "lookout_trace_blocks_sealed_total",
            "counter",
            "Trace block filters stored: a block of 128 traces whose spans settled, which \
             attribute searches skip when the filter rules a match out.",
        );
        let _ = writeln!(
            out,
            "lookout_trace_blocks_sealed_total {}",
            self.trace_blocks_sealed.get()
        );
        header(
            &mut out,
            "lookout_trace_blocks_unsealed_total",
            "counter",
            "Trace block filters dropped because spans arrived for a block after it was sealed.",
        );
        let _ = writeln!(
            out,
            "lookout_trace_blocks_unsealed_total {}",
            self.trace_blocks_unsealed.get()
        );
        header(
            &mut out,
            "lookout_trace_blocks_pending",
            "gauge",
            "Complete trace blocks without a filter yet (searches read all their spans).",
        );
        let _ = writeln!(
            out,
            "lookout_trace_blocks_pending {}",
            self.trace_blocks_pending.get()
        );
        header(
            &mut out,
            "lookout_trace_block_failures_total",
            "counter",
            "Trace block filters that could not be built or stored.",
        );
        let _ = writeln!(
            out,
            "lookout_trace_block_failures_total {}",
            self.trace_block_failures.get()
        );
        header(
            &mut out,
            "lookout_span_dictionaries_total",
            "counter",
            "Dictionaries trained on recent spans and stored; new spans' attributes and events are \
             packed with the newest.",
        );
        let _ = writeln!(
            out,
            "lookout_span_dictionaries_total {}",
            self.span_dictionaries_stored.get()
        );
        header(
            &mut out,
            "lookout_span_dictionary_failures_total",
            "counter",
            "Span dictionary training passes that failed (reading samples or storing).",
        );
        let _ = writeln!(
            out,
            "lookout_span_dictionary_failures_total {}",
            self.span_dictionary_failures.get()
        );
        header(
            &mut out,
            "lookout_span_dictionary_trainings_total",
            "counter",
            "Span dictionaries trained on the newest spans, stored or not (each costs a few MB of memory and CPU for a moment).",
        );
        let _ = writeln!(
            out,
            "lookout_span_dictionary_trainings_total {}",
            self.span_dictionary_trainings.get()
        );

        header(
            &mut out,
            "lookout_ingested_logs_total",
            "counter",
            "Log records stored.",
        );
        let _ = writeln!(
            out,
            "lookout_ingested_logs_total {}",
            self.ingested_logs.get()
        );

        header(
            &mut out,
            "lookout_errors_total",
            "counter",
            "Exceptions (span events and log records) grouped into error groups.",
        );
        let _ = writeln!(out, "lookout_errors_total {}", self.errors_recorded.get());

        header(
            &mut out,
            "lookout_redacted_total",
            "counter",
            "Values (or parts of values) replaced by [REDACTED] before storage, by signal.",
        );
        let _ = writeln!(
            out,
            "lookout_redacted_total{{signal=\"spans\"}} {}",
            self.redacted_spans.get()
        );
        let _ = writeln!(
            out,
            "lookout_redacted_total{{signal=\"logs\"}} {}",
            self.redacted_logs.get()
        );

        if let Some(budget) = scrape.disk_budget_bytes {
            header(
                &mut out,
                "lookout_disk_budget_bytes",
                "gauge",
                "--max-disk: the size the data directory is kept within (compare lookout_storage_bytes{store=\"total\"}).",
            );
            let _ = writeln!(out, "lookout_disk_budget_bytes {budget}");
        }
        header(
            &mut out,
            "lookout_oldest_record_age_seconds",
            "gauge",
            "Age of the oldest record kept, by signal: the effective retention.",
        );
        for (signal, age) in &scrape.oldest_age_seconds {
            let _ = writeln!(
                out,
                "lookout_oldest_record_age_seconds{{signal=\"{signal}\"}} {age}"
            );
        }

        header(
            &mut out,
            "lookout_retention_deleted_total",
            "counter",
            "Spans, log records and metric chunks deleted by retention: by age (--retention) or to stay within --max-disk.",
        );
        for signal in RETENTION_SIGNALS {
            for (reason, name) in [
                (RetentionReason::Age, "age"),
                (RetentionReason::Disk, "disk"),
            ] {
                let _ = writeln!(
                    out,
                    "lookout_retention_deleted_total{{signal=\"{signal}\",reason=\"{name}\"}} {}",
                    self.retention_deleted.get(signal, reason)
                );
            }
        }

        header(
            &mut out,
            "lookout_error_group_overflow_total",
            "counter",
            "Exceptions counted in their service's overflow group because 10,000 error groups exist.",
        );
        let _ = writeln!(
            out,
            "lookout_error_group_overflow_total {}",
            self.error_group_overflow.get()
        );

        header(
            &mut out,
            "lookout_ingested_metric_points_total",
            "counter",
            "OTLP metric data points stored.",
        );
        let _ = writeln!(
            out,
            "lookout_ingested_metric_points_total {}",
            self.ingested_metric_points.get()
        );
        header(
            &mut out,
            "lookout_metric_series_created_total",
            "counter",
            "Metric series created.",
        );
        let _ = writeln!(
            out,
            "lookout_metric_series_created_total {}",
            self.metric_series_created.get()
        );

        header(
            &mut out,
            "lookout_ingest_rejected_total",
            "counter",
            "Rejected ingest items or requests, by reason.",
        );
        for reason in RejectReason::ALL {
            let _ = writeln!(
                out,
                "lookout_ingest_rejected_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.rejected(reason)
            );
        }

        header(
            &mut out,
            "lookout_thread_up",
            "gauge",
            "1 while a background thread runs; 0 once it has stopped.",
        );
        let per_thread = |out: &mut String, name: &str, value: fn(&ThreadState) -> bool| {
            for thread in &scrape.threads {
                let _ = writeln!(
                    out,
                    "{name}{{thread=\"{}\"}} {}",
                    thread.name,
                    u8::from(value(thread))
                );
            }
        };
        per_thread(&mut out, "lookout_thread_up", |thread| thread.alive);
        header(
            &mut out,
            "lookout_thread_panics_total",
            "counter",
            "Background threads that died of a panic (the log has the message).",
        );
        per_thread(&mut out, "lookout_thread_panics_total", |thread| {
            thread.panicked
        });

        header(
            &mut out,
            "lookout_writer_queue_depth",
            "gauge",
            "Commands waiting for the writer.",
        );
        let _ = writeln!(out, "lookout_writer_queue_depth {}", self.queue_depth.get());
        header(
            &mut out,
            "lookout_writer_queue_capacity",
            "gauge",
            "Capacity of the writer queue.",
        );
        let _ = writeln!(
            out,
            "lookout_writer_queue_capacity {}",
            scrape.queue_capacity
        );

        header(
            &mut out,
            "lookout_writer_commit_seconds",
            "histogram",
            "Time to write and commit one group.",
        );
        self.commit_seconds
            .render(&mut out, "lookout_writer_commit_seconds", "");

        header(
            &mut out,
            "lookout_writer_errors_total",
            "counter",
            "Groups whose write failed.",
        );
        let _ = writeln!(
            out,
            "lookout_writer_errors_total {}",
            self.writer_errors.get()
        );

        header(
            &mut out,
            "lookout_indexed_logs_total",
            "counter",
            "Log records added to the log index.",
        );
        let _ = writeln!(
            out,
            "lookout_indexed_logs_total {}",
            self.indexed_logs.get()
        );
        header(
            &mut out,
            "lookout_log_index_commit_seconds",
            "histogram",
            "Time to commit the log index.",
        );
        self.index_commit_seconds
            .render(&mut out, "lookout_log_index_commit_seconds", "");
        header(
            &mut out,
            "lookout_log_index_lag_records",
            "gauge",
            "Journaled log records not yet searchable.",
        );
        let _ = writeln!(
            out,
            "lookout_log_index_lag_records {}",
            scrape.index_lag_records
        );
        header(
            &mut out,
            "lookout_log_index_lag_seconds",
            "gauge",
            "Age of the oldest journaled record not yet searchable.",
        );
        let _ = writeln!(
            out,
            "lookout_log_index_lag_seconds {}",
            scrape.index_lag_seconds
        );
        header(
            &mut out,
            "lookout_log_index_capacity_records_per_second",
            "gauge",
            "Measured log indexing speed; log ingest is refused while the backlog exceeds what it indexes within --log-max-lag.",
        );
        let _ = writeln!(
            out,
            "lookout_log_index_capacity_records_per_second {}",
            scrape.index_capacity
        );
        header(
            &mut out,
            "lookout_alerts_firing",
            "gauge",
            "Open, unacknowledged alert instances.",
        );
        let _ = writeln!(out, "lookout_alerts_firing {}", scrape.alerts_firing);
        header(
            &mut out,
            "lookout_alert_rules",
            "gauge",
            "Enabled alert rules by state after the last evaluation round.",
        );
        for (state, count) in &scrape.alert_rules {
            let _ = writeln!(out, "lookout_alert_rules{{state=\"{state}\"}} {count}");
        }
        header(
            &mut out,
            "lookout_alert_evaluation_seconds",
            "histogram",
            "Time to evaluate one alert rule.",
        );
        self.alert_evaluation_seconds
            .render(&mut out, "lookout_alert_evaluation_seconds", "");
        header(
            &mut out,
            "lookout_notifications_total",
            "counter",
            "Alert notification delivery attempts by channel type and outcome (delivered, retry, failed).",
        );
        for ((channel, outcome), count) in self.notifications.lock().iter() {
            let _ = writeln!(
                out,
                "lookout_notifications_total{{channel=\"{}\",outcome=\"{outcome}\"}} {count}",
                escape_label(channel)
            );
        }

        header(
            &mut out,
            "lookout_metric_head_samples",
            "gauge",
            "Metric samples held in memory (16 bytes each) until compaction puts their hour into chunks.",
        );
        let _ = writeln!(
            out,
            "lookout_metric_head_samples {}",
            scrape.metric_head_samples
        );

        let caches = self.caches();
        let cache_families: [(&str, &str, &str, CacheField); 3] = [
            (
                "lookout_cache_entries",
                "gauge",
                "Entries in the writer's in-memory caches of stored rows (names to ids, rows last written), by cache.",
                |cache| cache.entries as u64,
            ),
            (
                "lookout_cache_limit_entries",
                "gauge",
                "The entries a cache may hold; past it, it starts over (a miss reads the database).",
                |cache| cache.limit as u64,
            ),
            (
                "lookout_cache_resets_total",
                "counter",
                "Times a cache started over at its limit.",
                |cache| cache.resets,
            ),
        ];
        for (name, kind, help, value) in cache_families {
            header(&mut out, name, kind, help);
            for cache in &caches {
                let _ = writeln!(out, "{name}{{cache=\"{}\"}} {}", cache.name, value(cache));
            }
        }

        header(
            &mut out,
            "lookout_http_requests_total",
            "counter",
            "HTTP requests by method, route and status.",
        );
        for ((method, route, status), count) in self.http_requests.lock().iter() {
            let _ = writeln!(
                out,
                "lookout_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape_label(method),
                escape_label(route)
            );
        }
        header(
            &mut out,
            "lookout_forward_sent_total",
            "counter",
            "Accepted batches (outbox rows) delivered to each --forward-otlp upstream.",
        );
        let forward = self.forward.lock().clone();
        for (destination, counts) in &forward {
            let _ = writeln!(
                out,
                "lookout_forward_sent_total{{destination=\"{}\"}} {}",
                escape_label(destination),
                counts.sent
            );
        }
        header(
            &mut out,
            "lookout_forward_failures_total",
            "counter",
            "Failed attempts to deliver to each upstream (retried).",
        );
        for (destination, counts) in &forward {
            let _ = writeln!(
                out,
                "lookout_forward_failures_total{{destination=\"{}\"}} {}",
                escape_label(destination),
                counts.failed
            );
        }
        header(
            &mut out,
            "lookout_forward_rejected_items_total",
            "counter",
            "Items an upstream refused in the partial_success of a request it took.",
        );
        for (destination, counts) in &forward {
            let _ = writeln!(
                out,
                "lookout_forward_rejected_items_total{{destination=\"{}\"}} {}",
                escape_label(destination),
                counts.rejected_items
            );
        }
        header(
            &mut out,
            "lookout_forward_lag_seconds",
            "gauge",
            "How long the oldest batch waiting for each upstream has waited.",
        );
        for (destination, counts) in &forward {
            let _ = writeln!(
                out,
                "lookout_forward_lag_seconds{{destination=\"{}\"}} {}",
                escape_label(destination),
                counts.lag_seconds
            );
        }
        header(
            &mut out,
            "lookout_forward_dropped_total",
            "counter",
            "Outbox batches dropped unsent, by reason.",
        );
        let _ = writeln!(
            out,
            "lookout_forward_dropped_total{{reason=\"outbox_full\"}} {}",
            self.forward_dropped_outbox_full.get()
        );
        let _ = writeln!(
            out,
            "lookout_forward_dropped_total{{reason=\"rejected\"}} {}",
            self.forward_dropped_rejected.get()
        );
        header(
            &mut out,
            "lookout_forward_outbox_bytes",
            "gauge",
            "Bytes of batches waiting in the forwarding outbox.",
        );
        let _ = writeln!(
            out,
            "lookout_forward_outbox_bytes {}",
            self.forward_outbox_bytes.get()
        );
        header(
            &mut out,
            "lookout_grpc_requests_total",
            "counter",
            "OTLP/gRPC calls by method and status code.",
        );
        for ((method, code), count) in self.grpc_requests.lock().iter() {
            let _ = writeln!(
                out,
                "lookout_grpc_requests_total{{method=\"{method}\",code=\"{code}\"}} {count}"
            );
        }
        header(
            &mut out,
            "lookout_http_request_duration_seconds",
            "histogram",
            "HTTP request latency by route.",
        );
        for (route, histogram) in self.http_duration.lock().iter() {
            histogram.render(
                &mut out,
                "lookout_http_request_duration_seconds",
                &format!("route=\"{}\"", escape_label(route)),
            );
        }

        header(
            &mut out,
            "lookout_storage_bytes",
            "gauge",
            "Bytes on disk by store.",
        );
        for (store, bytes) in &scrape.storage_bytes {
            let _ = writeln!(out, "lookout_storage_bytes{{store=\"{store}\"}} {bytes}");
        }
        header(
            &mut out,
            "lookout_storage_reclaimed_bytes_total",
            "counter",
            "Bytes of free database pages given back to the file system: after deletes left most of the file free, or to stay within --max-disk.",
        );
        let _ = writeln!(
            out,
            "lookout_storage_reclaimed_bytes_total {}",
            self.storage_reclaimed_bytes.get()
        );
        header(
            &mut out,
            "lookout_storage_measure_failed",
            "gauge",
            "1 when the last measurement of the data directory's size failed (the log says why).",
        );
        let _ = writeln!(
            out,
            "lookout_storage_measure_failed {}",
            u8::from(scrape.storage_measure_failed)
        );
        out
    }
}

/// Output format of lookout's own logs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global `tracing` subscriber writing to stderr. `RUST_LOG`
/// overrides `level`. Safe to call more than once (later calls do nothing).
pub fn init_tracing(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.ingested_spans.add(5);
        metrics.reject(RejectReason::QueueFull, 2);
        metrics.commit_seconds.observe(0.003);
        metrics.record_http("POST", "/v1/traces", 200, 0.002);
        metrics.set_caches(vec![CacheSize {
            name: "services",
            entries: 3,
            limit: 4096,
            resets: 1,
        }]);
        let text = metrics.render(&ScrapeValues {
            storage_bytes: vec![("sqlite", 4096)],
            storage_measure_failed: false,
            threads: vec![ThreadState {
                name: "writer",
                alive: false,
                panicked: true,
            }],
            queue_capacity: 8,
            index_lag_records: 3,
            index_lag_seconds: 0.5,
            index_capacity: 52_000,
            metric_head_samples: 12,
            alerts_firing: 2,
            alert_rules: vec![("firing", 1), ("ok", 3)],
            disk_budget_bytes: Some(64 << 20),
            oldest_age_seconds: vec![("traces", 90.5)],
        });
        metrics.retention_deleted.logs(RetentionReason::Disk, 7);
        let text = text
            + &metrics.render(&ScrapeValues::default())[..]
                .lines()
                .filter(|line| line.starts_with("lookout_retention_deleted_total{"))
                .collect::<Vec<_>>()
                .join("\n");
        assert!(text.contains("lookout_disk_budget_bytes 67108864\n"));
        assert!(text.contains("lookout_oldest_record_age_seconds{signal=\"traces\"} 90.5\n"));
        assert!(text.contains("lookout_retention_deleted_total{signal=\"logs\",reason=\"disk\"} 7"));
        assert!(
            text.contains("lookout_retention_deleted_total{signal=\"spans\",reason=\"age\"} 0\n")
        );
        assert!(text.contains("lookout_alerts_firing 2\n"));
        assert!(text.contains("lookout_alert_rules{state=\"ok\"} 3\n"));
        assert!(text.contains("lookout_metric_head_samples 12\n"));
        assert!(text.contains("lookout_cache_entries{cache=\"services\"} 3\n"));
        assert!(text.contains("lookout_cache_limit_entries{cache=\"services\"} 4096\n"));
        assert!(text.contains("lookout_cache_resets_total{cache=\"services\"} 1\n"));
        assert!(text.contains("lookout_thread_up{thread=\"writer\"} 0\n"));
        assert!(text.contains("lookout_thread_panics_total{thread=\"writer\"} 1\n"));
        assert!(text.contains("lookout_log_index_capacity_records_per_second 52000\n"));
        assert!(text.contains("lookout_log_index_lag_records 3\n"));
        assert!(text.contains("lookout_ingested_spans_total 5\n"));
        assert!(text.contains("lookout_ingest_rejected_total{reason=\"queue_full\"} 2\n"));
        assert!(text.contains("lookout_writer_commit_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("lookout_writer_commit_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("lookout_writer_commit_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains(
            "lookout_http_requests_total{method=\"POST\",route=\"/v1/traces\",status=\"200\"} 1\n"
        ));
        assert!(text.contains("lookout_storage_bytes{store=\"sqlite\"} 4096\n"));
    }
}
