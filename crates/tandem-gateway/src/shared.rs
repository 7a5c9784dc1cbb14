//! State every instance of a gateway must share: the sealed channel's replay
//! window and the rate limits. A replay sent to another instance, or a client
//! spreading its requests over instances, must meet the same state.
//!
//! One process keeps it in memory ([`LocalState`], `tandem serve`). On
//! Workers, requests land on many isolates, so the worker keeps it in
//! Durable Objects behind the same trait (see `worker/`).

use crate::rate::{Rate, RateLimiter};
use futures_util::future::LocalBoxFuture;
use std::cell::RefCell;
use tandem_seal::{ReplayWindow, SealError};

pub use tandem_seal::ENC_LEN;

/// Why shared state refused a request, or could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The bucket is empty: retry after this many seconds.
    #[error("rate limit exceeded; retry in {retry_after_s} s")]
    Limited {
        /// Seconds until the bucket holds a request again.
        retry_after_s: u64,
    },
    /// The sealed request was seen before.
    #[error("replayed request")]
    Replay,
    /// The replay window is full; new sealed requests wait until old ones expire.
    #[error("too many sealed requests in the replay window; retry later")]
    Full,
    /// The state could not be reached; the request is refused (fail closed).
    #[error("shared state unavailable: {0}")]
    Unavailable(String),
}

/// The shared state's two operations. Futures need not be `Send` (Workers
/// run on one thread).
pub trait SharedState {
    /// Takes one request from bucket `key`, which refills at `rate`.
    fn take<'a>(&'a self, key: &'a str, rate: Rate, now_ms: f64) -> LocalBoxFuture<'a, Result<(), StateError>>;

    /// Remembers a sealed request by its encapsulated key for `2 × window_ms`
    /// (its client clock `client_ms` is already checked against the window);
    /// a key seen before is [`StateError::Replay`].
    fn first_sighting<'a>(
        &'a self,
        enc: &'a [u8; ENC_LEN],
        client_ms: f64,
        window_ms: f64,
        now_ms: f64,
    ) -> LocalBoxFuture<'a, Result<(), StateError>>;
}

/// Shared state in this process's memory: exact for one process.
#[derive(Debug)]
pub struct LocalState {
    buckets: RefCell<RateLimiter>,
    replay: RefCell<ReplayWindow>,
}

impl LocalState {
    /// State whose replay window spans `window_ms` and remembers at most `capacity` requests.
    pub fn new(window_ms: f64, capacity: usize) -> Self {
        Self {
            buckets: RefCell::default(),
            replay: RefCell::new(ReplayWindow::with_capacity(window_ms, capacity)),
        }
    }
}

impl SharedState for LocalState {
    fn take<'a>(&'a self, key: &'a str, rate: Rate, now_ms: f64) -> LocalBoxFuture<'a, Result<(), StateError>> {
        let result = self
            .buckets
            .borrow_mut()
            .check(key, rate, now_ms)
            .map_err(|retry_after_s| StateError::Limited { retry_after_s });
        Box::pin(std::future::ready(result))
    }

    fn first_sighting<'a>(
        &'a self,
        enc: &'a [u8; ENC_LEN],
        client_ms: f64,
        _window_ms: f64,
        now_ms: f64,
    ) -> LocalBoxFuture<'a, Result<(), StateError>> {
        let result = self
            .replay
            .borrow_mut()
            .check(enc, client_ms, now_ms)
            .map_err(|e| match e {
                SealError::WindowFull => StateError::Full,
                _ => StateError::Replay,
            });
        Box::pin(std::future::ready(result))
    }
}
