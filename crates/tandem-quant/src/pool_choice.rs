//! Whether a product pays for handing rows to the thread pool, learned on
//! this machine per size class of product.
//!
//! A fixed size threshold cannot serve every host: on one 2-core machine the
//! second thread sped decoding up by a third, on another every decode
//! product was faster on the calling thread alone while prefill still gained
//! 1.4–1.75× (docs/models.md, "Decode speed in one picture"). So each class
//! of products (log2 of its work) is timed both ways a few times, then runs
//! the faster way, and now and then the other way again, so that a change in
//! the machine's load is noticed. Both ways compute the same rows with the
//! same kernel: the choice changes speed, never results.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Size classes: the work's log2.
const CLASSES: usize = 64;
/// Calls of a class timed alternately, serial and pooled, before choosing.
const EXPLORE: u64 = 4;
/// Once chosen, one call in this many runs the other way.
const RECHECK: u64 = 64;
/// Weight of a new timing in a way's moving average.
const NEW_WEIGHT: f64 = 0.25;

/// One way's moving average of nanoseconds per unit of work, as `f64`
/// bits; 0 until first timed.
struct Average(AtomicU64);

impl Average {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    fn get(&self) -> Option<f64> {
        let bits = self.0.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    /// Two threads may update at once; one update is then lost, which only
    /// slows the learning by a call.
    fn add(&self, x: f64) {
        let next = self.get().map_or(x, |avg| avg + NEW_WEIGHT * (x - avg));
        self.0.store(next.max(f64::MIN_POSITIVE).to_bits(), Ordering::Relaxed);
    }
}

/// What one size class has seen.
struct Class {
    calls: AtomicU64,
    serial: Average,
    pooled: Average,
}

static STATS: [Class; CLASSES] = [const {
    Class {
        calls: AtomicU64::new(0),
        serial: Average::new(),
        pooled: Average::new(),
    }
}; CLASSES];

/// Whether call number `call` of a class runs on the pool, given each way's
/// average time per unit of work so far (`None`: not timed yet).
fn pooled_turn(call: u64, serial: Option<f64>, pooled: Option<f64>) -> bool {
    if call < EXPLORE {
        return call % 2 == 1;
    }
    let pool_wins = match (serial, pooled) {
        (Some(s), Some(p)) => p < s,
        (None, _) => false,
        (Some(_), None) => true,
    };
    pool_wins != call.is_multiple_of(RECHECK)
}

/// A decision for one product of `work` units, to be reported back with
/// [`Turn::done`].
pub(crate) struct Turn {
    class: &'static Class,
    work: usize,
    /// Run this product on the pool.
    pub(crate) pooled: bool,
}

impl Turn {
    /// Decides how the next product of `work` units runs.
    pub(crate) fn next(work: usize) -> Self {
        let class = &STATS[(usize::BITS - work.leading_zeros()) as usize % CLASSES];
        let call = class.calls.fetch_add(1, Ordering::Relaxed);
        Self {
            class,
            work,
            pooled: pooled_turn(call, class.serial.get(), class.pooled.get()),
        }
    }

    /// Records how long the product took.
    pub(crate) fn done(self, took: Duration) {
        let per_unit = took.as_nanos() as f64 / self.work.max(1) as f64;
        if self.pooled {
            self.class.pooled.add(per_unit);
        } else {
            self.class.serial.add(per_unit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_calls_try_both_ways() {
        let turns: Vec<bool> = (0..EXPLORE).map(|c| pooled_turn(c, None, None)).collect();
        assert_eq!(turns.iter().filter(|&&p| p).count() as u64, EXPLORE / 2);
        assert!(turns.contains(&false));
    }

    #[test]
    fn then_the_faster_way_runs_and_the_other_is_checked_now_and_then() {
        let pool_faster: Vec<bool> = (EXPLORE..EXPLORE + 2 * RECHECK)
            .map(|c| pooled_turn(c, Some(2.0), Some(1.0)))
            .collect();
        let serial_faster: Vec<bool> = (EXPLORE..EXPLORE + 2 * RECHECK)
            .map(|c| pooled_turn(c, Some(1.0), Some(2.0)))
            .collect();
        assert_eq!(pool_faster.iter().filter(|&&p| !p).count(), 2);
        assert_eq!(serial_faster.iter().filter(|&&p| p).count(), 2);
    }

    #[test]
    fn an_untimed_way_gets_its_turn() {
        assert!(pooled_turn(EXPLORE + 1, Some(1.0), None));
        assert!(!pooled_turn(EXPLORE + 1, None, Some(1.0)));
    }

    #[test]
    fn the_average_follows_new_timings() {
        let avg = Average::new();
        assert_eq!(avg.get(), None);
        avg.add(4.0);
        assert_eq!(avg.get(), Some(4.0));
        avg.add(0.0);
        assert_eq!(avg.get(), Some(3.0));
    }
}
