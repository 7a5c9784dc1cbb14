//! Metering: a token bucket per key, refilled continuously. Two meters use
//! it: request rates (keyed by a client's name or a sender's address) and
//! token budgets (what a client may spend upstream).
//!
//! The buckets live wherever the [`SharedState`](crate::SharedState) keeps
//! them: in the process for `tandem serve`, in Durable Objects on Workers.

use crate::config::TokenBudget;
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

/// What a bucket meters, which fixes its capacity and refill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meter {
    /// Requests: `burst` at once, refilled at `per_minute`.
    Rate(Rate),
    /// Upstream tokens: `tokens` per `per_seconds`, never more saved up.
    Budget(TokenBudget),
}

impl Meter {
    fn capacity(self) -> f64 {
        match self {
            Meter::Rate(r) => f64::from(r.burst.max(1)),
            Meter::Budget(b) => b.tokens as f64,
        }
    }

    fn per_ms(self) -> f64 {
        match self {
            Meter::Rate(r) => f64::from(r.per_minute.max(1)) / 60_000.0,
            Meter::Budget(b) => b.tokens as f64 / (b.per_seconds.max(1) as f64 * 1000.0),
        }
    }

    /// Whether a forgotten bucket would favour the client. A rate bucket
    /// forgotten while idle only refills early (idle means not limited); a
    /// budget forgotten would hand back what the client spent, so stores
    /// that may forget (a Durable Object evicted from memory) must persist it.
    pub fn must_persist(self) -> bool {
        matches!(self, Meter::Budget(_))
    }
}

/// What a request does to a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Draw {
    /// Takes this many units if the bucket holds at least one, else refuses:
    /// one request of a rate, or the most a request could cost of a budget.
    Reserve(u64),
    /// Takes this many units (negative: gives them back) without refusing:
    /// a reservation settled with the cost the upstream reported.
    Settle(i64),
}

/// A level refilled continuously up to its meter's capacity. The level may
/// go below zero (a debt the refill repays first).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    tokens: f64,
    last_ms: f64,
}

impl Bucket {
    /// A bucket of `meter` filled to its capacity at `now_ms`.
    pub fn full(meter: Meter, now_ms: f64) -> Self {
        Self {
            tokens: meter.capacity(),
            last_ms: now_ms,
        }
    }

    /// Refills to `now_ms`, then applies `draw`; a refused reservation is
    /// the whole seconds until the bucket holds one unit again.
    pub fn draw(&mut self, meter: Meter, draw: Draw, now_ms: f64) -> Result<(), u64> {
        let per_ms = meter.per_ms();
        let elapsed = (now_ms - self.last_ms).max(0.0);
        self.tokens = (self.tokens + elapsed * per_ms).min(meter.capacity());
        self.last_ms = self.last_ms.max(now_ms);
        match draw {
            Draw::Reserve(_) if self.tokens < 1.0 => {
                Err(((1.0 - self.tokens) / per_ms / 1000.0).ceil().max(1.0) as u64)
            }
            Draw::Reserve(n) => {
                self.tokens -= n as f64;
                Ok(())
            }
            Draw::Settle(n) => {
                self.tokens -= n as f64;
                Ok(())
            }
        }
    }

    /// Whether the bucket would be full at `now_ms` (then it carries no information).
    fn is_full(&self, meter: Meter, now_ms: f64) -> bool {
        self.tokens + (now_ms - self.last_ms).max(0.0) * meter.per_ms() >= meter.capacity()
    }
}

/// Most buckets kept before full ones (which carry no information) are dropped.
const MAX_BUCKETS: usize = 100_000;

/// Token buckets by key, in memory.
#[derive(Debug, Default)]
pub struct Buckets {
    map: HashMap<String, Bucket>,
}

impl Buckets {
    /// Applies `draw` to `key`'s bucket of `meter` at `now_ms` (see [`Bucket::draw`]).
    pub fn draw(&mut self, key: &str, meter: Meter, draw: Draw, now_ms: f64) -> Result<(), u64> {
        if self.map.len() > MAX_BUCKETS {
            self.map.retain(|_, b| !b.is_full(meter, now_ms));
        }
        self.map
            .entry(key.to_owned())
            .or_insert_with(|| Bucket::full(meter, now_ms))
            .draw(meter, draw, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_allows_the_burst_then_the_sustained_rate() {
        let rate = Meter::Rate(Rate {
            per_minute: 60,
            burst: 3,
        });
        let one = Draw::Reserve(1);
        let mut r = Buckets::default();
        for _ in 0..3 {
            assert_eq!(r.draw("a", rate, one, 0.0), Ok(()));
        }
        assert_eq!(r.draw("a", rate, one, 0.0), Err(1));
        assert_eq!(r.draw("b", rate, one, 0.0), Ok(()), "keys are separate");
        assert_eq!(r.draw("a", rate, one, 999.0), Err(1));
        assert_eq!(r.draw("a", rate, one, 1001.0), Ok(()));
    }

    #[test]
    fn a_budget_reserves_settles_and_is_repaid_by_the_refill() {
        let budget = Meter::Budget(TokenBudget {
            tokens: 1000,
            per_seconds: 100,
        });
        let mut b = Buckets::default();
        assert_eq!(b.draw("a", budget, Draw::Reserve(300), 0.0), Ok(()));
        // The request cost 1,500, not the 300 reserved: 500 in debt.
        assert_eq!(b.draw("a", budget, Draw::Settle(1200), 0.0), Ok(()));
        // At 10 tokens/s, 51 s until the balance is 1 again.
        assert_eq!(b.draw("a", budget, Draw::Reserve(1), 0.0), Err(51));
        assert_eq!(
            b.draw("b", budget, Draw::Reserve(1), 0.0),
            Ok(()),
            "clients are separate"
        );
        assert_eq!(b.draw("a", budget, Draw::Reserve(1), 50_000.0), Err(1));
        assert_eq!(b.draw("a", budget, Draw::Reserve(0), 50_100.0), Ok(()));
        // The balance never saves up more than one period's tokens; a refund gives back.
        assert_eq!(b.draw("a", budget, Draw::Reserve(1000), 1e9), Ok(()));
        assert!(b.draw("a", budget, Draw::Reserve(1), 1e9).is_err());
        assert_eq!(b.draw("a", budget, Draw::Settle(-1), 1e9), Ok(()));
        assert_eq!(b.draw("a", budget, Draw::Reserve(1), 1e9), Ok(()));
    }

    #[test]
    fn a_clock_going_backwards_refills_nothing() {
        let rate = Meter::Rate(Rate {
            per_minute: 60,
            burst: 1,
        });
        let mut bucket = Bucket::full(rate, 10_000.0);
        assert_eq!(bucket.draw(rate, Draw::Reserve(1), 10_000.0), Ok(()));
        assert!(bucket.draw(rate, Draw::Reserve(1), 5_000.0).is_err());
        assert!(bucket.draw(rate, Draw::Reserve(1), 10_500.0).is_err());
    }
}
