//! Failed logins per remote address: after [`FREE_FAILURES`] failures
//! within [`WINDOW`], the n-th failure blocks the address for 2^(n−5)
//! seconds, at most [`MAX_BLOCK`]. A success clears the address. The table
//! is bounded; when full, the entry whose failures began earliest goes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const FREE_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_BLOCK: Duration = Duration::from_secs(15 * 60);
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    first_failure: Instant,
    blocked_until: Option<Instant>,
    /// Whether a refusal during the current block was already reported
    /// (audited once per block, not per attempt).
    refusal_reported: bool,
}

/// A refused attempt: how long to wait, and whether it is the first
/// refusal of this block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub retry_after: Duration,
    pub first_refusal: bool,
}

#[derive(Debug, Default)]
pub struct LoginLimiter {
    entries: HashMap<IpAddr, Entry>,
}

impl LoginLimiter {
    /// `Err` while the address is blocked.
    pub fn check(&mut self, addr: IpAddr, now: Instant) -> Result<(), Blocked> {
        let Some(entry) = self.entries.get_mut(&addr) else {
            return Ok(());
        };
        match entry.blocked_until {
            Some(until) if until > now => {
                let first_refusal = !entry.refusal_reported;
                entry.refusal_reported = true;
                Err(Blocked {
                    retry_after: until - now,
                    first_refusal,
                })
            }
            _ => Ok(()),
        }
    }

    /// Records a failure; returns the block it starts, if any.
    pub fn failure(&mut self, addr: IpAddr, now: Instant) -> Option<Duration> {
        if !self.entries.contains_key(&addr) && self.entries.len() >= MAX_ADDRESSES {
            self.make_room(now);
        }
        let entry = self.entries.entry(addr).or_insert(Entry {
            failures: 0,
            first_failure: now,
            blocked_until: None,
            refusal_reported: false,
        });
        if now.duration_since(entry.first_failure) > WINDOW {
            *entry = Entry {
                failures: 0,
                first_failure: now,
                blocked_until: None,
                refusal_reported: false,
            };
        }
        entry.failures += 1;
        if entry.failures < FREE_FAILURES {
            return None;
        }
        let exponent = (entry.failures - FREE_FAILURES).min(20);
        let block = Duration::from_secs(1u64 << exponent).min(MAX_BLOCK);
        entry.blocked_until = Some(now + block);
        entry.refusal_reported = false;
        Some(block)
    }

    pub fn success(&mut self, addr: IpAddr) {
        self.entries.remove(&addr);
    }

    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, entry| {
            now.duration_since(entry.first_failure) <= WINDOW
                || entry.blocked_until.is_some_and(|until| until > now)
        });
        if self.entries.len() >= MAX_ADDRESSES {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.first_failure)
                .map(|(addr, _)| *addr)
            {
                self.entries.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn the_fifth_failure_blocks_and_each_further_one_doubles() {
        let mut limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(limiter.failure(addr(1), t0), None);
            assert!(limiter.check(addr(1), t0).is_ok());
        }
        assert_eq!(limiter.failure(addr(1), t0), Some(Duration::from_secs(1)));
        let blocked = limiter.check(addr(1), t0).unwrap_err();
        assert_eq!(blocked.retry_after, Duration::from_secs(1));
        assert!(blocked.first_refusal);
        assert!(!limiter.check(addr(1), t0).unwrap_err().first_refusal);
        // Other addresses are not affected.
        assert!(limiter.check(addr(2), t0).is_ok());
        let t1 = t0 + Duration::from_secs(1);
        assert!(limiter.check(addr(1), t1).is_ok());
        assert_eq!(limiter.failure(addr(1), t1), Some(Duration::from_secs(2)));
        assert_eq!(limiter.failure(addr(1), t1), Some(Duration::from_secs(4)));
        for _ in 0..30 {
            limiter.failure(addr(1), t1);
        }
        assert_eq!(
            limiter.check(addr(1), t1).unwrap_err().retry_after,
            MAX_BLOCK
        );
    }

    #[test]
    fn success_and_the_window_clear_an_address() {
        let mut limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            limiter.failure(addr(1), t0);
        }
        limiter.success(addr(1));
        assert_eq!(limiter.failure(addr(1), t0), None);
        for _ in 0..3 {
            limiter.failure(addr(1), t0);
        }
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(
            limiter.failure(addr(1), later),
            None,
            "the window restarted"
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let mut limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for n in 0..(MAX_ADDRESSES as u32 + 50) {
            limiter.failure(addr(n), t0);
        }
        assert!(limiter.len() <= MAX_ADDRESSES);
    }
}
