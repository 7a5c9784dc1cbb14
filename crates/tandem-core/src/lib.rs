//! The pure heart of Tandem: logic that needs neither a GPU, a browser nor a
//! network, and is therefore tested natively and reused by every front end.
//!
//! * [`shield`] finds personal data and secrets in text, replaces them with
//!   typed placeholders before the text leaves the device, and restores the
//!   originals in the (streamed) reply.
//! * [`router`] decides local model or cloud per query, with the reason;
//!   [`cascade`] hands a started local answer to the cloud when the local
//!   model's confidence over its first tokens is too low.
//! * [`eval`] scores recognizers against labeled data sets and routers
//!   against known model outcomes.
//!
//! Sampling, chat templates and speculative decoding live in
//! `tandem-decoding`, which this crate depends on.
//! * [`text`] converts offsets between UTF-8, UTF-16 and code points, so that
//!   Rust and JavaScript callers both get correct positions.
//!
//! This crate does no I/O and reads no clock: callers pass strings in and get
//! values out. It never depends on burn or wasm-bindgen.

pub mod cascade;
pub mod eval;
pub mod router;
pub mod shield;
pub mod text;

pub use tandem_protocol::{Action, EntityKind};
