//! Security: login sessions, the failed-login limit, managed ingest keys,
//! the audit log, CSRF, health without auth, and redaction before storage.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use prost::Message as _;
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;

const ADMIN_TOKEN: &str = "security-admin-token-0123456789";
const PASSWORD: &str = "correct horse battery staple";

/// The `lookout_session` value of a login answer's `Set-Cookie`, checked
/// for its attributes.
fn session_cookie_of(response: &Response) -> String {
    let header = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lookout_session="))
        .unwrap_or_else(|| panic!("no session cookie in {:?}", response.headers()))
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    let value = header
        .trim_start_matches("lookout_session=")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(value.len(), 43, "{header}");
    value
}

fn with_cookie(request: RequestBuilder, cookie: &str) -> RequestBuilder {
    request.header("cookie", format!("theme=dark; lookout_session={cookie}"))
}

fn with_token(request: RequestBuilder) -> RequestBuilder {
    request.header("authorization", format!("Bearer {ADMIN_TOKEN}"))
}

fn login(server: &TestServer, body: &Value) -> Response {
    server.post_json("/api/auth/login", body)
}

fn get_with_cookie(server: &TestServer, path: &str, cookie: &str) -> StatusCode {
    with_cookie(server.client().get(server.url(path)), cookie)
        .send()
        .expect("GET")
        .status()
}

fn set_password_with_token(server: &TestServer, password: &str) {
    let response = with_token(server.client().post(server.url("/api/auth/password")))
        .header("content-type", JSON)
        .body(json!({"password": password}).to_string())
        .send()
        .expect("POST");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// Audit events, newest first, through the admin token.
fn audit(server: &TestServer, query: &str) -> Vec<Value> {
    let response = with_token(
        server
            .client()
            .get(server.url(&format!("/api/audit?{query}"))),
    )
    .send()
    .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().expect("json");
    body["events"].as_array().cloned().unwrap_or_default()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn a_session_lives_from_login_to_logout_and_dies_with_a_password_change() {
    let mut server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
    });
    let (status, session) = server.get_json("/api/auth/session");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        session,
        json!({"auth_required": true, "authenticated": false, "via": null,
               "password_set": false, "token_set": true, "expires_at": null})
    );
    // Without a password, only the token logs in.
    let refused = login(&server, &json!({"password": PASSWORD}));
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let by_token = login(&server, &json!({"token": ADMIN_TOKEN}));
    assert_eq!(by_token.status(), StatusCode::OK);
    let token_session = session_cookie_of(&by_token);
    assert_eq!(
        get_with_cookie(&server, "/api/traces", &token_session),
        StatusCode::OK
    );

    set_password_with_token(&server, PASSWORD);
    // A password change ends every session.
    assert_eq!(
        get_with_cookie(&server, "/api/traces", &token_session),
        StatusCode::UNAUTHORIZED
    );
    let ok = login(&server, &json!({"password": PASSWORD}));
    assert_eq!(ok.status(), StatusCode::OK);
    let cookie = session_cookie_of(&ok);
    for path in ["/api/traces", "/api/services", "/prometheus/api/v1/labels"] {
        assert_eq!(
            get_with_cookie(&server, path, &cookie),
            StatusCode::OK,
            "{path}"
        );
    }
    let session: Value = with_cookie(
        server.client().get(server.url("/api/auth/session")),
        &cookie,
    )
    .send()
    .expect("GET")
    .json()
    .expect("json");
    assert_eq!(session["authenticated"], json!(true));
    assert_eq!(session["via"], json!("session"));
    assert!(session["expires_at"].is_string(), "{session}");

    // Sessions survive a restart: only their hashes are stored.
    server.restart_with(|config| config.admin_token = Some(ADMIN_TOKEN.into()));
    assert_eq!(
        get_with_cookie(&server, "/api/traces", &cookie),
        StatusCode::OK
    );

    // Change the password with the session: the current one is needed.
    let change = |current: &str| {
        with_cookie(
            server.client().post(server.url("/api/auth/password")),
            &cookie,
        )
        .header("content-type", JSON)
        .body(
            json!({"password": "a brand new passphrase", "current_password": current}).to_string(),
        )
        .send()
        .expect("POST")
    };
    let wrong = change("not the password");
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let wrong: Value = wrong.json().expect("json");
    assert_eq!(wrong["error"]["field"], json!("current_password"));
    assert_eq!(change(PASSWORD).status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_with_cookie(&server, "/api/traces", &cookie),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&server, &json!({"password": PASSWORD})).status(),
        StatusCode::UNAUTHORIZED
    );
    let again = login(&server, &json!({"password": "a brand new passphrase"}));
    assert_eq!(again.status(), StatusCode::OK);
    let cookie = session_cookie_of(&again);

    // Logout ends the session server-side.
    let logout = with_cookie(
        server.client().post(server.url("/api/auth/logout")),
        &cookie,
    )
    .header("content-type", JSON)
    .body("{}")
    .send()
    .expect("POST");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared = logout
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        cleared.starts_with("lookout_session=;") || cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        get_with_cookie(&server, "/api/traces", &cookie),
        StatusCode::UNAUTHORIZED
    );

    let events = actions(&audit(&server, "action=auth."));
    for wanted in [
        "auth.login ok",
        "auth.login failed",
        "auth.logout ok",
        "auth.password ok",
        "auth.password failed",
    ] {
        assert!(
            events.iter().any(|e| e == wanted),
            "{wanted} missing: {events:?}"
        );
    }
    // A failed login names the reason, never the password.
    let failed = audit(&server, "action=auth.login&outcome=failed");
    assert_eq!(failed[0]["details"]["reason"], json!("invalid credentials"));
    assert!(failed[0]["remote_addr"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.")));
    let all = serde_json::to_string(&audit(&server, "limit=1000")).unwrap_or_default();
    assert!(!all.contains(PASSWORD) && !all.contains(ADMIN_TOKEN));
}

#[test]
fn sessions_expire_when_idle_and_at_their_maximum_age() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
        config.security.session_idle = Duration::from_millis(1500);
        config.security.session_max_age = Duration::from_secs(4);
        // As with an https --public-url.
        config.security.secure_cookie = true;
    });
    let first = login(&server, &json!({"token": ADMIN_TOKEN}));
    let header = first
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(header.contains("Secure"), "{header}");
    let cookie = session_cookie_of(&first);
    // Used every 0.5 s, the session outlives its idle limit…
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            get_with_cookie(&server, "/api/stats", &cookie),
            StatusCode::OK
        );
    }
    // …until its maximum age.
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(
        get_with_cookie(&server, "/api/stats", &cookie),
        StatusCode::UNAUTHORIZED,
        "4 s after login"
    );
    let idle = session_cookie_of(&login(&server, &json!({"token": ADMIN_TOKEN})));
    std::thread::sleep(Duration::from_millis(1700));
    assert_eq!(
        get_with_cookie(&server, "/api/stats", &idle),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn failed_logins_are_limited_per_address_and_audited() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
    });
    for attempt in 1..=5 {
        let response = login(&server, &json!({"token": format!("wrong-{attempt}")}));
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
        let body: Value = response.json().expect("json");
        assert_eq!(body["error"]["message"], json!("invalid credentials"));
    }
    // The fifth failure blocks for a second; even the right token waits.
    let blocked = login(&server, &json!({"token": ADMIN_TOKEN}));
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        blocked
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    std::thread::sleep(Duration::from_millis(1100));
    // The sixth failure blocks for two.
    assert_eq!(
        login(&server, &json!({"token": "wrong-6"})).status(),
        StatusCode::UNAUTHORIZED
    );
    let blocked = login(&server, &json!({"token": ADMIN_TOKEN}));
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        blocked
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("2")
    );
    std::thread::sleep(Duration::from_millis(2100));
    let ok = login(&server, &json!({"token": ADMIN_TOKEN}));
    assert_eq!(ok.status(), StatusCode::OK);
    // Success cleared the count: one failure is not blocked.
    assert_eq!(
        login(&server, &json!({"token": "wrong-7"})).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&server, &json!({"token": ADMIN_TOKEN})).status(),
        StatusCode::OK
    );

    let failed = audit(&server, "action=auth.login&outcome=failed");
    let reasons: Vec<&str> = failed
        .iter()
        .filter_map(|e| e["details"]["reason"].as_str())
        .collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|r| **r == "invalid credentials")
            .count(),
        7
    );
    assert_eq!(reasons.iter().filter(|r| **r == "rate limited").count(), 2);
    // Bad bodies are not logins.
    let response = server.post_bytes("/api/auth/login", "text/plain", None, b"{}".to_vec());
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(login(&server, &json!({})).status(), StatusCode::BAD_REQUEST);
}

fn post_trace(server: &TestServer, header: Option<(&str, String)>) -> (String, StatusCode) {
    let (trace_id, export) = single_span_trace("keyed-device", "GET /", SECOND);
    let mut request = server
        .client()
        .post(server.url("/v1/traces"))
        .header("content-type", PROTOBUF)
        .body(export.encode_to_vec());
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    (trace_id, request.send().expect("POST").status())
}

#[test]
fn a_managed_key_works_until_it_is_revoked() {
    let mut server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
    });
    // No key yet: ingest is open.
    assert_eq!(post_trace(&server, None).1, StatusCode::OK);
    let created = with_token(server.client().post(server.url("/api/keys")))
        .header("content-type", JSON)
        .body(json!({"name": "edge-7"}).to_string())
        .send()
        .expect("POST");
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().expect("json");
    let key = created["key"].as_str().expect("the key, once").to_string();
    assert!(key.starts_with("lk_") && key.len() == 46, "{key}");
    assert_eq!(created["prefix"], json!(&key[..11]));
    assert_eq!(created["name"], json!("edge-7"));
    let id = created["id"].as_i64().expect("id");

    // Now ingest needs a key; the session cookie is not one.
    assert_eq!(post_trace(&server, None).1, StatusCode::UNAUTHORIZED);
    let cookie = session_cookie_of(&login(&server, &json!({"token": ADMIN_TOKEN})));
    assert_eq!(
        post_trace(
            &server,
            Some(("cookie", format!("lookout_session={cookie}")))
        )
        .1,
        StatusCode::UNAUTHORIZED
    );
    let (trace_id, status) = post_trace(&server, Some(("authorization", format!("Bearer {key}"))));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        post_trace(&server, Some(("x-api-key", key.clone()))).1,
        StatusCode::OK
    );
    let response = with_token(
        server
            .client()
            .get(server.url(&format!("/api/traces/{trace_id}"))),
    )
    .send()
    .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    // An ingest key is valid, but not for the admin API: 403, not 401.
    let response = server
        .client()
        .get(server.url("/api/traces"))
        .header("authorization", format!("Bearer {key}"))
        .send()
        .expect("GET");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let listed: Value = with_token(server.client().get(server.url("/api/keys")))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    let keys = listed["keys"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1, "{listed}");
    assert!(
        keys[0].get("key").is_none(),
        "the key is shown once: {listed}"
    );
    assert!(keys[0]["last_used_at"].is_string(), "{listed}");
    // The last use is written in batches (at the latest at shutdown).
    server.restart_with(|config| config.admin_token = Some(ADMIN_TOKEN.into()));
    let listed: Value = with_token(server.client().get(server.url("/api/keys")))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    assert!(listed["keys"][0]["last_used_at"].is_string(), "{listed}");
    assert_eq!(
        post_trace(&server, Some(("authorization", format!("Bearer {key}")))).1,
        StatusCode::OK,
        "keys survive a restart"
    );

    let revoke = with_token(
        server
            .client()
            .delete(server.url(&format!("/api/keys/{id}"))),
    )
    .send()
    .expect("DELETE");
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    // Revoked, and the last key: refused at once, and ingest does not
    // fall open without keys, also after a restart.
    assert_eq!(
        post_trace(&server, Some(("authorization", format!("Bearer {key}")))).1,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post_trace(&server, None).1, StatusCode::UNAUTHORIZED);
    server.restart_with(|config| config.admin_token = Some(ADMIN_TOKEN.into()));
    assert_eq!(
        post_trace(&server, Some(("authorization", format!("Bearer {key}")))).1,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(post_trace(&server, None).1, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post_trace(
            &server,
            Some(("authorization", format!("Bearer {ADMIN_TOKEN}")))
        )
        .1,
        StatusCode::OK,
        "the admin token still ingests"
    );
    let again = with_token(
        server
            .client()
            .delete(server.url(&format!("/api/keys/{id}"))),
    )
    .send()
    .expect("DELETE");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // A new key works; the revoked one stays refused.
    let second: Value = with_token(server.client().post(server.url("/api/keys")))
        .header("content-type", JSON)
        .body(json!({"name": "edge-8"}).to_string())
        .send()
        .expect("POST")
        .json()
        .expect("json");
    let second = second["key"].as_str().expect("the second key");
    assert_eq!(
        post_trace(&server, Some(("authorization", format!("Bearer {second}")))).1,
        StatusCode::OK
    );
    assert_eq!(
        post_trace(&server, Some(("authorization", format!("Bearer {key}")))).1,
        StatusCode::UNAUTHORIZED
    );
    let bad = with_token(server.client().post(server.url("/api/keys")))
        .header("content-type", JSON)
        .body(json!({"name": ""}).to_string())
        .send()
        .expect("POST");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad: Value = bad.json().expect("json");
    assert_eq!(bad["error"]["field"], json!("name"));

    let events = actions(&audit(&server, "action=key."));
    assert_eq!(
        events,
        vec!["key.create ok", "key.revoke ok", "key.create ok"]
    );
    let all = serde_json::to_string(&audit(&server, "limit=1000")).unwrap_or_default();
    assert!(!all.contains(&key), "the key is not in the audit log");
}

#[test]
fn a_cookie_alone_cannot_change_state_without_a_json_content_type() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
    });
    let cookie = session_cookie_of(&login(&server, &json!({"token": ADMIN_TOKEN})));
    let dashboard = json!({"title": "CSRF", "panels": []}).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let response = with_cookie(server.client().post(server.url("/api/dashboards")), &cookie)
            .header("content-type", content_type)
            .body(dashboard.clone())
            .send()
            .expect("POST");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{content_type}");
        let body: Value = response.json().expect("json");
        assert_eq!(body["error"]["code"], json!("forbidden"));
    }
    let response = with_cookie(server.client().delete(server.url("/api/keys/1")), &cookie)
        .send()
        .expect("DELETE");
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "DELETE without a type"
    );
    let saved = with_cookie(server.client().post(server.url("/api/dashboards")), &cookie)
        .header("content-type", "application/json; charset=utf-8")
        .body(dashboard.clone())
        .send()
        .expect("POST");
    assert_eq!(saved.status(), StatusCode::CREATED);
    // Bearer clients are not browsers: no content type rule for them.
    let bearer = with_token(server.client().post(server.url("/api/dashboards")))
        .header("content-type", "text/plain")
        .body(dashboard)
        .send()
        .expect("POST");
    assert_eq!(bearer.status(), StatusCode::CREATED);
    // Reads with the cookie need nothing more.
    assert_eq!(
        get_with_cookie(&server, "/api/dashboards", &cookie),
        StatusCode::OK
    );
}

/// Status and body of a response, for comparing refusals.
fn refusal(response: Response) -> (StatusCode, String) {
    let status = response.status();
    (status, response.text().expect("body"))
}

#[test]
fn refusals_do_not_say_which_part_was_wrong() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
    });
    set_password_with_token(&server, PASSWORD);
    // A login: a wrong password, a wrong token, both, or neither get the
    // same answer.
    let logins: Vec<(StatusCode, String)> = [
        json!({"password": "not the password"}),
        json!({"token": "not-the-token"}),
        json!({"password": "not the password", "token": ADMIN_TOKEN.to_uppercase()}),
        json!({"password": PASSWORD.to_uppercase()}),
    ]
    .iter()
    .map(|body| refusal(login(&server, body)))
    .collect();
    assert_eq!(logins[0].0, StatusCode::UNAUTHORIZED, "{logins:?}");
    assert!(logins.iter().all(|l| l == &logins[0]), "{logins:?}");
    // The API: no credentials, a wrong token, a token of the right length
    // but one character off, an unknown session, and an ended session.
    let ended = session_cookie_of(&login(&server, &json!({"password": PASSWORD})));
    let logout = with_cookie(server.client().post(server.url("/api/auth/logout")), &ended)
        .header("content-type", JSON)
        .body("{}")
        .send()
        .expect("POST");
    assert!(logout.status().is_success(), "{}", logout.status());
    let mut off_by_one = ADMIN_TOKEN.to_string();
    off_by_one.pop();
    off_by_one.push('X');
    let get = || server.client().get(server.url("/api/traces"));
    let answers: Vec<(StatusCode, String)> = [
        get(),
        get().header("authorization", "Bearer wrong"),
        get().header("authorization", format!("Bearer {off_by_one}")),
        with_cookie(get(), &"A".repeat(43)),
        with_cookie(get(), &ended),
    ]
    .into_iter()
    .map(|request| refusal(request.send().expect("GET")))
    .collect();
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED, "{answers:?}");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
}

#[test]
fn health_without_auth_shows_no_details() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
    });
    let (status, open) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::OK, "{open}");
    for (name, check) in open["checks"].as_object().expect("checks") {
        assert_eq!(
            check
                .as_object()
                .map(|c| c.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["status".to_string()]),
            "{name}: {check}"
        );
    }
    let full: Value = with_token(server.client().get(server.url("/health/deep")))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    assert!(full["checks"]["writer"]["commits"].is_number(), "{full}");

    // Failing: the status says so to everyone, the cause only with auth.
    server.writer().inject_write_failure(true);
    let (status, open) = server.get_json("/health/deep");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{open}");
    assert_eq!(open["status"], json!("critical"), "{open}");
    assert_eq!(
        open["checks"]["sqlite"],
        json!({"status": "critical"}),
        "{open}"
    );
    for (name, check) in open["checks"].as_object().expect("checks") {
        assert_eq!(
            check.as_object().map(|c| c.len()),
            Some(1),
            "{name} shows only its status: {check}"
        );
    }
    let full: Value = with_token(server.client().get(server.url("/health/deep")))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    let cause = full["checks"]["sqlite"]["message"].as_str().unwrap_or("");
    assert!(cause.contains("write probe failed"), "{full}");
    server.writer().inject_write_failure(false);

    // With auth off everyone sees the details.
    let open_server = TestServer::start();
    let (_, body) = open_server.get_json("/health/deep");
    assert!(body["checks"]["writer"]["commits"].is_number(), "{body}");
}

#[test]
fn changes_to_rules_dashboards_and_errors_are_audited() {
    let server = TestServer::start_with(|config| {
        config.admin_token = Some(ADMIN_TOKEN.into());
    });
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = with_token(server.client().request(method, server.url(path)));
        if let Some(body) = body {
            request = request.header("content-type", JSON).body(body.to_string());
        }
        let response = request.send().expect("request");
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        (status, body)
    };
    let rule = json!({
        "name": "checkout errors", "kind": "error_rate", "service": "checkout",
        "threshold": 0.05
    });
    let (status, created) = send(
        reqwest::Method::POST,
        "/api/alerts/rules",
        Some(rule.clone()),
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let rule_id = created["id"].as_str().expect("id").to_string();
    let mut changed = rule.clone();
    changed["threshold"] = json!(0.1);
    let path = format!("/api/alerts/rules/{rule_id}");
    assert_eq!(
        send(reqwest::Method::PUT, &path, Some(changed)).0,
        StatusCode::OK
    );
    assert_eq!(
        send(reqwest::Method::DELETE, &path, None).0,
        StatusCode::NO_CONTENT
    );
    let (status, dashboard) = send(
        reqwest::Method::POST,
        "/api/dashboards",
        Some(json!({"title": "Audited", "panels": []})),
    );
    assert_eq!(status, StatusCode::CREATED, "{dashboard}");
    let dashboard_path = format!("/api/dashboards/{}", dashboard["id"].as_str().expect("id"));
    let (status, updated) = send(
        reqwest::Method::PUT,
        &dashboard_path,
        Some(json!({"title": "Audited, renamed", "panels": []})),
    );
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        send(reqwest::Method::DELETE, &dashboard_path, None).0,
        StatusCode::NO_CONTENT
    );
    let grafana = json!({"dashboard": {"title": "From Grafana", "panels": [
        {"type": "timeseries", "title": "Requests",
         "targets": [{"expr": "sum(rate(http_requests_total[5m]))"}]}
    ]}});
    let (status, imported) = send(
        reqwest::Method::POST,
        "/api/dashboards/import/grafana",
        Some(grafana),
    );
    assert_eq!(status, StatusCode::CREATED, "{imported}");

    let events = audit(&server, "");
    let seen = actions(&events);
    for wanted in [
        "alert_rule.create ok",
        "alert_rule.update ok",
        "alert_rule.delete ok",
        "dashboard.create ok",
        "dashboard.update ok",
        "dashboard.delete ok",
        "dashboard.import ok",
    ] {
        assert!(
            seen.iter().any(|e| e == wanted),
            "{wanted} missing: {seen:?}"
        );
    }
    let create = events
        .iter()
        .find(|e| e["action"] == json!("alert_rule.create"))
        .expect("create");
    assert_eq!(create["actor"], json!("admin (token)"));
    assert_eq!(create["target"], json!(rule_id));
    assert_eq!(create["details"]["name"], json!("checkout errors"));
    assert!(create["time"].is_string() && create["id"].is_number());

    // Paging: one at a time, newest first, no repeats.
    let mut cursor = String::new();
    let mut paged = Vec::new();
    loop {
        let query = if cursor.is_empty() {
            "limit=2".to_string()
        } else {
            format!("limit=2&cursor={cursor}")
        };
        let response: Value = with_token(
            server
                .client()
                .get(server.url(&format!("/api/audit?{query}"))),
        )
        .send()
        .expect("GET")
        .json()
        .expect("json");
        for event in response["events"].as_array().cloned().unwrap_or_default() {
            paged.push(event["id"].as_i64().expect("id"));
        }
        match response["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let ids: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert_eq!(paged, ids);
    assert!(ids.windows(2).all(|w| w[0] > w[1]));
    let (status, body) = server.get_json("/api/audit");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// Every file under `dir`.
fn data_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The files under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    data_files(dir)
        .into_iter()
        .filter(|file| {
            let bytes = std::fs::read(file).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .collect()
}

/// Secrets placed everywhere a record can carry them.
const SECRET_KEYED: &str = "hunter2-keyed-secret-value";
const SECRET_BEARER: &str = "eyJhbGciOiJIUzI1NiJ9.bearer-secret-payload";
const SECRET_EMAIL: &str = "jane.secret-person@example.com";
const SECRET_CARD: &str = "4111 1111 1111 1111";

#[test]
fn secrets_are_redacted_before_anything_reaches_the_disk() {
    let server = TestServer::start();
    let trace_id = new_trace_id();
    let span_id = new_span_id();
    let start = now_nanos() - SECOND;
    let mut root = span(
        &trace_id,
        &span_id,
        None,
        &format!("notify {SECRET_EMAIL}"),
        SpanKind::Server,
        start,
        start + 5 * MS,
    );
    root.attributes = vec![
        kv_str("db.password", SECRET_KEYED),
        kv_str(
            "http.request.header.authorization",
            &format!("Bearer {SECRET_BEARER}"),
        ),
        kv_str(
            "note",
            &format!("paid with {SECRET_CARD} by {SECRET_EMAIL}"),
        ),
        kv_array(
            "recipients",
            vec![any_value::Value::StringValue(SECRET_EMAIL.into())],
        ),
        kv_str("order.id", "4111 1111 1111 1112"),
    ];
    root.events = vec![Event {
        time_unix_nano: start + MS,
        name: "login".into(),
        attributes: vec![kv_str("user.token", SECRET_KEYED)],
        ..Default::default()
    }];
    root.links = vec![Link {
        trace_id: new_trace_id(),
        span_id: new_span_id(),
        attributes: vec![kv_str("session", SECRET_KEYED)],
        ..Default::default()
    }];
    let resource = resource_spans(
        "redacted-shop",
        vec![kv_str("deploy.secret", SECRET_KEYED)],
        vec![root],
    );
    server.export(&request(vec![resource]));

    let structured = opentelemetry_proto::tonic::logs::v1::LogRecord {
        time_unix_nano: now_nanos() - SECOND,
        severity_number: 9,
        body: Some(any(any_value::Value::KvlistValue(
            opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: vec![
                    kv_str("password", SECRET_KEYED),
                    kv_str("message", &format!("reset for {SECRET_EMAIL}")),
                ],
            },
        ))),
        ..Default::default()
    };
    let text = log_record(
        now_nanos() - SECOND,
        13,
        "WARN",
        &format!("retrying with Authorization: Bearer {SECRET_BEARER} card {SECRET_CARD}"),
        vec![kv_str("api_key", SECRET_KEYED)],
    );
    server.export_logs(&logs_request(vec![resource_logs(
        "redacted-shop",
        vec![structured, text],
    )]));
    let lines = format!(
        "{}\n",
        json!({"message": format!("signup {SECRET_EMAIL}"), "service": "redacted-shop",
               "user": {"password": SECRET_KEYED}, "level": "info"})
    );
    let answer = server.post_json_lines(&lines);
    assert_eq!(answer["accepted"], json!(1), "{answer}");
    server.flush();

    let trace = server.trace(&hex(&trace_id));
    let text = trace.to_string();
    for secret in [SECRET_KEYED, SECRET_BEARER, SECRET_EMAIL, SECRET_CARD] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("[REDACTED]"), "{text}");
    assert!(
        text.contains("4111 1111 1111 1112"),
        "a number failing Luhn stays: {text}"
    );
    let logs = server.search_logs(&[("service", "redacted-shop")]);
    let logs_text = logs.to_string();
    assert_eq!(logs["logs"].as_array().map(Vec::len), Some(3), "{logs}");
    for secret in [SECRET_KEYED, SECRET_BEARER, SECRET_EMAIL, SECRET_CARD] {
        assert!(!logs_text.contains(secret), "{secret} in {logs_text}");
    }
    // Not findable by search either.
    for word in ["hunter2", "\"jane.secret-person\""] {
        let found = server.search_logs(&[("q", word)]);
        assert_eq!(
            found["logs"].as_array().map(Vec::len),
            Some(0),
            "{word}: {found}"
        );
    }
    let metrics = server.metrics_text();
    let spans = metric_value(&metrics, "lookout_redacted_total{signal=\"spans\"}").unwrap_or(0.0);
    let logs = metric_value(&metrics, "lookout_redacted_total{signal=\"logs\"}").unwrap_or(0.0);
    assert_eq!(spans, 9.0, "values redacted in the span");
    assert_eq!(logs, 7.0, "values redacted in the log records");

    // No file of the data directory holds a secret: the database, its
    // WAL, the journal and the log indexes.
    assert!(
        data_files(server.data_dir())
            .iter()
            .any(|f| f.to_string_lossy().ends_with("-wal")),
        "the WAL is among the files searched"
    );
    for secret in [SECRET_KEYED, SECRET_BEARER, SECRET_EMAIL, SECRET_CARD] {
        let holding = files_containing(server.data_dir(), secret);
        assert!(holding.is_empty(), "{secret} found in {holding:?}");
    }
}

#[test]
fn redaction_can_be_turned_off_or_extended() {
    let server = TestServer::start_with(|config| {
        config.redaction = lookout::ingest::redact::RedactionRules {
            keys: vec!["pin".into()],
            patterns: lookout::ingest::redact::parse_patterns(r"regex:\bAKIA[0-9A-Z]{16}\b")
                .expect("pattern"),
        };
    });
    let (trace_id, mut export) = single_span_trace("custom", "GET /", SECOND);
    export.resource_spans[0].scope_spans[0].spans[0].attributes = vec![
        kv_str("password", "kept-because-not-listed"),
        kv_str("card.pin", "1234"),
        kv_str("aws", "key AKIAABCDEFGHIJKLMNOP here"),
        kv_str("mail", "bob@example.org"),
    ];
    server.export(&export);
    let trace = server.trace(&trace_id).to_string();
    assert!(trace.contains("kept-because-not-listed"), "{trace}");
    assert!(!trace.contains("1234"), "{trace}");
    assert!(trace.contains("key [REDACTED] here"), "{trace}");
    assert!(trace.contains("bob@example.org"), "{trace}");
    server.export_logs(&logs_request(vec![resource_logs(
        "custom",
        vec![log_record(
            now_nanos() - SECOND,
            9,
            "INFO",
            "logged keptlogmarker and key AKIAQRSTUVWXYZ234567",
            vec![],
        )],
    )]));
    // The file search of the redaction test finds what is not redacted,
    // in the database and in the log index files alike.
    server.flush();
    assert!(!files_containing(server.data_dir(), "kept-because-not-listed").is_empty());
    assert!(files_containing(server.data_dir(), "AKIAABCDEFGHIJKLMNOP").is_empty());
    let holding = files_containing(server.data_dir(), "keptlogmarker");
    let logs_dir = server.data_dir().join("logs");
    assert!(
        holding.iter().any(|file| file.starts_with(&logs_dir)),
        "a log index file holds the kept word: {holding:?}"
    );
    assert!(
        holding.iter().any(|file| !file.starts_with(&logs_dir)),
        "the journal holds it: {holding:?}"
    );
    assert!(files_containing(server.data_dir(), "AKIAQRSTUVWXYZ234567").is_empty());
}

#[test]
fn admin_set_password_works_offline_and_refuses_a_running_server() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("tempdir");
    let set_password = |password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args(["admin", "set-password", "--data-dir"])
            .arg(dir.path())
            .env_remove("LOOKOUT_DATA_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lookout");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write the password");
        child.wait_with_output().expect("lookout exits")
    };
    let short = set_password("short");
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("12 to 1024"),
        "{short:?}"
    );
    let done = set_password(PASSWORD);
    assert!(done.status.success(), "{done:?}");

    let config = lookout::config::Config::for_data_dir(dir.path());
    let app = lookout::app::RunningApp::start(config).expect("lookout starts");
    let client = client();
    let (status, session) = {
        let response = client
            .get(format!("{}/api/auth/session", app.base_url()))
            .send()
            .expect("GET");
        (response.status(), response.json::<Value>().expect("json"))
    };
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        session["auth_required"],
        json!(true),
        "a password turns auth on"
    );
    assert_eq!(
        client
            .get(format!("{}/api/traces", app.base_url()))
            .send()
            .expect("GET")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let login = client
        .post(format!("{}/api/auth/login", app.base_url()))
        .header("content-type", JSON)
        .body(json!({"password": PASSWORD}).to_string())
        .send()
        .expect("POST");
    assert_eq!(login.status(), StatusCode::OK);
    // While the server runs, the command refuses and says what to do.
    let refused = set_password("another long passphrase");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("in use") && stderr.contains("/api/auth/password"),
        "{stderr}"
    );
    drop(app);
    let events: Vec<Value> = {
        let app =
            lookout::app::RunningApp::start(lookout::config::Config::for_data_dir(dir.path()))
                .expect("restart");
        let cookie = session_cookie_of(
            &client
                .post(format!("{}/api/auth/login", app.base_url()))
                .header("content-type", JSON)
                .body(json!({"password": PASSWORD}).to_string())
                .send()
                .expect("POST"),
        );
        let answer: Value = client
            .get(format!("{}/api/audit?action=auth.password", app.base_url()))
            .header("cookie", format!("lookout_session={cookie}"))
            .send()
            .expect("GET")
            .json()
            .expect("json");
        answer["events"].as_array().cloned().unwrap_or_default()
    };
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], json!("admin (command line)"));
}

#[test]
fn listening_beyond_loopback_without_auth_is_refused_before_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = lookout::config::Config::for_data_dir(dir.path());
    config.listen = "0.0.0.0:0".parse().expect("addr");
    let error = lookout::app::App::build(config)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("without an admin token or password"),
        "{error}"
    );
}
