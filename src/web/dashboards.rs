//! `/api/dashboards`: saved and built-in dashboards (CRUD through the
//! writer), Grafana import, a panel's data and the variables' options.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::auth::caller;
use super::dto::{LogRecordDto, TraceSummaryDto};
use super::error::ApiError;
use super::{read, AppState};
use crate::alerts::random_hex;
use crate::dashboards::data::{panel_data, PanelRange, QueryData, SeriesData};
use crate::dashboards::model::{Dashboard, DashboardSummary};
use crate::dashboards::{self, validate};
use crate::model::dashboard::DashboardChange;
use crate::model::{format_rfc3339, UnixNanos};
use crate::query::params::{self, Params};

async fn find(state: &web::Data<AppState>, id: String) -> Result<Dashboard, ApiError> {
    let wanted = id.clone();
    read(state, move |reads| dashboards::find(reads, &wanted))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard with id {id:?}")))
}

fn checked(body: &[u8]) -> Result<Dashboard, ApiError> {
    let mut dashboard = validate::parse(body)?;
    validate::check(&mut dashboard)?;
    Ok(dashboard)
}

/// Saves a dashboard with the audit row of the action (`dashboard.create`,
/// `.update`, `.import`).
async fn save(
    state: &web::Data<AppState>,
    request: &HttpRequest,
    action: &str,
    id: String,
    dashboard: &Dashboard,
) -> Result<Dashboard, ApiError> {
    let audit = caller(request)
        .audit(action)
        .target(id.clone())
        .details(json!({"title": dashboard.title}));
    state
        .writer
        .write_dashboard(
            DashboardChange::Put {
                id: id.clone(),
                title: dashboard.title.clone(),
                body: dashboards::to_body(dashboard),
                at: UnixNanos::now(),
            },
            vec![audit],
        )
        .await?;
    find(state, id).await
}

pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (builtin, saved) = read(&state, |reads| {
        let builtin = dashboards::builtin_dashboards(reads)?;
        let saved = reads
            .dashboards()?
            .iter()
            .map(dashboards::from_stored)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((builtin, saved))
    })
    .await?;
    let summaries: Vec<DashboardSummary> = builtin
        .iter()
        .chain(&saved)
        .map(DashboardSummary::of)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "dashboards": summaries })))
}

pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(find(&state, id.into_inner()).await?))
}

pub async fn create(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let dashboard = checked(&body)?;
    let saved = save(
        &state,
        &request,
        "dashboard.create",
        random_hex(8),
        &dashboard,
    )
    .await?;
    Ok(HttpResponse::Created().json(saved))
}

fn refuse_builtin(id: &str) -> Result<(), ApiError> {
    if dashboards::is_builtin(id) {
        return Err(ApiError::Conflict(format!(
            "dashboard {id:?} is built in and cannot be changed: save a copy with POST /api/dashboards"
        )));
    }
    Ok(())
}

pub async fn update(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    refuse_builtin(&id)?;
    find(&state, id.clone()).await?;
    let dashboard = checked(&body)?;
    let saved = save(&state, &request, "dashboard.update", id, &dashboard).await?;
    Ok(HttpResponse::Ok().json(saved))
}

pub async fn delete(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    refuse_builtin(&id)?;
    let audit = caller(&request)
        .audit("dashboard.delete")
        .target(id.clone());
    if !state
        .writer
        .write_dashboard(DashboardChange::Delete { id: id.clone() }, vec![audit])
        .await?
    {
        return Err(ApiError::NotFound(format!("no dashboard with id {id:?}")));
    }
    Ok(HttpResponse::NoContent().finish())
}

pub async fn import_grafana(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let source: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not JSON: {error}")))?;
    let imported = dashboards::import_grafana(&source)?;
    if params::get(&query, "dry_run") == Some("true") {
        return Ok(HttpResponse::Ok().json(json!({
            "dashboard": imported.dashboard,
            "unmapped": imported.unmapped,
        })));
    }
    let saved = save(
        &state,
        &request,
        "dashboard.import",
        random_hex(8),
        &imported.dashboard,
    )
    .await?;
    Ok(HttpResponse::Created().json(json!({ "dashboard": saved, "unmapped": imported.unmapped })))
}

/// `var-NAME` parameters, in order.
fn requested_variables(query: &Params) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in query {
        if let Some(name) = key.strip_prefix("var-") {
            out.entry(name.to_string()).or_default().push(value.clone());
        }
    }
    out
}

/// The request's range: its parameters, else the dashboard's lookback.
fn range_of(
    query: &Params,
    dashboard: &Dashboard,
    now: UnixNanos,
) -> Result<(UnixNanos, UnixNanos), ApiError> {
    let given = ["start", "end", "lookback"]
        .iter()
        .any(|name| params::get(query, name).is_some());
    if given {
        return Ok(params::time_range(query, now)?);
    }
    let defaulted = [("lookback".to_string(), dashboard.time.lookback.clone())];
    Ok(params::time_range(&defaulted, now)?)
}

const MIN_STEP_SECONDS: i64 = 15;
const POINTS: i64 = 200;
const MAX_POINTS: i64 = 11_000;

fn step_of(query: &Params, (start, end): (UnixNanos, UnixNanos)) -> Result<i64, ApiError> {
    let range_seconds = ((end.0 - start.0) / 1_000_000_000).max(1);
    let step = match params::get(query, "step") {
        None => (range_seconds / POINTS).max(MIN_STEP_SECONDS),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .or_else(|| {
                humantime::parse_duration(text)
                    .ok()
                    .map(|d| d.as_secs() as i64)
            })
            .filter(|step| *step >= 1)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "parameter step: {text:?} is not a duration like 30s"
                ))
            })?,
    };
    if range_seconds / step > MAX_POINTS {
        return Err(ApiError::BadRequest(format!(
            "parameter step: more than {MAX_POINTS} points over this range; use a longer step"
        )));
    }
    Ok(step)
}

fn series_json(series: &[SeriesData]) -> Vec<Value> {
    series
        .iter()
        .map(|s| {
            let points: Vec<Value> = s
                .points
                .iter()
                .map(|(t, v)| json!([t, if v.is_finite() { json!(v) } else { Value::Null }]))
                .collect();
            json!({ "labels": s.labels, "legend": s.legend, "points": points })
        })
        .collect()
}

pub async fn panel(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let (id, panel_id) = path.into_inner();
    let dashboard = find(&state, id.clone()).await?;
    let panel = dashboard
        .panels
        .iter()
        .find(|panel| panel.id == panel_id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("dashboard {id:?} has no panel {panel_id:?}")))?;
    let (start, end) = range_of(&query, &dashboard, UnixNanos::now())?;
    let step_seconds = step_of(&query, (start, end))?;
    let requested = requested_variables(&query);
    let range = PanelRange {
        start,
        end,
        step_seconds,
    };
    let answers = read(&state, move |reads| {
        let range_ms = (start.0 / 1_000_000, end.0 / 1_000_000);
        let resolved = dashboards::resolve_variables(reads, &dashboard, &requested, range_ms)?;
        let bindings = dashboards::bindings(
            &dashboard,
            &resolved,
            step_seconds,
            (end.0 - start.0) / 1_000_000_000,
        );
        Ok(panel_data(reads, &panel, &bindings, range))
    })
    .await?;
    let mut queries = Vec::new();
    let mut errors = Vec::new();
    for (index, answer) in answers.into_iter().enumerate() {
        let mut entry = json!({ "kind": answer.kind, "query": answer.query });
        match answer.data {
            Err(message) => {
                errors.push(json!({ "query": index, "message": message }));
                entry["series"] = json!([]);
            }
            Ok(QueryData::Series(series)) => entry["series"] = json!(series_json(&series)),
            Ok(QueryData::Logs {
                total,
                series,
                records,
            }) => {
                entry["total"] = json!(total);
                entry["series"] = json!(series_json(&series));
                if !records.is_empty() {
                    let records: Vec<LogRecordDto> = records
                        .iter()
                        .map(|(id, record)| LogRecordDto::new(*id, record))
                        .collect();
                    entry["records"] = json!(records);
                }
            }
            Ok(QueryData::Traces(traces)) => {
                let traces: Vec<TraceSummaryDto> =
                    traces.into_iter().map(TraceSummaryDto::new).collect();
                entry["traces"] = json!(traces);
            }
        }
        queries.push(entry);
    }
    Ok(HttpResponse::Ok().json(json!({
        "panel_id": panel_id,
        "start": format_rfc3339(start),
        "end": format_rfc3339(end),
        "step_seconds": step_seconds,
        "queries": queries,
        "errors": errors,
    })))
}

pub async fn variables(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let dashboard = find(&state, id.into_inner()).await?;
    let (start, end) = range_of(&query, &dashboard, UnixNanos::now())?;
    let requested = requested_variables(&query);
    let resolved = read(&state, move |reads| {
        dashboards::resolve_variables(
            reads,
            &dashboard,
            &requested,
            (start.0 / 1_000_000, end.0 / 1_000_000),
        )
    })
    .await?;
    let list: Vec<Value> = resolved
        .into_iter()
        .map(
            |(name, values, current)| json!({ "name": name, "values": values, "current": current }),
        )
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "variables": list })))
}
