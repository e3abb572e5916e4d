//! The compact binary encoding of span attributes, events and links.
//!
//! JSON with repeated key names costs most of a span row; here keys are
//! dictionary ids (table `attribute_keys`) and values are tagged varints or
//! length-prefixed bytes. Nested key/value lists keep their keys inline
//! (they are rare). The format is private to the store: it is written by
//! `write.rs` and read back by `read.rs` and the `lookout_attr_match` SQL
//! function.

use crate::model::{AttrValue, Attributes, SpanEvent, SpanId, SpanLink, TraceId, UnixNanos};

const TAG_EMPTY: u8 = 0;
const TAG_STRING: u8 = 1;
const TAG_FALSE: u8 = 2;
const TAG_TRUE: u8 = 3;
const TAG_INT: u8 = 4;
const TAG_DOUBLE: u8 = 5;
const TAG_BYTES: u8 = 6;
const TAG_ARRAY: u8 = 7;
const TAG_KVLIST: u8 = 8;

/// Deepest nesting of arrays/kvlists accepted when decoding, so a corrupt
/// blob cannot recurse without bound.
const MAX_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("corrupt encoded attributes: {0}")]
pub struct CodecError(pub(crate) &'static str);

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn put_zigzag(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

pub(crate) fn put_str(out: &mut Vec<u8>, text: &[u8]) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text);
}

pub(crate) fn put_value(out: &mut Vec<u8>, value: &AttrValue) {
    match value {
        AttrValue::Empty => out.push(TAG_EMPTY),
        AttrValue::String(s) => {
            out.push(TAG_STRING);
            put_str(out, s.as_bytes());
        }
        AttrValue::Bool(false) => out.push(TAG_FALSE),
        AttrValue::Bool(true) => out.push(TAG_TRUE),
        AttrValue::Int(i) => {
            out.push(TAG_INT);
            put_zigzag(out, *i);
        }
        AttrValue::Double(d) => {
            out.push(TAG_DOUBLE);
            out.extend_from_slice(&d.to_le_bytes());
        }
        AttrValue::Bytes(b) => {
            out.push(TAG_BYTES);
            put_str(out, b);
        }
        AttrValue::Array(items) => {
            out.push(TAG_ARRAY);
            put_varint(out, items.len() as u64);
            for item in items {
                put_value(out, item);
            }
        }
        AttrValue::KvList(kvs) => {
            out.push(TAG_KVLIST);
            put_varint(out, kvs.len() as u64);
            for (key, item) in kvs {
                put_str(out, key.as_bytes());
                put_value(out, item);
            }
        }
    }
}

/// Appends `attributes` to `out`, mapping each key to its dictionary id.
pub fn encode_attributes(
    out: &mut Vec<u8>,
    attributes: &Attributes,
    key_id: &mut impl FnMut(&str) -> i64,
) {
    put_varint(out, attributes.len() as u64);
    for (key, value) in attributes {
        put_varint(out, key_id(key) as u64);
        put_value(out, value);
    }
}

/// Events store their time relative to the span start (a small varint).
pub fn encode_events(
    out: &mut Vec<u8>,
    events: &[SpanEvent],
    span_start: UnixNanos,
    key_id: &mut impl FnMut(&str) -> i64,
) {
    put_varint(out, events.len() as u64);
    for event in events {
        put_str(out, event.name.as_bytes());
        put_zigzag(out, event.time.0.wrapping_sub(span_start.0));
        encode_attributes(out, &event.attributes, key_id);
    }
}

pub fn encode_links(out: &mut Vec<u8>, links: &[SpanLink], key_id: &mut impl FnMut(&str) -> i64) {
    put_varint(out, links.len() as u64);
    for link in links {
        out.extend_from_slice(&link.trace_id.0);
        out.extend_from_slice(&link.span_id.0);
        put_str(out, link.trace_state.as_bytes());
        encode_attributes(out, &link.attributes, key_id);
    }
}

/// A value read by [`Reader::for_each_attribute`]: strings borrowed from
/// the blob, anything else decoded.
pub enum ValueRef<'a> {
    Str(&'a str),
    Owned(AttrValue),
}

/// A cursor over an encoded blob.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// True once every byte has been read.
    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn byte(&mut self) -> Result<u8, CodecError> {
        let (first, rest) = self
            .bytes
            .split_first()
            .ok_or(CodecError("unexpected end"))?;
        self.bytes = rest;
        Ok(*first)
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        if len > self.bytes.len() {
            return Err(CodecError("length past end"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError("varint too long"))
    }

    pub(crate) fn zigzag(&mut self) -> Result<i64, CodecError> {
        let raw = self.varint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    fn count(&mut self) -> Result<usize, CodecError> {
        let count = usize::try_from(self.varint()?).map_err(|_| CodecError("count too big"))?;
        // Every element takes at least one byte, so a count past the
        // remaining length is corruption, not a reason to allocate.
        if count > self.bytes.len() {
            return Err(CodecError("count past end"));
        }
        Ok(count)
    }

    pub(crate) fn string(&mut self) -> Result<String, CodecError> {
        let len = self.count()?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CodecError("invalid utf-8"))
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<AttrValue, CodecError> {
        if depth > MAX_DEPTH {
            return Err(CodecError("nested too deep"));
        }
        Ok(match self.byte()? {
            TAG_EMPTY => AttrValue::Empty,
            TAG_STRING => AttrValue::String(self.string()?),
            TAG_FALSE => AttrValue::Bool(false),
            TAG_TRUE => AttrValue::Bool(true),
            TAG_INT => AttrValue::Int(self.zigzag()?),
            TAG_DOUBLE => {
                let raw: [u8; 8] = self
                    .take(8)?
                    .try_into()
                    .map_err(|_| CodecError("short double"))?;
                AttrValue::Double(f64::from_le_bytes(raw))
            }
            TAG_BYTES => {
                let len = self.count()?;
                AttrValue::Bytes(self.take(len)?.to_vec())
            }
            TAG_ARRAY => {
                let count = self.count()?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                AttrValue::Array(items)
            }
            TAG_KVLIST => {
                let count = self.count()?;
                let mut kvs = Vec::with_capacity(count);
                for _ in 0..count {
                    let key = self.string()?;
                    kvs.push((key, self.value(depth + 1)?));
                }
                AttrValue::KvList(kvs)
            }
            _ => return Err(CodecError("unknown value tag")),
        })
    }

    /// Decodes attributes, resolving key ids with `key_name`.
    pub fn attributes(
        &mut self,
        key_name: &impl Fn(i64) -> Option<String>,
    ) -> Result<Attributes, CodecError> {
        let count = self.count()?;
        let mut attributes = Vec::with_capacity(count);
        for _ in 0..count {
            let key_id = self.varint()? as i64;
            let key = key_name(key_id).ok_or(CodecError("unknown attribute key id"))?;
            attributes.push((key, self.value(0)?));
        }
        Ok(attributes)
    }

    /// Calls `each` with every attribute's key id and value, without
    /// resolving key names; string values borrow from the blob.
    pub fn for_each_attribute(
        &mut self,
        mut each: impl FnMut(i64, ValueRef<'a>),
    ) -> Result<(), CodecError> {
        let count = self.count()?;
        for _ in 0..count {
            let key_id = self.varint()? as i64;
            if self.bytes.first() == Some(&TAG_STRING) {
                self.byte()?;
                let len = self.count()?;
                let text = std::str::from_utf8(self.take(len)?)
                    .map_err(|_| CodecError("invalid utf-8"))?;
                each(key_id, ValueRef::Str(text));
            } else {
                each(key_id, ValueRef::Owned(self.value(0)?));
            }
        }
        Ok(())
    }

    /// Finds the value for one key id without decoding the others' keys.
    pub fn find_attribute(&mut self, wanted_key: i64) -> Result<Option<AttrValue>, CodecError> {
        let count = self.count()?;
        for _ in 0..count {
            let key_id = self.varint()? as i64;
            let value = self.value(0)?;
            if key_id == wanted_key {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    pub fn events(
        &mut self,
        span_start: UnixNanos,
        key_name: &impl Fn(i64) -> Option<String>,
    ) -> Result<Vec<SpanEvent>, CodecError> {
        let count = self.count()?;
        let mut events = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.string()?;
            let offset = self.zigzag()?;
            let attributes = self.attributes(key_name)?;
            events.push(SpanEvent {
                name,
                time: UnixNanos(span_start.0.wrapping_add(offset)),
                attributes,
            });
        }
        Ok(events)
    }

    pub fn links(
        &mut self,
        key_name: &impl Fn(i64) -> Option<String>,
    ) -> Result<Vec<SpanLink>, CodecError> {
        let count = self.count()?;
        let mut links = Vec::with_capacity(count);
        for _ in 0..count {
            let trace_id = TraceId::from_bytes(self.take(16)?)
                .map_err(|_| CodecError("invalid link trace id"))?;
            let span_id = SpanId::from_bytes(self.take(8)?)
                .map_err(|_| CodecError("invalid link span id"))?;
            let trace_state = self.string()?;
            let attributes = self.attributes(key_name)?;
            links.push(SpanLink {
                trace_id,
                span_id,
                trace_state,
                attributes,
            });
        }
        Ok(links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    struct Dictionary {
        ids: HashMap<String, i64>,
        names: Vec<String>,
    }

    impl Dictionary {
        fn new() -> Self {
            Dictionary {
                ids: HashMap::new(),
                names: Vec::new(),
            }
        }
        fn id(&mut self, key: &str) -> i64 {
            if let Some(id) = self.ids.get(key) {
                return *id;
            }
            self.names.push(key.to_string());
            let id = self.names.len() as i64;
            self.ids.insert(key.to_string(), id);
            id
        }
    }

    fn value_strategy() -> impl Strategy<Value = AttrValue> {
        let leaf = prop_oneof![
            Just(AttrValue::Empty),
            ".{0,20}".prop_map(AttrValue::String),
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(AttrValue::Int),
            any::<f64>()
                .prop_filter("NaN never equals itself", |d| !d.is_nan())
                .prop_map(AttrValue::Double),
            proptest::collection::vec(any::<u8>(), 0..10).prop_map(AttrValue::Bytes),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AttrValue::Array),
                proptest::collection::vec(("[a-z.]{1,8}", inner), 0..4).prop_map(AttrValue::KvList),
            ]
        })
    }

    proptest! {
        #[test]
        fn attributes_round_trip(attrs in proptest::collection::vec(("[a-z._]{1,12}", value_strategy()), 0..10)) {
            let mut dictionary = Dictionary::new();
            let mut out = Vec::new();
            encode_attributes(&mut out, &attrs, &mut |k| dictionary.id(k));
            let names = dictionary.names.clone();
            let decoded = Reader::new(&out)
                .attributes(&|id| names.get((id - 1) as usize).cloned())
                .expect("decodes");
            prop_assert_eq!(decoded, attrs);
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Reader::new(&bytes).attributes(&|id| Some(id.to_string()));
            let _ = Reader::new(&bytes).events(UnixNanos(0), &|id| Some(id.to_string()));
            let _ = Reader::new(&bytes).links(&|id| Some(id.to_string()));
        }
    }

    #[test]
    fn events_and_links_round_trip() {
        let mut dictionary = Dictionary::new();
        let events = vec![SpanEvent {
            name: "exception".into(),
            time: UnixNanos(1_500),
            attributes: vec![("exception.type".into(), AttrValue::String("Boom".into()))],
        }];
        let links = vec![SpanLink {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([9; 8]),
            trace_state: "a=b".into(),
            attributes: vec![("weight".into(), AttrValue::Int(2))],
        }];
        let mut out = Vec::new();
        encode_events(&mut out, &events, UnixNanos(1_000), &mut |k| {
            dictionary.id(k)
        });
        let names = dictionary.names.clone();
        let lookup = |id: i64| names.get((id - 1) as usize).cloned();
        assert_eq!(
            Reader::new(&out).events(UnixNanos(1_000), &lookup),
            Ok(events)
        );
        let mut out = Vec::new();
        encode_links(&mut out, &links, &mut |k| dictionary.id(k));
        let names = dictionary.names.clone();
        let lookup = |id: i64| names.get((id - 1) as usize).cloned();
        assert_eq!(Reader::new(&out).links(&lookup), Ok(links));
    }

    #[test]
    fn find_attribute_skips_other_keys() {
        let attrs = vec![
            ("a".to_string(), AttrValue::Array(vec![AttrValue::Int(1)])),
            ("b".to_string(), AttrValue::String("x".into())),
        ];
        let mut out = Vec::new();
        encode_attributes(&mut out, &attrs, &mut |k| if k == "a" { 1 } else { 2 });
        assert_eq!(
            Reader::new(&out).find_attribute(2),
            Ok(Some(AttrValue::String("x".into())))
        );
        assert_eq!(Reader::new(&out).find_attribute(3), Ok(None));
    }
}
