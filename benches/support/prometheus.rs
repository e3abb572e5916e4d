//! A real Prometheus as the peer of a query benchmark: `promtool` turns an
//! OpenMetrics file into TSDB blocks, and `prometheus` serves them on a
//! free loopback port until dropped.

// Each benchmark uses a subset of these helpers.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `promtool` and `prometheus` are on the PATH.
pub fn available() -> bool {
    ["promtool", "prometheus"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    /// How long `promtool` took to build the blocks.
    pub backfill: Duration,
}

impl Prometheus {
    /// Builds blocks from `openmetrics` under `dir` and serves them.
    pub fn start(openmetrics: &Path, dir: &Path) -> Prometheus {
        let data = dir.join("prometheus-data");
        let began = Instant::now();
        let output = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(openmetrics)
            .arg(&data)
            .output()
            .expect("run promtool");
        assert!(
            output.status.success(),
            "promtool failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let backfill = began.elapsed();
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "global:\n  evaluation_interval: 1m\n").expect("config");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new("prometheus")
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .arg("--log.level=error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let prometheus = Prometheus {
            child,
            addr,
            backfill,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut http = crate::raw_http::RawHttp::new(addr);
        loop {
            if http
                .try_request("GET", "/-/ready", None)
                .is_ok_and(|response| response.status == 200)
            {
                break;
            }
            assert!(Instant::now() < deadline, "prometheus did not become ready");
            std::thread::sleep(Duration::from_millis(100));
            http = crate::raw_http::RawHttp::new(addr);
        }
        prometheus
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
