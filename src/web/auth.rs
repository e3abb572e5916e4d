//! Bearer-token auth. With `--admin-token` set, `/api/*` needs it; with
//! `--api-key` set, ingest (`/v1/*`) needs one of the keys (or the admin
//! token), as `Authorization: Bearer …` or `x-api-key: …`. `/health` and
//! `/metrics` stay open for probes and scrapers. Comparisons are constant
//! time.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;

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

/// `Ok` if the request may proceed.
pub fn check(state: &AppState, request: &ServiceRequest) -> Result<(), ApiError> {
    let path = request.path();
    if request.method() == actix_web::http::Method::OPTIONS {
        return Ok(()); // CORS preflight carries no credentials
    }
    let admin = state.config.admin_token.as_deref();
    let presented = presented_token(request);
    let is_admin = match (admin, presented.as_deref()) {
        (Some(expected), Some(given)) => matches(given, expected),
        _ => false,
    };
    if path.starts_with("/v1/") {
        let keys = &state.config.api_keys;
        if keys.is_empty() || is_admin {
            return Ok(());
        }
        let valid = presented.as_deref().is_some_and(|given| {
            keys.iter()
                .fold(false, |found, key| matches(given, key) | found)
        });
        return if valid {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(
                "ingest needs an API key: send Authorization: Bearer <key> or x-api-key".into(),
            ))
        };
    }
    if path.starts_with("/api/") && admin.is_some() && !is_admin {
        return Err(ApiError::Unauthorized(
            "the API needs the admin token: send Authorization: Bearer <token>".into(),
        ));
    }
    Ok(())
}

pub async fn authorize(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        check(state, &request)?;
    }
    next.call(request).await
}
