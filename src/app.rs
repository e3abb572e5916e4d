//! The composition root: builds the store, the writer pipeline and the web
//! server from a [`Config`]. Used by `main` and by the integration tests,
//! so both run exactly the same wiring.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::web;
use anyhow::Context as _;

use crate::config::Config;
use crate::ingest::redact::Redactor;
use crate::model::security::{AuditEvent, SecurityChange};
use crate::model::{format_rfc3339, UnixNanos};
use crate::pipeline::disk_budget::{self, DiskBudget, DiskBudgetStatus};
use crate::pipeline::supervise::{self, ThreadHealth};
use crate::pipeline::tail::TailHub;
use crate::pipeline::{
    spawn_retention, spawn_writer, BlockSealer, DictionaryTrainer, FlushError, Forwarder,
    IndexerHandle, IndexerStatus, LogIndexer, WriterHandle,
};
use crate::query::ReadSide;
use crate::security::Security;
use crate::store::control::{self, Control};
use crate::store::logs::{LogIndexOptions, LogIndexes, LOGS_DIR};
use crate::store::sqlite::trace_blocks::FilterCache;
use crate::store::usage::{UsageCache, USAGE_INTERVAL};
use crate::store::{backup, DataDirLock, ReadPool};
use crate::telemetry::Metrics;
use crate::web::AppState;

/// A built, bound, not yet serving lookout.
pub struct App {
    state: web::Data<AppState>,
    listener: TcpListener,
    /// OTLP/gRPC's listener, unless `--grpc-listen none`.
    grpc_listener: Option<TcpListener>,
    writer_thread: JoinHandle<()>,
    indexer_thread: JoinHandle<()>,
    indexer_handle: IndexerHandle,
    retention_thread: JoinHandle<()>,
    stop_retention: crossbeam_channel::Sender<()>,
    sealer_thread: JoinHandle<()>,
    stop_sealer: crossbeam_channel::Sender<()>,
    trainer_thread: JoinHandle<()>,
    stop_trainer: crossbeam_channel::Sender<()>,
    usage_thread: JoinHandle<()>,
    /// With `--max-disk`.
    budget_thread: Option<JoinHandle<()>>,
    stop_budget: crossbeam_channel::Sender<()>,
    stop_usage: crossbeam_channel::Sender<()>,
    alert_threads: Vec<JoinHandle<()>>,
    /// With `--forward-otlp`: one per upstream.
    forward_threads: Vec<JoinHandle<()>>,
    stop_forward: crossbeam_channel::Sender<()>,
    stop_alerts: crossbeam_channel::Sender<()>,
    addr: SocketAddr,
    /// Held until the writer has stopped: one lookout per data directory.
    lock: DataDirLock,
}

impl App {
    /// Locks the data directory, opens (and migrates) the database, starts
    /// the background threads and binds the listener, so the address is
    /// known before serving.
    pub fn build(mut config: Config) -> anyhow::Result<App> {
        let metrics = Arc::new(Metrics::default());
        if let Some(budget) = config.max_disk {
            // The WAL is part of the budget: checkpoint it sooner.
            config.store.wal_autocheckpoint_pages = disk_budget::wal_pages(budget);
        }
        let mut lock = DataDirLock::acquire(&config.data_dir)?;
        let store = lock.open_write_store(&config.store).with_context(|| {
            format!("cannot open the database in {}", config.data_dir.display())
        })?;
        let metric_head = store.metric_head();
        let reads = Arc::new(ReadPool::new(
            &config.data_dir,
            &config.store,
            store.span_codecs(),
        ));
        let logs = LogIndexes::open(&config.data_dir.join(LOGS_DIR), LogIndexOptions::default())
            .context("cannot open the log indexes")?;
        let (journal_notify, journal_wakeups) = crossbeam_channel::bounded(1);
        let (writer, writer_thread) = spawn_writer(
            store,
            &config.pipeline,
            Arc::clone(&metrics),
            Some(journal_notify),
        )
        .context("cannot start the writer thread")?;
        let indexer = Arc::new(IndexerStatus::default());
        let tail = Arc::new(TailHub::default());
        let (indexer_handle, indexer_thread) = LogIndexer {
            indexes: logs.clone(),
            reads: Arc::clone(&reads),
            writer: writer.clone(),
            notify: journal_wakeups,
            refresh: config.log_refresh,
            metrics: Arc::clone(&metrics),
            status: Arc::clone(&indexer),
            tail: Arc::clone(&tail),
            retention: config.retention,
        }
        .spawn()
        .context("cannot start the log indexer thread")?;
        let (stop_retention, retention_stop) = crossbeam_channel::bounded(1);
        let retention_health = ThreadHealth::new("retention");
        let retention_thread = spawn_retention(
            writer.clone(),
            config.retention,
            Arc::clone(&metrics),
            retention_stop,
            &retention_health,
        )
        .context("cannot start the retention thread")?;
        let (stop_sealer, sealer_stop) = crossbeam_channel::bounded(1);
        let sealer_health = ThreadHealth::new("block-sealer");
        let trace_blocks = Arc::new(FilterCache::default());
        let sealer_thread = BlockSealer {
            writer: writer.clone(),
            reads: Arc::clone(&reads),
            cache: Arc::clone(&trace_blocks),
            metrics: Arc::clone(&metrics),
            settle: config.pipeline.block_settle,
        }
        .spawn(&sealer_health, sealer_stop)
        .context("cannot start the block-sealer thread")?;
        let (stop_trainer, trainer_stop) = crossbeam_channel::bounded(1);
        let trainer_health = ThreadHealth::new("span-dictionaries");
        let trainer_thread = DictionaryTrainer {
            writer: writer.clone(),
            reads: Arc::clone(&reads),
            metrics: Arc::clone(&metrics),
            poll: config.pipeline.span_dictionary_poll,
            retrain: config.pipeline.span_dictionary_retrain,
        }
        .spawn(&trainer_health, trainer_stop)
        .context("cannot start the span-dictionaries thread")?;
        let (stop_forward, forward_stop) = crossbeam_channel::bounded::<()>(1);
        let forward_health = ThreadHealth::new("forwarder");
        let (forward, forward_threads) = if config.forward.is_empty() {
            (None, Vec::new())
        } else {
            let (status, threads) = Forwarder {
                upstreams: config.forward.clone(),
                reads: Arc::clone(&reads),
                writer: writer.clone(),
                metrics: Arc::clone(&metrics),
            }
            .spawn(&forward_health, forward_stop)
            .context("cannot start the forwarder threads")?;
            for upstream in &config.forward {
                tracing::info!(upstream = %upstream.url, "forwarding every accepted batch");
            }
            (Some(status), threads)
        };
        let usage = Arc::new(UsageCache::default());
        usage.refresh(&config.data_dir);
        let (stop_usage, usage_stop) = crossbeam_channel::bounded::<()>(1);
        let usage_health = ThreadHealth::new("storage-usage");
        let usage_thread = {
            let usage = Arc::clone(&usage);
            let data_dir = config.data_dir.clone();
            supervise::spawn(&usage_health, move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    usage_stop.recv_timeout(USAGE_INTERVAL)
                {
                    usage.refresh(&data_dir);
                }
            })
            .context("cannot start the storage-usage thread")?
        };
        let (stop_budget, budget_stop) = crossbeam_channel::bounded::<()>(1);
        let budget_health = ThreadHealth::new("disk-budget");
        let (disk_budget, budget_thread) = match config.max_disk {
            Some(budget) => {
                let status = DiskBudgetStatus::new(budget);
                let thread = DiskBudget {
                    data_dir: config.data_dir.clone(),
                    writer: writer.clone(),
                    reads: Arc::clone(&reads),
                    logs: logs.clone(),
                    indexer: Arc::clone(&indexer),
                    usage: Arc::clone(&usage),
                    metrics: Arc::clone(&metrics),
                    status: Arc::clone(&status),
                }
                .spawn(&budget_health, budget_stop)
                .context("cannot start the disk-budget thread")?;
                (Some(status), Some(thread))
            }
            None => (None, None),
        };
        let read = Arc::new(ReadSide::new(
            reads,
            logs,
            config.retention,
            metric_head,
            trace_blocks,
        ));
        let security = Arc::new(
            Security::load(
                config.security.clone(),
                config.admin_token.clone(),
                config.api_keys.clone(),
                &read,
            )
            .context("cannot read the security tables")?,
        );
        if !config.listen.ip().is_loopback() && !security.auth_required() {
            anyhow::bail!(
                "refusing to listen on {} without an admin token or password: lookout would be open to the network. \
                 Set --admin-token (LOOKOUT_ADMIN_TOKEN), run `lookout admin set-password`, or listen on a loopback address",
                config.listen
            );
        }
        let redactor = Arc::new(
            Redactor::new(&config.redaction)
                .map_err(|message| anyhow::anyhow!("invalid redaction rules: {message}"))?,
        );
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let grpc_listener = match config.grpc_listen {
            Some(grpc) => Some(crate::web::grpc::bind(grpc).with_context(|| {
                format!(
                    "cannot listen for OTLP/gRPC on {grpc} (--grpc-listen; `none` turns it off)"
                )
            })?),
            None => None,
        };
        let mut alert_options = config.alerts.clone();
        if alert_options.public_url.is_empty() {
            alert_options.public_url = format!("http://{addr}");
        }
        let alerts = Arc::new(crate::alerts::Alerts {
            options: alert_options.clone(),
            engine: crate::alerts::EngineStatus::new(),
            notifier: crate::alerts::NotifierStatus::new(),
        });
        let (stop_alerts, alerts_stop) = crossbeam_channel::bounded::<()>(2);
        let notifier_thread = crate::alerts::notify::Notifier {
            read: Arc::clone(&read),
            writer: writer.clone(),
            metrics: Arc::clone(&metrics),
            status: Arc::clone(&alerts.notifier),
            options: crate::alerts::NotifierOptions {
                max_age: alert_options.notify_max_age,
                timeout: std::time::Duration::from_secs(10),
                sync_every: alert_options.interval,
                public_url: alert_options.public_url.clone(),
            },
        }
        .spawn(alerts_stop.clone())
        .context("cannot start the notifier thread")?;
        let engine_thread = crate::alerts::engine::Engine {
            read: Arc::clone(&read),
            writer: writer.clone(),
            metrics: Arc::clone(&metrics),
            status: Arc::clone(&alerts.engine),
            notifier: Arc::clone(&alerts.notifier),
            outbox: alert_options.outbox(),
            options: crate::alerts::EngineOptions {
                interval: alert_options.interval,
                timeout: alert_options.evaluation_timeout(),
                minute: alert_options.minute,
                #[cfg(feature = "test-hooks")]
                slow_rule: alert_options.slow_rule.clone(),
            },
        }
        .spawn(alerts_stop)
        .context("cannot start the alert engine thread")?;
        let mut threads = vec![
            Arc::clone(&writer.status().thread),
            Arc::clone(&indexer.thread),
            retention_health,
            sealer_health,
            trainer_health,
            usage_health,
            Arc::clone(&alerts.engine.thread),
            Arc::clone(&alerts.notifier.thread),
        ];
        if disk_budget.is_some() {
            threads.push(budget_health);
        }
        if forward.is_some() {
            threads.push(forward_health);
        }
        // Commands on this machine (`lookout backup`) find the server here.
        let control = Control {
            pid: std::process::id(),
            url: format!("http://{}", loopback(addr)),
            token: security
                .issue_local_token()
                .context("cannot make the control token")?,
        };
        control::write(&config.data_dir, &control).with_context(|| {
            format!(
                "cannot write {} in {}",
                control::CONTROL_FILE,
                config.data_dir.display()
            )
        })?;
        let state = web::Data::new(AppState {
            config,
            writer,
            read,
            indexer,
            tail,
            metrics,
            usage,
            threads,
            alerts,
            security,
            redactor,
            disk_budget,
            forward,
        });
        Ok(App {
            state,
            listener,
            grpc_listener,
            writer_thread,
            indexer_thread,
            indexer_handle,
            retention_thread,
            stop_retention,
            sealer_thread,
            stop_sealer,
            trainer_thread,
            stop_trainer,
            usage_thread,
            stop_usage,
            budget_thread,
            stop_budget,
            alert_threads: vec![engine_thread, notifier_thread],
            forward_threads,
            stop_forward,
            stop_alerts,
            addr,
            lock,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where OTLP/gRPC is served, if it is.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn writer(&self) -> WriterHandle {
        self.state.writer.clone()
    }

    /// The log indexer's published status.
    pub fn indexer(&self) -> Arc<IndexerStatus> {
        Arc::clone(&self.state.indexer)
    }

    /// What [`crate::pipeline::flush`] needs besides the writer.
    pub fn indexer_handle(&self) -> IndexerHandle {
        self.indexer_handle.clone()
    }

    /// The data directory's measured size.
    pub fn usage(&self) -> Arc<UsageCache> {
        Arc::clone(&self.state.usage)
    }

    /// Serves until the server is stopped (by SIGINT/SIGTERM when
    /// `handle_signals`, or through the handle given to `ready`), then lets
    /// the writer commit everything queued and waits for it. Must run
    /// inside an actix system.
    pub async fn serve(
        self,
        handle_signals: bool,
        ready: impl FnOnce(StopHandle),
    ) -> anyhow::Result<()> {
        let server = crate::web::server(self.state.clone(), self.listener)?;
        let grpc_stop = Arc::new(tokio::sync::Notify::new());
        let stop = StopHandle {
            server: server.handle(),
            tail: Arc::clone(&self.state.tail),
            grpc: Arc::clone(&grpc_stop),
        };
        let grpc_addr = self
            .grpc_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok());
        let grpc = self.grpc_listener.map(|listener| {
            let stopped = Arc::clone(&grpc_stop);
            actix_web::rt::spawn(crate::web::grpc::serve(
                self.state.clone(),
                listener,
                async move { stopped.notified().await },
            ))
        });
        if handle_signals {
            let on_signal = stop.clone();
            actix_web::rt::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stop signal received");
                on_signal.stop().await;
            });
        }
        let recorder = self.state.config.self_metrics_interval.map(|interval| {
            actix_web::rt::spawn(crate::web::self_metrics::record(
                self.state.clone(),
                interval,
            ))
        });
        let usage_writer = actix_web::rt::spawn(write_security_usage(self.state.clone()));
        actix_web::rt::spawn(audit_restore(self.state.clone()));
        ready(stop);
        // Before the HTTP line, which tells scripts the server is up.
        if let Some(grpc_addr) = grpc_addr {
            tracing::info!("OTLP/gRPC listening on {grpc_addr}");
        }
        tracing::info!("listening on http://{}", self.addr);
        let served = server.await;
        // Calls in flight finish (and their writes commit) before the
        // writer drains.
        grpc_stop.notify_one();
        if let Some(grpc) = grpc {
            match grpc.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "the OTLP/gRPC server failed"),
                Err(error) => tracing::error!(%error, "the OTLP/gRPC server task failed"),
            }
        }
        if let Some(recorder) = recorder {
            recorder.abort();
        }
        usage_writer.abort();
        flush_security_usage(&self.state).await;
        served.context("the HTTP server failed")?;
        tracing::info!("stopped accepting requests; draining the write queue");
        drop(self.stop_retention);
        drop(self.stop_sealer);
        drop(self.stop_trainer);
        drop(self.stop_usage);
        drop(self.stop_budget);
        if let Some(thread) = self.budget_thread {
            let _ = thread.join();
        }
        // The engine and notifier write through the writer: they stop first.
        drop(self.stop_alerts);
        for thread in self.alert_threads {
            let _ = thread.join();
        }
        // The forwarders record their progress through the writer too.
        drop(self.stop_forward);
        for thread in self.forward_threads {
            let _ = thread.join();
        }
        let _ = self.retention_thread.join();
        let _ = self.sealer_thread.join();
        let _ = self.trainer_thread.join();
        let _ = self.usage_thread.join();
        let threads = self.state.threads.clone();
        self.state.writer.stop();
        drop(self.state);
        drop(self.indexer_handle);
        let _ = self.writer_thread.join();
        // The indexer ends once the writer is gone, after committing what
        // the journal holds.
        let _ = self.indexer_thread.join();
        control::remove(self.lock.dir());
        drop(self.lock);
        // Supervised threads catch their panics; a panic during the run
        // (logged when it happened) makes the shutdown a failure.
        let panicked: Vec<String> = threads
            .iter()
            .filter(|thread| thread.panic_message().is_some())
            .map(|thread| thread.stopped_reason())
            .collect();
        if !panicked.is_empty() {
            anyhow::bail!("{}", panicked.join("; "));
        }
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

/// The address commands on this machine connect to: the listen address,
/// or loopback where it listens on every address.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// Records a restore (`lookout restore` left its marker) in the audit log,
/// then removes the marker.
async fn audit_restore(state: web::Data<AppState>) {
    let data_dir = state.config.data_dir.clone();
    let Some(marker) = backup::take_restore_marker(&data_dir) else {
        return;
    };
    let marker = match marker {
        Ok(marker) => marker,
        Err(message) => {
            tracing::warn!("{message}; the restore is not audited");
            return;
        }
    };
    tracing::info!(from = %marker.from, "serving data restored from a backup");
    let event = AuditEvent::new(crate::security::Principal::Local.actor(), "restore")
        .target(marker.from.clone())
        .details(serde_json::json!({
            "backup_created": format_rfc3339(UnixNanos(marker.backup_created_unix_nano)),
            "restored": format_rfc3339(UnixNanos(marker.restored_unix_nano)),
            "bytes": marker.bytes,
            "counts": marker.counts,
        }));
    match state
        .writer
        .write_security(SecurityChange::AuditOnly, vec![event])
        .await
    {
        Ok(_) => {
            if let Err(error) = backup::clear_restore_marker(&data_dir) {
                tracing::warn!(%error, "cannot remove the restore marker");
            }
        }
        Err(error) => tracing::warn!(%error, "could not audit the restore"),
    }
}

/// How often last-use times of sessions and keys are written.
const SECURITY_USAGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Writes last-use times of sessions and keys, ends expired sessions and
/// deletes audit rows past their retention, every
/// [`SECURITY_USAGE_INTERVAL`].
async fn write_security_usage(state: web::Data<AppState>) {
    let mut ticks = tokio::time::interval(SECURITY_USAGE_INTERVAL);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        flush_security_usage(&state).await;
    }
}

async fn flush_security_usage(state: &web::Data<AppState>) {
    let security = Arc::clone(&state.security);
    let writer = state.writer.clone();
    match web::block(move || security.flush_usage(&writer)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "writing session and key usage failed"),
        Err(error) => tracing::warn!(%error, "writing session and key usage failed"),
    }
}

/// Stops a serving lookout gracefully.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    tail: Arc<TailHub>,
    /// Ends the OTLP/gRPC server (a permit: it may not be waiting yet).
    grpc: Arc<tokio::sync::Notify>,
}

impl StopHandle {
    /// Ends live-tail streams (they would otherwise hold their connections
    /// open until the shutdown timeout), then stops accepting and lets
    /// in-flight requests finish.
    pub async fn stop(&self) {
        self.tail.close();
        self.grpc.notify_one();
        self.server.stop(true).await;
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    let mut terminate = match actix_web::rt::signal::unix::signal(
        actix_web::rt::signal::unix::SignalKind::terminate(),
    ) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; stopping only on SIGINT");
            let _ = actix_web::rt::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = actix_web::rt::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// lookout serving on its own thread: what tests and benchmarks start.
/// Stops gracefully on `stop` or drop.
pub struct RunningApp {
    addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    writer: WriterHandle,
    indexer: Arc<IndexerStatus>,
    indexer_handle: IndexerHandle,
    usage: Arc<UsageCache>,
    data_dir: std::path::PathBuf,
    stop: StopHandle,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl RunningApp {
    pub fn start(config: Config) -> anyhow::Result<RunningApp> {
        let app = App::build(config)?;
        let addr = app.local_addr();
        let grpc_addr = app.grpc_addr();
        let writer = app.writer();
        let indexer = app.indexer();
        let indexer_handle = app.indexer_handle();
        let usage = app.usage();
        let data_dir = app.state.config.data_dir.clone();
        let (handle_sender, handle_receiver) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lookout-server".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(app.serve(false, move |handle| {
                    let _ = handle_sender.send(handle);
                }))
            })?;
        let stop = handle_receiver
            .recv()
            .context("the server thread ended before serving")?;
        Ok(RunningApp {
            addr,
            grpc_addr,
            writer,
            indexer,
            indexer_handle,
            usage,
            data_dir,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where OTLP/gRPC is served (`Config::grpc_listen`), if it is.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    pub fn writer(&self) -> &WriterHandle {
        &self.writer
    }

    pub fn indexer(&self) -> &IndexerStatus {
        &self.indexer
    }

    /// Holds journal truncation, as a backup does.
    pub fn hold_journal(&self) -> crate::pipeline::JournalHold {
        self.indexer.hold_journal()
    }

    /// Blocks until everything written so far is committed and, for logs,
    /// searchable, and the data directory's size is measured again; `Err`
    /// names what failed.
    pub fn flush(&self) -> Result<(), FlushError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| {
                FlushError::Index(format!("cannot start a runtime to wait on: {error}"))
            })?;
        runtime.block_on(crate::pipeline::flush(&self.writer, &self.indexer_handle))?;
        self.usage.refresh(&self.data_dir);
        Ok(())
    }

    /// Stops accepting, finishes in-flight requests, drains the writer.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.stop.stop());
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("the server thread panicked"))?
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if let Err(error) = self.stop_inner() {
            tracing::error!(%error, "stopping lookout failed");
        }
    }
}
