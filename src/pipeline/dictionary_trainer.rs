//! The `span-dictionaries` thread: trains the zstd dictionaries that span
//! attributes and events are packed with
//! (`store::sqlite::span_dictionaries`) on the newest spans, on a read
//! connection, off the writer, and hands them to the writer to store.
//!
//! The first dictionary is trained as soon as enough spans are stored.
//! After that, every `retrain` interval a candidate is trained on the
//! newest spans and stored only if it packs them at least 15 % smaller
//! than the current one does: attributes drift (a release adds some, a new
//! service arrives), and a dictionary that no longer fits packs less, never
//! wrongly, so replacing it is worth a row only for a real gain.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::supervise::{self, ThreadHealth};
use super::WriterHandle;
use crate::store::sqlite::span_dictionaries::{self, Trained};
use crate::store::sqlite::ReadPool;
use crate::telemetry::Metrics;

/// Newest spans sampled for a dictionary.
const SAMPLE_SPANS: usize = 4000;
/// Fewer blobs than this train no dictionary yet.
const MIN_SAMPLES: usize = 1000;
/// A first dictionary must pack its held-out samples at least this much.
const FIRST_GAIN: f64 = 0.9;
/// A new dictionary must pack the held-out samples to this fraction of
/// what the current one packs them to.
const RETRAIN_GAIN: f64 = 0.85;

/// Default time between looks for a first dictionary.
pub const POLL: Duration = Duration::from_secs(5);
/// Default time between trainings once a dictionary exists.
pub const RETRAIN: Duration = Duration::from_secs(600);

pub struct DictionaryTrainer {
    pub writer: WriterHandle,
    pub reads: Arc<ReadPool>,
    pub metrics: Arc<Metrics>,
    /// Between looks while there is no dictionary yet.
    pub poll: Duration,
    /// Between trainings once there is one.
    pub retrain: Duration,
}

impl DictionaryTrainer {
    /// Starts the thread; it trains until `stop` is dropped or receives a
    /// message.
    pub fn spawn(
        self,
        health: &Arc<ThreadHealth>,
        stop: Receiver<()>,
    ) -> std::io::Result<JoinHandle<()>> {
        supervise::spawn(health, move || {
            // With a dictionary stored, the next training is due a retrain
            // interval from now, not at start: training holds a few MB
            // that an idle server would otherwise keep.
            let mut wait = match self.has_dictionary() {
                Ok(true) => self.retrain,
                Ok(false) => self.poll,
                Err(error) => {
                    tracing::warn!(%error, "could not read the span dictionaries; looking again soon");
                    self.poll
                }
            };
            loop {
                match stop.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                wait = match self.pass() {
                    Ok(next) => next,
                    Err(error) => {
                        self.metrics.span_dictionary_failures.inc();
                        tracing::warn!(%error, "training a span dictionary failed; retrying");
                        self.poll
                    }
                };
            }
        })
    }

    fn has_dictionary(&self) -> anyhow::Result<bool> {
        let conn = self.reads.get()?;
        Ok(span_dictionaries::newest(&conn)?.is_some())
    }

    /// One training; answers the time until the next: `poll` while there
    /// were too few spans to train a first dictionary, else `retrain` (a
    /// first dictionary not worth storing is tried again only then).
    fn pass(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let (current, samples) = {
            let conn = self.reads.get()?;
            crate::store::sqlite::read::in_snapshot(&conn, |conn| {
                Ok((
                    span_dictionaries::newest(conn)?,
                    span_dictionaries::newest_samples(
                        conn,
                        self.reads.span_codecs(),
                        SAMPLE_SPANS,
                    )?,
                ))
            })?
        };
        let not_yet = if current.is_some() {
            self.retrain
        } else {
            self.poll
        };
        if samples.len() < MIN_SAMPLES {
            return Ok(not_yet);
        }
        self.metrics.span_dictionary_trainings.inc();
        let Some(trained) = span_dictionaries::train(&samples)? else {
            return Ok(not_yet);
        };
        let current_packed = match &current {
            Some((_, dictionary)) => Some(span_dictionaries::measure(
                dictionary,
                &span_dictionaries::held_out(&samples),
            )?),
            None => None,
        };
        if !worth_storing(&trained, current_packed.map(|(_, packed)| packed)) {
            tracing::debug!(
                samples = trained.samples,
                packed = trained.packed_bytes,
                current = ?current_packed,
                "a newly trained span dictionary is not enough better; kept the current one"
            );
            return Ok(self.retrain);
        }
        let took_ms = started.elapsed().as_millis() as u64;
        let (samples, encoded, packed) =
            (trained.samples, trained.sample_bytes, trained.packed_bytes);
        let bytes = trained.dictionary.len();
        let id = self.writer.store_span_dictionary_blocking(trained)?;
        self.metrics.span_dictionaries_stored.inc();
        tracing::info!(
            id,
            bytes,
            samples,
            encoded_bytes = encoded,
            packed_bytes = packed,
            replaced_packed_bytes = current_packed.map(|(_, packed)| packed),
            took_ms,
            "new spans' attributes and events are packed with a dictionary trained on the newest spans"
        );
        Ok(self.retrain)
    }
}

/// Whether `trained` should be stored, given what the current dictionary
/// packs the same held-out samples to.
fn worth_storing(trained: &Trained, current_packed: Option<u64>) -> bool {
    let packed = trained.packed_bytes as f64;
    match current_packed {
        None => packed <= FIRST_GAIN * trained.sample_bytes as f64,
        Some(current) => packed <= RETRAIN_GAIN * current as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trained(sample_bytes: u64, packed_bytes: u64) -> Trained {
        Trained {
            dictionary: Vec::new(),
            samples: 2000,
            sample_bytes,
            packed_bytes,
        }
    }

    #[test]
    fn a_first_dictionary_must_pack_and_a_new_one_must_beat_the_current() {
        assert!(worth_storing(&trained(1000, 200), None));
        assert!(
            !worth_storing(&trained(1000, 950), None),
            "incompressible spans"
        );
        assert!(worth_storing(&trained(1000, 200), Some(400)));
        assert!(
            !worth_storing(&trained(1000, 200), Some(220)),
            "not enough better"
        );
    }
}
