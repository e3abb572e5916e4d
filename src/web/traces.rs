//! Trace query endpoints: services, operations, search and one trace.

use actix_web::{web, HttpResponse};

use super::dto::{OperationsDto, ServicesDto, TraceDto, TracePageDto};
use super::error::ApiError;
use super::{read, AppState};
use crate::model::{TraceId, UnixNanos};
use crate::query::traces::parse_trace_filter;

pub async fn services(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let services = read(&state, |reads| reads.services()).await?;
    Ok(HttpResponse::Ok().json(ServicesDto::new(services)))
}

pub async fn operations(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let service = path.into_inner();
    let lookup = service.clone();
    match read(&state, move |reads| reads.operations(&lookup)).await? {
        Some(operations) => Ok(HttpResponse::Ok().json(OperationsDto::new(operations))),
        None => Err(ApiError::NotFound(format!("unknown service {service:?}"))),
    }
}

pub async fn search(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter = parse_trace_filter(&query, UnixNanos::now())?;
    let page = read(&state, move |reads| reads.search_traces(&filter)).await?;
    Ok(HttpResponse::Ok().json(TracePageDto::new(page)))
}

/// Parses a trace id from the path; a 400 names it.
pub fn path_trace_id(text: &str) -> Result<TraceId, ApiError> {
    TraceId::from_hex(text)
        .map_err(|error| ApiError::BadRequest(format!("trace id {text:?}: {error}")))
}

pub async fn get_trace(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let trace_id = path_trace_id(&path.into_inner())?;
    match read(&state, move |reads| reads.trace(trace_id)).await? {
        Some(trace) => Ok(HttpResponse::Ok().json(TraceDto::new(trace))),
        None => Err(ApiError::NotFound(format!(
            "no trace {}",
            trace_id.to_hex()
        ))),
    }
}
