//! Ingest: turning request bodies into validated model batches.
//!
//! `body` enforces size limits and undoes `Content-Encoding: gzip`; `otlp`
//! decodes OTLP protobuf/JSON and converts it into `model` types, rejecting
//! invalid items individually. Nothing here touches storage.

pub mod body;
pub mod jsonl;
pub mod limits;
pub mod otlp;
pub mod otlp_logs;

pub use limits::Limits;

/// Why a request body could not be ingested at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IngestError {
    #[error("{0}")]
    Decode(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
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
