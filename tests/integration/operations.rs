//! Operating lookout: backpressure, write failures, health, metrics,
//! stats, auth and CORS.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

#[test]
fn a_full_queue_answers_503_and_every_accepted_span_is_stored() {
    const REQUESTS: usize = 24;
    let server = Arc::new(TestServer::start_with(|config| {
        config.pipeline.queue_capacity = 1;
        config.pipeline.writer_delay = Duration::from_millis(250);
    }));
    let barrier = Arc::new(Barrier::new(REQUESTS));
    let threads: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let server = Arc::clone(&server);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let (trace_id, export) = single_span_trace("burst", &format!("op {i}"), SECOND);
                let body = export.encode_to_vec();
                barrier.wait();
                let response = server.post_bytes("/v1/traces", PROTOBUF, None, body);
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = response.bytes().expect("body").to_vec();
                (trace_id, status, retry_after, body)
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();

    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for (trace_id, status, retry_after, body) in results {
        match status {
            StatusCode::OK => accepted.push(trace_id),
            StatusCode::SERVICE_UNAVAILABLE => {
                let seconds: u64 = retry_after
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .expect("a 503 carries Retry-After in seconds");
                assert!(seconds >= 1);
                let status = RpcStatus::decode(body.as_slice()).expect("a google.rpc.Status body");
                assert_eq!(status.code, 14, "UNAVAILABLE: {status:?}");
                assert!(!status.message.is_empty());
                refused.push(trace_id);
            }
            other => panic!(
                "unexpected status {other}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
    assert!(
        !refused.is_empty(),
        "a burst of {REQUESTS} into a queue of 1 must see 503s"
    );
    assert!(!accepted.is_empty(), "the first requests fit in the queue");
    for trace_id in &accepted {
        let trace = server.trace(trace_id);
        assert_eq!(
            trace["spans"].as_array().map(Vec::len),
            Some(1),
            "accepted {trace_id}"
        );
    }
    for trace_id in &refused {
        assert_eq!(
            server.trace_status(trace_id),
            StatusCode::NOT_FOUND,
            "refused {trace_id} was stored"
        );
    }
    let metrics = server.metrics_text();
    assert_eq!(
        metric_value(
            &metrics,
            "lookout_ingest_rejected_total{reason=\"queue_full\"}"
        ),
        Some(refused.len() as f64),
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "lookout_ingested_spans_total"),
        Some(accepted.len() as f64)
    );
}

/// The checks of a `/health/deep` answer that are not ok, with their
/// messages.
fn failing_checks(deep: &Value) -> Vec<(String, String)> {
    deep["checks"]
        .as_object()
        .expect("checks object")
        .iter()
        .filter(|(_, check)| check["status"] != json!("ok"))
        .map(|(name, check)| {
            (
                name.clone(),
                check["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_failing_writer_answers_503_stores_nothing_and_recovers() {
    let server = TestServer::start();
    server.writer().inject_write_failure(true);

    let (lost_trace, export) = single_span_trace("fragile", "GET /lost", SECOND);
    let response = server.post_json(
        "/v1/traces",
        &serde_json::to_value(&export).expect("OTLP JSON"),
    );
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().expect("JSON error body");
    assert!(!error_message(&body).is_empty(), "{body}");
    let response = server.post_protobuf("/v1/traces", &export);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let status = RpcStatus::decode(response.bytes().expect("body").as_ref()).expect("rpc status");
    assert_eq!(status.code, 14, "{status:?}");
    assert_eq!(server.trace_status(&lost_trace), StatusCode::NOT_FOUND);

    let (status, deep) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{deep}");
    assert_eq!(deep["status"], json!("critical"), "{deep}");
    let failing = failing_checks(&deep);
    assert!(
        failing
            .iter()
            .any(|(name, message)| (name == "writer" || name == "sqlite") && !message.is_empty()),
        "the writer or sqlite check names the failure: {deep}"
    );
    assert_eq!(deep["checks"]["disk"]["status"], json!("ok"), "{deep}");
    let metrics = server.metrics_text();
    assert!(
        metric_value(
            &metrics,
            "lookout_ingest_rejected_total{reason=\"write_failed\"}"
        )
        .unwrap_or(0.0)
            >= 2.0,
        "{metrics}"
    );

    server.writer().inject_write_failure(false);
    let (saved_trace, export) = single_span_trace("fragile", "GET /saved", SECOND);
    server.export(&export);
    assert_eq!(
        server.trace(&saved_trace)["spans"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(server.trace_status(&lost_trace), StatusCode::NOT_FOUND);
    let (status, deep) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::OK, "{deep}");
    assert_eq!(deep["status"], json!("healthy"), "{deep}");
}

#[test]
fn health_endpoints_report_each_subsystem() {
    let server = TestServer::start();
    let (status, body) = server.get_json("/health");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));

    let (status, deep) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::OK, "{deep}");
    assert_eq!(deep["status"], json!("healthy"), "{deep}");
    for check in ["writer", "sqlite", "disk", "queue"] {
        assert_eq!(
            deep["checks"][check]["status"],
            json!("ok"),
            "{check}: {deep}"
        );
    }
    assert!(failing_checks(&deep).is_empty());
}

/// One parsed sample line: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let mut chars = after_brace.char_indices().peekable();
        let mut consumed = None;
        loop {
            let Some(&(start, first)) = chars.peek() else {
                return Err("unterminated labels".into());
            };
            if first == '}' {
                consumed = consumed.or(Some(start + 1));
                break;
            }
            let eq = after_brace[start..].find('=').ok_or("label without =")? + start;
            let label = &after_brace[start..eq];
            if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("bad label name {label:?}"));
            }
            while chars.peek().is_some_and(|&(i, _)| i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value not quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        _ => return Err("bad escape".into()),
                    },
                    Some((_, '"')) => break,
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            }
            labels.insert(label.to_string(), value);
            match chars.next() {
                Some((_, ',')) => {}
                Some((i, '}')) => {
                    consumed = Some(i + 1);
                    break;
                }
                _ => return Err("expected , or }".into()),
            }
        }
        rest = &after_brace[consumed.expect("set on })")..];
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let value_text = parts.next().ok_or("no value")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        text => text.parse().map_err(|_| format!("bad value {text:?}"))?,
    };
    if let Some(timestamp) = parts.next() {
        timestamp.parse::<i64>().map_err(|_| "bad timestamp")?;
    }
    if parts.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[test]
fn metrics_are_prometheus_text_with_the_required_series() {
    let server = TestServer::start();
    let (trace_id, export) = single_span_trace("metered", "GET /m", SECOND);
    server.export(&export);
    server.trace(&trace_id);
    let _ = server.get("/api/traces/not-an-id");
    let _ = server.get("/api/no-such-route");
    server.flush();

    let text = server.metrics_text();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            if words.first() == Some(&"TYPE") {
                assert_eq!(words.len(), 3, "{line}");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&words[2]),
                    "{line}"
                );
                let previous = types.insert(words[1].to_string(), words[2].to_string());
                assert!(previous.is_none(), "TYPE repeated: {line}");
            }
            continue;
        }
        let sample = parse_sample(line).unwrap_or_else(|error| panic!("{error}: {line:?}"));
        samples.push(sample);
    }
    // Every sample belongs to a declared family.
    for sample in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = sample.name.strip_suffix(suffix)?;
                (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(&sample.name);
        assert!(types.contains_key(family), "no TYPE for {}", sample.name);
    }
    for (name, kind) in [
        ("lookout_ingested_spans_total", "counter"),
        ("lookout_ingest_rejected_total", "counter"),
        ("lookout_writer_queue_depth", "gauge"),
        ("lookout_writer_commit_seconds", "histogram"),
        ("lookout_http_requests_total", "counter"),
        ("lookout_http_request_duration_seconds", "histogram"),
        ("lookout_storage_bytes", "gauge"),
    ] {
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(kind),
            "{name}\n{text}"
        );
    }
    let find = |name: &str, labels: &[(&str, &str)]| -> Vec<&Sample> {
        samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    };
    assert_eq!(find("lookout_ingested_spans_total", &[])[0].value, 1.0);
    assert!(!find("lookout_ingest_rejected_total", &[]).is_empty());
    assert!(find("lookout_ingest_rejected_total", &[])
        .iter()
        .all(|s| s.labels.contains_key("reason")));
    assert_eq!(find("lookout_writer_queue_depth", &[]).len(), 1);
    assert!(find("lookout_writer_commit_seconds_count", &[])[0].value >= 1.0);
    let posts = find(
        "lookout_http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/v1/traces"),
            ("status", "200"),
        ],
    );
    assert_eq!(posts.len(), 1, "{text}");
    assert_eq!(posts[0].value, 1.0);
    // Routes are patterns, not raw paths: ids do not become label values.
    assert_eq!(
        find(
            "lookout_http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/api/traces/{trace_id}"),
                ("status", "200")
            ]
        )
        .len(),
        1,
        "{text}"
    );
    assert!(!text.contains(&trace_id), "a trace id leaked into a label");
    assert!(
        !text.contains("no-such-route"),
        "an unknown path became a label"
    );
    for sample in find("lookout_http_requests_total", &[]) {
        for label in ["method", "route", "status"] {
            assert!(sample.labels.contains_key(label), "{sample:?}");
        }
    }
    assert!(!find("lookout_http_request_duration_seconds_bucket", &[]).is_empty());
    let sqlite = find("lookout_storage_bytes", &[("store", "sqlite")]);
    assert_eq!(sqlite.len(), 1, "{text}");
    assert!(sqlite[0].value > 0.0);

    // Histogram buckets are cumulative and +Inf equals the count.
    for histogram in [
        "lookout_writer_commit_seconds",
        "lookout_http_request_duration_seconds",
    ] {
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for bucket in find(&format!("{histogram}_bucket"), &[]) {
            let mut key_labels = bucket.labels.clone();
            let le = key_labels.remove("le").expect("buckets have le");
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("numeric le")
            };
            series
                .entry(format!("{key_labels:?}"))
                .or_default()
                .push((bound, bucket.value));
        }
        assert!(!series.is_empty(), "{histogram} has buckets");
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{histogram}{labels} not cumulative"
            );
            let last = buckets.last().expect("buckets");
            assert!(last.0.is_infinite(), "{histogram}{labels} lacks +Inf");
            let count = samples
                .iter()
                .find(|s| {
                    s.name == format!("{histogram}_count") && format!("{:?}", s.labels) == labels
                })
                .unwrap_or_else(|| panic!("{histogram}{labels} has no _count"));
            assert_eq!(count.value, last.1, "{histogram}{labels}");
        }
    }
}

#[test]
fn stats_count_what_is_stored() {
    let server = TestServer::start();
    let empty = server.get_ok("/api/stats");
    assert_eq!(empty["counts"]["spans"], json!(0), "{empty}");
    let older = ms_aligned_ago(20 * MINUTE);
    let newer = ms_aligned_ago(2 * MINUTE);
    for (service, start, spans) in [("alpha", older, 2), ("beta", newer, 1)] {
        let trace_id = new_trace_id();
        let spans = (0..spans)
            .map(|i| {
                span(
                    &trace_id,
                    &new_span_id(),
                    None,
                    "op",
                    opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server,
                    start + i * MS,
                    start + 10 * MS,
                )
            })
            .collect();
        server.export(&request(vec![resource_spans(service, vec![], spans)]));
    }
    let stats = server.get_ok("/api/stats");
    assert_eq!(stats["counts"]["traces"], json!(2), "{stats}");
    assert_eq!(stats["counts"]["spans"], json!(3), "{stats}");
    assert_eq!(stats["counts"]["services"], json!(2), "{stats}");
    assert!(
        stats["storage_bytes"]["sqlite"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert_eq!(stats["oldest_trace"], json!(rfc3339(older)), "{stats}");
    assert_eq!(stats["newest_trace"], json!(rfc3339(newer)), "{stats}");
}

const INGEST_KEY: &str = "ingest-key-0123456789abcdef";
const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

#[test]
fn api_keys_guard_ingest_only() {
    let server = TestServer::start_with(|config| {
        config.api_keys = vec!["another-key-0123456789".into(), INGEST_KEY.into()];
    });
    let post = |headers: &[(&str, &str)]| {
        let (trace_id, export) = single_span_trace("keyed", "GET /", SECOND);
        let mut request = server
            .client()
            .post(server.url("/v1/traces"))
            .header("content-type", PROTOBUF)
            .body(export.encode_to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().expect("POST");
        (trace_id, response.status())
    };
    let bearer = format!("Bearer {INGEST_KEY}");
    for (headers, want) in [
        (vec![], StatusCode::UNAUTHORIZED),
        (
            vec![("authorization", "Bearer wrong-key-0123456789abc")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![("x-api-key", "wrong-key-0123456789abc")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![("authorization", INGEST_KEY)],
            StatusCode::UNAUTHORIZED,
        ),
        (vec![("authorization", bearer.as_str())], StatusCode::OK),
        (vec![("x-api-key", INGEST_KEY)], StatusCode::OK),
    ] {
        let (trace_id, status) = post(&headers);
        assert_eq!(status, want, "{headers:?}");
        let stored = server.trace_status(&trace_id);
        let want_stored = if want == StatusCode::OK {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(stored, want_stored, "{headers:?}");
    }
    let (status, body) = server.get_json("/v1/traces");
    assert_ne!(status, StatusCode::OK, "{body}");
    // Without an admin token the API and probes stay open.
    assert_eq!(server.get("/api/traces").status(), StatusCode::OK);
    assert_eq!(server.get("/health").status(), StatusCode::OK);
}

#[test]
fn the_admin_token_guards_the_api_but_not_probes() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.api_keys = vec![INGEST_KEY.into()];
    });
    for path in ["/api/traces", "/api/services", "/api/stats"] {
        let (status, body) = server.get_json(path);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!(body["error"]["code"], json!("unauthorized"), "{body}");
        let response = server
            .client()
            .get(server.url(path))
            .header("authorization", "Bearer not-the-admin-token-at-all")
            .send()
            .expect("GET");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let response = server
            .client()
            .get(server.url(path))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .send()
            .expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // The ingest key is valid, but not an admin token: 403.
    let response = server
        .client()
        .get(server.url("/api/traces"))
        .header("authorization", format!("Bearer {INGEST_KEY}"))
        .send()
        .expect("GET");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    for path in ["/health", "/health/deep", "/metrics"] {
        assert_eq!(server.get(path).status(), StatusCode::OK, "{path}");
    }
    // The admin token may ingest too.
    let (trace_id, export) = single_span_trace("admin", "GET /", SECOND);
    let response = server
        .client()
        .post(server.url("/v1/traces"))
        .header("content-type", PROTOBUF)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(export.encode_to_vec())
        .send()
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .client()
        .get(server.url(&format!("/api/traces/{trace_id}")))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn cors_preflight_allows_only_configured_origins() {
    let server = TestServer::start_with(|config| {
        config.cors_origins = vec!["http://app.example".into()];
    });
    let preflight = |origin: &str| {
        server
            .client()
            .request(reqwest::Method::OPTIONS, server.url("/v1/traces"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .expect("OPTIONS")
    };
    let allowed = preflight("http://app.example");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let header = |response: &reqwest::blocking::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some("http://app.example")
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");

    let denied = preflight("http://evil.example");
    assert_eq!(
        header(&denied, "access-control-allow-origin"),
        None,
        "{:?}",
        denied.headers()
    );

    // The actual cross-origin POST from the allowed origin.
    let (trace_id, export) = single_span_trace("browser", "GET /", SECOND);
    let response = server
        .client()
        .post(server.url("/v1/traces"))
        .header("origin", "http://app.example")
        .header("content-type", PROTOBUF)
        .body(export.encode_to_vec())
        .send()
        .expect("POST");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("http://app.example")
    );
    assert_eq!(server.trace_status(&trace_id), StatusCode::OK);
}

#[test]
fn percent_encoded_paths_do_not_bypass_auth() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.api_keys = vec![INGEST_KEY.into()];
    });
    // `%61` is `a` and `%76` is `v`: the router decodes them, so these are
    // the guarded routes in disguise.
    for path in ["/%61pi/traces", "/%61pi/services", "/%61pi/stats"] {
        let response = server.get(path);
        let status = response.status();
        let body = response.text().unwrap_or_default();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND,
            "GET {path} without the admin token answered {status}: {body}"
        );
    }
    let (trace_id, export) = single_span_trace("sneaky", "GET /", SECOND);
    let response = server.post_bytes("/%761/traces", PROTOBUF, None, export.encode_to_vec());
    let status = response.status();
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND,
        "POST /%761/traces without an ingest key answered {status}"
    );
    let response = server
        .client()
        .get(server.url(&format!("/api/traces/{trace_id}")))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .expect("GET");
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "stored without an ingest key"
    );
}

#[test]
fn ingest_auth_errors_use_the_otlp_error_body() {
    let server = TestServer::start_with(|config| {
        config.api_keys = vec![INGEST_KEY.into()];
    });
    let (_, export) = single_span_trace("keyed", "GET /", SECOND);
    let response = server.post_protobuf("/v1/traces", &export);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let content_type = content_type_of(&response);
    // OTLP/HTTP: every 4xx/5xx body is a google.rpc.Status in the
    // request's encoding.
    assert!(
        content_type.starts_with(PROTOBUF),
        "401 answered as {content_type:?}"
    );
    let status = RpcStatus::decode(response.bytes().expect("body").as_ref()).expect("rpc status");
    assert_eq!(status.code, 16, "UNAUTHENTICATED: {status:?}");
    assert!(!status.message.is_empty());
}

#[test]
fn deep_health_recovers_as_soon_as_writes_work_again() {
    let server = TestServer::start();
    server.writer().inject_write_failure(true);
    let (status, deep) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{deep}");
    server.writer().inject_write_failure(false);
    // No ingest in between: the check's own write probe succeeds, so the
    // answer must not report the earlier failure as current.
    let (status, deep) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::OK, "{deep}");
    assert_eq!(deep["status"], json!("healthy"), "{deep}");
}

#[test]
fn a_retention_pass_is_audited_with_what_it_deleted() {
    let mut server = TestServer::start();
    let (old_id, old) = single_span_trace("retention", "old", 2 * 3600 * SECOND);
    let (new_id, new) = single_span_trace("retention", "new", SECOND);
    server.export(&old);
    server.export(&new);
    // The retention thread runs a pass as it starts.
    server.restart_with(|config| config.retention = Duration::from_secs(3600));
    let purge = server.wait_for_audit("action=retention.purge", |_| true);
    assert_eq!(purge["actor"], json!("lookout"), "{purge}");
    assert_eq!(purge["outcome"], json!("ok"), "{purge}");
    assert_eq!(purge["details"]["reason"], json!("age"), "{purge}");
    assert_eq!(purge["details"]["traces"], json!(1), "{purge}");
    assert_eq!(purge["details"]["spans"], json!(1), "{purge}");
    assert!(purge["details"]["cutoff"].is_string(), "{purge}");
    assert_eq!(server.trace_status(&old_id), StatusCode::NOT_FOUND);
    assert_eq!(server.trace_status(&new_id), StatusCode::OK);
}

#[test]
fn retention_deletes_old_traces_through_the_writer() {
    let server = TestServer::start();
    let (old_id, old) = single_span_trace("retention", "old", 2 * 3600 * SECOND);
    let (new_id, new) = single_span_trace("retention", "new", SECOND);
    server.export(&old);
    server.export(&new);
    assert_eq!(server.trace_status(&old_id), StatusCode::OK);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cutoff = lookout::model::UnixNanos((now_nanos() - 3600 * SECOND) as i64);
    let deleted = runtime
        .block_on(server.writer().retain(cutoff, 100))
        .expect("the writer runs retention");
    assert_eq!((deleted.traces, deleted.spans), (1, 1));

    assert_eq!(server.trace_status(&old_id), StatusCode::NOT_FOUND);
    assert_eq!(server.trace_status(&new_id), StatusCode::OK);
    let services = server.get_ok("/api/services");
    assert_eq!(services["services"][0]["span_count"], json!(1));
}
