//! Request bodies off the wire: the size limit on the connection, then the
//! content encoding undone by `ingest::body` (which caps decompression).

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt as _;

use crate::ingest::{body, IngestError, Limits};

/// Reads the body up to the wire limit, then undoes its content encoding.
pub async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limits: &Limits,
) -> Result<Vec<u8>, IngestError> {
    let too_large = || IngestError::TooLarge {
        limit: limits.max_request_bytes,
        decompressed: false,
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
        let chunk = chunk.map_err(|error| IngestError::Read(error.to_string()))?;
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

/// The `Content-Type` header, or "" without one.
pub fn content_type(request: &HttpRequest) -> &str {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
