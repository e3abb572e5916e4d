//! `/api/errors`: error groups (list, one group with its counts) and what
//! a user does with one (resolve, ignore, reopen, through the writer).

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::caller;
use super::dto::errors::{ErrorDetailDto, ErrorGroupDto, ErrorListDto};
use super::error::ApiError;
use super::{read, AppState};
use crate::model::error_group::ErrorAction;
use crate::model::UnixNanos;
use crate::query::errors::{error_range, next_cursor, parse_error_filter, series_step_minutes};

fn group_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .map_err(|_| ApiError::NotFound(format!("no error group with id {text:?}")))
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter = parse_error_filter(&query, UnixNanos::now())?;
    let (offset, limit) = (filter.offset, filter.limit);
    let (groups, more) = read(&state, move |reads| reads.error_groups(&filter)).await?;
    Ok(HttpResponse::Ok().json(ErrorListDto {
        groups: groups.iter().map(ErrorGroupDto::new).collect(),
        next_cursor: more.then(|| next_cursor(offset + limit)),
    }))
}

pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let id = group_id(&id)?;
    let range = error_range(&query, UnixNanos::now())?;
    let step = series_step_minutes(&query, range)?;
    let found = read(&state, move |reads| reads.error_group(id, range, step)).await?;
    let detail = found.ok_or_else(|| ApiError::NotFound(format!("no error group with id {id}")))?;
    Ok(HttpResponse::Ok().json(ErrorDetailDto::new(&detail)))
}

/// `POST /api/errors/{id}/{action}`: answers the group as it is now.
pub async fn act(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let id = group_id(&id)?;
    let action = ErrorAction::parse(&action).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no action {action:?} on error groups (there are {})",
            ErrorAction::names()
        ))
    })?;
    let audit = caller(&request)
        .audit(&format!("error_group.{}", action.as_str()))
        .target(id.to_string());
    if !state
        .writer
        .write_error_action(id, action, vec![audit])
        .await?
    {
        return Err(ApiError::NotFound(format!("no error group with id {id}")));
    }
    let range = error_range(&[], UnixNanos::now())?;
    let found = read(&state, move |reads| reads.error_group(id, range, 60)).await?;
    let detail = found.ok_or_else(|| ApiError::NotFound(format!("no error group with id {id}")))?;
    Ok(HttpResponse::Ok().json(ErrorGroupDto::new(&detail.group)))
}
