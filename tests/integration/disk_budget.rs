//! `--max-disk`: under continuous trace, log and metric load the data
//! directory stays within the budget, ingest goes on, the oldest data goes
//! and what is kept has no holes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::metrics::{gauge, number, request as metrics_request};
use crate::support::*;

/// The smallest budget lookout accepts.
const BUDGET: u64 = 32 << 20;
const LOAD: Duration = Duration::from_secs(40);

fn random_text(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes / 2];
    getrandom::fill(&mut raw).expect("random");
    hex(&raw)
}

/// What the load acknowledged, in order.
#[derive(Default)]
struct Acked {
    traces: Vec<String>,
    /// The `seq` attribute of the log records, by batch.
    logs: Vec<u64>,
    refused: Vec<String>,
}

fn post(base: &str, path: &str, body: Vec<u8>, acked: &Mutex<Acked>) -> bool {
    let client = client();
    for _ in 0..50 {
        let response = client
            .post(format!("{base}{path}"))
            .header("content-type", PROTOBUF)
            .body(body.clone())
            .send()
            .expect("POST");
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return true;
        }
        if status == 503 {
            // Busy or indexing behind: the answer asks to retry.
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let text = response.text().unwrap_or_default();
        acked
            .lock()
            .expect("acked")
            .refused
            .push(format!("{path}: {status} {text}"));
        return false;
    }
    false
}

fn load(base: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Acked>>) {
    let mut seq = 0u64;
    let mut round = 0i64;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        // 20 spans of 2 KB of incompressible attributes each.
        let trace_id = new_trace_id();
        let start = now_nanos();
        let spans = (0..20)
            .map(|n| {
                let mut span = span(
                    &trace_id,
                    &new_span_id(),
                    None,
                    &format!("op{}", n % 4),
                    SpanKind::Server,
                    start,
                    start + 3 * MS,
                );
                span.attributes.push(kv_str("payload", &random_text(2_000)));
                span
            })
            .collect();
        let traces = request(vec![resource_spans("budgeted", vec![], spans)]);
        if post(
            &base,
            "/v1/traces",
            prost::Message::encode_to_vec(&traces),
            &acked,
        ) {
            acked.lock().expect("acked").traces.push(hex(&trace_id));
        }
        // 20 log records of 1 KB each, numbered.
        let first = seq + 1;
        let records = (0..20)
            .map(|_| {
                seq += 1;
                log_record(
                    now_nanos(),
                    9,
                    "INFO",
                    &format!("budgeted {}", random_text(1_000)),
                    vec![kv_int("seq", seq as i64)],
                )
            })
            .collect();
        let logs = logs_request(vec![resource_logs("budgeted", records)]);
        if post(
            &base,
            "/v1/logs",
            prost::Message::encode_to_vec(&logs),
            &acked,
        ) {
            acked.lock().expect("acked").logs.extend(first..=seq);
        }
        let now_ms = (now_nanos() / MS) as i64;
        let metrics = metrics_request(
            "budgeted",
            vec![gauge(
                "budget_load",
                (0..10)
                    .map(|n| number(vec![kv_str("n", &n.to_string())], 0, now_ms, round as f64))
                    .collect(),
            )],
        );
        post(
            &base,
            "/v1/metrics",
            prost::Message::encode_to_vec(&metrics),
            &acked,
        );
    }
}

#[test]
fn the_data_directory_stays_within_max_disk_under_continuous_load() {
    let server = TestServer::start_with(|config| config.max_disk = Some(BUDGET));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let loader = {
        let (base, stop, acked) = (server.url(""), Arc::clone(&stop), Arc::clone(&acked));
        std::thread::spawn(move || load(base, stop, acked))
    };
    let mut samples = Vec::new();
    // MiB every second: total (database + log indexes).
    let mut shown = Vec::new();
    let began = Instant::now();
    while began.elapsed() < LOAD {
        std::thread::sleep(Duration::from_secs(1));
        let usage = lookout::store::usage::measure(server.data_dir()).unwrap_or_default();
        samples.push(usage.total);
        shown.push(format!(
            "{:.1} ({:.1} + {:.1})",
            usage.total as f64 / 1_048_576.0,
            usage.sqlite as f64 / 1_048_576.0,
            usage.logs as f64 / 1_048_576.0
        ));
    }
    stop.store(true, Ordering::SeqCst);
    loader.join().expect("loader");
    server.flush();
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    assert!(acked.refused.is_empty(), "refused: {:?}", acked.refused);

    let mebibytes = |bytes: &u64| format!("{:.1}", *bytes as f64 / 1_048_576.0);
    let metrics = server.get("/metrics").text().expect("metrics");
    let deleted_spans = metric_value(
        &metrics,
        "lookout_retention_deleted_total{signal=\"spans\",reason=\"disk\"}",
    )
    .unwrap_or(0.0);
    let deleted_logs = metric_value(
        &metrics,
        "lookout_retention_deleted_total{signal=\"logs\",reason=\"disk\"}",
    )
    .unwrap_or(0.0);
    // The load wrote well beyond the budget, so deleting was needed.
    assert!(
        deleted_spans > 0.0 && deleted_logs > 0.0,
        "deleted {deleted_spans} spans, {deleted_logs} log records; MiB every second: {shown:?}"
    );
    // Deleting starts before the budget is full, by the rate it fills at.
    let first_fill = samples
        .iter()
        .position(|&total| total as f64 >= BUDGET as f64 * 0.5)
        .unwrap_or_else(|| panic!("the budget never half filled: {shown:?}"));
    let worst = samples[first_fill..].iter().max().copied().unwrap_or(0);
    assert!(
        worst as f64 <= BUDGET as f64 * 1.05,
        "{} MiB at worst against a budget of {} MiB; MiB every second: {shown:?}",
        mebibytes(&worst),
        mebibytes(&BUDGET)
    );

    // The newest data is there, the oldest is gone.
    let (first, last) = (
        acked.traces.first().expect("traces"),
        acked.traces.last().expect("traces"),
    );
    assert_eq!(server.get(&format!("/api/traces/{last}")).status(), 200);
    assert_eq!(server.get(&format!("/api/traces/{first}")).status(), 404);
    // The kept log records are one run of the newest, without holes.
    let mut kept = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/logs?lookback=1h&q=budgeted&order=asc&limit=1000".to_string();
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = server.get_ok(&path);
        for log in page["logs"].as_array().expect("logs") {
            kept.push(log["attributes"]["seq"].as_u64().expect("seq"));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let newest = *acked.logs.last().expect("logs");
    assert!(!kept.is_empty(), "no log records kept");
    assert_eq!(
        kept.last().copied(),
        Some(newest),
        "the newest record is kept"
    );
    assert!(kept[0] > 1, "the oldest records are gone");
    let expected: Vec<u64> = (kept[0]..=newest).collect();
    assert!(
        kept == expected,
        "holes in the kept records {}..={newest}",
        kept[0]
    );

    // Stats and health show use against the budget and the retention.
    let stats = server.get_ok("/api/stats");
    assert_eq!(stats["disk"]["budget_bytes"], BUDGET, "{stats}");
    assert!(stats["disk"]["deleted_before"].is_string(), "{stats}");
    let age = stats["retention"]["logs"]["age_seconds"]
        .as_f64()
        .expect("age");
    assert!(age < LOAD.as_secs_f64(), "{stats}");
    let health = server.get_ok("/health/deep");
    assert_eq!(health["checks"]["disk"]["budget_bytes"], BUDGET, "{health}");
}

#[test]
fn a_budget_too_small_to_work_is_refused_with_the_minimum() {
    let options = lookout::config::parse_from(["lookout", "--max-disk", "8MiB"]).expect("parses");
    let lookout::config::Invocation::Serve { options, .. } = options else {
        panic!("serve");
    };
    let error = lookout::config::Config::resolve(&options).expect_err("too small");
    assert!(error.to_string().contains("minimum is 32 MiB"), "{error}");
}
