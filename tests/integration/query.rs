//! The trace query API: every `/api/traces` filter, services, operations
//! and cursor pagination.

use std::collections::HashSet;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

/// Percent-encodes a query string from pairs.
fn q(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Five traces with distinct services, operations, statuses, durations,
/// attributes and times. Names are the trace ids (hex).
struct Dataset {
    base: u64,
    t1: String,
    t2: String,
    t3: String,
    t4: String,
    t5: String,
    t4_start: u64,
}

impl Dataset {
    /// - t1 (base+1s, 100 ms, error): frontend GET / → checkout POST
    ///   /checkout → payments charge (error, http.status_code=500,
    ///   payment.retry=true, amount=12.5); env prod.
    /// - t2 (base+2s, 50 ms, ok): frontend GET / → checkout GET /cart
    ///   (http.status_code=200); env staging.
    /// - t3 (base+3s, 5 ms): inventory sync (http.method=GET); env prod.
    /// - t4 (now-30s, 1 ms): frontend GET /health; env prod.
    /// - t5 (now-3h, 200 ms): frontend GET /; env prod.
    fn load(server: &TestServer) -> Dataset {
        let base = ms_aligned_ago(10 * MINUTE);
        let prod = || vec![kv_str("deployment.environment", "prod")];
        let staging = || vec![kv_str("deployment.environment", "staging")];

        let t1 = new_trace_id();
        let (a, b) = (new_span_id(), new_span_id());
        let s = base + SECOND;
        let mut charge = span(
            &t1,
            &new_span_id(),
            Some(&b),
            "charge",
            SpanKind::Server,
            s + 20 * MS,
            s + 50 * MS,
        );
        charge.status = status(OtlpStatusCode::Error, "declined");
        charge.attributes = vec![
            kv_int("http.status_code", 500),
            kv_bool("payment.retry", true),
            kv_double("amount", 12.5),
        ];
        server.export(&request(vec![
            resource_spans(
                "frontend",
                prod(),
                vec![span(
                    &t1,
                    &a,
                    None,
                    "GET /",
                    SpanKind::Server,
                    s,
                    s + 100 * MS,
                )],
            ),
            resource_spans(
                "checkout",
                prod(),
                vec![span(
                    &t1,
                    &b,
                    Some(&a),
                    "POST /checkout",
                    SpanKind::Server,
                    s + 10 * MS,
                    s + 70 * MS,
                )],
            ),
            resource_spans("payments", prod(), vec![charge]),
        ]));

        let t2 = new_trace_id();
        let a = new_span_id();
        let s = base + 2 * SECOND;
        let mut root = span(&t2, &a, None, "GET /", SpanKind::Server, s, s + 50 * MS);
        root.status = status(OtlpStatusCode::Ok, "");
        let mut cart = span(
            &t2,
            &new_span_id(),
            Some(&a),
            "GET /cart",
            SpanKind::Client,
            s + 5 * MS,
            s + 20 * MS,
        );
        cart.attributes = vec![kv_int("http.status_code", 200)];
        server.export(&request(vec![
            resource_spans("frontend", staging(), vec![root]),
            resource_spans("checkout", staging(), vec![cart]),
        ]));

        let t3 = new_trace_id();
        let s = base + 3 * SECOND;
        let mut sync = span(
            &t3,
            &new_span_id(),
            None,
            "sync",
            SpanKind::Internal,
            s,
            s + 5 * MS,
        );
        sync.attributes = vec![kv_str("http.method", "GET")];
        server.export(&request(vec![resource_spans(
            "inventory",
            prod(),
            vec![sync],
        )]));

        let t4 = new_trace_id();
        let t4_start = ms_aligned_ago(30 * SECOND);
        server.export(&request(vec![resource_spans(
            "frontend",
            prod(),
            vec![span(
                &t4,
                &new_span_id(),
                None,
                "GET /health",
                SpanKind::Server,
                t4_start,
                t4_start + MS,
            )],
        )]));

        let t5 = new_trace_id();
        let s = ms_aligned_ago(180 * MINUTE);
        server.export(&request(vec![resource_spans(
            "frontend",
            prod(),
            vec![span(
                &t5,
                &new_span_id(),
                None,
                "GET /",
                SpanKind::Server,
                s,
                s + 200 * MS,
            )],
        )]));

        Dataset {
            base,
            t1: hex(&t1),
            t2: hex(&t2),
            t3: hex(&t3),
            t4: hex(&t4),
            t5: hex(&t5),
            t4_start,
        }
    }

    /// Checks each (query, expected ids in order).
    fn check(&self, server: &TestServer, cases: &[(String, Vec<&String>)]) {
        for (query, want) in cases {
            let got = server.search_ids(query);
            let want: Vec<String> = want.iter().map(|id| id.to_string()).collect();
            assert_eq!(got, want, "GET /api/traces?{query}\n{}", self.legend());
        }
    }

    fn legend(&self) -> String {
        format!(
            "t1={} t2={} t3={} t4={} t5={}",
            self.t1, self.t2, self.t3, self.t4, self.t5
        )
    }
}

#[test]
fn service_filter_matches_any_span_of_the_trace() {
    let server = TestServer::start();
    let d = Dataset::load(&server);
    d.check(
        &server,
        &[
            (q(&[]), vec![&d.t4, &d.t3, &d.t2, &d.t1]),
            (q(&[("service", "frontend")]), vec![&d.t4, &d.t2, &d.t1]),
            (q(&[("service", "checkout")]), vec![&d.t2, &d.t1]),
            (q(&[("service", "payments")]), vec![&d.t1]),
            (q(&[("service", "inventory")]), vec![&d.t3]),
            (q(&[("service", "nosuch")]), vec![]),
            (
                q(&[("service", "frontend"), ("lookback", "4h")]),
                vec![&d.t4, &d.t2, &d.t1, &d.t5],
            ),
            (
                q(&[("unknown_parameter", "ignored")]),
                vec![&d.t4, &d.t3, &d.t2, &d.t1],
            ),
        ],
    );
}

#[test]
fn operation_filter_with_and_without_service() {
    let server = TestServer::start();
    let d = Dataset::load(&server);
    d.check(
        &server,
        &[
            (q(&[("operation", "GET /")]), vec![&d.t2, &d.t1]),
            (
                q(&[("operation", "GET /"), ("lookback", "4h")]),
                vec![&d.t2, &d.t1, &d.t5],
            ),
            (q(&[("operation", "GET /cart")]), vec![&d.t2]),
            (q(&[("operation", "charge")]), vec![&d.t1]),
            (
                q(&[("operation", "charge"), ("service", "payments")]),
                vec![&d.t1],
            ),
            (
                q(&[("operation", "charge"), ("service", "frontend")]),
                vec![],
            ),
            (
                q(&[("operation", "GET /"), ("service", "checkout")]),
                vec![],
            ),
            (
                q(&[("operation", "sync"), ("service", "inventory")]),
                vec![&d.t3],
            ),
            (q(&[("operation", "nosuch")]), vec![]),
        ],
    );
}

#[test]
fn status_and_duration_filters() {
    let server = TestServer::start();
    let d = Dataset::load(&server);
    d.check(
        &server,
        &[
            (q(&[("status", "error")]), vec![&d.t1]),
            (q(&[("status", "ok")]), vec![&d.t4, &d.t3, &d.t2]),
            (q(&[("min_duration_ms", "50")]), vec![&d.t2, &d.t1]),
            (q(&[("min_duration_ms", "99.5")]), vec![&d.t1]),
            (q(&[("max_duration_ms", "5")]), vec![&d.t4, &d.t3]),
            (q(&[("max_duration_ms", "0.5")]), vec![]),
            (
                q(&[("min_duration_ms", "40"), ("max_duration_ms", "60")]),
                vec![&d.t2],
            ),
            (
                q(&[("min_duration_ms", "150"), ("lookback", "4h")]),
                vec![&d.t5],
            ),
        ],
    );
}

#[test]
fn attribute_filters_match_span_and_resource_attributes() {
    let server = TestServer::start();
    let d = Dataset::load(&server);
    d.check(
        &server,
        &[
            (q(&[("attr", "http.status_code=500")]), vec![&d.t1]),
            (q(&[("attr", "http.status_code=200")]), vec![&d.t2]),
            (q(&[("attr", "http.status_code=404")]), vec![]),
            (q(&[("attr", "payment.retry=true")]), vec![&d.t1]),
            (q(&[("attr", "payment.retry=false")]), vec![]),
            (q(&[("attr", "amount=12.5")]), vec![&d.t1]),
            (q(&[("attr", "http.method=GET")]), vec![&d.t3]),
            (
                q(&[("attr", "deployment.environment=staging")]),
                vec![&d.t2],
            ),
            (
                q(&[("attr", "deployment.environment=prod")]),
                vec![&d.t4, &d.t3, &d.t1],
            ),
            (q(&[("attr", "service.name=inventory")]), vec![&d.t3]),
            (q(&[("attr", "unknown.key=x")]), vec![]),
            (
                q(&[
                    ("attr", "deployment.environment=prod"),
                    ("attr", "http.status_code=500"),
                ]),
                vec![&d.t1],
            ),
            (
                q(&[
                    ("attr", "deployment.environment=staging"),
                    ("attr", "http.status_code=500"),
                ]),
                vec![],
            ),
        ],
    );
}

/// `attr=key>=N` once searched for a key named `key>` silently; it is a
/// numeric comparison, on span attributes and resources alike.
#[test]
fn numeric_attribute_comparisons() {
    let server = TestServer::start();
    let d = Dataset::load(&server);
    d.check(
        &server,
        &[
            (q(&[("attr", "http.status_code>=500")]), vec![&d.t1]),
            (q(&[("attr", "http.status_code>=200")]), vec![&d.t2, &d.t1]),
            (q(&[("attr", "http.status_code<500")]), vec![&d.t2]),
            (q(&[("attr", "http.status_code<=500")]), vec![&d.t2, &d.t1]),
            (q(&[("attr", "http.status_code>500")]), vec![]),
            (q(&[("attr", "amount>12")]), vec![&d.t1]),
            (q(&[("attr", "amount<12.5")]), vec![]),
            // Not a number: never greater or smaller.
            (q(&[("attr", "http.method>0")]), vec![]),
        ],
    );
    let (status, body) = server.get_query("/api/traces", &[("attr", "http.status_code>=high")]);
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("attr"),
        "{body}"
    );
}

#[test]
fn time_range_lookback_and_limit() {
    let server = TestServer::start();
    let d = Dataset::load(&server);
    let ms = |nanos: u64| (nanos / MS).to_string();
    let at = |nanos: u64| rfc3339(nanos);
    let plus_two_hours = |nanos: u64| {
        let datetime = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
            .expect("time")
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).expect("offset"));
        datetime
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let base = d.base;
    d.check(
        &server,
        &[
            (q(&[("start", &at(base + 2_500 * MS))]), vec![&d.t4, &d.t3]),
            // Both ends are inclusive.
            (
                q(&[
                    ("start", &ms(base + SECOND)),
                    ("end", &ms(base + 2 * SECOND)),
                ]),
                vec![&d.t2, &d.t1],
            ),
            (
                q(&[
                    ("start", &at(base + SECOND)),
                    ("end", &at(base + 2 * SECOND)),
                ]),
                vec![&d.t2, &d.t1],
            ),
            (
                q(&[
                    ("start", &plus_two_hours(base + SECOND)),
                    ("end", &plus_two_hours(base + 2 * SECOND)),
                ]),
                vec![&d.t2, &d.t1],
            ),
            (
                q(&[
                    ("start", &ms(base + SECOND + MS)),
                    ("end", &ms(base + 3 * SECOND - MS)),
                ]),
                vec![&d.t2],
            ),
            // An end alone looks back one hour from it.
            (q(&[("end", &ms(base + 2 * SECOND))]), vec![&d.t2, &d.t1]),
            (
                q(&[("end", &ms(d.t4_start))]),
                vec![&d.t4, &d.t3, &d.t2, &d.t1],
            ),
            (
                q(&[("end", &ms(base + 2 * SECOND)), ("lookback", "1500ms")]),
                vec![&d.t2, &d.t1],
            ),
            (
                q(&[("end", &ms(base + 2 * SECOND)), ("lookback", "500ms")]),
                vec![&d.t2],
            ),
            (q(&[("lookback", "5m")]), vec![&d.t4]),
            (
                q(&[("lookback", "4h")]),
                vec![&d.t4, &d.t3, &d.t2, &d.t1, &d.t5],
            ),
            (
                q(&[("lookback", "7d"), ("limit", "3")]),
                vec![&d.t4, &d.t3, &d.t2],
            ),
            (q(&[("limit", "1")]), vec![&d.t4]),
        ],
    );

    let first = server.get_ok(&format!("/api/traces?{}", q(&[("limit", "2")])));
    assert_eq!(trace_ids_of(&first), vec![d.t4.clone(), d.t3.clone()]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next_cursor when more traces match");
    let second = server.get_ok(&format!(
        "/api/traces?{}",
        q(&[("limit", "2"), ("cursor", cursor)])
    ));
    assert_eq!(trace_ids_of(&second), vec![d.t2.clone(), d.t1.clone()]);
    assert_eq!(
        second["next_cursor"],
        Value::Null,
        "the last page has no cursor"
    );
    let exact = server.get_ok(&format!("/api/traces?{}", q(&[("limit", "4")])));
    assert_eq!(trace_ids_of(&exact).len(), 4);
    assert_eq!(
        exact["next_cursor"],
        Value::Null,
        "nothing more to page through"
    );
}

#[test]
fn filters_combine_with_and() {
    let server = TestServer::start();
    let d = Dataset::load(&server);
    d.check(
        &server,
        &[
            (
                q(&[("service", "frontend"), ("status", "ok")]),
                vec![&d.t4, &d.t2],
            ),
            (
                q(&[
                    ("service", "frontend"),
                    ("status", "ok"),
                    ("min_duration_ms", "10"),
                ]),
                vec![&d.t2],
            ),
            (
                q(&[
                    ("service", "checkout"),
                    ("attr", "deployment.environment=prod"),
                ]),
                vec![&d.t1],
            ),
            (q(&[("service", "payments"), ("status", "ok")]), vec![]),
            (
                q(&[
                    ("operation", "GET /"),
                    ("attr", "deployment.environment=staging"),
                    ("max_duration_ms", "60"),
                ]),
                vec![&d.t2],
            ),
            (
                q(&[
                    ("service", "frontend"),
                    ("operation", "GET /"),
                    ("status", "error"),
                    ("attr", "http.status_code=500"),
                ]),
                vec![&d.t1],
            ),
            (
                q(&[
                    ("service", "frontend"),
                    ("lookback", "4h"),
                    ("min_duration_ms", "150"),
                ]),
                vec![&d.t5],
            ),
            (
                q(&[
                    ("service", "inventory"),
                    ("start", &(d.base / MS + 3_001).to_string()),
                ]),
                vec![],
            ),
        ],
    );
}

#[test]
fn services_and_operations_are_listed() {
    let server = TestServer::start();
    let d = Dataset::load(&server);
    let services = server.get_ok("/api/services");
    let list = services["services"].as_array().expect("services array");
    let names: Vec<&str> = list
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["checkout", "frontend", "inventory", "payments"],
        "{services}"
    );
    let count = |name: &str| {
        list.iter()
            .find(|s| s["name"] == json!(name))
            .map(|s| s["span_count"].clone())
    };
    assert_eq!(count("frontend"), Some(json!(4)));
    assert_eq!(count("checkout"), Some(json!(2)));
    assert_eq!(count("payments"), Some(json!(1)));
    assert_eq!(count("inventory"), Some(json!(1)));
    let frontend = list
        .iter()
        .find(|s| s["name"] == json!("frontend"))
        .expect("frontend");
    assert_eq!(
        frontend["last_seen"],
        json!(rfc3339(d.t4_start + MS)),
        "last_seen is the latest span end"
    );

    let operations = server.get_ok("/api/services/frontend/operations");
    assert_eq!(
        operations["operations"],
        json!([
            {"name": "GET /", "span_kind": "server", "span_count": 3},
            {"name": "GET /health", "span_kind": "server", "span_count": 1},
        ])
    );
    let operations = server.get_ok("/api/services/checkout/operations");
    let mut names: Vec<(String, String)> = operations["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|op| {
            (
                op["name"].as_str().expect("name").into(),
                op["span_kind"].as_str().expect("kind").into(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("GET /cart".to_string(), "client".to_string()),
            ("POST /checkout".to_string(), "server".to_string())
        ]
    );

    let (status, body) = server.get_json("/api/services/nosuch/operations");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(error_message(&body).contains("nosuch"), "{body}");
    let (status, body) = server.get_json(&format!("/api/services/{}/operations", encode("GET /")));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// Ingests `count` single-root traces, five per start time (ties must not
/// break paging); odd ones also have a `billing` span. Returns the ids.
fn load_many(server: &TestServer, count: usize) -> (Vec<String>, Vec<String>) {
    let base = ms_aligned_ago(40 * MINUTE);
    let mut all = Vec::new();
    let mut billing = Vec::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(50) {
        let mut pager_spans = Vec::new();
        let mut billing_spans = Vec::new();
        for &i in chunk {
            let trace_id = new_trace_id();
            let root = new_span_id();
            let start = base + (i as u64 / 5) * SECOND;
            pager_spans.push(span(
                &trace_id,
                &root,
                None,
                "page",
                SpanKind::Server,
                start,
                start + 2 * MS,
            ));
            if i % 2 == 1 {
                billing_spans.push(span(
                    &trace_id,
                    &new_span_id(),
                    Some(&root),
                    "bill",
                    SpanKind::Client,
                    start + MS,
                    start + 2 * MS,
                ));
                billing.push(hex(&trace_id));
            }
            all.push(hex(&trace_id));
        }
        server.export(&request(vec![
            resource_spans("pager", vec![], pager_spans),
            resource_spans("billing", vec![], billing_spans),
        ]));
    }
    (all, billing)
}

/// Follows `next_cursor` with `limit=20` and checks every page.
fn page_through(server: &TestServer, filter: &[(&str, &str)], expected: &[String]) {
    let mut seen = Vec::new();
    let mut starts: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let max_pages = expected.len() / 20 + 2;
    for page in 0.. {
        assert!(
            page < max_pages,
            "more pages than traces: cursor does not advance"
        );
        let mut pairs: Vec<(&str, &str)> = filter.to_vec();
        pairs.push(("limit", "20"));
        if let Some(cursor) = &cursor {
            pairs.push(("cursor", cursor));
        }
        let body = server.get_ok(&format!("/api/traces?{}", q(&pairs)));
        let traces = body["traces"].as_array().expect("traces");
        let remaining = expected.len() - seen.len();
        assert_eq!(traces.len(), remaining.min(20), "page {page} size");
        for trace in traces {
            seen.push(trace["trace_id"].as_str().expect("id").to_string());
            starts.push(trace["start_time"].as_str().expect("start").to_string());
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => {
                assert_eq!(body["next_cursor"], Value::Null);
                break;
            }
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a trace appeared on two pages");
    let wanted: HashSet<&String> = expected.iter().collect();
    assert_eq!(unique, wanted, "every trace exactly once");
    // Newest first: RFC 3339 with fixed nanosecond digits sorts as text.
    assert!(
        starts.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {starts:?}"
    );
}

#[test]
fn pagination_visits_every_trace_once_newest_first() {
    let server = TestServer::start();
    let (all, billing) = load_many(&server, 250);
    page_through(&server, &[], &all);
    page_through(&server, &[("service", "billing")], &billing);
    page_through(&server, &[("service", "pager")], &all);
    page_through(&server, &[("operation", "bill")], &billing);
}

#[test]
fn service_names_with_reserved_characters_round_trip() {
    let server = TestServer::start();
    for service in ["team/api", "größe dienst", "a+b", "50%off", "q?x=1&y"] {
        let (trace_id, export) = single_span_trace(service, "op", SECOND);
        server.export(&export);
        let search = server.search_ids(&q(&[("service", service)]));
        assert_eq!(search, vec![trace_id.clone()], "{service}");
        let operations = server.get_ok(&format!("/api/services/{}/operations", encode(service)));
        assert_eq!(
            operations["operations"][0]["name"],
            json!("op"),
            "{service}"
        );
        assert_eq!(
            server.trace(&trace_id)["spans"][0]["service"],
            json!(service)
        );
    }
    let services = server.get_ok("/api/services");
    assert_eq!(
        services["services"].as_array().map(Vec::len),
        Some(5),
        "{services}"
    );
}

/// Waits until `/metrics` shows `series` at `wanted` or more.
fn wait_for_metric(server: &TestServer, series: &str, wanted: f64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let value = metric_value(&server.metrics_text(), series).unwrap_or(0.0);
        if value >= wanted {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{series} stayed at {value}, wanted {wanted}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// 600 one-span traces with `order.id` = i and `tier` = t{i % 3}, one per
/// 100 ms, newest last. Returns the ids.
fn load_orders(server: &TestServer) -> Vec<String> {
    let base = ms_aligned_ago(20 * MINUTE);
    let mut ids = Vec::new();
    for chunk in (0..600i64).collect::<Vec<_>>().chunks(100) {
        let mut spans = Vec::new();
        for &i in chunk {
            let trace_id = new_trace_id();
            let start = base + i as u64 * 100 * MS;
            let mut root = span(
                &trace_id,
                &new_span_id(),
                None,
                "order",
                SpanKind::Server,
                start,
                start + MS,
            );
            root.attributes = vec![
                kv_int("order.id", i),
                kv_str("tier", &format!("t{}", i % 3)),
            ];
            spans.push(root);
            ids.push(hex(&trace_id));
        }
        server.export(&request(vec![resource_spans("shop", vec![], spans)]));
    }
    ids
}

/// Attribute searches read only the trace blocks whose filter may match:
/// they find what the scan found, also right after a late span unsealed a
/// block, and a data directory whose blocks have no filters (as a lookout
/// from before trace blocks left it) gets them in the background.
#[test]
fn attribute_searches_through_trace_blocks_after_late_spans_and_an_upgrade() {
    let fast = |config: &mut lookout::config::Config| {
        config.pipeline.block_settle = std::time::Duration::ZERO;
    };
    let server = TestServer::start_with(fast);
    let ids = load_orders(&server);
    // 600 traces fill 4 blocks of 128 (the fifth is open).
    wait_for_metric(&server, "lookout_trace_blocks_sealed_total", 4.0);
    let check = |server: &TestServer| {
        let one = server.search_ids(&format!("attr={}", encode("order.id=123")));
        assert_eq!(one, vec![ids[123].clone()]);
        assert!(server
            .search_ids(&format!("attr={}", encode("order.id=99999")))
            .is_empty());
        let t1: Vec<String> = ids.iter().skip(1).step_by(3).rev().cloned().collect();
        page_through(server, &[("attr", "tier=t1")], &t1);
        let last: Vec<String> = ids[590..].iter().rev().cloned().collect();
        page_through(server, &[("attr", "order.id>=590")], &last);
        let mixed: Vec<String> = ids[..300]
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == 2)
            .map(|(_, id)| id.clone())
            .rev()
            .collect();
        page_through(
            server,
            &[("attr", "tier=t2"), ("attr", "order.id<300")],
            &mixed,
        );
    };
    check(&server);

    // A late child span for trace 5 (block 0, sealed) with a new value.
    let trace_5 = hex_to_bytes(&ids[5]);
    let mut late = span(
        &trace_5,
        &new_span_id(),
        None,
        "late",
        SpanKind::Internal,
        ms_aligned_ago(19 * MINUTE),
        ms_aligned_ago(19 * MINUTE) + MS,
    );
    late.attributes = vec![kv_str("late", "yes")];
    server.export(&request(vec![resource_spans("shop", vec![], vec![late])]));
    assert_eq!(
        server.search_ids(&format!("attr={}", encode("late=yes"))),
        vec![ids[5].clone()],
        "the unsealed block is read at once"
    );
    wait_for_metric(&server, "lookout_trace_blocks_unsealed_total", 1.0);
    wait_for_metric(&server, "lookout_trace_blocks_sealed_total", 5.0);
    assert_eq!(
        server.search_ids(&format!("attr={}", encode("late=yes"))),
        vec![ids[5].clone()],
        "the block sealed again holds the late span"
    );

    // As if an older lookout had written the data: no filters at all. The
    // searches read every block until the sealer (default settle time)
    // has built the filters again.
    let dir = server.stop();
    drop_trace_blocks(dir.path());
    let server = TestServer::start_on(dir);
    check(&server);
    wait_for_metric(&server, "lookout_trace_blocks_sealed_total", 4.0);
    assert_eq!(
        metric_value(&server.metrics_text(), "lookout_trace_blocks_pending"),
        Some(0.0)
    );
    check(&server);
}

#[allow(clippy::disallowed_methods)] // reason: the test removes what an older lookout never wrote
fn drop_trace_blocks(data_dir: &std::path::Path) {
    let conn = rusqlite::Connection::open(data_dir.join("lookout.db")).expect("open");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    conn.execute_batch("DELETE FROM trace_blocks")
        .expect("delete");
}

fn hex_to_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
