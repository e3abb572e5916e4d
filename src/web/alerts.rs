//! `/api/alerts/*`: rules (CRUD, dry-run evaluation, preview), instances
//! (list, ack, resolve) and notification retries. Every change is a writer
//! command; reads run on the blocking pool.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::auth::caller;
use super::dto::alerts::{actor, rule_input};
use super::error::ApiError;
use super::{read, AppState};
use crate::alerts::evaluate::{self, SeriesValue};
use crate::alerts::random_hex;
use crate::alerts::rules::validate;
use crate::alerts::wire::{InstanceView, NotificationView, RuleView};
use crate::model::alert::{
    AlertChange, AlertRule, DeliveryStatus, InstanceState, NoData, RuleSpec, RuleState,
};
use crate::model::UnixNanos;
use crate::query::params::{self, Params};
use crate::query::QueryError;
use crate::store::sqlite::alerts::InstanceFilter;

const DEFAULT_INSTANCES: usize = 100;
const MAX_INSTANCES: usize = 1_000;
const MAX_PREVIEW_POINTS: i64 = 500;

fn json_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not JSON: {error}")))
}

fn spec_of(body: &[u8], previous: Option<&RuleSpec>) -> Result<RuleSpec, ApiError> {
    let input = rule_input(&json_body(body)?)?;
    Ok(validate(&input, previous)?)
}

async fn find_rule(state: &web::Data<AppState>, id: String) -> Result<AlertRule, ApiError> {
    let wanted = id.clone();
    read(state, move |reads| reads.alert_rule(&wanted))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert rule with id {id:?}")))
}

pub async fn list_rules(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rules = read(&state, |reads| reads.alert_rules(false)).await?;
    let views: Vec<RuleView> = rules.iter().map(RuleView::new).collect();
    Ok(HttpResponse::Ok().json(json!({ "rules": views })))
}

pub async fn get_rule(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rule = find_rule(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(RuleView::new(&rule)))
}

pub async fn create_rule(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let spec = spec_of(&body, None)?;
    let id = random_hex(8);
    let audit = caller(&request)
        .audit("alert_rule.create")
        .target(id.clone())
        .details(json!({"name": spec.name}));
    state
        .writer
        .write_alert(
            AlertChange::PutRule {
                id: id.clone(),
                spec,
                at: UnixNanos::now(),
                resolutions: Vec::new(),
            },
            vec![audit],
        )
        .await?;
    let rule = find_rule(&state, id).await?;
    Ok(HttpResponse::Created().json(RuleView::new(&rule)))
}

pub async fn update_rule(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let stored = find_rule(&state, id.into_inner()).await?;
    let spec = spec_of(&body, Some(&stored.spec))?;
    // Disabling a rule closes its open instances, as deleting it does.
    let resolutions = if stored.spec.enabled && !spec.enabled {
        resolutions_of(&state, &stored, "rule disabled").await?
    } else {
        Vec::new()
    };
    let notify = !resolutions.is_empty();
    let audit = caller(&request)
        .audit("alert_rule.update")
        .target(stored.id.clone())
        .details(json!({"name": spec.name, "enabled": spec.enabled}));
    state
        .writer
        .write_alert(
            AlertChange::PutRule {
                id: stored.id.clone(),
                spec,
                at: UnixNanos::now(),
                resolutions,
            },
            vec![audit],
        )
        .await?;
    if notify {
        state.alerts.notifier.wake();
    }
    let rule = find_rule(&state, stored.id).await?;
    Ok(HttpResponse::Ok().json(RuleView::new(&rule)))
}

/// The resolutions (with their notifications) of a rule's open instances.
async fn resolutions_of(
    state: &web::Data<AppState>,
    rule: &AlertRule,
    by: &str,
) -> Result<Vec<crate::model::alert::Resolution>, ApiError> {
    let rule_id = rule.id.clone();
    let open = read(state, move |reads| {
        reads.alert_instances(&InstanceFilter {
            states: Some(vec![InstanceState::Firing, InstanceState::Acknowledged]),
            rule_id: Some(rule_id),
            limit: usize::MAX >> 1,
        })
    })
    .await?;
    let now = UnixNanos::now();
    Ok(open
        .iter()
        .map(|instance| state.alerts.resolution(Some(rule), instance, by, now))
        .collect())
}

/// Deletes a rule; its open instances resolve and say so.
pub async fn delete_rule(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rule = find_rule(&state, id.into_inner()).await?;
    let resolutions = resolutions_of(&state, &rule, "rule deleted").await?;
    let audit = caller(&request)
        .audit("alert_rule.delete")
        .target(rule.id.clone())
        .details(json!({"name": rule.spec.name}));
    state
        .writer
        .write_alert(
            AlertChange::DeleteRule {
                id: rule.id.clone(),
                resolutions,
            },
            vec![audit],
        )
        .await?;
    state.alerts.notifier.wake();
    Ok(HttpResponse::NoContent().finish())
}

/// Whether a series' value would open an instance (ignoring `for` and
/// cooldown).
fn would_fire(spec: &RuleSpec, series: &SeriesValue) -> bool {
    match series.value {
        Some(value) => spec.condition.holds(value, spec.threshold),
        None => spec.no_data == NoData::Firing,
    }
}

async fn dry_run(state: &web::Data<AppState>, spec: RuleSpec) -> Result<HttpResponse, ApiError> {
    let now = UnixNanos::now();
    let rule_spec = spec.clone();
    let series = read(state, move |reads| {
        evaluate::evaluate(reads, &rule_spec, now)
    })
    .await?;
    let upper = spec.condition.is_upper();
    let value = series
        .iter()
        .filter_map(|series| series.value)
        .filter(|value| !value.is_nan())
        .reduce(|a, b| if upper { a.max(b) } else { a.min(b) });
    let fires = if series.is_empty() {
        spec.no_data == NoData::Firing
    } else {
        series.iter().any(|series| would_fire(&spec, series))
    };
    let listed: Vec<serde_json::Value> = series
        .iter()
        .map(|series| {
            json!({
                "labels": series.labels,
                "value": series.value.filter(|v| v.is_finite()),
                "would_fire": would_fire(&spec, series),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "value": value.filter(|v| v.is_finite()),
        "would_fire": fires,
        "series": listed,
    })))
}

pub async fn evaluate_rule(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rule = find_rule(&state, id.into_inner()).await?;
    dry_run(&state, rule.spec).await
}

/// A rule in a dry run's body: its channels play no part (a fetched
/// rule's masked secrets may be sent as they are), nor does its name.
fn dry_run_spec_of(body: &[u8]) -> Result<RuleSpec, ApiError> {
    let mut input = rule_input(&json_body(body)?)?;
    input.channels = None;
    if input
        .name
        .as_deref()
        .is_none_or(|name| name.trim().is_empty())
    {
        input.name = Some("dry run".into());
    }
    Ok(validate(&input, None)?)
}

pub async fn evaluate_spec(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let spec = dry_run_spec_of(&body)?;
    dry_run(&state, spec).await
}

/// The preview's times: the range in steps (default a sixtieth of it, in
/// whole minutes, at least one).
fn preview_times(params: &Params, now: UnixNanos) -> Result<Vec<UnixNanos>, QueryError> {
    let (start, end) = params::time_range(params, now)?;
    let span = (end.0 - start.0).max(0);
    let minute = 60_000_000_000i64;
    let step = match params::get(params, "step") {
        Some(text) => {
            let parsed = text
                .parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
                .map(Duration::from_secs_f64)
                .or_else(|| humantime::parse_duration(text).ok())
                .ok_or_else(|| {
                    QueryError::Invalid(format!(
                        "parameter step: {text:?} is not a duration (60s, 5m) or seconds"
                    ))
                })?;
            let nanos = parsed.as_nanos().min(i64::MAX as u128) as i64;
            if nanos < minute {
                return Err(QueryError::Invalid(
                    "parameter step: must be at least 1m".into(),
                ));
            }
            nanos
        }
        None => ((span / 60).div_euclid(minute) * minute).max(minute),
    };
    if span / step >= MAX_PREVIEW_POINTS {
        return Err(QueryError::Invalid(format!(
            "parameter step: the range would have more than {MAX_PREVIEW_POINTS} points; use a larger step"
        )));
    }
    let first = end.0 - (span / step) * step;
    Ok((0..=span / step)
        .map(|index| UnixNanos(first + index * step))
        .collect())
}

async fn preview(
    state: &web::Data<AppState>,
    spec: RuleSpec,
    query: &Params,
) -> Result<HttpResponse, ApiError> {
    let times = preview_times(query, UnixNanos::now())?;
    let rule_spec = spec.clone();
    let lines = read(state, move |reads| {
        evaluate::preview(reads, &rule_spec, &times)
    })
    .await?;
    let series: Vec<serde_json::Value> = lines
        .into_iter()
        .map(|(labels, points)| {
            let points: Vec<serde_json::Value> = points
                .into_iter()
                .map(|(time, value)| json!([time, value.filter(|v| v.is_finite())]))
                .collect();
            json!({"labels": labels, "points": points})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "condition": spec.condition.as_str(),
        "threshold": spec.threshold,
        "recovery_threshold": spec.recovery_threshold,
        "series": series,
    })))
}

pub async fn preview_rule(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let rule = find_rule(&state, id.into_inner()).await?;
    preview(&state, rule.spec, &query).await
}

pub async fn preview_spec(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let spec = dry_run_spec_of(&body)?;
    preview(&state, spec, &query).await
}

fn instance_filter(query: &Params) -> Result<InstanceFilter, ApiError> {
    let states = match params::get(query, "state") {
        None | Some("") | Some("all") => None,
        Some("active") => Some(vec![InstanceState::Firing, InstanceState::Acknowledged]),
        Some(text) => Some(vec![InstanceState::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "parameter state: {text:?} is not one of {}, active or all",
                InstanceState::names()
            ))
        })?]),
    };
    let limit = match params::get(query, "limit") {
        None => DEFAULT_INSTANCES,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_INSTANCES).contains(limit))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "parameter limit: must be between 1 and {MAX_INSTANCES}, got {text:?}"
                ))
            })?,
    };
    Ok(InstanceFilter {
        states,
        rule_id: params::get(query, "rule_id").map(str::to_string),
        limit,
    })
}

pub async fn list_instances(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let filter = instance_filter(&query)?;
    let (instances, (firing, acknowledged)) = read(&state, move |reads| {
        Ok((reads.alert_instances(&filter)?, reads.alert_counts()?))
    })
    .await?;
    let views: Vec<InstanceView> = instances
        .iter()
        .map(|instance| InstanceView::new(instance, None))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "instances": views,
        "counts": {"firing": firing, "acknowledged": acknowledged},
    })))
}

async fn instance_answer(
    state: &web::Data<AppState>,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let wanted = id.clone();
    let found = read(state, move |reads| {
        let Some(instance) = reads.alert_instance(&wanted)? else {
            return Ok(None);
        };
        let notifications = reads.instance_notifications(&wanted)?;
        Ok(Some((instance, notifications)))
    })
    .await?;
    let (instance, notifications) =
        found.ok_or_else(|| ApiError::NotFound(format!("no alert instance with id {id:?}")))?;
    Ok(HttpResponse::Ok().json(InstanceView::new(&instance, Some(&notifications))))
}

pub async fn get_instance(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    instance_answer(&state, id.into_inner()).await
}

async fn find_instance(
    state: &web::Data<AppState>,
    id: &str,
) -> Result<crate::model::alert::AlertInstance, ApiError> {
    let wanted = id.to_string();
    read(state, move |reads| reads.alert_instance(&wanted))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert instance with id {id:?}")))
}

pub async fn ack_instance(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let caller = caller(&request);
    let by = actor(&body)?.unwrap_or_else(|| "admin".into());
    let instance = find_instance(&state, &id).await?;
    match instance.state {
        InstanceState::Resolved => {
            return Err(ApiError::Conflict(
                "the instance is resolved; only an open one can be acknowledged".into(),
            ))
        }
        InstanceState::Acknowledged => {}
        InstanceState::Firing => {
            let audit = caller
                .audit("alert.ack")
                .target(instance.id.clone())
                .details(json!({"rule_id": instance.rule_id, "by": by}));
            let applied = state
                .writer
                .write_alert(
                    AlertChange::Acknowledge {
                        instance_id: instance.id.clone(),
                        by,
                        at: UnixNanos::now(),
                    },
                    vec![audit],
                )
                .await?;
            if !applied {
                return Err(ApiError::Conflict("the instance resolved meanwhile".into()));
            }
        }
    }
    instance_answer(&state, instance.id).await
}

pub async fn resolve_instance(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let by = actor(&body)?.unwrap_or_else(|| "admin".into());
    let instance = find_instance(&state, &id).await?;
    if !instance.is_open() {
        return Err(ApiError::Conflict(
            "the instance is resolved already".into(),
        ));
    }
    let rule_id = instance.rule_id.clone();
    let rule = read(&state, move |reads| reads.alert_rule(&rule_id)).await?;
    let resolution = state
        .alerts
        .resolution(rule.as_ref(), &instance, &by, UnixNanos::now());
    let audit = caller(&request)
        .audit("alert.resolve")
        .target(instance.id.clone())
        .details(json!({"rule_id": instance.rule_id, "by": by}));
    let applied = state
        .writer
        .write_alert(AlertChange::Resolve(resolution), vec![audit])
        .await?;
    if !applied {
        return Err(ApiError::Conflict(
            "the instance is resolved already".into(),
        ));
    }
    state.alerts.notifier.wake();
    instance_answer(&state, instance.id).await
}

async fn find_notification(
    state: &web::Data<AppState>,
    id: &str,
) -> Result<crate::model::alert::Notification, ApiError> {
    let wanted = id.to_string();
    read(state, move |reads| reads.notification(&wanted))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no notification with id {id:?}")))
}

pub async fn retry_notification(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let notification = find_notification(&state, &id).await?;
    if notification.status != DeliveryStatus::Failed {
        return Err(ApiError::Conflict(format!(
            "the notification is {}; only a failed one is retried by hand",
            notification.status.as_str()
        )));
    }
    let audit = caller(&request)
        .audit("notification.retry")
        .target(id.clone());
    let applied = state
        .writer
        .write_alert(
            AlertChange::Retry {
                notification_id: id.clone(),
                at: UnixNanos::now(),
            },
            vec![audit],
        )
        .await?;
    if !applied {
        return Err(ApiError::Conflict(
            "the notification is not failed any more".into(),
        ));
    }
    state.alerts.notifier.wake();
    let notification = find_notification(&state, &id).await?;
    Ok(HttpResponse::Ok().json(NotificationView::new(&notification)))
}

/// Rules by state, for `/metrics` (every state listed, zeros included).
pub fn rule_states(states: &[(RuleState, u64)]) -> Vec<(&'static str, u64)> {
    RuleState::ALL
        .iter()
        .map(|state| {
            let count = states
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, count)| *count);
            (state.as_str(), count)
        })
        .collect()
}
