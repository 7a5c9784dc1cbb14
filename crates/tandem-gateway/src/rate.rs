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

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: f64,
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
            self.buckets
                .retain(|_, b| b.tokens + (now_ms - b.last_ms).max(0.0) * per_ms < burst);
        }
        let bucket = self.buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            last_ms: now_ms,
        });
        let elapsed = (now_ms - bucket.last_ms).max(0.0);
        bucket.tokens = (bucket.tokens + elapsed * per_ms).min(burst);
        bucket.last_ms = now_ms;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - bucket.tokens) / per_ms) / 1000.0).ceil() as u64)
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
