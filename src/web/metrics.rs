//! `GET /metrics`: lookout's own metrics in the Prometheus text format.
//! Sizes come from the last off-thread measurement, never from walking
//! the data directory here.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};

use super::health::index_lag;
use super::AppState;
use crate::telemetry::{ScrapeValues, ThreadState};

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render(&state).await)
}

/// The text `/metrics` answers (also what lookout records of itself).
pub(super) async fn render(state: &web::Data<AppState>) -> String {
    state
        .metrics
        .queue_depth
        .set(state.writer.queue_depth() as i64);
    // A failed read is logged where it becomes an error; the lag series
    // then show zero, and /health/deep reports the failure.
    let lag = index_lag(state).await.unwrap_or_else(|error| {
        error.log();
        Default::default()
    });
    let (storage_bytes, storage_measure_failed) = match state.usage.last().map(|last| last.usage) {
        Some(Ok(usage)) => (
            vec![
                ("sqlite", usage.sqlite),
                ("logs", usage.logs),
                ("total", usage.total),
            ],
            false,
        ),
        Some(Err(_)) => (Vec::new(), true),
        None => (Vec::new(), false),
    };
    let alerts_firing = super::read(state, |reads| reads.alert_counts())
        .await
        .map(|(firing, _)| firing)
        .unwrap_or_else(|error| {
            error.log();
            0
        });
    let now = crate::model::UnixNanos::now();
    let oldest_age_seconds = super::read(state, |reads| reads.oldest_kept())
        .await
        .map(|oldest| {
            oldest
                .by_signal(now)
                .into_iter()
                .filter_map(|(signal, kept)| Some((signal, kept?.1)))
                .collect()
        })
        .unwrap_or_else(|error| {
            error.log();
            Vec::new()
        });
    let scrape = ScrapeValues {
        storage_bytes,
        storage_measure_failed,
        threads: state
            .threads
            .iter()
            .map(|thread| ThreadState {
                name: thread.name(),
                alive: thread.is_alive(),
                panicked: thread.panic_message().is_some(),
            })
            .collect(),
        queue_capacity: state.writer.queue_capacity(),
        index_lag_records: lag.records,
        index_lag_seconds: lag.oldest_seconds,
        index_capacity: state.indexer.capacity.load(Ordering::SeqCst),
        metric_head_samples: state.read.metric_head_samples(),
        alerts_firing,
        alert_rules: super::alerts::rule_states(&state.alerts.engine.states.lock()),
        disk_budget_bytes: state.disk_budget.as_ref().map(|budget| budget.budget),
        oldest_age_seconds,
    };
    state.metrics.render(&scrape)
}
