//! `/proc` readers: CPU time of the server process and of each of its
//! threads, directory sizes, and what the machine is (model, load), so
//! reports can say how busy it was.

// Each benchmark uses a subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// utime + stime of a /proc stat file, in seconds.
pub fn stat_cpu(path: &Path, ticks: f64) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// CPU seconds of process `pid`, including threads that ended.
pub fn process_cpu(pid: u32, ticks: f64) -> f64 {
    stat_cpu(Path::new(&format!("/proc/{pid}/stat")), ticks).unwrap_or(0.0)
}

/// Clock ticks per second, the unit of CPU times in /proc stat files.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Bytes of all files under `path`, 0 for what cannot be read.
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The 1, 5 and 15 minute load averages: other load on the machine skews
/// wall-time results, so reports say how busy it was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A thread name with the number of its pool member dropped
/// (`thrd-tantivy-index3`, `actix-rt|system:0`), so pools add up.
fn pool_name(name: &str) -> String {
    name.trim_end_matches(|c: char| c.is_ascii_digit() || c == ':' || c == '-')
        .to_string()
}

/// Scheduler time per thread name of process `pid`, pools summed (threads
/// that already ended are missing; [`process_cpu`] has the total).
pub fn thread_sched(pid: u32) -> BTreeMap<String, Sched> {
    let mut out: BTreeMap<String, Sched> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = std::fs::read_to_string(path.join("comm"))
            .map(|name| pool_name(name.trim()))
            .unwrap_or_default();
        if let Some(sched) = read_sched(&path.join("schedstat")) {
            let total = out.entry(name).or_default();
            total.on_cpu += sched.on_cpu;
            total.runnable += sched.runnable;
        }
    }
    out
}

/// A thread's time on a CPU and time runnable but waiting for one
/// (`/proc/.../schedstat`), in seconds.
#[derive(Default, Clone, Copy)]
pub struct Sched {
    pub on_cpu: f64,
    pub runnable: f64,
}

pub fn read_sched(path: &Path) -> Option<Sched> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace();
    let on_cpu: f64 = fields.next()?.parse().ok()?;
    let runnable: f64 = fields.next()?.parse().ok()?;
    Some(Sched {
        on_cpu: on_cpu / 1e9,
        runnable: runnable / 1e9,
    })
}

/// How much scheduler time threads named `name` used between two samples.
pub fn by_thread_delta(
    before: &BTreeMap<String, Sched>,
    after: &BTreeMap<String, Sched>,
    name: &str,
) -> Sched {
    let before = before.get(name).copied().unwrap_or_default();
    let after = after.get(name).copied().unwrap_or_default();
    Sched {
        on_cpu: after.on_cpu - before.on_cpu,
        runnable: after.runnable - before.runnable,
    }
}
