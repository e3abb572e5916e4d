//! A full disk, for real: the data directory on a small tmpfs the test
//! mounts. Ingest answers 503 (never a 2xx for what was not written),
//! health turns critical and says why, reads go on, and once space is
//! freed ingest recovers by itself; the directory checks clean afterwards.
//! Skipped, loudly, where the test cannot mount (not root, no tmpfs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::support::*;

/// A size-limited tmpfs mounted for the test, unmounted on drop.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(mebibytes: u64) -> Result<SmallFs, String> {
        let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mebibytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(SmallFs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let stat = nix::sys::statvfs::statvfs(path).expect("statvfs");
    stat.blocks_available() as u64 * stat.fragment_size() as u64
}

/// A trace of 10 spans with 4 KB of attributes each.
fn heavy_trace() -> (String, Vec<u8>) {
    let trace_id = new_trace_id();
    let start = now_nanos();
    let spans = (0..10)
        .map(|n| {
            let mut span = span(
                &trace_id,
                &new_span_id(),
                None,
                "fill",
                SpanKind::Server,
                start + n,
                start + n + MS,
            );
            let mut raw = vec![0u8; 2_000];
            getrandom::fill(&mut raw).expect("random");
            span.attributes.push(kv_str("payload", &hex(&raw)));
            span
        })
        .collect();
    (
        hex(&trace_id),
        prost::Message::encode_to_vec(&request(vec![resource_spans("filler", vec![], spans)])),
    )
}

#[test]
fn a_full_disk_answers_503_turns_health_critical_and_recovers_when_space_returns() {
    let fs = match SmallFs::mount(48) {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("!! disk-full test SKIPPED: {why} (it needs root to mount a tmpfs)");
            return;
        }
    };
    let data = tempfile::tempdir_in(fs.path()).expect("data directory on the tmpfs");
    let server = TestServer::start_on(data);
    // Leave about 3 MiB free.
    let filler = fs.path().join("filler");
    let leave = 3 << 20;
    let size = free_bytes(fs.path()).saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; size as usize]).expect("filler");

    let mut acked = Vec::new();
    let mut refusal = None;
    for _ in 0..2_000 {
        let (trace_id, body) = heavy_trace();
        let response = server.post_bytes("/v1/traces", PROTOBUF, None, body);
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            acked.push(trace_id);
            continue;
        }
        refusal = Some((status, response.text().unwrap_or_default()));
        break;
    }
    let (status, text) = refusal.expect("ingest was refused once the disk filled");
    assert_eq!(status, 503, "{text}");
    assert!(!text.is_empty(), "the refusal says why");
    assert!(!acked.is_empty(), "some traces fit before the disk filled");

    let (status, health) = server.get_json("/health/deep");
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "critical", "{health}");
    let messages = health["checks"].to_string();
    assert!(
        messages.contains("full") || messages.contains("bytes free"),
        "health names the cause: {health}"
    );
    // Reads keep working, and every acknowledged trace was written.
    assert_eq!(server.get("/api/stats").status(), 200);
    for trace_id in [acked.first(), acked.last()].into_iter().flatten() {
        assert_eq!(
            server.get(&format!("/api/traces/{trace_id}")).status(),
            200,
            "acked trace {trace_id}"
        );
    }

    // Space comes back: ingest recovers with no restart.
    std::fs::remove_file(&filler).expect("free the space");
    let deadline = Instant::now() + Duration::from_secs(20);
    let recovered = loop {
        let (trace_id, body) = heavy_trace();
        if server
            .post_bytes("/v1/traces", PROTOBUF, None, body)
            .status()
            .is_success()
        {
            break trace_id;
        }
        assert!(Instant::now() < deadline, "ingest did not recover");
        std::thread::sleep(Duration::from_millis(200));
    };
    let logs = logs_request(vec![resource_logs(
        "filler",
        vec![log_record(
            now_nanos(),
            9,
            "INFO",
            "after the disk was full",
            vec![],
        )],
    )]);
    assert!(server
        .post_protobuf("/v1/logs", &logs)
        .status()
        .is_success());
    server.flush();
    assert_eq!(
        server.get(&format!("/api/traces/{recovered}")).status(),
        200
    );
    assert_eq!(
        server.get_ok("/api/logs?lookback=1h&q=\"after the disk was full\"")["total"],
        1
    );
    // Back from critical; the disk check stays degraded on a file system
    // this small (under 128 MiB free), which is right.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, health) = server.get_json("/health/deep");
        if health["status"] != "critical"
            && health["checks"]["writer"]["status"] == "ok"
            && health["checks"]["log_index"]["status"] == "ok"
        {
            break;
        }
        assert!(Instant::now() < deadline, "health stayed bad: {health}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let data = server.stop();

    let output = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["check", "--data-dir"])
        .arg(data.path())
        .env_remove("LOOKOUT_DATA_DIR")
        .env_remove("LOOKOUT_CONFIG")
        .output()
        .expect("lookout check");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
