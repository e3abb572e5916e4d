//! The query language, pagination and the histogram on a generated corpus
//! whose every answer is known.

use super::*;

const SERVICES: [&str; 3] = ["checkout", "payments", "frontend"];
const SEVERITIES: [(i32, &str); 5] = [
    (5, "DEBUG"),
    (9, "INFO"),
    (13, "WARN"),
    (17, "ERROR"),
    (21, "FATAL"),
];
const STATUSES: [i64; 7] = [200, 201, 302, 404, 499, 500, 503];
const ROUTES: [&str; 4] = ["/cart", "/pay", "/", "/search"];
const CORPUS_SIZE: usize = 300;
/// Time between the first 100 records and the rest.
const GAP: u64 = 30 * MINUTE;
const STEP: u64 = 100 * MS;

/// One generated record, and the features the queries test.
struct Entry {
    seq: i64,
    time: u64,
    service: &'static str,
    severity: i32,
    severity_name: &'static str,
    timeout: bool,
    cache: bool,
    /// The body holds "disk full" (in that order).
    disk_full: bool,
    /// The body holds "full disk".
    full_disk: bool,
    method: &'static str,
    status: i64,
    latency_ms: f64,
    user: String,
    route: &'static str,
    /// Index into `Corpus::traces`.
    trace: Option<usize>,
}

impl Entry {
    fn body(&self) -> String {
        let mut body = format!("Request order-{} handled", self.seq);
        if self.disk_full {
            body.push_str(" with disk full");
        }
        if self.full_disk {
            body.push_str(" on full disk");
        }
        if self.timeout {
            body.push_str(" after Timeout");
        }
        if self.cache {
            body.push_str(" despite cache miss");
        }
        body
    }
}

struct Corpus {
    entries: Vec<Entry>,
    traces: [Vec<u8>; 2],
}

impl Corpus {
    /// `CORPUS_SIZE` records, 100 ms apart; the first 100 about 45 minutes
    /// ago, the rest about 15 minutes ago.
    fn generate() -> Corpus {
        let first = ms_aligned_ago(45 * MINUTE);
        let entries = (0..CORPUS_SIZE)
            .map(|i| {
                let gap = if i >= 100 { GAP } else { 0 };
                let (severity, severity_name) = SEVERITIES[i % 5];
                Entry {
                    seq: i as i64,
                    time: first + i as u64 * STEP + gap,
                    service: SERVICES[i % 3],
                    severity,
                    severity_name,
                    timeout: i % 4 == 0,
                    cache: i % 7 == 0,
                    disk_full: i % 6 == 0,
                    full_disk: i % 6 == 3,
                    method: if i % 2 == 0 { "GET" } else { "POST" },
                    status: STATUSES[(i / 2) % 7],
                    latency_ms: (i % 50) as f64 * 0.5,
                    user: format!("u{}", i % 11),
                    route: ROUTES[i % 4],
                    trace: match i % 10 {
                        0 => Some(0),
                        5 => Some(1),
                        _ => None,
                    },
                }
            })
            .collect();
        Corpus {
            entries,
            traces: [new_trace_id(), new_trace_id()],
        }
    }

    fn trace_hex(&self, index: usize) -> String {
        hex(&self.traces[index])
    }

    /// Ingests the corpus over OTLP protobuf, one request per service, and
    /// waits until all of it is searchable.
    fn ingest(&self, server: &TestServer) {
        for service in SERVICES {
            let records = self
                .entries
                .iter()
                .filter(|entry| entry.service == service)
                .map(|entry| {
                    let record = log_record(
                        entry.time,
                        entry.severity,
                        "",
                        &entry.body(),
                        vec![
                            kv_int("seq", entry.seq),
                            kv_str("http.method", entry.method),
                            kv_int("status", entry.status),
                            kv_double("latency_ms", entry.latency_ms),
                            kv_str("user", &entry.user),
                            kv_list("http", vec![kv_str("route", entry.route)]),
                        ],
                    );
                    match entry.trace {
                        Some(index) => in_span(record, &self.traces[index], &new_span_id()),
                        None => record,
                    }
                })
                .collect();
            server.export_logs(&logs_request(vec![resource_logs(service, records)]));
        }
        server.wait_for_logs(&[], CORPUS_SIZE as u64);
    }

    /// Seqs of the entries `wanted` accepts, newest first.
    fn expected(&self, wanted: &dyn Fn(&Entry) -> bool) -> Vec<i64> {
        let mut seqs: Vec<(u64, i64)> = self
            .entries
            .iter()
            .filter(|entry| wanted(entry))
            .map(|entry| (entry.time, entry.seq))
            .collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.into_iter().map(|(_, seq)| seq).collect()
    }

    fn entry(&self, seq: i64) -> &Entry {
        &self.entries[usize::try_from(seq).expect("a seq")]
    }
}

fn seq_of(log: &Value) -> i64 {
    log["attributes"]["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("no seq attribute in {log}"))
}

fn seqs_of(answer: &Value) -> Vec<i64> {
    logs_of(answer).iter().map(seq_of).collect()
}

type Wanted = Box<dyn Fn(&Entry) -> bool>;

fn w(wanted: impl Fn(&Entry) -> bool + 'static) -> Wanted {
    Box::new(wanted)
}

#[test]
fn search_on_a_known_corpus_returns_exact_totals_and_records() {
    let server = start_server();
    let corpus = Corpus::generate();
    corpus.ingest(&server);
    let trace0 = corpus.trace_hex(0);
    let trace1 = corpus.trace_hex(1);
    let q_trace0 = format!("trace_id:{trace0}");
    let at = |seq: usize| corpus.entries[seq].time;
    let start_150 = unix_millis(at(150));
    let end_199 = unix_millis(at(199) + STEP / 2);
    let start_10 = rfc3339(at(10));
    let end_19 = rfc3339(at(19) + STEP / 2);

    let cases: Vec<(Vec<(&str, &str)>, Wanted)> = vec![
        (vec![], w(|_| true)),
        (vec![("q", "timeout")], w(|e| e.timeout)),
        (vec![("q", "TimeOut")], w(|e| e.timeout)),
        (vec![("q", "timeout cache")], w(|e| e.timeout && e.cache)),
        (
            vec![("q", "timeout AND cache")],
            w(|e| e.timeout && e.cache),
        ),
        (vec![("q", "\"disk full\"")], w(|e| e.disk_full)),
        (vec![("q", "\"full disk\"")], w(|e| e.full_disk)),
        (vec![("q", "disk full")], w(|e| e.disk_full || e.full_disk)),
        (vec![("q", "timeout OR cache")], w(|e| e.timeout || e.cache)),
        (vec![("q", "NOT timeout")], w(|e| !e.timeout)),
        (vec![("q", "-timeout")], w(|e| !e.timeout)),
        (
            vec![("q", "handled -timeout -cache")],
            w(|e| !e.timeout && !e.cache),
        ),
        (
            vec![("q", "(timeout OR cache) service:checkout")],
            w(|e| (e.timeout || e.cache) && e.service == "checkout"),
        ),
        (
            vec![("q", "timeout OR cache service:checkout")],
            w(|e| e.timeout || (e.cache && e.service == "checkout")),
        ),
        (
            vec![("q", "NOT (service:checkout OR level:error)")],
            w(|e| !(e.service == "checkout" || e.severity >= 17)),
        ),
        (
            vec![("q", "(\"disk full\" OR \"full disk\") -(timeout cache)")],
            w(|e| (e.disk_full || e.full_disk) && !(e.timeout && e.cache)),
        ),
        (
            vec![("q", "service:payments")],
            w(|e| e.service == "payments"),
        ),
        (vec![("q", "handled -\"disk full\"")], w(|e| !e.disk_full)),
        // Trailing wildcards: a prefix of a body word, or of the service.
        (vec![("q", "timeo*")], w(|e| e.timeout)),
        (vec![("q", "CA*")], w(|e| e.cache)),
        (vec![("q", "di*")], w(|e| e.disk_full || e.full_disk)),
        (vec![("q", "handl* -timeo*")], w(|e| !e.timeout)),
        (vec![("q", "handl* timeo*")], w(|e| e.timeout)),
        (vec![("q", "service:pay*")], w(|e| e.service == "payments")),
        (
            vec![("q", "service:pay* OR service:front*")],
            w(|e| e.service != "checkout"),
        ),
        (
            vec![("q", "service:checkout OR timeout")],
            w(|e| e.service == "checkout" || e.timeout),
        ),
        (vec![("q", "((timeout))")], w(|e| e.timeout)),
        (
            vec![("q", "SERVICE:payments")],
            w(|e| e.service == "payments"),
        ),
        (vec![("q", "level:13")], w(|e| e.severity >= 13)),
        (vec![("q", "attr.seq:42")], w(|e| e.seq == 42)),
        (
            vec![("q", "attr.latency_ms:2.5")],
            w(|e| e.latency_ms == 2.5),
        ),
        (vec![("q", "attr.status:\"404\"")], w(|e| e.status == 404)),
        (vec![("q", "level:warn")], w(|e| e.severity >= 13)),
        (vec![("q", "severity:ERROR")], w(|e| e.severity >= 17)),
        (vec![("q", "level:fatal")], w(|e| e.severity >= 21)),
        (
            vec![("q", "level:info -level:warn")],
            w(|e| (9..13).contains(&e.severity)),
        ),
        (vec![("q", q_trace0.as_str())], w(|e| e.trace == Some(0))),
        (
            vec![("q", "attributes.http.method:POST")],
            w(|e| e.method == "POST"),
        ),
        (vec![("q", "attr.user:u3")], w(|e| e.user == "u3")),
        (
            vec![("q", "attr.http.route:/cart")],
            w(|e| e.route == "/cart"),
        ),
        (vec![("q", "attr.status:>=500")], w(|e| e.status >= 500)),
        (vec![("q", "attr.status:>499")], w(|e| e.status > 499)),
        (vec![("q", "attr.status:<300")], w(|e| e.status < 300)),
        (vec![("q", "attr.status:<=302")], w(|e| e.status <= 302)),
        (
            vec![("q", "attr.status:[400 TO 499]")],
            w(|e| (400..=499).contains(&e.status)),
        ),
        (
            vec![("q", "attr.status:[500 TO *]")],
            w(|e| e.status >= 500),
        ),
        (vec![("q", "attr.status:500")], w(|e| e.status == 500)),
        (
            vec![("q", "attr.latency_ms:>12.5")],
            w(|e| e.latency_ms > 12.5),
        ),
        (
            vec![("q", "attr.latency_ms:[2 TO 4.5]")],
            w(|e| (2.0..=4.5).contains(&e.latency_ms)),
        ),
        (
            vec![("q", "attr.status:>=500 level:error")],
            w(|e| e.status >= 500 && e.severity >= 17),
        ),
        (vec![("q", "order-42")], w(|e| e.seq == 42)),
        (
            vec![("q", "resource.service.name:frontend")],
            w(|e| e.service == "frontend"),
        ),
        (
            vec![("service", "checkout")],
            w(|e| e.service == "checkout"),
        ),
        (vec![("level", "warn")], w(|e| e.severity >= 13)),
        (
            vec![("level", "warning"), ("service", "payments")],
            w(|e| e.severity >= 13 && e.service == "payments"),
        ),
        (
            vec![("trace_id", trace1.as_str())],
            w(|e| e.trace == Some(1)),
        ),
        (
            vec![
                ("q", "timeout"),
                ("service", "frontend"),
                ("level", "error"),
            ],
            w(|e| e.timeout && e.service == "frontend" && e.severity >= 17),
        ),
        (
            vec![("start", start_150.as_str()), ("end", end_199.as_str())],
            w(|e| (150..=199).contains(&e.seq)),
        ),
        (
            vec![("start", start_10.as_str()), ("end", end_19.as_str())],
            w(|e| (10..=19).contains(&e.seq)),
        ),
        (
            vec![
                ("q", "timeout"),
                ("start", start_150.as_str()),
                ("end", end_199.as_str()),
            ],
            w(|e| e.timeout && (150..=199).contains(&e.seq)),
        ),
        (vec![("lookback", "30m")], w(|e| e.seq >= 100)),
        (
            vec![("lookback", "30m"), ("q", "cache")],
            w(|e| e.seq >= 100 && e.cache),
        ),
        (vec![("lookback", "2h")], w(|_| true)),
    ];
    for (params, wanted) in &cases {
        let expected = corpus.expected(wanted.as_ref());
        assert!(!expected.is_empty(), "{params:?} selects nothing");
        assert!(
            expected.len() < CORPUS_SIZE || params.iter().all(|(k, _)| *k != "q"),
            "{params:?} selects the whole corpus"
        );
        for order in ["desc", "asc"] {
            let mut full: Vec<(&str, &str)> = params.clone();
            full.push(("limit", "1000"));
            full.push(("order", order));
            let answer = server.search_logs(&full);
            let mut want = expected.clone();
            if order == "asc" {
                want.reverse();
            }
            assert_eq!(
                answer["total"],
                json!(want.len()),
                "total of {params:?} ({order})"
            );
            assert_eq!(seqs_of(&answer), want, "records of {params:?} ({order})");
            assert_eq!(answer["next_cursor"], Value::Null, "{params:?}");
        }
    }

    // Newest first is the default; a small page still has the exact total.
    let answer = server.search_logs(&[("q", "cache"), ("limit", "5")]);
    let cache = corpus.expected(&|e| e.cache);
    assert_eq!(answer["total"], json!(cache.len()));
    assert_eq!(seqs_of(&answer), cache[..5]);
    assert!(answer["next_cursor"].is_string(), "{answer}");

    // The records come back whole.
    let answer = server.search_logs(&[("q", "order-105")]);
    let log = &logs_of(&answer)[0];
    let entry = corpus.entry(105);
    assert_eq!(log["timestamp"], json!(rfc3339(entry.time)));
    assert_eq!(log["body"], json!(entry.body()));
    assert_eq!(log["service"], json!(entry.service));
    assert_eq!(log["severity_number"], json!(entry.severity));
    assert_eq!(log["severity_text"], json!(entry.severity_name));
    assert_eq!(log["trace_id"], json!(trace1));
    assert_eq!(log["attributes"]["status"], json!(entry.status));
    assert_eq!(log["attributes"]["http.method"], json!(entry.method));
}

#[test]
fn pagination_visits_every_record_once_in_both_orders() {
    const RECORDS: usize = 3_000;
    const PER_REQUEST: usize = 300;
    let server = start_server();
    // Three records per millisecond, so pages split records that share a
    // timestamp.
    let first = ms_aligned_ago(20 * MINUTE);
    let time_of = |seq: usize| first + (seq / 3) as u64 * MS;
    for chunk in 0..RECORDS / PER_REQUEST {
        let records = (chunk * PER_REQUEST..(chunk + 1) * PER_REQUEST)
            .map(|seq| {
                log_record(
                    time_of(seq),
                    9,
                    "",
                    &format!("pagerecord number {seq}"),
                    vec![kv_int("seq", seq as i64)],
                )
            })
            .collect();
        server.export_logs(&logs_request(vec![resource_logs("pager", records)]));
    }
    server.wait_for_logs(&[("q", "pagerecord")], RECORDS as u64);

    for (order, filter, expected) in [
        ("desc", "pagerecord", RECORDS),
        ("asc", "pagerecord", RECORDS),
        ("asc", "attr.seq:[1000 TO 1999]", 1000),
        ("desc", "attr.seq:[1000 TO 1999]", 1000),
    ] {
        let mut keys: Vec<(u64, u64)> = Vec::with_capacity(expected);
        let mut seqs: Vec<i64> = Vec::with_capacity(expected);
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= expected / 100 + 1, "too many pages ({order})");
            let mut params = vec![("q", filter), ("order", order), ("limit", "100")];
            if let Some(cursor) = &cursor {
                params.push(("cursor", cursor.as_str()));
            }
            let answer = server.search_logs(&params);
            assert_eq!(answer["total"], json!(expected), "page {pages} ({order})");
            let logs = logs_of(&answer);
            for log in logs {
                let id: u64 = log["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .unwrap_or_else(|| panic!("a numeric id string in {log}"));
                let timestamp = parse_time(log["timestamp"].as_str().expect("timestamp"));
                let seq = seq_of(log);
                assert_eq!(timestamp, time_of(seq as usize), "{log}");
                keys.push((timestamp, id));
                seqs.push(seq);
            }
            match answer["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(logs.len(), 100, "a full page before the last ({order})");
                    cursor = Some(next.to_string());
                }
                None => break,
            }
        }
        assert_eq!(keys.len(), expected, "{filter} ({order}) visited");
        let ids: HashSet<u64> = keys.iter().map(|(_, id)| *id).collect();
        assert_eq!(ids.len(), expected, "{filter} ({order}): an id came twice");
        let distinct: HashSet<i64> = seqs.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            expected,
            "{filter} ({order}): a record came twice"
        );
        let range = if expected == RECORDS {
            0..RECORDS as i64
        } else {
            1000..2000
        };
        assert!(range.clone().all(|seq| distinct.contains(&seq)), "a gap");
        let in_order = keys.windows(2).all(|pair| match order {
            "asc" => pair[0] < pair[1],
            _ => pair[0] > pair[1],
        });
        assert!(
            in_order,
            "{filter}: not in {order} order by (timestamp, id)"
        );
        assert_eq!(pages, expected.div_ceil(100), "{filter} ({order})");
    }
}

#[test]
fn search_pagination_and_histogram_span_several_day_indexes() {
    const DAYS: u64 = 4;
    const PER_DAY: usize = 150;
    const DAY: u64 = 24 * 60 * MINUTE;
    let server = start_server();
    // Two records per millisecond, the same minute on each of four UTC
    // days; sent interleaved in one request, so the index writes more
    // days at once than it keeps writers open for.
    let bases: Vec<u64> = (0..DAYS)
        .map(|day| ms_aligned_ago(day * DAY + 10 * MINUTE))
        .collect();
    let time_of = |day: u64, i: usize| bases[day as usize] + (i / 2) as u64 * MS;
    let seq_of_record = |day: u64, i: usize| (day * 1000) as i64 + i as i64;
    let mut records = Vec::new();
    for i in 0..PER_DAY {
        for day in 0..DAYS {
            records.push(log_record(
                time_of(day, i),
                if i % 3 == 0 { 17 } else { 9 },
                "",
                &format!("dayrecord d{day} n{i}"),
                vec![kv_int("seq", seq_of_record(day, i))],
            ));
        }
    }
    server.export_logs(&logs_request(vec![resource_logs("days", records)]));
    let all = (DAYS as usize * PER_DAY) as u64;
    server.wait_for_logs(&[("q", "dayrecord"), ("lookback", "5d")], all);

    for day in 0..DAYS {
        let word = format!("d{day}");
        let answer = server.search_logs(&[("q", &word), ("lookback", "5d")]);
        assert_eq!(answer["total"], json!(PER_DAY), "{word}");
        let errors = server.search_logs(&[("q", &word), ("lookback", "5d"), ("level", "error")]);
        assert_eq!(errors["total"], json!(PER_DAY / 3), "{word} errors");
    }
    // Only the days a range touches count.
    let answer = server.search_logs(&[("q", "dayrecord")]);
    assert_eq!(
        answer["total"],
        json!(PER_DAY),
        "the last hour is today's day only"
    );

    // A range that starts inside one day and ends inside the next.
    let start = rfc3339(time_of(2, 50));
    let end = rfc3339(time_of(1, 99) + MS / 2);
    let mut cut: Vec<i64> = (50..PER_DAY)
        .map(|i| seq_of_record(2, i))
        .chain((0..100).map(|i| seq_of_record(1, i)))
        .collect();
    cut.sort_unstable();

    let full_range = [("lookback", "5d")];
    let cut_range = [("start", start.as_str()), ("end", end.as_str())];
    for (range, expected_total) in [(&full_range[..], all), (&cut_range[..], 200)] {
        for order in ["desc", "asc"] {
            let mut keys: Vec<(u64, u64)> = Vec::new();
            let mut seqs: Vec<i64> = Vec::new();
            let mut cursor: Option<String> = None;
            for page in 1.. {
                assert!(page <= 20, "too many pages");
                let mut params = vec![("q", "dayrecord"), ("order", order), ("limit", "100")];
                params.extend_from_slice(range);
                if let Some(cursor) = &cursor {
                    params.push(("cursor", cursor.as_str()));
                }
                let answer = server.search_logs(&params);
                assert_eq!(answer["total"], json!(expected_total), "{params:?}");
                for log in logs_of(&answer) {
                    let id: u64 = log["id"]
                        .as_str()
                        .and_then(|id| id.parse().ok())
                        .expect("id");
                    keys.push((parse_time(log["timestamp"].as_str().expect("time")), id));
                    seqs.push(seq_of(log));
                }
                match answer["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_string()),
                    None => break,
                }
            }
            assert_eq!(keys.len() as u64, expected_total, "{range:?} {order}");
            let in_order = keys.windows(2).all(|pair| match order {
                "asc" => pair[0] < pair[1],
                _ => pair[0] > pair[1],
            });
            assert!(in_order, "{range:?}: not in {order} order");
            seqs.sort_unstable();
            let before = seqs.len();
            seqs.dedup();
            assert_eq!(seqs.len(), before, "{range:?} {order}: a record came twice");
            if expected_total == 200 {
                assert_eq!(seqs, cut, "{range:?} {order}");
            }
        }
    }

    // Histogram over the days: per bucket, the records in it.
    let (status, answer) = server.get_query(
        "/api/logs/histogram",
        &[("q", "dayrecord"), ("lookback", "5d"), ("buckets", "10")],
    );
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut sum = 0;
    for bucket in answer["buckets"].as_array().expect("buckets") {
        let from = parse_time(bucket["start"].as_str().expect("start"));
        let to = parse_time(bucket["end"].as_str().expect("end"));
        let expected = (0..DAYS)
            .flat_map(|day| (0..PER_DAY).map(move |i| (day, i)))
            .filter(|(day, i)| (from..to).contains(&time_of(*day, *i)))
            .count() as u64;
        let counted: u64 = bucket["counts"]
            .as_object()
            .expect("counts")
            .values()
            .map(|count| count.as_u64().expect("count"))
            .sum();
        assert_eq!(counted, expected, "{bucket}");
        sum += counted;
    }
    assert_eq!(sum, all, "{answer}");
}

#[test]
fn histogram_counts_add_up_to_the_search_total_per_severity() {
    let server = start_server();
    let corpus = Corpus::generate();
    corpus.ingest(&server);
    let first = corpus.entries[0].time;
    let last = corpus.entries[CORPUS_SIZE - 1].time;
    let start = rfc3339(first - SECOND);
    let end = rfc3339(last + SECOND);
    let range_start = first - SECOND;
    let trace0 = corpus.trace_hex(0);

    let cases: Vec<(Vec<(&str, &str)>, Wanted)> = vec![
        (vec![], w(|_| true)),
        (vec![("q", "timeout")], w(|e| e.timeout)),
        (
            vec![("service", "checkout"), ("level", "warn")],
            w(|e| e.service == "checkout" && e.severity >= 13),
        ),
        (
            vec![("q", "attr.status:>=500 OR cache")],
            w(|e| e.status >= 500 || e.cache),
        ),
        (
            vec![("trace_id", trace0.as_str())],
            w(|e| e.trace == Some(0)),
        ),
    ];
    for (params, wanted) in &cases {
        for buckets in ["1", "7", "60"] {
            let mut full = params.clone();
            full.extend([("start", start.as_str()), ("end", end.as_str())]);
            let total = server.search_logs(&full)["total"].as_u64().expect("total");
            full.push(("buckets", buckets));
            let (status, answer) = server.get_query("/api/logs/histogram", &full);
            assert_eq!(status, StatusCode::OK, "{answer}");
            let list = answer["buckets"].as_array().expect("buckets");
            assert!(
                !list.is_empty() && list.len() <= buckets.parse::<usize>().expect("a number"),
                "{params:?}: {} buckets for {buckets}",
                list.len()
            );
            let mut sum = 0;
            let mut per_level: BTreeMap<String, u64> = BTreeMap::new();
            let mut previous_end = range_start;
            for bucket in list {
                let bucket_start = parse_time(bucket["start"].as_str().expect("start"));
                let bucket_end = parse_time(bucket["end"].as_str().expect("end"));
                assert_eq!(
                    bucket_start, previous_end,
                    "buckets are contiguous: {answer}"
                );
                assert!(bucket_end > bucket_start, "{answer}");
                previous_end = bucket_end;
                let counts = bucket["counts"].as_object().expect("counts");
                let mut expected: BTreeMap<String, u64> = BTreeMap::new();
                for entry in corpus.entries.iter().filter(|e| wanted(e)) {
                    if (bucket_start..bucket_end).contains(&entry.time) {
                        *expected.entry(entry.severity_name.to_string()).or_default() += 1;
                    }
                }
                let actual: BTreeMap<String, u64> = counts
                    .iter()
                    .map(|(level, count)| (level.clone(), count.as_u64().expect("a count")))
                    .filter(|(_, count)| *count > 0)
                    .collect();
                assert_eq!(actual, expected, "{params:?} bucket {bucket}");
                for (level, count) in actual {
                    sum += count;
                    *per_level.entry(level).or_default() += count;
                }
            }
            assert!(previous_end > last + SECOND, "the buckets cover the range");
            assert_eq!(sum, total, "{params:?} with {buckets} buckets");
            let mut expected_levels: BTreeMap<String, u64> = BTreeMap::new();
            for entry in corpus.entries.iter().filter(|e| wanted(e)) {
                *expected_levels
                    .entry(entry.severity_name.to_string())
                    .or_default() += 1;
            }
            assert_eq!(per_level, expected_levels, "{params:?}");
        }
    }

    // The default range (the last hour) and bucket count.
    let (status, answer) = server.get_query("/api/logs/histogram", &[("q", "cache")]);
    assert_eq!(status, StatusCode::OK, "{answer}");
    let list = answer["buckets"].as_array().expect("buckets");
    assert_eq!(list.len(), 60, "{answer}");
    let sum: u64 = list
        .iter()
        .flat_map(|bucket| bucket["counts"].as_object().expect("counts").values())
        .map(|count| count.as_u64().expect("count"))
        .sum();
    assert_eq!(sum, corpus.expected(&|e| e.cache).len() as u64);
}
