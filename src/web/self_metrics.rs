//! lookout's own metrics recorded into its metric store: every
//! `--self-metrics-interval`, what `/metrics` shows is read back as
//! samples labelled `job="lookout"` and written through the writer like
//! any OTLP metric, so dashboards (the built-in `lookout` one) and alert
//! rules can use them. A failed write is logged and retried at the next
//! interval; a full queue skips one sample.

use std::time::Duration;

use actix_web::web;

use super::AppState;
use crate::ingest::exposition::parse_exposition;
use crate::model::UnixNanos;

/// Records lookout's metrics every `interval` until the task is dropped.
pub async fn record(state: web::Data<AppState>, interval: Duration) {
    let start_ms = UnixNanos::now().0 / 1_000_000;
    let instance = state.config.listen.to_string();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let text = super::metrics::render(&state).await;
        let now_ms = UnixNanos::now().0 / 1_000_000;
        let batch = match parse_exposition(
            &text,
            now_ms,
            start_ms,
            &[("job", "lookout"), ("instance", &instance)],
        ) {
            Ok(batch) => batch,
            Err(error) => {
                tracing::error!(%error, "lookout's own metrics could not be read back");
                continue;
            }
        };
        match state.writer.write_metrics(batch, None).await {
            Ok(outcome) if outcome.rejected > 0 && !failing => {
                failing = true;
                tracing::warn!(
                    rejected = outcome.rejected,
                    reasons = ?outcome.reasons,
                    "some of lookout's own metric samples were refused"
                );
            }
            Ok(_) => failing = false,
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "recording lookout's own metrics failed; retrying at the next interval");
                }
                failing = true;
            }
        }
    }
}
