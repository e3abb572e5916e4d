//! Log↔trace correlation: the logs of one trace.

use super::*;

#[test]
fn trace_logs_are_the_logs_carrying_that_trace_id() {
    let server = start_server();
    let (stored_trace, export) = single_span_trace("checkout", "POST /pay", 2 * MINUTE);
    server.export(&export);
    let stored_bytes = hex::decode(&stored_trace).expect("hex");
    let span_id = new_span_id();
    let other_trace = new_trace_id();
    let unknown_trace = hex(&new_trace_id());
    let t = now_nanos() - 2 * MINUTE;
    server.export_logs(&logs_request(vec![
        resource_logs(
            "checkout",
            vec![
                in_span(
                    log_record(t + 3 * MS, 9, "", "traced third", vec![]),
                    &stored_bytes,
                    &span_id,
                ),
                in_span(
                    log_record(t + MS, 9, "", "traced first", vec![]),
                    &stored_bytes,
                    &span_id,
                ),
                log_record(t + 2 * MS, 9, "", "untraced", vec![]),
                in_span(
                    log_record(t + 2 * MS, 17, "", "other trace", vec![]),
                    &other_trace,
                    &new_span_id(),
                ),
            ],
        ),
        resource_logs(
            "payments",
            vec![in_span(
                log_record(t + 2 * MS, 17, "", "traced second", vec![]),
                &stored_bytes,
                &new_span_id(),
            )],
        ),
    ]));
    server.wait_for_logs(&[], 5);

    let answer = server.get_ok(&format!("/api/traces/{stored_trace}/logs"));
    assert_eq!(answer["total"], json!(3), "{answer}");
    assert_eq!(
        bodies(logs_of(&answer)),
        ["traced first", "traced second", "traced third"],
        "oldest first"
    );
    assert!(logs_of(&answer)
        .iter()
        .all(|log| log["trace_id"] == json!(stored_trace)));
    let desc = server.get_ok(&format!("/api/traces/{stored_trace}/logs?order=desc"));
    assert_eq!(
        bodies(logs_of(&desc)),
        ["traced third", "traced second", "traced first"]
    );
    let errors_only = server.get_ok(&format!("/api/traces/{stored_trace}/logs?level=error"));
    assert_eq!(bodies(logs_of(&errors_only)), ["traced second"]);

    // The same through search.
    let by_param = server.search_logs(&[("trace_id", &stored_trace)]);
    assert_eq!(by_param["total"], json!(3));
    let by_query = server.search_logs(&[("q", &format!("trace_id:{stored_trace}"))]);
    assert_eq!(by_query["total"], json!(3));
    let by_span = server.search_logs(&[("q", &format!("span_id:{}", hex(&span_id)))]);
    assert_eq!(by_span["total"], json!(2));

    // Another trace's logs are its own; an id without logs has none.
    let other = server.get_ok(&format!("/api/traces/{}/logs", hex(&other_trace)));
    assert_eq!(bodies(logs_of(&other)), ["other trace"]);
    let (status, none) = server.get_json(&format!("/api/traces/{unknown_trace}/logs"));
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(none["total"], json!(0), "{none}");
    let (status, bad) = server.get_json("/api/traces/not-hex/logs");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
}
