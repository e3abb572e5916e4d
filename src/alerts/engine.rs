//! The `alert-engine` thread: every interval, evaluates each enabled rule
//! on the read side and writes what changed, for all rules in one writer
//! command.
//!
//! Evaluations run on a small pool of `alert-eval` threads. One that runs
//! past its time limit is reported as the rule's error and its thread is
//! replaced, so a slow rule never stalls the round or the ones after it;
//! the engine reads all state from the database at the start of a round,
//! so after a restart it goes on from what was stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use super::evaluate::{self, SeriesValue};
use super::notify::outbox::Outbox;
use super::notify::NotifierStatus;
use super::state;
use crate::model::alert::{
    AlertChange, AlertInstance, AlertRule, InstanceState, RuleEvaluation, RuleState, SeriesState,
};
use crate::model::UnixNanos;
use crate::pipeline::{supervise, ThreadHealth, WriterHandle};
use crate::query::ReadSide;
use crate::store::sqlite::alerts::InstanceFilter;
use crate::telemetry::Metrics;

/// Evaluation threads kept; more are started while some are stuck.
const POOL: usize = 2;
const MAX_THREADS: usize = 8;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub interval: Duration,
    /// Longest one evaluation may take.
    pub timeout: Duration,
    /// A minute of the rules' timings (60 s; tests shorten it).
    pub minute: Duration,
    /// Test hook: evaluations of the rule of this name first sleep this
    /// long, to exercise the time limit.
    #[cfg(feature = "test-hooks")]
    pub slow_rule: Option<(String, Duration)>,
}

/// What the engine publishes for `/health/deep` and `/metrics`.
#[derive(Debug)]
pub struct EngineStatus {
    pub thread: Arc<ThreadHealth>,
    pub rounds: AtomicU64,
    /// When the last round finished (unix nanos, 0 = none yet).
    pub last_round_at: AtomicI64,
    /// How long it took, in microseconds.
    pub last_round_micros: AtomicU64,
    /// Of which: reading state and evaluating the rules, and waiting for
    /// the writer to commit the outcome (behind the ingest queued before
    /// it).
    pub last_evaluate_micros: AtomicU64,
    pub last_write_micros: AtomicU64,
    /// Whether the last round took longer than the interval.
    pub late: AtomicBool,
    /// Rules in `error` after the last round: (name, error).
    pub errors: Mutex<Vec<(String, String)>>,
    /// Rules by state after the last round.
    pub states: Mutex<Vec<(RuleState, u64)>>,
    /// A failure of the round itself (reading rules, writing results).
    pub last_failure: Mutex<Option<String>>,
}

impl EngineStatus {
    pub fn new() -> Arc<EngineStatus> {
        Arc::new(EngineStatus {
            thread: ThreadHealth::new("alert-engine"),
            rounds: AtomicU64::new(0),
            last_round_at: AtomicI64::new(0),
            last_round_micros: AtomicU64::new(0),
            last_evaluate_micros: AtomicU64::new(0),
            last_write_micros: AtomicU64::new(0),
            late: AtomicBool::new(false),
            errors: Mutex::new(Vec::new()),
            states: Mutex::new(Vec::new()),
            last_failure: Mutex::new(None),
        })
    }
}

pub struct Engine {
    pub read: Arc<ReadSide>,
    pub writer: WriterHandle,
    pub metrics: Arc<Metrics>,
    pub status: Arc<EngineStatus>,
    pub notifier: Arc<NotifierStatus>,
    pub outbox: Outbox,
    pub options: EngineOptions,
}

/// One evaluation to run.
struct Job {
    round: u64,
    index: usize,
    rule: AlertRule,
    now: UnixNanos,
    /// Reads shared by the round's rules.
    cache: Arc<evaluate::RoundCache>,
}

struct JobResult {
    round: u64,
    index: usize,
    result: Result<Vec<SeriesValue>, String>,
    seconds: f64,
}

/// An evaluation thread and what it is doing.
struct EvalThread {
    /// (round, index, started) of the job it runs.
    current: Arc<Mutex<Option<(u64, usize, Instant)>>>,
    /// Told to end after its current job (it was stuck and replaced).
    retired: Arc<AtomicBool>,
}

struct Pool {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    results: Sender<JobResult>,
    threads: Vec<EvalThread>,
    read: Arc<ReadSide>,
    /// Rules being evaluated now, also by retired threads: a rule whose
    /// last evaluation never finished is not started again, so a stuck
    /// read holds one thread, not one per round.
    busy: Arc<Mutex<std::collections::HashSet<String>>>,
    #[cfg(feature = "test-hooks")]
    slow_rule: Option<(String, Duration)>,
}

impl Pool {
    fn new(read: Arc<ReadSide>, results: Sender<JobResult>, options: &EngineOptions) -> Pool {
        let (jobs, queue) = crossbeam_channel::unbounded();
        #[cfg(not(feature = "test-hooks"))]
        let _ = options;
        let mut pool = Pool {
            jobs,
            queue,
            results,
            threads: Vec::new(),
            read,
            busy: Arc::new(Mutex::new(std::collections::HashSet::new())),
            #[cfg(feature = "test-hooks")]
            slow_rule: options.slow_rule.clone(),
        };
        for _ in 0..POOL {
            pool.add_thread();
        }
        pool
    }

    fn add_thread(&mut self) {
        let current = Arc::new(Mutex::new(None));
        let retired = Arc::new(AtomicBool::new(false));
        let queue = self.queue.clone();
        let results = self.results.clone();
        let read = Arc::clone(&self.read);
        let busy = Arc::clone(&self.busy);
        let (slot, stop) = (Arc::clone(&current), Arc::clone(&retired));
        #[cfg(feature = "test-hooks")]
        let slow_rule = self.slow_rule.clone();
        let spawned = std::thread::Builder::new()
            .name("alert-eval".into())
            .spawn(move || {
                for job in queue {
                    *slot.lock() = Some((job.round, job.index, Instant::now()));
                    #[cfg(feature = "test-hooks")]
                    if let Some((name, delay)) = &slow_rule {
                        if job.rule.spec.name == *name {
                            std::thread::sleep(*delay);
                        }
                    }
                    let started = Instant::now();
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        evaluate::evaluate_with(&read, &job.rule.spec, job.now, Some(&job.cache))
                            .map_err(|error| error.to_string())
                    }))
                    .unwrap_or_else(|_| Err("the evaluation panicked".into()));
                    *slot.lock() = None;
                    busy.lock().remove(&job.rule.id);
                    let done = JobResult {
                        round: job.round,
                        index: job.index,
                        result,
                        seconds: started.elapsed().as_secs_f64(),
                    };
                    if results.send(done).is_err() || stop.load(Ordering::SeqCst) {
                        break;
                    }
                }
            });
        match spawned {
            Ok(_) => self.threads.push(EvalThread { current, retired }),
            Err(error) => tracing::error!(%error, "cannot start an alert evaluation thread"),
        }
    }

    /// Jobs of `round` running longer than `timeout`: their threads are
    /// retired and replaced. Returns the indexes.
    fn overdue(&mut self, round: u64, timeout: Duration) -> Vec<usize> {
        let mut overdue = Vec::new();
        let mut retire = Vec::new();
        for (position, thread) in self.threads.iter().enumerate() {
            if let Some((job_round, index, started)) = *thread.current.lock() {
                if job_round == round && started.elapsed() > timeout {
                    overdue.push(index);
                    retire.push(position);
                }
            }
        }
        for position in retire.into_iter().rev() {
            let thread = self.threads.remove(position);
            thread.retired.store(true, Ordering::SeqCst);
        }
        let stuck = overdue.len();
        for _ in 0..stuck {
            if self.threads.len() < MAX_THREADS {
                self.add_thread();
            }
        }
        overdue
    }
}

impl Engine {
    /// Starts the thread; it ends when `stop` is dropped or sent to.
    pub fn spawn(self, stop: Receiver<()>) -> std::io::Result<JoinHandle<()>> {
        let health = Arc::clone(&self.status.thread);
        supervise::spawn(&health, move || self.run(&stop))
    }

    fn run(mut self, stop: &Receiver<()>) {
        let (results_sender, results) = crossbeam_channel::unbounded();
        let mut pool = Pool::new(Arc::clone(&self.read), results_sender, &self.options);
        let mut round = 0u64;
        let mut next = Instant::now() + self.options.interval;
        // A message or a dropped sender on `stop` ends the loop.
        while let Err(RecvTimeoutError::Timeout) =
            stop.recv_timeout(next.saturating_duration_since(Instant::now()))
        {
            round += 1;
            let started = Instant::now();
            if let Err(error) = self.round(round, &mut pool, &results) {
                tracing::error!(%error, "alert evaluation round failed");
                *self.status.last_failure.lock() = Some(error);
            } else {
                *self.status.last_failure.lock() = None;
            }
            let took = started.elapsed();
            self.status.rounds.fetch_add(1, Ordering::Relaxed);
            self.status
                .last_round_micros
                .store(took.as_micros() as u64, Ordering::Relaxed);
            self.status
                .last_round_at
                .store(UnixNanos::now().0, Ordering::Relaxed);
            let late = took > self.options.interval;
            self.status.late.store(late, Ordering::Relaxed);
            next += self.options.interval;
            if next < Instant::now() {
                tracing::warn!(
                    took_ms = took.as_millis() as u64,
                    "alert evaluation took longer than the interval; skipping to the next one"
                );
                next = Instant::now() + self.options.interval;
            }
        }
        tracing::info!("alert engine stopped");
    }

    /// One round: read rules and state, evaluate, decide, write.
    fn round(
        &mut self,
        round: u64,
        pool: &mut Pool,
        results: &Receiver<JobResult>,
    ) -> Result<(), String> {
        let started = Instant::now();
        let now = UnixNanos::now();
        let rules = self.read.alert_rules(true).map_err(|e| e.to_string())?;
        let mut series: HashMap<String, HashMap<String, SeriesState>> = HashMap::new();
        for state in self.read.alert_series().map_err(|e| e.to_string())? {
            series
                .entry(state.rule_id.clone())
                .or_default()
                .insert(state.fingerprint.clone(), state);
        }
        let mut open: HashMap<String, HashMap<String, AlertInstance>> = HashMap::new();
        let instances = self
            .read
            .alert_instances(&InstanceFilter {
                states: Some(vec![InstanceState::Firing, InstanceState::Acknowledged]),
                rule_id: None,
                limit: usize::MAX >> 1,
            })
            .map_err(|e| e.to_string())?;
        for instance in instances {
            open.entry(instance.rule_id.clone())
                .or_default()
                .insert(instance.fingerprint.clone(), instance);
        }

        let mut outcomes: Vec<Option<Result<Vec<SeriesValue>, String>>> = vec![None; rules.len()];
        let mut remaining = rules.len();
        let cache = Arc::new(evaluate::RoundCache::default());
        for (index, rule) in rules.iter().enumerate() {
            if !pool.busy.lock().insert(rule.id.clone()) {
                outcomes[index] = Some(Err(format!(
                    "its previous evaluation has not finished (the limit is {})",
                    humantime::format_duration(self.options.timeout)
                )));
                remaining -= 1;
                continue;
            }
            let _ = pool.jobs.send(Job {
                round,
                index,
                rule: rule.clone(),
                now,
                cache: Arc::clone(&cache),
            });
        }
        let deadline = Instant::now() + self.options.interval;
        while remaining > 0 {
            match results.recv_timeout(Duration::from_millis(20)) {
                Ok(done) if done.round == round => {
                    if let Some(slot) = outcomes.get_mut(done.index) {
                        if slot.is_none() {
                            self.metrics.alert_evaluation_seconds.observe(done.seconds);
                            *slot = Some(done.result);
                            remaining -= 1;
                        }
                    }
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            for index in pool.overdue(round, self.options.timeout) {
                if let Some(slot) = outcomes.get_mut(index) {
                    if slot.is_none() {
                        self.metrics
                            .alert_evaluation_seconds
                            .observe(self.options.timeout.as_secs_f64());
                        *slot = Some(Err(format!(
                            "the evaluation took longer than {}",
                            humantime::format_duration(self.options.timeout)
                        )));
                        remaining -= 1;
                    }
                }
            }
            if Instant::now() > deadline {
                break;
            }
        }
        // Jobs of this round still queued are not run any more.
        while let Ok(job) = pool.queue.try_recv() {
            pool.busy.lock().remove(&job.rule.id);
        }

        let empty_series = HashMap::new();
        let empty_open = HashMap::new();
        let mut evaluations: Vec<RuleEvaluation> = Vec::with_capacity(rules.len());
        let mut errors = Vec::new();
        let mut states: HashMap<RuleState, u64> = HashMap::new();
        for (rule, outcome) in rules.iter().zip(outcomes) {
            let outcome = outcome
                .unwrap_or_else(|| Err("not evaluated: the round ran out of time".to_string()));
            let evaluation = state::transition(
                rule,
                outcome,
                series.get(&rule.id).unwrap_or(&empty_series),
                open.get(&rule.id).unwrap_or(&empty_open),
                (now, self.options.minute.as_nanos() as i64),
                &mut self.outbox,
            );
            if let Some(error) = &evaluation.last_error {
                if rule.last_error.as_ref() != Some(error) {
                    tracing::warn!(rule = %rule.spec.name, %error, "alert rule cannot be evaluated");
                }
                errors.push((rule.spec.name.clone(), error.clone()));
            }
            *states.entry(evaluation.state).or_default() += 1;
            evaluations.push(evaluation);
        }
        let notifies = evaluations.iter().any(|evaluation| {
            !evaluation.fired.is_empty()
                || !evaluation.resolved.is_empty()
                || !evaluation.renotified.is_empty()
        });
        for evaluation in &evaluations {
            for (instance, _) in &evaluation.fired {
                tracing::info!(rule = %instance.rule_name, instance = %instance.id, message = %instance.message, "alert firing");
            }
            for resolution in &evaluation.resolved {
                tracing::info!(rule = %resolution.rule_id, instance = %resolution.instance_id, "alert resolved");
            }
        }
        self.status
            .last_evaluate_micros
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let writing = Instant::now();
        if !evaluations.is_empty() {
            self.writer
                .write_alert_blocking(AlertChange::Evaluated(evaluations))
                .map_err(|error| format!("writing the evaluations failed: {error}"))?;
        }
        self.status
            .last_write_micros
            .store(writing.elapsed().as_micros() as u64, Ordering::Relaxed);
        if notifies {
            self.notifier.wake();
        }
        *self.status.errors.lock() = errors;
        let mut states: Vec<(RuleState, u64)> = states.into_iter().collect();
        states.sort();
        *self.status.states.lock() = states;
        Ok(())
    }
}
