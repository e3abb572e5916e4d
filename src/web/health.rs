//! Liveness (`/health`) and readiness (`/health/deep`): one check per
//! subsystem, each `ok`, `degraded` or `critical`, 503 unless all are ok.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::ApiError;
use super::{read, AppState};
use crate::model::{format_rfc3339, UnixNanos};
use crate::query::IndexLag;

/// Free space below which the disk check is critical / degraded.
const DISK_CRITICAL_BYTES: u64 = 16 << 20;
const DISK_DEGRADED_BYTES: u64 = 128 << 20;
/// How long the writability probe may wait for the writer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Degraded,
    Critical,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Degraded => "degraded",
            Level::Critical => "critical",
        }
    }
}

/// Above this share of `--max-disk`, the budget is not being kept.
const OVER_BUDGET: f64 = 1.05;

/// The disk check with `--max-disk`: use against the budget in its
/// details, degraded while use is over it (deletions are not keeping up)
/// or a budget round fails.
fn with_budget(
    disk: (Level, Value),
    budget: Option<&crate::pipeline::disk_budget::DiskBudgetStatus>,
) -> (Level, Value) {
    let Some(budget) = budget else {
        return disk;
    };
    let (mut level, mut value) = disk;
    let used = budget.used.load(std::sync::atomic::Ordering::SeqCst);
    value["budget_bytes"] = json!(budget.budget);
    value["used_bytes"] = json!(used);
    let problem = if used as f64 > budget.budget as f64 * OVER_BUDGET {
        Some(format!(
            "the data directory uses {used} bytes, over the --max-disk budget of {}: deleting the oldest data is not keeping up",
            budget.budget
        ))
    } else {
        budget
            .last_error
            .lock()
            .clone()
            .map(|error| format!("keeping within --max-disk failed: {error}"))
    };
    if let Some(problem) = problem {
        if level < Level::Degraded {
            level = Level::Degraded;
            value["status"] = json!("degraded");
            value["message"] = json!(problem);
        }
    }
    (level, value)
}

fn check(level: Level, message: Option<String>, mut details: Value) -> (Level, Value) {
    details["status"] = json!(level.as_str());
    if let Some(message) = message {
        details["message"] = json!(message);
    }
    (level, details)
}

/// Bytes free for unprivileged users on the file system holding `path`.
fn free_bytes(path: &Path) -> Result<u64, String> {
    let stats = nix::sys::statvfs::statvfs(path).map_err(|error| error.to_string())?;
    Ok(stats
        .blocks_available()
        .saturating_mul(stats.fragment_size()))
}

/// Degraded when records wait longer than this many refresh intervals
/// (and at least 30 s) to become searchable.
const LAG_REFRESHES: u32 = 10;

async fn log_index_check(state: &web::Data<AppState>) -> (Level, Value) {
    let status = &state.indexer;
    let last_commit = status.last_commit_unix_nano.load(Ordering::SeqCst);
    let lag = index_lag(state).await;
    let details = json!({
        "alive": status.thread.is_alive(),
        "indexed_through": status.indexed_through.load(Ordering::SeqCst),
        "last_commit": (last_commit > 0).then(|| format_rfc3339(UnixNanos(last_commit))),
        "lag_records": lag.as_ref().map(|lag| lag.records).unwrap_or(0),
        "lag_seconds": lag.as_ref().map(|lag| lag.oldest_seconds).unwrap_or(0.0),
        // What log ingest admission works from (see `--log-max-lag`).
        "capacity_records_per_second": status.capacity.load(Ordering::SeqCst),
        "max_lag_seconds": state.config.log_max_lag.as_secs_f64(),
    });
    let bound = (state.config.log_refresh * LAG_REFRESHES).max(Duration::from_secs(30));
    let last_error = status.last_error.lock().clone();
    if !status.thread.is_alive() {
        return check(
            Level::Critical,
            Some(status.thread.stopped_reason()),
            details,
        );
    }
    if let Some(error) = last_error {
        return check(
            Level::Critical,
            Some(format!("log indexing fails: {error}")),
            details,
        );
    }
    match lag {
        Err(error) => check(Level::Critical, Some(error.public_message()), details),
        Ok(lag) if lag.oldest_seconds > bound.as_secs_f64() => check(
            Level::Degraded,
            Some(format!(
                "{} log records have waited {:.1}s to become searchable",
                lag.records, lag.oldest_seconds
            )),
            details,
        ),
        Ok(_) => check(Level::Ok, None, details),
    }
}

/// `/health/deep`. Open to probes; a caller without auth (while auth is
/// on) sees each check's status only, no messages or details.
pub async fn deep(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut checks = serde_json::Map::new();

    // Probe first: its commit clears a stale error from an outage that
    // has ended, so the writer check below reports the present.
    let readable = read(&state, |reads| reads.ping()).await;
    let writable = match tokio::time::timeout(PROBE_TIMEOUT, state.writer.probe()).await {
        Ok(result) => result.map_err(|error| error.to_string()),
        Err(_) => Err(format!(
            "the writer did not answer within {PROBE_TIMEOUT:?}"
        )),
    };

    let status = state.writer.status();
    let last_commit = status.last_commit_unix_nano.load(Ordering::SeqCst);
    let writer_details = json!({
        "alive": status.thread.is_alive(),
        "last_commit": (last_commit > 0).then(|| format_rfc3339(UnixNanos(last_commit))),
        "commits": status.commits.load(Ordering::Relaxed),
    });
    let last_error = status.last_error.lock().clone();
    let writer = if !status.thread.is_alive() {
        check(
            Level::Critical,
            Some(status.thread.stopped_reason()),
            writer_details,
        )
    } else if let Some(error) = last_error {
        check(
            Level::Critical,
            Some(format!("the last write failed: {error}")),
            writer_details,
        )
    } else {
        check(Level::Ok, None, writer_details)
    };
    checks.insert("writer".into(), writer.1);
    let mut worst = writer.0;

    let sqlite = match (&readable, &writable) {
        (Ok(()), Ok(())) => check(Level::Ok, None, json!({"readable": true, "writable": true})),
        _ => check(
            Level::Critical,
            Some(
                [
                    readable
                        .as_ref()
                        .err()
                        .map(|e| format!("read failed: {}", e.public_message())),
                    writable
                        .as_ref()
                        .err()
                        .map(|e| format!("write probe failed: {e}")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
            ),
            json!({"readable": readable.is_ok(), "writable": writable.is_ok()}),
        ),
    };
    if let Err(error) = &readable {
        error.log();
    }
    worst = worst.max(sqlite.0);
    checks.insert("sqlite".into(), sqlite.1);

    let disk = match free_bytes(&state.config.data_dir) {
        Ok(free) if free < DISK_CRITICAL_BYTES => check(
            Level::Critical,
            Some(format!("only {free} bytes free in the data directory")),
            json!({"free_bytes": free}),
        ),
        Ok(free) if free < DISK_DEGRADED_BYTES => check(
            Level::Degraded,
            Some(format!("only {free} bytes free in the data directory")),
            json!({"free_bytes": free}),
        ),
        Ok(free) => check(Level::Ok, None, json!({"free_bytes": free})),
        Err(error) => check(
            Level::Critical,
            Some(format!("cannot stat the data directory: {error}")),
            json!({}),
        ),
    };
    let disk = with_budget(disk, state.disk_budget.as_deref());
    worst = worst.max(disk.0);
    checks.insert("disk".into(), disk.1);

    let threads = threads_check(&state);
    worst = worst.max(threads.0);
    checks.insert("threads".into(), threads.1);

    let log_index = log_index_check(&state).await;
    worst = worst.max(log_index.0);
    checks.insert("log_index".into(), log_index.1);

    let depth = state.writer.queue_depth();
    let capacity = state.writer.queue_capacity();
    let queue_details = json!({"depth": depth, "capacity": capacity});
    let queue = if capacity > 0 && depth * 10 >= capacity * 9 {
        check(
            Level::Degraded,
            Some("the write queue is nearly full".into()),
            queue_details,
        )
    } else {
        check(Level::Ok, None, queue_details)
    };
    worst = worst.max(queue.0);
    checks.insert("queue".into(), queue.1);

    let engine = alert_engine_check(&state);
    worst = worst.max(engine.0);
    checks.insert("alert_engine".into(), engine.1);
    let notifier = notifier_check(&state);
    worst = worst.max(notifier.0);
    checks.insert("notifier".into(), notifier.1);
    if let Some(forwarding) = forwarding_check(&state) {
        worst = worst.max(forwarding.0);
        checks.insert("forwarding".into(), forwarding.1);
    }

    let overall = match worst {
        Level::Ok => "healthy",
        Level::Degraded => "degraded",
        Level::Critical => "critical",
    };
    if super::auth::authenticate(&state, request.headers()).is_err() {
        for check in checks.values_mut() {
            let status = check.get("status").cloned().unwrap_or(Value::Null);
            *check = json!({ "status": status });
        }
    }
    let body = json!({"status": overall, "checks": checks});
    if worst == Level::Ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Every supervised background thread: critical when one has stopped
/// while lookout serves (a panic names its message).
fn threads_check(state: &AppState) -> (Level, Value) {
    let details: serde_json::Map<String, Value> = state
        .threads
        .iter()
        .map(|thread| (thread.name().to_string(), json!(thread.is_alive())))
        .collect();
    let stopped: Vec<String> = state
        .threads
        .iter()
        .filter(|thread| !thread.is_alive())
        .map(|thread| thread.stopped_reason())
        .collect();
    let details = json!({ "alive": details });
    if stopped.is_empty() {
        check(Level::Ok, None, details)
    } else {
        check(Level::Critical, Some(stopped.join("; ")), details)
    }
}

/// The alert engine: alive, rounds on time, no rule in error.
fn alert_engine_check(state: &AppState) -> (Level, Value) {
    let status = &state.alerts.engine;
    let last_round = status.last_round_at.load(Ordering::Relaxed);
    let errors = status.errors.lock().clone();
    let details = json!({
        "alive": status.thread.is_alive(),
        "rounds": status.rounds.load(Ordering::Relaxed),
        "last_round": (last_round > 0).then(|| format_rfc3339(UnixNanos(last_round))),
        "last_round_ms": status.last_round_micros.load(Ordering::Relaxed) as f64 / 1e3,
        "last_evaluate_ms": status.last_evaluate_micros.load(Ordering::Relaxed) as f64 / 1e3,
        "last_write_ms": status.last_write_micros.load(Ordering::Relaxed) as f64 / 1e3,
        "interval_seconds": state.alerts.options.interval.as_secs_f64(),
        "rules_in_error": errors.iter().map(|(name, error)| json!({"rule": name, "error": error})).collect::<Vec<_>>(),
    });
    let interval = state.alerts.options.interval;
    let overdue = last_round > 0
        && UnixNanos::now().0 - last_round
            > 3 * interval.as_nanos().min(i64::MAX as u128 / 4) as i64;
    if !status.thread.is_alive() {
        check(
            Level::Critical,
            Some(status.thread.stopped_reason()),
            details,
        )
    } else if let Some(failure) = status.last_failure.lock().clone() {
        check(Level::Degraded, Some(failure), details)
    } else if overdue || status.late.load(Ordering::Relaxed) {
        check(
            Level::Degraded,
            Some("alert evaluation is not keeping up with --alert-interval".into()),
            details,
        )
    } else if !errors.is_empty() {
        let names: Vec<String> = errors
            .iter()
            .map(|(name, error)| format!("{name:?}: {error}"))
            .collect();
        check(
            Level::Degraded,
            Some(format!("alert rules in error: {}", names.join("; "))),
            details,
        )
    } else {
        check(Level::Ok, None, details)
    }
}

/// The notifier: alive; degraded while deliveries have failed.
fn notifier_check(state: &AppState) -> (Level, Value) {
    let status = &state.alerts.notifier;
    let pending = status.pending.load(Ordering::Relaxed);
    let failed = status.failed.load(Ordering::Relaxed);
    let last_error = status.last_error.lock().clone();
    let details = json!({
        "alive": status.thread.is_alive(),
        "pending": pending,
        "failed": failed,
        "last_error": last_error,
    });
    if !status.thread.is_alive() {
        check(
            Level::Critical,
            Some(status.thread.stopped_reason()),
            details,
        )
    } else if failed > 0 {
        check(
            Level::Degraded,
            Some(format!(
                "{failed} notification(s) could not be delivered{}",
                last_error
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            )),
            details,
        )
    } else {
        check(Level::Ok, None, details)
    }
}

/// How long a batch may wait for an upstream before forwarding is
/// degraded.
const FORWARD_LAG_DEGRADED_SECONDS: f64 = 60.0;

/// With `--forward-otlp`: per upstream, what waits and for how long, and
/// the last error; degraded while an upstream is failing or a batch has
/// waited a minute (nothing is lost: the outbox keeps it), critical when
/// the forwarder has stopped.
fn forwarding_check(state: &AppState) -> Option<(Level, Value)> {
    let status = state.forward.as_ref()?;
    let now = UnixNanos::now();
    let mut level = Level::Ok;
    let mut problems = Vec::new();
    let mut upstreams = serde_json::Map::new();
    for upstream in &status.upstreams {
        let lag = upstream.lag_seconds(now);
        let waiting = upstream.waiting.load(Ordering::Relaxed);
        let last_error = upstream.last_error.lock().clone();
        if let Some(error) = &last_error {
            level = level.max(Level::Degraded);
            // The error names the URL it was sent to.
            problems.push(error.clone());
        } else if lag >= FORWARD_LAG_DEGRADED_SECONDS {
            level = level.max(Level::Degraded);
            problems.push(format!(
                "{}: {waiting} batch(es) waiting, the oldest {lag:.0} s",
                upstream.url
            ));
        }
        upstreams.insert(
            upstream.url.clone(),
            json!({
                "protocol": upstream.protocol.name(),
                "sent_through": upstream.sent_through.load(Ordering::Relaxed),
                "waiting": waiting,
                "lag_seconds": lag,
                "last_error": last_error,
            }),
        );
    }
    let alive = state
        .threads
        .iter()
        .find(|thread| thread.name() == "forwarder")
        .is_none_or(|thread| thread.is_alive());
    let details = json!({
        "alive": alive,
        "outbox_bytes": state.metrics.forward_outbox_bytes.get(),
        "upstreams": upstreams,
    });
    Some(if !alive {
        check(
            Level::Critical,
            Some("the forwarder has stopped".into()),
            details,
        )
    } else if level == Level::Ok {
        check(Level::Ok, None, details)
    } else {
        check(level, Some(problems.join("; ")), details)
    })
}

/// Journal rows not yet committed to the log index.
pub(super) async fn index_lag(state: &web::Data<AppState>) -> Result<IndexLag, ApiError> {
    let indexed_through = state.indexer.indexed_through.load(Ordering::SeqCst);
    read(state, move |reads| {
        reads.index_lag(indexed_through, UnixNanos::now())
    })
    .await
}
