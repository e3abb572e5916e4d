//! OTLP/HTTP ingest endpoints. A 200 is sent only after the batch is
//! committed; errors use the OTLP error body in the request's encoding.
//! What happens to a decoded export (`accept_*`) is shared with OTLP/gRPC
//! (`web::grpc`).

use std::sync::atomic::Ordering;

use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{content_type, read_body};
use super::error::ApiError;
use super::AppState;
use crate::ingest::otlp::grpc::{
    ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest,
};
use crate::ingest::otlp::{self, Accepted, Encoding};
use crate::ingest::IngestError;
use crate::model::error_group::ErrorOccurrence;
use crate::model::LogRecord;
use crate::model::{TimeWindow, UnixNanos};
use crate::pipeline::{ForwardSignal, Outgoing, WriteError};
use crate::store::log_codec::{self, EncodedLog};
use crate::telemetry::RejectReason;

/// The part every OTLP endpoint shares: content type, body limits and
/// decoding; with the export, its encoding and, when that is protobuf,
/// the (decompressed) body as received, which forwarding can send on as
/// it is. `Err` is the finished error response.
async fn decode_request<T>(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    admit: impl FnOnce() -> Result<(), ApiError>,
    decode: impl FnOnce(&[u8], Encoding) -> Result<T, IngestError>,
) -> Result<(T, Encoding, Option<Vec<u8>>), HttpResponse> {
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
            decode(&bytes, encoding).map(|export| {
                let received = (encoding == Encoding::Protobuf).then_some(bytes);
                (export, encoding, received)
            })
        }
        Err(error) => Err(error),
    };
    decoded.map_err(|error| refused(state, error).otlp_response(encoding))
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
    let (export, encoding, received) =
        match decode_request(&request, payload, &state, || Ok(()), otlp::decode_traces).await {
            Ok(decoded) => decoded,
            Err(response) => return response,
        };
    match accept_traces(&state, export, received).await {
        Ok(accepted) => HttpResponse::Ok()
            .content_type(encoding.content_type())
            .body(otlp::encode_trace_response(accepted, encoding)),
        Err(error) => error.otlp_response(encoding),
    }
}

/// What goes into the forwarding outbox for a batch: the request as
/// received (`received`, protobuf) when storing changed nothing in it
/// (`unchanged`: no item rejected, nothing trimmed or redacted), which
/// saves encoding it again; else `encode()`, what is stored.
pub(super) fn outgoing(
    state: &AppState,
    signal: ForwardSignal,
    received: Option<Vec<u8>>,
    unchanged: bool,
    encode: impl FnOnce() -> Vec<u8>,
) -> Option<Outgoing> {
    if !state.forwarding() {
        return None;
    }
    match received.filter(|_| unchanged) {
        Some(body) => Outgoing::new(signal, &body),
        None => Outgoing::new(signal, &encode()),
    }
}

/// A decoded trace export, whatever it came over (with its protobuf
/// bytes when they are at hand): converted, redacted, written; `Ok` once
/// durable.
pub(super) async fn accept_traces(
    state: &AppState,
    export: ExportTraceServiceRequest,
    received: Option<Vec<u8>>,
) -> Result<Accepted, ApiError> {
    let sent: usize = export
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len())
        .sum();
    let mut converted = otlp::convert_traces(export, &state.config.limits);
    let redacted = state.redactor.redact_spans(&mut converted.batch);
    state.metrics.redacted_spans.add(redacted);
    if converted.report.rejected > 0 {
        state
            .metrics
            .reject(RejectReason::InvalidItem, converted.report.rejected);
    }
    let accepted = Accepted {
        rejected: converted.report.rejected,
        message: converted.report.message("span(s)"),
    };
    let spans = converted.batch.spans.len() as u64;
    if spans > 0 {
        // What is forwarded is what is stored: after limits and redaction.
        let unchanged = redacted == 0
            && converted.report.rejected == 0
            && converted.report.trimmed == 0
            && converted.batch.spans.len() == sent;
        let forward = outgoing(state, ForwardSignal::Traces, received, unchanged, || {
            otlp::encode_spans(&converted.batch)
        });
        if let Err(error) = state.writer.write_spans(converted.batch, forward).await {
            return Err(write_failed(state, error, spans));
        }
    }
    Ok(accepted)
}

pub async fn post_logs(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (export, encoding, received) = match decode_request(
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
    match accept_logs(&state, export, received).await {
        Ok(accepted) => HttpResponse::Ok()
            .content_type(encoding.content_type())
            .body(otlp::encode_logs_response(accepted, encoding)),
        Err(error) => error.otlp_response(encoding),
    }
}

/// A decoded log export, admitted by [`admit_logs`] (with its protobuf
/// bytes when they are at hand): converted, redacted, journaled; `Ok`
/// once durable.
pub(super) async fn accept_logs(
    state: &AppState,
    export: ExportLogsServiceRequest,
    received: Option<Vec<u8>>,
) -> Result<Accepted, ApiError> {
    let sent: usize = export
        .resource_logs
        .iter()
        .flat_map(|resource| &resource.scope_logs)
        .map(|scope| scope.log_records.len())
        .sum();
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
    let accepted = Accepted {
        rejected: converted.report.rejected,
        message: converted.report.message("log record(s)"),
    };
    let records = converted.records.len() as u64;
    if records > 0 {
        let (encoded, errors) = journal_entries(&converted.records);
        let unchanged = redacted == 0
            && converted.report.rejected == 0
            && converted.report.trimmed == 0
            && converted.records.len() == sent;
        let forward = outgoing(state, ForwardSignal::Logs, received, unchanged, || {
            otlp::encode_logs(&converted.records)
        });
        if let Err(error) = state.writer.write_logs(encoded, errors, forward).await {
            return Err(write_failed(state, error, records));
        }
    }
    Ok(accepted)
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
    let (export, encoding, received) =
        match decode_request(&request, payload, &state, || Ok(()), otlp::decode_metrics).await {
            Ok(decoded) => decoded,
            Err(response) => return response,
        };
    match accept_metrics(&state, export, received).await {
        Ok(accepted) => HttpResponse::Ok()
            .content_type(encoding.content_type())
            .body(otlp::encode_metrics_response(accepted, encoding)),
        Err(error) => error.otlp_response(encoding),
    }
}

/// A decoded metric export (with its protobuf bytes when they are at
/// hand): converted and written; `Ok` once durable, with the points the
/// writer refused (series limits) counted as rejected.
pub(super) async fn accept_metrics(
    state: &AppState,
    export: ExportMetricsServiceRequest,
    received: Option<Vec<u8>>,
) -> Result<Accepted, ApiError> {
    let now = UnixNanos::now();
    // Metrics are not redacted: they are forwarded as received.
    let forward = outgoing(state, ForwardSignal::Metrics, received, true, || {
        otlp::encode_metrics(&export)
    });
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
    let mut accepted = Accepted {
        rejected: converted.report.rejected,
        message: converted.report.message("data point(s)"),
    };
    let points = converted.batch.points.len() as u64;
    if points > 0 {
        let outcome = state
            .writer
            .write_metrics(converted.batch, forward)
            .await
            .map_err(|error| write_failed(state, error, points))?;
        // The writer counts its own refusals in /metrics.
        if outcome.rejected > 0 {
            accepted.rejected += outcome.rejected;
            let refused = format!(
                "refused {} data point(s) when storing: {}",
                outcome.rejected,
                outcome.reasons.join("; ")
            );
            accepted.message = if accepted.message.is_empty() {
                refused
            } else {
                format!("{}. {refused}", accepted.message)
            };
        }
    }
    Ok(accepted)
}
