//! The alert tables: rules, the engine's per-series memory, instances and
//! the notification outbox. Changes are applied by the writer, each in
//! one transaction with its notifications; the reads serve the API, the
//! engine and the notifier.
//!
//! Changes that touch an instance check its state inside the transaction:
//! an instance resolved by hand while the engine evaluated is not resolved
//! twice, and a unique index keeps one open instance per series.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::alert::{
    AlertChange, AlertChangeApplied, AlertInstance, AlertLabels, AlertRule, AlertSeverity, Channel,
    ChannelKind, Condition, DeliveryOutcome, DeliveryStatus, InstanceState, NoData, Notification,
    NotificationEvent, Resolution, RuleEvaluation, RuleKind, RuleSpec, RuleState, SeriesState,
};
use crate::model::UnixNanos;

/// The stored form of a rule's definition (the `spec` column).
#[derive(Serialize, Deserialize)]
struct StoredSpec {
    name: String,
    description: String,
    kind: String,
    service: Option<String>,
    operation: Option<String>,
    query: Option<String>,
    metric: Option<String>,
    percentile: Option<f64>,
    condition: String,
    threshold: f64,
    recovery_threshold: Option<f64>,
    window_minutes: u32,
    for_minutes: u32,
    keep_firing_minutes: u32,
    no_data: String,
    severity: String,
    cooldown_minutes: u32,
    repeat_minutes: u32,
    enabled: bool,
    labels: AlertLabels,
    channels: Vec<StoredChannel>,
}

#[derive(Serialize, Deserialize)]
struct StoredChannel {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    secret: Option<String>,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("alert {what} {value:?} is not known to this build"))
}

fn encode_spec(spec: &RuleSpec) -> Result<String, StoreError> {
    let stored = StoredSpec {
        name: spec.name.clone(),
        description: spec.description.clone(),
        kind: spec.kind.as_str().into(),
        service: spec.service.clone(),
        operation: spec.operation.clone(),
        query: spec.query.clone(),
        metric: spec.metric.clone(),
        percentile: spec.percentile,
        condition: spec.condition.as_str().into(),
        threshold: spec.threshold,
        recovery_threshold: spec.recovery_threshold,
        window_minutes: spec.window_minutes,
        for_minutes: spec.for_minutes,
        keep_firing_minutes: spec.keep_firing_minutes,
        no_data: spec.no_data.as_str().into(),
        severity: spec.severity.as_str().into(),
        cooldown_minutes: spec.cooldown_minutes,
        repeat_minutes: spec.repeat_minutes,
        enabled: spec.enabled,
        labels: spec.labels.clone(),
        channels: spec
            .channels
            .iter()
            .map(|channel| StoredChannel {
                kind: channel.kind.as_str().into(),
                url: channel.url.clone(),
                secret: channel.secret.clone(),
            })
            .collect(),
    };
    serde_json::to_string(&stored).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn decode_spec(text: &str) -> Result<RuleSpec, StoreError> {
    let stored: StoredSpec = serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("alert rule definition: {error}")))?;
    let channels = stored
        .channels
        .into_iter()
        .map(|channel| {
            Ok(Channel {
                kind: ChannelKind::parse(&channel.kind)
                    .ok_or_else(|| corrupt("channel type", &channel.kind))?,
                url: channel.url,
                secret: channel.secret,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(RuleSpec {
        name: stored.name,
        description: stored.description,
        kind: RuleKind::parse(&stored.kind).ok_or_else(|| corrupt("rule kind", &stored.kind))?,
        service: stored.service,
        operation: stored.operation,
        query: stored.query,
        metric: stored.metric,
        percentile: stored.percentile,
        condition: Condition::parse(&stored.condition)
            .ok_or_else(|| corrupt("condition", &stored.condition))?,
        threshold: stored.threshold,
        recovery_threshold: stored.recovery_threshold,
        window_minutes: stored.window_minutes,
        for_minutes: stored.for_minutes,
        keep_firing_minutes: stored.keep_firing_minutes,
        no_data: NoData::parse(&stored.no_data)
            .ok_or_else(|| corrupt("no_data", &stored.no_data))?,
        severity: AlertSeverity::parse(&stored.severity)
            .ok_or_else(|| corrupt("severity", &stored.severity))?,
        cooldown_minutes: stored.cooldown_minutes,
        repeat_minutes: stored.repeat_minutes,
        enabled: stored.enabled,
        labels: stored.labels,
        channels,
    })
}

fn encode_labels(labels: &AlertLabels) -> Result<String, StoreError> {
    serde_json::to_string(labels).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn decode_labels(text: &str) -> Result<AlertLabels, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("alert labels: {error}")))
}

fn nanos(value: Option<i64>) -> Option<UnixNanos> {
    value.map(UnixNanos)
}

// ---------------------------------------------------------------- writes

/// Applies one change in `tx`. Returns whether it applied.
pub fn apply(tx: &Transaction<'_>, change: &AlertChange) -> Result<AlertChangeApplied, StoreError> {
    match change {
        AlertChange::PutRule {
            id,
            spec,
            at,
            resolutions,
        } => {
            for resolution in resolutions {
                resolve(tx, resolution)?;
            }
            put_rule(tx, id, spec, *at)
        }
        AlertChange::DeleteRule { id, resolutions } => {
            for resolution in resolutions {
                resolve(tx, resolution)?;
            }
            tx.prepare_cached("DELETE FROM alert_series WHERE rule_id = ?1")?
                .execute(params![id])?;
            let deleted = tx
                .prepare_cached("DELETE FROM alert_rules WHERE id = ?1")?
                .execute(params![id])?;
            Ok(deleted > 0)
        }
        AlertChange::Evaluated(evaluations) => {
            for evaluation in evaluations {
                evaluated(tx, evaluation)?;
            }
            Ok(true)
        }
        AlertChange::Acknowledge {
            instance_id,
            by,
            at,
        } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE alert_instances
                     SET state = 'acknowledged', acknowledged_unix_nano = ?2, acknowledged_by = ?3
                     WHERE id = ?1 AND state = 'firing'",
                )?
                .execute(params![instance_id, at.0, by])?;
            Ok(changed > 0)
        }
        AlertChange::Resolve(resolution) => resolve(tx, resolution),
        AlertChange::Delivery {
            notification_id,
            outcome,
            at,
        } => delivery(tx, notification_id, outcome, *at),
        AlertChange::Retry {
            notification_id,
            at,
        } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE alert_notifications
                     SET status = 'pending', next_attempt_unix_nano = ?2, retried_unix_nano = ?2
                     WHERE id = ?1 AND status = 'failed'",
                )?
                .execute(params![notification_id, at.0])?;
            Ok(changed > 0)
        }
    }
}

fn put_rule(
    tx: &Transaction<'_>,
    id: &str,
    spec: &RuleSpec,
    at: UnixNanos,
) -> Result<bool, StoreError> {
    let encoded = encode_spec(spec)?;
    tx.prepare_cached(
        "INSERT INTO alert_rules (id, name, enabled, spec, created_unix_nano, updated_unix_nano)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, enabled = excluded.enabled,
             spec = excluded.spec, updated_unix_nano = excluded.updated_unix_nano",
    )?
    .execute(params![id, spec.name, spec.enabled, encoded, at.0])?;
    if !spec.enabled {
        // A disabled rule is not evaluated: it shows as ok until enabled.
        tx.prepare_cached("UPDATE alert_rules SET state = 'ok', last_error = NULL WHERE id = ?1")?
            .execute(params![id])?;
    }
    Ok(true)
}

fn insert_notifications(
    tx: &Transaction<'_>,
    notifications: &[Notification],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO alert_notifications
             (id, instance_id, channel_type, url, secret, event, status, attempts, last_error,
              payload, created_unix_nano, next_attempt_unix_nano, delivered_unix_nano)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for notification in notifications {
        insert.execute(params![
            notification.id,
            notification.instance_id,
            notification.channel.kind.as_str(),
            notification.channel.url,
            notification.channel.secret,
            notification.event.as_str(),
            notification.status.as_str(),
            notification.attempts,
            notification.last_error,
            notification.payload,
            notification.created_at.0,
            notification.next_attempt_at.0,
            notification.delivered_at.map(|at| at.0),
        ])?;
    }
    Ok(())
}

/// Closes an open instance and queues its notifications; records the
/// resolution on its series (for the cooldown). Nothing happens when the
/// instance is resolved already.
fn resolve(tx: &Transaction<'_>, resolution: &Resolution) -> Result<bool, StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE alert_instances SET state = 'resolved', resolved_unix_nano = ?2, resolved_by = ?3
             WHERE id = ?1 AND state != 'resolved'",
        )?
        .execute(params![resolution.instance_id, resolution.at.0, resolution.by])?;
    if changed == 0 {
        return Ok(false);
    }
    insert_notifications(tx, &resolution.notifications)?;
    tx.prepare_cached(
        "UPDATE alert_series SET last_resolved_unix_nano = ?3, cleared_since_unix_nano = NULL,
             pending_since_unix_nano = NULL
         WHERE rule_id = ?1 AND fingerprint = ?2",
    )?
    .execute(params![
        resolution.rule_id,
        resolution.fingerprint,
        resolution.at.0
    ])?;
    Ok(true)
}

fn evaluated(tx: &Transaction<'_>, evaluation: &RuleEvaluation) -> Result<(), StoreError> {
    let updated = tx
        .prepare_cached(
            "UPDATE alert_rules SET state = ?2, last_value = ?3, last_error = ?4,
                 last_evaluated_unix_nano = ?5
             WHERE id = ?1",
        )?
        .execute(params![
            evaluation.rule_id,
            evaluation.state.as_str(),
            evaluation.last_value,
            evaluation.last_error,
            evaluation.evaluated_at.0
        ])?;
    if updated == 0 {
        // Deleted while it was evaluated: nothing of it is kept.
        return Ok(());
    }
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO alert_series
                 (rule_id, fingerprint, labels, pending_since_unix_nano, cleared_since_unix_nano,
                  last_resolved_unix_nano)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for series in &evaluation.put_series {
            put.execute(params![
                series.rule_id,
                series.fingerprint,
                encode_labels(&series.labels)?,
                series.pending_since.map(|at| at.0),
                series.cleared_since.map(|at| at.0),
                series.last_resolved_at.map(|at| at.0),
            ])?;
        }
        let mut delete =
            tx.prepare_cached("DELETE FROM alert_series WHERE rule_id = ?1 AND fingerprint = ?2")?;
        for fingerprint in &evaluation.delete_series {
            delete.execute(params![evaluation.rule_id, fingerprint])?;
        }
    }
    for (instance, notifications) in &evaluation.fired {
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO alert_instances
                     (id, rule_id, rule_name, severity, fingerprint, labels, state, message, value,
                      threshold, started_unix_nano, last_notified_unix_nano)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                instance.id,
                instance.rule_id,
                instance.rule_name,
                instance.severity.as_str(),
                instance.fingerprint,
                encode_labels(&instance.labels)?,
                instance.state.as_str(),
                instance.message,
                instance.value,
                instance.threshold,
                instance.started_at.0,
                instance.last_notified_at.0,
            ])?;
        // Ignored: the series has an open instance already.
        if inserted > 0 {
            insert_notifications(tx, notifications)?;
        }
    }
    for resolution in &evaluation.resolved {
        resolve(tx, resolution)?;
    }
    for (instance_id, notifications) in &evaluation.renotified {
        let changed = tx
            .prepare_cached(
                "UPDATE alert_instances SET last_notified_unix_nano = ?2
                 WHERE id = ?1 AND state = 'firing'",
            )?
            .execute(params![instance_id, evaluation.evaluated_at.0])?;
        if changed > 0 {
            insert_notifications(tx, notifications)?;
        }
    }
    let mut value = tx.prepare_cached(
        "UPDATE alert_instances SET value = ?2 WHERE id = ?1 AND state != 'resolved'",
    )?;
    for (instance_id, latest) in &evaluation.values {
        value.execute(params![instance_id, latest])?;
    }
    Ok(())
}

fn delivery(
    tx: &Transaction<'_>,
    id: &str,
    outcome: &DeliveryOutcome,
    at: UnixNanos,
) -> Result<bool, StoreError> {
    let changed = match outcome {
        DeliveryOutcome::Delivered => tx
            .prepare_cached(
                "UPDATE alert_notifications SET status = 'delivered', attempts = attempts + 1,
                     last_error = NULL, delivered_unix_nano = ?2
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, at.0])?,
        DeliveryOutcome::Retry { at: next, error } => tx
            .prepare_cached(
                "UPDATE alert_notifications SET attempts = attempts + 1, last_error = ?2,
                     next_attempt_unix_nano = ?3
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, error, next.0])?,
        DeliveryOutcome::Failed { error } => tx
            .prepare_cached(
                "UPDATE alert_notifications SET status = 'failed', attempts = attempts + 1,
                     last_error = ?2
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![id, error])?,
    };
    Ok(changed > 0)
}

/// Deletes resolved instances that resolved before `cutoff`, with their
/// notifications. Returns the instances deleted.
pub fn delete_resolved_before(tx: &Transaction<'_>, cutoff: UnixNanos) -> Result<u64, StoreError> {
    tx.prepare_cached(
        "DELETE FROM alert_notifications WHERE instance_id IN (
             SELECT id FROM alert_instances WHERE state = 'resolved' AND resolved_unix_nano < ?1)",
    )?
    .execute(params![cutoff.0])?;
    let deleted = tx
        .prepare_cached(
            "DELETE FROM alert_instances WHERE state = 'resolved' AND resolved_unix_nano < ?1",
        )?
        .execute(params![cutoff.0])?;
    Ok(deleted as u64)
}

// ----------------------------------------------------------------- reads

const RULE_COLUMNS: &str = "id, spec, state, last_value, last_error, last_evaluated_unix_nano,
    created_unix_nano, updated_unix_nano";

fn rule_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, RuleRest)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        RuleRest {
            last_value: row.get(3)?,
            last_error: row.get(4)?,
            last_evaluated_at: row.get(5)?,
            created_at: row.get(6)?,
            updated_at: row.get(7)?,
        },
    ))
}

struct RuleRest {
    last_value: Option<f64>,
    last_error: Option<String>,
    last_evaluated_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn to_rule(
    (id, spec, state, rest): (String, String, String, RuleRest),
) -> Result<AlertRule, StoreError> {
    Ok(AlertRule {
        id,
        spec: decode_spec(&spec)?,
        state: RuleState::parse(&state).ok_or_else(|| corrupt("rule state", &state))?,
        last_value: rest.last_value,
        last_error: rest.last_error,
        last_evaluated_at: nanos(rest.last_evaluated_at),
        created_at: UnixNanos(rest.created_at),
        updated_at: UnixNanos(rest.updated_at),
    })
}

/// Every rule (only the enabled ones with `enabled_only`), by name.
pub fn list_rules(conn: &Connection, enabled_only: bool) -> Result<Vec<AlertRule>, StoreError> {
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM alert_rules {} ORDER BY name, id",
        if enabled_only {
            "WHERE enabled = 1"
        } else {
            ""
        }
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([], rule_row)?;
    let mut rules = Vec::new();
    for row in rows {
        rules.push(to_rule(row?)?);
    }
    Ok(rules)
}

pub fn find_rule(conn: &Connection, id: &str) -> Result<Option<AlertRule>, StoreError> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row(params![id], rule_row)
        .optional()?
        .map(to_rule)
        .transpose()
}

/// The engine's memory of every series of every rule.
pub fn list_series(conn: &Connection) -> Result<Vec<SeriesState>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT rule_id, fingerprint, labels, pending_since_unix_nano, cleared_since_unix_nano,
             last_resolved_unix_nano
         FROM alert_series",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, Option<i64>>(3)?,
            row.get::<_, Option<i64>>(4)?,
            row.get::<_, Option<i64>>(5)?,
        ))
    })?;
    let mut series = Vec::new();
    for row in rows {
        let (rule_id, fingerprint, labels, pending, cleared, resolved) = row?;
        series.push(SeriesState {
            rule_id,
            fingerprint,
            labels: decode_labels(&labels)?,
            pending_since: nanos(pending),
            cleared_since: nanos(cleared),
            last_resolved_at: nanos(resolved),
        });
    }
    Ok(series)
}

const INSTANCE_COLUMNS: &str = "id, rule_id, rule_name, severity, fingerprint, labels, state,
    message, value, threshold, started_unix_nano, acknowledged_unix_nano, acknowledged_by,
    resolved_unix_nano, resolved_by, last_notified_unix_nano";

#[allow(clippy::type_complexity)]
fn instance_row(row: &Row<'_>) -> rusqlite::Result<AlertInstanceRow> {
    Ok(AlertInstanceRow {
        id: row.get(0)?,
        rule_id: row.get(1)?,
        rule_name: row.get(2)?,
        severity: row.get(3)?,
        fingerprint: row.get(4)?,
        labels: row.get(5)?,
        state: row.get(6)?,
        message: row.get(7)?,
        value: row.get(8)?,
        threshold: row.get(9)?,
        started_at: row.get(10)?,
        acknowledged_at: row.get(11)?,
        acknowledged_by: row.get(12)?,
        resolved_at: row.get(13)?,
        resolved_by: row.get(14)?,
        last_notified_at: row.get(15)?,
    })
}

struct AlertInstanceRow {
    id: String,
    rule_id: String,
    rule_name: String,
    severity: String,
    fingerprint: String,
    labels: String,
    state: String,
    message: String,
    value: Option<f64>,
    threshold: f64,
    started_at: i64,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<String>,
    resolved_at: Option<i64>,
    resolved_by: Option<String>,
    last_notified_at: i64,
}

fn to_instance(row: AlertInstanceRow) -> Result<AlertInstance, StoreError> {
    Ok(AlertInstance {
        severity: AlertSeverity::parse(&row.severity)
            .ok_or_else(|| corrupt("severity", &row.severity))?,
        state: InstanceState::parse(&row.state)
            .ok_or_else(|| corrupt("instance state", &row.state))?,
        labels: decode_labels(&row.labels)?,
        id: row.id,
        rule_id: row.rule_id,
        rule_name: row.rule_name,
        fingerprint: row.fingerprint,
        message: row.message,
        value: row.value,
        threshold: row.threshold,
        started_at: UnixNanos(row.started_at),
        acknowledged_at: nanos(row.acknowledged_at),
        acknowledged_by: row.acknowledged_by,
        resolved_at: nanos(row.resolved_at),
        resolved_by: row.resolved_by,
        last_notified_at: UnixNanos(row.last_notified_at),
    })
}

/// Which instances a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    /// `None`: every state; `Some(states)`: these.
    pub states: Option<Vec<InstanceState>>,
    pub rule_id: Option<String>,
    pub limit: usize,
}

/// Instances matching `filter`, newest first.
pub fn list_instances(
    conn: &Connection,
    filter: &InstanceFilter,
) -> Result<Vec<AlertInstance>, StoreError> {
    let mut sql = format!("SELECT {INSTANCE_COLUMNS} FROM alert_instances WHERE 1 = 1");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(states) = &filter.states {
        let marks: Vec<String> = states
            .iter()
            .map(|state| {
                values.push(state.as_str().to_string().into());
                format!("?{}", values.len())
            })
            .collect();
        sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
    }
    if let Some(rule_id) = &filter.rule_id {
        values.push(rule_id.clone().into());
        sql.push_str(&format!(" AND rule_id = ?{}", values.len()));
    }
    values.push((filter.limit as i64).into());
    sql.push_str(&format!(
        " ORDER BY started_unix_nano DESC, id LIMIT ?{}",
        values.len()
    ));
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(values), instance_row)?;
    let mut instances = Vec::new();
    for row in rows {
        instances.push(to_instance(row?)?);
    }
    Ok(instances)
}

pub fn find_instance(conn: &Connection, id: &str) -> Result<Option<AlertInstance>, StoreError> {
    let sql = format!("SELECT {INSTANCE_COLUMNS} FROM alert_instances WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row(params![id], instance_row)
        .optional()?
        .map(to_instance)
        .transpose()
}

/// Open instances by state: (firing, acknowledged).
pub fn open_counts(conn: &Connection) -> Result<(u64, u64), StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(state = 'firing'), 0), COALESCE(SUM(state = 'acknowledged'), 0)
         FROM alert_instances WHERE state != 'resolved'",
        )?
        .query_row([], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
        })?)
}

const NOTIFICATION_COLUMNS: &str = "id, instance_id, channel_type, url, secret, event, status,
    attempts, last_error, payload, created_unix_nano, next_attempt_unix_nano, delivered_unix_nano,
    retried_unix_nano";

fn notification_row(row: &Row<'_>) -> rusqlite::Result<NotificationRow> {
    Ok(NotificationRow {
        id: row.get(0)?,
        instance_id: row.get(1)?,
        channel_type: row.get(2)?,
        url: row.get(3)?,
        secret: row.get(4)?,
        event: row.get(5)?,
        status: row.get(6)?,
        attempts: row.get(7)?,
        last_error: row.get(8)?,
        payload: row.get(9)?,
        created_at: row.get(10)?,
        next_attempt_at: row.get(11)?,
        delivered_at: row.get(12)?,
        retried_at: row.get(13)?,
    })
}

struct NotificationRow {
    id: String,
    instance_id: String,
    channel_type: String,
    url: String,
    secret: Option<String>,
    event: String,
    status: String,
    attempts: u32,
    last_error: Option<String>,
    payload: String,
    created_at: i64,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
    retried_at: Option<i64>,
}

fn to_notification(row: NotificationRow) -> Result<Notification, StoreError> {
    Ok(Notification {
        channel: Channel {
            kind: ChannelKind::parse(&row.channel_type)
                .ok_or_else(|| corrupt("channel type", &row.channel_type))?,
            url: row.url,
            secret: row.secret,
        },
        event: NotificationEvent::parse(&row.event).ok_or_else(|| corrupt("event", &row.event))?,
        status: DeliveryStatus::parse(&row.status)
            .ok_or_else(|| corrupt("delivery status", &row.status))?,
        id: row.id,
        instance_id: row.instance_id,
        attempts: row.attempts,
        last_error: row.last_error,
        payload: row.payload,
        created_at: UnixNanos(row.created_at),
        next_attempt_at: UnixNanos(row.next_attempt_at),
        delivered_at: nanos(row.delivered_at),
        retried_at: nanos(row.retried_at),
    })
}

fn collect_notifications(
    rows: impl Iterator<Item = rusqlite::Result<NotificationRow>>,
) -> Result<Vec<Notification>, StoreError> {
    let mut notifications = Vec::new();
    for row in rows {
        notifications.push(to_notification(row?)?);
    }
    Ok(notifications)
}

/// The notifications of an instance, oldest first.
pub fn instance_notifications(
    conn: &Connection,
    instance_id: &str,
) -> Result<Vec<Notification>, StoreError> {
    let sql = format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications WHERE instance_id = ?1
         ORDER BY created_unix_nano, id"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![instance_id], notification_row)?;
    collect_notifications(rows)
}

pub fn find_notification(conn: &Connection, id: &str) -> Result<Option<Notification>, StoreError> {
    let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row(params![id], notification_row)
        .optional()?
        .map(to_notification)
        .transpose()
}

/// Pending notifications due by `now`, oldest first, at most `limit`.
pub fn due_notifications(
    conn: &Connection,
    now: UnixNanos,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let sql = format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications
         WHERE status = 'pending' AND next_attempt_unix_nano <= ?1
         ORDER BY next_attempt_unix_nano, created_unix_nano, id LIMIT ?2"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![now.0, limit as i64], notification_row)?;
    collect_notifications(rows)
}

/// Notifications by status: (pending, failed).
pub fn notification_counts(conn: &Connection) -> Result<(u64, u64), StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'failed'), 0)
         FROM alert_notifications WHERE status != 'delivered'",
        )?
        .query_row([], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
        })?)
}

/// Instances open now or resolved since `resolved_since`, whose rule
/// has a channel of `kind`, with their rule: what an Alertmanager sync
/// sends.
pub fn instances_to_sync(
    conn: &Connection,
    resolved_since: UnixNanos,
) -> Result<Vec<AlertInstance>, StoreError> {
    let sql = format!(
        "SELECT {INSTANCE_COLUMNS} FROM alert_instances
         WHERE state != 'resolved' OR resolved_unix_nano >= ?1
         ORDER BY started_unix_nano"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![resolved_since.0], instance_row)?;
    let mut instances = Vec::new();
    for row in rows {
        instances.push(to_instance(row?)?);
    }
    Ok(instances)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RuleSpec {
        RuleSpec {
            name: "checkout errors".into(),
            description: String::new(),
            kind: RuleKind::ErrorRate,
            service: Some("checkout".into()),
            operation: None,
            query: None,
            metric: None,
            percentile: None,
            condition: Condition::Gt,
            threshold: 0.05,
            recovery_threshold: Some(0.01),
            window_minutes: 5,
            for_minutes: 1,
            keep_firing_minutes: 0,
            no_data: NoData::Keep,
            severity: AlertSeverity::Critical,
            cooldown_minutes: 10,
            repeat_minutes: 240,
            enabled: true,
            labels: [("team".to_string(), "shop".to_string())].into(),
            channels: vec![Channel {
                kind: ChannelKind::Webhook,
                url: "http://127.0.0.1:9/hook".into(),
                secret: Some("s3cret".into()),
            }],
        }
    }

    #[test]
    fn a_rule_definition_round_trips_through_its_stored_form() {
        let spec = spec();
        let decoded = decode_spec(&encode_spec(&spec).expect("encode")).expect("decode");
        assert_eq!(decoded, spec);
    }

    #[test]
    fn an_unknown_stored_kind_is_corruption_not_a_panic() {
        let text = encode_spec(&spec())
            .expect("encode")
            .replace("error_rate", "cpu_usage");
        let error = decode_spec(&text).expect_err("unknown kind");
        assert!(error.to_string().contains("cpu_usage"), "{error}");
    }
}
