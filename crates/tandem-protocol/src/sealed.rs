//! What travels inside the sealed channel (see the `tandem-seal` crate):
//! the plaintext of a sealed request, and the first chunk of its response.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The request a client seals: an ordinary gateway request plus its clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InnerRequest {
    /// The client's time (ms since the epoch): the worker refuses requests
    /// outside its replay window.
    pub ts: f64,
    /// `POST` or `GET`.
    pub method: String,
    /// The gateway route, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Request headers (lowercase names), e.g. `authorization`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body (JSON text for the OpenAI routes).
    #[serde(default)]
    pub body: String,
}

/// The first chunk of a sealed response: status and headers of the inner
/// response; its body follows in the next chunks, then an empty final chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InnerResponseHead {
    /// HTTP status of the inner response.
    pub status: u16,
    /// Its headers (lowercase names).
    pub headers: BTreeMap<String, String>,
}
