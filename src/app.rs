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
use crate::pipeline::tail::TailHub;
use crate::pipeline::{spawn_retention, spawn_writer, IndexerStatus, LogIndexer, WriterHandle};
use crate::store::logs::{LogIndexOptions, LogIndexes, LOGS_DIR};
use crate::store::{sqlite, ReadPool};
use crate::telemetry::Metrics;
use crate::web::AppState;

/// A built, bound, not yet serving lookout.
pub struct App {
    state: web::Data<AppState>,
    listener: TcpListener,
    writer_thread: JoinHandle<()>,
    indexer_thread: JoinHandle<()>,
    retention_thread: JoinHandle<()>,
    stop_retention: crossbeam_channel::Sender<()>,
    addr: SocketAddr,
}

impl App {
    /// Opens (and migrates) the database, starts the writer thread and
    /// binds the listener, so the address is known before serving.
    pub fn build(config: Config) -> anyhow::Result<App> {
        let metrics = Arc::new(Metrics::default());
        let store =
            sqlite::open_write_store(&config.data_dir, &config.store).with_context(|| {
                format!("cannot open the database in {}", config.data_dir.display())
            })?;
        let reads = Arc::new(ReadPool::new(&config.data_dir, &config.store));
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
        let indexer_thread = LogIndexer {
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
        let retention_thread = spawn_retention(writer.clone(), config.retention, retention_stop)
            .context("cannot start the retention thread")?;
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let state = web::Data::new(AppState {
            config,
            writer,
            reads,
            logs,
            indexer,
            tail,
            metrics,
        });
        Ok(App {
            state,
            listener,
            writer_thread,
            indexer_thread,
            retention_thread,
            stop_retention,
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn writer(&self) -> WriterHandle {
        self.state.writer.clone()
    }

    /// The log indexer's published status.
    pub fn indexer(&self) -> Arc<IndexerStatus> {
        Arc::clone(&self.state.indexer)
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
        let stop = StopHandle {
            server: server.handle(),
            tail: Arc::clone(&self.state.tail),
        };
        if handle_signals {
            let on_signal = stop.clone();
            actix_web::rt::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stop signal received");
                on_signal.stop().await;
            });
        }
        ready(stop);
        tracing::info!("listening on http://{}", self.addr);
        server.await.context("the HTTP server failed")?;
        tracing::info!("stopped accepting requests; draining the write queue");
        drop(self.stop_retention);
        if self.retention_thread.join().is_err() {
            tracing::error!("the retention thread panicked");
        }
        self.state.writer.stop();
        drop(self.state);
        self.writer_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
        // The indexer ends once the writer is gone, after committing what
        // the journal holds.
        self.indexer_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the log indexer thread panicked"))?;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

/// Stops a serving lookout gracefully.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    tail: Arc<TailHub>,
}

impl StopHandle {
    /// Ends live-tail streams (they would otherwise hold their connections
    /// open until the shutdown timeout), then stops accepting and lets
    /// in-flight requests finish.
    pub async fn stop(&self) {
        self.tail.close();
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
    writer: WriterHandle,
    indexer: Arc<IndexerStatus>,
    stop: StopHandle,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl RunningApp {
    pub fn start(config: Config) -> anyhow::Result<RunningApp> {
        let app = App::build(config)?;
        let addr = app.local_addr();
        let writer = app.writer();
        let indexer = app.indexer();
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
            writer,
            indexer,
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

    pub fn writer(&self) -> &WriterHandle {
        &self.writer
    }

    pub fn indexer(&self) -> &IndexerStatus {
        &self.indexer
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
