//! The one place where errors become HTTP answers: the status, the JSON
//! envelope `{"error": {"code", "message"}}`, the OTLP `google.rpc.Status`
//! body (protobuf or JSON) of the OTLP endpoints, and `Retry-After` on
//! every 503. 5xx bodies are generic; their cause is logged here, once.
//! Every layer's error converts into [`ApiError`] here.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use prost::Message as _;

use crate::ingest::otlp::Encoding;
use crate::ingest::IngestError;
use crate::model::FieldError;
use crate::pipeline::{FlushError, IndexBehind, WriteError};
use crate::query::promql::PromqlError;
use crate::query::QueryError;
use crate::store::logs::LogIndexError;
use crate::store::StoreError;

/// Seconds a client is asked to wait when the write queue is full.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// A query parameter (`q`) in a language of its own that does not
    /// parse: the answer also says which parameter and the byte offset
    /// into it, so a client can point at the problem.
    #[error("{message}")]
    BadQuery {
        message: String,
        parameter: &'static str,
        position: usize,
    },
    /// A field of a request body that is not acceptable; the answer names
    /// it (`"field"`).
    #[error("field {field}: {message}")]
    BadField { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    /// The target is in a state the request does not apply to.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials that do not allow this request.
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts (failed logins); try again after this many
    /// seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
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
            ApiError::BadRequest(_) | ApiError::BadQuery { .. } | ApiError::BadField { .. } => {
                "bad_request"
            }
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooManyRequests { .. } => "too_many_requests",
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
            ApiError::BadRequest(_)
            | ApiError::BadQuery { .. }
            | ApiError::BadField { .. }
            | ApiError::UnsupportedMediaType(_) => 3, // INVALID_ARGUMENT
            ApiError::NotFound(_) => 5,
            ApiError::Conflict(_) => 9, // FAILED_PRECONDITION
            ApiError::Unauthorized(_) => 16,
            ApiError::Forbidden(_) => 7,           // PERMISSION_DENIED
            ApiError::TooManyRequests { .. } => 8, // RESOURCE_EXHAUSTED
            ApiError::PayloadTooLarge(_) => 8,     // RESOURCE_EXHAUSTED
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
            ApiError::BadRequest(_) | ApiError::BadQuery { .. } | ApiError::BadField { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
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
        let mut response = self.response_builder();
        let mut error = serde_json::json!({"code": self.code(), "message": self.public_message()});
        if let ApiError::BadQuery {
            parameter,
            position,
            ..
        } = self
        {
            error["parameter"] = (*parameter).into();
            error["position"] = (*position).into();
        }
        if let ApiError::BadField { field, .. } = self {
            error["field"] = field.clone().into();
        }
        response.json(serde_json::json!({ "error": error }))
    }
}

impl ApiError {
    /// The status, and `Retry-After` when the answer is 503.
    fn response_builder(&self) -> actix_web::HttpResponseBuilder {
        let mut response = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()));
        }
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        response
    }

    /// The answer of an OTLP endpoint: the same status, with a
    /// `google.rpc.Status` body in the request's encoding (for JSON
    /// clients also lookout's `error` object, so both kinds of client can
    /// read it).
    pub fn otlp_response(&self, encoding: Encoding) -> HttpResponse {
        self.log();
        let message = self.public_message();
        let body = match encoding {
            Encoding::Protobuf => RpcStatus {
                code: self.grpc_code(),
                message: message.clone(),
            }
            .encode_to_vec(),
            Encoding::Json => serde_json::json!({
                "code": self.grpc_code(),
                "message": message,
                "error": {"code": self.code(), "message": message},
            })
            .to_string()
            .into_bytes(),
        };
        self.response_builder()
            .content_type(encoding.content_type())
            .body(body)
    }
}

/// `google.rpc.Status`, the body OTLP/HTTP servers answer errors with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        let message = error.to_string();
        match error {
            IngestError::Protobuf(_)
            | IngestError::Json(_)
            | IngestError::Gzip(_)
            | IngestError::Read(_) => ApiError::BadRequest(message),
            IngestError::TooLarge { .. } => ApiError::PayloadTooLarge(message),
            IngestError::UnsupportedEncoding(_) | IngestError::UnsupportedContentType { .. } => {
                ApiError::UnsupportedMediaType(message)
            }
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::QueueFull => ApiError::Busy,
            WriteError::WriterGone | WriteError::Failed(_) => {
                ApiError::Unavailable(error.to_string())
            }
        }
    }
}

impl From<FlushError> for ApiError {
    fn from(error: FlushError) -> Self {
        match error {
            FlushError::Write(error) => ApiError::from(error),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::Invalid(message) => ApiError::BadRequest(message),
            QueryError::Syntax { parameter, error } => ApiError::BadQuery {
                message: format!("parameter {parameter}: {error}"),
                parameter,
                position: error.position,
            },
            QueryError::Promql(error) => match error {
                PromqlError::Source(source) => ApiError::Internal(source.to_string()),
                other => ApiError::BadRequest(other.to_string()),
            },
            QueryError::Store(error) => ApiError::from(error),
            QueryError::LogIndex(error) => ApiError::from(error),
        }
    }
}

impl From<LogIndexError> for ApiError {
    fn from(error: LogIndexError) -> Self {
        ApiError::Internal(error.to_string())
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

/// An error of the Prometheus-compatible API, in Prometheus's own shape
/// (`{"status": "error", "errorType": "bad_data", "error": "…"}`), which
/// its clients (Grafana, Jaeger) read instead of ours.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PromError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl PromError {
    /// A query or parameter that cannot be used: 400 `bad_data`.
    pub fn bad_data(message: impl Into<String>) -> PromError {
        PromError {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    /// A query too costly to finish: 422 `execution`.
    pub fn execution(message: impl Into<String>) -> PromError {
        PromError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error_type: "execution",
            message: message.into(),
        }
    }
}

impl From<ApiError> for PromError {
    fn from(error: ApiError) -> Self {
        let (status, error_type) = match &error {
            ApiError::BadRequest(_) | ApiError::BadQuery { .. } | ApiError::BadField { .. } => {
                (StatusCode::BAD_REQUEST, "bad_data")
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
            }
            ApiError::Busy | ApiError::IndexBehind { .. } | ApiError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::PayloadTooLarge(_) | ApiError::UnsupportedMediaType(_) => {
                (StatusCode::BAD_REQUEST, "bad_data")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if let ApiError::Internal(detail) = &error {
            tracing::error!(error = %detail, "prometheus api request failed");
        }
        PromError {
            status,
            error_type,
            message: error.to_string(),
        }
    }
}

impl From<QueryError> for PromError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::Promql(PromqlError::TooManySamples) => {
                PromError::execution(PromqlError::TooManySamples.to_string())
            }
            other => PromError::from(ApiError::from(other)),
        }
    }
}

impl actix_web::ResponseError for PromError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(serde_json::json!({
            "status": "error",
            "errorType": self.error_type,
            "error": self.message,
        }))
    }
}

/// A field of a request body that is not acceptable; without a field,
/// the body as a whole.
impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        if error.field.is_empty() {
            ApiError::BadRequest(error.message)
        } else {
            ApiError::BadField {
                field: error.field,
                message: error.message,
            }
        }
    }
}
