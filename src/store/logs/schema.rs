//! The one definition of the log index schema: field names, how each field
//! is indexed, the body tokenizer, and the conversion between a
//! [`LogRecord`] and a tantivy document.
//!
//! Every day index is created from [`LogSchema::get`], so field handles are
//! the same in all of them and a query built once runs on every day.

use std::sync::LazyLock;

use base64::Engine as _;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    BytesOptions, Field, FieldEntry, IndexRecordOption, JsonObjectOptions, NumericOptions,
    OwnedValue, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument, Term};

use super::LogIndexError;
use crate::model::{AttrValue, Attributes, LogRecord, SpanId, TraceId};
use crate::store::log_codec;

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
///
/// Only what a query filters or sorts on is indexed: every unique value
/// (a timestamp, an id) costs a term dictionary entry per record, which
/// dominated indexing time before. The record itself is stored once, as
/// its journal encoding, instead of field by field.
pub struct LogSchema {
    schema: Schema,
    /// The schema of days written by earlier builds, which stored the
    /// journal id in every document as well.
    stored_journal_id: Schema,
    analyzer: TextAnalyzer,
    /// Event time, unix nanos: a fast column only. Range filters read it
    /// (tantivy runs ranges on fast fields from the column), and so do
    /// sorting and cursors.
    pub timestamp: Field,
    /// OTLP severity number, fast column; `level:warn` is a range on it.
    pub severity_number: Field,
    /// Exact service name (raw term).
    pub service: Field,
    /// Raw terms of the ids in unpadded URL-safe base64 (22 and 11
    /// characters instead of hex's 32 and 16: 17 % and 11 % less term
    /// dictionary, measured); days written by earlier builds hold
    /// lowercase hex. Query them through [`LogSchema::trace_id_query`] and
    /// [`LogSchema::span_id_query`], which look up both.
    pub trace_id: Field,
    pub span_id: Field,
    /// Full-text message; structured bodies as their JSON text. Positions
    /// for phrases; no field norms (results are ordered by time, not score).
    pub body: Field,
    /// Record attributes: string values as exact terms, numbers and
    /// booleans typed; nested objects and dotted keys are one path.
    pub attributes: Field,
    pub resource: Field,
    /// The numeric attribute values alone, as fast columns (not indexed):
    /// what comparisons and ranges read. Kept apart because a fast JSON
    /// field makes a dictionary column of every string value too, which
    /// cost more than all other indexing together (high-cardinality values
    /// such as user ids).
    pub attribute_numbers: Field,
    pub resource_numbers: Field,
    /// The record's journal row id: its API id, the sort tie-breaker and
    /// the replay/dedup key. A fast column only: every hit has read it for
    /// its cursor. (Days written by earlier builds store it in each
    /// document too; see [`LogSchema::reads`].)
    pub journal_id: Field,
    /// The whole record in the journal encoding, less the event time that
    /// `timestamp` holds (`log_codec::stored_form`); what a hit returns.
    pub record: Field,
}

static LOG_SCHEMA: LazyLock<LogSchema> = LazyLock::new(LogSchema::build);

impl LogSchema {
    /// The schema every day index uses.
    pub fn get() -> &'static LogSchema {
        &LOG_SCHEMA
    }

    /// The records timestamped before `cutoff` (what the disk budget
    /// counts and deletes).
    pub fn before(&self, cutoff: crate::model::UnixNanos) -> tantivy::query::RangeQuery {
        tantivy::query::RangeQuery::new(
            std::ops::Bound::Unbounded,
            std::ops::Bound::Excluded(tantivy::Term::from_field_i64(self.timestamp, cutoff.0)),
        )
    }

    fn build() -> LogSchema {
        let mut builder = Schema::builder();
        let fast_i64 = NumericOptions::default().set_fast();
        let raw_indexed = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        );
        let json = JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_expand_dots_enabled();
        let json_numbers = JsonObjectOptions::default()
            .set_fast("raw")
            .set_expand_dots_enabled();

        let timestamp = builder.add_i64_field(TIMESTAMP, fast_i64.clone());
        let severity_number = builder.add_i64_field(SEVERITY_NUMBER, fast_i64);
        let service = builder.add_text_field("service", raw_indexed.clone());
        let trace_id = builder.add_text_field("trace_id", raw_indexed.clone());
        let span_id = builder.add_text_field("span_id", raw_indexed);
        let body = builder.add_text_field(
            "body",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(BODY_TOKENIZER)
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        );
        let attributes = builder.add_json_field("attributes", json.clone());
        let resource = builder.add_json_field("resource", json);
        let attribute_numbers = builder.add_json_field("attribute_numbers", json_numbers.clone());
        let resource_numbers = builder.add_json_field("resource_numbers", json_numbers);
        let journal_id = builder.add_u64_field(JOURNAL_ID, NumericOptions::default().set_fast());
        let record = builder.add_bytes_field("record", BytesOptions::default().set_stored());
        let schema = builder.build();
        LogSchema {
            stored_journal_id: with_stored_journal_id(&schema),
            schema,
            analyzer: body_analyzer(),
            timestamp,
            severity_number,
            service,
            trace_id,
            span_id,
            body,
            attributes,
            resource,
            attribute_numbers,
            resource_numbers,
            journal_id,
            record,
        }
    }

    /// The schema new day indexes are created with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Whether a day index with `schema` can be read and written with
    /// these field handles: this build's schema, or that of earlier builds
    /// (the same fields; the journal id also stored).
    pub fn reads(&self, schema: &Schema) -> bool {
        schema == &self.schema || schema == &self.stored_journal_id
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

    /// The records that carry `trace_id`, in days of either id form.
    pub fn trace_id_query(&self, trace_id: TraceId) -> Box<dyn Query> {
        id_query(self.trace_id, &trace_id.0, trace_id.to_hex())
    }

    /// The records that carry `span_id`, in days of either id form.
    pub fn span_id_query(&self, span_id: SpanId) -> Box<dyn Query> {
        id_query(self.span_id, &span_id.0, span_id.to_hex())
    }

    /// The document for one record. `journal_id` becomes its id; `encoded`
    /// is the record's journal encoding, stored (without the event time)
    /// as the document's record.
    pub(crate) fn to_document(
        &self,
        journal_id: u64,
        record: &LogRecord,
        encoded: &[u8],
    ) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_i64(self.timestamp, record.timestamp.0);
        doc.add_i64(self.severity_number, i64::from(record.severity_number));
        doc.add_text(self.service, &record.service);
        if let Some(trace_id) = record.trace_id {
            doc.add_text(self.trace_id, id_term(&trace_id.0));
        }
        if let Some(span_id) = record.span_id {
            doc.add_text(self.span_id, id_term(&span_id.0));
        }
        doc.add_text(self.body, record.body.search_text());
        for (attributes, field, numbers) in [
            (&record.attributes, self.attributes, self.attribute_numbers),
            (&record.resource, self.resource, self.resource_numbers),
        ] {
            if attributes.is_empty() {
                continue;
            }
            doc.add_field_value(field, &attributes_to_owned(attributes));
            if let Some(numeric) = numbers_only(attributes) {
                doc.add_field_value(numbers, &numeric);
            }
        }
        doc.add_u64(self.journal_id, journal_id);
        doc.add_bytes(self.record, &log_codec::stored_form(encoded));
        doc
    }

    /// The record stored in a document, given the document's values in
    /// the `journal_id` and `timestamp` columns (the stored record leaves
    /// out its event time).
    pub(crate) fn record_of(
        &self,
        doc: &TantivyDocument,
        journal_id: u64,
        timestamp: crate::model::UnixNanos,
    ) -> Result<LogRecord, LogIndexError> {
        let bytes = doc
            .get_first(self.record)
            .and_then(|value| value.as_bytes())
            .ok_or_else(|| {
                LogIndexError::Corrupt(format!("document {journal_id} has no record"))
            })?;
        log_codec::decode_stored(bytes, timestamp).map_err(|error| {
            LogIndexError::Corrupt(format!("record {journal_id} does not decode: {error}"))
        })
    }
}

/// `schema` with the journal id stored, as earlier builds created days.
pub(super) fn with_stored_journal_id(schema: &Schema) -> Schema {
    let mut builder = Schema::builder();
    for (_, entry) in schema.fields() {
        if entry.name() == JOURNAL_ID {
            builder.add_field(FieldEntry::new_u64(
                JOURNAL_ID.into(),
                NumericOptions::default().set_fast().set_stored(),
            ));
        } else {
            builder.add_field(entry.clone());
        }
    }
    builder.build()
}

/// The term an id is indexed as (see [`LogSchema::trace_id`]).
fn id_term(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Either form of an id's term. The two never collide: base64 of 16 or 8
/// bytes is 22 or 11 characters, hex 32 or 16.
fn id_query(field: Field, bytes: &[u8], hex: String) -> Box<dyn Query> {
    let term = |text: &str| -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::Basic,
        ))
    };
    Box::new(BooleanQuery::new(vec![
        (Occur::Should, term(&id_term(bytes))),
        (Occur::Should, term(&hex)),
    ]))
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

/// The numeric leaves of `attributes`, at the same paths; `None` when
/// there are none.
fn numbers_only(attributes: &Attributes) -> Option<OwnedValue> {
    let entries: Vec<(String, OwnedValue)> = attributes
        .iter()
        .filter_map(|(key, value)| Some((key.clone(), number_leaves(value)?)))
        .collect();
    (!entries.is_empty()).then_some(OwnedValue::Object(entries))
}

fn number_leaves(value: &AttrValue) -> Option<OwnedValue> {
    match value {
        AttrValue::Int(number) => Some(OwnedValue::I64(*number)),
        AttrValue::Double(number) => Some(OwnedValue::F64(*number)),
        AttrValue::Array(items) => {
            let numbers: Vec<OwnedValue> = items.iter().filter_map(number_leaves).collect();
            (!numbers.is_empty()).then_some(OwnedValue::Array(numbers))
        }
        AttrValue::KvList(entries) => numbers_only(entries),
        AttrValue::String(_) | AttrValue::Bool(_) | AttrValue::Bytes(_) | AttrValue::Empty => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LogBody, Scope, SpanId, TraceId, UnixNanos};

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
        let doc = schema.to_document(77, &record, &log_codec::encode_record(&record).0);
        assert_eq!(
            schema
                .record_of(&doc, 77, record.timestamp)
                .expect("round trip"),
            record
        );
    }

    #[test]
    fn only_numeric_leaves_reach_the_number_columns() {
        let numbers = numbers_only(&sample().attributes).expect("has numbers");
        assert_eq!(
            numbers,
            OwnedValue::Object(vec![
                ("http.status".into(), OwnedValue::I64(500)),
                ("ratio".into(), OwnedValue::F64(0.25)),
                (
                    "nested".into(),
                    OwnedValue::Object(vec![(
                        "k".into(),
                        OwnedValue::Array(vec![OwnedValue::I64(1)])
                    )])
                ),
            ])
        );
        assert_eq!(numbers_only(&sample().resource), None);
    }

    #[test]
    fn structured_bodies_come_back_structured() {
        let schema = LogSchema::get();
        let record = LogRecord {
            body: LogBody::Json(serde_json::json!({"event": "login", "ok": true})),
            ..sample()
        };
        let back = schema
            .record_of(
                &schema.to_document(1, &record, &log_codec::encode_record(&record).0),
                1,
                record.timestamp,
            )
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
    fn a_document_without_a_record_is_reported_corrupt() {
        let doc = TantivyDocument::new();
        assert!(matches!(
            LogSchema::get().record_of(&doc, 1, UnixNanos(0)),
            Err(LogIndexError::Corrupt(_))
        ));
    }

    #[test]
    fn days_of_earlier_builds_with_the_journal_id_stored_are_read() {
        let schema = LogSchema::get();
        assert!(schema.reads(schema.schema()));
        let earlier = with_stored_journal_id(schema.schema());
        assert!(schema.reads(&earlier));
        assert!(earlier.get_field_entry(schema.journal_id).is_stored());
        assert!(!schema
            .schema()
            .get_field_entry(schema.journal_id)
            .is_stored());
        // Same handles for every other field.
        for (field, entry) in schema.schema().fields() {
            assert_eq!(earlier.get_field_entry(field).name(), entry.name());
        }
        assert!(!schema.reads(&Schema::builder().build()));
    }
}
