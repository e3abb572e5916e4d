//! Ingest: turning request bodies into validated model batches.
//!
//! `body` enforces size limits and undoes `Content-Encoding: gzip`; `otlp`
//! decodes OTLP protobuf/JSON and converts it into `model` types, rejecting
//! invalid items individually; `jsonl` parses JSON-lines logs. Record
//! timestamps are checked against `model::TimeWindow`. Nothing here touches storage or
//! knows HTTP: errors are typed, and `web::error` turns them into answers.

pub mod body;
pub mod exposition;
pub mod jsonl;
pub mod limits;
pub mod otlp;
pub mod redact;

pub use limits::Limits;

use crate::telemetry::RejectReason;

/// Why a request body could not be ingested at all. Each variant carries
/// its cause.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(prost::DecodeError),
    #[error("invalid OTLP JSON: {0}")]
    Json(serde_json::Error),
    #[error("invalid gzip body: {0}")]
    Gzip(std::io::Error),
    /// The body could not be read off the connection.
    #[error("could not read the request body: {0}")]
    Read(String),
    #[error("request body is larger than {limit} bytes{}", if *.decompressed { " after decompression" } else { "" })]
    TooLarge { limit: usize, decompressed: bool },
    #[error("unsupported Content-Encoding {0:?}: send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("Content-Type {content_type:?} is not supported: send {expected}")]
    UnsupportedContentType {
        content_type: String,
        expected: &'static str,
    },
}

impl IngestError {
    /// How `/metrics` counts a request refused for this error.
    pub fn reject_reason(&self) -> RejectReason {
        match self {
            IngestError::Protobuf(_)
            | IngestError::Json(_)
            | IngestError::Gzip(_)
            | IngestError::Read(_) => RejectReason::Decode,
            IngestError::TooLarge { .. } => RejectReason::TooLarge,
            IngestError::UnsupportedEncoding(_) | IngestError::UnsupportedContentType { .. } => {
                RejectReason::UnsupportedMediaType
            }
        }
    }
}

/// What a request lost in conversion: items rejected (with the first few
/// reasons) and attributes dropped or truncated by the limits. It becomes
/// the `partial_success` of the OTLP answer.
#[derive(Debug, Default)]
pub struct Report {
    pub rejected: u64,
    pub trimmed: u64,
    reasons: Vec<String>,
}

impl Report {
    /// Partial-success messages name at most this many problems.
    const MAX_REASONS: usize = 5;

    pub fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.reasons.len() < Self::MAX_REASONS {
            self.reasons.push(reason);
        }
    }

    /// The partial-success message (empty when nothing was lost); `items`
    /// names what was rejected, e.g. "span(s)".
    pub fn message(&self, items: &str) -> String {
        let mut parts = Vec::new();
        if self.rejected > 0 {
            parts.push(format!(
                "rejected {} {items}: {}",
                self.rejected,
                self.reasons.join("; ")
            ));
        }
        if self.trimmed > 0 {
            parts.push(format!(
                "{} attribute(s) dropped or truncated by the server's limits",
                self.trimmed
            ));
        }
        parts.join(". ")
    }
}
