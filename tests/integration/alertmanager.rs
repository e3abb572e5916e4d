//! Alerts into a real Prometheus Alertmanager (Debian's
//! `prometheus-alertmanager`), started on a loopback port with a
//! temporary configuration whose webhook receiver is a [`Receiver`]: the
//! firing alert appears in its API with lookout's labels and annotations,
//! stays active while lookout keeps re-sending it (its `endsAt` is only
//! four intervals ahead), reaches the receiver, and is resolved there once
//! lookout resolves it.
//!
//! Without the binary on the PATH the test passes with a notice, unless
//! `LOOKOUT_REQUIRE_ALERTMANAGER=1`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::alerts::{alert_server, create_rule, push_depth, wait_instances};
use crate::receiver::Receiver;
use crate::support::client;

const BINARY: &str = "prometheus-alertmanager";

struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn start_alertmanager(webhook: &str) -> Option<Alertmanager> {
    let found = Command::new(BINARY)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        let required = std::env::var("LOOKOUT_REQUIRE_ALERTMANAGER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "LOOKOUT_REQUIRE_ALERTMANAGER=1 but {BINARY} is not on the PATH"
        );
        eprintln!("{BINARY} not found: skipping the Alertmanager test");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: ['alertname']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {webhook}\n        send_resolved: true\n"
        ),
    )
    .expect("write the config");
    let port = free_port();
    let child = Command::new(BINARY)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let alertmanager = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client()
            .get(format!("{}/-/ready", alertmanager.url))
            .send()
            .is_ok_and(|response| response.status().is_success());
        if ready {
            return Some(alertmanager);
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alerts(alertmanager: &Alertmanager) -> Vec<Value> {
    client()
        .get(format!("{}/api/v2/alerts", alertmanager.url))
        .send()
        .and_then(|response| response.json::<Value>())
        .ok()
        .and_then(|body| body.as_array().cloned())
        .unwrap_or_default()
}

fn wait_alerts(
    alertmanager: &Alertmanager,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = alerts(alertmanager);
        if done(&listed) {
            return listed;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {listed:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn alerts_reach_a_real_alertmanager_stay_active_and_resolve_there() {
    let receiver = Receiver::start();
    let Some(alertmanager) = start_alertmanager(&receiver.url("/am")) else {
        return;
    };
    let server = alert_server(Duration::from_secs(60));
    push_depth(&server, "mail", 50.0);
    let rule = create_rule(
        &server,
        &json!({
            "name": "mail queue", "description": "mail is piling up",
            "kind": "metric", "metric": "queue_depth{queue=\"mail\"}", "threshold": 10,
            "severity": "critical", "labels": {"team": "mail"},
            "channels": [{"type": "alertmanager", "url": alertmanager.url}],
        }),
    );
    let rule_id = rule["id"].as_str().expect("id").to_string();
    let instance = wait_instances(&server, &rule_id, "firing", |list| list.len() == 1)[0].clone();

    let listed = wait_alerts(&alertmanager, "the alert in alertmanager", |list| {
        !list.is_empty()
    });
    let alert = &listed[0];
    assert_eq!(alert["status"]["state"], "active", "{alert}");
    let labels = &alert["labels"];
    assert_eq!(labels["alertname"], "mail queue");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["rule_id"], rule_id.as_str());
    assert_eq!(labels["team"], "mail");
    assert_eq!(alert["annotations"]["description"], "mail is piling up");
    assert_eq!(alert["annotations"]["value"], "50");
    assert!(alert["annotations"]["summary"]
        .as_str()
        .unwrap_or("")
        .contains("mail queue"));
    let generator = alert["generatorURL"].as_str().unwrap_or("");
    assert!(
        generator.ends_with(&format!(
            "/alerts?instance={}",
            instance["id"].as_str().unwrap_or("")
        )),
        "{generator}"
    );

    let received = receiver.wait_for(
        "alertmanager's firing webhook",
        Duration::from_secs(30),
        |r| r.iter().any(|x| x.json()["status"] == "firing"),
    );
    let firing = received
        .iter()
        .find(|x| x.json()["status"] == "firing")
        .expect("firing")
        .json();
    assert_eq!(firing["alerts"][0]["labels"]["alertname"], "mail queue");

    // endsAt is four intervals (4 s) ahead: still active after 6 s only
    // because lookout keeps re-sending it.
    std::thread::sleep(Duration::from_secs(6));
    let listed = alerts(&alertmanager);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["status"]["state"], "active", "{listed:#?}");

    push_depth(&server, "mail", 1.0);
    wait_instances(&server, &rule_id, "resolved in lookout", |list| {
        list.iter().all(|i| i["state"] == "resolved")
    });
    receiver.wait_for(
        "alertmanager's resolved webhook",
        Duration::from_secs(30),
        |r| r.iter().any(|x| x.json()["status"] == "resolved"),
    );
    wait_alerts(&alertmanager, "no active alert", |list| {
        list.iter()
            .all(|alert| alert["status"]["state"] != "active")
    });
}
