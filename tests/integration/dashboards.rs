//! Dashboards end to end: CRUD and validation through the API, the
//! built-in service dashboards, Grafana import of a fixture, and panel
//! data with template variables substituted over real OTLP metrics.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::alerts::post;
use crate::metrics::{export as export_metrics, gauge, kv, number, request as metrics_request};
use crate::support::{now_nanos, single_span_trace, TestServer, MS};

const FIXTURE: &str = include_str!("../fixtures/grafana_dashboard.json");

fn put(server: &TestServer, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = server
        .client()
        .put(server.url(path))
        .json(body)
        .send()
        .expect("PUT reaches the server");
    let status = response.status();
    (status, response.json().unwrap_or(Value::Null))
}

fn delete(server: &TestServer, path: &str) -> StatusCode {
    server
        .client()
        .delete(server.url(path))
        .send()
        .expect("DELETE reaches the server")
        .status()
}

/// Two series of `queue_depth` (queues mail and sms) from job `mailer`.
fn push_queues(server: &TestServer) {
    let t = (now_nanos() / MS) as i64;
    let (status, response) = export_metrics(
        server,
        &metrics_request(
            "mailer",
            vec![gauge(
                "queue_depth",
                vec![
                    number(vec![kv("queue", "mail")], 0, t - 60_000, 3.0),
                    number(vec![kv("queue", "mail")], 0, t, 5.0),
                    number(vec![kv("queue", "sms")], 0, t, 7.0),
                    number(vec![kv("queue", "fax.old")], 0, t, 11.0),
                ],
            )],
        ),
    );
    assert_eq!(status, StatusCode::OK, "{response:?}");
    server.flush();
}

fn queue_dashboard() -> Value {
    json!({
        "title": "Queues",
        "time": {"lookback": "1h"},
        "refresh": "30s",
        "variables": [
            {"name": "queue", "type": "query", "query": "label_values(queue_depth, queue)", "multi": true, "include_all": true},
            {"name": "one", "type": "custom", "values": ["mail", "sms"]}
        ],
        "panels": [
            {"title": "Depth", "type": "timeseries", "grid": {"x": 0, "y": 0, "w": 12, "h": 8},
             "queries": [{"promql": "queue_depth{queue=~\"$queue\"}", "legend": "{{queue}}"}]},
            {"id": "total", "title": "Total", "type": "stat", "grid": {"x": 12, "y": 0, "w": 6, "h": 4},
             "queries": [{"promql": "sum(queue_depth{queue=\"$one\"})"}]},
            {"title": "Notes", "type": "text", "grid": {"x": 18, "y": 0, "w": 6, "h": 4}, "options": {"content": "**hi**"}}
        ]
    })
}

#[test]
fn a_dashboard_is_created_read_changed_listed_and_deleted() {
    let server = TestServer::start();
    let (status, created) = post(&server, "/api/dashboards", &queue_dashboard());
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("an id").to_string();
    assert_eq!(created["builtin"], false);
    assert!(created["created_at"].is_string());
    let ids: Vec<&str> = created["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, ["p1", "total", "p2"], "panels without an id get one");

    // A fetched dashboard can be sent back as it is.
    let mut fetched = server.get_ok(&format!("/api/dashboards/{id}"));
    assert_eq!(fetched["title"], "Queues");
    fetched["title"] = json!("Queues (edited)");
    fetched["panels"][0]["grid"]["w"] = json!(24);
    let (status, updated) = put(&server, &format!("/api/dashboards/{id}"), &fetched);
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["panels"][0]["grid"]["w"], 24);
    assert_eq!(updated["created_at"], created["created_at"]);

    let list = server.get_ok("/api/dashboards");
    let entry = list["dashboards"]
        .as_array()
        .expect("dashboards")
        .iter()
        .find(|d| d["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(
        (entry["title"].as_str(), entry["panel_count"].as_u64()),
        (Some("Queues (edited)"), Some(3))
    );

    // Validation names the field; nothing is stored.
    let mut bad = queue_dashboard();
    bad["panels"][1]["queries"][0]["promql"] = json!("sum(queue_depth{queue=\"$nope\"})");
    let (status, body) = post(&server, "/api/dashboards", &bad);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "panels[1].queries[0].promql");
    let mut bad = queue_dashboard();
    bad["panels"][0]["grid"]["x"] = json!(20);
    let (status, body) = put(&server, &format!("/api/dashboards/{id}"), &bad);
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "panels[0].grid");
    let (status, body) = post(
        &server,
        "/api/dashboards",
        &json!({"title": "x", "colour": "red"}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("colour"),
        "{body}"
    );
    let response = server.post_bytes(
        "/api/dashboards",
        "application/json",
        None,
        b"{not json".to_vec(),
    );
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        server.get_ok("/api/dashboards")["dashboards"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "lookout's own and the one saved"
    );

    assert_eq!(
        delete(&server, &format!("/api/dashboards/{id}")),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.get(&format!("/api/dashboards/{id}")).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&server, &format!("/api/dashboards/{id}")),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn template_variables_are_substituted_into_panel_queries() {
    let server = TestServer::start();
    push_queues(&server);
    let (_, created) = post(&server, "/api/dashboards", &queue_dashboard());
    let id = created["id"].as_str().expect("an id");

    let variables = server.get_ok(&format!("/api/dashboards/{id}/variables"));
    assert_eq!(
        variables["variables"][0]["values"],
        json!(["fax.old", "mail", "sms"])
    );
    assert_eq!(
        variables["variables"][0]["current"],
        json!(["fax.old", "mail", "sms"]),
        "All by default"
    );
    assert_eq!(
        variables["variables"][1]["current"],
        json!(["mail"]),
        "the first value by default"
    );

    // Two values of a multi-value variable: an escaped alternative.
    let data = server.get_ok(&format!(
        "/api/dashboards/{id}/panels/p1/data?lookback=10m&var-queue=mail&var-queue=fax.old"
    ));
    let query = &data["queries"][0];
    assert_eq!(query["query"], "queue_depth{queue=~\"(mail|fax\\\\.old)\"}");
    let mut legends: Vec<&str> = query["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|s| s["legend"].as_str())
        .collect();
    legends.sort();
    assert_eq!(legends, ["fax.old", "mail"], "{data}");
    assert!(
        data["errors"].as_array().is_some_and(Vec::is_empty),
        "{data}"
    );
    // All: every value.
    let data = server.get_ok(&format!(
        "/api/dashboards/{id}/panels/p1/data?lookback=10m&var-queue=$__all"
    ));
    assert_eq!(
        data["queries"][0]["series"].as_array().map(Vec::len),
        Some(3)
    );

    // A single-value variable in a stat panel: one value at the end.
    let data = server.get_ok(&format!(
        "/api/dashboards/{id}/panels/total/data?lookback=10m&var-one=sms"
    ));
    assert_eq!(
        data["queries"][0]["query"],
        "sum(queue_depth{queue=\"sms\"})"
    );
    let points = &data["queries"][0]["series"][0]["points"];
    assert_eq!(points.as_array().map(Vec::len), Some(1));
    assert_eq!(points[0][1], 7.0);

    assert_eq!(
        server
            .get(&format!("/api/dashboards/{id}/panels/nope/data"))
            .status(),
        StatusCode::NOT_FOUND
    );
    let (status, body) = server.get_json(&format!("/api/dashboards/{id}/panels/p1/data?step=soon"));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn a_grafana_dashboard_imports_with_what_could_not_be_mapped_listed() {
    let server = TestServer::start();
    let fixture: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let (status, body) = post(
        &server,
        "/api/dashboards/import/grafana?dry_run=true",
        &fixture,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let saved = |server: &TestServer| {
        server.get_ok("/api/dashboards")["dashboards"]
            .as_array()
            .map_or(0, |list| {
                list.iter().filter(|d| d["builtin"] == false).count()
            })
    };
    assert!(saved(&server) == 0, "a dry run saves nothing");

    let (status, body) = post(
        &server,
        "/api/dashboards/import/grafana",
        &json!({"dashboard": fixture}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let dashboard = &body["dashboard"];
    let types: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "timeseries",
            "stat",
            "gauge",
            "pie",
            "table",
            "text",
            "logs"
        ]
    );
    assert_eq!(dashboard["title"], "Shop overview");
    assert_eq!(dashboard["time"]["lookback"], "6h");
    assert_eq!(dashboard["variables"][0]["name"], "service");
    assert_eq!(
        dashboard["variables"][0]["query"],
        "label_values(http_server_requests_total, job)"
    );
    assert_eq!(
        dashboard["panels"][0]["grid"],
        json!({"x": 0, "y": 1, "w": 12, "h": 8})
    );
    assert_eq!(dashboard["panels"][0]["queries"][1]["legend"], "errors");
    assert_eq!(dashboard["panels"][2]["unit"], "percentunit");
    let unmapped: Vec<String> = body["unmapped"]
        .as_array()
        .expect("unmapped")
        .iter()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect();
    assert!(
        unmapped
            .iter()
            .any(|u| u.contains("panel 6") && u.contains("heatmap")),
        "{unmapped:?}"
    );
    assert!(
        unmapped.iter().any(|u| u.contains("variable interval")),
        "{unmapped:?}"
    );
    assert!(unmapped.iter().any(|u| u.contains("LogQL")), "{unmapped:?}");
    let id = dashboard["id"].as_str().expect("saved");
    assert_eq!(
        server.get_ok(&format!("/api/dashboards/{id}"))["panels"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );

    let (status, body) = post(
        &server,
        "/api/dashboards/import/grafana",
        &json!({"title": "no panels"}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn every_service_has_a_built_in_dashboard_that_cannot_be_changed() {
    let server = TestServer::start();
    let (_, export) = single_span_trace("checkout", "GET /cart", 60_000 * MS);
    server.export(&export);
    server.flush();
    let list = server.get_ok("/api/dashboards");
    let builtin: Vec<(&str, bool)> = list["dashboards"]
        .as_array()
        .expect("dashboards")
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap_or(""),
                d["builtin"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        builtin,
        [("lookout", true), ("service:checkout", true)],
        "built-in ones first"
    );
    let dashboard = server.get_ok("/api/dashboards/service:checkout");
    assert_eq!(dashboard["title"], "Service checkout");
    let data = server.get_ok("/api/dashboards/service:checkout/panels/p1/data?lookback=1h&step=60");
    let points = data["queries"][0]["series"][0]["points"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let requests: f64 = points.iter().filter_map(|p| p[1].as_f64()).sum::<f64>() * 60.0;
    assert!(
        (requests - 1.0).abs() < 1e-9,
        "one request in the range: {data}"
    );
    let data = server.get_ok("/api/dashboards/service:checkout/panels/p8/data?lookback=1h");
    assert_eq!(
        data["queries"][0]["traces"].as_array().map(Vec::len),
        Some(0),
        "no failed traces"
    );
    let (status, body) = put(&server, "/api/dashboards/service:checkout", &dashboard);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        delete(&server, "/api/dashboards/service:checkout"),
        StatusCode::CONFLICT
    );
    assert_eq!(
        server.get("/api/dashboards/service:nobody").status(),
        StatusCode::NOT_FOUND
    );
    // A copy can be saved and changed.
    let (status, copy) = post(&server, "/api/dashboards", &dashboard);
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_eq!(copy["builtin"], false);
}

#[test]
fn lookout_records_its_own_metrics_and_its_dashboard_reads_them() {
    let server = TestServer::start_with(|config| {
        config.self_metrics_interval = Some(std::time::Duration::from_secs(1));
    });
    let (_, export) = single_span_trace("checkout", "GET /cart", 60_000 * MS);
    server.export(&export);
    server.flush();
    let query = r#"lookout_ingested_spans_total{job="lookout"}"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, body) = server.get_query("/prometheus/api/v1/query", &[("query", query)]);
        let value = body["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string);
        if value.as_deref() == Some("1") {
            let instance = body["data"]["result"][0]["metric"]["instance"]
                .as_str()
                .unwrap_or("");
            assert!(instance.starts_with("127.0.0.1:"), "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "lookout's own span counter was not recorded: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let dashboard = server.get_ok("/api/dashboards/lookout");
    assert_eq!(dashboard["builtin"], true);
    // A rate needs two recorded samples: wait for the next one.
    let data = loop {
        let data = server.get_ok("/api/dashboards/lookout/panels/p1/data?lookback=5m");
        if data["queries"][0]["series"]
            .as_array()
            .is_some_and(|series| !series.is_empty())
            || std::time::Instant::now() >= deadline
        {
            break data;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        data["errors"].as_array().is_some_and(Vec::is_empty),
        "{data}"
    );
    let spans = &data["queries"][0]["series"][0];
    assert_eq!(spans["legend"], "spans", "{data}");
    assert!(
        spans["points"]
            .as_array()
            .is_some_and(|points| !points.is_empty()),
        "{data}"
    );
    let (status, _) = put(&server, "/api/dashboards/lookout", &dashboard);
    assert_eq!(status, StatusCode::CONFLICT);
}
