//! Per-client rate limiting: a token bucket per client, refilled continuously.
//!
//! State lives in the gateway instance: on Workers that is one isolate, so
//! the limit is per isolate (a platform rate-limiting binding or a Durable
//! Object would make it global).

use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: f64,
}

/// Token buckets by client name.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_ms: f64,
    burst: f64,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// `per_minute` sustained, `burst` at once, per client.
    pub(crate) fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_ms: f64::from(per_minute) / 60_000.0,
            burst: f64::from(burst),
            buckets: HashMap::new(),
        }
    }

    /// Takes one request from `client`'s bucket at time `now_ms`, or says
    /// how many seconds until one is available.
    pub(crate) fn check(&mut self, client: &str, now_ms: f64) -> Result<(), u64> {
        if self.buckets.len() > 100_000 {
            // Full buckets carry no information: forget them.
            let burst = self.burst;
            let per_ms = self.per_ms;
            self.buckets
                .retain(|_, b| b.tokens + (now_ms - b.last_ms).max(0.0) * per_ms < burst);
        }
        let bucket = self.buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            last_ms: now_ms,
        });
        let elapsed = (now_ms - bucket.last_ms).max(0.0);
        bucket.tokens = (bucket.tokens + elapsed * self.per_ms).min(self.burst);
        bucket.last_ms = now_ms;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - bucket.tokens) / self.per_ms) / 1000.0).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_sustained_rate() {
        let mut r = RateLimiter::new(60, 3);
        for _ in 0..3 {
            assert_eq!(r.check("a", 0.0), Ok(()));
        }
        assert_eq!(r.check("a", 0.0), Err(1));
        assert_eq!(r.check("b", 0.0), Ok(()), "clients are separate");
        assert_eq!(r.check("a", 999.0), Err(1));
        assert_eq!(r.check("a", 1001.0), Ok(()));
    }
}
