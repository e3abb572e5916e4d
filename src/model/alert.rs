//! Alert rules, the alert instances they open and the notifications those
//! send: what the engine decides, the store keeps and the notifier
//! delivers.
//!
//! The evaluation of a rule happens in `alerts`; these types only hold
//! the rule's definition, its state and the changes the writer applies.

use std::collections::BTreeMap;

use super::UnixNanos;

/// Labels of an alert instance, sorted by name.
pub type AlertLabels = BTreeMap<String, String>;

named_enum!(
    /// What a rule measures.
    RuleKind {
        ErrorRate = "error_rate",
        Latency = "latency",
        RequestRate = "request_rate",
        LogCount = "log_count",
        Metric = "metric",
        Promql = "promql",
        ErrorGroup = "error_group",
    }
);

impl RuleKind {
    /// Kinds whose evaluation gives one series per result (PromQL series,
    /// error groups) rather than one value.
    pub fn is_multi_series(self) -> bool {
        matches!(self, RuleKind::Promql | RuleKind::ErrorGroup)
    }
}

named_enum!(
    /// How the value is compared with the threshold.
    Condition {
        Gt = ">",
        Ge = ">=",
        Lt = "<",
        Le = "<=",
    }
);

named_enum!(
    /// What an evaluation without data means.
    NoData {
        Ok = "ok",
        Keep = "keep",
        Firing = "firing",
    }
);

named_enum!(AlertSeverity {
    Info = "info",
    Warning = "warning",
    Critical = "critical",
});

named_enum!(ChannelKind {
    Webhook = "webhook",
    Slack = "slack",
    Alertmanager = "alertmanager",
});

named_enum!(
    /// A rule's state after its last evaluation: the most severe of its
    /// series, or `error` when it could not be evaluated.
    RuleState {
        Ok = "ok",
        Pending = "pending",
        Firing = "firing",
        NoData = "nodata",
        Error = "error",
    }
);

named_enum!(InstanceState {
    Firing = "firing",
    Acknowledged = "acknowledged",
    Resolved = "resolved",
});

named_enum!(NotificationEvent {
    Firing = "firing",
    Resolved = "resolved",
});

named_enum!(DeliveryStatus {
    Pending = "pending",
    Delivered = "delivered",
    Failed = "failed",
});

impl Condition {
    /// Whether `value` meets the condition against `threshold`. NaN never
    /// does.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Condition::Gt => value > threshold,
            Condition::Ge => value >= threshold,
            Condition::Lt => value < threshold,
            Condition::Le => value <= threshold,
        }
    }

    /// Whether higher values are worse (`>`, `>=`).
    pub fn is_upper(self) -> bool {
        matches!(self, Condition::Gt | Condition::Ge)
    }
}

/// Where a rule's notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub kind: ChannelKind,
    pub url: String,
    /// Webhooks only: the key of the HMAC signatures.
    pub secret: Option<String>,
}

/// A rule's definition: everything a user sets.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub name: String,
    pub description: String,
    pub kind: RuleKind,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub query: Option<String>,
    pub metric: Option<String>,
    pub percentile: Option<f64>,
    pub condition: Condition,
    pub threshold: f64,
    pub recovery_threshold: Option<f64>,
    pub window_minutes: u32,
    pub for_minutes: u32,
    pub keep_firing_minutes: u32,
    pub no_data: NoData,
    pub severity: AlertSeverity,
    pub cooldown_minutes: u32,
    pub repeat_minutes: u32,
    pub enabled: bool,
    pub labels: AlertLabels,
    pub channels: Vec<Channel>,
}

impl RuleSpec {
    /// The threshold a firing instance must fall back across to resolve.
    pub fn recovery(&self) -> f64 {
        self.recovery_threshold.unwrap_or(self.threshold)
    }
}

/// A stored rule with its last evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub id: String,
    pub spec: RuleSpec,
    pub state: RuleState,
    pub last_value: Option<f64>,
    pub last_error: Option<String>,
    pub last_evaluated_at: Option<UnixNanos>,
    pub created_at: UnixNanos,
    pub updated_at: UnixNanos,
}

/// One alert: a series of a rule that fired, until it resolves.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInstance {
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: AlertSeverity,
    /// Identifies the rule's series (empty for single-valued kinds).
    pub fingerprint: String,
    pub labels: AlertLabels,
    pub state: InstanceState,
    pub message: String,
    pub value: Option<f64>,
    pub threshold: f64,
    pub started_at: UnixNanos,
    pub acknowledged_at: Option<UnixNanos>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<UnixNanos>,
    /// `engine` when the condition cleared, else who resolved it by hand.
    pub resolved_by: Option<String>,
    /// When a notification of it was last queued (for `repeat_minutes`).
    pub last_notified_at: UnixNanos,
}

impl AlertInstance {
    pub fn is_open(&self) -> bool {
        self.state != InstanceState::Resolved
    }

    /// This instance as resolved at `at` by `by` (what its resolution
    /// notifications describe).
    pub fn resolved(&self, at: UnixNanos, by: &str) -> AlertInstance {
        AlertInstance {
            state: InstanceState::Resolved,
            resolved_at: Some(at),
            resolved_by: Some(by.to_string()),
            ..self.clone()
        }
    }
}

/// A delivery to one channel, kept until it is delivered or given up.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Stable across retries, so receivers can de-duplicate.
    pub id: String,
    pub instance_id: String,
    pub channel: Channel,
    pub event: NotificationEvent,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// The request body, fixed when the notification is queued.
    pub payload: String,
    pub created_at: UnixNanos,
    pub next_attempt_at: UnixNanos,
    pub delivered_at: Option<UnixNanos>,
    /// When it was last retried by hand: its maximum age counts from here.
    pub retried_at: Option<UnixNanos>,
}

/// What the engine remembers of one series of a rule between
/// evaluations. A series with nothing to remember has no row.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesState {
    pub rule_id: String,
    pub fingerprint: String,
    pub labels: AlertLabels,
    /// Since when the condition has held without the series firing.
    pub pending_since: Option<UnixNanos>,
    /// Since when a firing series's condition has been clear (for
    /// `keep_firing_minutes`).
    pub cleared_since: Option<UnixNanos>,
    /// When its last instance resolved (for `cooldown_minutes`).
    pub last_resolved_at: Option<UnixNanos>,
}

/// Closing an open instance, with the notifications that announce it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub instance_id: String,
    pub rule_id: String,
    pub fingerprint: String,
    pub at: UnixNanos,
    pub by: String,
    pub notifications: Vec<Notification>,
}

/// What one evaluation of a rule changes.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleEvaluation {
    pub rule_id: String,
    pub state: RuleState,
    pub last_value: Option<f64>,
    pub last_error: Option<String>,
    pub evaluated_at: UnixNanos,
    /// Series rows to write (insert or replace).
    pub put_series: Vec<SeriesState>,
    /// Series rows to delete, by fingerprint.
    pub delete_series: Vec<String>,
    /// New instances, each with its notifications.
    pub fired: Vec<(AlertInstance, Vec<Notification>)>,
    pub resolved: Vec<Resolution>,
    /// Open instances notified again (`repeat_minutes`).
    pub renotified: Vec<(String, Vec<Notification>)>,
    /// The latest value of open instances.
    pub values: Vec<(String, f64)>,
}

/// How a delivery attempt ended, as the notifier reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at this time.
    Retry {
        at: UnixNanos,
        error: String,
    },
    /// Given up: too old, or the channel cannot take it.
    Failed {
        error: String,
    },
}

/// A change to the alert tables, written by the writer in one
/// transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    /// Insert a rule, or replace the definition of a stored one (its state
    /// stays), closing the instances given (those of a rule being
    /// disabled).
    PutRule {
        id: String,
        spec: RuleSpec,
        at: UnixNanos,
        resolutions: Vec<Resolution>,
    },
    /// Delete a rule and its series, closing its open instances.
    DeleteRule {
        id: String,
        resolutions: Vec<Resolution>,
    },
    /// One round of the engine.
    Evaluated(Vec<RuleEvaluation>),
    Acknowledge {
        instance_id: String,
        by: String,
        at: UnixNanos,
    },
    /// A resolution by hand.
    Resolve(Resolution),
    Delivery {
        notification_id: String,
        outcome: DeliveryOutcome,
        at: UnixNanos,
    },
    /// A failed notification, pending again.
    Retry {
        notification_id: String,
        at: UnixNanos,
    },
}

/// Whether a change applied: `false` when its target was missing or no
/// longer in a state it applies to (an instance resolved meanwhile).
pub type AlertChangeApplied = bool;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_list_themselves() {
        for kind in RuleKind::ALL {
            assert_eq!(RuleKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(Condition::names(), ">, >=, < or <=");
        assert_eq!(RuleState::parse("nodata"), Some(RuleState::NoData));
        assert_eq!(NoData::parse("never"), None);
    }

    #[test]
    fn conditions_compare_and_nan_never_holds() {
        assert!(Condition::Gt.holds(2.0, 1.0));
        assert!(!Condition::Gt.holds(1.0, 1.0));
        assert!(Condition::Ge.holds(1.0, 1.0));
        assert!(Condition::Lt.holds(0.5, 1.0));
        assert!(Condition::Le.holds(1.0, 1.0));
        for condition in Condition::ALL {
            assert!(!condition.holds(f64::NAN, 1.0));
        }
    }
}
