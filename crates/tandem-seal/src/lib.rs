//! The sealed channel between a Tandem client (the browser) and the edge
//! worker, on top of TLS: a proxy, a CDN log or a corporate TLS inspector
//! in between sees only ciphertext.
//!
//! The design follows Oblivious HTTP (RFC 9458) and its chunked extension:
//!
//! * **Request**: sealed with HPKE (RFC 9180) in base mode, suite
//!   DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM, to a key the
//!   worker publishes ([`KeyConfig`]). Wire form: a 7-byte header (key id,
//!   KEM, KDF and AEAD ids), the 32-byte encapsulated key, the ciphertext.
//!   The plaintext carries the client's clock, so that the worker can refuse
//!   requests outside a time window and remember, within it, every
//!   encapsulated key it has seen: a replayed request is refused.
//! * **Response**: a key and nonce derived from an HPKE export and a fresh
//!   random response nonce (as RFC 9458 §4.4), then a sequence of
//!   length-prefixed AES-GCM chunks. Chunk `i` is sealed with the nonce XOR
//!   `i` (so reordering, dropping or replaying a chunk fails to open) and
//!   the last one with the associated data `final` (so a truncated stream is
//!   detected: no final chunk, no valid end). Each chunk is padded to a size
//!   bucket (RFC 8188's delimiter and zeros) so that its size does not give
//!   away the length of the token it carries.
//!
//! Keys rotate by configuration: the worker serves several keys, the first
//! one is offered to clients, older ones are accepted until their retirement
//! time.

mod keys;
mod replay;
mod request;
mod response;

pub use keys::{KeyConfig, KeyConfigs, ServerKey, ServerKeys};
pub use replay::{DEFAULT_CAPACITY, ReplayWindow};
pub use request::{ENC_LEN, OpenedRequest, SealedRequest, open_request, seal_request};
pub use response::{MAX_RECORD_DATA, ResponseOpener, ResponseSealer, padded_len};

/// KEM id of DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// KDF id of HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// AEAD id of AES-128-GCM.
pub const AEAD_ID: u16 = 0x0001;
/// Content type of a sealed request body.
pub const REQUEST_CONTENT_TYPE: &str = "application/tandem-sealed-request";
/// Content type of a sealed response body.
pub const RESPONSE_CONTENT_TYPE: &str = "application/tandem-sealed-response";

/// The HPKE suite, as `hpke` crate types (for tests against RFC 9180's vectors).
pub mod suite {
    /// DHKEM(X25519, HKDF-SHA256).
    pub type Kem = hpke::kem::X25519HkdfSha256;
    /// HKDF-SHA256.
    pub type Kdf = hpke::kdf::HkdfSha256;
    /// AES-128-GCM.
    pub type Aead = hpke::aead::AesGcm128;
}
use suite::{Aead, Kdf, Kem};

/// Why sealing or opening failed. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The bytes are not a sealed message of this protocol.
    #[error("malformed sealed message: {0}")]
    Malformed(&'static str),
    /// No key with this id is accepted (unknown, or retired).
    #[error("unknown or retired key id {0}")]
    UnknownKey(u8),
    /// Authentication failed: tampered, reordered, replayed or for another key.
    #[error("the sealed message does not authenticate")]
    Decrypt,
    /// The request was seen before, or its time is outside the window.
    #[error("replayed or stale request")]
    Replay,
    /// The replay window holds as many requests as it may: new ones wait until old ones expire.
    #[error("too many sealed requests in the replay window; retry later")]
    WindowFull,
    /// The stream ended without its final chunk.
    #[error("the sealed response was truncated")]
    Truncated,
    /// A key in the configuration is unusable.
    #[error("bad key: {0}")]
    BadKey(String),
}
