//! Alerts: rules over spans, logs and metrics, the engine that evaluates
//! them, and the notifier that delivers what they announce.
//!
//! - `rules`: a rule as given, checked field by field.
//! - `evaluate`: a rule's value at a time, read through `query::ReadSide`.
//! - `state`: the per-series state machine (pending, firing, resolved) as
//!   a pure function of stored state and new values.
//! - `engine`: the `alert-engine` thread and its evaluation pool.
//! - `notify`: the outbox rows of an event, the `notifier` thread and its
//!   per-destination workers, webhook signatures.
//! - `wire`: the JSON of rules, instances and notifications, for the API
//!   and for the bodies sent.
//!
//! `alerts` reads through `query` and writes through `pipeline` (every
//! change is a writer command); it never touches SQLite itself.

pub mod engine;
pub mod evaluate;
pub mod notify;
pub mod rules;
pub mod state;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use crate::model::alert::{AlertInstance, AlertRule, NotificationEvent, Resolution};
use crate::model::UnixNanos;

pub use engine::{EngineOptions, EngineStatus};
pub use notify::outbox::Outbox;
pub use notify::{NotifierOptions, NotifierStatus};

/// `bytes` random bytes as lowercase hex: ids of rules, instances and
/// notifications (16 bytes: a notification's id is also a W3C trace id).
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    if getrandom::fill(&mut buffer).is_err() {
        // No OS randomness: the clock and a counter still give unique ids.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seed = UnixNanos::now().0 as u64
            ^ COUNTER
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .rotate_left(32);
        for (index, byte) in buffer.iter_mut().enumerate() {
            *byte = (seed.rotate_left((index as u32 * 8) % 64) & 0xff) as u8;
        }
    }
    hex::encode(buffer)
}

/// How alerting runs.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// How often rules are evaluated.
    pub interval: Duration,
    /// Undelivered notifications older than this are `failed`.
    pub notify_max_age: Duration,
    /// Where users reach lookout, for links in notifications (empty: the
    /// listen address).
    pub public_url: String,
    /// The length of a minute in rules' timings (`for_minutes`,
    /// `keep_firing_minutes`, `cooldown_minutes`, `repeat_minutes`): 60 s;
    /// tests shorten it to see those timings in seconds.
    pub minute: Duration,
    /// Test hook: evaluations of the rule of this name first sleep this
    /// long, to exercise the time limit.
    #[cfg(feature = "test-hooks")]
    pub slow_rule: Option<(String, Duration)>,
}

impl Default for AlertOptions {
    fn default() -> AlertOptions {
        AlertOptions {
            interval: Duration::from_secs(30),
            notify_max_age: Duration::from_secs(3_600),
            public_url: String::new(),
            minute: Duration::from_secs(60),
            #[cfg(feature = "test-hooks")]
            slow_rule: None,
        }
    }
}

impl AlertOptions {
    /// The time limit of one evaluation: a third of the interval, at most
    /// 10 s.
    pub fn evaluation_timeout(&self) -> Duration {
        (self.interval / 3).min(Duration::from_secs(10))
    }

    pub fn outbox(&self) -> Outbox {
        Outbox {
            public_url: self.public_url.clone(),
            interval: self.interval,
        }
    }
}

/// What the web layer needs of alerting: the options and the state the
/// engine and notifier publish.
pub struct Alerts {
    pub options: AlertOptions,
    pub engine: Arc<EngineStatus>,
    pub notifier: Arc<NotifierStatus>,
}

impl Alerts {
    /// A resolution by hand (or by deleting the rule) of an open instance,
    /// with its notifications.
    pub fn resolution(
        &self,
        rule: Option<&AlertRule>,
        instance: &AlertInstance,
        by: &str,
        now: UnixNanos,
    ) -> Resolution {
        let resolved = instance.resolved(now, by);
        let notifications = match rule {
            Some(rule) => self.options.outbox().notifications_at(
                rule,
                &resolved,
                NotificationEvent::Resolved,
                now,
            ),
            None => Vec::new(),
        };
        Resolution {
            instance_id: instance.id.clone(),
            rule_id: instance.rule_id.clone(),
            fingerprint: instance.fingerprint.clone(),
            at: now,
            by: by.to_string(),
            notifications,
        }
    }
}
