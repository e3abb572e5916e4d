//! The Jaeger query API under `/jaeger/api/` (the routes of Jaeger's
//! query service that its UI and Grafana's Jaeger data source call):
//! services, operations, trace search, traces by id and dependencies, in
//! Jaeger's envelope and span model (`dto::jaeger`). Errors use the same
//! envelope, `{"data": null, "errors": [{"code", "msg"}]}`, with the
//! status lookout gives the error elsewhere.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};

use super::dto::jaeger::{error_envelope, DependencyDto, Envelope, OperationDto, TraceDto};
use super::error::ApiError;
use super::{read, AppState};
use crate::model::UnixNanos;
use crate::query::jaeger::{parse_dependencies, parse_search, parse_trace_id};
use crate::query::params;

/// An [`ApiError`] answered in Jaeger's envelope.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct JaegerError(#[from] ApiError);

impl From<crate::query::QueryError> for JaegerError {
    fn from(error: crate::query::QueryError) -> JaegerError {
        JaegerError(ApiError::from(error))
    }
}

impl ResponseError for JaegerError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        let status = self.status_code();
        HttpResponse::build(status).json(error_envelope(status.as_u16(), self.0.public_message()))
    }
}

type Answer = Result<HttpResponse, JaegerError>;

pub async fn services(state: web::Data<AppState>) -> Answer {
    let services = read(&state, |reads| reads.services()).await?;
    let names: Vec<String> = services.into_iter().map(|service| service.name).collect();
    let total = names.len();
    Ok(HttpResponse::Ok().json(Envelope::new(names, total)))
}

/// `/services/{service}/operations`: the names of every kind, as Jaeger
/// lists them (an unknown service has none).
pub async fn service_operations(state: web::Data<AppState>, path: web::Path<String>) -> Answer {
    let service = path.into_inner();
    let operations = read(&state, move |reads| reads.operations(&service)).await?;
    let mut names: Vec<String> = operations
        .unwrap_or_default()
        .into_iter()
        .map(|operation| operation.name)
        .collect();
    names.sort();
    names.dedup();
    let total = names.len();
    Ok(HttpResponse::Ok().json(Envelope::new(names, total)))
}

/// `/operations?service=&spanKind=`.
pub async fn operations(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Answer {
    let Some(service) = params::get(&query, "service").map(str::to_string) else {
        return Err(ApiError::BadRequest("parameter 'service' is required".into()).into());
    };
    let kind = params::get(&query, "spanKind").map(str::to_string);
    let operations = read(&state, move |reads| reads.operations(&service)).await?;
    let data: Vec<OperationDto> = operations
        .unwrap_or_default()
        .iter()
        .map(OperationDto::new)
        .filter(|operation| {
            kind.as_deref()
                .is_none_or(|kind| operation.span_kind == kind)
        })
        .collect();
    let total = data.len();
    Ok(HttpResponse::Ok().json(Envelope::new(data, total)))
}

/// `/traces`: whole traces, newest first, by the search or by `traceID`.
pub async fn search(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Answer {
    let mut json_tags = Vec::new();
    for tags in params::all(&query, "tags").filter(|tags| !tags.is_empty()) {
        let map: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(tags)
            .map_err(|error| {
                ApiError::BadRequest(format!(
                    "malformed 'tags' parameter, cannot unmarshal JSON: {error}"
                ))
            })?;
        for (key, value) in map {
            let value = match value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            };
            json_tags.push((key, value));
        }
    }
    let search = parse_search(&query, json_tags, UnixNanos::now())?;
    let traces = read(&state, move |reads| {
        let ids = if search.trace_ids.is_empty() {
            reads
                .search_traces(&search.filter)?
                .traces
                .into_iter()
                .map(|item| item.trace_id)
                .collect()
        } else {
            search.trace_ids
        };
        let mut traces = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(trace) = reads.trace(id)? {
                traces.push(TraceDto::new(trace));
            }
        }
        Ok(traces)
    })
    .await?;
    // Jaeger's search answers carry no total.
    Ok(HttpResponse::Ok().json(Envelope::new(traces, 0)))
}

/// `/traces/{traceID}`: one trace, or 404 "trace not found".
pub async fn trace(state: web::Data<AppState>, path: web::Path<String>) -> Answer {
    let trace_id = parse_trace_id(&path.into_inner())?;
    match read(&state, move |reads| reads.trace(trace_id)).await? {
        Some(trace) => Ok(HttpResponse::Ok().json(Envelope::new(vec![TraceDto::new(trace)], 0))),
        None => Err(ApiError::NotFound("trace not found".into()).into()),
    }
}

/// `/dependencies?endTs=&lookback=`: calls between services (virtual
/// nodes such as databases included), optionally of one `service`.
pub async fn dependencies(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Answer {
    let (start, end) = parse_dependencies(&query, UnixNanos::now())?;
    let service = params::get(&query, "service").map(str::to_string);
    let edges = read(&state, move |reads| reads.dependencies(start, end)).await?;
    let links: Vec<DependencyDto> = edges
        .iter()
        .filter(|edge| {
            service
                .as_deref()
                .is_none_or(|service| edge.parent == service || edge.child == service)
        })
        .map(DependencyDto::new)
        .collect();
    Ok(HttpResponse::Ok().json(Envelope::new(links, 0)))
}

/// Any other `/jaeger/api/` route.
pub async fn not_found() -> Answer {
    Err(ApiError::NotFound("no such route in the Jaeger query API".into()).into())
}
