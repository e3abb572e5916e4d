//! The writer thread: the only code that writes SQLite.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::{
    supervise, Command, Outgoing, PipelineOptions, WriteError, WriterHandle, WriterStatus,
};
use crate::model::UnixNanos;
use crate::store::log_codec::EncodedLog;
use crate::store::sqlite::write::LogInput;
use crate::store::{StoreError, WriteStore};
use crate::telemetry::{Metrics, RejectReason};

/// Starts the `writer` thread. It runs until every `WriterHandle` is
/// dropped and the queue is drained, then checkpoints and returns.
pub fn spawn_writer(
    store: WriteStore,
    options: &PipelineOptions,
    metrics: Arc<Metrics>,
    journal_notify: Option<Sender<()>>,
) -> std::io::Result<(WriterHandle, JoinHandle<()>)> {
    let (sender, receiver) = crossbeam_channel::bounded(options.queue_capacity.max(1));
    let status = Arc::new(WriterStatus::new());
    let handle = WriterHandle {
        sender,
        status: Arc::clone(&status),
        metrics: Arc::clone(&metrics),
    };
    let options = options.clone();
    let (garbage, garbage_receiver) = crossbeam_channel::unbounded::<Garbage>();
    // Ends when the writer drops its sender.
    std::thread::Builder::new()
        .name("writer-free".into())
        .spawn(move || for _group in garbage_receiver {})?;
    let health = Arc::clone(&status.thread);
    let thread = supervise::spawn(&health, move || {
        let mut writer = Writer {
            store,
            receiver,
            options,
            status,
            metrics,
            #[cfg(feature = "test-hooks")]
            query_only: false,
            journal_notify,
            garbage,
            last_compaction: None,
            reclaiming: false,
            journal_check_at: None,
        };
        writer.run();
    })?;
    Ok((handle, thread))
}

struct Writer {
    store: WriteStore,
    receiver: Receiver<Command>,
    options: PipelineOptions,
    status: Arc<WriterStatus>,
    metrics: Arc<Metrics>,
    /// Whether the fault-injection hook has made the connection read-only.
    #[cfg(feature = "test-hooks")]
    query_only: bool,
    /// Woken (without blocking) after a commit that journaled log records.
    journal_notify: Option<Sender<()>>,
    /// Written batches go here to be freed off the writer thread.
    garbage: Sender<Garbage>,
    /// When metric samples were last moved into chunks.
    last_compaction: Option<Instant>,
    /// Whether most of the database file is free pages that the writer is
    /// giving back, a step between groups (see [`Writer::check_free_pages`]).
    reclaiming: bool,
    /// When to look whether the log journal has emptied since its last
    /// records (see [`Writer::check_journal_free_pages`]).
    journal_check_at: Option<Instant>,
}

/// A written group's data, freed by the `writer-free` thread.
type Garbage = (
    Vec<crate::model::SpanBatch>,
    Vec<(
        Vec<EncodedLog>,
        Vec<crate::model::error_group::ErrorOccurrence>,
    )>,
    Vec<crate::model::metric_batch::MetricBatch>,
);

/// How often the writer moves finished hours of metric samples into
/// chunks.
/// Free pages returned to the file system per reclaim step (16 MiB of
/// 4 KiB pages): a step takes milliseconds.
const RECLAIM_PAGES: u64 = 4096;
/// Free pages below which the writer never starts giving pages back on its
/// own (1 MiB of 4 KiB pages).
const RECLAIM_START_PAGES: u64 = 256;
const METRIC_COMPACTION_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// How long no log record must arrive before the pages the journal's
/// backlog freed may be given back: a pause, not a gap between batches.
const JOURNAL_QUIET: std::time::Duration = std::time::Duration::from_secs(5);

impl Writer {
    fn run(&mut self) {
        // `recv` fails once every handle is gone and the queue is empty; a
        // `Stop` command ends the loop after the commands queued before it.
        let mut stopping = false;
        self.metrics.set_caches(self.store.cache_sizes());
        while !stopping {
            let first = if self.reclaiming {
                // Free pages are given back while nothing else waits.
                match self.receiver.try_recv() {
                    Ok(command) => command,
                    Err(TryRecvError::Empty) => {
                        self.reclaim_step();
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            } else if let Some(at) = self.journal_check_at {
                match self
                    .receiver
                    .recv_timeout(at.saturating_duration_since(Instant::now()))
                {
                    Ok(command) => command,
                    Err(RecvTimeoutError::Timeout) => {
                        self.check_journal_free_pages();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                let Ok(first) = self.receiver.recv() else {
                    break;
                };
                first
            };
            #[cfg(feature = "test-hooks")]
            if !self.options.writer_delay.is_zero() {
                std::thread::sleep(self.options.writer_delay);
            }
            let group = self.drain_group(first);
            stopping = group.iter().any(|command| matches!(command, Command::Stop));
            self.metrics.queue_depth.set(self.receiver.len() as i64);
            self.write(group);
            self.compact_metrics_when_due();
            if self.journal_check_at.is_some_and(|at| at <= Instant::now()) {
                self.check_journal_free_pages();
            }
            if self.reclaiming {
                self.reclaim_step();
            }
        }
        if let Err(error) = self.store.checkpoint() {
            tracing::warn!(%error, "final checkpoint failed");
        }
        tracing::info!("writer stopped after draining its queue");
    }

    /// Takes `first` and whatever else is already queued, up to the span cap.
    /// Never waits for more work to arrive.
    fn drain_group(&self, first: Command) -> Vec<Command> {
        let mut spans = command_spans(&first);
        let mut group = vec![first];
        while spans < self.options.max_group_spans && !matches!(group.last(), Some(Command::Stop)) {
            match self.receiver.try_recv() {
                Ok(command) => {
                    spans += command_spans(&command);
                    group.push(command);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        group
    }

    /// Every minute: finished hours of metric samples into chunks. A
    /// failure is logged and retried next time; the samples stay in the
    /// head meanwhile, so nothing is lost.
    fn compact_metrics_when_due(&mut self) {
        if self
            .last_compaction
            .is_some_and(|at| at.elapsed() < METRIC_COMPACTION_EVERY)
        {
            return;
        }
        self.last_compaction = Some(Instant::now());
        if let Err(error) = self.store.compact_metrics(UnixNanos::now().0 / 1_000_000) {
            self.metrics.writer_errors.inc();
            tracing::error!(%error, "moving metric samples into chunks failed; retrying in a minute");
        }
        self.check_free_pages();
    }

    /// Starts giving free pages back when they are most of the database
    /// file: after a backfill's samples left the write-ahead rows for
    /// chunks, or retention deleted most of what was stored. Fewer free
    /// pages stay: the writer's next rows reuse them, and moving them only
    /// for the file to grow again would cost writes for nothing (the disk
    /// budget gives those back when the directory nears `--max-disk`).
    fn check_free_pages(&mut self) {
        if self.reclaiming {
            return;
        }
        match self.store.page_counts() {
            Ok((free, total)) => self.reclaiming = worth_reclaiming(free, total),
            Err(error) => tracing::warn!(%error, "could not read the database's free pages"),
        }
    }

    /// Once log records have stopped arriving for [`JOURNAL_QUIET`] and
    /// the journal is empty (all indexed), the pages its backlog held are
    /// free: a burst's worth, which [`Writer::check_free_pages`] gives back
    /// if they are most of the file. Not while records keep coming: the
    /// next ones reuse those pages, and giving them back only for the file
    /// to grow again would move live pages every few seconds.
    fn check_journal_free_pages(&mut self) {
        match self.store.journal_is_empty() {
            Ok(true) => {
                self.journal_check_at = None;
                self.check_free_pages();
            }
            // The indexer is behind: look again after another quiet spell.
            Ok(false) => self.journal_check_at = Some(Instant::now() + JOURNAL_QUIET),
            Err(error) => {
                self.journal_check_at = None;
                tracing::warn!(%error, "could not read whether the log journal is empty");
            }
        }
    }

    /// One bounded step of giving free pages back; stops once they are an
    /// eighth of the file or a step frees nothing.
    fn reclaim_step(&mut self) {
        match self.store.reclaim_space(RECLAIM_PAGES) {
            Ok(step) => {
                self.metrics.storage_reclaimed_bytes.add(step.freed_bytes());
                self.reclaiming =
                    step.freed_pages > 0 && step.free_pages_left * 8 > step.file_pages;
            }
            Err(error) => {
                self.reclaiming = false;
                self.metrics.writer_errors.inc();
                tracing::error!(%error, "giving free database pages back failed");
            }
        }
    }

    #[cfg(feature = "test-hooks")]
    fn sync_fault_injection(&mut self) {
        let fail = self.status.fail_writes.load(Ordering::SeqCst);
        if fail != self.query_only {
            if let Err(error) = self.store.set_query_only(fail) {
                tracing::error!(%error, "could not toggle write fault injection");
                return;
            }
            self.query_only = fail;
        }
    }

    /// Writes one group and answers its commands. Health status is updated
    /// before any reply is sent, so a client that saw its write succeed
    /// never reads a stale failure from `/health/deep`.
    fn write(&mut self, group: Vec<Command>) {
        #[cfg(feature = "test-hooks")]
        self.sync_fault_injection();
        let started = Instant::now();
        let mut batches = Vec::new();
        let mut logs = Vec::new();
        let mut metric_batches = Vec::new();
        let mut compactions = Vec::new();
        let mut truncate_to: Option<i64> = None;
        let mut probes = Vec::new();
        let mut retains = Vec::new();
        let mut reclaims = Vec::new();
        let mut seals = Vec::new();
        let mut span_dictionaries = Vec::new();
        let mut flushes = Vec::new();
        let mut alert_changes = Vec::new();
        let mut error_actions = Vec::new();
        let mut dashboard_changes = Vec::new();
        let mut security_changes = Vec::new();
        let mut outgoing = Vec::new();
        let mut forwarded = Vec::new();
        // Without upstreams nothing is kept for them.
        let forwarding = !self.options.forward_destinations.is_empty();
        for command in group {
            match command {
                Command::Spans(batch, forward, reply) => {
                    outgoing.extend(forward);
                    batches.push((batch, reply));
                }
                Command::Logs(records, errors, forward, reply) => {
                    outgoing.extend(forward);
                    logs.push(((records, errors), reply));
                }
                Command::Metrics(batch, forward, reply) => {
                    outgoing.extend(forward);
                    metric_batches.push((batch, reply));
                }
                Command::ForwardSent(destination, through, reply) => {
                    forwarded.push((destination, through, reply))
                }
                Command::CompactMetrics(now_ms, reply) => compactions.push((now_ms, reply)),
                Command::TruncateJournal(up_to) => {
                    truncate_to = Some(truncate_to.map_or(up_to, |t| t.max(up_to)));
                }
                Command::Probe(reply) => probes.push(reply),
                Command::Flush(reply) => flushes.push(reply),
                Command::Retain(cutoff, max_traces, reply) => {
                    retains.push((cutoff, max_traces, reply))
                }
                Command::Reclaim(reply) => reclaims.push(reply),
                Command::SealTraceBlocks(blocks, reply) => seals.push((blocks, reply)),
                Command::SpanDictionary(trained, reply) => span_dictionaries.push((trained, reply)),
                Command::Alert(change, audit, reply) => alert_changes.push((change, audit, reply)),
                Command::ErrorAction(id, action, now, audit, reply) => {
                    error_actions.push((id, action, now, audit, reply))
                }
                Command::Dashboard(change, audit, reply) => {
                    dashboard_changes.push((change, audit, reply))
                }
                Command::Security(change, audit, reply) => {
                    security_changes.push((change, audit, reply))
                }
                Command::Stop => {}
                #[cfg(feature = "test-hooks")]
                Command::Panic => panic!("writer panic injected by a test"),
            }
        }

        // The group's first failure: what health reports and what a flush
        // in this group answers.
        let mut failure: Option<Arc<StoreError>> = None;
        let mut note = |result: Result<(), &Arc<StoreError>>| {
            if let Err(error) = result {
                failure.get_or_insert_with(|| Arc::clone(error));
            }
        };

        if !logs.is_empty() {
            self.journal_check_at = Some(Instant::now() + JOURNAL_QUIET);
        }
        let data_result = if batches.is_empty() && logs.is_empty() && metric_batches.is_empty() {
            None
        } else {
            let span_refs: Vec<&crate::model::SpanBatch> =
                batches.iter().map(|(batch, _)| batch).collect();
            let log_refs: Vec<LogInput<'_>> = logs
                .iter()
                .map(|((records, errors), _)| (records.as_slice(), errors.as_slice()))
                .collect();
            let metric_refs: Vec<&crate::model::metric_batch::MetricBatch> =
                metric_batches.iter().map(|(batch, _)| batch).collect();
            let outgoing_refs: Vec<&Outgoing> = if forwarding {
                outgoing.iter().collect()
            } else {
                Vec::new()
            };
            let result = self
                .store
                .write_all(
                    &span_refs,
                    &log_refs,
                    &metric_refs,
                    &outgoing_refs,
                    i64::try_from(self.options.forward_max_outbox_bytes).unwrap_or(i64::MAX),
                )
                .map_err(Arc::new);
            if let Ok((stats, outcomes)) = &result {
                for outcome in outcomes {
                    self.metrics.ingested_metric_points.add(outcome.accepted);
                    self.metrics.metric_series_created.add(outcome.new_series);
                    self.metrics
                        .reject(RejectReason::SeriesLimit, outcome.over_limit);
                    self.metrics.reject(
                        RejectReason::InvalidItem,
                        outcome.rejected - outcome.over_limit,
                    );
                }
                self.metrics.ingested_spans.add(stats.spans_inserted);
                self.metrics
                    .span_series_overflow
                    .add(stats.spans_in_overflow);
                self.metrics
                    .trace_blocks_unsealed
                    .add(stats.blocks_unsealed);
                self.metrics.ingested_logs.add(stats.logs_inserted);
                self.metrics.errors_recorded.add(stats.errors_recorded);
                self.metrics
                    .error_group_overflow
                    .add(stats.errors_in_overflow);
                self.metrics.set_caches(self.store.cache_sizes());
                if stats.outbox_dropped_rows > 0 {
                    self.metrics
                        .forward_dropped_outbox_full
                        .add(stats.outbox_dropped_rows);
                    tracing::warn!(
                        batches = stats.outbox_dropped_rows,
                        bytes = stats.outbox_dropped_bytes,
                        limit = self.options.forward_max_outbox_bytes,
                        "the forwarding outbox is full: the oldest batches were dropped unsent"
                    );
                }
                self.metrics
                    .forward_outbox_bytes
                    .set(self.store.outbox_bytes());
                if let Some(id) = stats.last_journal_id {
                    self.status
                        .journaled_through
                        .fetch_max(id, Ordering::SeqCst);
                }
            }
            note(result.as_ref().map(|_| ()));
            // Published before the acks go out, so health agrees with them.
            self.record_outcome(result.as_ref().err().cloned());
            Some(result.map_err(WriteError::Failed))
        };
        let data_outcome = data_result.as_ref().map(Result::is_ok);
        // Ingest is answered as soon as its transaction commits, before the
        // group's maintenance (retention chunks, reclaim, compaction) runs:
        // an ack waits for its own data only. The receivers may have gone
        // (client disconnected); what was committed stays committed.
        if let Some(result) = data_result {
            let (span_data, span_replies): (Vec<_>, Vec<_>) = batches.into_iter().unzip();
            let (log_data, log_replies): (Vec<_>, Vec<_>) = logs.into_iter().unzip();
            let (metric_data, metric_replies): (Vec<_>, Vec<_>) =
                metric_batches.into_iter().unzip();
            let stats = result
                .as_ref()
                .map(|(stats, _)| *stats)
                .map_err(Clone::clone);
            for reply in span_replies.into_iter().chain(log_replies) {
                let _ = reply.send(stats.clone());
            }
            match &result {
                Ok((_, outcomes)) => {
                    for (reply, outcome) in metric_replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome.clone()));
                    }
                }
                Err(error) => {
                    for reply in metric_replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
            // Freeing a group's batches costs about a sixth of the writer's
            // time per span; another thread does it.
            // If that thread is gone, the data is simply freed here.
            let _ = self.garbage.send((span_data, log_data, metric_data));
            if stats.is_ok_and(|stats| stats.logs_inserted > 0) {
                if let Some(notify) = &self.journal_notify {
                    let _ = notify.try_send(());
                }
            }
        }
        let compaction_results: Vec<_> = compactions
            .into_iter()
            .map(|(now_ms, reply)| {
                let result = self.store.compact_metrics(now_ms).map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        if let Some(up_to) = truncate_to {
            let result = self.store.truncate_journal(up_to).map_err(Arc::new);
            note(result.as_ref().map(|_| ()));
        }
        let retain_results: Vec<_> = retains
            .into_iter()
            .map(|(cutoff, max_traces, reply)| {
                let result = self.store.retain(cutoff, max_traces).map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        if !compaction_results.is_empty() || !retain_results.is_empty() {
            self.check_free_pages();
        }
        let reclaim_results: Vec<_> = reclaims
            .into_iter()
            .map(|reply| {
                let result = self.store.reclaim_space(RECLAIM_PAGES).map_err(Arc::new);
                if let Ok(step) = &result {
                    self.metrics.storage_reclaimed_bytes.add(step.freed_bytes());
                }
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        let seal_results: Vec<_> = seals
            .into_iter()
            .map(|(blocks, reply)| {
                let result = self.store.seal_trace_blocks(&blocks).map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        let dictionary_results: Vec<_> = span_dictionaries
            .into_iter()
            .map(|(trained, reply)| {
                let result = self
                    .store
                    .store_span_dictionary(&trained, UnixNanos::now())
                    .map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        let alert_results: Vec<_> = alert_changes
            .into_iter()
            .map(|(change, audit, reply)| {
                let result = self
                    .store
                    .apply_alert_change(&change, &audit)
                    .map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        let error_action_results: Vec<_> = error_actions
            .into_iter()
            .map(|(id, action, now, audit, reply)| {
                let result = self
                    .store
                    .apply_error_action(id, action, now, &audit)
                    .map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        let dashboard_results: Vec<_> = dashboard_changes
            .into_iter()
            .map(|(change, audit, reply)| {
                let result = self
                    .store
                    .apply_dashboard_change(&change, &audit)
                    .map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        let security_results: Vec<_> = security_changes
            .into_iter()
            .map(|(change, audit, reply)| {
                let result = self
                    .store
                    .apply_security_change(&change, &audit)
                    .map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        let forwarded_results: Vec<_> = forwarded
            .into_iter()
            .map(|(destination, through, reply)| {
                let result = self
                    .store
                    .forward_advance(&destination, through, &self.options.forward_destinations)
                    .map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        self.metrics
            .forward_outbox_bytes
            .set(self.store.outbox_bytes());
        let probe_results: Vec<_> = probes
            .into_iter()
            .map(|reply| {
                let result = self.store.write_probe().map_err(Arc::new);
                note(result.as_ref().map(|_| ()));
                (reply, result.map_err(WriteError::Failed))
            })
            .collect();
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        let flush_result = match &failure {
            Some(error) => Err(WriteError::Failed(Arc::clone(error))),
            None => Ok(()),
        };
        // The data's outcome is out already; a later failure in the group
        // (maintenance) still counts.
        match data_outcome {
            None => self.record_outcome(failure),
            Some(true) if failure.is_some() => self.record_outcome(failure),
            Some(_) => {}
        }

        for (reply, result) in compaction_results {
            let _ = reply.send(result);
        }
        for (reply, result) in retain_results {
            let _ = reply.send(result);
        }
        for (reply, result) in reclaim_results {
            let _ = reply.send(result);
        }
        for (reply, result) in seal_results {
            let _ = reply.send(result);
        }
        for (reply, result) in dictionary_results {
            let _ = reply.send(result);
        }
        for (reply, result) in alert_results {
            let _ = reply.send(result);
        }
        for (reply, result) in dashboard_results {
            let _ = reply.send(result);
        }
        for (reply, result) in error_action_results {
            let _ = reply.send(result);
        }
        for (reply, result) in security_results {
            let _ = reply.send(result);
        }
        for (reply, result) in forwarded_results {
            let _ = reply.send(result);
        }
        for (reply, result) in probe_results {
            let _ = reply.send(result);
        }
        for reply in flushes {
            let _ = reply.send(flush_result.clone());
        }
    }

    /// Publishes the group's outcome for health checks and metrics, and
    /// logs a failure once per outage.
    fn record_outcome(&self, failure: Option<Arc<StoreError>>) {
        match failure {
            None => {
                self.status
                    .last_commit_unix_nano
                    .store(UnixNanos::now().0, Ordering::SeqCst);
                self.status.commits.fetch_add(1, Ordering::Relaxed);
                if self.status.last_error.lock().take().is_some() {
                    tracing::info!("writes succeed again");
                }
            }
            Some(error) => {
                let message = error.to_string();
                self.metrics.writer_errors.inc();
                let mut last_error = self.status.last_error.lock();
                if last_error.is_none() {
                    tracing::error!(error = %message, "write failed; ingest answers 503 until writes succeed");
                }
                *last_error = Some(message);
            }
        }
    }
}

fn command_spans(command: &Command) -> usize {
    match command {
        Command::Spans(batch, ..) => batch.spans.len().max(1),
        Command::Logs(records, ..) => records.len().max(1),
        Command::Metrics(batch, ..) => batch.sample_count().max(1),
        Command::ForwardSent(..) => 1,
        Command::Probe(_)
        | Command::Flush(_)
        | Command::Retain(..)
        | Command::Reclaim(..)
        | Command::SealTraceBlocks(..)
        | Command::SpanDictionary(..)
        | Command::TruncateJournal(_)
        | Command::CompactMetrics(..)
        | Command::Alert(..)
        | Command::ErrorAction(..)
        | Command::Dashboard(..)
        | Command::Security(..)
        | Command::Stop => 1,
        #[cfg(feature = "test-hooks")]
        Command::Panic => 1,
    }
}

/// Whether `free` of a database file's `total` pages are worth giving back
/// now: more than half of the file, and at least [`RECLAIM_START_PAGES`].
fn worth_reclaiming(free: u64, total: u64) -> bool {
    free >= RECLAIM_START_PAGES && free * 2 > total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_that_is_mostly_free_pages_is_worth_reclaiming() {
        assert!(worth_reclaiming(900, 1000));
        assert!(!worth_reclaiming(400, 1000), "less than half");
        assert!(!worth_reclaiming(200, 300), "too few pages to bother");
        assert!(!worth_reclaiming(0, 0));
    }
}
