//! Live tail over SSE: only new records that match.

use super::*;

/// One `/api/logs/tail` connection, read incrementally.
struct Tail {
    response: reqwest::blocking::Response,
    pending: Vec<u8>,
}

impl Tail {
    fn connect(server: &TestServer, params: &[(&str, &str)]) -> Tail {
        let url = reqwest::Url::parse_with_params(&server.url("/api/logs/tail"), params)
            .expect("a tail URL");
        // The total timeout bounds every read of the stream.
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a client");
        let response = client.get(url).send().expect("GET /api/logs/tail");
        assert_eq!(response.status(), StatusCode::OK, "tail {params:?}");
        let content_type = content_type_of(&response);
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Tail {
            response,
            pending: Vec::new(),
        }
    }

    /// The records of the next `data:` events until one whose body is
    /// `last`, in arrival order.
    fn records_until(&mut self, last: &str, deadline: Instant) -> Vec<Value> {
        let mut records = Vec::new();
        loop {
            while let Some(end) = find(&self.pending, b"\n\n") {
                let event: Vec<u8> = self.pending.drain(..end + 2).collect();
                let event = String::from_utf8(event).expect("UTF-8 events");
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        let record: Value = serde_json::from_str(data.trim())
                            .unwrap_or_else(|e| panic!("data is not JSON ({e}): {data}"));
                        let done = record["body"] == json!(last);
                        records.push(record);
                        if done {
                            return records;
                        }
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {last:?} within the deadline; got {records:?}"
            );
            let mut buffer = [0u8; 8192];
            let read = self
                .response
                .read(&mut buffer)
                .unwrap_or_else(|error| panic!("reading the tail: {error}; got {records:?}"));
            assert!(read > 0, "the tail ended before {last:?}; got {records:?}");
            self.pending.extend_from_slice(&buffer[..read]);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[test]
fn live_tail_sends_new_matching_records_only() {
    let server = start_server();
    let now = now_nanos();
    // Indexed before anyone connects: never sent.
    server.export_logs(&logs_request(vec![
        resource_logs(
            "checkout",
            vec![log_record(now - SECOND, 21, "", "tailmark before", vec![])],
        ),
        resource_logs(
            "payments",
            vec![log_record(now - SECOND, 21, "", "payments before", vec![])],
        ),
    ]));
    server.wait_for_logs(&[("q", "before")], 2);

    let mut filtered = Tail::connect(
        &server,
        &[
            ("q", "tailmark"),
            ("service", "checkout"),
            ("level", "warn"),
        ],
    );
    let mut payments = Tail::connect(&server, &[("service", "payments")]);
    let mut errors = Tail::connect(&server, &[("level", "error")]);
    let mut coded = Tail::connect(&server, &[("q", "-tailmark attr.code:>=500")]);

    let t = now_nanos();
    server.export_logs(&logs_request(vec![
        resource_logs(
            "checkout",
            vec![
                log_record(t, 13, "", "tailmark alpha", vec![kv_int("code", 500)]),
                log_record(t, 9, "", "tailmark beta", vec![]),
            ],
        ),
        resource_logs(
            "payments",
            vec![log_record(t, 17, "", "tailmark gamma", vec![])],
        ),
        resource_logs(
            "checkout",
            vec![
                log_record(t, 17, "", "other delta", vec![kv_int("code", 503)]),
                log_record(t, 21, "", "tailmark epsilon", vec![]),
            ],
        ),
    ]));
    let lines = [
        json!({"service": "checkout", "level": "error", "msg": "tailmark zeta"}).to_string(),
        json!({"service": "payments", "level": "info", "msg": "zeta two", "code": 200}).to_string(),
    ];
    let answer = server.post_json_lines(&lines.join("\n"));
    assert_eq!(answer["accepted"], json!(2), "{answer}");
    server.export_logs(&logs_request(vec![
        resource_logs(
            "checkout",
            vec![log_record(t, 21, "", "tailmark end", vec![])],
        ),
        resource_logs(
            "payments",
            vec![log_record(
                t,
                21,
                "",
                "payments end",
                vec![kv_int("code", 500)],
            )],
        ),
    ]));

    let deadline = Instant::now() + Duration::from_secs(8);
    let got = filtered.records_until("tailmark end", deadline);
    assert_eq!(
        bodies(&got),
        [
            "tailmark alpha",
            "tailmark epsilon",
            "tailmark zeta",
            "tailmark end"
        ]
    );
    let alpha = &got[0];
    assert_eq!(alpha["service"], json!("checkout"));
    assert_eq!(alpha["severity_text"], json!("WARN"));
    assert_eq!(alpha["timestamp"], json!(rfc3339(t)));
    assert!(alpha["id"].as_str().is_some_and(|id| !id.is_empty()));

    let got = payments.records_until("payments end", deadline);
    assert_eq!(bodies(&got), ["tailmark gamma", "zeta two", "payments end"]);

    let got = errors.records_until("payments end", deadline);
    assert_eq!(
        bodies(&got),
        [
            "tailmark gamma",
            "other delta",
            "tailmark epsilon",
            "tailmark zeta",
            "tailmark end",
            "payments end"
        ]
    );

    let with_codes = coded.records_until("payments end", deadline);
    assert_eq!(bodies(&with_codes), ["other delta", "payments end"]);

    // The ids are the ones search shows.
    let searched = the_log(&server, "\"tailmark zeta\"");
    assert_eq!(got[3]["id"], searched["id"]);

    // A bad tail query is refused before streaming.
    let (status, answer) = server.get_query("/api/logs/tail", &[("q", "(unclosed")]);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    drop((filtered, payments, errors, coded));
    // A graceful stop waits for the event streams of the closed tail
    // connections (see process::sigterm_with_a_live_logs_tail_connected_exits_promptly);
    // it finishes in the background so that this test covers the tail only.
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(server);
        let _ = done.send(());
    });
    let _ = stopped.recv_timeout(Duration::from_secs(2));
}
