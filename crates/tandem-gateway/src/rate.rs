//! Rate limiting: a token bucket per key (a client's name, a sender's
//! address), refilled continuously.
//!
//! The buckets live wherever the [`SharedState`](crate::SharedState) keeps
//! them: in the process for `tandem serve`, in a Durable Object per key on
//! Workers.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A sustained rate and the burst above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

/// A level refilled continuously up to a capacity: the rate limiter's
/// requests and the budgets' tokens. The level may go below zero (a debt the
/// refill repays first).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    last_ms: f64,
}

impl Bucket {
    /// A bucket filled to `capacity` at `now_ms`.
    pub(crate) fn full(capacity: f64, now_ms: f64) -> Self {
        Self {
            tokens: capacity,
            last_ms: now_ms,
        }
    }

    /// Refills at `per_ms` (never above `capacity`) up to `now_ms`; the level.
    pub(crate) fn refill(&mut self, capacity: f64, per_ms: f64, now_ms: f64) -> f64 {
        let elapsed = (now_ms - self.last_ms).max(0.0);
        self.tokens = (self.tokens + elapsed * per_ms).min(capacity);
        self.last_ms = now_ms;
        self.tokens
    }

    /// The level at the last refill.
    pub(crate) fn level(&self) -> f64 {
        self.tokens
    }

    /// Takes `n` (the level may go negative).
    pub(crate) fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    /// Whole seconds until the level, refilled at `per_ms`, is back to one.
    pub(crate) fn seconds_to_one(&self, per_ms: f64) -> u64 {
        ((1.0 - self.tokens) / per_ms / 1000.0).ceil().max(1.0) as u64
    }

    /// Whether the bucket would be full at `now_ms` (then it carries no information).
    fn is_full(&self, capacity: f64, per_ms: f64, now_ms: f64) -> bool {
        self.tokens + (now_ms - self.last_ms).max(0.0) * per_ms >= capacity
    }
}

/// Token buckets by key.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// Takes one request from `key`'s bucket at time `now_ms`, or says how
    /// many seconds until one is available.
    pub fn check(&mut self, key: &str, rate: Rate, now_ms: f64) -> Result<(), u64> {
        let per_ms = f64::from(rate.per_minute.max(1)) / 60_000.0;
        let burst = f64::from(rate.burst.max(1));
        if self.buckets.len() > 100_000 {
            // Buckets refilled to the burst carry no information: forget them.
            self.buckets.retain(|_, b| !b.is_full(burst, per_ms, now_ms));
        }
        let bucket = self
            .buckets
            .entry(key.to_owned())
            .or_insert_with(|| Bucket::full(burst, now_ms));
        if bucket.refill(burst, per_ms, now_ms) >= 1.0 {
            bucket.take(1.0);
            Ok(())
        } else {
            Err(bucket.seconds_to_one(per_ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_sustained_rate() {
        let rate = Rate {
            per_minute: 60,
            burst: 3,
        };
        let mut r = RateLimiter::default();
        for _ in 0..3 {
            assert_eq!(r.check("a", rate, 0.0), Ok(()));
        }
        assert_eq!(r.check("a", rate, 0.0), Err(1));
        assert_eq!(r.check("b", rate, 0.0), Ok(()), "keys are separate");
        assert_eq!(r.check("a", rate, 999.0), Err(1));
        assert_eq!(r.check("a", rate, 1001.0), Ok(()));
    }
}
