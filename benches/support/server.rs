//! The release `lookout` binary as a child process of a benchmark.

// Each benchmark uses a subset of these helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::proc::process_cpu;

/// How long the server may take to print its address.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines kept for a failure message.
const LOG_TAIL_LINES: usize = 40;

/// A running `lookout` process, killed on drop unless it was stopped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// OTLP/gRPC's address (logged before the HTTP one), if it serves it.
    pub grpc_addr: Option<SocketAddr>,
    /// The last lines of its log (stderr), for failure messages.
    log: Arc<Mutex<VecDeque<String>>>,
    /// From spawning the process until it reported its address.
    pub startup: Duration,
    exited: bool,
}

/// `line` without ANSI escape sequences, in case the log is coloured
/// despite `NO_COLOR`.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip a CSI sequence up to its final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Server {
    /// Starts `binary` on a free port over `data_dir`, with `extra_args`
    /// after the listen address and data directory, and waits until it
    /// reports its address. The child does not inherit `LOOKOUT_*` or
    /// `RUST_LOG`, so the benchmark's own environment (and the caller's
    /// shell) cannot change its configuration.
    pub fn start(binary: &Path, data_dir: &Path, extra_args: &[String]) -> Server {
        let began = Instant::now();
        let mut command = Command::new(binary);
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LOOKOUT_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (sender, receiver) = mpsc::channel();
        let grpc_addr = Arc::new(Mutex::new(None));
        {
            let grpc = Arc::clone(&grpc_addr);
            let log = Arc::clone(&log);
            // Reads the log until the process exits: a full pipe would
            // block the server.
            std::thread::spawn(move || {
                let mut sender = Some(sender);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let line = strip_ansi(&line);
                    if let Some(rest) = line.split("OTLP/gRPC listening on ").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("");
                        *grpc.lock().expect("gRPC address lock") = addr.parse().ok();
                    } else if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("");
                        if let (Ok(addr), Some(sender)) =
                            (addr.parse::<SocketAddr>(), sender.take())
                        {
                            let _ = sender.send(addr);
                        }
                    }
                    let mut log = log.lock().expect("log lock");
                    if log.len() >= LOG_TAIL_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        let Ok(addr) = receiver.recv_timeout(STARTUP_TIMEOUT) else {
            let _ = child.kill();
            let _ = child.wait();
            // Lets the reader thread take the last lines.
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "lookout did not report its address; its log:\n{}",
                log.lock()
                    .expect("log lock")
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        };
        let grpc_addr = *grpc_addr.lock().expect("gRPC address lock");
        Server {
            child,
            addr,
            grpc_addr,
            log,
            startup: began.elapsed(),
            exited: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `kB` field of `/proc/<pid>/status` (`VmHWM:`, `VmRSS:` …).
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        text.lines()
            .find(|line| line.starts_with(field))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
    }

    /// Peak resident set size so far, 0 if unreadable.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:").unwrap_or(0)
    }

    /// CPU seconds of the whole server process; see [`process_cpu`].
    pub fn process_cpu(&self, ticks: f64) -> f64 {
        process_cpu(self.pid(), ticks)
    }

    /// SIGTERM (graceful: in-flight requests finish, the writer drains and
    /// checkpoints), then waits up to `timeout` for the exit, which must be
    /// a success. Returns the time from the signal to the exit.
    pub fn stop(&mut self, timeout: Duration) -> Duration {
        let began = Instant::now();
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        while began.elapsed() < timeout {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exited = true;
                    assert!(
                        status.success(),
                        "lookout exited with {status}; its log:\n{}",
                        self.log_tail()
                    );
                    return began.elapsed();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(error) => panic!("waiting for lookout: {error}"),
            }
        }
        panic!(
            "lookout did not stop within {timeout:?}; its log:\n{}",
            self.log_tail()
        );
    }

    pub fn log_tail(&self) -> String {
        self.log
            .lock()
            .map(|log| log.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for Server {
    /// Kills a server that was not stopped (a panic on the way), so that no
    /// process outlives the benchmark.
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
