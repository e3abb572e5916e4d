//! The API's response bodies: typed, `Serialize`, built from the read
//! side's domain data. Ids are lowercase hex, times RFC 3339 with
//! nanoseconds, durations milliseconds as floats (docs/API.md).
//!
//! Only `web` knows these shapes; the store and the query layer return
//! plain domain types.

pub mod alerts;
pub mod errors;
pub mod jaeger;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::ingest::jsonl::LineError;
use crate::model::{format_rfc3339, Attributes, LogRecord, Scope, SpanEvent, SpanLink, UnixNanos};
use crate::query::graph::Edge;
use crate::query::logs::encode_log_cursor;
use crate::query::params::encode_cursor;
use crate::query::red::{Red, RedPoint, SummaryGroup};
use crate::query::StoredCounts;
use crate::store::logs::{HistogramBucket, LogHit, LogPage};
use crate::store::sqlite::read::{
    OperationInfo, ServiceInfo, StoredSpan, StoredTrace, TraceListItem, TracePage,
};
use crate::store::usage::StorageUsage;

/// Attributes as one JSON object (a repeated key keeps its last value).
pub fn attributes_json(attributes: &Attributes) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|(key, value)| (key.clone(), value.to_json()))
            .collect(),
    )
}

fn time(nanos: UnixNanos) -> String {
    format_rfc3339(nanos)
}

fn millis(nanos: i64) -> f64 {
    nanos as f64 / 1_000_000.0
}

#[derive(Debug, Serialize)]
pub struct ServicesDto {
    pub services: Vec<ServiceDto>,
}

#[derive(Debug, Serialize)]
pub struct ServiceDto {
    pub name: String,
    pub span_count: i64,
    pub last_seen: String,
}

impl ServicesDto {
    pub fn new(services: Vec<ServiceInfo>) -> ServicesDto {
        ServicesDto {
            services: services
                .into_iter()
                .map(|service| ServiceDto {
                    name: service.name,
                    span_count: service.span_count,
                    last_seen: time(service.last_seen),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct OperationsDto {
    pub operations: Vec<OperationDto>,
}

#[derive(Debug, Serialize)]
pub struct OperationDto {
    pub name: String,
    pub span_kind: &'static str,
    pub span_count: i64,
}

impl OperationsDto {
    pub fn new(operations: Vec<OperationInfo>) -> OperationsDto {
        OperationsDto {
            operations: operations
                .into_iter()
                .map(|operation| OperationDto {
                    name: operation.name,
                    span_kind: operation.span_kind.as_str(),
                    span_count: operation.span_count,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TracePageDto {
    pub traces: Vec<TraceSummaryDto>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TraceSummaryDto {
    pub trace_id: String,
    pub root_service: Option<String>,
    pub root_operation: Option<String>,
    pub start_time: String,
    pub duration_ms: f64,
    pub span_count: i64,
    pub error_count: i64,
    pub services: Vec<String>,
}

impl TracePageDto {
    pub fn new(page: TracePage) -> TracePageDto {
        TracePageDto {
            traces: page.traces.into_iter().map(TraceSummaryDto::new).collect(),
            next_cursor: page
                .next
                .map(|(start, rowid)| encode_cursor(&[start, rowid])),
        }
    }
}

impl TraceSummaryDto {
    pub fn new(item: TraceListItem) -> TraceSummaryDto {
        TraceSummaryDto {
            trace_id: item.trace_id.to_hex(),
            root_service: item.root_service,
            root_operation: item.root_operation,
            start_time: time(item.start),
            duration_ms: millis(item.duration_nanos),
            span_count: item.span_count,
            error_count: item.error_count,
            services: item.services,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TraceDto {
    pub trace_id: String,
    pub spans: Vec<SpanDto>,
}

#[derive(Debug, Serialize)]
pub struct SpanDto {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub service: String,
    pub kind: &'static str,
    pub start_time: String,
    pub end_time: String,
    pub duration_ms: f64,
    pub status: StatusDto,
    pub attributes: Value,
    pub events: Vec<EventDto>,
    pub links: Vec<LinkDto>,
    pub resource: Value,
    pub scope: ScopeDto,
}

#[derive(Debug, Serialize)]
pub struct StatusDto {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct EventDto {
    pub name: String,
    pub time: String,
    pub attributes: Value,
}

#[derive(Debug, Serialize)]
pub struct LinkDto {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    pub attributes: Value,
}

#[derive(Debug, Serialize)]
pub struct ScopeDto {
    pub name: String,
    pub version: String,
}

impl ScopeDto {
    fn new(scope: &Scope) -> ScopeDto {
        ScopeDto {
            name: scope.name.clone(),
            version: scope.version.clone(),
        }
    }
}

impl TraceDto {
    pub fn new(trace: StoredTrace) -> TraceDto {
        TraceDto {
            trace_id: trace.trace_id.to_hex(),
            spans: trace.spans.into_iter().map(SpanDto::new).collect(),
        }
    }
}

impl SpanDto {
    fn new(span: StoredSpan) -> SpanDto {
        SpanDto {
            span_id: span.span_id.to_hex(),
            parent_span_id: span.parent_span_id.map(|id| id.to_hex()),
            kind: span.kind.as_str(),
            start_time: time(span.start),
            end_time: time(span.end()),
            duration_ms: millis(span.duration_nanos),
            status: StatusDto {
                code: span.status_code.as_str(),
                message: span.status_message,
            },
            attributes: attributes_json(&span.attributes),
            events: span.events.iter().map(EventDto::new).collect(),
            links: span.links.iter().map(LinkDto::new).collect(),
            resource: attributes_json(&span.resource),
            scope: ScopeDto::new(&span.scope),
            name: span.name,
            service: span.service,
        }
    }
}

impl EventDto {
    fn new(event: &SpanEvent) -> EventDto {
        EventDto {
            name: event.name.clone(),
            time: time(event.time),
            attributes: attributes_json(&event.attributes),
        }
    }
}

impl LinkDto {
    fn new(link: &SpanLink) -> LinkDto {
        LinkDto {
            trace_id: link.trace_id.to_hex(),
            span_id: link.span_id.to_hex(),
            trace_state: link.trace_state.clone(),
            attributes: attributes_json(&link.attributes),
        }
    }
}

/// A log record as the API shows it (search results and live tail).
#[derive(Debug, Serialize)]
pub struct LogRecordDto {
    pub id: String,
    pub timestamp: String,
    pub observed_timestamp: String,
    pub severity_text: String,
    pub severity_number: i32,
    pub service: String,
    pub body: Value,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub attributes: Value,
    pub resource: Value,
    pub scope: ScopeDto,
}

impl LogRecordDto {
    pub fn new(id: u64, record: &LogRecord) -> LogRecordDto {
        LogRecordDto {
            id: id.to_string(),
            timestamp: time(record.timestamp),
            observed_timestamp: time(record.observed_timestamp),
            severity_text: record.severity_text.clone(),
            severity_number: record.severity_number,
            service: record.service.clone(),
            body: record.body.to_json(),
            trace_id: record.trace_id.map(|id| id.to_hex()),
            span_id: record.span_id.map(|id| id.to_hex()),
            attributes: attributes_json(&record.attributes),
            resource: attributes_json(&record.resource),
            scope: ScopeDto::new(&record.scope),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LogPageDto {
    pub logs: Vec<LogRecordDto>,
    pub total: u64,
    pub next_cursor: Option<String>,
}

impl LogPageDto {
    pub fn new(page: &LogPage) -> LogPageDto {
        LogPageDto {
            logs: page
                .hits
                .iter()
                .map(|LogHit { id, record }| LogRecordDto::new(*id, record))
                .collect(),
            total: page.total,
            next_cursor: page.next_cursor.as_ref().map(encode_log_cursor),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct HistogramDto {
    pub buckets: Vec<BucketDto>,
}

#[derive(Debug, Serialize)]
pub struct BucketDto {
    pub start: String,
    pub end: String,
    pub counts: BTreeMap<&'static str, u64>,
}

impl HistogramDto {
    pub fn new(buckets: Vec<HistogramBucket>) -> HistogramDto {
        HistogramDto {
            buckets: buckets
                .into_iter()
                .map(|bucket| BucketDto {
                    start: time(bucket.start),
                    end: time(bucket.end),
                    counts: bucket.counts,
                })
                .collect(),
        }
    }
}

/// The answer to `POST /api/ingest/logs`.
#[derive(Debug, Serialize)]
pub struct JsonLinesDto {
    pub accepted: u64,
    pub rejected: u64,
    /// The first [`JsonLinesDto::MAX_ERRORS`] rejected lines.
    pub errors: Vec<LineErrorDto>,
}

#[derive(Debug, Serialize)]
pub struct LineErrorDto {
    pub line: usize,
    pub message: String,
}

impl JsonLinesDto {
    pub const MAX_ERRORS: usize = 100;

    pub fn new(accepted: u64, errors: Vec<LineError>) -> JsonLinesDto {
        JsonLinesDto {
            accepted,
            rejected: errors.len() as u64,
            errors: errors
                .into_iter()
                .take(Self::MAX_ERRORS)
                .map(|error| LineErrorDto {
                    line: error.line,
                    message: error.message,
                })
                .collect(),
        }
    }
}

/// `GET /api/stats`.
#[derive(Debug, Serialize)]
pub struct StatsDto {
    pub counts: CountsDto,
    /// As last measured (every few seconds, off the request path); `null`
    /// with `storage_error` set when that measurement failed.
    pub storage_bytes: Option<StorageBytesDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_error: Option<String>,
    pub ingested: IngestedDto,
    pub log_days: Vec<String>,
    pub oldest_trace: Option<String>,
    pub newest_trace: Option<String>,
    /// The effective retention: the oldest record kept, by signal.
    pub retention: RetentionDto,
    /// Use against `--max-disk`.
    pub disk: DiskDto,
}

/// By signal (`traces`, `logs`, `metrics`).
pub type RetentionDto = std::collections::BTreeMap<&'static str, OldestDto>;

#[derive(Debug, Serialize)]
pub struct OldestDto {
    pub oldest: Option<String>,
    pub age_seconds: Option<f64>,
}

#[derive(Debug, Serialize, Default)]
pub struct DiskDto {
    /// `--max-disk`, or `null` without one.
    pub budget_bytes: Option<u64>,
    /// Bytes used, as last measured against the budget.
    pub used_bytes: Option<u64>,
    /// Data older than this was deleted to stay within the budget.
    pub deleted_before: Option<String>,
}

impl DiskDto {
    pub fn new(budget: Option<&crate::pipeline::disk_budget::DiskBudgetStatus>) -> DiskDto {
        use std::sync::atomic::Ordering;
        let Some(budget) = budget else {
            return DiskDto::default();
        };
        let cutoff = budget.cutoff.load(Ordering::SeqCst);
        DiskDto {
            budget_bytes: Some(budget.budget),
            used_bytes: Some(budget.used.load(Ordering::SeqCst)),
            deleted_before: (cutoff > 0).then(|| time(UnixNanos(cutoff))),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CountsDto {
    pub traces: i64,
    pub spans: i64,
    pub services: i64,
}

#[derive(Debug, Serialize)]
pub struct StorageBytesDto {
    pub sqlite: u64,
    pub logs: u64,
    pub total: u64,
}

#[derive(Debug, Serialize)]
pub struct IngestedDto {
    pub spans: u64,
    pub logs: u64,
}

impl StatsDto {
    pub fn new(
        stored: StoredCounts,
        usage: Option<Result<StorageUsage, String>>,
        ingested: IngestedDto,
        disk: DiskDto,
    ) -> StatsDto {
        let now = UnixNanos::now();
        let (storage_bytes, storage_error) = match usage {
            Some(Ok(usage)) => (
                Some(StorageBytesDto {
                    sqlite: usage.sqlite,
                    logs: usage.logs,
                    total: usage.total,
                }),
                None,
            ),
            Some(Err(error)) => (None, Some(error)),
            None => (None, Some("not measured yet".into())),
        };
        StatsDto {
            counts: CountsDto {
                traces: stored.counts.traces,
                spans: stored.counts.spans,
                services: stored.counts.services,
            },
            storage_bytes,
            storage_error,
            ingested,
            log_days: stored.log_days.iter().map(|day| day.dir_name()).collect(),
            oldest_trace: stored.trace_range.map(|(oldest, _)| time(oldest)),
            newest_trace: stored.trace_range.map(|(_, newest)| time(newest)),
            retention: stored
                .oldest
                .by_signal(now)
                .into_iter()
                .map(|(signal, kept)| {
                    let dto = OldestDto {
                        oldest: kept.map(|(at, _)| time(at)),
                        age_seconds: kept.map(|(_, age)| age),
                    };
                    (signal, dto)
                })
                .collect(),
            disk,
        }
    }
}

/// The RED numbers of a set of spans over `seconds`.
#[derive(Debug, Serialize)]
pub struct RedDto {
    pub request_count: u64,
    pub error_count: u64,
    /// Requests per second.
    pub request_rate: f64,
    /// Errors per request.
    pub error_rate: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl RedDto {
    fn new(red: &Red, seconds: i64) -> RedDto {
        RedDto {
            request_count: red.request_count,
            error_count: red.error_count,
            request_rate: red.request_count as f64 / seconds.max(1) as f64,
            error_rate: red.error_ratio(),
            p50_ms: red.quantile_ms(0.5),
            p95_ms: red.quantile_ms(0.95),
            p99_ms: red.quantile_ms(0.99),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RedPointDto {
    pub time: String,
    #[serde(flatten)]
    pub red: RedDto,
}

/// `/api/metrics/red`.
#[derive(Debug, Serialize)]
pub struct RedSeriesDto {
    pub series: Vec<RedPointDto>,
}

impl RedSeriesDto {
    pub fn new(points: Vec<RedPoint>) -> RedSeriesDto {
        RedSeriesDto {
            series: points
                .iter()
                .map(|point| RedPointDto {
                    time: format_rfc3339(UnixNanos(point.time.saturating_mul(1_000_000_000))),
                    red: RedDto::new(&point.red, point.step),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SummaryGroupDto {
    pub service: String,
    pub operation: Option<String>,
    pub span_kind: &'static str,
    #[serde(flatten)]
    pub red: RedDto,
}

/// `/api/metrics/summary`.
#[derive(Debug, Serialize)]
pub struct SummaryDto {
    pub groups: Vec<SummaryGroupDto>,
}

impl SummaryDto {
    pub fn new(groups: Vec<SummaryGroup>) -> SummaryDto {
        SummaryDto {
            groups: groups
                .into_iter()
                .map(|group| SummaryGroupDto {
                    red: RedDto::new(&group.red, group.seconds),
                    service: group.service,
                    operation: group.operation,
                    span_kind: group.span_kind.as_str(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EdgeDto {
    pub parent: String,
    pub child: String,
    pub call_count: i64,
    pub error_count: i64,
    pub p95_ms: Option<f64>,
    #[serde(rename = "virtual")]
    pub is_virtual: bool,
}

/// `/api/dependencies`.
#[derive(Debug, Serialize)]
pub struct DependenciesDto {
    pub edges: Vec<EdgeDto>,
}

impl DependenciesDto {
    pub fn new(edges: Vec<Edge>) -> DependenciesDto {
        DependenciesDto {
            edges: edges
                .into_iter()
                .map(|edge| EdgeDto {
                    p95_ms: edge.p95_ms(),
                    parent: edge.parent,
                    child: edge.child,
                    call_count: edge.call_count,
                    error_count: edge.error_count,
                    is_virtual: edge.is_virtual,
                })
                .collect(),
        }
    }
}
pub mod prometheus;
