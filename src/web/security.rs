//! `/api/auth/*` (login sessions, the admin password), `/api/keys`
//! (managed ingest keys) and `/api/audit`. The decisions are
//! [`crate::security`]'s; every change is audited in its own transaction.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{self, caller, remote_addr, SESSION_COOKIE};
use super::error::ApiError;
use super::{read, AppState};
use crate::model::security::{AuditEvent, SecurityChange, StoredAuditEvent, StoredKey};
use crate::model::{format_rfc3339, UnixNanos};
use crate::query::audit::{next_cursor, parse_audit_filter};
use crate::security::{password, Principal, SecurityError};

/// What a failed login says, whatever was wrong.
const INVALID_CREDENTIALS: &str = "invalid credentials";

impl From<SecurityError> for ApiError {
    fn from(error: SecurityError) -> Self {
        match error {
            SecurityError::Write(error) => ApiError::from(error),
            SecurityError::Read(error) => ApiError::from(error),
            SecurityError::Password(password::PasswordError::Length) => ApiError::BadField {
                field: "password".into(),
                message: password::PasswordError::Length.to_string(),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Bodies of these endpoints are JSON, and only JSON (415 otherwise).
pub(super) fn json_body<T: for<'de> Deserialize<'de>>(
    request: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    if !auth::is_json(request.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be Content-Type: application/json".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid: {error}")))
}

fn time(at: UnixNanos) -> String {
    format_rfc3339(at)
}

fn session_cookie(state: &AppState, value: String, max_age_seconds: i64) -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_seconds))
        .finish();
    if state.security.options().secure_cookie {
        cookie.set_secure(true);
    }
    cookie
}

/// A cookie that makes the browser forget the session.
fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = session_cookie(state, String::new(), 0);
    cookie.make_removal();
    cookie
}

/// Writes an audit row that goes with no other change (a failed login).
async fn record(state: &AppState, event: AuditEvent) -> Result<i64, ApiError> {
    Ok(state
        .writer
        .write_security(SecurityChange::AuditOnly, vec![event])
        .await?)
}

/// `GET /api/auth/session`: whether auth is on and whether this request
/// is authenticated (and how). Always open.
pub async fn session(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let security = &state.security;
    let principal = auth::authenticate(&state, request.headers()).ok();
    let expires_at = match &principal {
        Some(Principal::Session(hash)) => security.session_expiry(hash).map(time),
        _ => None,
    };
    HttpResponse::Ok().json(json!({
        "auth_required": security.auth_required(),
        "authenticated": principal.is_some(),
        "via": principal.as_ref().map(Principal::via),
        "password_set": security.password_set(),
        "token_set": security.token_set(),
        "expires_at": expires_at,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    password: Option<String>,
    token: Option<String>,
}

/// `POST /api/auth/login`: a password or the admin token for a session
/// cookie. Failures are rate limited per address and audited.
pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let addr = remote_addr(&request);
    let audit =
        || AuditEvent::new("anonymous", "auth.login").remote_addr(addr.map(|a| a.to_string()));
    let given: LoginBody = json_body(&request, &body)?;
    let security = &state.security;
    if !security.auth_required() {
        return Err(ApiError::BadRequest(
            "auth is off: no admin password or token is configured, so there is nothing to log in with".into(),
        ));
    }
    if given.password.is_none() && given.token.is_none() {
        return Err(ApiError::BadRequest(
            "the body needs \"password\" or \"token\"".into(),
        ));
    }
    if let Err(blocked) = security.login_allowed(addr) {
        let retry_after = blocked.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        if blocked.first_refusal {
            let event = audit()
                .failed()
                .details(json!({"reason": "rate limited", "retry_after_seconds": retry_after}));
            record(&state, event).await?;
        }
        return Err(ApiError::TooManyRequests {
            message: format!("too many failed logins from this address: retry in {retry_after} s"),
            retry_after,
        });
    }
    let method = if given.password.is_some() {
        "password"
    } else {
        "token"
    };
    let checker = state.clone();
    let ok = web::block(move || {
        checker
            .security
            .verify_login(given.password.as_deref(), given.token.as_deref())
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))?;
    if !ok {
        security.login_failed(addr);
        let event = audit()
            .failed()
            .details(json!({"reason": INVALID_CREDENTIALS, "method": method}));
        record(&state, event).await?;
        return Err(ApiError::Unauthorized(INVALID_CREDENTIALS.into()));
    }
    security.login_succeeded(addr);
    let actor = format!("admin ({method})");
    let event = AuditEvent::new(actor, "auth.login")
        .remote_addr(addr.map(|a| a.to_string()))
        .details(json!({"method": method}));
    let created = security.create_session(&state.writer, vec![event]).await?;
    // The cookie lives as long as the session may (its absolute expiry);
    // the idle limit is the server's to enforce.
    let max_age = state.security.options().session_max_age.as_secs() as i64;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&state, created.id, max_age))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"authenticated": true, "expires_at": time(created.expires)})))
}

/// `POST /api/auth/logout`: ends the session server-side and clears the
/// cookie. Without a live session it only clears the cookie.
pub async fn logout(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !auth::is_json(request.headers()) {
        return Err(ApiError::Forbidden(
            "logout must be Content-Type: application/json".into(),
        ));
    }
    if let Ok(Principal::Session(hash)) = auth::authenticate(&state, request.headers()) {
        let event = AuditEvent::new(Principal::Session(hash).actor(), "auth.logout")
            .remote_addr(remote_addr(&request).map(|a| a.to_string()));
        state
            .security
            .end_session(&state.writer, hash, vec![event])
            .await?;
    }
    Ok(HttpResponse::NoContent()
        .cookie(removal_cookie(&state))
        .finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
    current_password: Option<String>,
}

/// `POST /api/auth/password`: sets the admin password; every session ends.
pub async fn change_password(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let given: PasswordBody = json_body(&request, &body)?;
    password::check_new(&given.password).map_err(SecurityError::from)?;
    let checker = state.clone();
    let current = given.current_password.clone();
    let current_ok =
        web::block(move || checker.security.verify_current_password(current.as_deref()))
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))?;
    let caller = caller(&request);
    if !current_ok {
        let event = caller
            .audit("auth.password")
            .failed()
            .details(json!({"reason": "wrong current password"}));
        record(&state, event).await?;
        return Err(ApiError::BadField {
            field: "current_password".into(),
            message: "is not the current password".into(),
        });
    }
    let event = caller.audit("auth.password");
    state
        .security
        .set_password(&state.writer, given.password, vec![event])
        .await?;
    Ok(HttpResponse::NoContent()
        .cookie(removal_cookie(&state))
        .finish())
}

fn key_json(key: &StoredKey) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": time(key.created),
        "last_used_at": key.last_used.map(time),
    })
}

/// `GET /api/keys`: managed keys not revoked, newest first.
pub async fn list_keys(state: web::Data<AppState>) -> HttpResponse {
    let keys: Vec<Value> = state.security.keys().iter().map(key_json).collect();
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    name: String,
}

/// `POST /api/keys`: a new ingest key, shown once.
pub async fn create_key(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let given: KeyBody = json_body(&request, &body)?;
    let name = given.name.trim().to_string();
    let length = name.chars().count();
    if !(1..=100).contains(&length) || name.chars().any(char::is_control) {
        return Err(ApiError::BadField {
            field: "name".into(),
            message: "must be 1 to 100 characters, without control characters".into(),
        });
    }
    let event = caller(&request).audit("key.create").target(name.clone());
    let created = state
        .security
        .create_key(&state.writer, name, vec![event])
        .await?;
    let mut answer = key_json(&created.stored);
    answer["key"] = json!(created.key);
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

/// `DELETE /api/keys/{id}`: refused from now on.
pub async fn revoke_key(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no key with id {:?}", id.as_str())))?;
    let name = state
        .security
        .keys()
        .into_iter()
        .find(|key| key.id == id)
        .map(|key| key.name);
    let Some(name) = name else {
        return Err(ApiError::NotFound(format!("no key with id {id}")));
    };
    let event = caller(&request)
        .audit("key.revoke")
        .target(name)
        .details(json!({"id": id}));
    if !state
        .security
        .revoke_key(&state.writer, id, vec![event])
        .await?
    {
        return Err(ApiError::NotFound(format!("no key with id {id}")));
    }
    Ok(HttpResponse::NoContent().finish())
}

fn audit_json(stored: &StoredAuditEvent) -> Value {
    let event = &stored.event;
    json!({
        "id": stored.id,
        "time": time(event.time),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "remote_addr": event.remote_addr,
        "outcome": event.outcome.as_str(),
        "details": event.details,
    })
}

/// `GET /api/audit`: newest first, with cursor paging.
pub async fn audit(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter = parse_audit_filter(&query, UnixNanos::now())?;
    let (events, more) = read(&state, move |reads| reads.audit_events(&filter)).await?;
    let next = more
        .then(|| events.last().map(|last| next_cursor(last.id)))
        .flatten();
    let events: Vec<Value> = events.iter().map(audit_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "events": events, "next_cursor": next })))
}
