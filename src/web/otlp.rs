//! OTLP/HTTP ingest endpoints. A 200 is sent only after the batch is
//! committed; errors use the OTLP error body in the request's encoding.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{content_type, read_body};
use super::error::ApiError;
use super::AppState;
use crate::ingest::otlp::{self, Encoding};
use crate::ingest::IngestError;
use crate::model::error_group::ErrorOccurrence;
use crate::model::LogRecord;
use crate::model::{TimeWindow, UnixNanos};
use crate::pipeline::WriteError;
use crate::store::log_codec::{self, EncodedLog};
use crate::telemetry::RejectReason;

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
        let error = IngestError::UnsupportedContentType {
            content_type: content_type(request).to_string(),
            expected: "application/x-protobuf or application/json",
        };
        return Err(refused(state, error).otlp_response(Encoding::Json));
    };
    let decoded = match read_body(request, payload, &state.config.limits).await {
        Ok(bytes) => {
            // Refusing before decoding leaves the CPU to whatever is behind.
            if let Err(error) = admit() {
                return Err(error.otlp_response(encoding));
            }
            decode(&bytes, encoding)
        }
        Err(error) => Err(error),
    };
    decoded
        .map(|export| (export, encoding))
        .map_err(|error| refused(state, error).otlp_response(encoding))
}

/// Counts a request refused for its body and turns the error into an
/// answer.
pub(super) fn refused(state: &AppState, error: IngestError) -> ApiError {
    state.metrics.reject(error.reject_reason(), 1);
    ApiError::from(error)
}

/// Counts the items a failed write turned away and turns the error into
/// an answer.
pub(super) fn write_failed(state: &AppState, error: WriteError, items: u64) -> ApiError {
    state.metrics.reject(error.reject_reason(), items);
    ApiError::from(error)
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
            state.metrics.reject(RejectReason::IndexLag, 1);
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
    let mut converted = otlp::convert_traces(export, &state.config.limits);
    let redacted = state.redactor.redact_spans(&mut converted.batch);
    state.metrics.redacted_spans.add(redacted);
    if converted.report.rejected > 0 {
        state
            .metrics
            .reject(RejectReason::InvalidItem, converted.report.rejected);
    }
    let message = converted.report.message("span(s)");
    let rejected = converted.report.rejected;
    let accepted = converted.batch.spans.len() as u64;
    if accepted > 0 {
        if let Err(error) = state.writer.write_spans(converted.batch).await {
            return write_failed(&state, error, accepted).otlp_response(encoding);
        }
    }
    HttpResponse::Ok()
        .content_type(encoding.content_type())
        .body(otlp::encode_trace_response(rejected, message, encoding))
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
        otlp::decode_logs,
    )
    .await
    {
        Ok(decoded) => decoded,
        Err(response) => return response,
    };
    let now = UnixNanos::now();
    let mut converted = otlp::convert_logs(
        export,
        &state.config.limits,
        TimeWindow::kept(state.config.retention, now),
        now,
    );
    let redacted = state.redactor.redact_logs(&mut converted.records);
    state.metrics.redacted_logs.add(redacted);
    if converted.report.rejected > 0 {
        state
            .metrics
            .reject(RejectReason::InvalidItem, converted.report.rejected);
    }
    let message = converted.report.message("log record(s)");
    let rejected = converted.report.rejected;
    let accepted = converted.records.len() as u64;
    if accepted > 0 {
        let (encoded, errors) = journal_entries(&converted.records);
        if let Err(error) = state.writer.write_logs(encoded, errors).await {
            return write_failed(&state, error, accepted).otlp_response(encoding);
        }
    }
    HttpResponse::Ok()
        .content_type(encoding.content_type())
        .body(otlp::encode_logs_response(rejected, message, encoding))
}

/// Log records as the journal stores them, and the exceptions they carry
/// (grouped by the writer in the same transaction).
pub(super) fn journal_entries(records: &[LogRecord]) -> (Vec<EncodedLog>, Vec<ErrorOccurrence>) {
    let encoded = records.iter().map(log_codec::encode_record).collect();
    let errors = records
        .iter()
        .filter_map(ErrorOccurrence::from_log)
        .collect();
    (encoded, errors)
}

pub async fn post_metrics(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (export, encoding) =
        match decode_request(&request, payload, &state, || Ok(()), otlp::decode_metrics).await {
            Ok(decoded) => decoded,
            Err(response) => return response,
        };
    let now = UnixNanos::now();
    let converted = otlp::convert_metrics(
        export,
        &state.config.limits,
        TimeWindow::kept(state.config.retention, now),
    );
    if converted.report.rejected > 0 {
        state
            .metrics
            .reject(RejectReason::InvalidItem, converted.report.rejected);
    }
    let mut rejected = converted.report.rejected;
    let mut message = converted.report.message("data point(s)");
    let points = converted.batch.points.len() as u64;
    if points > 0 {
        match state.writer.write_metrics(converted.batch).await {
            Ok(outcome) => {
                // The writer counts its own refusals in /metrics.
                if outcome.rejected > 0 {
                    rejected += outcome.rejected;
                    let refused = format!(
                        "refused {} data point(s) when storing: {}",
                        outcome.rejected,
                        outcome.reasons.join("; ")
                    );
                    message = if message.is_empty() {
                        refused
                    } else {
                        format!("{message}. {refused}")
                    };
                }
            }
            Err(error) => return write_failed(&state, error, points).otlp_response(encoding),
        }
    }
    HttpResponse::Ok()
        .content_type(encoding.content_type())
        .body(otlp::encode_metrics_response(rejected, message, encoding))
}
