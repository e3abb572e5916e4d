//! Auth, attached per route scope (so it applies to the path the router
//! matched, percent-decoded, not to the raw request line). The decisions
//! are [`crate::security::Security`]'s; this module reads credentials from
//! requests and turns refusals into answers.
//!
//! - `/v1/*` (OTLP) and `/api/ingest/*`: while any ingest key exists (an
//!   `--api-key` or a managed key), one of them (or the admin token) is
//!   required, as `Authorization: Bearer …` or `x-api-key: …`. The session
//!   cookie is never read here. OTLP endpoints answer a refusal with the
//!   OTLP error body.
//! - the rest of `/api/*` and `/prometheus/*`: while auth is on (an admin
//!   token or password), the admin token as a bearer token or a live
//!   session cookie. A request authenticated by its cookie that changes
//!   state must be `application/json` (a cross-site form cannot send
//!   that), else 403. An ingest key here is a 403.
//! - `/api/auth/*`, `/health`, `/health/deep` and `/metrics` stay open;
//!   `/health/deep` leaves out its messages for callers without auth.
//!
//! Without the server's state a request is refused (fail closed).

use std::net::IpAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, ResponseError};

use super::error::ApiError;
use super::AppState;
use crate::ingest::otlp::Encoding;
use crate::model::security::AuditEvent;
use crate::model::UnixNanos;
use crate::security::{Principal, Refusal};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "lookout_session";

/// The one message of a refused admin request: it never says which part
/// of the credentials was wrong.
const UNAUTHENTICATED: &str =
    "authentication required: log in, or send Authorization: Bearer <admin token>";

/// Who is calling, as the admin middleware established it; handlers use it
/// for audit rows.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub remote_addr: Option<IpAddr>,
}

impl Caller {
    /// An audit event by this caller, at the current time.
    pub fn audit(&self, action: &str) -> AuditEvent {
        AuditEvent::new(self.principal.actor(), action)
            .remote_addr(self.remote_addr.map(|addr| addr.to_string()))
    }
}

/// The caller of a request that passed the admin middleware. A handler
/// outside it (there is none that audits) would see an anonymous caller.
pub fn caller(request: &HttpRequest) -> Caller {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller {
            principal: Principal::Open,
            remote_addr: remote_addr(request),
        })
}

/// The connection's peer address (never a forwarded header: those are
/// the client's to write).
pub fn remote_addr(request: &HttpRequest) -> Option<IpAddr> {
    request.peer_addr().map(|addr| addr.ip())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    bearer_token(headers.get("authorization")?.to_str().ok()?)
}

/// The token of an `Authorization: Bearer TOKEN` value.
fn bearer_token(value: &str) -> Option<&str> {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// The ingest key a request presents, from its `authorization` and
/// `x-api-key` values (HTTP headers or gRPC metadata): the Bearer token,
/// else the `x-api-key`.
pub(super) fn presented_ingest_key<'a>(
    authorization: Option<&'a str>,
    api_key: Option<&'a str>,
) -> Option<&'a str> {
    authorization
        .and_then(bearer_token)
        .or_else(|| api_key.map(str::trim))
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    presented_ingest_key(value("authorization"), value("x-api-key"))
}

/// The session id from the `Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all("cookie")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Checks a request's admin credentials.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, Refusal> {
    state
        .security
        .check_admin(bearer(headers), session_cookie(headers), UnixNanos::now())
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request's body is declared `application/json` (parameters
/// such as `charset` allowed).
pub(super) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// `Ok` with the caller if the request may use the admin API.
fn check_admin(state: &AppState, request: &ServiceRequest) -> Result<Principal, ApiError> {
    let principal = authenticate(state, request.headers()).map_err(|refusal| match refusal {
        Refusal::Unauthenticated => ApiError::Unauthorized(UNAUTHENTICATED.into()),
        Refusal::WrongKind => ApiError::Forbidden(
            "an ingest key cannot use the admin API: send the admin token or log in".into(),
        ),
    })?;
    if matches!(principal, Principal::Session(_))
        && changes_state(request.method())
        && !is_json(request.headers())
    {
        return Err(ApiError::Forbidden(
            "a request that changes state with a session cookie must be Content-Type: application/json".into(),
        ));
    }
    Ok(principal)
}

/// `Ok` if the request may ingest.
fn check_ingest(state: &AppState, request: &ServiceRequest) -> Result<(), ApiError> {
    if state
        .security
        .check_ingest(presented_key(request.headers()), UnixNanos::now())
    {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "ingest needs an API key: send Authorization: Bearer <key> or x-api-key".into(),
        ))
    }
}

fn state(request: &ServiceRequest) -> Result<web::Data<AppState>, ApiError> {
    request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| {
            ApiError::Internal("the server state is missing; refusing the request".into())
        })
}

/// CORS preflights carry no credentials; the CORS middleware answers them.
fn is_preflight(request: &ServiceRequest) -> bool {
    request.method() == Method::OPTIONS
}

/// Middleware for OTLP endpoints: refusals use the OTLP error body in the
/// request's encoding.
pub async fn require_otlp_key(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !is_preflight(&request) {
        if let Err(error) = state(&request).and_then(|state| check_ingest(&state, &request)) {
            let encoding = request
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .and_then(Encoding::from_content_type)
                .unwrap_or(Encoding::Json);
            let response = error.otlp_response(encoding);
            return Ok(request.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(request).await?.map_into_left_body())
}

/// Middleware for non-OTLP ingest endpoints.
pub async fn require_ingest_key(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !is_preflight(&request) {
        if let Err(error) = state(&request).and_then(|state| check_ingest(&state, &request)) {
            let response = error.error_response();
            return Ok(request.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(request).await?.map_into_left_body())
}

/// Middleware for the query and admin API: refuses, or records the caller
/// in the request's extensions.
pub async fn require_admin(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    admit(request, next, check_admin).await
}

/// Middleware for `/api/admin` (operations such as backups): the admin
/// credentials, or the control file's token of a command on this machine.
pub async fn require_local_or_admin(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    admit(request, next, |state, request| {
        match bearer(request.headers()) {
            Some(token) if state.security.is_local_token(token) => Ok(Principal::Local),
            _ => check_admin(state, request),
        }
    })
    .await
}

async fn admit(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
    check: impl FnOnce(&AppState, &ServiceRequest) -> Result<Principal, ApiError>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !is_preflight(&request) {
        match state(&request).and_then(|state| check(&state, &request)) {
            Ok(principal) => {
                let remote_addr = request.peer_addr().map(|addr| addr.ip());
                request.extensions_mut().insert(Caller {
                    principal,
                    remote_addr,
                });
            }
            Err(error) => {
                let response = error.error_response();
                return Ok(request.into_response(response).map_into_right_body());
            }
        }
    }
    Ok(next.call(request).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let map = headers(&[("cookie", "theme=dark; lookout_session=abc123 ; x=y")]);
        assert_eq!(session_cookie(&map), Some("abc123"));
        let map = headers(&[("cookie", "a=b"), ("cookie", "lookout_session=zz")]);
        assert_eq!(session_cookie(&map), Some("zz"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "lookout_session=")])),
            None
        );
        assert_eq!(session_cookie(&headers(&[])), None);
    }

    #[test]
    fn keys_come_from_bearer_or_x_api_key() {
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer k1")])),
            Some("k1")
        );
        assert_eq!(
            presented_key(&headers(&[("x-api-key", " k2 ")])),
            Some("k2")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Basic eA==")])),
            None
        );
    }

    /// With the server state missing (a wiring mistake), every guard
    /// refuses with a 500 instead of letting the request through.
    #[actix_web::test]
    async fn without_its_state_every_guard_refuses() {
        use actix_web::middleware::from_fn;
        use actix_web::{test, App, HttpResponse};
        let reached = || async { HttpResponse::Ok().body("reached the handler") };
        let app = test::init_service(
            App::new()
                .service(
                    web::scope("/v1")
                        .wrap(from_fn(require_otlp_key))
                        .route("/traces", web::post().to(reached)),
                )
                .service(
                    web::scope("/ingest")
                        .wrap(from_fn(require_ingest_key))
                        .route("/logs", web::post().to(reached)),
                )
                .service(
                    web::scope("/admin")
                        .wrap(from_fn(require_local_or_admin))
                        .route("/backup", web::post().to(reached)),
                )
                .service(
                    web::scope("/api")
                        .wrap(from_fn(require_admin))
                        .route("/traces", web::get().to(reached)),
                ),
        )
        .await;
        for (method, path) in [
            (Method::POST, "/v1/traces"),
            (Method::POST, "/ingest/logs"),
            (Method::POST, "/admin/backup"),
            (Method::GET, "/api/traces"),
        ] {
            let request = test::TestRequest::default()
                .method(method)
                .uri(path)
                .insert_header(("authorization", "Bearer anything"))
                .to_request();
            let response = test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), 500, "{path}");
            let body = test::read_body(response).await;
            assert!(
                !String::from_utf8_lossy(&body).contains("reached the handler"),
                "{path}"
            );
        }
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(!is_json(&headers(&[])));
    }
}
