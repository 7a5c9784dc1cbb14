//! The edge gateway's logic, independent of where it runs.
//!
//! Web apps point an OpenAI client at the gateway instead of a cloud API:
//! the gateway checks the client's token, rate limit and request size, maps
//! the model name, and forwards the request to an ordered list of
//! OpenAI-compatible upstreams holding their API keys (which never reach the
//! browser, the logs or an error message). Connect errors, timeouts, 429 and
//! 5xx before the first byte are retried with backoff and then fall back to
//! the next upstream; once a stream has started, a failure ends it with an
//! explicit error event instead of a silent truncation.
//!
//! `POST /v1/verify` verifies speculative-decoding drafts ([`verify`]) against
//! a target engine in the same process or an OpenAI-compatible completions
//! upstream with prompt log-probabilities.
//!
//! Everything here is plain Rust. The runtime supplies a [`Host`]: HTTP
//! fetch, timers, clock, logging and request ids. The workers-rs worker
//! (`worker/`) and `tandem serve` (native) are thin shims around
//! [`Gateway::handle`].

mod auth;
mod config;
mod cors;
mod facts;
mod gateway;
mod host;
pub mod rate;
mod relay;
mod response;
mod sealed;
mod secret;
pub mod shared;
pub mod sse;
mod upstream;
pub mod verify;

pub use config::{
    ClientSpec, ConfigError, GatewayConfig, GatewaySpec, Limits, Policy, SealKeySpec, SealSpec, TokenBudget,
    UpstreamSpec,
};
pub use gateway::Gateway;
pub use host::{ByteStream, Host, UpstreamRequest, UpstreamResponse};
pub use rate::{Bucket, Buckets, Draw, Meter, Rate};
pub use response::{Body, PEER_HEADER, Request, Response};
pub use secret::Secret;
pub use shared::{ENC_LEN, LocalState, SharedState, StateError};
pub use verify::{ScoreError, Scored, Sessions, TargetScorer};
