//! Trace blocks: a filter per 128 consecutive trace rowids saying what the
//! block's spans hold, so that an attribute search reads the spans of only
//! the blocks that may match (Tempo keeps a bloom filter per block for the
//! same reason).
//!
//! - A filter errs one way only: it may say "maybe" for a block that holds
//!   no match, never "no" for one that does. It holds a binary fuse filter
//!   (16-bit fingerprints: a false "maybe" about once in 65,000 probes) over
//!   stable hashes of every (attribute key, value) of its spans, their
//!   operations and services; the exact resource ids; and per attribute key
//!   the smallest and largest numeric value, for `>`/`<` filters.
//! - The `block-sealer` thread builds a block's filter on a read connection
//!   once the block is complete (a newer trace exists) and its span count
//!   has stood still for a while; the writer stores it only if the block's
//!   trace and span counts are still the ones the filter was built from.
//! - Every transaction that adds spans to a block deletes the block's row
//!   (`unseal`), so a stored filter covers all spans of its block. Readers
//!   read every span of a block that has no row.
//! - Rowids are `trace.id`: new traces take the next one, so blocks fill in
//!   order and a complete block only gets spans of traces it already holds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use xorf::{BinaryFuse16, Descriptor, Filter};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::codec::{put_varint, CodecError, Reader, ValueRef};
use super::StoreError;
use crate::model::{AttrOp, AttrValue};

/// log2 of the traces per block. A search reads at most about `limit`
/// blocks' spans when matches are spread thinly; smaller blocks mean more
/// filters to probe.
pub const BLOCK_SHIFT: u32 = 7;

/// Fixed forever: the hashes are stored.
const SEED: u64 = 0x6c6f_6f6b_6f75_7401;
const KIND_TEXT: u8 = 1;
const KIND_NUMBER: u8 = 2;
const KIND_OPERATION: u8 = 3;
const KIND_SERVICE: u8 = 4;
/// Below this many distinct items the filter keeps the hashes themselves.
const EXACT_ITEMS: usize = 32;
const FORMAT_VERSION: u8 = 1;

/// The block a trace rowid belongs to.
pub fn block_of(trace_rowid: i64) -> i64 {
    trace_rowid >> BLOCK_SHIFT
}

/// The first and last trace rowid of a block.
pub fn rowids_of(block: i64) -> (i64, i64) {
    (block << BLOCK_SHIFT, ((block + 1) << BLOCK_SHIFT) - 1)
}

/// The item of `bytes` under (kind, id): XXH3 of the bytes with a seed
/// made of all three, in one pass.
fn hash(kind: u8, id: i64, bytes: &[u8]) -> u64 {
    let seed = SEED ^ (u64::from(kind) << 56) ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    xxh3_64_with_seed(bytes, seed)
}

fn number_item(key_id: i64, number: f64) -> Option<u64> {
    if number.is_nan() {
        return None; // equal to nothing
    }
    // -0.0 == 0.0: one item for both.
    let number = if number == 0.0 { 0.0 } else { number };
    Some(hash(KIND_NUMBER, key_id, &number.to_bits().to_le_bytes()))
}

fn text_item(key_id: i64, text: &str) -> u64 {
    hash(KIND_TEXT, key_id, text.as_bytes())
}

pub fn operation_item(operation_id: i64) -> u64 {
    hash(KIND_OPERATION, operation_id, &[])
}

pub fn service_item(service_id: i64) -> u64 {
    hash(KIND_SERVICE, service_id, &[])
}

/// The item a stored attribute value adds, chosen so that whenever
/// `value.matches_text(wanted)` holds, this item is among
/// `probe_items(key_id, wanted)`.
fn value_item(key_id: i64, value: &AttrValue) -> Option<u64> {
    match value {
        AttrValue::String(text) => Some(text_item(key_id, text)),
        AttrValue::Bool(flag) => Some(text_item(key_id, if *flag { "true" } else { "false" })),
        AttrValue::Int(int) => number_item(key_id, *int as f64),
        AttrValue::Double(double) => number_item(key_id, *double),
        other => serde_json::to_string(&other.to_json())
            .ok()
            .map(|text| text_item(key_id, &text)),
    }
}

/// The items an `attr=key=value` filter looks for: the text itself and,
/// when it reads as a number, that number (integers and doubles compare by
/// value, see `AttrValue::matches_text`).
pub fn probe_items(key_id: i64, wanted: &str) -> Vec<u64> {
    let mut items = vec![text_item(key_id, wanted)];
    if let Ok(int) = wanted.parse::<i64>() {
        items.extend(number_item(key_id, int as f64));
    }
    if let Ok(double) = wanted.parse::<f64>() {
        items.extend(number_item(key_id, double));
    }
    items.sort_unstable();
    items.dedup();
    items
}

/// What a block's spans hold, as far as searches ask.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockFilter {
    items: Items,
    /// Sorted, distinct.
    resources: Vec<i64>,
    /// (key id, smallest, largest numeric value), sorted by key id.
    numbers: Vec<(i64, f64, f64)>,
}

#[derive(Debug, Clone)]
enum Items {
    /// Sorted, distinct.
    Exact(Vec<u64>),
    Fuse(BinaryFuse16),
}

impl PartialEq for Items {
    fn eq(&self, other: &Items) -> bool {
        match (self, other) {
            (Items::Exact(a), Items::Exact(b)) => a == b,
            (Items::Fuse(a), Items::Fuse(b)) => {
                a.descriptor == b.descriptor && a.fingerprints == b.fingerprints
            }
            _ => false,
        }
    }
}

impl BlockFilter {
    /// Whether some span may hold `item` (never false when one does).
    pub fn may_contain(&self, item: u64) -> bool {
        match &self.items {
            Items::Exact(items) => items.binary_search(&item).is_ok(),
            Items::Fuse(fuse) => fuse.contains(&item),
        }
    }

    /// Whether some span's resource is one of `ids` (exact).
    pub fn has_any_resource(&self, ids: &[i64]) -> bool {
        ids.iter()
            .any(|id| self.resources.binary_search(id).is_ok())
    }

    /// Whether some span may hold a numeric value of `key_id` for which
    /// `value op bound` holds.
    pub fn may_compare(&self, key_id: i64, op: AttrOp, bound: f64) -> bool {
        let Ok(at) = self
            .numbers
            .binary_search_by_key(&key_id, |&(key, _, _)| key)
        else {
            return false;
        };
        let (_, min, max) = self.numbers[at];
        match op {
            AttrOp::Equal => min <= bound && bound <= max,
            AttrOp::Greater => max > bound,
            AttrOp::GreaterOrEqual => max >= bound,
            AttrOp::Less => min < bound,
            AttrOp::LessOrEqual => min <= bound,
        }
    }

    /// Bytes held in memory, for the readers' cache.
    pub fn memory_bytes(&self) -> usize {
        let items = match &self.items {
            Items::Exact(items) => items.len() * 8,
            Items::Fuse(fuse) => fuse.fingerprints.len() * 2,
        };
        64 + items + self.resources.len() * 8 + self.numbers.len() * 24
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT_VERSION];
        put_varint(&mut out, self.resources.len() as u64);
        let mut previous = 0i64;
        for &id in &self.resources {
            put_varint(&mut out, id.wrapping_sub(previous) as u64);
            previous = id;
        }
        put_varint(&mut out, self.numbers.len() as u64);
        for &(key, min, max) in &self.numbers {
            put_varint(&mut out, key as u64);
            out.extend_from_slice(&min.to_le_bytes());
            out.extend_from_slice(&max.to_le_bytes());
        }
        match &self.items {
            Items::Exact(items) => {
                out.push(0);
                put_varint(&mut out, items.len() as u64);
                for item in items {
                    out.extend_from_slice(&item.to_le_bytes());
                }
            }
            Items::Fuse(fuse) => {
                out.push(1);
                let d = &fuse.descriptor;
                out.extend_from_slice(&d.seed.to_le_bytes());
                out.extend_from_slice(&d.segment_length.to_le_bytes());
                out.extend_from_slice(&d.segment_length_mask.to_le_bytes());
                out.extend_from_slice(&d.segment_count_length.to_le_bytes());
                put_varint(&mut out, fuse.fingerprints.len() as u64);
                for fingerprint in fuse.fingerprints.iter() {
                    out.extend_from_slice(&fingerprint.to_le_bytes());
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<BlockFilter, CodecError> {
        let mut reader = Reader::new(bytes);
        if reader.byte()? != FORMAT_VERSION {
            return Err(CodecError("unknown trace block filter version"));
        }
        let count = bounded(reader.varint()?, bytes.len())?;
        let mut resources = Vec::with_capacity(count);
        let mut previous = 0i64;
        for _ in 0..count {
            previous = previous.wrapping_add(reader.varint()? as i64);
            resources.push(previous);
        }
        let count = bounded(reader.varint()?, bytes.len())?;
        let mut numbers = Vec::with_capacity(count);
        for _ in 0..count {
            let key = reader.varint()? as i64;
            numbers.push((key, f64_at(&mut reader)?, f64_at(&mut reader)?));
        }
        let items = match reader.byte()? {
            0 => {
                let count = bounded(reader.varint()?, bytes.len())?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(u64::from_le_bytes(array(&mut reader)?));
                }
                Items::Exact(items)
            }
            1 => {
                let descriptor = Descriptor {
                    seed: u64::from_le_bytes(array(&mut reader)?),
                    segment_length: u32::from_le_bytes(array(&mut reader)?),
                    segment_length_mask: u32::from_le_bytes(array(&mut reader)?),
                    segment_count_length: u32::from_le_bytes(array(&mut reader)?),
                };
                let count = bounded(reader.varint()?, bytes.len())?;
                let mut fingerprints = Vec::with_capacity(count);
                for _ in 0..count {
                    fingerprints.push(u16::from_le_bytes(array(&mut reader)?));
                }
                // The filter indexes fingerprints with these: check them
                // so a corrupt row cannot index out of bounds.
                let segments = descriptor.segment_count_length as u64;
                let length = descriptor.segment_length as u64;
                if !length.is_power_of_two()
                    || descriptor.segment_length_mask as u64 != length - 1
                    || !segments.is_multiple_of(length)
                    || segments + 2 * length > count as u64
                {
                    return Err(CodecError("inconsistent trace block filter"));
                }
                Items::Fuse(BinaryFuse16 {
                    descriptor,
                    fingerprints: fingerprints.into_boxed_slice(),
                })
            }
            _ => return Err(CodecError("unknown trace block filter kind")),
        };
        if !reader.is_empty() {
            return Err(CodecError("trailing bytes after a trace block filter"));
        }
        Ok(BlockFilter {
            items,
            resources,
            numbers,
        })
    }
}

fn bounded(count: u64, limit: usize) -> Result<usize, CodecError> {
    usize::try_from(count)
        .ok()
        .filter(|&count| count <= limit)
        .ok_or(CodecError("count past end"))
}

fn array<const N: usize>(reader: &mut Reader<'_>) -> Result<[u8; N], CodecError> {
    reader
        .take(N)?
        .try_into()
        .map_err(|_| CodecError("short field"))
}

fn f64_at(reader: &mut Reader<'_>) -> Result<f64, CodecError> {
    Ok(f64::from_le_bytes(array(reader)?))
}

/// Collects what a block's spans hold into a [`BlockFilter`].
#[derive(Debug, Default)]
pub struct FilterBuilder {
    items: Vec<u64>,
    resources: Vec<i64>,
    numbers: HashMap<i64, (f64, f64)>,
}

impl FilterBuilder {
    pub fn add_service(&mut self, service_id: i64) {
        self.items.push(service_item(service_id));
    }

    /// One span: its operation, its resource and its encoded attributes.
    pub fn add_span(
        &mut self,
        operation_id: i64,
        resource_id: i64,
        attributes: Option<&[u8]>,
    ) -> Result<(), CodecError> {
        self.items.push(operation_item(operation_id));
        self.resources.push(resource_id);
        if let Some(blob) = attributes {
            let mut reader = Reader::new(blob);
            reader.for_each_attribute(|key_id, value| match value {
                ValueRef::Str(text) => self.add_text(key_id, text),
                ValueRef::Owned(value) => self.add_attribute(key_id, &value),
            })?;
        }
        Ok(())
    }

    /// A string value (what most are), without building an `AttrValue`.
    pub fn add_text(&mut self, key_id: i64, text: &str) {
        self.items.push(text_item(key_id, text));
        // Strings that are numbers compare as numbers (`AttrValue::as_number`).
        if text
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit() || "+-.iInN".contains(c))
        {
            if let Ok(number) = text.trim().parse::<f64>() {
                self.add_number(key_id, number);
            }
        }
    }

    pub fn add_attribute(&mut self, key_id: i64, value: &AttrValue) {
        if let AttrValue::String(text) = value {
            return self.add_text(key_id, text);
        }
        self.items.extend(value_item(key_id, value));
        if let Some(number) = value.as_number() {
            self.add_number(key_id, number);
        }
    }

    fn add_number(&mut self, key_id: i64, number: f64) {
        if number.is_nan() {
            return;
        }
        let range = self.numbers.entry(key_id).or_insert((number, number));
        range.0 = range.0.min(number);
        range.1 = range.1.max(number);
    }

    /// What of this builder's spans `filter` would rule out (a filter must
    /// never), if anything.
    fn uncovered_by(&self, filter: &BlockFilter) -> Option<String> {
        let missing = self
            .items
            .iter()
            .filter(|item| !filter.may_contain(**item))
            .count();
        if missing > 0 {
            return Some(format!(
                "{missing} attribute values, operations or services are missing from its filter"
            ));
        }
        if let Some(id) = self
            .resources
            .iter()
            .find(|id| !filter.has_any_resource(std::slice::from_ref(id)))
        {
            return Some(format!("resource {id} is missing from its filter"));
        }
        for (key, (min, max)) in &self.numbers {
            if !filter.may_compare(*key, AttrOp::LessOrEqual, *min)
                || !filter.may_compare(*key, AttrOp::GreaterOrEqual, *max)
            {
                return Some(format!(
                    "the numbers of attribute key {key} lie outside its filter's range"
                ));
            }
        }
        None
    }

    pub fn finish(mut self) -> Result<BlockFilter, StoreError> {
        self.items.sort_unstable();
        self.items.dedup();
        self.resources.sort_unstable();
        self.resources.dedup();
        let mut numbers: Vec<(i64, f64, f64)> = self
            .numbers
            .into_iter()
            .map(|(key, (min, max))| (key, min, max))
            .collect();
        numbers.sort_unstable_by_key(|&(key, _, _)| key);
        let items = if self.items.len() < EXACT_ITEMS {
            Items::Exact(self.items)
        } else {
            Items::Fuse(BinaryFuse16::try_from(&self.items).map_err(|error| {
                StoreError::Corrupt(format!("building a trace block filter: {error}"))
            })?)
        };
        Ok(BlockFilter {
            items,
            resources: self.resources,
            numbers,
        })
    }
}

/// A block's trace and span counts: the writer stores a filter only while
/// they are still the ones it was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockCounts {
    pub traces: i64,
    pub spans: i64,
    /// A checksum of the traces' starts (the sum of each modulo a prime):
    /// other traces in the same rowids (a rowid reused after retention)
    /// do not pass for the same block.
    pub starts: i64,
}

/// The modulus of [`BlockCounts::starts`].
const STARTS_MODULUS: i64 = 1_000_000_007;

/// A filter built by the sealer, for the writer to store.
#[derive(Debug, Clone)]
pub struct BlockSeal {
    pub block: i64,
    pub counts: BlockCounts,
    /// The range of its traces' starts; for a block whose traces are all
    /// gone, `i64::MAX` twice, which no search range reaches.
    pub min_start: i64,
    pub max_start: i64,
    pub filter: Vec<u8>,
    /// The same filter decoded, for the searches' cache once stored.
    pub built: Arc<BlockFilter>,
}

pub fn block_counts(conn: &Connection, block: i64) -> Result<BlockCounts, StoreError> {
    let (first, last) = rowids_of(block);
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(span_count), 0), COALESCE(SUM(start_unix_nano % ?3), 0)
             FROM traces WHERE id BETWEEN ?1 AND ?2",
        )?
        .query_row(params![first, last, STARTS_MODULUS], |row| {
            Ok(BlockCounts {
                traces: row.get(0)?,
                spans: row.get(1)?,
                starts: row.get(2)?,
            })
        })?)
}

/// The highest trace rowid, if any trace is stored.
fn max_trace_rowid(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MAX(id) FROM traces")?
        .query_row([], |row| row.get(0))?)
}

/// The lowest and highest trace rowid, if any trace is stored.
pub fn trace_rowid_range(conn: &Connection) -> Result<Option<(i64, i64)>, StoreError> {
    // Two statements: SQLite answers a lone MIN or MAX from the b-tree's
    // edge, but scans the table for both in one.
    let min: Option<i64> = conn
        .prepare_cached("SELECT MIN(id) FROM traces")?
        .query_row([], |row| row.get(0))?;
    Ok(min.zip(max_trace_rowid(conn)?))
}

/// Complete blocks without a filter, newest first, at most `max`.
pub fn unsealed_complete_blocks(conn: &Connection, max: usize) -> Result<Vec<i64>, StoreError> {
    let Some((min_rowid, max_rowid)) = trace_rowid_range(conn)? else {
        return Ok(Vec::new());
    };
    let sealed: HashSet<i64> = all_sealed(conn)?.iter().map(|b| b.range.block).collect();
    Ok((block_of(min_rowid)..block_of(max_rowid))
        .rev()
        .filter(|block| !sealed.contains(block))
        .take(max)
        .collect())
}

/// Builds a block's filter from its stored spans, in one snapshot so the
/// counts describe exactly the spans read.
pub fn build_seal(conn: &Connection, block: i64) -> Result<BlockSeal, StoreError> {
    super::read::in_snapshot(conn, |conn| {
        let read = read_block(conn, block)?;
        let built = read.builder.finish()?;
        Ok(BlockSeal {
            block,
            counts: read.counts,
            min_start: read.min_start,
            max_start: read.max_start,
            filter: built.encode(),
            built: Arc::new(built),
        })
    })
}

/// What a block's stored traces and spans hold, collected.
struct ReadBlock {
    counts: BlockCounts,
    min_start: i64,
    max_start: i64,
    builder: FilterBuilder,
}

/// Reads a block's traces and spans (the caller holds the snapshot).
fn read_block(conn: &Connection, block: i64) -> Result<ReadBlock, StoreError> {
    let (first, last) = rowids_of(block);
    let mut builder = FilterBuilder::default();
    let mut counts = BlockCounts {
        traces: 0,
        spans: 0,
        starts: 0,
    };
    let (mut min_start, mut max_start) = (i64::MAX, i64::MIN);
    {
        let mut stmt = conn.prepare_cached(
            "SELECT start_unix_nano, span_count, services FROM traces WHERE id BETWEEN ?1 AND ?2",
        )?;
        let mut rows = stmt.query(params![first, last])?;
        while let Some(row) = rows.next()? {
            let start: i64 = row.get(0)?;
            counts.traces += 1;
            counts.spans += row.get::<_, i64>(1)?;
            counts.starts += start % STARTS_MODULUS;
            min_start = min_start.min(start);
            max_start = max_start.max(start);
            let services: String = row.get(2)?;
            for id in services.split(',').filter_map(|id| id.parse::<i64>().ok()) {
                builder.add_service(id);
            }
        }
    }
    {
        let mut stmt = conn.prepare_cached(
            "SELECT operation_id, resource_id, lookout_span_blob(dictionary_id, attributes) FROM spans
             WHERE trace_rowid BETWEEN ?1 AND ?2",
        )?;
        let mut rows = stmt.query(params![first, last])?;
        while let Some(row) = rows.next()? {
            let attributes = row
                .get_ref(2)?
                .as_blob_or_null()
                .map_err(|_| StoreError::Corrupt("spans.attributes is not a blob".into()))?;
            builder.add_span(row.get(0)?, row.get(1)?, attributes)?;
        }
    }
    if counts.traces == 0 {
        (min_start, max_start) = (i64::MAX, i64::MAX);
    }
    Ok(ReadBlock {
        counts,
        min_start,
        max_start,
        builder,
    })
}

/// `lookout check`: every stored filter decodes and covers what its block
/// holds now (each block in a snapshot of its own, so one unsealed
/// meanwhile is skipped). Returns the blocks checked and the problems.
pub fn verify(conn: &Connection) -> Result<(usize, Vec<String>), StoreError> {
    let mut checked = 0;
    let mut problems = Vec::new();
    for sealed in all_sealed(conn)? {
        let block = sealed.range.block;
        let problem = super::read::in_snapshot(conn, |conn| {
            let blob: Option<Vec<u8>> = conn
                .prepare_cached("SELECT filter FROM trace_blocks WHERE id = ?1")?
                .query_row(params![sealed.id], |row| row.get(0))
                .optional()?;
            let Some(blob) = blob else {
                return Ok(None); // unsealed since it was listed
            };
            checked += 1;
            let stored = match BlockFilter::decode(&blob) {
                Ok(stored) => stored,
                Err(error) => return Ok(Some(format!("its filter does not decode ({error})"))),
            };
            let read = match read_block(conn, block) {
                Ok(read) => read,
                // Damaged span blobs: named span by span elsewhere.
                Err(error) => return Ok(Some(format!("its spans do not read ({error})"))),
            };
            if read.counts.traces > 0
                && (read.min_start < sealed.range.min_start
                    || read.max_start > sealed.range.max_start)
            {
                return Ok(Some(
                    "its traces start outside the range stored with it".into(),
                ));
            }
            Ok(read.builder.uncovered_by(&stored))
        })?;
        if let Some(problem) = problem {
            problems.push(format!(
                "trace block {block} (trace rowids {}..={}): {problem}; searches may miss its traces",
                rowids_of(block).0,
                rowids_of(block).1
            ));
        }
    }
    Ok((checked, problems))
}

/// Stores the seals whose blocks are complete, unsealed and unchanged since
/// their filter was built (in the writer's transaction); returns the index
/// in `seals` and the seal id of each stored one.
pub fn store_seals(
    tx: &Transaction<'_>,
    seals: &[Arc<BlockSeal>],
) -> Result<Vec<(usize, i64)>, StoreError> {
    let Some(max_rowid) = max_trace_rowid(tx)? else {
        return Ok(Vec::new());
    };
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO trace_blocks (block, min_start, max_start, filter) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut stored = Vec::new();
    for (index, seal) in seals.iter().enumerate() {
        if seal.block >= block_of(max_rowid) || block_counts(tx, seal.block)? != seal.counts {
            continue;
        }
        if insert.execute(params![
            seal.block,
            seal.min_start,
            seal.max_start,
            &seal.filter
        ])? > 0
        {
            stored.push((index, tx.last_insert_rowid()));
        }
    }
    Ok(stored)
}

/// Drops the filters of blocks that just got spans (in the transaction
/// that wrote them); returns how many were sealed.
pub fn unseal(
    tx: &Transaction<'_>,
    blocks: impl IntoIterator<Item = i64>,
) -> Result<u64, StoreError> {
    let mut delete = tx.prepare_cached("DELETE FROM trace_blocks WHERE block = ?1")?;
    let mut dropped = 0;
    for block in blocks {
        dropped += delete.execute(params![block])? as u64;
    }
    Ok(dropped)
}

/// Retention: the filters of blocks whose traces all started before
/// `cutoff` (deleted with them) or that lie below every stored trace.
pub fn delete_before(tx: &Transaction<'_>, cutoff: i64) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM trace_blocks WHERE max_start < ?1")?
        .execute(params![cutoff])?;
    match trace_rowid_range(tx)? {
        Some((min_rowid, _)) => tx
            .prepare_cached("DELETE FROM trace_blocks WHERE block < ?1")?
            .execute(params![block_of(min_rowid)])?,
        None => tx.prepare_cached("DELETE FROM trace_blocks")?.execute([])?,
    };
    Ok(())
}

/// A block a search may have to read, with the range of its traces'
/// starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRange {
    pub block: i64,
    pub min_start: i64,
    pub max_start: i64,
}

/// A sealed block with its seal id.
#[derive(Debug, Clone, Copy)]
pub struct SealedBlock {
    pub id: i64,
    pub range: BlockRange,
}

/// Every sealed block, from the covering index (no filter is read).
pub fn all_sealed(conn: &Connection) -> Result<Vec<SealedBlock>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, block, min_start, max_start FROM trace_blocks INDEXED BY idx_trace_blocks_time
         WHERE max_start >= ?1",
    )?;
    let rows = stmt.query_map(params![i64::MIN], |row| {
        Ok(SealedBlock {
            id: row.get(0)?,
            range: BlockRange {
                block: row.get(1)?,
                min_start: row.get(2)?,
                max_start: row.get(3)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The start range of an unsealed block's traces, `None` when it has none.
pub fn unsealed_range(conn: &Connection, block: i64) -> Result<Option<BlockRange>, StoreError> {
    let (first, last) = rowids_of(block);
    let (min, max): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT MIN(start_unix_nano), MAX(start_unix_nano) FROM traces WHERE id BETWEEN ?1 AND ?2",
        )?
        .query_row(params![first, last], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(min.zip(max).map(|(min_start, max_start)| BlockRange {
        block,
        min_start,
        max_start,
    }))
}

/// Decoded filters by seal id, shared by every read connection. Seal ids
/// are never reused, so an entry never goes stale; past its byte limit the
/// cache starts over.
pub struct FilterCache {
    limit_bytes: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    filters: HashMap<i64, Arc<BlockFilter>>,
    bytes: usize,
    /// Filters of complete blocks not sealed yet, by block, with the
    /// counts and start range they were built from: a search may use one
    /// only while the block's counts in its snapshot are these.
    provisional: HashMap<i64, Arc<BlockSeal>>,
}

/// At most this many provisional filters (blocks completed in the last
/// seconds, under heavy ingest).
const MAX_PROVISIONAL: usize = 4096;

/// Default size of the readers' filter cache.
pub const FILTER_CACHE_BYTES: usize = 64 << 20;

impl FilterCache {
    pub fn new(limit_bytes: usize) -> FilterCache {
        FilterCache {
            limit_bytes,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    /// The filter of seal `id`, from the cache or the database.
    pub fn get(&self, conn: &Connection, id: i64) -> Result<Option<Arc<BlockFilter>>, StoreError> {
        if let Some(filter) = self.inner.lock().filters.get(&id) {
            return Ok(Some(Arc::clone(filter)));
        }
        let blob: Option<Vec<u8>> = conn
            .prepare_cached("SELECT filter FROM trace_blocks WHERE id = ?1")?
            .query_row(params![id], |row| row.get(0))
            .optional()?;
        let Some(blob) = blob else {
            return Ok(None);
        };
        let filter = Arc::new(BlockFilter::decode(&blob)?);
        self.insert(id, Arc::clone(&filter));
        Ok(Some(filter))
    }

    /// Holds `filter` as seal `id`'s (the sealer hands over what it stored).
    pub fn insert(&self, id: i64, filter: Arc<BlockFilter>) {
        let mut inner = self.inner.lock();
        let size = filter.memory_bytes();
        if inner.bytes + size > self.limit_bytes {
            // Make room for an eighth more, dropping arbitrary entries:
            // never the whole cache for one filter.
            let goal = self.limit_bytes - self.limit_bytes / 8;
            let mut freed = Vec::new();
            let mut bytes = inner.bytes + size;
            for (&key, held) in &inner.filters {
                if bytes <= goal {
                    break;
                }
                bytes -= held.memory_bytes();
                freed.push(key);
            }
            for key in freed {
                inner.filters.remove(&key);
            }
            inner.bytes = bytes - size;
        }
        inner.bytes += size;
        if let Some(old) = inner.filters.insert(id, filter) {
            inner.bytes -= old.memory_bytes();
        }
    }

    /// Loads the filters of `blocks` in order until the cache is three
    /// quarters full, so the first searches after a start find them.
    pub fn prime(&self, conn: &Connection, blocks: &[SealedBlock]) -> Result<usize, StoreError> {
        let mut loaded = 0;
        for block in blocks {
            if self.usage().1 >= self.limit_bytes / 4 * 3 {
                break;
            }
            if self.get(conn, block.id)?.is_some() {
                loaded += 1;
            }
        }
        Ok(loaded)
    }

    /// Holds a filter built for a complete block that has not settled,
    /// replacing the block's previous one.
    pub fn set_provisional(&self, seal: Arc<BlockSeal>) {
        let mut inner = self.inner.lock();
        if inner.provisional.len() >= MAX_PROVISIONAL
            && !inner.provisional.contains_key(&seal.block)
        {
            return;
        }
        inner.provisional.insert(seal.block, seal);
    }

    /// Drops the provisional filters of blocks not in `keep` (sealed since,
    /// or gone).
    pub fn retain_provisional(&self, keep: &HashSet<i64>) {
        self.inner
            .lock()
            .provisional
            .retain(|block, _| keep.contains(block));
    }

    /// The provisional filter of `block`, if one was built.
    pub fn provisional(&self, block: i64) -> Option<Arc<BlockSeal>> {
        self.inner.lock().provisional.get(&block).cloned()
    }

    /// (entries, bytes) held now.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        (inner.filters.len(), inner.bytes)
    }
}

impl Default for FilterCache {
    fn default() -> FilterCache {
        FilterCache::new(FILTER_CACHE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value_strategy() -> impl Strategy<Value = AttrValue> {
        prop_oneof![
            "[a-c0-9.+-]{0,4}".prop_map(AttrValue::String),
            any::<bool>().prop_map(AttrValue::Bool),
            (-3i64..3).prop_map(AttrValue::Int),
            any::<i64>().prop_map(AttrValue::Int),
            prop_oneof![Just(0.0), Just(-0.0), Just(1.5), Just(2.0), Just(f64::NAN)]
                .prop_map(AttrValue::Double),
            Just(AttrValue::Empty),
            proptest::collection::vec((-2i64..2).prop_map(AttrValue::Int), 0..3)
                .prop_map(AttrValue::Array),
        ]
    }

    fn wanted_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c0-9.+-]{0,4}",
            Just("true".to_string()),
            Just("false".to_string()),
            Just("2.0".to_string()),
            Just("-0".to_string()),
            Just("null".to_string()),
            Just("[0,1]".to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
        ]
    }

    proptest! {
        /// The filter never says "no" where the scan it replaces says yes.
        #[test]
        fn a_value_the_scan_matches_is_always_a_probe_hit(
            values in proptest::collection::vec(value_strategy(), 1..60),
            wanted in wanted_strategy(),
            bound in -3.0f64..3.0,
        ) {
            let mut builder = FilterBuilder::default();
            for value in &values {
                builder.add_attribute(7, value);
            }
            let filter = BlockFilter::decode(&builder.finish().expect("build").encode())
                .expect("round trip");
            let probes = probe_items(7, &wanted);
            for value in &values {
                if value.matches_text(&wanted) {
                    prop_assert!(probes.iter().any(|item| filter.may_contain(*item)),
                        "{value:?} matches {wanted:?}");
                }
                for op in [AttrOp::Greater, AttrOp::GreaterOrEqual, AttrOp::Less,
                           AttrOp::LessOrEqual] {
                    if value.as_number().is_some_and(|n| op.holds(n, bound)) {
                        prop_assert!(filter.may_compare(7, op, bound));
                    }
                }
            }
            // Another key shares nothing with this one.
            prop_assert!(!filter.may_compare(8, AttrOp::Greater, f64::MIN));
        }
    }

    #[test]
    fn filters_round_trip_and_reject_corruption() {
        for items in [3usize, 500] {
            let mut builder = FilterBuilder::default();
            for i in 0..items {
                builder.add_attribute(1, &AttrValue::String(format!("value-{i}")));
            }
            builder.add_span(9, 4, None).expect("span");
            builder.add_span(9, 2, None).expect("span");
            let filter = builder.finish().expect("build");
            let bytes = filter.encode();
            let decoded = BlockFilter::decode(&bytes).expect("decode");
            assert_eq!(decoded, filter);
            assert!(decoded.may_contain(text_item(1, "value-0")));
            assert!(decoded.may_contain(operation_item(9)));
            assert!(decoded.has_any_resource(&[1, 2]));
            assert!(!decoded.has_any_resource(&[3]));
            // 16-bit fingerprints, with binary fuse's overhead for small
            // sets (≈ 1.5 × at 500 keys).
            if items == 500 {
                assert!(bytes.len() < 500 * 7 / 2, "{} bytes", bytes.len());
            }
            for cut in 0..bytes.len() {
                assert!(BlockFilter::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn false_positives_are_rare() {
        let mut builder = FilterBuilder::default();
        for i in 0..2_000 {
            builder.add_attribute(1, &AttrValue::String(format!("user-{i}")));
        }
        let filter = builder.finish().expect("build");
        let false_hits = (0..100_000)
            .filter(|i| filter.may_contain(text_item(1, &format!("other-{i}"))))
            .count();
        // 2^-16 expected: about 1.5 in 100,000.
        assert!(false_hits < 20, "{false_hits} false hits");
    }
}
