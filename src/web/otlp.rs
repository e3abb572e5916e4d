//! OTLP/HTTP ingest endpoints. A 200 is sent only after the batch is
//! committed; errors use the OTLP error body in the request's encoding.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;

use super::error::{ApiError, RETRY_AFTER_SECONDS};
use super::AppState;
use crate::ingest::otlp::{self, Encoding};
use crate::ingest::{body, IngestError, Limits};
use crate::pipeline::WriteError;

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
fn otlp_error(error: &ApiError, encoding: Encoding) -> HttpResponse {
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

pub async fn post_traces(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(encoding) = Encoding::from_content_type(content_type(&request)) else {
        state.metrics.reject("unsupported_media_type", 1);
        let error = ApiError::UnsupportedMediaType(format!(
            "Content-Type {:?} is not supported: send application/x-protobuf or application/json",
            content_type(&request)
        ));
        return otlp_error(&error, Encoding::Json);
    };
    let limits = &state.config.limits;
    let decoded = match read_body(&request, payload, limits).await {
        Ok(bytes) => otlp::decode_traces(&bytes, encoding),
        Err(error) => Err(error),
    };
    let export = match decoded {
        Ok(export) => export,
        Err(error) => {
            state.metrics.reject(reject_reason(&error), 1);
            return otlp_error(&ApiError::from(error), encoding);
        }
    };
    let converted = otlp::convert_traces(export, limits);
    if converted.rejected > 0 {
        state.metrics.reject("invalid_item", converted.rejected);
    }
    let message = converted.message();
    let rejected = converted.rejected;
    let accepted = converted.batch.spans.len() as u64;
    if accepted > 0 {
        if let Err(error) = state.writer.write_spans(converted.batch).await {
            let reason = if error == WriteError::QueueFull {
                "queue_full"
            } else {
                "write_failed"
            };
            state.metrics.reject(reason, accepted);
            return otlp_error(&ApiError::from(error), encoding);
        }
    }
    HttpResponse::Ok()
        .content_type(encoding.content_type())
        .body(otlp::encode_trace_response(rejected, message, encoding))
}
