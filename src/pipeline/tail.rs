//! Live tail: the log indexer publishes every record it indexes; each
//! subscriber (an SSE client of `/api/logs/tail`) has a filter and a
//! bounded queue. A subscriber whose queue is full is dropped, which ends
//! its stream: a slow client is disconnected and never slows ingest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::model::LogRecord;

/// A record as published: its journal id and the record.
pub type TailItem = Arc<(u64, LogRecord)>;

/// Decides whether a subscriber wants a record.
pub type TailFilter = Box<dyn Fn(&LogRecord) -> bool + Send + Sync>;

struct Subscriber {
    filter: TailFilter,
    sender: mpsc::Sender<TailItem>,
}

#[derive(Default)]
pub struct TailHub {
    subscribers: Mutex<Vec<Subscriber>>,
    closed: AtomicBool,
}

impl TailHub {
    /// Registers a subscriber whose queue holds up to `capacity` records.
    /// After [`TailHub::close`] the stream ends at once.
    pub fn subscribe(&self, filter: TailFilter, capacity: usize) -> mpsc::Receiver<TailItem> {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let mut subscribers = self.subscribers.lock();
        if !self.closed.load(Ordering::SeqCst) {
            subscribers.push(Subscriber { filter, sender });
        }
        receiver
    }

    /// Ends every stream (after what is queued) and refuses new ones: at
    /// shutdown, open tails must not hold the server up.
    pub fn close(&self) {
        let mut subscribers = self.subscribers.lock();
        self.closed.store(true, Ordering::SeqCst);
        subscribers.clear();
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.lock().len()
    }

    /// Offers a record to every subscriber without waiting; full or closed
    /// subscribers are removed.
    pub fn publish(&self, journal_id: u64, record: &LogRecord) {
        let mut subscribers = self.subscribers.lock();
        if subscribers.is_empty() {
            return;
        }
        let mut item: Option<TailItem> = None;
        subscribers.retain(|subscriber| {
            if subscriber.sender.is_closed() {
                return false;
            }
            if !(subscriber.filter)(record) {
                return true;
            }
            let shared = item
                .get_or_insert_with(|| Arc::new((journal_id, record.clone())))
                .clone();
            match subscriber.sender.try_send(shared) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!("disconnecting a live-tail client that is not keeping up");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(service: &str) -> LogRecord {
        LogRecord {
            service: service.into(),
            ..LogRecord::default()
        }
    }

    #[test]
    fn subscribers_get_matching_records_and_slow_ones_are_dropped() {
        let hub = TailHub::default();
        let mut api = hub.subscribe(Box::new(|r: &LogRecord| r.service == "api"), 8);
        let _slow = hub.subscribe(Box::new(|_: &LogRecord| true), 1);
        hub.publish(1, &record("api"));
        hub.publish(2, &record("web"));
        assert_eq!(hub.subscriber_count(), 1, "the slow subscriber overflowed");
        let first = api.try_recv().expect("a matching record");
        assert_eq!(first.0, 1);
        assert!(
            api.try_recv().is_err(),
            "the non-matching record was filtered"
        );
        drop(api);
        hub.publish(3, &record("api"));
        assert_eq!(hub.subscriber_count(), 0, "closed subscribers are removed");
    }

    #[test]
    fn closing_ends_streams_and_refuses_new_ones() {
        let hub = TailHub::default();
        let mut open = hub.subscribe(Box::new(|_: &LogRecord| true), 8);
        hub.publish(1, &record("api"));
        hub.close();
        assert!(
            open.try_recv().is_ok(),
            "queued records are still delivered"
        );
        assert!(matches!(
            open.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        let mut late = hub.subscribe(Box::new(|_: &LogRecord| true), 8);
        assert!(matches!(
            late.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }
}
