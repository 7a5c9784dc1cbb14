//! State every instance of a gateway must share: the sealed channel's replay
//! window, the rate limits, the token budgets and the sessions of
//! completions targets. A replay sent to another instance, a client spreading
//! its requests (or its spending) over instances, and a verification round
//! landing on another instance must all meet the same state.
//!
//! One process keeps it in memory ([`LocalState`], `tandem serve`). On
//! Workers, requests land on many isolates, so the worker keeps it in
//! Durable Objects behind the same trait (see `worker/`).

use crate::rate::{Buckets, Draw, Meter};
use crate::verify::Sessions;
use futures_util::future::LocalBoxFuture;
use std::cell::RefCell;
use tandem_seal::{ReplayWindow, SealError};

pub use tandem_seal::ENC_LEN;

/// Why shared state refused a request, or could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The bucket is empty: retry after this many seconds.
    #[error("limit reached; retry in {retry_after_s} s")]
    Limited {
        /// Seconds until the bucket holds one unit again.
        retry_after_s: u64,
    },
    /// The sealed request was seen before.
    #[error("replayed request")]
    Replay,
    /// The replay window is full; new sealed requests wait until old ones expire.
    #[error("too many sealed requests in the replay window; retry later")]
    Full,
    /// The session holds fewer tokens than the round builds on.
    #[error("the session holds {held} tokens, fewer than the round's base")]
    SessionLost {
        /// Tokens still held for the session.
        held: usize,
    },
    /// The state could not be reached; the request is refused (fail closed).
    #[error("shared state unavailable: {0}")]
    Unavailable(String),
}

/// The shared state's operations. Futures need not be `Send` (Workers run
/// on one thread).
pub trait SharedState {
    /// Applies `draw` to bucket `key` of `meter`: a request against a rate
    /// limit, a reservation or a settlement against a token budget.
    fn draw<'a>(
        &'a self,
        key: &'a str,
        meter: Meter,
        draw: Draw,
        now_ms: f64,
    ) -> LocalBoxFuture<'a, Result<(), StateError>>;

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

    /// The first `base` tokens of a completions target's `session`, or
    /// [`StateError::SessionLost`] when fewer are held (never seen, evicted).
    fn session_prefix<'a>(&'a self, session: &'a str, base: usize) -> LocalBoxFuture<'a, Result<Vec<u32>, StateError>>;

    /// Records the tokens the completions target now holds for `session`.
    fn session_store<'a>(&'a self, session: &'a str, tokens: Vec<u32>) -> LocalBoxFuture<'a, Result<(), StateError>>;
}

/// Shared state in this process's memory: exact for one process.
#[derive(Debug)]
pub struct LocalState {
    buckets: RefCell<Buckets>,
    replay: RefCell<ReplayWindow>,
    sessions: RefCell<Sessions>,
}

impl LocalState {
    /// State whose replay window spans `window_ms` and remembers at most `capacity` requests.
    pub fn new(window_ms: f64, capacity: usize) -> Self {
        Self {
            buckets: RefCell::default(),
            replay: RefCell::new(ReplayWindow::with_capacity(window_ms, capacity)),
            sessions: RefCell::default(),
        }
    }
}

impl SharedState for LocalState {
    fn draw<'a>(
        &'a self,
        key: &'a str,
        meter: Meter,
        draw: Draw,
        now_ms: f64,
    ) -> LocalBoxFuture<'a, Result<(), StateError>> {
        let result = self
            .buckets
            .borrow_mut()
            .draw(key, meter, draw, now_ms)
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

    fn session_prefix<'a>(&'a self, session: &'a str, base: usize) -> LocalBoxFuture<'a, Result<Vec<u32>, StateError>> {
        let result = self
            .sessions
            .borrow_mut()
            .prefix(session, base)
            .map_err(|held| StateError::SessionLost { held });
        Box::pin(std::future::ready(result))
    }

    fn session_store<'a>(&'a self, session: &'a str, tokens: Vec<u32>) -> LocalBoxFuture<'a, Result<(), StateError>> {
        self.sessions.borrow_mut().store(session, tokens);
        Box::pin(std::future::ready(Ok(())))
    }
}
