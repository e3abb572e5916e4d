//! Bearer-token auth, attached per route scope (so it applies to the path
//! the router matched, percent-decoded, not to the raw request line).
//!
//! - `/v1/*` (OTLP) and `/api/ingest/*`: with `--api-key` set, one of the
//!   keys (or the admin token) is required, as `Authorization: Bearer …` or
//!   `x-api-key: …`. OTLP endpoints answer a refusal with the OTLP error
//!   body.
//! - the rest of `/api/*`: with `--admin-token` set, the token is required.
//! - `/health`, `/health/deep` and `/metrics` stay open for probes and
//!   scrapers.
//!
//! Comparisons are constant time.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::ingest::otlp::Encoding;

fn presented_token(request: &ServiceRequest) -> Option<String> {
    let headers = request.headers();
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Some(token.trim().to_string());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

fn matches(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

fn is_admin(state: &AppState, presented: Option<&str>) -> bool {
    match (state.config.admin_token.as_deref(), presented) {
        (Some(expected), Some(given)) => matches(given, expected),
        _ => false,
    }
}

/// `Ok` if the request may ingest.
pub fn check_ingest(state: &AppState, request: &ServiceRequest) -> Result<(), ApiError> {
    let keys = &state.config.api_keys;
    let presented = presented_token(request);
    if keys.is_empty() || is_admin(state, presented.as_deref()) {
        return Ok(());
    }
    // Compare against every key so timing does not tell which one matched.
    let valid = presented.as_deref().is_some_and(|given| {
        keys.iter()
            .fold(false, |found, key| matches(given, key) | found)
    });
    if valid {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "ingest needs an API key: send Authorization: Bearer <key> or x-api-key".into(),
        ))
    }
}

/// `Ok` if the request may use the API.
pub fn check_admin(state: &AppState, request: &ServiceRequest) -> Result<(), ApiError> {
    if state.config.admin_token.is_none() || is_admin(state, presented_token(request).as_deref()) {
        return Ok(());
    }
    Err(ApiError::Unauthorized(
        "the API needs the admin token: send Authorization: Bearer <token>".into(),
    ))
}

fn state(request: &ServiceRequest) -> Option<web::Data<AppState>> {
    request.app_data::<web::Data<AppState>>().cloned()
}

/// CORS preflights carry no credentials; the CORS middleware answers them.
fn is_preflight(request: &ServiceRequest) -> bool {
    request.method() == actix_web::http::Method::OPTIONS
}

/// Middleware for OTLP endpoints: refusals use the OTLP error body in the
/// request's encoding.
pub async fn require_otlp_key(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(state) = state(&request) {
        if let (false, Err(error)) = (is_preflight(&request), check_ingest(&state, &request)) {
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
    if let Some(state) = state(&request) {
        if let (false, Err(error)) = (is_preflight(&request), check_ingest(&state, &request)) {
            let response = error.error_response();
            return Ok(request.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(request).await?.map_into_left_body())
}

/// Middleware for the query and admin API.
pub async fn require_admin(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(state) = state(&request) {
        if let (false, Err(error)) = (is_preflight(&request), check_admin(&state, &request)) {
            let response = error.error_response();
            return Ok(request.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(request).await?.map_into_left_body())
}
