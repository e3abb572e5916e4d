//! The log record codec: how a record is stored as bytes, both in the
//! SQLite `log_journal` and as the stored field of the tantivy day indexes.
//! Records are encoded by the ingest handlers (off the writer thread) and
//! decoded by the log indexer and by searches; the format keeps attribute
//! types exactly (keys inline).

use super::sqlite::codec::{put_str, put_value, put_varint, put_zigzag, CodecError, Reader};
use crate::model::{AttrValue, LogBody, LogRecord, Scope, SpanId, TraceId, UnixNanos};

const FORMAT_VERSION: u8 = 1;
const BODY_TEXT: u8 = 0;
const BODY_JSON: u8 = 1;

/// A record encoded for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedLog(pub Vec<u8>);

pub fn encode_record(record: &LogRecord) -> EncodedLog {
    let mut out = Vec::with_capacity(256);
    out.push(FORMAT_VERSION);
    put_zigzag(&mut out, record.timestamp.0);
    put_zigzag(&mut out, record.observed_timestamp.0);
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

pub fn decode_record(bytes: &[u8]) -> Result<LogRecord, CodecError> {
    let mut reader = Reader::new(bytes);
    if reader.byte()? != FORMAT_VERSION {
        return Err(CodecError("unknown journal record version"));
    }
    let timestamp = UnixNanos(reader.zigzag()?);
    let observed_timestamp = UnixNanos(reader.zigzag()?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_attribute_types() {
        let record = LogRecord {
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
        };
        assert_eq!(decode_record(&encode_record(&record).0), Ok(record));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_record(&[]).is_err());
        assert!(decode_record(&[1, 2, 3]).is_err());
        assert!(decode_record(&[9]).is_err());
    }
}
