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
//! same kernel: the choice changes speed, never results. Host steps between
//! products (`crate::threads::par_rows`) are learned the same way, in a
//! table of their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Size classes: the work's log2.
const CLASSES: usize = 64;
/// Calls of a class timed alternately, serial and pooled, before choosing.
const EXPLORE: u64 = 8;
/// Once chosen, one call in this many runs the other way.
const RECHECK: u64 = 61;
/// Timings kept per way and class: a way's speed is the fastest of its
/// last few. A shared machine's noise only ever slows a product down, and a
/// moving average let one slow pooled product (its worker descheduled) make
/// the calling thread alone look faster for the next 63 calls of its class:
/// on Qwen2.5-Coder-1.5B with two threads, a fifth of the 8–16 MB products
/// ran serially. Both ways keep the same number of timings, so the way run
/// less often is not favoured, and a lasting change in the machine's load
/// shows within `KEEP` timings.
const KEEP: usize = 4;

/// One way's last [`KEEP`] timings, nanoseconds per unit of work as `f64`
/// bits (0: empty).
struct Recent {
    slots: [AtomicU64; KEEP],
    next: AtomicU64,
}

impl Recent {
    const fn new() -> Self {
        Self {
            slots: [const { AtomicU64::new(0) }; KEEP],
            next: AtomicU64::new(0),
        }
    }

    /// The fastest kept timing, if any.
    fn get(&self) -> Option<f64> {
        self.slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&bits| bits != 0)
            .map(f64::from_bits)
            .min_by(f64::total_cmp)
    }

    /// Two threads may record at once; one timing may then be lost, which
    /// only slows the learning by a call.
    fn add(&self, x: f64) {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) as usize % KEEP;
        self.slots[slot].store(x.max(f64::MIN_POSITIVE).to_bits(), Ordering::Relaxed);
    }
}

/// What one size class has seen.
struct Class {
    calls: AtomicU64,
    serial: Recent,
    pooled: Recent,
}

/// Each class's record, for products (`[0]`) and host steps (`[1]`):
/// their costs per unit of work differ, so they are learned apart.
static STATS: [[Class; CLASSES]; 2] = [const {
    [const {
        Class {
            calls: AtomicU64::new(0),
            serial: Recent::new(),
            pooled: Recent::new(),
        }
    }; CLASSES]
}; 2];

/// Whether call number `call` of a class runs on the pool, given each way's
/// fastest recent time per unit of work (`None`: not timed yet).
///
/// A class holds products of several kinds (a layer's matrices of about the
/// same size, their types' costs per unit differ), in a cycle. So exploring
/// runs the first half of its calls serially and the second half pooled (each
/// way sees every kind of a cycle up to `EXPLORE / 2` long, where
/// alternating calls would give each way its own kinds), and the rechecks
/// come every [`RECHECK`] calls, a prime, so that they go round the kinds.
fn pooled_turn(call: u64, serial: Option<f64>, pooled: Option<f64>) -> bool {
    if call < EXPLORE {
        return call >= EXPLORE / 2;
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
    /// Decides how the next product of `work` units runs (`host`: a host
    /// step, `crate::threads::par_rows`, rather than a product).
    pub(crate) fn next(work: usize, host: bool) -> Self {
        let class = &STATS[usize::from(host)][(usize::BITS - work.leading_zeros()) as usize % CLASSES];
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
        // Products of a class come in cycles of kinds: each way times every kind.
        for cycle in [2, 4] {
            for way in [false, true] {
                let mut kinds: Vec<u64> = (0..EXPLORE)
                    .filter(|&c| turns[c as usize] == way)
                    .map(|c| c % cycle)
                    .collect();
                kinds.sort_unstable();
                kinds.dedup();
                assert_eq!(kinds.len() as u64, cycle, "cycle {cycle}, pooled {way}: {turns:?}");
            }
        }
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
    fn the_fastest_of_the_last_few_timings_counts() {
        let way = Recent::new();
        assert_eq!(way.get(), None);
        way.add(4.0);
        way.add(9.0);
        assert_eq!(way.get(), Some(4.0), "one slow run changes nothing");
        for _ in 0..KEEP {
            way.add(6.0);
        }
        assert_eq!(way.get(), Some(6.0), "a lasting slowdown shows");
    }
}
