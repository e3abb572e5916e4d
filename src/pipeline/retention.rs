//! The `retention` thread: deletes traces and metric chunks older than the
//! retention period, through the writer like every other write, in small
//! chunks so ingest never waits long behind it; one `retention.purge`
//! audit row per pass that deleted something. (Log day indexes are the
//! log indexer's, which audits their deletion.)

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::supervise::{self, ThreadHealth};
use super::{Retained, WriterHandle};
use crate::model::security::{AuditEvent, SecurityChange};
use crate::model::{format_rfc3339, UnixNanos};
use crate::telemetry::{Metrics, RetentionReason};

/// Traces deleted per writer command.
const CHUNK_TRACES: usize = 500;
/// How often a retention pass runs.
const INTERVAL: Duration = Duration::from_secs(60);

/// Starts the thread; it runs a pass at once, then every minute, until
/// `stop` is dropped or receives a message.
pub fn spawn_retention(
    writer: WriterHandle,
    retention: Duration,
    metrics: Arc<Metrics>,
    stop: Receiver<()>,
    health: &Arc<ThreadHealth>,
) -> std::io::Result<JoinHandle<()>> {
    supervise::spawn(health, move || loop {
        run_pass(&writer, retention, &metrics);
        match stop.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => continue,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    })
}

fn run_pass(writer: &WriterHandle, retention: Duration, metrics: &Metrics) {
    let age = i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX);
    let cutoff = UnixNanos(UnixNanos::now().0.saturating_sub(age));
    let mut total = Retained::default();
    loop {
        match writer.retain_blocking(cutoff, CHUNK_TRACES) {
            Ok(retained) => {
                let deleted = &metrics.retention_deleted;
                deleted.spans(RetentionReason::Age, retained.spans);
                deleted.metric_chunks(RetentionReason::Age, retained.metric_chunks);
                total.traces += retained.traces;
                total.spans += retained.spans;
                total.metric_chunks += retained.metric_chunks;
                if retained.traces < CHUNK_TRACES as u64 {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "retention pass failed; retrying next interval");
                break;
            }
        }
    }
    if total.traces > 0 || total.metric_chunks > 0 {
        tracing::info!(
            traces = total.traces,
            spans = total.spans,
            metric_chunks = total.metric_chunks,
            "deleted data past the retention period"
        );
        audit_purge(
            writer,
            serde_json::json!({
                "reason": "age",
                "traces": total.traces,
                "spans": total.spans,
                "metric_chunks": total.metric_chunks,
                "cutoff": format_rfc3339(cutoff),
            }),
        );
    }
}

/// Writes the `retention.purge` audit row of a deletion that is done (by
/// age here and in the log indexer, by disk in the budget thread); a
/// failure is logged, the deletion stands.
pub(super) fn audit_purge(writer: &WriterHandle, details: serde_json::Value) {
    let audit = AuditEvent::new("lookout", "retention.purge").details(details);
    if let Err(error) = writer.write_security_blocking(SecurityChange::AuditOnly, vec![audit]) {
        tracing::warn!(%error, "could not audit a retention purge");
    }
}
