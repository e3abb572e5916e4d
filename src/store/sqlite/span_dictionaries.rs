//! Span attributes and events packed with zstd dictionaries trained on the
//! database's own spans.
//!
//! A span's encoded attributes ([`codec`](super::codec)) are 100–250 bytes,
//! most of them the same keys and values again and again: too small for
//! zstd on its own, but with a dictionary trained on recent spans each blob
//! shrinks five- to eightfold while it is still packed, and read, a row at
//! a time. Dictionaries are rows of `span_dictionaries`, never changed once
//! stored; a span row names the one its blobs were packed with
//! (`spans.dictionary_id`; NULL: stored as encoded).
//!
//! A packed blob is `varint(encoded length) ‖ zstd block`: the one
//! compressed block of a zstd frame without magic number, checksum or
//! dictionary id (the row names the dictionary), its frame and block
//! headers left out because both lengths rebuild them (five bytes a blob).
//! A blob zstd cannot shrink follows its length as encoded (the remainder
//! is then as long as the length says; a compressed block is shorter).
//! Dictionaries stored before that layout ([`Layout::Frame`]) keep the
//! whole frame behind the length.
//!
//! The writer packs with a [`Packer`]; every reader unpacks through the
//! process's [`SpanCodecs`], which the writer extends when it stores a
//! dictionary (after the commit, before any span uses it) and which is
//! loaded from the database when opened.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use rusqlite::{params, Connection};
use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DDict, DParameter, FrameFormat};

use super::codec::{put_varint, Reader};
use super::StoreError;

/// Largest dictionary trained. Samples of a few hundred bytes gain nothing
/// from more (measured: 16 KiB and 64 KiB pack within 1 % of each other).
pub const MAX_DICTIONARY_BYTES: usize = 32 * 1024;

/// zstd level for packing: 1 and 3 pack these blobs alike (within 2 %);
/// 3 was no slower on them.
const LEVEL: i32 = 3;

/// Longer than any span's encoded attributes or events can be (a request
/// body is at most a few tens of MiB).
const MAX_UNPACKED_BYTES: usize = 256 << 20;

/// Largest block a zstd frame holds (RFC 8878 `Block_Maximum_Size`).
const MAX_BLOCK_BYTES: usize = 128 << 10;

/// How the blobs packed with a dictionary are laid out
/// (`span_dictionaries.layout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `varint(encoded length) ‖ magicless zstd frame`.
    Frame,
    /// `varint(encoded length) ‖ the frame's compressed block`, or the
    /// encoded bytes themselves when zstd could not shrink them.
    Block,
}

impl Layout {
    fn from_column(value: i64) -> Result<Layout, StoreError> {
        match value {
            0 => Ok(Layout::Frame),
            1 => Ok(Layout::Block),
            other => Err(StoreError::Corrupt(format!(
                "span dictionary layout {other} is not known"
            ))),
        }
    }

    /// `span_dictionaries.layout` of this layout.
    pub fn column(self) -> i64 {
        match self {
            Layout::Frame => 0,
            Layout::Block => 1,
        }
    }
}

/// A dictionary decoded for reading, and how its blobs are laid out.
#[derive(Clone)]
struct Unpacker {
    ddict: Arc<DDict<'static>>,
    layout: Layout,
}

/// Dictionaries by id, decoded once, for every reader of the process.
#[derive(Default)]
pub struct SpanCodecs {
    dictionaries: RwLock<HashMap<i64, Unpacker>>,
    /// Where a process without the writer (`lookout check`) reads a
    /// dictionary stored after it opened the database.
    fallback: Option<parking_lot::Mutex<Connection>>,
}

impl std::fmt::Debug for SpanCodecs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanCodecs")
            .field("dictionaries", &self.dictionaries.read().len())
            .finish()
    }
}

thread_local! {
    /// One decompression context per thread, reused for every blob.
    static DCTX: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
    /// A block's frame rebuilt around it, reused for every blob.
    static FRAME: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The content size field zstd writes for `len` bytes: its code in the
/// frame descriptor, its value and its width.
fn content_size_field(len: u64) -> (u8, u64, usize) {
    if len < 256 {
        (0, len, 1)
    } else if len < 65_536 + 256 {
        (1, len - 256, 2)
    } else if len < u64::from(u32::MAX) {
        (2, len, 4)
    } else {
        (3, len, 8)
    }
}

/// Bytes of [`frame_header`] for `len` bytes of content.
fn frame_header_len(len: u64) -> usize {
    4 + content_size_field(len).2
}

/// The frame and block headers zstd writes, with the packer's parameters,
/// before the one compressed block of `block` bytes that `len` bytes
/// packed into (RFC 8878 3.1.1): a single-segment frame descriptor without
/// checksum or dictionary id, the content size in the fewest bytes zstd
/// uses for it, and a last, compressed block header.
fn frame_header(len: u64, block: u64) -> ([u8; 12], usize) {
    let (code, size, size_bytes) = content_size_field(len);
    let mut header = [0u8; 12];
    header[0] = (code << 6) | 0x20;
    header[1..1 + size_bytes].copy_from_slice(&size.to_le_bytes()[..size_bytes]);
    let block_header = (block << 3) | (2 << 1) | 1;
    header[1 + size_bytes..4 + size_bytes].copy_from_slice(&block_header.to_le_bytes()[..3]);
    (header, frame_header_len(len))
}

impl SpanCodecs {
    /// Every dictionary stored in the database (none in one from before
    /// dictionaries, which `lookout check` may open without migrating).
    pub fn load(conn: &Connection) -> Result<SpanCodecs, StoreError> {
        let codecs = SpanCodecs::default();
        let exists: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'span_dictionaries'",
            [],
            |row| row.get(0),
        )?;
        if exists == 0 {
            return Ok(codecs);
        }
        let mut stmt = conn.prepare(&format!(
            "SELECT id, dictionary, {} FROM span_dictionaries",
            layout_column(conn)?
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let bytes: Vec<u8> = row.get(1)?;
            codecs.insert(id, &bytes, Layout::from_column(row.get(2)?)?)?;
        }
        Ok(codecs)
    }

    /// [`SpanCodecs::load`], reading dictionaries stored later from
    /// `fallback` when a span needs one.
    pub fn load_following(
        conn: &Connection,
        fallback: Connection,
    ) -> Result<SpanCodecs, StoreError> {
        let mut codecs = SpanCodecs::load(conn)?;
        codecs.fallback = Some(parking_lot::Mutex::new(fallback));
        Ok(codecs)
    }

    /// Dictionary `id`, from the fallback connection if it is not loaded.
    fn dictionary(&self, id: i64) -> Result<Unpacker, StoreError> {
        if let Some(unpacker) = self.dictionaries.read().get(&id) {
            return Ok(unpacker.clone());
        }
        let missing = || StoreError::Corrupt(format!("span dictionary {id} is not stored"));
        let Some(fallback) = &self.fallback else {
            return Err(missing());
        };
        let stored: Option<(Vec<u8>, i64)> = {
            use rusqlite::OptionalExtension;
            let conn = fallback.lock();
            conn.query_row(
                &format!(
                    "SELECT dictionary, {} FROM span_dictionaries WHERE id = ?1",
                    layout_column(&conn)?
                ),
                params![id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
        };
        let (bytes, layout) = stored.ok_or_else(missing)?;
        self.insert(id, &bytes, Layout::from_column(layout)?)
    }

    /// Makes dictionary `id` known to readers.
    fn insert(&self, id: i64, bytes: &[u8], layout: Layout) -> Result<Unpacker, StoreError> {
        let ddict = DDict::try_create(bytes)
            .ok_or_else(|| StoreError::Corrupt(format!("span dictionary {id} does not load")))?;
        let unpacker = Unpacker {
            ddict: Arc::new(ddict),
            layout,
        };
        self.dictionaries.write().insert(id, unpacker.clone());
        Ok(unpacker)
    }

    /// Makes a dictionary just stored by the writer, in the layout its
    /// [`Packer`] packs, known to readers.
    pub fn insert_packed(&self, id: i64, bytes: &[u8]) -> Result<(), StoreError> {
        self.insert(id, bytes, Layout::Block).map(drop)
    }

    /// Dictionaries known.
    pub fn len(&self) -> usize {
        self.dictionaries.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoded bytes of a span blob stored with `dictionary_id`.
    pub fn unpack<'a>(
        &self,
        dictionary_id: Option<i64>,
        blob: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, StoreError> {
        let Some(id) = dictionary_id else {
            return Ok(Cow::Borrowed(blob));
        };
        let unpacker = self.dictionary(id)?;
        let mut reader = Reader::new(blob);
        let len = reader.varint()? as usize;
        let rest = reader.rest();
        // A length no encoded span blob reaches is corruption, not a reason
        // to allocate it.
        if len > MAX_UNPACKED_BYTES {
            return Err(corrupt(id, "its length is out of range"));
        }
        match unpacker.layout {
            Layout::Frame => decompress(id, &unpacker.ddict, rest, len).map(Cow::Owned),
            Layout::Block if rest.len() == len => Ok(Cow::Borrowed(rest)),
            Layout::Block if rest.len() > len || rest.len() > MAX_BLOCK_BYTES => {
                Err(corrupt(id, "its block is longer than its content"))
            }
            Layout::Block => FRAME.with(|frame| {
                let mut frame = frame.borrow_mut();
                let (header, header_len) = frame_header(len as u64, rest.len() as u64);
                frame.clear();
                frame.extend_from_slice(&header[..header_len]);
                frame.extend_from_slice(rest);
                decompress(id, &unpacker.ddict, &frame, len).map(Cow::Owned)
            }),
        }
    }
}

/// `frame` decompressed with `ddict`; it must come to `len` bytes.
fn decompress(id: i64, ddict: &DDict<'_>, frame: &[u8], len: usize) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(len);
    DCTX.with(|cell| {
        let mut cell = cell.borrow_mut();
        let dctx = match cell.as_mut() {
            Some(dctx) => dctx,
            None => cell.insert(new_dctx()?),
        };
        let written = dctx
            .decompress_using_ddict(&mut out, frame, ddict)
            .map_err(|_| corrupt(id, "it does not decompress"))?;
        if written != len {
            return Err(corrupt(id, "it decompresses to another length"));
        }
        Ok(out)
    })
}

/// Whether `table` has `column`: `lookout check` opens databases of older
/// builds without migrating them.
fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, StoreError> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        params![table, column],
        |row| row.get(0),
    )?;
    Ok(count > 0)
}

/// The `layout` column of `span_dictionaries`, or 0 ([`Layout::Frame`])
/// in a database from before it.
fn layout_column(conn: &Connection) -> Result<&'static str, StoreError> {
    Ok(if has_column(conn, "span_dictionaries", "layout")? {
        "layout"
    } else {
        "0"
    })
}

fn corrupt(id: i64, why: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a span blob packed with dictionary {id} is damaged: {why}"
    ))
}

fn new_dctx() -> Result<DCtx<'static>, StoreError> {
    let mut dctx = DCtx::try_create()
        .ok_or_else(|| StoreError::Corrupt("zstd cannot allocate a context".into()))?;
    dctx.set_parameter(DParameter::Format(FrameFormat::Magicless))
        .map_err(|code| zstd_error("setting the frame format", code))?;
    Ok(dctx)
}

fn zstd_error(what: &str, code: zstd_safe::ErrorCode) -> StoreError {
    StoreError::Corrupt(format!(
        "zstd failed {what}: {}",
        zstd_safe::get_error_name(code)
    ))
}

/// Packs span blobs with one dictionary; owned by the writer.
/// Packs in [`Layout::Block`], the layout of every dictionary it stores.
pub struct Packer {
    id: i64,
    cctx: CCtx<'static>,
    frame: Vec<u8>,
}

impl Packer {
    pub fn new(id: i64, dictionary: &[u8]) -> Result<Packer, StoreError> {
        let mut cctx = CCtx::try_create()
            .ok_or_else(|| StoreError::Corrupt("zstd cannot allocate a context".into()))?;
        for parameter in [
            CParameter::CompressionLevel(LEVEL),
            CParameter::Format(FrameFormat::Magicless),
            // With the content size, a small frame is one segment without
            // a window descriptor: its header follows from the length.
            CParameter::ContentSizeFlag(true),
            CParameter::ChecksumFlag(false),
            CParameter::DictIdFlag(false),
        ] {
            cctx.set_parameter(parameter)
                .map_err(|code| zstd_error("setting a parameter", code))?;
        }
        // Digested once, at the first blob, and kept for all that follow.
        cctx.load_dictionary(dictionary)
            .map_err(|code| zstd_error("loading a dictionary", code))?;
        Ok(Packer {
            id,
            cctx,
            frame: Vec::new(),
        })
    }

    /// The dictionary this packer packs with.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Packs `encoded` into `out` (replacing what it held). What zstd does
    /// not shrink to one compressed block (a tiny or random blob, one past
    /// 128 KiB, a zstd failure) is stored as encoded behind its length, so
    /// the packed blob may be a byte or two larger than `encoded`: the
    /// caller keeps whichever is smaller.
    pub fn pack(&mut self, encoded: &[u8], out: &mut Vec<u8>) {
        out.clear();
        put_varint(out, encoded.len() as u64);
        self.frame.clear();
        self.frame.reserve(zstd_safe::compress_bound(encoded.len()));
        if self.cctx.compress2(&mut self.frame, encoded).is_ok() {
            let len = encoded.len() as u64;
            let header_len = frame_header_len(len);
            if let Some(block) = self.frame.len().checked_sub(header_len) {
                let (header, _) = frame_header(len, block as u64);
                // Anything else (a raw or RLE block, several blocks) is a
                // frame the header cannot be rebuilt for.
                if block < encoded.len() && self.frame.starts_with(&header[..header_len]) {
                    out.extend_from_slice(&self.frame[header_len..]);
                    return;
                }
            }
        }
        out.extend_from_slice(encoded);
    }
}

/// What a trained dictionary came to on the spans it was trained from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trained {
    pub dictionary: Vec<u8>,
    /// Samples trained on and measured with.
    pub samples: u64,
    /// Encoded bytes of the measured samples, and the same packed.
    pub sample_bytes: u64,
    pub packed_bytes: u64,
}

/// Whether a sample is trained on (else measured with): by a hash of its
/// bytes, so the halves do not depend on the order samples come in (a
/// span's attributes and events follow each other) and equal samples fall
/// on the same side.
fn trains(sample: &[u8]) -> bool {
    xxhash_rust::xxh3::xxh3_64(sample).is_multiple_of(2)
}

/// The samples a dictionary trained from `samples` was not trained on.
pub fn held_out(samples: &[Vec<u8>]) -> Vec<&[u8]> {
    samples
        .iter()
        .map(Vec::as_slice)
        .filter(|sample| !trains(sample))
        .collect()
}

/// Trains a dictionary on half of `samples` and measures it on the other
/// half; `None` when zstd finds nothing to learn (too few or too small
/// samples).
pub fn train(samples: &[Vec<u8>]) -> Result<Option<Trained>, StoreError> {
    let training: Vec<&[u8]> = samples
        .iter()
        .map(Vec::as_slice)
        .filter(|sample| trains(sample))
        .collect();
    let held_out = held_out(samples);
    if training.is_empty() || held_out.is_empty() {
        return Ok(None);
    }
    let Ok(dictionary) = zstd::dict::from_samples(&training, MAX_DICTIONARY_BYTES) else {
        return Ok(None);
    };
    let (sample_bytes, packed_bytes) = measure(&dictionary, &held_out)?;
    Ok(Some(Trained {
        dictionary,
        samples: samples.len() as u64,
        sample_bytes,
        packed_bytes,
    }))
}

/// The encoded and the stored bytes of `samples` packed with `dictionary`
/// (a sample that does not shrink counts as stored unpacked).
pub fn measure(dictionary: &[u8], samples: &[&[u8]]) -> Result<(u64, u64), StoreError> {
    let mut packer = Packer::new(0, dictionary)?;
    let mut out = Vec::new();
    let (mut encoded, mut stored) = (0u64, 0u64);
    for sample in samples {
        encoded += sample.len() as u64;
        packer.pack(sample, &mut out);
        stored += out.len().min(sample.len()) as u64;
    }
    Ok((encoded, stored))
}

/// Stores a trained dictionary; answers its id. Run by the writer.
pub fn store(conn: &Connection, trained: &Trained, now: i64) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO span_dictionaries (created_unix_nano, samples, sample_bytes, packed_bytes, dictionary, layout)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        now,
        trained.samples as i64,
        trained.sample_bytes as i64,
        trained.packed_bytes as i64,
        &trained.dictionary,
        Layout::Block.column(),
    ])?;
    Ok(conn.last_insert_rowid())
}

/// The newest dictionary, which new spans are packed with (the migration
/// to [`Layout::Block`] stored the newest again in that layout).
pub fn newest(conn: &Connection) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT id, dictionary FROM span_dictionaries WHERE layout = 1 ORDER BY id DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

/// The encoded attributes and events of the newest `limit` spans, unpacked:
/// what a dictionary is trained on.
pub fn newest_samples(
    conn: &Connection,
    codecs: &SpanCodecs,
    limit: usize,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT dictionary_id, attributes, events FROM spans
         ORDER BY trace_rowid DESC LIMIT ?1",
    )?;
    let mut rows = stmt.query(params![limit as i64])?;
    let mut samples = Vec::new();
    while let Some(row) = rows.next()? {
        let dictionary_id: Option<i64> = row.get(0)?;
        for (column, name) in [(1, "attributes"), (2, "events")] {
            let value = row.get_ref(column)?;
            let blob = value
                .as_blob_or_null()
                .map_err(|_| StoreError::Corrupt(format!("spans.{name} is not a blob")))?;
            if let Some(blob) = blob {
                samples.push(codecs.unpack(dictionary_id, blob)?.into_owned());
            }
        }
    }
    Ok(samples)
}

/// What [`verify`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    pub spans: u64,
    /// Spans whose blobs are packed.
    pub packed: u64,
    /// The first problems found, each naming its span.
    pub problems: Vec<String>,
    /// All spans whose blobs do not unpack or decode.
    pub damaged: u64,
}

/// Problems named one by one; the rest are counted.
const NAMED_PROBLEMS: usize = 20;

/// `lookout check`: every span's attributes and events unpack with the
/// dictionary it names and decode, in one snapshot.
pub fn verify(conn: &Connection) -> Result<Verified, StoreError> {
    super::read::in_snapshot(conn, |conn| {
        let codecs = SpanCodecs::load(conn)?;
        let mut verified = Verified::default();
        // Span starts are offsets from their trace's base since schema 17.
        let start = if has_column(conn, "spans", "start_offset_nano")? {
            "s.start_offset_nano + COALESCE(t.span_base_unix_nano, 0)"
        } else {
            "s.start_unix_nano"
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT s.trace_rowid, s.span_id, {start}, s.dictionary_id, s.attributes, s.events
             FROM spans s JOIN traces t ON t.id = s.trace_rowid"
        ))?;
        let mut rows = stmt.query([])?;
        let no_names = |_: i64| Some(String::new());
        while let Some(row) = rows.next()? {
            verified.spans += 1;
            let dictionary_id: Option<i64> = row.get(3)?;
            verified.packed += u64::from(dictionary_id.is_some());
            let start = crate::model::UnixNanos(row.get(2)?);
            let mut problem = None;
            for (column, what) in [(4, "attributes"), (5, "events")] {
                let blob = match row.get_ref(column)?.as_blob_or_null() {
                    Ok(Some(blob)) => blob,
                    Ok(None) => continue,
                    Err(_) => {
                        problem.get_or_insert(format!("its {what} are not a blob"));
                        continue;
                    }
                };
                let decoded = codecs.unpack(dictionary_id, blob).and_then(|encoded| {
                    let mut reader = Reader::new(&encoded);
                    match column {
                        4 => reader.attributes(&no_names).map(drop),
                        _ => reader.events(start, &no_names).map(drop),
                    }
                    .map_err(StoreError::from)
                });
                if let Err(error) = decoded {
                    problem.get_or_insert(format!("its {what} do not read ({error})"));
                }
            }
            if let Some(problem) = problem {
                verified.damaged += 1;
                if verified.problems.len() < NAMED_PROBLEMS {
                    let trace_rowid: i64 = row.get(0)?;
                    let span_id: Vec<u8> = row.get(1)?;
                    verified.problems.push(format!(
                        "span {} of trace rowid {trace_rowid}: {problem}",
                        hex::encode(span_id)
                    ));
                }
            }
        }
        if verified.damaged > verified.problems.len() as u64 {
            verified.problems.push(format!(
                "{} more spans whose attributes or events do not read",
                verified.damaged - verified.problems.len() as u64
            ));
        }
        Ok(verified)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blobs alike in the way span attributes are: the same keys and most
    /// values repeated, an id and a number that vary.
    fn samples(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                format!(
                    "\x01\x01\x03GET\x02\x01\x2ehttps://shop.example/api/orders/{}?expand=items\
                     \x03\x04\x50\x03\x04\x01\x10shop.orders.repo\x05\x01\x0bworker-{}",
                    i * 7919 % 1_000_003,
                    i % 16
                )
                .into_bytes()
            })
            .collect()
    }

    /// Samples, a dictionary trained on them, readers that know it as
    /// `id`, and a packer with it.
    fn packing_with(id: i64) -> (Vec<Vec<u8>>, Trained, SpanCodecs, Packer) {
        let samples = samples(2000);
        let trained = train(&samples).expect("train").expect("a dictionary");
        let codecs = SpanCodecs::default();
        codecs
            .insert_packed(id, &trained.dictionary)
            .expect("insert");
        let packer = Packer::new(id, &trained.dictionary).expect("packer");
        (samples, trained, codecs, packer)
    }

    /// `encoded` packed as dictionaries before [`Layout::Block`] did: the
    /// whole magicless frame, without content size, behind the length.
    fn pack_as_frame(dictionary: &[u8], encoded: &[u8]) -> Vec<u8> {
        let mut cctx = CCtx::create();
        for parameter in [
            CParameter::CompressionLevel(LEVEL),
            CParameter::Format(FrameFormat::Magicless),
            CParameter::ContentSizeFlag(false),
            CParameter::ChecksumFlag(false),
            CParameter::DictIdFlag(false),
        ] {
            cctx.set_parameter(parameter).expect("parameter");
        }
        cctx.load_dictionary(dictionary).expect("dictionary");
        let mut frame = Vec::with_capacity(zstd_safe::compress_bound(encoded.len()));
        cctx.compress2(&mut frame, encoded).expect("compress");
        let mut out = Vec::new();
        put_varint(&mut out, encoded.len() as u64);
        out.extend_from_slice(&frame);
        out
    }

    #[test]
    fn packed_blobs_unpack_to_what_was_packed_and_are_smaller() {
        let (samples, trained, codecs, mut packer) = packing_with(7);
        assert!(
            trained.packed_bytes * 3 < trained.sample_bytes,
            "{} of {}",
            trained.packed_bytes,
            trained.sample_bytes
        );
        let mut out = Vec::new();
        for sample in samples.iter().step_by(97) {
            packer.pack(sample, &mut out);
            assert!(
                out.len() < sample.len() / 2,
                "{} of {}",
                out.len(),
                sample.len()
            );
            assert_eq!(codecs.unpack(Some(7), &out).expect("unpack"), &sample[..]);
        }
        // Unpacked blobs pass through.
        assert_eq!(codecs.unpack(None, b"as is").expect("as is"), &b"as is"[..]);
    }

    #[test]
    fn blocks_are_five_bytes_shorter_than_frames_and_frames_still_unpack() {
        let (samples, trained, codecs, mut packer) = packing_with(2);
        codecs
            .insert(1, &trained.dictionary, Layout::Frame)
            .expect("frames");
        let mut block = Vec::new();
        for sample in samples.iter().step_by(101) {
            let frame = pack_as_frame(&trained.dictionary, sample);
            packer.pack(sample, &mut block);
            assert_eq!(
                frame.len() - block.len(),
                5,
                "{} against {}",
                block.len(),
                frame.len()
            );
            assert_eq!(codecs.unpack(Some(1), &frame).expect("frame"), &sample[..]);
            assert_eq!(codecs.unpack(Some(2), &block).expect("block"), &sample[..]);
        }
    }

    #[test]
    fn block_headers_are_rebuilt_for_every_content_size_field() {
        let (samples, _, codecs, mut packer) = packing_with(1);
        let mut out = Vec::new();
        // The content size takes 1, 2 and 4 bytes on either side of 256
        // and 65,792.
        for len in [60, 255, 256, 257, 65_791, 65_792, 100_000] {
            let encoded: Vec<u8> = samples
                .iter()
                .flatten()
                .copied()
                .cycle()
                .take(len)
                .collect();
            packer.pack(&encoded, &mut out);
            assert!(out.len() < len / 2, "{len}: {} bytes", out.len());
            assert_eq!(
                codecs.unpack(Some(1), &out).expect("unpack"),
                &encoded[..],
                "{len}"
            );
        }
    }

    #[test]
    fn tiny_and_random_blobs_are_kept_as_encoded_behind_their_length() {
        let (_, trained, codecs, mut packer) = packing_with(1);
        let mut out = Vec::new();
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for blob in [&b"\x01"[..], &noise] {
            packer.pack(blob, &mut out);
            assert_eq!(&out[1..], blob, "one length byte, then the blob");
            assert_eq!(codecs.unpack(Some(1), &out).expect("unpack"), blob);
        }
        let (encoded, stored) = measure(&trained.dictionary, &[&noise]).expect("measure");
        assert_eq!(encoded, stored, "what does not shrink counts unpacked");
    }

    #[test]
    fn damaged_blobs_and_unknown_dictionaries_are_errors_not_panics() {
        let (samples, _, codecs, mut packer) = packing_with(1);
        let mut packed = Vec::new();
        packer.pack(&samples[0], &mut packed);

        let unknown = codecs
            .unpack(Some(2), &packed)
            .expect_err("unknown dictionary");
        assert!(
            unknown.to_string().contains("dictionary 2 is not stored"),
            "{unknown}"
        );
        let mut wrong_length = packed.clone();
        wrong_length[0] ^= 1;
        assert!(codecs.unpack(Some(1), &wrong_length).is_err());
        for cut in [0, 1, packed.len() / 2, packed.len() - 1] {
            assert!(
                codecs.unpack(Some(1), &packed[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = packed.clone();
        longer.extend_from_slice(&[0; 200]);
        assert!(codecs.unpack(Some(1), &longer).is_err());
        let mut flipped = packed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x55;
        // Either an error or other bytes; never a panic.
        let _ = codecs.unpack(Some(1), &flipped);
    }

    #[test]
    fn the_upgrade_stores_the_newest_dictionary_again_in_blocks() {
        let trained = train(&samples(2000)).expect("train").expect("a dictionary");
        let mut conn = super::super::migrate::database_at(15);
        for created in [1, 2] {
            conn.execute(
                "INSERT INTO span_dictionaries (created_unix_nano, samples, sample_bytes, packed_bytes, dictionary)
                 VALUES (?1, 1, 1, 1, ?2)",
                params![created, &trained.dictionary],
            )
            .expect("dictionary");
        }
        let frame = pack_as_frame(&trained.dictionary, &samples(1)[0]);
        super::super::migrate::migrate(&mut conn).expect("upgrade");

        let (id, dictionary) = newest(&conn).expect("newest").expect("one");
        assert_eq!((id, &dictionary), (3, &trained.dictionary));
        let codecs = SpanCodecs::load(&conn).expect("load");
        assert_eq!(codecs.len(), 3);
        // Spans packed before the upgrade still name dictionary 2.
        assert_eq!(
            codecs.unpack(Some(2), &frame).expect("frame"),
            &samples(1)[0][..]
        );
        let mut packer = Packer::new(id, &dictionary).expect("packer");
        let mut block = Vec::new();
        packer.pack(&samples(1)[0], &mut block);
        assert!(block.len() < frame.len());
        assert_eq!(
            codecs.unpack(Some(3), &block).expect("block"),
            &samples(1)[0][..]
        );
    }

    #[test]
    fn too_few_samples_train_nothing() {
        assert_eq!(train(&samples(3)).expect("train"), None);
    }
}
