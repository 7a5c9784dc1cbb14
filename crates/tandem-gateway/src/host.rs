//! What the runtime provides: HTTP to upstreams, timers, a clock, logs and ids.

use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;

/// A response body arriving in chunks; an `Err` is a broken connection.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>>>>;

/// A request to an upstream.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    /// The full URL.
    pub url: String,
    /// Header names (lowercase) and values, including the API key.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// An upstream's response, once its headers have arrived.
pub struct UpstreamResponse {
    /// HTTP status.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body, as it arrives.
    pub body: ByteStream,
}

impl UpstreamResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The runtime under the gateway. Futures need not be `Send`: on Workers
/// everything runs on one thread.
#[allow(async_fn_in_trait)]
pub trait Host {
    /// Sends `request`, resolving when the response headers arrive; `Err`
    /// is a connection failure (its text must not contain the request's headers).
    async fn fetch(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String>;

    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;

    /// Milliseconds on a monotonic-enough clock.
    fn now_ms(&self) -> f64;

    /// Writes one structured log line (a JSON object).
    fn log(&self, line: &str);

    /// A fresh identifier for a request.
    fn request_id(&self) -> String;
}
