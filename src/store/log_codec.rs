//! The log record codec: how a record is stored as bytes, both in the
//! SQLite `log_journal` and as the stored field of the tantivy day indexes.
//! Records are encoded by the ingest handlers (off the writer thread) and
//! decoded by the log indexer and by searches; the format keeps attribute
//! types exactly (keys inline).
//!
//! Three versions, told apart by the first byte:
//! - 1: self-contained, both timestamps in full (what earlier builds
//!   wrote; still read);
//! - 2: self-contained, the observed time as its difference from the
//!   event time (what the journal holds now): the two are usually
//!   milliseconds apart, so the second costs 1–4 bytes instead of 9;
//! - 3: version 2 without the event time (what a day index stores): the
//!   index keeps the event time as a fast column, which every hit has read
//!   for its cursor, so storing it again would cost about 8 incompressible
//!   bytes per record. Made from a version 2 encoding by dropping those
//!   bytes ([`stored_form`]); read with the time supplied
//!   ([`decode_stored`]).

use super::sqlite::codec::{put_str, put_value, put_varint, put_zigzag, CodecError, Reader};
use crate::model::{AttrValue, LogBody, LogRecord, Scope, SpanId, TraceId, UnixNanos};

/// Both timestamps in full.
const VERSION_FULL_TIMES: u8 = 1;
/// The observed time as a difference (what [`encode_record`] writes).
const VERSION_OBSERVED_DELTA: u8 = 2;
/// Version 2 without the event time (what [`stored_form`] makes).
const VERSION_WITHOUT_TIME: u8 = 3;
const BODY_TEXT: u8 = 0;
const BODY_JSON: u8 = 1;

/// A record encoded for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedLog(pub Vec<u8>);

pub fn encode_record(record: &LogRecord) -> EncodedLog {
    let mut out = Vec::with_capacity(256);
    out.push(VERSION_OBSERVED_DELTA);
    put_zigzag(&mut out, record.timestamp.0);
    // Wrapping both ways, so any pair of times round-trips.
    put_zigzag(
        &mut out,
        record.observed_timestamp.0.wrapping_sub(record.timestamp.0),
    );
    put_zigzag(&mut out, i64::from(record.severity_number));
    put_str(&mut out, record.severity_text.as_bytes());
    put_str(&mut out, record.service.as_bytes());
    match &record.body {
        LogBody::Text(text) => {
            out.push(BODY_TEXT);
            put_str(&mut out, text.as_bytes());
        }
        LogBody::Json(value) => {
            out.push(BODY_JSON);
            put_str(&mut out, value.to_string().as_bytes());
        }
    }
    match &record.trace_id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id.0);
        }
        None => out.push(0),
    }
    match &record.span_id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id.0);
        }
        None => out.push(0),
    }
    put_value(&mut out, &AttrValue::KvList(record.attributes.clone()));
    put_value(&mut out, &AttrValue::KvList(record.resource.clone()));
    put_str(&mut out, record.scope.name.as_bytes());
    put_str(&mut out, record.scope.version.as_bytes());
    put_varint(&mut out, 0); // reserved: extension fields
    EncodedLog(out)
}

fn kv_list(value: AttrValue) -> Result<crate::model::Attributes, CodecError> {
    match value {
        AttrValue::KvList(list) => Ok(list),
        _ => Err(CodecError("expected a key/value list")),
    }
}

/// The form a day index stores of a record encoded by [`encode_record`]:
/// the same bytes without the event time (version 3). Encodings of other
/// versions are stored as they are, as is anything that does not parse
/// (decoding reports it).
pub fn stored_form(encoded: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut reader = Reader::new(encoded);
    if reader.byte() != Ok(VERSION_OBSERVED_DELTA) || reader.zigzag().is_err() {
        return std::borrow::Cow::Borrowed(encoded);
    }
    let rest = reader.rest();
    let mut out = Vec::with_capacity(1 + rest.len());
    out.push(VERSION_WITHOUT_TIME);
    out.extend_from_slice(rest);
    std::borrow::Cow::Owned(out)
}

/// A self-contained encoding (versions 1 and 2: the journal's).
pub fn decode_record(bytes: &[u8]) -> Result<LogRecord, CodecError> {
    let mut reader = Reader::new(bytes);
    let version = reader.byte()?;
    if version != VERSION_FULL_TIMES && version != VERSION_OBSERVED_DELTA {
        return Err(CodecError("unknown journal record version"));
    }
    let timestamp = UnixNanos(reader.zigzag()?);
    decode_after_time(version, timestamp, &mut reader)
}

/// What a day index stores (any version): `timestamp` is the record's
/// event time from the index's time column, used where the encoding left
/// it out.
pub fn decode_stored(bytes: &[u8], timestamp: UnixNanos) -> Result<LogRecord, CodecError> {
    let mut reader = Reader::new(bytes);
    match reader.byte()? {
        VERSION_WITHOUT_TIME => decode_after_time(VERSION_OBSERVED_DELTA, timestamp, &mut reader),
        _ => decode_record(bytes),
    }
}

/// The fields after the event time, as written by `version`.
fn decode_after_time(
    version: u8,
    timestamp: UnixNanos,
    reader: &mut Reader<'_>,
) -> Result<LogRecord, CodecError> {
    let observed = reader.zigzag()?;
    let observed_timestamp = UnixNanos(match version {
        VERSION_FULL_TIMES => observed,
        _ => timestamp.0.wrapping_add(observed),
    });
    let severity_number =
        i32::try_from(reader.zigzag()?).map_err(|_| CodecError("severity out of range"))?;
    let severity_text = reader.string()?;
    let service = reader.string()?;
    let body = match reader.byte()? {
        BODY_TEXT => LogBody::Text(reader.string()?),
        BODY_JSON => LogBody::Json(
            serde_json::from_str(&reader.string()?).map_err(|_| CodecError("invalid JSON body"))?,
        ),
        _ => return Err(CodecError("unknown body kind")),
    };
    let trace_id = match reader.byte()? {
        0 => None,
        _ => Some(
            TraceId::from_bytes(reader.take(16)?).map_err(|_| CodecError("invalid trace id"))?,
        ),
    };
    let span_id = match reader.byte()? {
        0 => None,
        _ => Some(SpanId::from_bytes(reader.take(8)?).map_err(|_| CodecError("invalid span id"))?),
    };
    let attributes = kv_list(reader.value(0)?)?;
    let resource = kv_list(reader.value(0)?)?;
    let scope = Scope {
        name: reader.string()?,
        version: reader.string()?,
    };
    let _extensions = reader.varint()?;
    Ok(LogRecord {
        timestamp,
        observed_timestamp,
        severity_number,
        severity_text,
        service,
        body,
        trace_id,
        span_id,
        attributes,
        resource,
        scope,
    })
}

/// `record` as earlier builds encoded it (version 1), for tests of data
/// they left behind.
#[cfg(test)]
pub(crate) fn encode_version_1(record: &LogRecord) -> Vec<u8> {
    let current = encode_record(record).0;
    let mut reader = Reader::new(&current);
    let _version = reader.byte();
    let _timestamp = reader.zigzag();
    let _observed = reader.zigzag();
    let mut out = vec![VERSION_FULL_TIMES];
    put_zigzag(&mut out, record.timestamp.0);
    put_zigzag(&mut out, record.observed_timestamp.0);
    out.extend_from_slice(reader.rest());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LogRecord {
        LogRecord {
            timestamp: UnixNanos(1_763_719_200_000_000_001),
            observed_timestamp: UnixNanos(1_763_719_200_000_000_002),
            severity_number: 17,
            severity_text: "ERROR".into(),
            service: "checkout".into(),
            body: LogBody::Json(serde_json::json!({"order": 7, "items": ["a"]})),
            trace_id: Some(TraceId([3; 16])),
            span_id: None,
            attributes: vec![
                ("n".into(), AttrValue::Int(1)),
                ("d".into(), AttrValue::Double(1.0)),
                ("b".into(), AttrValue::Bytes(vec![1, 2])),
            ],
            resource: vec![("service.name".into(), AttrValue::String("checkout".into()))],
            scope: Scope {
                name: "lib".into(),
                version: "2".into(),
            },
        }
    }

    #[test]
    fn records_round_trip_with_attribute_types() {
        let record = sample();
        assert_eq!(decode_record(&encode_record(&record).0), Ok(record));
    }

    /// A version 1 encoding, byte by byte as earlier builds wrote it:
    /// event time 1 ns, observed 2 ns, severity 9, no severity text,
    /// service "s", text body "b", no ids, no attributes, resource
    /// {"k": true}, scope "n"/"", no extensions.
    const VERSION_1: [u8; 23] = [
        1, 2, 4, 18, 0, 1, b's', 0, 1, b'b', 0, 0, 8, 0, 8, 1, 1, b'k', 3, 1, b'n', 0, 0,
    ];

    #[test]
    fn version_1_records_still_decode() {
        let bytes = VERSION_1;
        let record = decode_record(&bytes).expect("version 1");
        assert_eq!(record.timestamp, UnixNanos(1));
        assert_eq!(record.observed_timestamp, UnixNanos(2));
        assert_eq!(record.severity_number, 9);
        assert_eq!(record.service, "s");
        assert_eq!(record.body, LogBody::Text("b".into()));
        assert_eq!(record.resource, vec![("k".into(), AttrValue::Bool(true))]);
        assert_eq!(record.scope.name, "n");
        // A day index written by those builds stored the same bytes; the
        // time they carry wins over the one supplied.
        assert_eq!(stored_form(&bytes).as_ref(), bytes.as_slice());
        assert_eq!(decode_stored(&bytes, UnixNanos(99)), Ok(record));
    }

    #[test]
    fn the_stored_form_drops_the_event_time_and_takes_it_back() {
        for (timestamp, observed) in [
            (1_763_719_200_000_000_001, 1_763_719_200_001_000_001),
            (1_763_719_200_000_000_001, 0),
            (i64::MAX, i64::MIN),
            (i64::MIN, i64::MAX),
        ] {
            let record = LogRecord {
                timestamp: UnixNanos(timestamp),
                observed_timestamp: UnixNanos(observed),
                ..sample()
            };
            let encoded = encode_record(&record).0;
            assert_eq!(decode_record(&encoded), Ok(record.clone()));
            let stored = stored_form(&encoded);
            assert_eq!(stored[0], VERSION_WITHOUT_TIME);
            assert!(stored.len() < encoded.len());
            assert_eq!(decode_stored(&stored, UnixNanos(timestamp)), Ok(record));
            // Without its time the stored form is not a journal record.
            assert!(decode_record(&stored).is_err());
        }
    }

    #[test]
    fn an_observed_time_near_the_event_time_costs_few_bytes() {
        let record = sample();
        let apart = LogRecord {
            observed_timestamp: UnixNanos(record.timestamp.0 + 1_000_000),
            ..record.clone()
        };
        let encoded = encode_record(&apart).0;
        let mut reader = Reader::new(&encoded);
        reader.byte().expect("version");
        reader.zigzag().expect("time");
        reader.zigzag().expect("observed");
        // The version, a 9-byte event time and 3 bytes for 1 ms, where
        // version 1 spent 9 on the observed time too.
        assert_eq!(encoded.len() - reader.rest().len(), 1 + 9 + 3);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_record(&[]).is_err());
        assert!(decode_record(&[1, 2, 3]).is_err());
        assert!(decode_record(&[9]).is_err());
        assert!(decode_stored(&[3], UnixNanos(1)).is_err());
        assert!(decode_stored(&[9], UnixNanos(1)).is_err());
    }
}
