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
