//! The gateway's request and response types, independent of any HTTP stack.

use futures_util::Stream;
use serde::Serialize;
use std::pin::Pin;
use tandem_protocol::openai::ErrorBody;

/// An incoming request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, `OPTIONS`, ...
    pub method: String,
    /// The URL path (no query).
    pub path: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// The header through which a shim tells the gateway who sent the request
/// (the client's IP address). [`Request::with_peer`] sets it; a client's own
/// copy is always removed first, so it cannot be forged.
pub const PEER_HEADER: &str = "x-tandem-peer";

impl Request {
    /// The request, with the sender's address (as the runtime saw it) in
    /// [`PEER_HEADER`] and any copy the client sent removed.
    pub fn with_peer(mut self, peer: Option<String>) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(PEER_HEADER));
        if let Some(peer) = peer {
            self.headers.push((PEER_HEADER.to_owned(), peer));
        }
        self
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A response body: all at once, or streamed (server-sent events).
pub enum Body {
    /// A complete body.
    Full(Vec<u8>),
    /// Chunks sent as they are produced; the stream never fails (failures
    /// become error events inside it).
    Stream(Pin<Box<dyn Stream<Item = Vec<u8>>>>),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Full(b) => write!(f, "Full({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// An outgoing response.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Full(body),
        }
    }

    /// An error in OpenAI's shape.
    pub fn error(status: u16, kind: &str, code: &str, message: impl Into<String>) -> Self {
        Self::json(status, &ErrorBody::new(kind, code, message))
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}
