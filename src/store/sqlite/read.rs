//! Every query the read side runs, each next to the function that binds
//! and maps it. Runs on read-only connections from `ReadPool`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, OptionalExtension};

use super::codec::Reader;
use super::span_dictionaries::SpanCodecs;
pub use super::trace_search::{search_traces, Plan};
use super::StoreError;
use crate::model::{
    AttrOp, AttrValue, Attributes, DurationHistogram, Scope, SpanEvent, SpanId, SpanKind, SpanLink,
    StatusCode, TraceId, UnixNanos,
};

/// Runs `read` inside one read transaction (one snapshot).
pub(crate) fn in_snapshot<T>(
    conn: &Connection,
    read: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN")?;
    let result = read(conn);
    // Ending a read transaction cannot lose anything; an error here would
    // only repeat the read's own.
    let _ = conn.execute_batch("COMMIT");
    result
}

/// Registers the SQL functions the reads use, over span blobs that may be
/// packed with one of `codecs`' dictionaries:
/// - `lookout_span_blob(dictionary_id, blob)`: the blob as encoded;
/// - `lookout_attr_match(attributes, dictionary_id, key_id, text)`: 1 when
///   the attributes hold `key_id` with a value whose text form is `text`
///   (see `AttrValue::matches_text`);
/// - `lookout_attr_compare(attributes, dictionary_id, key_id, op, number)`:
///   1 when that value is a number that compares so.
///
/// A blob that does not unpack is an error of the statement, never a
/// silent non-match.
pub fn register_functions(conn: &Connection, codecs: Arc<SpanCodecs>) -> Result<(), StoreError> {
    // `rarray(?)`: a list bound as one parameter (trace search passes the
    // blocks that may match).
    rusqlite::vtab::array::load_module(conn)?;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let unpacker = Arc::clone(&codecs);
    conn.create_scalar_function("lookout_span_blob", 2, flags, move |ctx| {
        let dictionary_id: Option<i64> = ctx.get(0)?;
        let Some(blob) = ctx.get_raw(1).as_blob_or_null().ok().flatten() else {
            return Ok(None);
        };
        Ok(Some(unpack(&unpacker, dictionary_id, blob)?.into_owned()))
    })?;
    let matcher = Arc::clone(&codecs);
    conn.create_scalar_function("lookout_attr_match", 4, flags, move |ctx| {
        let wanted: String = ctx.get(3)?;
        Ok(attribute_arg(ctx, &matcher)?.is_some_and(|value| value.matches_text(&wanted)))
    })?;
    conn.create_scalar_function("lookout_attr_compare", 5, flags, move |ctx| {
        let Some(op) = AttrOp::from_code(ctx.get(3)?) else {
            return Ok(false);
        };
        let bound: f64 = ctx.get(4)?;
        Ok(attribute_arg(ctx, &codecs)?
            .and_then(|value| value.as_number())
            .is_some_and(|n| op.holds(n, bound)))
    })?;
    Ok(())
}

/// The attribute functions' first arguments, (attributes, dictionary_id,
/// key_id): the value of `key_id` in the unpacked attributes; `None`
/// without attributes, without that key, or when they do not decode.
fn attribute_arg(
    ctx: &rusqlite::functions::Context<'_>,
    codecs: &SpanCodecs,
) -> rusqlite::Result<Option<AttrValue>> {
    let Some(blob) = ctx.get_raw(0).as_blob_or_null().ok().flatten() else {
        return Ok(None);
    };
    let dictionary_id: Option<i64> = ctx.get(1)?;
    let key_id: i64 = ctx.get(2)?;
    let encoded = unpack(codecs, dictionary_id, blob)?;
    Ok(Reader::new(&encoded).find_attribute(key_id).ok().flatten())
}

/// [`SpanCodecs::unpack`] with its error as the SQL function's.
fn unpack<'a>(
    codecs: &SpanCodecs,
    dictionary_id: Option<i64>,
    blob: &'a [u8],
) -> rusqlite::Result<std::borrow::Cow<'a, [u8]>> {
    codecs
        .unpack(dictionary_id, blob)
        .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
}

/// One attribute filter of a trace search: `key=value`, or a numeric
/// comparison such as `http.response.status_code>=500`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrFilter {
    pub key: String,
    pub op: AttrOp,
    /// The text for `Equal`; for comparisons, the number.
    pub value: String,
    pub number: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    pub name: String,
    pub span_count: i64,
    pub last_seen: UnixNanos,
}

pub fn list_services(conn: &Connection) -> Result<Vec<ServiceInfo>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, span_count, last_seen_unix_nano FROM services WHERE span_count > 0 ORDER BY name",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(ServiceInfo {
            name: row.get(0)?,
            span_count: row.get(1)?,
            last_seen: UnixNanos(row.get(2)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, PartialEq)]
pub struct OperationInfo {
    pub name: String,
    pub span_kind: SpanKind,
    pub span_count: i64,
}

/// Operations of a service, busiest first; `None` if the service is unknown.
pub fn list_operations(
    conn: &Connection,
    service: &str,
) -> Result<Option<Vec<OperationInfo>>, StoreError> {
    let service_id: Option<i64> = conn
        .prepare_cached("SELECT id FROM services WHERE name = ?1")?
        .query_row(params![service], |row| row.get(0))
        .optional()?;
    let Some(service_id) = service_id else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT name, kind, span_count FROM operations WHERE service_id = ?1 AND span_count > 0
         ORDER BY span_count DESC, name",
    )?;
    let rows = stmt.query_map(params![service_id], |row| {
        Ok(OperationInfo {
            name: row.get(0)?,
            span_kind: SpanKind::from_i32(row.get(1)?),
            span_count: row.get(2)?,
        })
    })?;
    Ok(Some(rows.collect::<Result<_, _>>()?))
}

/// Resolves attribute key ids to names lazily, once per request.
struct KeyNames<'c> {
    conn: &'c Connection,
    names: RefCell<HashMap<i64, String>>,
}

impl<'c> KeyNames<'c> {
    fn new(conn: &'c Connection) -> Self {
        KeyNames {
            conn,
            names: RefCell::new(HashMap::new()),
        }
    }

    fn name(&self, id: i64) -> Option<String> {
        if let Some(name) = self.names.borrow().get(&id) {
            return Some(name.clone());
        }
        let name: String = self
            .conn
            .prepare_cached("SELECT key FROM attribute_keys WHERE id = ?1")
            .ok()?
            .query_row(params![id], |row| row.get(0))
            .ok()?;
        self.names.borrow_mut().insert(id, name.clone());
        Some(name)
    }
}

/// One stored span with everything resolved: names, attributes, events,
/// links, its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSpan {
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    pub service: String,
    pub kind: SpanKind,
    pub start: UnixNanos,
    pub duration_nanos: i64,
    pub status_code: StatusCode,
    pub status_message: String,
    pub attributes: Attributes,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    pub resource: Arc<Attributes>,
    pub scope: Scope,
}

impl StoredSpan {
    pub fn end(&self) -> UnixNanos {
        UnixNanos(self.start.0.saturating_add(self.duration_nanos))
    }
}

/// A whole stored trace, spans sorted by start time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrace {
    pub trace_id: TraceId,
    pub spans: Vec<StoredSpan>,
}

/// The spans of a trace sorted by start time; `None` if no span of it is
/// stored.
pub fn find_trace(conn: &Connection, trace_id: TraceId) -> Result<Option<StoredTrace>, StoreError> {
    let trace: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, COALESCE(span_base_unix_nano, 0) FROM traces WHERE trace_id = ?1",
        )?
        .query_row(params![&trace_id.0[..]], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((rowid, span_base)) = trace else {
        return Ok(None);
    };
    let keys = KeyNames::new(conn);
    let key_name = |id: i64| keys.name(id);
    let mut resources: HashMap<i64, Arc<Attributes>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT s.span_id, s.parent_span_id, o.name, o.kind, sv.name, s.start_offset_nano, s.duration_nano,
                s.status_code, s.status_message, lookout_span_blob(s.dictionary_id, s.attributes),
                lookout_span_blob(s.dictionary_id, s.events), s.links, s.resource_id,
                r.attributes, sc.name, sc.version
         FROM spans s
         JOIN operations o ON o.id = s.operation_id
         JOIN services sv ON sv.id = o.service_id
         JOIN resources r ON r.id = s.resource_id
         JOIN scopes sc ON sc.id = s.scope_id
         WHERE s.trace_rowid = ?1
         ORDER BY s.start_offset_nano, s.span_id",
    )?;
    let mut rows = stmt.query(params![rowid])?;
    let mut spans = Vec::new();
    while let Some(row) = rows.next()? {
        let span_id: Vec<u8> = row.get(0)?;
        let parent: Option<Vec<u8>> = row.get(1)?;
        let start = UnixNanos(row.get::<_, i64>(5)?.wrapping_add(span_base));
        let attributes = match row.get_ref(9)?.as_blob_or_null().ok().flatten() {
            Some(blob) => Reader::new(blob).attributes(&key_name)?,
            None => Vec::new(),
        };
        let events = match row.get_ref(10)?.as_blob_or_null().ok().flatten() {
            Some(blob) => Reader::new(blob).events(start, &key_name)?,
            None => Vec::new(),
        };
        let links = match row.get_ref(11)?.as_blob_or_null().ok().flatten() {
            Some(blob) => Reader::new(blob).links(&key_name)?,
            None => Vec::new(),
        };
        let resource_id: i64 = row.get(12)?;
        let resource = match resources.get(&resource_id) {
            Some(resource) => Arc::clone(resource),
            None => {
                let text: String = row.get(13)?;
                let parsed = Arc::new(resource_from_json(&text)?);
                resources.insert(resource_id, Arc::clone(&parsed));
                parsed
            }
        };
        let status_message: Option<String> = row.get(8)?;
        spans.push(StoredSpan {
            span_id: SpanId::from_bytes(&span_id).map_err(|_| corrupt("span_id"))?,
            parent_span_id: parent
                .map(|bytes| SpanId::from_bytes(&bytes))
                .transpose()
                .map_err(|_| corrupt("parent_span_id"))?,
            name: row.get(2)?,
            service: row.get(4)?,
            kind: SpanKind::from_i32(row.get(3)?),
            start,
            duration_nanos: row.get(6)?,
            status_code: StatusCode::from_i32(row.get(7)?),
            status_message: status_message.unwrap_or_default(),
            attributes,
            events,
            links,
            resource,
            scope: Scope {
                name: row.get(14)?,
                version: row.get(15)?,
            },
        });
    }
    Ok(Some(StoredTrace { trace_id, spans }))
}

fn corrupt(column: &'static str) -> StoreError {
    StoreError::Corrupt(format!("spans.{column} is not a valid id"))
}

/// A resource's stored canonical JSON back as attributes. JSON keeps what
/// the API shows (strings, numbers, booleans, arrays, maps; bytes were
/// stored as base64 strings).
fn resource_from_json(text: &str) -> Result<Attributes, StoreError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map
            .into_iter()
            .map(|(key, value)| (key, attr_from_json(value)))
            .collect()),
        _ => Err(StoreError::Corrupt(
            "a resource row is not a JSON object".into(),
        )),
    }
}

fn attr_from_json(value: serde_json::Value) -> AttrValue {
    match value {
        serde_json::Value::Null => AttrValue::Empty,
        serde_json::Value::Bool(flag) => AttrValue::Bool(flag),
        serde_json::Value::Number(number) => match number.as_i64() {
            Some(int) => AttrValue::Int(int),
            None => AttrValue::Double(number.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(text) => AttrValue::String(text),
        serde_json::Value::Array(items) => {
            AttrValue::Array(items.into_iter().map(attr_from_json).collect())
        }
        serde_json::Value::Object(map) => AttrValue::KvList(
            map.into_iter()
                .map(|(key, value)| (key, attr_from_json(value)))
                .collect(),
        ),
    }
}

/// Which traces by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// At least one span with status error.
    Error,
    /// No span with status error.
    Ok,
}

/// A trace search. Every filter is ANDed; see `search_traces`.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFilter {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub status: Option<StatusFilter>,
    pub min_duration_nanos: Option<i64>,
    pub max_duration_nanos: Option<i64>,
    pub attributes: Vec<AttrFilter>,
    /// Inclusive start of the range the trace's start must fall in.
    pub start: UnixNanos,
    /// Exclusive end of that range.
    pub end: UnixNanos,
    pub limit: usize,
    /// Continue after this (start, rowid) position of a previous page.
    pub after: Option<(i64, i64)>,
}

/// One trace of a search result, from its summary row.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceListItem {
    pub trace_id: TraceId,
    pub root_service: Option<String>,
    pub root_operation: Option<String>,
    pub start: UnixNanos,
    pub duration_nanos: i64,
    pub span_count: i64,
    pub error_count: i64,
    pub services: Vec<String>,
}

pub struct TracePage {
    pub traces: Vec<TraceListItem>,
    /// Position of the last trace, when there are more.
    pub next: Option<(i64, i64)>,
}

pub(super) fn placeholders(count: usize) -> String {
    vec!["?"; count].join(",")
}

pub(super) fn operation_ids(
    conn: &Connection,
    service: Option<&str>,
    operation: &str,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id FROM operations o JOIN services s ON s.id = o.service_id
         WHERE o.name = ?1 AND (?2 IS NULL OR s.name = ?2)",
    )?;
    let rows = stmt.query_map(params![operation, service], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Resources are few (deduplicated), so matching them in Rust beats
/// matching JSON per span.
pub(super) fn matching_resources(
    conn: &Connection,
    filter: &AttrFilter,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, attributes FROM resources")?;
    let mut rows = stmt.query([])?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next()? {
        let text: String = row.get(1)?;
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text)
        else {
            continue;
        };
        let matches = |found: &serde_json::Value| match filter.op {
            AttrOp::Equal => json_matches_text(found, &filter.value),
            op => attr_from_json(found.clone())
                .as_number()
                .is_some_and(|n| op.holds(n, filter.number)),
        };
        if map.get(&filter.key).is_some_and(matches) {
            ids.push(row.get(0)?);
        }
    }
    Ok(ids)
}

fn json_matches_text(found: &serde_json::Value, wanted: &str) -> bool {
    match found {
        serde_json::Value::String(text) => text == wanted,
        serde_json::Value::Number(number) => wanted
            .parse::<f64>()
            .is_ok_and(|w| number.as_f64() == Some(w)),
        serde_json::Value::Bool(flag) => flag.to_string() == wanted,
        other => serde_json::to_string(other).is_ok_and(|text| text == wanted),
    }
}

/// Service and operation names by id, looked up once per request.
pub(super) struct ServiceNames<'c> {
    conn: &'c Connection,
    services: HashMap<i64, Option<String>>,
    operations: HashMap<i64, (Option<String>, Option<String>)>,
}

impl<'c> ServiceNames<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        ServiceNames {
            conn,
            services: HashMap::new(),
            operations: HashMap::new(),
        }
    }

    pub(super) fn service(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        if let Some(name) = self.services.get(&id) {
            return Ok(name.clone());
        }
        let name: Option<String> = self
            .conn
            .prepare_cached("SELECT name FROM services WHERE id = ?1")?
            .query_row(params![id], |row| row.get(0))
            .optional()?;
        self.services.insert(id, name.clone());
        Ok(name)
    }

    pub(super) fn operation(
        &mut self,
        id: i64,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        if let Some(names) = self.operations.get(&id) {
            return Ok(names.clone());
        }
        let found: Option<(String, String)> = self
            .conn
            .prepare_cached(
                "SELECT s.name, o.name FROM operations o JOIN services s ON s.id = o.service_id WHERE o.id = ?1",
            )?
            .query_row(params![id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let names = match found {
            Some((service, operation)) => (Some(service), Some(operation)),
            None => (None, None),
        };
        self.operations.insert(id, names.clone());
        Ok(names)
    }
}

/// The oldest data kept, by signal (logs are in the log indexes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OldestTimes {
    /// The earliest trace start.
    pub traces: Option<UnixNanos>,
    /// The first sample of the chunk that ends first (chunks go whole), or
    /// the oldest write-ahead batch of samples not yet in a chunk.
    pub metrics: Option<UnixNanos>,
}

/// Bytes of the database file in free pages: space the file already has
/// that new rows reuse before it grows.
pub fn free_bytes(conn: &Connection) -> Result<u64, StoreError> {
    let pages: i64 = conn.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    Ok(u64::try_from(pages.saturating_mul(page_size)).unwrap_or(0))
}

pub fn oldest_times(conn: &Connection) -> Result<OldestTimes, StoreError> {
    let traces: Option<i64> =
        conn.query_row("SELECT MIN(start_unix_nano) FROM traces", [], |row| {
            row.get(0)
        })?;
    let chunk_ms: Option<i64> = conn
        .query_row(
            "SELECT min_t FROM metric_chunks ORDER BY max_t LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let head_ms: Option<i64> =
        conn.query_row("SELECT MIN(max_t) FROM metric_wal", [], |row| row.get(0))?;
    let metrics_ms = match (chunk_ms, head_ms) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(OldestTimes {
        traces: traces.map(UnixNanos),
        metrics: metrics_ms.map(|ms| UnixNanos(ms.saturating_mul(1_000_000))),
    })
}

/// Row counts and file sizes for `/metrics` and `/api/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageCounts {
    pub traces: i64,
    pub spans: i64,
    pub services: i64,
}

/// The highest journal id ever assigned (AUTOINCREMENT's sequence; 0 for
/// none) and the ids of the journal rows above `after`, in order: what
/// `check` compares with the log indexes' payloads.
pub fn journal_after(conn: &Connection, after: i64) -> Result<(i64, Vec<i64>), StoreError> {
    let sequence: i64 = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'log_journal'",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let mut stmt = conn.prepare("SELECT id FROM log_journal WHERE id > ?1 ORDER BY id")?;
    let ids = stmt
        .query_map([after], |row| row.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok((sequence, ids))
}

pub fn storage_counts(conn: &Connection) -> Result<StorageCounts, StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM traces), (SELECT COALESCE(SUM(span_count), 0) FROM traces),
                (SELECT COUNT(*) FROM services)",
        [],
        |row| {
            Ok(StorageCounts {
                traces: row.get(0)?,
                spans: row.get(1)?,
                services: row.get(2)?,
            })
        },
    )?)
}

/// `SELECT 1` on a read connection: SQLite is reachable.
pub fn ping(conn: &Connection) -> Result<(), StoreError> {
    conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |_| Ok(()))?;
    Ok(())
}

/// Start of the oldest and newest stored trace.
pub fn trace_time_range(conn: &Connection) -> Result<Option<(i64, i64)>, StoreError> {
    let range: (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT MIN(start_unix_nano), MAX(start_unix_nano) FROM traces",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(match range {
        (Some(oldest), Some(newest)) => Some((oldest, newest)),
        _ => None,
    })
}

/// Journal rows above `after_id`, oldest first, at most `limit`.
pub fn read_journal(
    conn: &Connection,
    after_id: i64,
    limit: usize,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT id, record FROM log_journal WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = stmt.query_map(
        params![after_id, i64::try_from(limit).unwrap_or(i64::MAX)],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Journal rows above `after_id` (not yet indexed) and when the oldest of
/// them was received.
pub fn journal_backlog(conn: &Connection, after_id: i64) -> Result<(i64, Option<i64>), StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*), MIN(received_unix_nano) FROM log_journal WHERE id > ?1")?
        .query_row(params![after_id], |row| Ok((row.get(0)?, row.get(1)?)))?)
}

/// First start and last end of a stored trace.
pub fn trace_bounds(
    conn: &Connection,
    trace_id: TraceId,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT start_unix_nano, end_unix_nano FROM traces WHERE trace_id = ?1")?
        .query_row(params![&trace_id.0[..]], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?)
}

/// Which span rollups to read: one resolution (60, 600 or 3600 s), buckets
/// starting in `[start, end)` (unix seconds), optionally one service and
/// operation, and the span kinds to count (all when empty).
#[derive(Debug, Clone)]
pub struct RollupFilter {
    pub resolution: i64,
    pub start: i64,
    pub end: i64,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub kinds: Vec<SpanKind>,
}

/// One rollup bucket of one series.
#[derive(Debug, Clone)]
pub struct RollupRow {
    pub service: String,
    pub operation: String,
    pub kind: SpanKind,
    pub status: StatusCode,
    /// Unix seconds.
    pub bucket_start: i64,
    pub span_count: i64,
    pub duration_sum_nanos: i64,
    pub duration_min_nanos: i64,
    pub duration_max_nanos: i64,
    pub histogram: DurationHistogram,
}

/// A rollup bucket as read, borrowing from the row: visiting rows
/// allocates nothing per row.
#[derive(Debug, Clone, Copy)]
pub struct RollupRef<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub kind: SpanKind,
    pub status: StatusCode,
    /// Unix seconds.
    pub bucket_start: i64,
    pub span_count: i64,
    pub duration_sum_nanos: i64,
    pub duration_min_nanos: i64,
    pub duration_max_nanos: i64,
    pub histogram: HistogramRef<'a>,
}

/// A rollup's histogram: as stored, or already decoded (pending deltas).
#[derive(Debug, Clone, Copy)]
pub enum HistogramRef<'a> {
    Encoded(&'a [u8]),
    Decoded(&'a DurationHistogram),
}

impl RollupRef<'_> {
    /// Adds this row's histogram to `into`; a histogram that cannot be
    /// read is a corrupt database.
    pub fn merge_histogram_into(&self, into: &mut DurationHistogram) -> Result<(), StoreError> {
        match self.histogram {
            HistogramRef::Decoded(histogram) => {
                into.merge(histogram);
                Ok(())
            }
            HistogramRef::Encoded(bytes) => {
                if into.merge_encoded(bytes) {
                    Ok(())
                } else {
                    Err(self.corrupt())
                }
            }
        }
    }

    fn corrupt(&self) -> StoreError {
        StoreError::Corrupt(format!(
            "span rollup of {}/{} at {} has an unreadable histogram",
            self.service, self.operation, self.bucket_start
        ))
    }
}

impl RollupRow {
    pub fn as_ref(&self) -> RollupRef<'_> {
        RollupRef {
            service: &self.service,
            operation: &self.operation,
            kind: self.kind,
            status: self.status,
            bucket_start: self.bucket_start,
            span_count: self.span_count,
            duration_sum_nanos: self.duration_sum_nanos,
            duration_min_nanos: self.duration_min_nanos,
            duration_max_nanos: self.duration_max_nanos,
            histogram: HistogramRef::Decoded(&self.histogram),
        }
    }
}

/// Rollup rows matching `filter`, in no particular order, decoded.
pub fn span_rollups(
    conn: &Connection,
    filter: &RollupFilter,
) -> Result<Vec<RollupRow>, StoreError> {
    let mut out = Vec::new();
    visit_span_rollups(conn, filter, &mut |row| {
        let histogram = match row.histogram {
            HistogramRef::Decoded(histogram) => histogram.clone(),
            HistogramRef::Encoded(bytes) => {
                DurationHistogram::from_bytes(bytes).ok_or_else(|| row.corrupt())?
            }
        };
        out.push(RollupRow {
            service: row.service.to_string(),
            operation: row.operation.to_string(),
            kind: row.kind,
            status: row.status,
            bucket_start: row.bucket_start,
            span_count: row.span_count,
            duration_sum_nanos: row.duration_sum_nanos,
            duration_min_nanos: row.duration_min_nanos,
            duration_max_nanos: row.duration_max_nanos,
            histogram,
        });
        Ok(())
    })?;
    Ok(out)
}

/// A text column of `row`, borrowed.
fn row_text<'r>(row: &'r rusqlite::Row<'_>, column: usize) -> Result<&'r str, StoreError> {
    Ok(row
        .get_ref(column)?
        .as_str()
        .map_err(rusqlite::Error::from)?)
}

/// Calls `visit` with each rollup row matching `filter`, in no particular
/// order, then with the pending deltas. With a service, the rows are read
/// series by series (the primary key's order), so one service costs its
/// own rows only.
/// The rollup rows of the selected series in a time range.
fn rollup_sql(kind_clause: &str) -> String {
    // CROSS JOIN keeps this join order: the selected series first, then
    // each one's rows by primary key. Left to itself the planner walks the
    // time index over every series in the range, so a query for one
    // service read the rollups of all of them.
    format!(
        "SELECT s.name, ss.operation, ss.kind, ss.status, r.bucket_start, r.span_count,
                r.duration_sum_nano, r.duration_min_nano, r.duration_max_nano, r.histogram
         FROM span_series ss
         JOIN services s ON s.id = ss.service_id
         CROSS JOIN span_rollups r
         WHERE r.resolution = ?1 AND r.series_id = ss.id
              AND r.bucket_start >= ?2 AND r.bucket_start < ?3
              AND (?4 IS NULL OR s.name = ?4) AND (?5 IS NULL OR ss.operation = ?5){kind_clause}"
    )
}

pub fn visit_span_rollups(
    conn: &Connection,
    filter: &RollupFilter,
    visit: &mut dyn FnMut(RollupRef<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let kinds: Vec<i32> = filter.kinds.iter().map(|kind| *kind as i32).collect();
    let kind_list = kinds
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let kind_clause = if kinds.is_empty() {
        String::new()
    } else {
        format!(" AND ss.kind IN ({kind_list})")
    };
    let sql = rollup_sql(&kind_clause);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![
        filter.resolution,
        filter.start,
        filter.end,
        filter.service,
        filter.operation
    ])?;
    while let Some(row) = rows.next()? {
        visit(RollupRef {
            service: row_text(row, 0)?,
            operation: row_text(row, 1)?,
            kind: SpanKind::from_i32(row.get(2)?),
            status: StatusCode::from_i32(row.get(3)?),
            bucket_start: row.get(4)?,
            span_count: row.get(5)?,
            duration_sum_nanos: row.get(6)?,
            duration_min_nanos: row.get(7)?,
            duration_max_nanos: row.get(8)?,
            histogram: HistogramRef::Encoded(
                row.get_ref(9)?.as_blob().map_err(rusqlite::Error::from)?,
            ),
        })?;
    }
    // The deltas of the last few groups, not merged into rows yet.
    let pending = super::rollups::pending_deltas(conn)?;
    if !pending.is_empty() {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT ss.id, s.name, ss.operation, ss.kind, ss.status
             FROM span_series ss JOIN services s ON s.id = ss.service_id
             WHERE (?1 IS NULL OR s.name = ?1) AND (?2 IS NULL OR ss.operation = ?2){kind_clause}"
        ))?;
        let rows = stmt.query_map(params![filter.service, filter.operation], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                (
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i32>(3)?,
                    row.get::<_, i32>(4)?,
                ),
            ))
        })?;
        let series: HashMap<i64, (String, String, i32, i32)> = rows.collect::<Result<_, _>>()?;
        for (series_id, minute, sums) in &pending {
            let Some((service, operation, kind, status)) = series.get(series_id) else {
                continue;
            };
            let bucket_start = minute.div_euclid(filter.resolution) * filter.resolution;
            if bucket_start < filter.start || bucket_start >= filter.end {
                continue;
            }
            visit(RollupRef {
                service,
                operation,
                kind: SpanKind::from_i32(*kind),
                status: StatusCode::from_i32(*status),
                bucket_start,
                span_count: sums.count,
                duration_sum_nanos: sums.sum,
                duration_min_nanos: sums.min,
                duration_max_nanos: sums.max,
                histogram: HistogramRef::Decoded(&sums.histogram),
            })?;
        }
    }
    Ok(())
}

/// One service-graph bucket: calls from `parent` to `child`.
#[derive(Debug, Clone)]
pub struct EdgeRow {
    /// Unix seconds.
    pub bucket_start: i64,
    pub parent: String,
    pub child: String,
    pub is_virtual: bool,
    pub call_count: i64,
    pub error_count: i64,
    pub histogram: DurationHistogram,
}

/// Service-graph buckets of one resolution starting in `[start, end)`
/// (unix seconds).
pub fn service_edges(
    conn: &Connection,
    resolution: i64,
    start: i64,
    end: i64,
) -> Result<Vec<EdgeRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, e.child, e.virtual, e.call_count, e.error_count, e.histogram, e.bucket_start
         FROM service_edges e JOIN services s ON s.id = e.parent_service_id
         WHERE e.resolution = ?1 AND e.bucket_start >= ?2 AND e.bucket_start < ?3",
    )?;
    let rows = stmt.query_map(params![resolution, start, end], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, bool>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, Vec<u8>>(5)?,
            row.get::<_, i64>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (parent, child, is_virtual, call_count, error_count, bytes, bucket_start) = row?;
        let histogram = DurationHistogram::from_bytes(&bytes).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "service edge {parent}→{child} has an unreadable histogram"
            ))
        })?;
        out.push(EdgeRow {
            bucket_start,
            parent,
            child,
            is_virtual,
            call_count,
            error_count,
            histogram,
        });
    }
    Ok(out)
}

/// One span-metric series: (service, operation, kind, status).
pub type SpanSeriesKey = (String, String, SpanKind, StatusCode);

/// Every span-metric series with a rollup row at or after `since` (unix
/// seconds), for the label APIs (no samples read).
pub fn span_series_since(conn: &Connection, since: i64) -> Result<Vec<SpanSeriesKey>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, ss.operation, ss.kind, ss.status FROM span_series ss
         JOIN services s ON s.id = ss.service_id
         WHERE EXISTS (SELECT 1 FROM span_rollups r
                       WHERE r.resolution = 3600 AND r.series_id = ss.id AND r.bucket_start >= ?1)",
    )?;
    let key = |row: &rusqlite::Row<'_>| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            SpanKind::from_i32(row.get(2)?),
            StatusCode::from_i32(row.get(3)?),
        ))
    };
    let mut out: Vec<SpanSeriesKey> = stmt
        .query_map(params![since.div_euclid(3600) * 3600], key)?
        .collect::<Result<_, _>>()?;
    // Series of the last few groups may only be in the pending deltas.
    let mut pending: Vec<i64> = super::rollups::pending_deltas(conn)?
        .into_iter()
        .filter(|(_, minute, _)| *minute >= since)
        .map(|(series_id, _, _)| series_id)
        .collect();
    pending.sort_unstable();
    pending.dedup();
    let mut by_id = conn.prepare_cached(
        "SELECT s.name, ss.operation, ss.kind, ss.status FROM span_series ss
         JOIN services s ON s.id = ss.service_id WHERE ss.id = ?1",
    )?;
    for series_id in pending {
        if let Some(found) = by_id.query_row(params![series_id], key).optional()? {
            if !out.contains(&found) {
                out.push(found);
            }
        }
    }
    Ok(out)
}

/// Every (client, server) pair of the service graph with calls at or
/// after `since` (unix seconds), for the label APIs.
pub fn edge_pairs_since(
    conn: &Connection,
    since: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT s.name, e.child FROM service_edges e JOIN services s ON s.id = e.parent_service_id
         WHERE e.resolution = 3600 AND e.bucket_start >= ?1",
    )?;
    let rows = stmt.query_map(params![since.div_euclid(3600) * 3600], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an in-memory database to plan a query on
mod tests {
    use rusqlite::Connection;

    #[test]
    fn rollups_of_a_service_are_read_by_primary_key_per_series() {
        let mut conn = Connection::open_in_memory().expect("memory db");
        super::super::migrate::migrate(&mut conn).expect("migrate");
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                super::rollup_sql(" AND ss.kind IN (2,5)")
            ))
            .expect("prepare")
            .query_map(
                rusqlite::params![600, 0, 100, "svc", Option::<String>::None],
                |row| row.get::<_, String>(3),
            )
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("rows");
        let rollups = plan
            .iter()
            .find(|step| step.contains(" r "))
            .expect("a step over span_rollups");
        assert!(rollups.contains("USING PRIMARY KEY"), "{plan:?}");
        assert!(
            plan[0].contains(" ss"),
            "the series are read first: {plan:?}"
        );
    }
}
