//! Outbox rows for an instance's event: one notification per channel of
//! its rule, its body fixed now (so every retry sends the same bytes under
//! the same id).

use std::time::Duration;

use super::super::state::Effects;
use super::super::{random_hex, wire};
use crate::model::alert::{
    AlertInstance, AlertRule, ChannelKind, DeliveryStatus, Notification, NotificationEvent,
};
use crate::model::UnixNanos;

/// Builds notifications and instance ids for the state machine and for
/// changes made by hand.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub public_url: String,
    /// The alert interval: an open alert told to Alertmanager stays active
    /// four intervals unless re-sent.
    pub interval: Duration,
}

impl Outbox {
    /// The notifications announcing `event` of `instance` at `now`.
    pub fn notifications_at(
        &self,
        rule: &AlertRule,
        instance: &AlertInstance,
        event: NotificationEvent,
        now: UnixNanos,
    ) -> Vec<Notification> {
        rule.spec
            .channels
            .iter()
            .map(|channel| {
                let id = random_hex(16);
                let payload = match channel.kind {
                    ChannelKind::Webhook => wire::webhook_body(&id, event, rule, instance),
                    ChannelKind::Slack => wire::slack_body(event, rule, instance, &self.public_url),
                    ChannelKind::Alertmanager => {
                        let ends_at = match event {
                            NotificationEvent::Resolved => instance.resolved_at.unwrap_or(now),
                            NotificationEvent::Firing => UnixNanos(
                                now.0
                                    + 4 * self.interval.as_nanos().min(i64::MAX as u128 / 8) as i64,
                            ),
                        };
                        wire::alertmanager_body(rule, instance, ends_at, &self.public_url)
                    }
                };
                Notification {
                    id,
                    instance_id: instance.id.clone(),
                    channel: channel.clone(),
                    event,
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    last_error: None,
                    payload,
                    created_at: now,
                    next_attempt_at: now,
                    delivered_at: None,
                    retried_at: None,
                }
            })
            .collect()
    }
}

impl Effects for Outbox {
    fn new_id(&mut self) -> String {
        random_hex(16)
    }

    fn notifications(
        &mut self,
        rule: &AlertRule,
        instance: &AlertInstance,
        event: NotificationEvent,
    ) -> Vec<Notification> {
        let now = match event {
            NotificationEvent::Resolved => instance.resolved_at.unwrap_or_else(UnixNanos::now),
            NotificationEvent::Firing => instance.last_notified_at,
        };
        self.notifications_at(rule, instance, event, now)
    }
}
