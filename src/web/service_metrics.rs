//! Service metrics derived from spans: `/api/metrics/red`,
//! `/api/metrics/summary` and the service graph, `/api/dependencies`.

use actix_web::{web, HttpResponse};

use super::dto::{DependenciesDto, RedSeriesDto, SummaryDto};
use super::error::ApiError;
use super::{read, AppState};
use crate::model::UnixNanos;
use crate::query::graph::parse_dependencies;
use crate::query::red::{parse_red, parse_summary};

pub async fn red(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let query = parse_red(&query, UnixNanos::now())?;
    let points = read(&state, move |reads| reads.red(&query)).await?;
    Ok(HttpResponse::Ok().json(RedSeriesDto::new(points)))
}

pub async fn summary(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let query = parse_summary(&query, UnixNanos::now())?;
    let groups = read(&state, move |reads| reads.metrics_summary(&query)).await?;
    Ok(HttpResponse::Ok().json(SummaryDto::new(groups)))
}

pub async fn dependencies(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let (start, end) = parse_dependencies(&query, UnixNanos::now())?;
    let edges = read(&state, move |reads| reads.dependencies(start, end)).await?;
    Ok(HttpResponse::Ok().json(DependenciesDto::new(edges)))
}
