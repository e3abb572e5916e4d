//! `GET /api/stats`: stored counts, bytes on disk (as last measured, off
//! the request path), ingest totals and the stored time range.

use actix_web::{web, HttpResponse};

use super::dto::{DiskDto, IngestedDto, StatsDto};
use super::error::ApiError;
use super::{read, AppState};

pub async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let stored = read(&state, |reads| reads.stored_counts()).await?;
    let usage = state
        .usage
        .last()
        .map(|last| last.usage.map_err(|error| error.to_string()));
    let ingested = IngestedDto {
        spans: state.metrics.ingested_spans.get(),
        logs: state.metrics.ingested_logs.get(),
    };
    let disk = DiskDto::new(state.disk_budget.as_deref());
    Ok(HttpResponse::Ok().json(StatsDto::new(stored, usage, ingested, disk)))
}
