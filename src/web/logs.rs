//! Log endpoints: JSON-lines ingest, search, histogram and a trace's logs.
//! (OTLP log ingest lives with the other OTLP endpoints in `otlp.rs`.)

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use serde_json::{json, Value};

use super::error::ApiError;
use super::otlp::{log_time_window, read_body};
use super::traces::with_reader;
use super::AppState;
use crate::ingest::jsonl;
use crate::model::{format_rfc3339, LogRecord, TraceId, UnixNanos};
use crate::query::logs::{encode_log_cursor, parse_buckets, parse_log_filter, parse_page};
use crate::store::logs::{LogHit, LogIndexError, LogPage, SortOrder};
use crate::store::sqlite::{journal, read};

/// Content types accepted for JSON lines.
const JSON_LINES_TYPES: &[&str] = &[
    "application/x-ndjson",
    "application/jsonl",
    "application/json",
    "application/x-jsonlines",
    "text/plain",
];

impl From<LogIndexError> for ApiError {
    fn from(error: LogIndexError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

fn attributes_json(attributes: &crate::model::Attributes) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|(key, value)| (key.clone(), value.to_json()))
            .collect(),
    )
}

/// A record as the API shows it.
pub fn log_json(id: u64, record: &LogRecord) -> Value {
    json!({
        "id": id.to_string(),
        "timestamp": format_rfc3339(record.timestamp),
        "observed_timestamp": format_rfc3339(record.observed_timestamp),
        "severity_text": record.severity_text,
        "severity_number": record.severity_number,
        "service": record.service,
        "body": record.body.to_json(),
        "trace_id": record.trace_id.map(|id| id.to_hex()),
        "span_id": record.span_id.map(|id| id.to_hex()),
        "attributes": attributes_json(&record.attributes),
        "resource": attributes_json(&record.resource),
        "scope": {"name": record.scope.name, "version": record.scope.version},
    })
}

fn page_json(page: &LogPage) -> Value {
    json!({
        "logs": page.hits.iter().map(|LogHit { id, record }| log_json(*id, record)).collect::<Vec<_>>(),
        "total": page.total,
        "next_cursor": page.next_cursor.as_ref().map(encode_log_cursor),
    })
}

pub async fn post_json_lines(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !JSON_LINES_TYPES.contains(&essence.as_str()) {
        state.metrics.reject("unsupported_media_type", 1);
        return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {content_type:?} is not supported: send application/x-ndjson (one JSON object per line)"
        )));
    }
    let body = read_body(&request, payload, &state.config.limits)
        .await
        .map_err(|error| {
            state.metrics.reject(
                match error {
                    crate::ingest::IngestError::TooLarge(_) => "too_large",
                    crate::ingest::IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
                    crate::ingest::IngestError::Decode(_) => "decode",
                },
                1,
            );
            ApiError::from(error)
        })?;
    super::otlp::admit_logs(&state)?;
    let now = UnixNanos::now();
    let parsed = jsonl::parse_json_lines(&body, &state.config.limits, now);
    let window = log_time_window(&state, now);
    let mut errors: Vec<Value> = parsed
        .errors
        .iter()
        .map(|error| json!({"line": error.line, "message": error.message}))
        .collect();
    let mut encoded = Vec::with_capacity(parsed.records.len());
    for (record, line) in parsed.records.iter().zip(&parsed.record_lines) {
        match window.check(record.timestamp) {
            Ok(()) => encoded.push(journal::encode_record(record)),
            Err(message) => errors.push(json!({"line": line, "message": message})),
        }
    }
    errors.sort_by_key(|error| error["line"].as_u64());
    let accepted = encoded.len() as u64;
    let rejected = errors.len() as u64;
    if rejected > 0 {
        state.metrics.reject("invalid_item", rejected);
    }
    if accepted > 0 {
        if let Err(error) = state.writer.write_logs(encoded).await {
            let reason = if error == crate::pipeline::WriteError::QueueFull {
                "queue_full"
            } else {
                "write_failed"
            };
            state.metrics.reject(reason, accepted);
            return Err(ApiError::from(error));
        }
    }
    errors.truncate(100);
    Ok(HttpResponse::Ok()
        .json(json!({"accepted": accepted, "rejected": rejected, "errors": errors})))
}

pub async fn search(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter =
        parse_log_filter(&query, UnixNanos::now()).map_err(|e| ApiError::BadRequest(e.0))?;
    let page = parse_page(&query).map_err(|e| ApiError::BadRequest(e.0))?;
    let logs = state.logs.clone();
    let result = web::block(move || logs.search(&filter, &page)).await??;
    Ok(HttpResponse::Ok().json(page_json(&result)))
}

pub async fn histogram(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter =
        parse_log_filter(&query, UnixNanos::now()).map_err(|e| ApiError::BadRequest(e.0))?;
    let buckets = parse_buckets(&query).map_err(|e| ApiError::BadRequest(e.0))?;
    let logs = state.logs.clone();
    let result = web::block(move || logs.histogram(&filter, buckets)).await??;
    let buckets: Vec<Value> = result
        .iter()
        .map(|bucket| {
            json!({
                "start": format_rfc3339(bucket.start),
                "end": format_rfc3339(bucket.end),
                "counts": bucket.counts,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "buckets": buckets })))
}

/// Logs carrying a trace id, oldest first unless `order=desc`. The time
/// range defaults to the trace's own, widened by an hour each side for
/// clock skew, or to the whole retention period for a trace not stored.
pub async fn trace_logs(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let text = path.into_inner();
    let trace_id = TraceId::from_hex(&text)
        .map_err(|error| ApiError::BadRequest(format!("trace id {text:?}: {error}")))?;
    let bounds = with_reader(&state, move |conn| Ok(read::trace_bounds(conn, trace_id)?)).await?;
    let now = UnixNanos::now();
    let mut params: Vec<(String, String)> = query.into_inner();
    params.retain(|(key, _)| key != "trace_id");
    let explicit_range = params
        .iter()
        .any(|(key, _)| key == "start" || key == "end" || key == "lookback");
    let mut filter = parse_log_filter(&params, now).map_err(|e| ApiError::BadRequest(e.0))?;
    if !explicit_range {
        const SKEW: i64 = 3_600_000_000_000;
        let window = log_time_window(&state, now);
        (filter.start, filter.end) = match bounds {
            Some((start, end)) => (
                UnixNanos(start.saturating_sub(SKEW)),
                UnixNanos(end.saturating_add(SKEW)),
            ),
            None => (window.earliest, window.latest),
        };
    }
    filter.trace_id = Some(trace_id);
    let mut page = parse_page(&params).map_err(|e| ApiError::BadRequest(e.0))?;
    if !params.iter().any(|(key, _)| key == "order") {
        page.order = SortOrder::Asc;
    }
    let logs = state.logs.clone();
    let result = web::block(move || logs.search(&filter, &page)).await??;
    Ok(HttpResponse::Ok().json(page_json(&result)))
}

/// Records queued per live-tail client before it counts as too slow.
const TAIL_BUFFER: usize = 1024;
/// A comment line keeps idle connections (and proxies) alive.
const TAIL_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// `text/event-stream` of new records matching `q`, `service`, `level` and
/// `trace_id`, one `data:` line per record.
pub async fn tail(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let params = query.into_inner();
    let parsed =
        crate::query::logs::parse_tail_filter(&params).map_err(|e| ApiError::BadRequest(e.0))?;
    let filter: crate::pipeline::tail::TailFilter = Box::new(move |record| parsed.matches(record));
    let receiver = state.tail.subscribe(filter, TAIL_BUFFER);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = match tokio::time::timeout(TAIL_KEEPALIVE, receiver.recv()).await {
            Ok(Some(item)) => format!("data: {}\n\n", log_json(item.0, &item.1)),
            // The hub dropped this client (too slow) or the server stops.
            Ok(None) => return None,
            Err(_) => ": keep-alive\n\n".to_string(),
        };
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), receiver))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(
            futures_util::stream::once(async {
                Ok::<_, actix_web::Error>(web::Bytes::from_static(b": connected\n\n"))
            })
            .chain(stream),
        ))
}
