//! Log endpoints: JSON-lines ingest, search, histogram, a trace's logs and
//! live tail. (OTLP log ingest lives with the other OTLP endpoints in
//! `otlp.rs`.)

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;

use super::body::{content_type, read_body};
use super::dto::{HistogramDto, JsonLinesDto, LogPageDto, LogRecordDto};
use super::error::ApiError;
use super::otlp::{admit_logs, journal_entries, outgoing, refused, write_failed};
use super::traces::path_trace_id;
use super::{read, AppState};
use crate::ingest::otlp::encode_logs;
use crate::ingest::{jsonl, IngestError};
use crate::model::{TimeWindow, UnixNanos};
use crate::pipeline::ForwardSignal;
use crate::query::logs::{parse_buckets, parse_log_filter, parse_page, parse_tail_filter};
use crate::telemetry::RejectReason;

/// Content types accepted for JSON lines.
const JSON_LINES_TYPES: &[&str] = &[
    "application/x-ndjson",
    "application/jsonl",
    "application/json",
    "application/x-jsonlines",
    "text/plain",
];

pub async fn post_json_lines(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let essence = content_type(&request)
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !JSON_LINES_TYPES.contains(&essence.as_str()) {
        return Err(refused(
            &state,
            IngestError::UnsupportedContentType {
                content_type: content_type(&request).to_string(),
                expected: "application/x-ndjson (one JSON object per line)",
            },
        ));
    }
    let body = read_body(&request, payload, &state.config.limits)
        .await
        .map_err(|error| refused(&state, error))?;
    admit_logs(&state)?;
    let now = UnixNanos::now();
    let mut parsed = jsonl::parse_json_lines(&body, &state.config.limits, now)
        .reject_outside(&TimeWindow::kept(state.config.retention, now));
    let redacted = state.redactor.redact_logs(&mut parsed.records);
    state.metrics.redacted_logs.add(redacted);
    let accepted = parsed.records.len() as u64;
    let rejected = parsed.errors.len() as u64;
    if rejected > 0 {
        state.metrics.reject(RejectReason::InvalidItem, rejected);
    }
    if accepted > 0 {
        let (encoded, errors) = journal_entries(&parsed.records);
        let forward = outgoing(&state, ForwardSignal::Logs, None, false, || {
            encode_logs(&parsed.records)
        });
        if let Err(error) = state.writer.write_logs(encoded, errors, forward).await {
            return Err(write_failed(&state, error, accepted));
        }
    }
    Ok(HttpResponse::Ok().json(JsonLinesDto::new(accepted, parsed.errors)))
}

pub async fn search(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter = parse_log_filter(&query, UnixNanos::now())?;
    let page = parse_page(&query)?;
    let result = read(&state, move |reads| reads.search_logs(&filter, &page)).await?;
    Ok(HttpResponse::Ok().json(LogPageDto::new(&result)))
}

pub async fn histogram(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter = parse_log_filter(&query, UnixNanos::now())?;
    let buckets = parse_buckets(&query)?;
    let result = read(&state, move |reads| reads.log_histogram(&filter, buckets)).await?;
    Ok(HttpResponse::Ok().json(HistogramDto::new(result)))
}

/// Logs carrying a trace id; the defaults (the trace's own range, oldest
/// first) are the read side's (`query::logs::parse_trace_logs`).
pub async fn trace_logs(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let trace_id = path_trace_id(&path.into_inner())?;
    let params = query.into_inner();
    let result = read(&state, move |reads| {
        reads.trace_logs(trace_id, &params, UnixNanos::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(LogPageDto::new(&result)))
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
    let parsed = parse_tail_filter(&params)?;
    let filter: crate::pipeline::tail::TailFilter = Box::new(move |record| parsed.matches(record));
    let receiver = state.tail.subscribe(filter, TAIL_BUFFER);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let chunk = match tokio::time::timeout(TAIL_KEEPALIVE, receiver.recv()).await {
            Ok(Some(item)) => match serde_json::to_string(&LogRecordDto::new(item.0, &item.1)) {
                Ok(json) => format!("data: {json}\n\n"),
                Err(error) => {
                    tracing::error!(%error, "cannot serialize a live-tail record");
                    return None;
                }
            },
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
