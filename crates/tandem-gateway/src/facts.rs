//! What one request did, gathered as it is answered, for its log line.

/// Facts gathered for the request's log line.
#[derive(Debug, Default)]
pub(crate) struct LogFacts {
    /// The request's id (also in `x-request-id`).
    pub(crate) request_id: String,
    /// When the request arrived (host clock, ms).
    pub(crate) started: f64,
    pub(crate) client: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) upstream: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) upstream_ms: Option<f64>,
    pub(crate) outcome: &'static str,
    pub(crate) failures: Vec<String>,
    pub(crate) sealed: bool,
    pub(crate) inner_status: Option<u16>,
    /// Tokens charged to the client's budget (non-streamed replies; a
    /// stream's usage is in its `stream_end` line).
    pub(crate) tokens: Option<u64>,
}

/// Milliseconds rounded to 0.1 for the log.
pub(crate) fn ms1(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}
