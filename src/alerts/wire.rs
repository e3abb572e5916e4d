//! The JSON of rules, instances and notifications: the API's shapes
//! (served by `web`) and the bodies lookout sends (webhook, Slack,
//! Alertmanager). One place, because a webhook carries the same rule and
//! instance objects the API returns.

use serde::Serialize;
use serde_json::{json, Value};

use super::rules::MASKED_SECRET;
use super::state::format_value;
use crate::model::alert::{AlertInstance, AlertLabels, AlertRule, Notification, NotificationEvent};
use crate::model::{format_rfc3339, UnixNanos};

fn time(at: Option<UnixNanos>) -> Option<String> {
    at.map(format_rfc3339)
}

#[derive(Debug, Serialize)]
pub struct ChannelView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub url: String,
    /// Masked: secrets are write-only.
    pub secret: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub kind: &'static str,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub query: Option<String>,
    pub metric: Option<String>,
    pub percentile: Option<f64>,
    pub condition: &'static str,
    pub threshold: f64,
    pub recovery_threshold: Option<f64>,
    pub window_minutes: u32,
    pub for_minutes: u32,
    pub keep_firing_minutes: u32,
    pub no_data: &'static str,
    pub severity: &'static str,
    pub cooldown_minutes: u32,
    pub repeat_minutes: u32,
    pub enabled: bool,
    pub labels: AlertLabels,
    pub channels: Vec<ChannelView>,
    pub state: &'static str,
    pub last_value: Option<f64>,
    pub last_error: Option<String>,
    pub last_evaluated_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl RuleView {
    pub fn new(rule: &AlertRule) -> RuleView {
        let spec = &rule.spec;
        RuleView {
            id: rule.id.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            kind: spec.kind.as_str(),
            service: spec.service.clone(),
            operation: spec.operation.clone(),
            query: spec.query.clone(),
            metric: spec.metric.clone(),
            percentile: spec.percentile,
            condition: spec.condition.as_str(),
            threshold: spec.threshold,
            recovery_threshold: spec.recovery_threshold,
            window_minutes: spec.window_minutes,
            for_minutes: spec.for_minutes,
            keep_firing_minutes: spec.keep_firing_minutes,
            no_data: spec.no_data.as_str(),
            severity: spec.severity.as_str(),
            cooldown_minutes: spec.cooldown_minutes,
            repeat_minutes: spec.repeat_minutes,
            enabled: spec.enabled,
            labels: spec.labels.clone(),
            channels: spec
                .channels
                .iter()
                .map(|channel| ChannelView {
                    kind: channel.kind.as_str(),
                    url: channel.url.clone(),
                    secret: channel.secret.as_ref().map(|_| MASKED_SECRET),
                })
                .collect(),
            state: rule.state.as_str(),
            last_value: rule.last_value.filter(|v| v.is_finite()),
            last_error: rule.last_error.clone(),
            last_evaluated_at: time(rule.last_evaluated_at),
            created_at: format_rfc3339(rule.created_at),
            updated_at: format_rfc3339(rule.updated_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NotificationView {
    pub id: String,
    pub instance_id: String,
    pub channel: &'static str,
    pub url: String,
    pub event: &'static str,
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub retried_at: Option<String>,
}

impl NotificationView {
    pub fn new(notification: &Notification) -> NotificationView {
        NotificationView {
            id: notification.id.clone(),
            instance_id: notification.instance_id.clone(),
            channel: notification.channel.kind.as_str(),
            url: notification.channel.url.clone(),
            event: notification.event.as_str(),
            status: notification.status.as_str(),
            attempts: notification.attempts,
            last_error: notification.last_error.clone(),
            next_attempt_at: format_rfc3339(notification.next_attempt_at),
            created_at: format_rfc3339(notification.created_at),
            delivered_at: time(notification.delivered_at),
            retried_at: time(notification.retried_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct InstanceView {
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: &'static str,
    pub labels: AlertLabels,
    pub state: &'static str,
    pub message: String,
    pub value: Option<f64>,
    pub threshold: f64,
    pub started_at: String,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<String>,
    pub resolved_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Vec<NotificationView>>,
}

impl InstanceView {
    pub fn new(instance: &AlertInstance, notifications: Option<&[Notification]>) -> InstanceView {
        InstanceView {
            id: instance.id.clone(),
            rule_id: instance.rule_id.clone(),
            rule_name: instance.rule_name.clone(),
            severity: instance.severity.as_str(),
            labels: instance.labels.clone(),
            state: instance.state.as_str(),
            message: instance.message.clone(),
            value: instance.value.filter(|v| v.is_finite()),
            threshold: instance.threshold,
            started_at: format_rfc3339(instance.started_at),
            acknowledged_at: time(instance.acknowledged_at),
            acknowledged_by: instance.acknowledged_by.clone(),
            resolved_at: time(instance.resolved_at),
            resolved_by: instance.resolved_by.clone(),
            notifications: notifications
                .map(|list| list.iter().map(NotificationView::new).collect()),
        }
    }
}

/// Where a user sees an instance in the web app.
pub fn instance_url(public_url: &str, instance: &AlertInstance) -> String {
    format!(
        "{}/alerts?instance={}",
        public_url.trim_end_matches('/'),
        instance.id
    )
}

fn to_string(value: &impl Serialize) -> String {
    // Serializing these plain structs cannot fail; an empty object is the
    // fallback that keeps a delivery well-formed if it ever did.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

/// The webhook body: `{"id", "status", "rule", "instance"}`.
pub fn webhook_body(
    id: &str,
    event: NotificationEvent,
    rule: &AlertRule,
    instance: &AlertInstance,
) -> String {
    to_string(&json!({
        "id": id,
        "status": event.as_str(),
        "rule": RuleView::new(rule),
        "instance": InstanceView::new(instance, None),
    }))
}

/// A Slack incoming-webhook message: `text` for notifications and
/// clients without blocks, blocks with the details and a link.
pub fn slack_body(
    event: NotificationEvent,
    rule: &AlertRule,
    instance: &AlertInstance,
    public_url: &str,
) -> String {
    let spec = &rule.spec;
    let icon = match event {
        NotificationEvent::Firing => ":red_circle:",
        NotificationEvent::Resolved => ":large_green_circle:",
    };
    let status = match event {
        NotificationEvent::Firing => "FIRING",
        NotificationEvent::Resolved => "RESOLVED",
    };
    let value = instance
        .value
        .map(|value| format_value(spec.kind, value))
        .unwrap_or_else(|| "no data".into());
    let threshold = format_value(spec.kind, spec.threshold);
    let text = format!(
        "{icon} [{status}] {} ({}): {value} {} {threshold}",
        spec.name,
        spec.severity.as_str(),
        spec.condition.as_str()
    );
    let url = instance_url(public_url, instance);
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Value*\n{value}")}),
        json!({"type": "mrkdwn", "text": format!("*Threshold*\n{} {threshold}", spec.condition.as_str())}),
        json!({"type": "mrkdwn", "text": format!("*Severity*\n{}", spec.severity.as_str())}),
    ];
    if let Some(service) = instance.labels.get("service") {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Service*\n{service}")}));
    }
    to_string(&json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("{icon} *[{status}] {}*\n{}", spec.name, instance.message)}},
            {"type": "section", "fields": fields},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{url}|Open in lookout>")}]},
        ],
    }))
}

/// A label name Alertmanager accepts: `[a-zA-Z_][a-zA-Z0-9_]*`, other
/// characters as `_`.
pub fn valid_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// One alert of Alertmanager's v2 API. `ends_at`: when it stops being
/// active (the future for an open instance, its resolution time once
/// resolved).
pub fn alertmanager_alert(
    rule: &AlertRule,
    instance: &AlertInstance,
    ends_at: UnixNanos,
    public_url: &str,
) -> Value {
    let mut labels = serde_json::Map::new();
    for (name, value) in &instance.labels {
        labels.insert(valid_label_name(name), Value::String(value.clone()));
    }
    labels.insert("alertname".into(), Value::String(rule.spec.name.clone()));
    labels.insert("rule_id".into(), Value::String(rule.id.clone()));
    labels.insert(
        "severity".into(),
        Value::String(rule.spec.severity.as_str().into()),
    );
    let value = instance
        .value
        .map(|value| format_value(rule.spec.kind, value))
        .unwrap_or_else(|| "no data".into());
    json!({
        "labels": labels,
        "annotations": {
            "summary": instance.message,
            "description": rule.spec.description,
            "value": value,
        },
        "startsAt": format_rfc3339(instance.started_at),
        "endsAt": format_rfc3339(ends_at),
        "generatorURL": instance_url(public_url, instance),
    })
}

/// The Alertmanager body of one notification: a list of one alert.
pub fn alertmanager_body(
    rule: &AlertRule,
    instance: &AlertInstance,
    ends_at: UnixNanos,
    public_url: &str,
) -> String {
    to_string(&json!([alertmanager_alert(
        rule, instance, ends_at, public_url
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_made_valid() {
        assert_eq!(valid_label_name("service.name"), "service_name");
        assert_eq!(valid_label_name("9lives"), "_9lives");
        assert_eq!(valid_label_name(""), "_");
        assert_eq!(valid_label_name("ok_name"), "ok_name");
    }
}
