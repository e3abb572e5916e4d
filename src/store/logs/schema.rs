//! The one definition of the log index schema: field names, how each field
//! is indexed, the body tokenizer, and the conversion between a
//! [`LogRecord`] and a tantivy document.
//!
//! Every day index is created from [`LogSchema::get`], so field handles are
//! the same in all of them and a query built once runs on every day.

use std::sync::LazyLock;

use base64::Engine as _;
use tantivy::schema::{
    Field, IndexRecordOption, JsonObjectOptions, NumericOptions, OwnedValue, Schema,
    TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};

use super::LogIndexError;
use crate::model::{AttrValue, Attributes, LogBody, LogRecord, Scope, SpanId, TraceId, UnixNanos};

/// Tokenizer name the body field is indexed with; registered on every
/// index this module opens.
const BODY_TOKENIZER: &str = "lookout_body";

/// Tokens at least this long (hashes, base64 blobs) are not indexed: they
/// bloat the term dictionary and nobody types them as search words.
const MAX_TOKEN_BYTES: usize = 40;

pub(crate) const TIMESTAMP: &str = "timestamp";
pub(crate) const SEVERITY_NUMBER: &str = "severity_number";
pub(crate) const JOURNAL_ID: &str = "journal_id";

/// Field handles of the log index schema.
pub struct LogSchema {
    schema: Schema,
    analyzer: TextAnalyzer,
    /// Event time, unix nanos: range filters, sorting, day partitioning.
    pub timestamp: Field,
    pub observed_timestamp: Field,
    /// OTLP severity number; `level:warn` is a range on it.
    pub severity_number: Field,
    pub severity_text: Field,
    /// Exact service name (raw term).
    pub service: Field,
    /// Lowercase hex, raw term.
    pub trace_id: Field,
    pub span_id: Field,
    /// Full-text message; structured bodies as their JSON text.
    pub body: Field,
    /// 1 when `body` holds the JSON text of a structured body.
    pub body_is_json: Field,
    /// Record attributes: string values as exact terms, numbers typed (and
    /// fast, for ranges); nested objects and dotted keys are one path.
    pub attributes: Field,
    pub resource: Field,
    pub scope_name: Field,
    pub scope_version: Field,
    /// The record's journal row id: its API id, the sort tie-breaker and
    /// the replay/dedup key.
    pub journal_id: Field,
}

static LOG_SCHEMA: LazyLock<LogSchema> = LazyLock::new(LogSchema::build);

impl LogSchema {
    /// The schema every day index uses.
    pub fn get() -> &'static LogSchema {
        &LOG_SCHEMA
    }

    fn build() -> LogSchema {
        let mut builder = Schema::builder();
        let indexed_i64 = NumericOptions::default()
            .set_indexed()
            .set_fast()
            .set_stored();
        let raw_indexed = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_stored();
        let json = JsonObjectOptions::default()
            .set_stored()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_fast("raw")
            .set_expand_dots_enabled();

        let timestamp = builder.add_i64_field(TIMESTAMP, indexed_i64.clone());
        let observed_timestamp =
            builder.add_i64_field("observed_timestamp", NumericOptions::default().set_stored());
        let severity_number = builder.add_i64_field(SEVERITY_NUMBER, indexed_i64);
        let severity_text = builder.add_text_field("severity_text", raw_indexed.clone());
        let service = builder.add_text_field("service", raw_indexed.clone().set_fast("raw"));
        let trace_id = builder.add_text_field("trace_id", raw_indexed.clone());
        let span_id = builder.add_text_field("span_id", raw_indexed);
        let body = builder.add_text_field(
            "body",
            TextOptions::default()
                .set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer(BODY_TOKENIZER)
                        .set_index_option(IndexRecordOption::WithFreqsAndPositions),
                )
                .set_stored(),
        );
        let body_is_json =
            builder.add_u64_field("body_is_json", NumericOptions::default().set_stored());
        let attributes = builder.add_json_field("attributes", json.clone());
        let resource = builder.add_json_field("resource", json);
        let scope_name = builder.add_text_field("scope_name", TextOptions::default().set_stored());
        let scope_version =
            builder.add_text_field("scope_version", TextOptions::default().set_stored());
        let journal_id = builder.add_u64_field(
            JOURNAL_ID,
            NumericOptions::default()
                .set_indexed()
                .set_fast()
                .set_stored(),
        );
        LogSchema {
            schema: builder.build(),
            analyzer: body_analyzer(),
            timestamp,
            observed_timestamp,
            severity_number,
            severity_text,
            service,
            trace_id,
            span_id,
            body,
            body_is_json,
            attributes,
            resource,
            scope_name,
            scope_version,
            journal_id,
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Makes the body tokenizer known to an index; needed on every index
    /// this module creates or opens, before writing or searching.
    pub(crate) fn register_tokenizers(&self, index: &Index) {
        index
            .tokenizers()
            .register(BODY_TOKENIZER, self.analyzer.clone());
    }

    /// The body tokens of `text` with their positions, exactly as indexing
    /// produces them, so queries look up the terms the index holds.
    /// Positions can skip numbers where an over-long token was dropped.
    pub fn body_tokens(&self, text: &str) -> Vec<(usize, String)> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut tokens = Vec::new();
        while stream.advance() {
            let token = stream.token();
            tokens.push((token.position, token.text.clone()));
        }
        tokens
    }

    /// The document for one record. `journal_id` becomes its id.
    pub(crate) fn to_document(&self, journal_id: u64, record: &LogRecord) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_i64(self.timestamp, record.timestamp.0);
        doc.add_i64(self.observed_timestamp, record.observed_timestamp.0);
        doc.add_i64(self.severity_number, i64::from(record.severity_number));
        doc.add_text(self.severity_text, &record.severity_text);
        doc.add_text(self.service, &record.service);
        if let Some(trace_id) = record.trace_id {
            doc.add_text(self.trace_id, trace_id.to_hex());
        }
        if let Some(span_id) = record.span_id {
            doc.add_text(self.span_id, span_id.to_hex());
        }
        doc.add_text(self.body, record.body.search_text());
        if matches!(&record.body, LogBody::Json(value) if !value.is_string()) {
            doc.add_u64(self.body_is_json, 1);
        }
        if !record.attributes.is_empty() {
            doc.add_field_value(self.attributes, &attributes_to_owned(&record.attributes));
        }
        if !record.resource.is_empty() {
            doc.add_field_value(self.resource, &attributes_to_owned(&record.resource));
        }
        doc.add_text(self.scope_name, &record.scope.name);
        doc.add_text(self.scope_version, &record.scope.version);
        doc.add_u64(self.journal_id, journal_id);
        doc
    }

    /// The journal id and record stored in a document. Attribute bytes come
    /// back as their base64 text: the index keeps JSON types only.
    pub(crate) fn record_of(
        &self,
        doc: &TantivyDocument,
    ) -> Result<(u64, LogRecord), LogIndexError> {
        let missing = |name: &str| LogIndexError::Corrupt(format!("document has no {name}"));
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|value| value.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let i64_of = |field: Field| doc.get_first(field).and_then(|value| value.as_i64());
        let journal_id = doc
            .get_first(self.journal_id)
            .and_then(|value| value.as_u64())
            .ok_or_else(|| missing(JOURNAL_ID))?;
        let timestamp = i64_of(self.timestamp).ok_or_else(|| missing(TIMESTAMP))?;
        let body_text = text(self.body);
        let body_is_json = doc
            .get_first(self.body_is_json)
            .and_then(|value| value.as_u64())
            == Some(1);
        let body = if body_is_json {
            serde_json::from_str(&body_text)
                .map(LogBody::Json)
                .unwrap_or(LogBody::Text(body_text))
        } else {
            LogBody::Text(body_text)
        };
        let attributes_of = |field: Field| -> Attributes {
            match doc
                .get_first(field)
                .map(|value| OwnedValue::from(value.as_value()))
            {
                Some(OwnedValue::Object(entries)) => entries
                    .into_iter()
                    .map(|(key, value)| (key, owned_to_attr(value)))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let record = LogRecord {
            timestamp: UnixNanos(timestamp),
            observed_timestamp: UnixNanos(i64_of(self.observed_timestamp).unwrap_or(0)),
            severity_number: i64_of(self.severity_number)
                .and_then(|number| i32::try_from(number).ok())
                .unwrap_or(0),
            severity_text: text(self.severity_text),
            service: text(self.service),
            body,
            trace_id: TraceId::from_hex(&text(self.trace_id)).ok(),
            span_id: SpanId::from_hex(&text(self.span_id)).ok(),
            attributes: attributes_of(self.attributes),
            resource: attributes_of(self.resource),
            scope: Scope {
                name: text(self.scope_name),
                version: text(self.scope_version),
            },
        };
        Ok((journal_id, record))
    }
}

/// SimpleTokenizer splits on anything that is not a letter or digit, which
/// keeps identifiers like `order-123` or `user@host` searchable by part.
fn body_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .build()
}

/// Attributes as a tantivy JSON object. Built directly rather than through
/// `serde_json::Value`, whose conversion would turn strings that look like
/// RFC 3339 times into dates and so break exact string matches.
fn attributes_to_owned(attributes: &Attributes) -> OwnedValue {
    OwnedValue::Object(
        attributes
            .iter()
            .map(|(key, value)| (key.clone(), attr_to_owned(value)))
            .collect(),
    )
}

fn attr_to_owned(value: &AttrValue) -> OwnedValue {
    match value {
        AttrValue::String(text) => OwnedValue::Str(text.clone()),
        AttrValue::Bool(flag) => OwnedValue::Bool(*flag),
        AttrValue::Int(number) => OwnedValue::I64(*number),
        AttrValue::Double(number) => OwnedValue::F64(*number),
        AttrValue::Bytes(bytes) => {
            OwnedValue::Str(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        AttrValue::Array(items) => OwnedValue::Array(items.iter().map(attr_to_owned).collect()),
        AttrValue::KvList(entries) => OwnedValue::Object(
            entries
                .iter()
                .map(|(key, value)| (key.clone(), attr_to_owned(value)))
                .collect(),
        ),
        AttrValue::Empty => OwnedValue::Null,
    }
}

fn owned_to_attr(value: OwnedValue) -> AttrValue {
    match value {
        OwnedValue::Null => AttrValue::Empty,
        OwnedValue::Str(text) => AttrValue::String(text),
        OwnedValue::U64(number) => AttrValue::Int(i64::try_from(number).unwrap_or(i64::MAX)),
        OwnedValue::I64(number) => AttrValue::Int(number),
        OwnedValue::F64(number) => AttrValue::Double(number),
        OwnedValue::Bool(flag) => AttrValue::Bool(flag),
        OwnedValue::Array(items) => {
            AttrValue::Array(items.into_iter().map(owned_to_attr).collect())
        }
        OwnedValue::Object(entries) => AttrValue::KvList(
            entries
                .into_iter()
                .map(|(key, value)| (key, owned_to_attr(value)))
                .collect(),
        ),
        // Never written by `attr_to_owned`; kept readable rather than lost.
        other => AttrValue::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LogRecord {
        LogRecord {
            timestamp: UnixNanos(1_763_719_200_123_456_789),
            observed_timestamp: UnixNanos(1_763_719_200_223_456_789),
            severity_number: 17,
            severity_text: "ERROR".into(),
            service: "checkout".into(),
            body: LogBody::Text("payment declined for order-42".into()),
            trace_id: Some(TraceId([7; 16])),
            span_id: Some(SpanId([9; 8])),
            attributes: vec![
                ("http.status".into(), AttrValue::Int(500)),
                (
                    "user".into(),
                    AttrValue::String("2025-11-21T10:00:00Z".into()),
                ),
                ("ratio".into(), AttrValue::Double(0.25)),
                ("retry".into(), AttrValue::Bool(true)),
                (
                    "nested".into(),
                    AttrValue::KvList(vec![(
                        "k".into(),
                        AttrValue::Array(vec![AttrValue::Int(1)]),
                    )]),
                ),
            ],
            resource: vec![("host.name".into(), AttrValue::String("box-1".into()))],
            scope: Scope {
                name: "app".into(),
                version: "1.2".into(),
            },
        }
    }

    #[test]
    fn documents_round_trip_records() {
        let schema = LogSchema::get();
        let record = sample();
        let doc = schema.to_document(77, &record);
        assert_eq!(schema.record_of(&doc).expect("round trip"), (77, record));
    }

    #[test]
    fn structured_bodies_come_back_structured() {
        let schema = LogSchema::get();
        let record = LogRecord {
            body: LogBody::Json(serde_json::json!({"event": "login", "ok": true})),
            ..sample()
        };
        let (_, back) = schema
            .record_of(&schema.to_document(1, &record))
            .expect("round trip");
        assert_eq!(back.body, record.body);
    }

    #[test]
    fn body_tokens_split_lowercase_and_drop_long_tokens() {
        let long = "x".repeat(MAX_TOKEN_BYTES);
        let tokens = LogSchema::get().body_tokens(&format!("Payment-Declined {long} now"));
        assert_eq!(
            tokens,
            vec![
                (0, "payment".to_string()),
                (1, "declined".to_string()),
                (3, "now".to_string())
            ]
        );
    }

    #[test]
    fn a_document_without_ids_is_reported_corrupt() {
        let doc = TantivyDocument::new();
        assert!(matches!(
            LogSchema::get().record_of(&doc),
            Err(LogIndexError::Corrupt(_))
        ));
    }
}
