//! Same-run A/B against another lookout binary: with
//! `LOOKOUT_BENCH_BASELINE=/path/to/lookout` (say, the previous commit's
//! release build) a benchmark runs its ingest workload against this build
//! and the baseline alternately, `LOOKOUT_BENCH_AB_ROUNDS` times each (default
//! 3), each run on a fresh data directory. Alternating makes the noise of a
//! shared machine fall on both alike; the report gives the medians of
//! server CPU time per record (steady on a noisy machine) and of records
//! per second, and their ratios.

// Each benchmark uses a subset of these helpers.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env::env_usize;

/// One ingest run.
pub struct Sample {
    pub records: u64,
    /// CPU seconds of the whole server process during the run.
    pub server_cpu_seconds: f64,
    /// CPU seconds of its writer thread, where storage work happens.
    pub writer_cpu_seconds: f64,
    pub wall: Duration,
}

impl Sample {
    fn cpu_us_per_record(&self) -> f64 {
        self.server_cpu_seconds * 1e6 / self.records.max(1) as f64
    }

    fn writer_us_per_record(&self) -> f64 {
        self.writer_cpu_seconds * 1e6 / self.records.max(1) as f64
    }

    fn records_per_second(&self) -> f64 {
        self.records as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The baseline binary, when an A/B run is asked for.
pub fn baseline() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("LOOKOUT_BENCH_BASELINE")?);
    assert!(
        path.is_file(),
        "LOOKOUT_BENCH_BASELINE={} is not a file",
        path.display()
    );
    Some(path)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `run` on `current` and `baseline` alternately and reports, as a
/// markdown section, the medians and ratios (`unit` names a record).
pub fn compare(
    unit: &str,
    current: &Path,
    baseline: &Path,
    mut run: impl FnMut(&Path) -> Sample,
) -> String {
    let rounds = env_usize("LOOKOUT_BENCH_AB_ROUNDS", 3).max(1);
    let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        // Who goes first alternates too, so warm-up favours neither.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let binary = if which == 0 { current } else { baseline };
            let sample = run(binary);
            eprintln!(
                "A/B round {}: {} {:.2} CPU-µs/{unit} ({:.2} in the writer), {:.0} {unit}s/s",
                round + 1,
                if which == 0 { "this build" } else { "baseline" },
                sample.cpu_us_per_record(),
                sample.writer_us_per_record(),
                sample.records_per_second()
            );
            samples[which].push(sample);
        }
    }
    let median_of =
        |which: usize, of: fn(&Sample) -> f64| median(samples[which].iter().map(of).collect());
    let cpu = |which| median_of(which, Sample::cpu_us_per_record);
    let rate = |which| median_of(which, Sample::records_per_second);
    let writer = |which| median_of(which, Sample::writer_us_per_record);
    let mut out = String::new();
    let _ = writeln!(out, "\n### Same-run A/B ({rounds} alternating runs each)\n");
    let _ = writeln!(
        out,
        "| binary | server CPU-µs per {unit} (median) | writer thread CPU-µs per {unit} | {unit}s/s (median) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for (which, name) in [
        (0, "this build".to_string()),
        (1, format!("baseline `{}`", baseline.display())),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {:.2} | {:.2} | {:.0} |",
            cpu(which),
            writer(which),
            rate(which)
        );
    }
    let _ = writeln!(
        out,
        "| ratio this / baseline | {:.3} | {:.3} | {:.3} |",
        cpu(0) / cpu(1),
        writer(0) / writer(1),
        rate(0) / rate(1)
    );
    out
}
