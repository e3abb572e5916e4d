//! Error tracking end to end: exceptions on span events and log records
//! (real OTLP payloads) grouped by fingerprint, counted per minute and per
//! release, resolved, ignored, reopened and regressed.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    hex, in_span, kv_str, log_record, logs_request, new_span_id, new_trace_id, now_nanos, request,
    resource_spans, span, TestServer, MINUTE, MS,
};

/// A Python traceback whose innermost in-app frame is `function` in
/// `file`, under a library frame (which the fingerprint skips).
pub fn python_traceback(file: &str, function: &str, message: &str) -> String {
    format!(
        "Traceback (most recent call last):\n  File \"/srv/app/handlers.py\", line 20, in handle\n    result = {function}(order)\n  File \"/srv/app/{file}\", line 42, in {function}\n    raise ValueError(\"{message}\")\n  File \"/usr/lib/python3.12/site-packages/lib/core.py\", line 7, in check\n    raise\nValueError: {message}\n"
    )
}

fn exception_attributes(type_name: &str, message: &str, stacktrace: &str) -> Vec<KeyValue> {
    vec![
        kv_str("exception.type", type_name),
        kv_str("exception.message", message),
        kv_str("exception.stacktrace", stacktrace),
    ]
}

fn exception_event(time: u64, attributes: Vec<KeyValue>) -> Event {
    Event {
        time_unix_nano: time,
        name: "exception".into(),
        attributes,
        ..Default::default()
    }
}

/// A one-span trace of `service` (release `release`) at `time` that
/// records `attributes` as an exception; returns the request and the
/// trace's hex id.
fn failing_span(
    service: &str,
    release: &str,
    time: u64,
    attributes: Vec<KeyValue>,
) -> (
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    String,
) {
    let trace_id = new_trace_id();
    let mut root = span(
        &trace_id,
        &new_span_id(),
        None,
        "POST /orders",
        SpanKind::Server,
        time,
        time + 5 * MS,
    );
    root.events = vec![exception_event(time + MS, attributes)];
    let resource = vec![
        kv_str("service.version", release),
        kv_str("deployment.environment.name", "prod"),
    ];
    (
        request(vec![resource_spans(service, resource, vec![root])]),
        hex(&trace_id),
    )
}

fn groups(server: &TestServer, query: &str) -> Vec<Value> {
    let body = server.get_ok(&format!("/api/errors?{query}"));
    body["groups"].as_array().cloned().unwrap_or_default()
}

fn act(server: &TestServer, id: &str, action: &str) -> (StatusCode, Value) {
    let response = server.post_json(&format!("/api/errors/{id}/{action}"), &Value::Null);
    let status = response.status();
    let body = response.json().unwrap_or(Value::Null);
    (status, body)
}

/// A minute boundary a few minutes ago, so every occurrence falls in a
/// known minute.
fn minute_ago(minutes: u64) -> u64 {
    let now = now_nanos();
    now - now % MINUTE - minutes * MINUTE
}

#[test]
fn the_same_exception_with_other_numbers_is_one_group_and_other_frames_are_another() {
    let server = TestServer::start();
    let t0 = minute_ago(5);
    let mut traces = Vec::new();
    // Three occurrences, two minutes, different order numbers and ids.
    for (offset, order) in [(0, "123"), (10, "456"), (MINUTE / 1_000_000_000 + 5, "789")] {
        let message =
            format!("order {order} not found (request 7f3a9c2e-1b2d-4c5e-8f90-{order}abcdef123)");
        let (export, trace) = failing_span(
            "orders",
            "1.0.0",
            t0 + offset * 1_000_000_000,
            exception_attributes(
                "ValueError",
                &message,
                &python_traceback("orders.py", "find_order", &message),
            ),
        );
        server.export(&export);
        traces.push(trace);
    }
    // The same type and message from another function: another group.
    let (export, _) = failing_span(
        "orders",
        "1.0.0",
        t0 + 30 * 1_000_000_000,
        exception_attributes(
            "ValueError",
            "order 1 not found",
            &python_traceback("billing.py", "charge_order", "order 1 not found"),
        ),
    );
    server.export(&export);
    // A retried batch is counted once.
    let (retried, _) = failing_span(
        "orders",
        "1.0.0",
        t0 + 40 * 1_000_000_000,
        exception_attributes("KeyError", "'sku'", ""),
    );
    server.export(&retried);
    server.export(&retried);
    server.flush();

    let list = groups(&server, "lookback=1h");
    assert_eq!(list.len(), 3, "{list:#?}");
    let find = |stack_file: &str| {
        list.iter()
            .find(|group| {
                group["sample"]["stacktrace"]
                    .as_str()
                    .is_some_and(|text| text.contains(stack_file))
            })
            .unwrap_or_else(|| panic!("a group from {stack_file}: {list:#?}"))
    };
    let orders = find("orders.py");
    assert_eq!(orders["type"], "ValueError");
    assert_eq!(orders["message"], "order <n> not found (request <uuid>)");
    assert_eq!(orders["count"], 3);
    assert_eq!(orders["total_count"], 3);
    assert_eq!(orders["service"], "orders");
    assert_eq!(orders["status"], "open");
    assert_eq!(orders["releases"], serde_json::json!(["1.0.0"]));
    assert_eq!(orders["environments"], serde_json::json!(["prod"]));
    assert_eq!(
        orders["sample"]["trace_id"],
        traces[2].as_str(),
        "the newest occurrence is the sample"
    );
    assert!(orders["sample"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("789"));
    assert_eq!(orders["sample"]["source"], "span");
    assert_eq!(orders["fingerprint"].as_str().map(str::len), Some(32));
    assert_eq!(find("billing.py")["count"], 1);
    let key_error = list
        .iter()
        .find(|g| g["type"] == "KeyError")
        .expect("the KeyError group");
    assert_eq!(key_error["count"], 1, "a retried span counts once");

    // Counts per minute are exact.
    let id = orders["id"].as_str().expect("an id");
    let detail = server.get_ok(&format!("/api/errors/{id}?lookback=1h&step=1m"));
    let series = detail["series"].as_array().expect("series");
    let counted: Vec<u64> = series
        .iter()
        .filter(|point| point["count"].as_u64().unwrap_or(0) > 0)
        .map(|point| point["count"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(counted, vec![2, 1], "{series:#?}");
    let first_minute = series
        .iter()
        .find(|point| point["count"] == 2)
        .expect("the minute with two");
    assert_eq!(
        first_minute["time"],
        crate::support::rfc3339(t0),
        "the minute of the first two occurrences"
    );
    assert_eq!(detail["releases_detail"][0]["count"], 3);
    assert_eq!(detail["services"], serde_json::json!(["orders"]));
    let metrics = server.metrics_text();
    assert_eq!(
        crate::support::metric_value(&metrics, "lookout_errors_total"),
        Some(5.0)
    );
}

#[test]
fn a_logged_exception_joins_the_group_of_the_same_exception_on_a_span() {
    let server = TestServer::start();
    let t0 = minute_ago(2);
    let stack = python_traceback("payments.py", "capture", "card 4242 declined");
    let (export, _) = failing_span(
        "payments",
        "2.0.0",
        t0,
        exception_attributes("CardError", "card 4242 declined", &stack),
    );
    server.export(&export);
    let trace_id = new_trace_id();
    let span_id = new_span_id();
    let record = in_span(
        log_record(
            t0 + MINUTE / 2,
            17,
            "ERROR",
            "capture failed",
            exception_attributes("CardError", "card 9999 declined", &stack),
        ),
        &trace_id,
        &span_id,
    );
    let mut resource = crate::support::resource_logs("payments", vec![record]);
    if let Some(resource) = resource.resource.as_mut() {
        resource.attributes.push(kv_str("service.version", "2.0.0"));
    }
    let response = server.post_protobuf("/v1/logs", &logs_request(vec![resource]));
    assert_eq!(response.status(), StatusCode::OK);
    // JSON lines with the attributes flattened the same way.
    let line = serde_json::json!({
        "timestamp": crate::support::rfc3339(t0 + MINUTE / 2 + 1_000_000_000),
        "level": "error", "message": "capture failed", "service": "payments",
        "exception.type": "CardError", "exception.message": "card 1111 declined",
        "exception.stacktrace": stack,
    });
    let answer = server.post_json_lines(&format!("{line}\n"));
    assert_eq!(answer["accepted"], 1, "{answer}");
    server.flush();

    let list = groups(&server, "service=payments");
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["count"], 3);
    assert_eq!(list[0]["message"], "card <n> declined");
    assert_eq!(list[0]["sample"]["source"], "log");
    let detail = server.get_ok(&format!(
        "/api/errors/{}",
        list[0]["id"].as_str().unwrap_or("")
    ));
    assert_eq!(detail["count"], 3);
    // The OTLP record carried trace context; the JSON line is newer and
    // has none, so the sample is the JSON line's.
    assert_eq!(detail["sample"]["message"], "card 1111 declined");
    assert!(detail["sample"]["trace_id"].is_null());
}

#[test]
fn a_resolved_group_that_happens_again_is_regressed_and_an_ignored_one_stays_ignored() {
    let server = TestServer::start();
    let send = |type_name: &str, time: u64| {
        let (export, _) = failing_span(
            "shop",
            "1.0.0",
            time,
            exception_attributes(type_name, "boom", ""),
        );
        server.export(&export);
        server.flush();
    };
    let t0 = minute_ago(3);
    send("TimeoutError", t0);
    send("PermissionError", t0);
    let list = groups(&server, "");
    let id_of = |type_name: &str| {
        list.iter()
            .find(|group| group["type"] == type_name)
            .and_then(|group| group["id"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("a {type_name} group"))
    };
    let (timeout, permission) = (id_of("TimeoutError"), id_of("PermissionError"));

    let (status, body) = act(&server, &timeout, "resolve");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    assert!(body["resolved_at"].is_string());
    let (status, body) = act(&server, &permission, "ignore");
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );

    // Both happen again, now.
    let now = now_nanos();
    send("TimeoutError", now);
    send("PermissionError", now);
    let detail = server.get_ok(&format!("/api/errors/{timeout}"));
    assert_eq!(detail["status"], "regressed");
    assert_eq!(detail["count"], 2);
    let detail = server.get_ok(&format!("/api/errors/{permission}"));
    assert_eq!(detail["status"], "ignored");

    // A status filter, and reopening.
    let regressed = groups(&server, "status=regressed");
    assert_eq!(regressed.len(), 1);
    assert_eq!(regressed[0]["id"], timeout.as_str());
    let (status, body) = act(&server, &permission, "reopen");
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("open"))
    );
    assert_eq!(groups(&server, "status=open,regressed").len(), 2);

    // Each action is in the audit log, newest first, with its group.
    let audit = server.get_ok("/api/audit?action=error_group.");
    let seen: Vec<(String, String)> = audit["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            assert_eq!(e["outcome"], "ok", "{e}");
            (
                e["action"].as_str().unwrap_or("").to_string(),
                e["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("error_group.reopen".to_string(), permission.clone()),
            ("error_group.ignore".to_string(), permission.clone()),
            ("error_group.resolve".to_string(), timeout.clone()),
        ],
        "{audit}"
    );

    // Unknown groups and actions.
    assert_eq!(act(&server, "999999", "resolve").0, StatusCode::NOT_FOUND);
    assert_eq!(act(&server, "abc", "resolve").0, StatusCode::NOT_FOUND);
    assert_eq!(act(&server, &timeout, "delete").0, StatusCode::NOT_FOUND);
    assert_eq!(
        server.get("/api/errors/424242").status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn groups_filter_by_release_and_environment_sort_by_count_and_page() {
    let server = TestServer::start();
    let t0 = minute_ago(4);
    // Release 1.0 has errors A (1) and B (3); release 2.0 adds C (2), new.
    let plan = [("A", "1.0", 1), ("B", "1.0", 3), ("C", "2.0", 2)];
    for (index, (type_name, release, count)) in plan.iter().enumerate() {
        for n in 0..*count {
            let time = t0
                + (index as u64 * 10 + n) * 1_000_000_000
                + if *release == "2.0" { MINUTE } else { 0 };
            let (export, _) = failing_span(
                "api",
                release,
                time,
                exception_attributes(type_name, "failed", ""),
            );
            server.export(&export);
        }
    }
    server.flush();
    let types = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|group| group["type"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(types(&groups(&server, "sort=count")), vec!["B", "C", "A"]);
    assert_eq!(types(&groups(&server, "release=2.0")), vec!["C"]);
    assert_eq!(groups(&server, "environment=prod").len(), 3);
    assert!(groups(&server, "environment=staging").is_empty());
    let by_type = |type_name: &str| {
        groups(&server, "")
            .into_iter()
            .find(|group| group["type"] == type_name)
            .expect("the group")
    };
    assert_eq!(
        by_type("C")["new_in_release"],
        true,
        "first seen in the newest of two releases"
    );
    assert_eq!(by_type("C")["first_release"], "2.0");
    assert_eq!(by_type("A")["new_in_release"], false);

    // Pages of one.
    let first = server.get_ok("/api/errors?sort=count&limit=1");
    assert_eq!(
        types(first["groups"].as_array().expect("groups")),
        vec!["B"]
    );
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = server.get_ok(&format!("/api/errors?sort=count&limit=1&cursor={cursor}"));
    assert_eq!(
        types(second["groups"].as_array().expect("groups")),
        vec!["C"]
    );
    let third = server.get_ok(&format!(
        "/api/errors?sort=count&limit=1&cursor={}",
        second["next_cursor"].as_str().expect("a third page")
    ));
    assert_eq!(
        types(third["groups"].as_array().expect("groups")),
        vec!["A"]
    );
    assert!(third["next_cursor"].is_null());

    // Bad parameters.
    for bad in [
        "sort=name",
        "status=closed",
        "limit=0",
        "cursor=xyz",
        "lookback=soon",
    ] {
        let (status, body) = server.get_json(&format!("/api/errors?{bad}"));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
}

#[test]
fn an_error_group_rule_fires_on_a_new_group_with_its_labels() {
    use crate::alerts::{alert_server, create_rule, post, wait_instances};
    let server = alert_server(std::time::Duration::from_secs(60));
    let rule = create_rule(
        &server,
        &serde_json::json!({
            "name": "new errors in shop", "kind": "error_group", "service": "shop",
            "query": "new", "condition": ">", "threshold": 0, "window_minutes": 5,
        }),
    );
    let (status, body) = post(
        &server,
        "/api/alerts/rules",
        &serde_json::json!({"name": "bad", "kind": "error_group", "query": "level:error", "threshold": 0}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "query");

    // Another service's error does not count.
    let (export, _) = failing_span(
        "billing",
        "1.0.0",
        now_nanos(),
        exception_attributes("IOError", "disk", ""),
    );
    server.export(&export);
    let (export, _) = failing_span(
        "shop",
        "1.0.0",
        now_nanos(),
        exception_attributes("ZeroDivisionError", "division by zero", ""),
    );
    server.export(&export);
    server.flush();
    let id = rule["id"].as_str().expect("rule id");
    let instances = wait_instances(&server, id, "a firing instance", |instances| {
        instances
            .iter()
            .any(|instance| instance["state"] == "firing")
    });
    assert_eq!(instances.len(), 1, "{instances:#?}");
    let labels = &instances[0]["labels"];
    assert_eq!(labels["error_type"], "ZeroDivisionError");
    assert_eq!(labels["service"], "shop");
    let group = groups(&server, "service=shop");
    assert_eq!(labels["error_group"], group[0]["id"]);
    assert_eq!(instances[0]["value"], 1.0);
}
