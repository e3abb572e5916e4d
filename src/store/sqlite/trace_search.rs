//! Trace search: newest first by trace start, with two plans.
//!
//! - **By time**: walk traces (or one service's `trace_services` rows) by
//!   start, newest first, and test each one's spans until the page is full.
//!   Cheap when matches are dense or no filter needs the spans.
//! - **By block**, when an attribute or operation filter needs the spans:
//!   the blocks whose filter (`trace_blocks`) may hold a match, plus the
//!   few blocks without a filter yet. When they are few, only their traces
//!   are read, block by block newest first by latest start, until no block
//!   left can hold a newer trace than the page's last: a filter that
//!   matches nothing reads (almost) no spans, however many are stored.
//!   When they are many (matches in many blocks, or blocks whose start
//!   ranges overlap, as they do under heavy ingest), the walk by time runs
//!   instead and reads the spans of only the traces in those blocks.
//!
//! All give the same page for the same filter (property-tested below).

use rusqlite::types::{ToSql, ToSqlOutput, Value};
use rusqlite::vtab::array::Array;
use std::collections::HashSet;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::read::{
    in_snapshot, matching_resources, operation_ids, placeholders, AttrFilter, ServiceNames,
    StatusFilter, TraceFilter, TraceListItem, TracePage,
};
use super::trace_blocks::{self, BlockFilter, BlockRange, FilterCache};
use super::StoreError;
use crate::model::{AttrOp, TraceId, UnixNanos};

/// Past this many blocks without a stored filter (a database from before
/// blocks, still being sealed) the search walks by time instead.
const MAX_UNSEALED_BLOCKS: usize = 1024;
/// Up to this many candidate blocks, or one in `WALK_STEPS_PER_BLOCK` of
/// the blocks in the time range, they are read one by one. Past it the walk
/// by time (passing over the other blocks' traces) is cheaper: it stops at
/// the page's last match instead of reading every block that overlaps it,
/// and stepping past a trace costs about 1/64 of reading a block's spans
/// per trace.
const MIN_BLOCKS_READ: usize = 16;
const WALK_STEPS_PER_BLOCK: usize = 64;

/// Which plan a search takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// By block where the filters need spans, else by time.
    Auto,
    /// Always by time, reading every trace's spans (the plan the others
    /// are checked against).
    ByTime,
    /// By time, reading only the spans of traces in candidate blocks (what
    /// `Auto` does when candidates are many), whatever their number.
    ByTimeInBlocks,
    /// Block by block, whatever the number of candidates.
    ByBlock,
}

/// Searches traces, newest first by trace start.
///
/// - `service`: a span of that service is in the trace;
/// - `operation`: a span with that name (of `service`, if given);
/// - `status`: error = some span has status error, ok = none has;
/// - duration: the trace's duration (first start to last end);
/// - each `attributes` entry: some span of the trace, or its resource, has
///   the key with that value.
pub fn search_traces(
    conn: &Connection,
    filter: &TraceFilter,
    blocks: &FilterCache,
    plan: Plan,
) -> Result<TracePage, StoreError> {
    in_snapshot(conn, |conn| {
        let Some(resolved) = Resolved::new(conn, filter)? else {
            return Ok(TracePage {
                traces: Vec::new(),
                next: None,
            });
        };
        let needs_spans = resolved.operation_ids.is_some() || !resolved.attributes.is_empty();
        let candidates = match plan {
            Plan::ByTime => None,
            _ if !needs_spans => None,
            _ => candidate_blocks(conn, filter, &resolved, blocks)?,
        };
        let rows = match (plan, candidates) {
            (Plan::ByBlock, Some(candidates)) => {
                by_block(conn, filter, &resolved, &candidates.blocks)?
            }
            (Plan::Auto, Some(candidates))
                if candidates.blocks.len()
                    <= MIN_BLOCKS_READ.max(candidates.in_range / WALK_STEPS_PER_BLOCK) =>
            {
                by_block(conn, filter, &resolved, &candidates.blocks)?
            }
            // Most blocks may match: passing over the others saves less
            // than the block list costs.
            (Plan::Auto, Some(candidates))
                if candidates.blocks.len() * 2 >= candidates.in_range =>
            {
                by_time(conn, filter, &resolved, None)?
            }
            (_, Some(candidates)) => by_time(conn, filter, &resolved, Some(&candidates.blocks))?,
            (_, None) => by_time(conn, filter, &resolved, None)?,
        };
        page(conn, filter, rows)
    })
}

/// A filter's names resolved to the ids stored in span rows.
struct Resolved {
    service_id: Option<i64>,
    operation_ids: Option<Vec<i64>>,
    attributes: Vec<ResolvedAttr>,
}

struct ResolvedAttr {
    filter: AttrFilter,
    /// `None` when no span attribute has the key (only resources may).
    key_id: Option<i64>,
    /// For `=`: the items a block filter must hold one of.
    probes: Vec<u64>,
    resource_ids: Vec<i64>,
}

impl Resolved {
    /// `None` when some filter cannot match anything stored.
    fn new(conn: &Connection, filter: &TraceFilter) -> Result<Option<Resolved>, StoreError> {
        let service_id = match &filter.service {
            Some(service) => {
                let id: Option<i64> = conn
                    .prepare_cached("SELECT id FROM services WHERE name = ?1")?
                    .query_row(params![service], |row| row.get(0))
                    .optional()?;
                match id {
                    Some(id) => Some(id),
                    None => return Ok(None),
                }
            }
            None => None,
        };
        let operation_ids = match &filter.operation {
            Some(operation) => {
                let ids = operation_ids(conn, filter.service.as_deref(), operation)?;
                if ids.is_empty() {
                    return Ok(None);
                }
                Some(ids)
            }
            None => None,
        };
        let mut attributes = Vec::with_capacity(filter.attributes.len());
        for attribute in &filter.attributes {
            let key_id: Option<i64> = conn
                .prepare_cached("SELECT id FROM attribute_keys WHERE key = ?1")?
                .query_row(params![attribute.key], |row| row.get(0))
                .optional()?;
            let resource_ids = matching_resources(conn, attribute)?;
            if key_id.is_none() && resource_ids.is_empty() {
                return Ok(None);
            }
            let probes = match (key_id, attribute.op) {
                (Some(key_id), AttrOp::Equal) => {
                    trace_blocks::probe_items(key_id, &attribute.value)
                }
                _ => Vec::new(),
            };
            attributes.push(ResolvedAttr {
                filter: attribute.clone(),
                key_id,
                probes,
                resource_ids,
            });
        }
        Ok(Some(Resolved {
            service_id,
            operation_ids,
            attributes,
        }))
    }

    /// Whether a block with this filter may hold a matching trace.
    fn block_may_match(&self, block: &BlockFilter) -> bool {
        if let Some(id) = self.service_id {
            if !block.may_contain(trace_blocks::service_item(id)) {
                return false;
            }
        }
        if let Some(ids) = &self.operation_ids {
            if !ids
                .iter()
                .any(|id| block.may_contain(trace_blocks::operation_item(*id)))
            {
                return false;
            }
        }
        self.attributes.iter().all(|attribute| {
            let in_spans = match (attribute.key_id, attribute.filter.op) {
                (None, _) => false,
                (Some(_), AttrOp::Equal) => {
                    attribute.probes.iter().any(|item| block.may_contain(*item))
                }
                (Some(key_id), op) => block.may_compare(key_id, op, attribute.filter.number),
            };
            in_spans || block.has_any_resource(&attribute.resource_ids)
        })
    }

    /// The conditions on a trace `t` besides its time range and service, as
    /// SQL with its arguments.
    fn conditions(&self, filter: &TraceFilter, sql: &mut String, args: &mut Vec<Value>) {
        match filter.status {
            Some(StatusFilter::Error) => sql.push_str(" AND t.error_count > 0"),
            Some(StatusFilter::Ok) => sql.push_str(" AND t.error_count = 0"),
            None => {}
        }
        if let Some(min) = filter.min_duration_nanos {
            sql.push_str(" AND t.end_unix_nano - t.start_unix_nano >= ?");
            args.push(Value::Integer(min));
        }
        if let Some(max) = filter.max_duration_nanos {
            sql.push_str(" AND t.end_unix_nano - t.start_unix_nano <= ?");
            args.push(Value::Integer(max));
        }
        if let Some(ids) = &self.operation_ids {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM spans s WHERE s.trace_rowid = t.id AND s.operation_id IN ({}))",
                placeholders(ids.len())
            ));
            args.extend(ids.iter().copied().map(Value::Integer));
        }
        for attribute in &self.attributes {
            let mut alternatives = Vec::new();
            match (attribute.key_id, attribute.filter.op) {
                (Some(key_id), AttrOp::Equal) => {
                    alternatives.push(
                        "lookout_attr_match(s.attributes, s.dictionary_id, ?, ?)".to_string(),
                    );
                    args.push(Value::Integer(key_id));
                    args.push(Value::Text(attribute.filter.value.clone()));
                }
                (Some(key_id), op) => {
                    alternatives.push(
                        "lookout_attr_compare(s.attributes, s.dictionary_id, ?, ?, ?)".to_string(),
                    );
                    args.push(Value::Integer(key_id));
                    args.push(Value::Integer(op.code()));
                    args.push(Value::Real(attribute.filter.number));
                }
                (None, _) => {}
            }
            if !attribute.resource_ids.is_empty() {
                alternatives.push(format!(
                    "s.resource_id IN ({})",
                    placeholders(attribute.resource_ids.len())
                ));
                args.extend(attribute.resource_ids.iter().copied().map(Value::Integer));
            }
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM spans s WHERE s.trace_rowid = t.id AND ({}))",
                alternatives.join(" OR ")
            ));
        }
    }
}

/// A trace summary row as the search reads it.
struct Row {
    rowid: i64,
    trace_id: Vec<u8>,
    start: i64,
    end: i64,
    root_operation_id: Option<i64>,
    span_count: i64,
    error_count: i64,
    services: String,
}

const COLUMNS: &str = "t.id, t.trace_id, t.start_unix_nano, t.end_unix_nano, t.root_operation_id,
    t.span_count, t.error_count, t.services";

/// Runs `sql` with `args`, the one at `array`'s index replaced by that
/// list (for `rarray`).
fn read_rows(
    conn: &Connection,
    sql: &str,
    args: &[Value],
    array: Option<(usize, Array)>,
    out: &mut Vec<Row>,
) -> Result<(), StoreError> {
    let mut params: Vec<ToSqlOutput<'_>> = args.iter().map(ToSqlOutput::from).collect();
    if let Some((index, list)) = &array {
        params[index.to_owned()] = list.to_sql()?;
    }
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params_from_iter(params.iter()))?;
    while let Some(row) = rows.next()? {
        out.push(Row {
            rowid: row.get(0)?,
            trace_id: row.get(1)?,
            start: row.get(2)?,
            end: row.get(3)?,
            root_operation_id: row.get(4)?,
            span_count: row.get(5)?,
            error_count: row.get(6)?,
            services: row.get(7)?,
        });
    }
    Ok(())
}

/// The plan by time: one statement, newest first, `limit + 1` rows; with
/// `blocks`, traces outside them are passed over without reading their
/// spans.
fn by_time(
    conn: &Connection,
    filter: &TraceFilter,
    resolved: &Resolved,
    blocks: Option<&[BlockRange]>,
) -> Result<Vec<Row>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} ");
    let mut args = Vec::new();
    let mut block_list = None;
    let (order_start, order_rowid);
    if let Some(service_id) = resolved.service_id {
        sql.push_str(
            "FROM trace_services ts JOIN traces t ON t.id = ts.trace_rowid
             WHERE ts.service_id = ? AND ts.start_unix_nano >= ? AND ts.start_unix_nano < ?",
        );
        args.push(Value::Integer(service_id));
        (order_start, order_rowid) = ("ts.start_unix_nano", "ts.trace_rowid");
    } else {
        sql.push_str("FROM traces t WHERE t.start_unix_nano >= ? AND t.start_unix_nano < ?");
        (order_start, order_rowid) = ("t.start_unix_nano", "t.id");
    }
    args.push(Value::Integer(filter.start.0));
    args.push(Value::Integer(filter.end.0));
    if let Some(blocks) = blocks {
        // Before the span conditions, which SQLite evaluates in order.
        sql.push_str(&format!(
            " AND ({order_rowid} >> {}) IN rarray(?)",
            trace_blocks::BLOCK_SHIFT
        ));
        let list: Vec<Value> = blocks.iter().map(|b| Value::Integer(b.block)).collect();
        block_list = Some((args.len(), std::rc::Rc::new(list)));
        args.push(Value::Null);
    }
    if let Some((start, rowid)) = filter.after {
        sql.push_str(&format!(
            " AND ({order_start} < ? OR ({order_start} = ? AND {order_rowid} < ?))"
        ));
        args.extend([
            Value::Integer(start),
            Value::Integer(start),
            Value::Integer(rowid),
        ]);
    }
    resolved.conditions(filter, &mut sql, &mut args);
    sql.push_str(&format!(
        " ORDER BY {order_start} DESC, {order_rowid} DESC LIMIT ?"
    ));
    args.push(Value::Integer(
        i64::try_from(filter.limit.max(1) + 1).unwrap_or(i64::MAX),
    ));
    let mut rows = Vec::new();
    read_rows(conn, &sql, &args, block_list, &mut rows)?;
    Ok(rows)
}

/// The blocks a search has to read.
struct Candidates {
    /// Those that may hold a match, overlap the time range and lie before
    /// the cursor, newest first by latest start.
    blocks: Vec<BlockRange>,
    /// Blocks in the time range, matching or not.
    in_range: usize,
}

/// `None` when too many blocks have no filter for the block plans to pay.
fn candidate_blocks(
    conn: &Connection,
    filter: &TraceFilter,
    resolved: &Resolved,
    cache: &FilterCache,
) -> Result<Option<Candidates>, StoreError> {
    let Some((min_rowid, max_rowid)) = trace_blocks::trace_rowid_range(conn)? else {
        return Ok(Some(Candidates {
            blocks: Vec::new(),
            in_range: 0,
        }));
    };
    let sealed = trace_blocks::all_sealed(conn)?;
    let sealed_numbers: HashSet<i64> = sealed.iter().map(|b| b.range.block).collect();
    let unsealed: Vec<i64> = (trace_blocks::block_of(min_rowid)
        ..=trace_blocks::block_of(max_rowid))
        .filter(|block| !sealed_numbers.contains(block))
        .take(MAX_UNSEALED_BLOCKS + 1)
        .collect();
    if unsealed.len() > MAX_UNSEALED_BLOCKS {
        return Ok(None);
    }
    let wanted = |range: &BlockRange| {
        range.max_start >= filter.start.0
            && range.min_start < filter.end.0
            && filter
                .after
                .is_none_or(|(start, _)| range.min_start <= start)
    };
    let mut candidates = Vec::new();
    let mut in_range = 0;
    for block in unsealed {
        // A provisional filter holds while the block's counts are the ones
        // it was built from; checking them reads 128 trace rows, not the
        // block's spans.
        let complete = block < trace_blocks::block_of(max_rowid);
        if let Some(seal) = cache.provisional(block).filter(|_| complete) {
            if trace_blocks::block_counts(conn, block)? == seal.counts {
                let range = BlockRange {
                    block,
                    min_start: seal.min_start,
                    max_start: seal.max_start,
                };
                if wanted(&range) {
                    in_range += 1;
                    if resolved.block_may_match(&seal.built) {
                        candidates.push(range);
                    }
                }
                continue;
            }
        }
        if let Some(range) = trace_blocks::unsealed_range(conn, block)? {
            if wanted(&range) {
                in_range += 1;
                candidates.push(range);
            }
        }
    }
    for sealed in &sealed {
        if !wanted(&sealed.range) {
            continue;
        }
        in_range += 1;
        let may_match = match cache.get(conn, sealed.id) {
            Ok(Some(block)) => resolved.block_may_match(&block),
            // Unsealed since it was listed: read it.
            Ok(None) => true,
            // A filter that does not decode rules nothing out.
            Err(StoreError::Codec(_)) => true,
            Err(error) => return Err(error),
        };
        if may_match {
            candidates.push(sealed.range);
        }
    }
    candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.max_start));
    Ok(Some(Candidates {
        blocks: candidates,
        in_range,
    }))
}

/// The plan by block: each candidate block's matching traces, merged
/// newest first, until no later block can hold a trace newer than the
/// page's last.
fn by_block(
    conn: &Connection,
    filter: &TraceFilter,
    resolved: &Resolved,
    candidates: &[BlockRange],
) -> Result<Vec<Row>, StoreError> {
    // `+` keeps SQLite on the rowid range instead of the start index.
    let mut sql = format!(
        "SELECT {COLUMNS} FROM traces t WHERE t.id BETWEEN ? AND ?
         AND +t.start_unix_nano >= ? AND +t.start_unix_nano < ?"
    );
    let mut args = vec![
        Value::Null,
        Value::Null,
        Value::Integer(filter.start.0),
        Value::Integer(filter.end.0),
    ];
    if let Some(service_id) = resolved.service_id {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM trace_services ts WHERE ts.service_id = ?
               AND ts.start_unix_nano = t.start_unix_nano AND ts.trace_rowid = t.id)",
        );
        args.push(Value::Integer(service_id));
    }
    if let Some((start, rowid)) = filter.after {
        sql.push_str(" AND (t.start_unix_nano < ? OR (t.start_unix_nano = ? AND t.id < ?))");
        args.extend([
            Value::Integer(start),
            Value::Integer(start),
            Value::Integer(rowid),
        ]);
    }
    resolved.conditions(filter, &mut sql, &mut args);
    let keep = filter.limit.max(1) + 1;
    let mut rows: Vec<Row> = Vec::new();
    for block in candidates {
        if rows.len() >= keep && block.max_start < rows[keep - 1].start {
            break;
        }
        let (first, last) = trace_blocks::rowids_of(block.block);
        args[0] = Value::Integer(first);
        args[1] = Value::Integer(last);
        read_rows(conn, &sql, &args, None, &mut rows)?;
        rows.sort_unstable_by_key(|row| std::cmp::Reverse((row.start, row.rowid)));
        rows.truncate(keep);
    }
    Ok(rows)
}

/// The page: at most `limit` rows with names, and the cursor when more
/// rows were found.
fn page(
    conn: &Connection,
    filter: &TraceFilter,
    mut rows: Vec<Row>,
) -> Result<TracePage, StoreError> {
    let limit = filter.limit.max(1);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|last| (last.start, last.rowid))
    } else {
        None
    };
    let mut names = ServiceNames::new(conn);
    let mut traces = Vec::with_capacity(rows.len());
    for row in rows {
        let (root_service, root_operation) = match row.root_operation_id {
            Some(id) => names.operation(id)?,
            None => (None, None),
        };
        let mut services = Vec::new();
        for id in row
            .services
            .split(',')
            .filter_map(|id| id.parse::<i64>().ok())
        {
            if let Some(name) = names.service(id)? {
                services.push(name);
            }
        }
        services.sort();
        traces.push(TraceListItem {
            trace_id: TraceId::from_bytes(&row.trace_id)
                .map_err(|_| StoreError::Corrupt("traces.trace_id is not a valid id".into()))?,
            root_service,
            root_operation,
            start: UnixNanos(row.start),
            duration_nanos: row.end.saturating_sub(row.start),
            span_count: row.span_count,
            error_count: row.error_count,
            services,
        });
    }
    Ok(TracePage { traces, next })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestRunner};

    use std::sync::Arc;

    use super::*;
    use crate::model::{AttrValue, Resource, Scope, Span, SpanBatch, SpanId, SpanKind, StatusCode};
    use crate::store::sqlite::trace_blocks::BlockSeal;
    use crate::store::sqlite::write::WriteStore;
    use crate::store::sqlite::{open_write_store, ReadPool, StoreOptions};

    /// A small deterministic generator for the corpus.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    const HOSTS: [&str; 2] = ["h1", "h2"];
    const SERVICES: [&str; 3] = ["front", "cart", "db"];
    const WORDS: [&str; 4] = ["red", "green", "blue", "500"];

    fn resources() -> Vec<Resource> {
        let mut resources = Vec::new();
        for service in SERVICES {
            for host in HOSTS {
                resources.push(Resource {
                    service: service.into(),
                    attributes: vec![
                        ("service.name".into(), AttrValue::String(service.into())),
                        ("host.name".into(), AttrValue::String(host.into())),
                    ],
                });
            }
        }
        resources
    }

    fn random_span(rng: &mut Lcg, trace: u32, index: u8, start: i64) -> Span {
        let mut trace_id = [0u8; 16];
        trace_id[..4].copy_from_slice(&(trace + 1).to_be_bytes());
        let mut attributes = vec![("k".to_string(), AttrValue::Int(rng.below(40) as i64))];
        if rng.below(3) == 0 {
            let word = WORDS[rng.below(WORDS.len() as u64) as usize];
            attributes.push(("s".into(), AttrValue::String(word.into())));
        }
        if rng.below(4) == 0 {
            attributes.push(("d".into(), AttrValue::Double(rng.below(100) as f64 / 4.0)));
        }
        if rng.below(5) == 0 {
            attributes.push(("flag".into(), AttrValue::Bool(rng.below(2) == 0)));
        }
        if rng.below(50) == 0 {
            attributes.push(("user".into(), AttrValue::String(format!("u{trace}"))));
        }
        Span {
            trace_id: TraceId(trace_id),
            span_id: SpanId([index + 1; 8]),
            parent_span_id: (index > 0).then_some(SpanId([1; 8])),
            name: format!("op{}", rng.below(5)),
            kind: SpanKind::Server,
            start: UnixNanos(start + i64::from(index) * 10),
            end: UnixNanos(start + 1_000 + rng.below(5_000) as i64),
            status_code: if rng.below(20) == 0 {
                StatusCode::Error
            } else {
                StatusCode::Ok
            },
            status_message: String::new(),
            attributes,
            events: Vec::new(),
            links: Vec::new(),
            resource: rng.below(6) as usize,
            scope: 0,
        }
    }

    fn write(store: &mut WriteStore, spans: Vec<Span>) {
        let batch = SpanBatch {
            resources: resources(),
            scopes: vec![Scope::default()],
            spans,
        };
        store.write_group(&[&batch]).expect("write");
    }

    fn seal_all(store: &mut WriteStore, pool: &ReadPool) -> u64 {
        let conn = pool.get().expect("reader");
        let seals: Vec<_> = trace_blocks::unsealed_complete_blocks(&conn, usize::MAX)
            .expect("pending")
            .into_iter()
            .map(|block| Arc::new(trace_blocks::build_seal(&conn, block).expect("build")))
            .collect();
        store.seal_trace_blocks(&seals).expect("seal").len() as u64
    }

    /// Packs the spans written from now on with a dictionary of the
    /// newest spans' blobs as they are (zstd takes any bytes as one), so
    /// the corpus holds spans packed and not.
    fn pack_from_now_on(store: &mut WriteStore, pool: &ReadPool) {
        let conn = pool.get().expect("reader");
        let samples =
            super::super::span_dictionaries::newest_samples(&conn, pool.span_codecs(), 300)
                .expect("samples");
        let trained = super::super::span_dictionaries::Trained {
            samples: samples.len() as u64,
            dictionary: samples.concat(),
            sample_bytes: 0,
            packed_bytes: 0,
        };
        store
            .store_span_dictionary(&trained, UnixNanos(1))
            .expect("store the dictionary");
    }

    /// 1,000 traces in 8 blocks, half of them packed with a dictionary, starts not in rowid order; most blocks
    /// sealed, some unsealed again by late spans, one changed between its
    /// build and its store.
    fn corpus(dir: &std::path::Path) -> (WriteStore, ReadPool) {
        let (store, pool, _) = corpus_with_stale(dir);
        (store, pool)
    }

    /// The corpus, and the filter of block 0 built before its last late
    /// span (stale).
    fn corpus_with_stale(dir: &std::path::Path) -> (WriteStore, ReadPool, Arc<BlockSeal>) {
        let mut store = open_write_store(dir, &StoreOptions::default()).expect("open");
        let pool = ReadPool::new(dir, &StoreOptions::default(), store.span_codecs());
        let mut rng = Lcg(7);
        let mut starts = Vec::new();
        for chunk in 0..10u32 {
            let mut spans = Vec::new();
            for trace in chunk * 100..(chunk + 1) * 100 {
                let start = 1_000_000 + rng.below(2_000_000) as i64;
                starts.push(start);
                for index in 0..1 + rng.below(4) as u8 {
                    spans.push(random_span(&mut rng, trace, index, start));
                }
            }
            write(&mut store, spans);
            if chunk == 4 {
                pack_from_now_on(&mut store, &pool);
            }
        }
        let packed: i64 = pool
            .get()
            .expect("reader")
            .query_row(
                "SELECT COUNT(*) FROM spans WHERE dictionary_id IS NOT NULL",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert!(packed > 100, "{packed} spans packed");
        assert!(seal_all(&mut store, &pool) >= 6);
        // Late spans for traces of sealed blocks: those blocks lose their
        // filters in the same transaction.
        let late: Vec<Span> = [3u32, 300, 301]
            .iter()
            .map(|&trace| random_span(&mut rng, trace, 9, starts[trace as usize]))
            .collect();
        write(&mut store, late);
        // A filter built before a late span is not stored.
        let conn = pool.get().expect("reader");
        let stale =
            Arc::new(trace_blocks::build_seal(&conn, trace_blocks::block_of(1)).expect("build"));
        let mut last = random_span(&mut rng, 0, 10, starts[0]);
        last.attributes
            .push(("late".into(), AttrValue::String("yes".into())));
        write(&mut store, vec![last]);
        assert!(store
            .seal_trace_blocks(std::slice::from_ref(&stale))
            .expect("seal")
            .is_empty());
        drop(conn);
        (store, pool, stale)
    }

    fn attr_strategy() -> impl Strategy<Value = AttrFilter> {
        let equal = (
            prop_oneof![
                Just("k"),
                Just("s"),
                Just("d"),
                Just("flag"),
                Just("host.name"),
                Just("user"),
                Just("missing")
            ],
            prop_oneof![
                (0..45i64).prop_map(|n| n.to_string()),
                Just("red".to_string()),
                Just("500".to_string()),
                Just("true".to_string()),
                Just("h2".to_string()),
                Just("2.5".to_string()),
                (0..1000u32).prop_map(|n| format!("u{n}")),
            ],
        )
            .prop_map(|(key, value)| AttrFilter {
                key: key.into(),
                op: AttrOp::Equal,
                number: value.parse().unwrap_or(f64::NAN),
                value,
            });
        let compare = (
            prop_oneof![Just("k"), Just("d"), Just("s")],
            prop_oneof![
                Just(AttrOp::Greater),
                Just(AttrOp::GreaterOrEqual),
                Just(AttrOp::Less),
                Just(AttrOp::LessOrEqual)
            ],
            -2.0f64..45.0,
        )
            .prop_map(|(key, op, number)| AttrFilter {
                key: key.into(),
                op,
                value: number.to_string(),
                number,
            });
        prop_oneof![equal, compare]
    }

    fn filter_strategy() -> impl Strategy<Value = TraceFilter> {
        (
            proptest::option::weighted(0.3, proptest::sample::select(SERVICES.to_vec())),
            proptest::option::weighted(0.3, (0..6u32).prop_map(|n| format!("op{n}"))),
            proptest::collection::vec(attr_strategy(), 0..3),
            proptest::option::weighted(0.2, Just(StatusFilter::Error)),
            0i64..3_000_000,
            1usize..40,
        )
            .prop_map(|(service, operation, attributes, status, start, limit)| {
                TraceFilter {
                    service: service.map(str::to_string),
                    operation,
                    status,
                    min_duration_nanos: None,
                    max_duration_nanos: None,
                    attributes,
                    start: UnixNanos(start / 2),
                    end: UnixNanos(start + 1_500_000),
                    limit,
                    after: None,
                }
            })
    }

    /// `key=value` over all time, nothing else.
    fn equal_over_all_time(key: &str, value: &str, limit: usize) -> TraceFilter {
        TraceFilter {
            service: None,
            operation: None,
            status: None,
            min_duration_nanos: None,
            max_duration_nanos: None,
            attributes: vec![AttrFilter {
                key: key.into(),
                op: AttrOp::Equal,
                value: value.into(),
                number: value.parse().unwrap_or(f64::NAN),
            }],
            start: UnixNanos(0),
            end: UnixNanos(i64::MAX),
            limit,
            after: None,
        }
    }

    /// A page's trace ids and its cursor.
    type Page = (Vec<TraceId>, Option<(i64, i64)>);

    /// Every page of a search, following the cursor.
    fn all_pages(
        conn: &Connection,
        filter: &TraceFilter,
        cache: &FilterCache,
        plan: Plan,
    ) -> Vec<Page> {
        let mut filter = filter.clone();
        let mut pages = Vec::new();
        loop {
            let page = search_traces(conn, &filter, cache, plan).expect("search");
            let next = page.next;
            pages.push((page.traces.iter().map(|t| t.trace_id).collect(), next));
            match next {
                Some(after) if pages.len() < 200 => filter.after = Some(after),
                _ => return pages,
            }
        }
    }

    #[test]
    fn the_block_plans_find_the_same_pages_as_the_scan_they_replace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_store, pool, stale) = corpus_with_stale(dir.path());
        let conn = pool.get().expect("reader");
        // Block 2 (late spans, unsealed) has a current provisional filter,
        // block 0 a stale one, which must not rule anything out.
        let cache = FilterCache::default();
        cache.set_provisional(stale);
        cache.set_provisional(Arc::new(trace_blocks::build_seal(&conn, 2).expect("build")));
        let late = equal_over_all_time("late", "yes", 5);
        let found = search_traces(&conn, &late, &cache, Plan::Auto).expect("search");
        assert_eq!(found.traces.len(), 1, "the span the stale filter lacks");
        let mut runner = TestRunner::new(RunnerConfig {
            cases: 400,
            ..RunnerConfig::default()
        });
        let nonempty = std::cell::Cell::new(0);
        runner
            .run(&filter_strategy(), |filter| {
                let scan = all_pages(&conn, &filter, &cache, Plan::ByTime);
                if !scan[0].0.is_empty() {
                    nonempty.set(nonempty.get() + 1);
                }
                for plan in [Plan::Auto, Plan::ByBlock, Plan::ByTimeInBlocks] {
                    let other = all_pages(&conn, &filter, &cache, plan);
                    prop_assert_eq!(&scan, &other, "{:?} {:?}", plan, filter);
                }
                Ok(())
            })
            .expect("the plans agree");
        // The generated filters are not all empty.
        let nonempty = nonempty.get();
        assert!(nonempty > 100, "{nonempty} searches found something");
    }

    #[test]
    fn a_value_no_span_holds_reads_no_block() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_store, pool) = corpus(dir.path());
        let conn = pool.get().expect("reader");
        let cache = FilterCache::default();
        let filter = equal_over_all_time("k", "12345", 20);
        let resolved = Resolved::new(&conn, &filter)
            .expect("resolve")
            .expect("key");
        let candidates = candidate_blocks(&conn, &filter, &resolved, &cache)
            .expect("candidates")
            .expect("block plan")
            .blocks;
        // Only the blocks without a filter: the two unsealed by late
        // spans, the one whose seal was refused and the open one.
        let unsealed: Vec<i64> = candidates.iter().map(|c| c.block).collect();
        assert!(unsealed.len() <= 4, "{unsealed:?}");
        assert!(
            unsealed.contains(&trace_blocks::block_of(1)),
            "{unsealed:?}"
        );
    }

    #[test]
    fn late_spans_unseal_their_blocks_until_they_are_sealed_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, pool) = corpus(dir.path());
        let conn = pool.get().expect("reader");
        // Blocks 0 and 2 got late spans; block 7 is the open one.
        let mut pending =
            trace_blocks::unsealed_complete_blocks(&conn, usize::MAX).expect("pending");
        pending.sort_unstable();
        assert_eq!(pending, vec![0, 2]);
        drop(conn);
        assert_eq!(seal_all(&mut store, &pool), 2);
        let conn = pool.get().expect("reader");
        assert!(trace_blocks::unsealed_complete_blocks(&conn, usize::MAX)
            .expect("pending")
            .is_empty());
    }

    #[test]
    fn a_filter_that_does_not_decode_rules_nothing_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, pool) = corpus(dir.path());
        store
            .execute_batch_for_test("UPDATE trace_blocks SET filter = x'07' WHERE block = 1")
            .expect("damage a filter");
        let conn = pool.get().expect("reader");
        let cache = FilterCache::default();
        // Trace 200 (rowid 201) is in block 1; its user attribute, if any,
        // is found only by reading the block.
        for trace in 128..256u32 {
            let filter = equal_over_all_time("user", &format!("u{trace}"), 5);
            let scan = search_traces(&conn, &filter, &cache, Plan::ByTime).expect("scan");
            let blocks = search_traces(&conn, &filter, &cache, Plan::Auto).expect("blocks");
            assert_eq!(scan.traces, blocks.traces, "u{trace}");
        }
    }
}
