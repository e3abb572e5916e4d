//! Structured logs over HTTP, by feature: ingest, search on a corpus with
//! known counts, live tail, trace correlation, bad input and operations.
//! The helpers they share are here.

mod bad_input;
mod correlation;
mod ingest;
mod operations;
mod search;
mod tail;

use std::collections::{BTreeMap, HashSet};
use std::io::Read as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// Refresh interval of the log index in these tests.
const REFRESH: Duration = Duration::from_millis(50);

fn start_server() -> TestServer {
    TestServer::start_with(|config| config.log_refresh = REFRESH)
}

/// The `logs` array of a search answer.
fn logs_of(answer: &Value) -> &Vec<Value> {
    answer["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs array in {answer}"))
}

/// The single record a search for `q` finds (waiting for it to be
/// searchable).
fn the_log(server: &TestServer, q: &str) -> Value {
    let answer = server.wait_for_logs(&[("q", q)], 1);
    logs_of(&answer)[0].clone()
}

fn unix_millis(nanos: u64) -> String {
    (nanos / MS).to_string()
}

/// RFC 3339 with any fraction (as the API writes times) → unix nanos.
fn parse_time(text: &str) -> u64 {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|error| panic!("{text:?} is not RFC 3339: {error}"));
    u64::try_from(parsed.unix_timestamp_nanos()).expect("a time after 1970")
}

/// A `partialSuccess` count in OTLP/JSON, where 64-bit integers may be
/// strings.
fn json_count(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
}

/// The text bodies of records, in order.
fn bodies(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|record| record["body"].as_str().unwrap_or("<not text>"))
        .collect()
}
