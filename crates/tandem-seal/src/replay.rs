//! The replay window: each sealed request is accepted once.
//!
//! A request carries its client's clock and is refused outside `window_ms`
//! of the server's, so an encapsulated key needs remembering only until no
//! copy of it could pass that check again: `2 × window_ms` after it was
//! seen. Keys sit in a hash set and, in the order seen, in a queue whose
//! expired front is dropped on each check: O(1) amortized per request, and
//! never more than `capacity` keys. A full window refuses new requests
//! rather than forget a key early, which would let its replay through.

use crate::SealError;
use crate::request::ENC_LEN;
use std::collections::{HashSet, VecDeque};

/// Keys remembered at most, by default: about 10 MB, or 160 requests a
/// second sustained over a 5-minute window (twice that is remembered).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Remembers the requests of the last `2 × window_ms` and refuses repeats
/// and requests whose client time is outside the window.
#[derive(Debug)]
pub struct ReplayWindow {
    window_ms: f64,
    capacity: usize,
    seen: HashSet<[u8; ENC_LEN]>,
    /// Keys in the order seen, with the time each may be forgotten.
    order: VecDeque<(f64, [u8; ENC_LEN])>,
}

impl ReplayWindow {
    /// A window of `window_ms` either side of the server's clock, remembering
    /// at most [`DEFAULT_CAPACITY`] requests.
    pub fn new(window_ms: f64) -> Self {
        Self::with_capacity(window_ms, DEFAULT_CAPACITY)
    }

    /// A window remembering at most `capacity` requests.
    pub fn with_capacity(window_ms: f64, capacity: usize) -> Self {
        Self {
            window_ms,
            capacity,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Requests remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no request is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Accepts a request (by its encapsulated key and client time) once.
    pub fn check(&mut self, enc: &[u8; ENC_LEN], client_ms: f64, now_ms: f64) -> Result<(), SealError> {
        if !client_ms.is_finite() || (now_ms - client_ms).abs() > self.window_ms {
            return Err(SealError::Replay);
        }
        while let Some(&(forget_at, key)) = self.order.front() {
            if forget_at > now_ms {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&key);
        }
        if self.seen.contains(enc) {
            return Err(SealError::Replay);
        }
        if self.seen.len() >= self.capacity {
            return Err(SealError::WindowFull);
        }
        self.seen.insert(*enc);
        self.order.push_back((now_ms + 2.0 * self.window_ms, *enc));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> [u8; ENC_LEN] {
        let mut k = [0u8; ENC_LEN];
        k[..4].copy_from_slice(&i.to_le_bytes());
        k
    }

    #[test]
    fn a_key_is_accepted_once_until_no_copy_could_pass_the_clock_check() {
        let mut w = ReplayWindow::new(1000.0);
        assert_eq!(w.check(&key(1), 0.0, 0.0), Ok(()));
        assert_eq!(w.check(&key(1), 0.0, 500.0), Err(SealError::Replay));
        assert_eq!(w.check(&key(1), 0.0, 1001.0), Err(SealError::Replay), "stale");
        // A copy whose client time is 999 would pass the clock check until 1999.
        assert_eq!(w.check(&key(1), 999.0, 1999.0), Err(SealError::Replay));
        assert_eq!(w.check(&key(2), 2001.0, 2001.0), Ok(()));
        assert_eq!(w.len(), 1, "the first key was forgotten after 2 × window");
        assert_eq!(w.check(&key(3), f64::NAN, 0.0), Err(SealError::Replay));
    }

    #[test]
    fn memory_is_bounded_and_a_full_window_refuses_instead_of_forgetting() {
        let mut w = ReplayWindow::with_capacity(1000.0, 3);
        for i in 0..3 {
            assert_eq!(w.check(&key(i), 0.0, 0.0), Ok(()));
        }
        assert_eq!(w.check(&key(9), 0.0, 0.0), Err(SealError::WindowFull));
        assert_eq!(w.check(&key(0), 0.0, 0.0), Err(SealError::Replay), "still remembered");
        assert_eq!(
            w.check(&key(9), 2000.0, 2000.0),
            Ok(()),
            "room again once the old keys expire"
        );
        assert_eq!(w.len(), 1);
    }
}
