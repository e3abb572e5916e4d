//! Alerts end to end: rules through the API, the engine on a one-second
//! interval (and, where a test needs `for`, cooldown or repeat timing, a
//! one-second "minute"), real OTLP data, and notifications delivered to a
//! webhook receiver on a loopback port.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatusCode;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::metrics::{export as export_metrics, gauge, kv, number, request as metrics_request};
use crate::receiver::{Received, Receiver};
use crate::support::{
    log_record, logs_request, new_span_id, new_trace_id, now_nanos, request, resource_logs,
    resource_spans, span, status, TestServer, MS, SECOND,
};

const WAIT: Duration = Duration::from_secs(20);

/// A server evaluating every second; `minute` is the length of a rule
/// minute (for, keep firing, cooldown, repeat).
pub fn alert_server(minute: Duration) -> TestServer {
    TestServer::start_with(|config| {
        config.alerts.interval = Duration::from_secs(1);
        config.alerts.minute = minute;
    })
}

pub fn post(server: &TestServer, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = server.post_json(path, body);
    let status = response.status();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn create_rule(server: &TestServer, rule: &Value) -> Value {
    let (status, body) = post(server, "/api/alerts/rules", rule);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Instances of a rule, waiting until `done` holds.
pub fn wait_instances(
    server: &TestServer,
    rule_id: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let body = server.get_ok(&format!(
            "/api/alerts/instances?rule_id={rule_id}&limit=1000"
        ));
        let instances = body["instances"].as_array().cloned().unwrap_or_default();
        if done(&instances) {
            return instances;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {instances:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn wait_rule_state(server: &TestServer, rule_id: &str, state: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let rule = server.get_ok(&format!("/api/alerts/rules/{rule_id}"));
        if rule["state"] == state {
            return rule;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for state {state}: {rule}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn now_ms() -> i64 {
    (now_nanos() / MS) as i64
}

/// One gauge sample of `queue_depth{queue}` at now.
pub fn push_depth(server: &TestServer, queue: &str, value: f64) {
    let t = now_ms();
    let (status, response) = export_metrics(
        server,
        &metrics_request(
            "mailer",
            vec![gauge(
                "queue_depth",
                vec![number(vec![kv("queue", queue)], 0, t, value)],
            )],
        ),
    );
    assert_eq!(status, StatusCode::OK, "{response:?}");
    server.flush();
}

fn depth_rule(name: &str, extra: Value) -> Value {
    let mut rule = json!({
        "name": name,
        "kind": "metric",
        "metric": "queue_depth{queue=\"mail\"}",
        "condition": ">",
        "threshold": 10,
        "window_minutes": 5,
        "severity": "critical",
        "labels": {"team": "mail"},
    });
    if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            rule.insert(key.clone(), value.clone());
        }
    }
    rule
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn posts(received: &[Received], status: &str) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.json()["status"] == status)
        .cloned()
        .collect()
}

#[test]
fn rules_are_validated_stored_and_deleted() {
    let server = TestServer::start();
    for (body, field) in [
        (
            json!({"kind": "error_rate", "service": "a", "threshold": 1}),
            "name",
        ),
        (json!({"name": "x", "kind": "cpu", "threshold": 1}), "kind"),
        (
            json!({"name": "x", "kind": "error_rate", "threshold": 1}),
            "service",
        ),
        (
            json!({"name": "x", "kind": "error_rate", "service": "a", "threshold": "high"}),
            "threshold",
        ),
        (
            json!({"name": "x", "kind": "latency", "service": "a", "threshold": 1}),
            "percentile",
        ),
        (
            json!({"name": "x", "kind": "promql", "query": "sum(", "threshold": 1}),
            "query",
        ),
        (
            json!({"name": "x", "kind": "log_count", "query": "level:verbose", "threshold": 1}),
            "query",
        ),
        (
            json!({"name": "x", "kind": "metric", "metric": "up", "threshold": 1,
                   "channels": [{"type": "webhook", "url": "file:///etc/passwd"}]}),
            "channels[0].url",
        ),
        (
            json!({"name": "x", "kind": "metric", "metric": "up", "threshold": 1, "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, answer) = post(&server, "/api/alerts/rules", &body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or("");
        assert!(message.starts_with(&format!("field {field}")), "{message}");
    }
    assert!(server.get_ok("/api/alerts/rules")["rules"]
        .as_array()
        .is_some_and(Vec::is_empty));

    let rule = create_rule(
        &server,
        &depth_rule(
            "mail queue",
            json!({"channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s3cret"}]}),
        ),
    );
    let id = rule["id"].as_str().expect("an id").to_string();
    assert_eq!(rule["state"], "ok");
    assert_eq!(rule["repeat_minutes"], 240, "defaults filled in");
    assert_eq!(
        rule["channels"][0]["secret"], "********",
        "secrets are write-only"
    );
    let listed = server.get_ok("/api/alerts/rules");
    assert_eq!(listed["rules"][0]["id"], id.as_str());

    // A fetched rule sent back (masked secret included) keeps the secret.
    let mut changed = rule.clone();
    changed["threshold"] = json!(20);
    let response = server
        .client()
        .put(server.url(&format!("/api/alerts/rules/{id}")))
        .json(&changed)
        .send()
        .expect("PUT");
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().expect("json");
    assert_eq!(updated["threshold"], 20.0);
    assert_eq!(updated["channels"][0]["secret"], "********");

    // A fetched rule (masked secret, no name needed) can be dry-run as it is.
    let mut unnamed = updated.clone();
    unnamed["name"] = json!("");
    for path in [
        "/api/alerts/rules/evaluate",
        "/api/alerts/rules/preview?lookback=1h",
    ] {
        let (status, answer) = post(&server, path, &unnamed);
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
    let (status, evaluated) = post(
        &server,
        &format!("/api/alerts/rules/{id}/evaluate"),
        &json!({}),
    );
    assert_eq!(status, StatusCode::OK, "{evaluated}");
    assert_eq!(evaluated["value"], Value::Null, "no data yet");
    assert_eq!(evaluated["would_fire"], false);

    let response = server
        .client()
        .delete(server.url(&format!("/api/alerts/rules/{id}")))
        .send()
        .expect("DELETE");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = server.get_json(&format!("/api/alerts/rules/{id}"));
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.get_json("/api/alerts/instances?state=sleeping");
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn a_metric_rule_fires_notifies_a_signed_webhook_and_resolves() {
    let receiver = Receiver::start();
    let server = alert_server(Duration::from_secs(60));
    push_depth(&server, "mail", 3.0);
    let rule = create_rule(
        &server,
        &depth_rule(
            "mail queue",
            json!({"channels": [{"type": "webhook", "url": receiver.url("/hook"), "secret": "s3cret"}]}),
        ),
    );
    let rule_id = rule["id"].as_str().expect("id").to_string();
    wait_rule_state(&server, &rule_id, "ok");

    push_depth(&server, "mail", 42.0);
    let instances = wait_instances(&server, &rule_id, "a firing instance", |list| {
        list.iter().any(|i| i["state"] == "firing")
    });
    assert_eq!(instances.len(), 1);
    let instance = &instances[0];
    assert_eq!(instance["value"], 42.0);
    assert_eq!(instance["threshold"], 10.0);
    assert_eq!(instance["severity"], "critical");
    assert_eq!(instance["labels"]["team"], "mail");

    let received = receiver.wait_for("the firing webhook", WAIT, |r| {
        !posts(r, "firing").is_empty()
    });
    let firing = &posts(&received, "firing")[0];
    assert_eq!(firing.path, "/hook");
    let body = firing.json();
    let id = body["id"].as_str().expect("a notification id");
    assert_eq!(body["rule"]["id"], rule_id.as_str());
    assert_eq!(body["rule"]["channels"][0]["secret"], "********");
    assert_eq!(body["instance"]["id"], instance["id"]);
    assert_eq!(body["instance"]["state"], "firing");
    // The signatures: HMAC of the body, and Standard Webhooks' of id.timestamp.body.
    assert_eq!(
        firing.header("x-lookout-signature"),
        Some(format!("sha256={}", hmac_hex(b"s3cret", firing.body.as_bytes())).as_str())
    );
    assert_eq!(firing.header("webhook-id"), Some(id));
    let timestamp = firing.header("webhook-timestamp").expect("a timestamp");
    let signed = format!("{id}.{timestamp}.{}", firing.body);
    let expected = base64::engine::general_purpose::STANDARD
        .encode(hex::decode(hmac_hex(b"s3cret", signed.as_bytes())).expect("hex"));
    assert_eq!(
        firing.header("webhook-signature"),
        Some(format!("v1,{expected}").as_str())
    );
    let traceparent = firing.header("traceparent").expect("a traceparent");
    assert!(
        traceparent.starts_with(&format!("00-{id}-")),
        "{traceparent}"
    );

    // The notification shows on the instance as delivered.
    let instance_id = instance["id"].as_str().expect("id");
    let detail = server.get_ok(&format!("/api/alerts/instances/{instance_id}"));
    let deadline = std::time::Instant::now() + WAIT;
    let mut detail = detail;
    while detail["notifications"][0]["status"] != "delivered" {
        assert!(std::time::Instant::now() < deadline, "{detail}");
        std::thread::sleep(Duration::from_millis(100));
        detail = server.get_ok(&format!("/api/alerts/instances/{instance_id}"));
    }
    assert_eq!(detail["notifications"][0]["event"], "firing");
    assert_eq!(detail["notifications"][0]["attempts"], 1);

    let metrics = server.metrics_text();
    assert!(metrics.contains("lookout_alerts_firing 1\n"), "{metrics}");
    assert!(metrics
        .contains("lookout_notifications_total{channel=\"webhook\",outcome=\"delivered\"} 1\n"));
    assert!(metrics.contains("lookout_alert_evaluation_seconds_count "));

    // Back under the threshold: resolved by the engine, announced once.
    push_depth(&server, "mail", 2.0);
    wait_instances(&server, &rule_id, "the resolution", |list| {
        list.iter()
            .all(|i| i["state"] == "resolved" && i["resolved_by"] == "engine")
    });
    let received = receiver.wait_for("the resolved webhook", WAIT, |r| {
        !posts(r, "resolved").is_empty()
    });
    assert_eq!(
        posts(&received, "firing").len(),
        1,
        "no repeat within repeat_minutes"
    );
    let resolved = posts(&received, "resolved")[0].json();
    assert_ne!(resolved["id"], body["id"], "a new notification");
    assert_eq!(resolved["instance"]["state"], "resolved");
    assert_eq!(wait_rule_state(&server, &rule_id, "ok")["last_value"], 2.0);
}

fn export_spans(server: &TestServer, service: &str, count: usize, errors: usize, duration_ms: u64) {
    let now = now_nanos();
    let spans = (0..count)
        .map(|index| {
            let start = now - 30 * SECOND + index as u64 * MS;
            let mut server_span = span(
                &new_trace_id(),
                &new_span_id(),
                None,
                "POST /checkout",
                SpanKind::Server,
                start,
                start + duration_ms * MS,
            );
            if index < errors {
                server_span.status = status(OtlpStatusCode::Error, "boom");
            }
            server_span
        })
        .collect();
    server.export(&request(vec![resource_spans(service, vec![], spans)]));
}

#[test]
fn span_and_log_kinds_measure_what_they_should() {
    let server = alert_server(Duration::from_secs(60));
    export_spans(&server, "checkout", 40, 10, 120);
    let now = now_nanos();
    server.export_logs(&logs_request(vec![resource_logs(
        "checkout",
        (0..7)
            .map(|i| {
                log_record(
                    now - (10 + i) * SECOND,
                    17,
                    "ERROR",
                    "payment declined",
                    vec![],
                )
            })
            .chain((0..5).map(|i| log_record(now - (10 + i) * SECOND, 9, "INFO", "ok", vec![])))
            .collect(),
    )]));
    server.flush();

    let dry = |rule: Value| -> Value {
        let (status, answer) = post(&server, "/api/alerts/rules/evaluate", &rule);
        assert_eq!(status, StatusCode::OK, "{rule}: {answer}");
        answer
    };
    let base = json!({"name": "n", "service": "checkout", "window_minutes": 5});
    let with = |extra: Value| {
        let mut rule = base.clone();
        for (key, value) in extra.as_object().expect("object") {
            rule[key] = value.clone();
        }
        rule
    };
    let error_rate = dry(with(json!({"kind": "error_rate", "threshold": 0.2})));
    assert_eq!(error_rate["value"], 0.25);
    assert_eq!(error_rate["would_fire"], true);
    let latency = dry(with(
        json!({"kind": "latency", "percentile": 99, "threshold": 100}),
    ));
    let p99 = latency["value"].as_f64().expect("a latency");
    assert!((p99 - 120.0).abs() < 120.0 * 0.02, "{latency}");
    let rate = dry(with(
        json!({"kind": "request_rate", "condition": "<", "threshold": 1}),
    ));
    let rate = rate["value"].as_f64().expect("a rate");
    assert!((rate - 40.0 / 300.0).abs() < 1e-9, "{rate}");
    let errors = dry(with(
        json!({"kind": "log_count", "query": "declined", "threshold": 5}),
    ));
    assert_eq!(errors["value"], 7.0);
    assert_eq!(errors["would_fire"], true);
    let elsewhere =
        dry(json!({"name": "n", "kind": "log_count", "service": "billing", "threshold": 5}));
    assert_eq!(elsewhere["value"], 0.0);
    let none =
        dry(json!({"name": "n", "kind": "error_rate", "service": "ghost", "threshold": 0.1}));
    assert_eq!(none["value"], Value::Null, "no spans is no data");

    // A stored error-rate rule fires on the same data; the preview draws it.
    let rule = create_rule(
        &server,
        &with(json!({"kind": "error_rate", "threshold": 0.2})),
    );
    let id = rule["id"].as_str().expect("id");
    let instances = wait_instances(&server, id, "firing", |list| !list.is_empty());
    assert_eq!(instances[0]["labels"]["service"], "checkout");
    assert!(
        instances[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("25.00 %"),
        "{}",
        instances[0]
    );
    let preview = server.get_ok(&format!("/api/alerts/rules/{id}/preview?lookback=30m"));
    let points = preview["series"][0]["points"].as_array().expect("points");
    assert!(points.len() >= 30, "{preview}");
    assert_eq!(points.last().expect("a point")[1], 0.25);
    assert_eq!(preview["threshold"], 0.2);
    let (status, _) = server.get_json(&format!(
        "/api/alerts/rules/{id}/preview?lookback=30d&step=60s"
    ));
    assert_eq!(status, StatusCode::BAD_REQUEST, "too many points");
}

#[test]
fn a_promql_rule_opens_an_instance_per_series() {
    let server = alert_server(Duration::from_secs(60));
    push_depth(&server, "mail", 50.0);
    push_depth(&server, "sms", 70.0);
    push_depth(&server, "push", 1.0);
    let rule = create_rule(
        &server,
        &json!({"name": "deep queues", "kind": "promql", "query": "max by (queue) (queue_depth)",
                "condition": ">", "threshold": 10}),
    );
    let id = rule["id"].as_str().expect("id");
    let instances = wait_instances(&server, id, "two instances", |list| list.len() == 2);
    let mut queues: Vec<&str> = instances
        .iter()
        .filter_map(|i| i["labels"]["queue"].as_str())
        .collect();
    queues.sort_unstable();
    assert_eq!(queues, ["mail", "sms"]);
    assert_eq!(wait_rule_state(&server, id, "firing")["last_value"], 70.0);
    let (status, dry) = post(
        &server,
        &format!("/api/alerts/rules/{id}/evaluate"),
        &json!({}),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dry["series"].as_array().map(Vec::len), Some(3));

    push_depth(&server, "sms", 2.0);
    wait_instances(&server, id, "sms resolved", |list| {
        list.iter()
            .any(|i| i["labels"]["queue"] == "sms" && i["state"] == "resolved")
            && list
                .iter()
                .any(|i| i["labels"]["queue"] == "mail" && i["state"] == "firing")
    });
}

#[test]
fn pending_keep_firing_hysteresis_and_cooldown_follow_the_rule() {
    // A rule minute lasts a second here.
    let server = alert_server(Duration::from_secs(1));
    push_depth(&server, "mail", 50.0);
    let rule = create_rule(
        &server,
        &depth_rule(
            "slow",
            json!({"for_minutes": 3, "recovery_threshold": 5, "keep_firing_minutes": 2, "cooldown_minutes": 4}),
        ),
    );
    let id = rule["id"].as_str().expect("id");
    wait_rule_state(&server, id, "pending");
    let instances = server.get_ok(&format!("/api/alerts/instances?rule_id={id}"));
    assert_eq!(
        instances["instances"].as_array().map(Vec::len),
        Some(0),
        "pending opens nothing"
    );
    wait_rule_state(&server, id, "firing");

    // Below the threshold but above the recovery threshold: still firing.
    push_depth(&server, "mail", 8.0);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        server.get_ok(&format!("/api/alerts/rules/{id}"))["state"],
        "firing"
    );
    // Below the recovery threshold: resolves after keep_firing (2 s), not at once.
    push_depth(&server, "mail", 1.0);
    let cleared = std::time::Instant::now();
    wait_rule_state(&server, id, "ok");
    assert!(
        cleared.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        cleared.elapsed()
    );
    // Back over it at once: the cooldown keeps it pending, then a second instance.
    push_depth(&server, "mail", 50.0);
    wait_rule_state(&server, id, "pending");
    wait_rule_state(&server, id, "firing");
    let instances = wait_instances(&server, id, "two instances", |list| list.len() == 2);
    assert_eq!(
        instances
            .iter()
            .filter(|i| i["state"] == "resolved")
            .count(),
        1
    );
}

#[test]
fn no_data_is_ok_keep_or_firing_as_the_rule_says() {
    let server = alert_server(Duration::from_secs(60));
    let firing = create_rule(&server, &depth_rule("absent", json!({"no_data": "firing"})));
    let ok = create_rule(&server, &depth_rule("absent ok", json!({})));
    let firing_id = firing["id"].as_str().expect("id");
    let instances = wait_instances(&server, firing_id, "a no-data instance", |list| {
        list.len() == 1
    });
    assert!(
        instances[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no data"),
        "{}",
        instances[0]
    );
    assert_eq!(
        wait_rule_state(&server, ok["id"].as_str().expect("id"), "nodata")["last_value"],
        Value::Null
    );
    push_depth(&server, "mail", 1.0);
    wait_instances(&server, firing_id, "resolved by data", |list| {
        list.iter().all(|i| i["state"] == "resolved")
    });
}

#[test]
fn repeats_stop_once_acknowledged() {
    let receiver = Receiver::start();
    let server = alert_server(Duration::from_secs(1));
    push_depth(&server, "mail", 50.0);
    let rule = create_rule(
        &server,
        &depth_rule(
            "repeat",
            json!({"repeat_minutes": 2, "channels": [{"type": "webhook", "url": receiver.url("/r")}]}),
        ),
    );
    let id = rule["id"].as_str().expect("id");
    receiver.wait_for("a repeat", WAIT, |r| posts(r, "firing").len() >= 2);
    let instance = wait_instances(&server, id, "firing", |list| list.len() == 1)[0].clone();
    let instance_id = instance["id"].as_str().expect("id");
    let (status, acked) = post(
        &server,
        &format!("/api/alerts/instances/{instance_id}/ack"),
        &json!({"by": "oncall"}),
    );
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], "oncall");
    let before = posts(&receiver.received(), "firing").len();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        posts(&receiver.received(), "firing").len(),
        before,
        "no repeat after the ack"
    );
    assert_eq!(
        server.get_ok(&format!("/api/alerts/rules/{id}"))["state"],
        "firing"
    );

    // Resolved by hand: announced, and a second resolve is a conflict.
    let (status, resolved) = post(
        &server,
        &format!("/api/alerts/instances/{instance_id}/resolve"),
        &json!({}),
    );
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["resolved_by"], "admin");
    receiver.wait_for("the manual resolution", WAIT, |r| {
        posts(r, "resolved").len() == 1
    });
    let (status, _) = post(
        &server,
        &format!("/api/alerts/instances/{instance_id}/resolve"),
        &json!({}),
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = post(
        &server,
        &format!("/api/alerts/instances/{instance_id}/ack"),
        &json!({}),
    );
    assert_eq!(status, StatusCode::CONFLICT);

    // The ack and the resolve are in the audit log, once each (the refused
    // second attempts changed nothing and are not).
    let audit = server.get_ok("/api/audit?action=alert.");
    let events = audit["events"].as_array().cloned().unwrap_or_default();
    let of =
        |action: &str| -> Vec<&Value> { events.iter().filter(|e| e["action"] == action).collect() };
    for (action, by) in [("alert.ack", "oncall"), ("alert.resolve", "admin")] {
        let found = of(action);
        assert_eq!(found.len(), 1, "{action}: {audit}");
        assert_eq!(found[0]["target"], json!(instance_id), "{audit}");
        assert_eq!(found[0]["outcome"], json!("ok"), "{audit}");
        assert_eq!(found[0]["details"]["rule_id"], json!(id), "{audit}");
        assert_eq!(found[0]["details"]["by"], json!(by), "{audit}");
    }
}

#[test]
fn a_receiver_that_is_down_gets_each_notification_once_it_is_up() {
    let receiver = Receiver::start();
    receiver.answer(503);
    let server = alert_server(Duration::from_secs(60));
    push_depth(&server, "mail", 50.0);
    create_rule(
        &server,
        &depth_rule(
            "flaky",
            json!({"channels": [{"type": "webhook", "url": receiver.url("/f")}]}),
        ),
    );
    receiver.wait_for("two refused attempts", WAIT, |r| r.len() >= 2);
    receiver.answer(200);
    let received = receiver.wait_for("a delivery", WAIT, |r| r.iter().any(|x| x.status == 200));
    let ids: Vec<String> = received
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "every attempt carries the same id: {ids:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    let delivered = receiver
        .received()
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(delivered, 1, "delivered once");
    let metrics = server.metrics_text();
    assert!(
        metrics.contains("lookout_notifications_total{channel=\"webhook\",outcome=\"retry\"}"),
        "{metrics}"
    );
}

#[test]
fn a_hanging_channel_does_not_delay_another() {
    let hanging = Receiver::start();
    hanging.hang(true);
    let healthy = Receiver::start();
    let server = alert_server(Duration::from_secs(60));
    push_depth(&server, "mail", 50.0);
    let rule = create_rule(
        &server,
        &depth_rule(
            "two channels",
            json!({"channels": [
                {"type": "webhook", "url": hanging.url("/slow")},
                {"type": "webhook", "url": healthy.url("/fast")},
            ]}),
        ),
    );
    let id = rule["id"].as_str().expect("id");
    let instances = wait_instances(&server, id, "firing", |list| list.len() == 1);
    let fired = std::time::Instant::now();
    let _ = instances;
    healthy.wait_for("the healthy channel", Duration::from_secs(5), |r| {
        r.len() == 1
    });
    assert!(
        fired.elapsed() < Duration::from_secs(5),
        "the healthy channel waited for the hanging one: {:?}",
        fired.elapsed()
    );
}

#[test]
fn undelivered_notifications_fail_after_the_maximum_age_and_retry_by_hand() {
    let receiver = Receiver::start();
    receiver.answer(500);
    let server = TestServer::start_with(|config| {
        config.alerts.interval = Duration::from_secs(1);
        config.alerts.notify_max_age = Duration::from_secs(2);
    });
    push_depth(&server, "mail", 50.0);
    let rule = create_rule(
        &server,
        &depth_rule(
            "unreachable",
            json!({"channels": [{"type": "webhook", "url": receiver.url("/x")}]}),
        ),
    );
    let id = rule["id"].as_str().expect("id");
    let instance = wait_instances(&server, id, "firing", |list| list.len() == 1)[0].clone();
    let instance_id = instance["id"].as_str().expect("id");
    let deadline = std::time::Instant::now() + WAIT;
    let notification = loop {
        let detail = server.get_ok(&format!("/api/alerts/instances/{instance_id}"));
        if detail["notifications"][0]["status"] == "failed" {
            break detail["notifications"][0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{detail}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        notification["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("HTTP 500"),
        "{notification}"
    );
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, health) = server.get_json("/health/deep");
        if health["checks"]["notifier"]["status"] == "degraded" {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(health["checks"]["notifier"]["failed"], 1);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{health}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server
        .metrics_text()
        .contains("lookout_notifications_total{channel=\"webhook\",outcome=\"failed\"} 1\n"));

    receiver.answer(200);
    let notification_id = notification["id"].as_str().expect("id");
    let (status, retried) = post(
        &server,
        &format!("/api/alerts/notifications/{notification_id}/retry"),
        &json!({}),
    );
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["status"], "pending");
    assert_eq!(
        retried["created_at"], notification["created_at"],
        "the creation time stays"
    );
    assert!(retried["retried_at"].is_string(), "{retried}");
    receiver.wait_for("the retried delivery", WAIT, |r| {
        r.iter().any(|x| x.status == 200)
    });
    let (status, _) = post(
        &server,
        &format!("/api/alerts/notifications/{notification_id}/retry"),
        &json!({}),
    );
    assert_eq!(status, StatusCode::CONFLICT, "only failed ones are retried");
}

#[test]
fn the_engine_resumes_after_a_restart_without_duplicates() {
    let receiver = Receiver::start();
    let mut server = alert_server(Duration::from_secs(60));
    push_depth(&server, "mail", 50.0);
    let rule = create_rule(
        &server,
        &depth_rule(
            "steady",
            json!({"channels": [{"type": "webhook", "url": receiver.url("/s")}]}),
        ),
    );
    let id = rule["id"].as_str().expect("id").to_string();
    let first = wait_instances(&server, &id, "firing", |list| list.len() == 1)[0]["id"].clone();
    receiver.wait_for("the firing webhook", WAIT, |r| r.len() == 1);
    server.restart_with(|config| {
        config.alerts.interval = Duration::from_secs(1);
    });
    push_depth(&server, "mail", 60.0);
    wait_rule_state(&server, &id, "firing");
    std::thread::sleep(Duration::from_secs(3));
    let instances = wait_instances(&server, &id, "one instance", |list| list.len() == 1);
    assert_eq!(instances[0]["id"], first, "the same instance goes on");
    assert_eq!(instances[0]["value"], 60.0);
    assert_eq!(
        receiver.received().len(),
        1,
        "no second firing notification"
    );
}

/// A metric rule over a deep mail queue, notifying `receiver`, once its
/// instance fires; returns the rule's id.
fn firing_webhook_rule(server: &TestServer, receiver: &Receiver, name: &str) -> String {
    push_depth(server, "mail", 50.0);
    let rule = create_rule(
        server,
        &depth_rule(
            name,
            json!({"channels": [{"type": "webhook", "url": receiver.url("/hook")}]}),
        ),
    );
    let id = rule["id"].as_str().expect("id").to_string();
    wait_instances(server, &id, "firing", |list| list.len() == 1);
    id
}

#[test]
fn disabling_a_rule_resolves_its_open_instances_and_stops_its_evaluation() {
    let receiver = Receiver::start();
    let server = alert_server(Duration::from_secs(60));
    let id = &firing_webhook_rule(&server, &receiver, "paused");
    let mut disabled = server.get_ok(&format!("/api/alerts/rules/{id}"));
    disabled["enabled"] = json!(false);
    let response = server
        .client()
        .put(server.url(&format!("/api/alerts/rules/{id}")))
        .json(&disabled)
        .send()
        .expect("PUT");
    assert_eq!(response.status(), StatusCode::OK);
    let instances = wait_instances(&server, id, "resolved", |list| {
        list.iter().all(|i| i["state"] == "resolved")
    });
    assert_eq!(instances[0]["resolved_by"], "rule disabled");
    receiver.wait_for("the resolution", WAIT, |r| posts(r, "resolved").len() == 1);
    std::thread::sleep(Duration::from_secs(3));
    let rule = server.get_ok(&format!("/api/alerts/rules/{id}"));
    assert_eq!(rule["state"], "ok", "{rule}");
    assert_eq!(
        server.get_ok(&format!("/api/alerts/instances?rule_id={id}"))["instances"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "a disabled rule opens nothing new"
    );
}

#[test]
fn deleting_a_rule_resolves_its_open_instances() {
    let receiver = Receiver::start();
    let server = alert_server(Duration::from_secs(60));
    let id = &firing_webhook_rule(&server, &receiver, "doomed");
    let response = server
        .client()
        .delete(server.url(&format!("/api/alerts/rules/{id}")))
        .send()
        .expect("DELETE");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let instances = wait_instances(&server, id, "resolved", |list| {
        list.iter().all(|i| i["state"] == "resolved")
    });
    assert_eq!(instances[0]["resolved_by"], "rule deleted");
    receiver.wait_for("the resolution", WAIT, |r| posts(r, "resolved").len() == 1);
}

#[test]
fn slack_gets_a_message_with_blocks_at_most_one_a_second() {
    let slack = Receiver::start();
    let server = alert_server(Duration::from_secs(60));
    push_depth(&server, "mail", 50.0);
    push_depth(&server, "sms", 60.0);
    create_rule(
        &server,
        &json!({"name": "queues", "kind": "promql", "query": "max by (queue) (queue_depth)",
                "threshold": 10, "channels": [{"type": "slack", "url": slack.url("/services/T/B/x")}]}),
    );
    let received = slack.wait_for("two slack messages", WAIT, |r| r.len() == 2);
    for message in &received {
        let body = message.json();
        let text = body["text"].as_str().unwrap_or("");
        assert!(text.contains("[FIRING] queues"), "{body}");
        assert_eq!(body["blocks"][0]["type"], "section", "{body}");
        let link = body["blocks"][2]["elements"][0]["text"]
            .as_str()
            .unwrap_or("");
        assert!(link.contains("/alerts?instance="), "{link}");
        assert!(message.header("x-lookout-signature").is_none());
    }
    assert!(
        received[0].header("traceparent").is_none(),
        "Slack gets no trace headers"
    );
    let gap = received[1].at.duration_since(received[0].at);
    assert!(
        gap >= Duration::from_millis(950),
        "one message a second at most: {gap:?}"
    );
}

#[test]
fn a_slow_rule_is_an_error_and_the_others_stay_on_time() {
    let server = TestServer::start_with(|config| {
        config.alerts.interval = Duration::from_secs(1);
        // Evaluations may take a third of the interval; this one takes 3 s.
        config.alerts.slow_rule = Some(("stuck".into(), Duration::from_secs(3)));
    });
    push_depth(&server, "mail", 50.0);
    let stuck = create_rule(&server, &depth_rule("stuck", json!({})));
    let healthy = create_rule(&server, &depth_rule("healthy", json!({})));
    let stuck_rule = wait_rule_state(&server, stuck["id"].as_str().expect("id"), "error");
    assert!(
        stuck_rule["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("took longer than"),
        "{stuck_rule}"
    );
    wait_rule_state(&server, healthy["id"].as_str().expect("id"), "firing");
    // The healthy rule keeps being evaluated every second meanwhile.
    let first = server.get_ok(&format!(
        "/api/alerts/rules/{}",
        healthy["id"].as_str().unwrap_or("")
    ))["last_evaluated_at"]
        .clone();
    std::thread::sleep(Duration::from_millis(2_500));
    let later = server.get_ok(&format!(
        "/api/alerts/rules/{}",
        healthy["id"].as_str().unwrap_or("")
    ))["last_evaluated_at"]
        .clone();
    assert_ne!(first, later, "the engine stalled behind the slow rule");
    let (status, health) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let engine = &health["checks"]["alert_engine"];
    assert_eq!(engine["status"], "degraded", "{engine}");
    assert!(
        engine["message"].as_str().unwrap_or("").contains("stuck"),
        "{engine}"
    );
}
