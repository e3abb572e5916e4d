//! Trace query endpoints: services, operations, search and one trace.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::model::{TraceId, UnixNanos};
use crate::query::params::encode_cursor;
use crate::query::traces::parse_trace_filter;
use crate::store::sqlite::read;

/// Runs a read on the blocking pool with a pooled read-only connection.
pub async fn with_reader<T: Send + 'static>(
    state: &web::Data<AppState>,
    work: impl FnOnce(&rusqlite::Connection) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    web::block(move || {
        let conn = state.reads.get()?;
        work(&conn)
    })
    .await?
}

pub async fn services(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let services = with_reader(&state, |conn| Ok(read::list_services(conn)?)).await?;
    Ok(HttpResponse::Ok().json(json!({ "services": services })))
}

pub async fn operations(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let service = path.into_inner();
    let lookup = service.clone();
    let operations = with_reader(&state, move |conn| {
        Ok(read::list_operations(conn, &lookup)?)
    })
    .await?;
    match operations {
        Some(operations) => Ok(HttpResponse::Ok().json(json!({ "operations": operations }))),
        None => Err(ApiError::NotFound(format!("unknown service {service:?}"))),
    }
}

pub async fn search(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter = parse_trace_filter(&query, UnixNanos::now())
        .map_err(|error| ApiError::BadRequest(error.0))?;
    let page = with_reader(&state, move |conn| Ok(read::search_traces(conn, &filter)?)).await?;
    let next_cursor = page
        .next
        .map(|(start, rowid)| encode_cursor(&[start, rowid]));
    Ok(HttpResponse::Ok().json(json!({ "traces": page.traces, "next_cursor": next_cursor })))
}

pub async fn get_trace(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let text = path.into_inner();
    let trace_id = TraceId::from_hex(&text)
        .map_err(|error| ApiError::BadRequest(format!("trace id {text:?}: {error}")))?;
    let trace = with_reader(&state, move |conn| Ok(read::find_trace(conn, trace_id)?)).await?;
    match trace {
        Some(trace) => Ok(HttpResponse::Ok().json(trace)),
        None => Err(ApiError::NotFound(format!(
            "no trace {}",
            trace_id.to_hex()
        ))),
    }
}
