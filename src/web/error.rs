//! The one place where errors become HTTP statuses and JSON bodies
//! `{"error": {"code", "message"}}`. 5xx bodies are generic; their cause is
//! logged here, once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::ingest::IngestError;
use crate::pipeline::{IndexBehind, WriteError};
use crate::store::StoreError;

/// Seconds a client is asked to wait when the write queue is full.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the server is busy: the write queue is full, retry later")]
    Busy,
    /// Log indexing is behind; records sent now would not be searchable
    /// within `--log-max-lag`.
    #[error("log indexing is behind ({records} records, about {seconds:.1} s): retry later")]
    IndexBehind { records: i64, seconds: f64 },
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Busy | ApiError::IndexBehind { .. } => "busy",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The message a client sees. Internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error; the server log has the cause".into(),
            ApiError::Unavailable(_) => {
                "storage is unavailable: the data was not stored; /health/deep has the cause".into()
            }
            other => other.to_string(),
        }
    }

    /// The gRPC status code OTLP/HTTP error bodies carry.
    pub fn grpc_code(&self) -> i32 {
        match self {
            ApiError::BadRequest(_) | ApiError::UnsupportedMediaType(_) => 3, // INVALID_ARGUMENT
            ApiError::NotFound(_) => 5,
            ApiError::Unauthorized(_) => 16,
            ApiError::PayloadTooLarge(_) => 8, // RESOURCE_EXHAUSTED
            ApiError::Busy | ApiError::IndexBehind { .. } | ApiError::Unavailable(_) => 14, // UNAVAILABLE
            ApiError::Internal(_) => 13,
        }
    }

    /// Logs server-side failures once, where they become a response.
    pub fn log(&self) {
        match self {
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "request refused: storage unavailable")
            }
            _ => {}
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Busy | ApiError::IndexBehind { .. } | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut response = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", RETRY_AFTER_SECONDS.to_string()));
        }
        response.json(serde_json::json!({
            "error": {"code": self.code(), "message": self.public_message()}
        }))
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::Decode(message) => ApiError::BadRequest(message),
            IngestError::TooLarge(message) => ApiError::PayloadTooLarge(message),
            IngestError::UnsupportedMediaType(message) => ApiError::UnsupportedMediaType(message),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::QueueFull => ApiError::Busy,
            WriteError::WriterGone => ApiError::Unavailable(error.to_string()),
            WriteError::Failed(cause) => ApiError::Unavailable(cause),
        }
    }
}

impl From<IndexBehind> for ApiError {
    fn from(behind: IndexBehind) -> Self {
        ApiError::IndexBehind {
            records: behind.records,
            seconds: behind.seconds,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(error.to_string())
    }
}
