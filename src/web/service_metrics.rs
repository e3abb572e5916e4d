//! Service metrics derived from spans: `/api/metrics/red` and
//! `/api/metrics/summary`.

use actix_web::{web, HttpResponse};

use super::dto::{RedSeriesDto, SummaryDto};
use super::error::ApiError;
use super::{read, AppState};
use crate::model::UnixNanos;
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
