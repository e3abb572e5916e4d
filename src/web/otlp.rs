//! OTLP/HTTP ingest endpoints. A 200 is sent only after the batch is
//! committed; errors use the OTLP error body in the request's encoding.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;

use super::error::{ApiError, RETRY_AFTER_SECONDS};
use super::AppState;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::ingest::otlp::{self, Encoding};
use crate::ingest::otlp_logs::{self, TimeWindow};
use crate::ingest::{body, IngestError, Limits};
use crate::model::UnixNanos;
use crate::pipeline::WriteError;
use crate::store::sqlite::journal;

/// Reads the body up to the wire limit, then undoes its content encoding.
pub async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limits: &Limits,
) -> Result<Vec<u8>, IngestError> {
    let too_large = || {
        IngestError::TooLarge(format!(
            "request body is larger than {} bytes",
            limits.max_request_bytes
        ))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limits.max_request_bytes) {
        return Err(too_large());
    }
    let mut raw =
        web::BytesMut::with_capacity(declared.unwrap_or(8192).min(limits.max_request_bytes));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            IngestError::Decode(format!("could not read the request body: {error}"))
        })?;
        if raw.len() + chunk.len() > limits.max_request_bytes {
            return Err(too_large());
        }
        raw.extend_from_slice(&chunk);
    }
    let encoding = request
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    body::decode_content_encoding(&raw, encoding, limits)
}

fn content_type(request: &HttpRequest) -> &str {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// An OTLP error answer: status from `ApiError`, body a `google.rpc.Status`.
pub(super) fn otlp_error(error: &ApiError, encoding: Encoding) -> HttpResponse {
    error.log();
    let mut response = HttpResponse::build(error.status_code());
    response.content_type(encoding.content_type());
    if error.status_code() == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()));
    }
    response.body(otlp::encode_error(
        error.grpc_code(),
        error.code(),
        &error.public_message(),
        encoding,
    ))
}

fn reject_reason(error: &IngestError) -> &'static str {
    match error {
        IngestError::Decode(_) => "decode",
        IngestError::TooLarge(_) => "too_large",
        IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
    }
}

/// The part every OTLP endpoint shares: content type, body limits and
/// decoding. `Err` is the finished error response.
async fn decode_request<T>(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    admit: impl FnOnce() -> Result<(), ApiError>,
    decode: impl FnOnce(&[u8], Encoding) -> Result<T, IngestError>,
) -> Result<(T, Encoding), HttpResponse> {
    let Some(encoding) = Encoding::from_content_type(content_type(request)) else {
        state.metrics.reject("unsupported_media_type", 1);
        let error = ApiError::UnsupportedMediaType(format!(
            "Content-Type {:?} is not supported: send application/x-protobuf or application/json",
            content_type(request)
        ));
        return Err(otlp_error(&error, Encoding::Json));
    };
    let decoded = match read_body(request, payload, &state.config.limits).await {
        Ok(bytes) => {
            // Refusing before decoding leaves the CPU to whatever is behind.
            if let Err(error) = admit() {
                return Err(otlp_error(&error, encoding));
            }
            decode(&bytes, encoding)
        }
        Err(error) => Err(error),
    };
    match decoded {
        Ok(export) => Ok((export, encoding)),
        Err(error) => {
            state.metrics.reject(reject_reason(&error), 1);
            Err(otlp_error(&ApiError::from(error), encoding))
        }
    }
}

/// Maps a failed write to its OTLP error response, counting the items.
fn write_failed(
    state: &AppState,
    error: WriteError,
    items: u64,
    encoding: Encoding,
) -> HttpResponse {
    let reason = if error == WriteError::QueueFull {
        "queue_full"
    } else {
        "write_failed"
    };
    state.metrics.reject(reason, items);
    otlp_error(&ApiError::from(error), encoding)
}

/// Admission for a log ingest request, checked before its body is
/// decoded: refused (and counted, per request) while log indexing is too
/// far behind for more records to be searchable in time.
pub(super) fn admit_logs(state: &AppState) -> Result<(), ApiError> {
    let journaled_through = state
        .writer
        .status()
        .journaled_through
        .load(Ordering::SeqCst);
    state
        .indexer
        .admit(
            journaled_through,
            state.config.log_max_lag,
            state.config.log_refresh,
        )
        .map_err(|behind| {
            state.metrics.reject("index_lag", 1);
            ApiError::from(behind)
        })
}

pub async fn post_traces(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (export, encoding) =
        match decode_request(&request, payload, &state, || Ok(()), otlp::decode_traces).await {
            Ok(decoded) => decoded,
            Err(response) => return response,
        };
    let converted = otlp::convert_traces(export, &state.config.limits);
    if converted.report.rejected > 0 {
        state
            .metrics
            .reject("invalid_item", converted.report.rejected);
    }
    let message = converted.report.message("span(s)");
    let rejected = converted.report.rejected;
    let accepted = converted.batch.spans.len() as u64;
    if accepted > 0 {
        if let Err(error) = state.writer.write_spans(converted.batch).await {
            return write_failed(&state, error, accepted, encoding);
        }
    }
    HttpResponse::Ok()
        .content_type(encoding.content_type())
        .body(otlp::encode_trace_response(rejected, message, encoding))
}

/// Log timestamps accepted: back to the retention period, and up to this
/// far into the future (clock skew).
const MAX_FUTURE: Duration = Duration::from_secs(24 * 3600);

pub fn log_time_window(state: &AppState, now: UnixNanos) -> TimeWindow {
    let nanos = |duration: Duration| i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
    TimeWindow {
        earliest: UnixNanos(now.0.saturating_sub(nanos(state.config.retention))),
        latest: UnixNanos(now.0.saturating_add(nanos(MAX_FUTURE))),
    }
}

pub async fn post_logs(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (export, encoding) = match decode_request(
        &request,
        payload,
        &state,
        || admit_logs(&state),
        otlp_logs::decode_logs,
    )
    .await
    {
        Ok(decoded) => decoded,
        Err(response) => return response,
    };
    let now = UnixNanos::now();
    let converted = otlp_logs::convert_logs(
        export,
        &state.config.limits,
        log_time_window(&state, now),
        now,
    );
    if converted.report.rejected > 0 {
        state
            .metrics
            .reject("invalid_item", converted.report.rejected);
    }
    let message = converted.report.message("log record(s)");
    let rejected = converted.report.rejected;
    let accepted = converted.records.len() as u64;
    if accepted > 0 {
        let encoded = converted
            .records
            .iter()
            .map(journal::encode_record)
            .collect();
        if let Err(error) = state.writer.write_logs(encoded).await {
            return write_failed(&state, error, accepted, encoding);
        }
    }
    HttpResponse::Ok()
        .content_type(encoding.content_type())
        .body(otlp_logs::encode_logs_response(rejected, message, encoding))
}
