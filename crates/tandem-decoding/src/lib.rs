//! Decoding: how Tandem turns a model's logits into text, written once for
//! the native engine, the browser and the edge verifier.
//!
//! * [`sampling`] picks tokens from logits (greedy, temperature, top-k,
//!   top-p, repetition penalty, seeded).
//! * [`math`] has the `exp` and softmax that vectorize, for logits and
//!   attention alike.
//! * [`chat`] renders a model's own chat template as `transformers` does.
//! * [`text`] streams the text of a growing token list.
//! * [`speculative`] holds speculative decoding's acceptance rules (greedy
//!   and exact rejection sampling), the verification round on the wire, the
//!   client's pipeline and the adaptive draft length.
//!
//! Like `tandem-core` it does no I/O and reads no clock, and it never depends
//! on burn or wasm-bindgen. It does not depend on the shield either, so the
//! edge worker's verifier links it without the shield's tables.

pub mod chat;
pub mod math;
pub mod sampling;
pub mod speculative;
pub mod text;
