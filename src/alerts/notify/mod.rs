//! The `notifier` thread: delivers the outbox (pending notification rows)
//! and keeps Alertmanager in sync.
//!
//! It reads due rows on the read side and hands each to the worker of its
//! destination URL: every destination has its own thread and queue, so a
//! receiver that times out delays only its own deliveries. Outcomes go back
//! through the writer (delivered; retry at a time chosen by exponential
//! backoff with full jitter, or the receiver's `Retry-After`; failed once
//! older than the maximum age). A row stays pending until its outcome is
//! committed, so a crash at any point means another attempt, never a lost
//! notification: delivery is at least once, de-duplicated by `id`.

pub mod deliver;
pub mod outbox;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use self::deliver::Attempt;
use super::{random_hex, wire};
use crate::model::alert::{AlertChange, ChannelKind, DeliveryOutcome, Notification};
use crate::model::UnixNanos;
use crate::pipeline::{supervise, ThreadHealth, WriterHandle};
use crate::query::ReadSide;
use crate::telemetry::Metrics;

/// How often the outbox is looked at when nothing wakes the notifier.
const POLL: Duration = Duration::from_millis(500);
/// The first retry waits up to this long; each further one up to twice as long.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Slack takes about one message per second per incoming webhook.
const SLACK_SPACING: Duration = Duration::from_secs(1);
/// Resolved alerts are re-sent to Alertmanager this long.
const RESOLVED_RESEND: Duration = Duration::from_secs(15 * 60);
/// Rows read per look at the outbox.
const BATCH: usize = 1_000;

#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// Older undelivered notifications are `failed`.
    pub max_age: Duration,
    /// Per request.
    pub timeout: Duration,
    /// The Alertmanager sync's period (the alert interval).
    pub sync_every: Duration,
    pub public_url: String,
}

/// What the notifier publishes for `/health/deep` and `/metrics`.
#[derive(Debug)]
pub struct NotifierStatus {
    pub thread: Arc<ThreadHealth>,
    pub pending: AtomicU64,
    pub failed: AtomicU64,
    /// The last error of a delivery or a sync, for the health check.
    pub last_error: Mutex<Option<String>>,
    /// Set by [`Notifier::wake`]: look at the outbox now.
    wake: Mutex<Option<Sender<()>>>,
}

impl NotifierStatus {
    pub fn new() -> Arc<NotifierStatus> {
        Arc::new(NotifierStatus {
            thread: ThreadHealth::new("notifier"),
            pending: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_error: Mutex::new(None),
            wake: Mutex::new(None),
        })
    }

    /// Makes the notifier look at the outbox now (after a commit that
    /// queued notifications).
    pub fn wake(&self) {
        if let Some(sender) = &*self.wake.lock() {
            let _ = sender.try_send(());
        }
    }
}

/// A job for a destination's worker.
enum Job {
    Deliver(Notification),
    /// An Alertmanager state sync: the body of every alert to re-send.
    Sync {
        url: String,
        body: String,
    },
}

/// What a worker reports back.
struct Done {
    notification: Notification,
    attempt: Attempt,
}

/// The delay before retry number `attempts` (1 = the first retry): a
/// random time up to `BACKOFF_BASE · 2^(attempts-1)`, capped, at least a
/// tenth of a second, and never sooner than a `Retry-After`.
pub fn backoff(attempts: u32, retry_after: Option<Duration>, random: u64) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let cap = BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_MAX);
    let cap_ms = cap.as_millis().max(1) as u64;
    let jittered = Duration::from_millis(random % (cap_ms + 1)).max(Duration::from_millis(100));
    match retry_after {
        Some(after) => jittered.max(after),
        None => jittered,
    }
}

pub struct Notifier {
    pub read: Arc<ReadSide>,
    pub writer: WriterHandle,
    pub metrics: Arc<Metrics>,
    pub status: Arc<NotifierStatus>,
    pub options: NotifierOptions,
}

impl Notifier {
    /// Starts the thread; it ends when `stop` is dropped or sent to.
    pub fn spawn(self, stop: Receiver<()>) -> std::io::Result<JoinHandle<()>> {
        let (wake, wakeups) = crossbeam_channel::bounded(1);
        *self.status.wake.lock() = Some(wake);
        let health = Arc::clone(&self.status.thread);
        supervise::spawn(&health, move || self.run(&stop, &wakeups))
    }

    fn run(self, stop: &Receiver<()>, wakeups: &Receiver<()>) {
        let (done_sender, done) = crossbeam_channel::unbounded::<Done>();
        let mut workers: HashMap<String, Worker> = HashMap::new();
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut last_sync: Option<Instant> = None;
        let mut failed_reads = false;
        loop {
            // Outcomes first: they free rows for their next attempt.
            while let Ok(finished) = done.try_recv() {
                in_flight.remove(&finished.notification.id);
                self.record(finished);
            }
            let now = UnixNanos::now();
            match self.read.due_notifications(now, BATCH) {
                Ok(due) => {
                    failed_reads = false;
                    for notification in due {
                        if in_flight.contains(&notification.id) {
                            continue;
                        }
                        if self.too_old(&notification, now) {
                            continue;
                        }
                        in_flight.insert(notification.id.clone());
                        let worker = self.worker(&mut workers, &notification, &done_sender);
                        worker.send(Job::Deliver(notification));
                    }
                }
                Err(error) => {
                    if !failed_reads {
                        tracing::error!(%error, "reading the notification outbox failed");
                    }
                    failed_reads = true;
                    *self.status.last_error.lock() = Some(format!("reading the outbox: {error}"));
                }
            }
            if last_sync.is_none_or(|at| at.elapsed() >= self.options.sync_every) {
                last_sync = Some(Instant::now());
                self.sync_alertmanagers(&mut workers, &done_sender);
            }
            if let Ok((pending, failed)) = self.read.notification_counts() {
                self.status.pending.store(pending, Ordering::Relaxed);
                self.status.failed.store(failed, Ordering::Relaxed);
            }
            crossbeam_channel::select! {
                recv(stop) -> _ => break,
                recv(wakeups) -> _ => {}
                recv(done) -> finished => {
                    if let Ok(finished) = finished {
                        in_flight.remove(&finished.notification.id);
                        self.record(finished);
                    }
                }
                default(POLL) => {}
            }
        }
        drop(workers);
        tracing::info!("notifier stopped");
    }

    /// Gives up on a notification older than the maximum age.
    fn too_old(&self, notification: &Notification, now: UnixNanos) -> bool {
        let age = Duration::from_nanos(
            u64::try_from(now.0 - notification.retried_at.unwrap_or(notification.created_at).0)
                .unwrap_or(0),
        );
        if age <= self.options.max_age {
            return false;
        }
        let error = format!(
            "not delivered within {}: {}",
            humantime::format_duration(self.options.max_age),
            notification
                .last_error
                .as_deref()
                .unwrap_or("no attempt succeeded")
        );
        tracing::warn!(
            notification = %notification.id,
            channel = notification.channel.kind.as_str(),
            %error,
            "notification failed"
        );
        self.metrics
            .notification(notification.channel.kind.as_str(), "failed");
        *self.status.last_error.lock() = Some(error.clone());
        self.write(AlertChange::Delivery {
            notification_id: notification.id.clone(),
            outcome: DeliveryOutcome::Failed { error },
            at: now,
        });
        true
    }

    fn worker<'w>(
        &self,
        workers: &'w mut HashMap<String, Worker>,
        notification: &Notification,
        done: &Sender<Done>,
    ) -> &'w Worker {
        let key = format!(
            "{} {}",
            notification.channel.kind.as_str(),
            notification.channel.url
        );
        workers.entry(key).or_insert_with(|| {
            Worker::spawn(
                notification.channel.kind,
                self.options.timeout,
                done.clone(),
                Arc::clone(&self.status),
            )
        })
    }

    fn record(&self, finished: Done) {
        let Done {
            notification,
            attempt,
        } = finished;
        let channel = notification.channel.kind.as_str();
        let now = UnixNanos::now();
        let outcome = match attempt {
            Attempt::Delivered => {
                self.metrics.notification(channel, "delivered");
                DeliveryOutcome::Delivered
            }
            Attempt::Failed { error, retry_after } => {
                self.metrics.notification(channel, "retry");
                let attempts = notification.attempts + 1;
                let delay = backoff(attempts, retry_after, random_u64());
                tracing::warn!(
                    notification = %notification.id,
                    channel,
                    url = %notification.channel.url,
                    attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    %error,
                    "notification not delivered; retrying"
                );
                *self.status.last_error.lock() =
                    Some(format!("{channel} {}: {error}", notification.channel.url));
                DeliveryOutcome::Retry {
                    at: UnixNanos(now.0.saturating_add(delay.as_nanos() as i64)),
                    error,
                }
            }
        };
        self.write(AlertChange::Delivery {
            notification_id: notification.id.clone(),
            outcome,
            at: now,
        });
    }

    fn write(&self, change: AlertChange) {
        if let Err(error) = self.writer.write_alert_blocking(change) {
            // The row stays pending: it is tried again.
            tracing::error!(%error, "recording a delivery outcome failed");
        }
    }

    /// Re-sends every open instance (and those resolved in the last 15
    /// minutes) to each Alertmanager its rule names.
    fn sync_alertmanagers(&self, workers: &mut HashMap<String, Worker>, done: &Sender<Done>) {
        let now = UnixNanos::now();
        let since = UnixNanos(now.0 - RESOLVED_RESEND.as_nanos() as i64);
        let (rules, instances) = match (
            self.read.alert_rules(false),
            self.read.instances_to_sync(since),
        ) {
            (Ok(rules), Ok(instances)) => (rules, instances),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "reading alerts for the alertmanager sync failed");
                return;
            }
        };
        let rules: HashMap<&str, &crate::model::alert::AlertRule> =
            rules.iter().map(|rule| (rule.id.as_str(), rule)).collect();
        let active_until = UnixNanos(now.0 + 4 * self.options.sync_every.as_nanos() as i64);
        let mut bodies: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
        for instance in &instances {
            let Some(rule) = rules.get(instance.rule_id.as_str()) else {
                continue;
            };
            let ends_at = instance.resolved_at.unwrap_or(active_until);
            for channel in &rule.spec.channels {
                if channel.kind == ChannelKind::Alertmanager {
                    bodies
                        .entry(channel.url.clone())
                        .or_default()
                        .push(wire::alertmanager_alert(
                            rule,
                            instance,
                            ends_at,
                            &self.options.public_url,
                        ));
                }
            }
        }
        for (url, alerts) in bodies {
            let key = format!("{} {url}", ChannelKind::Alertmanager.as_str());
            let worker = workers.entry(key).or_insert_with(|| {
                Worker::spawn(
                    ChannelKind::Alertmanager,
                    self.options.timeout,
                    done.clone(),
                    Arc::clone(&self.status),
                )
            });
            if worker.syncing.load(Ordering::SeqCst) {
                continue; // the last sync is still on its way
            }
            let body = serde_json::Value::Array(alerts).to_string();
            worker.send(Job::Sync { url, body });
        }
    }
}

/// One destination's thread and queue.
struct Worker {
    jobs: Sender<Job>,
    syncing: Arc<AtomicBool>,
}

impl Worker {
    fn spawn(
        kind: ChannelKind,
        timeout: Duration,
        done: Sender<Done>,
        status: Arc<NotifierStatus>,
    ) -> Worker {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let syncing = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&syncing);
        let spawned = std::thread::Builder::new()
            .name("notifier-send".into())
            .spawn(move || {
                let agent = deliver::agent(timeout);
                let mut last_send: Option<Instant> = None;
                for job in queue {
                    if kind == ChannelKind::Slack {
                        if let Some(elapsed) = last_send.map(|at| at.elapsed()) {
                            if elapsed < SLACK_SPACING {
                                std::thread::sleep(SLACK_SPACING - elapsed);
                            }
                        }
                    }
                    last_send = Some(Instant::now());
                    match job {
                        Job::Deliver(notification) => {
                            let request = deliver::request(
                                &notification.channel,
                                &notification.id,
                                notification.payload.clone(),
                                &random_hex(8),
                                UnixNanos::now().0.div_euclid(1_000_000_000),
                            );
                            let attempt = deliver::send(&agent, &request);
                            if done.send(Done { notification, attempt }).is_err() {
                                break;
                            }
                        }
                        Job::Sync { url, body } => {
                            let channel = crate::model::alert::Channel {
                                kind: ChannelKind::Alertmanager,
                                url: url.clone(),
                                secret: None,
                            };
                            let request = deliver::request(&channel, "", body, "", 0);
                            if let Attempt::Failed { error, .. } = deliver::send(&agent, &request) {
                                tracing::warn!(%url, %error, "alertmanager sync failed; next one in an interval");
                                *status.last_error.lock() = Some(format!("alertmanager {url}: {error}"));
                            }
                            flag.store(false, Ordering::SeqCst);
                        }
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start a notification worker");
        }
        Worker { jobs, syncing }
    }

    fn send(&self, job: Job) {
        if matches!(job, Job::Sync { .. }) {
            self.syncing.store(true, Ordering::SeqCst);
        }
        let _ = self.jobs.send(job);
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return UnixNanos::now().0 as u64;
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_honours_retry_after() {
        // The highest random value gives the cap.
        assert_eq!(backoff(1, None, 1_000), Duration::from_millis(1_000));
        assert_eq!(backoff(3, None, 4_000), Duration::from_millis(4_000));
        assert!(backoff(30, None, u64::MAX - 1) <= BACKOFF_MAX);
        // Jitter spreads it, but never below a tenth of a second.
        assert_eq!(backoff(1, None, 0), Duration::from_millis(100));
        assert_eq!(backoff(2, None, 1_500), Duration::from_millis(1_500));
        assert_eq!(
            backoff(1, Some(Duration::from_secs(7)), 10),
            Duration::from_secs(7)
        );
    }
}
