//! Calling upstreams: one request tried on an ordered list of OpenAI-compatible
//! upstreams, with timeouts, retries and backoff on each, fallback to the
//! next, and every API key scrubbed from what comes back.

use crate::config::UpstreamSpec;
use crate::facts::{LogFacts, ms1};
use crate::host::{ByteStream, Host, UpstreamRequest, UpstreamResponse};
use crate::relay::{RelayEnd, relay};
use crate::response::{Body, Response};
use crate::secret::Secret;
use futures_util::StreamExt;
use futures_util::future::{Either, LocalBoxFuture, select};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use tandem_protocol::openai::{ErrorBody, Usage};

/// Largest upstream body read whole (non-streamed replies and errors).
const MAX_UPSTREAM_BODY: usize = 32 << 20;
/// Longest upstream error message passed on to a client, in characters.
const MAX_ERROR_MESSAGE: usize = 500;
/// Longest `Retry-After` honoured before moving on to the next upstream.
const MAX_RETRY_AFTER_MS: u64 = 10_000;

/// How a streamed reply is relayed to the client.
#[derive(Default)]
pub(crate) struct Streamed {
    /// Drop the upstream's usage-only last event (asked for by the gateway, not the client).
    pub(crate) hide_usage: bool,
    /// Called once when the stream ends, with the usage the upstream reported
    /// (if any); the stream closes once its future is done.
    pub(crate) on_end: Option<OnStreamEnd>,
}

/// Work to do when a relayed stream ends, given the usage it reported.
pub(crate) type OnStreamEnd = Box<dyn FnOnce(Option<Usage>) -> LocalBoxFuture<'static, ()>>;

/// The upstreams of a configuration, with their keys and the host that reaches them.
pub(crate) struct Upstreams<H: Host> {
    host: Rc<H>,
    specs: Vec<UpstreamSpec>,
    keys: Vec<Option<Secret>>,
}

/// Why an attempt on an upstream failed before anything reached the client.
#[derive(Debug, Clone)]
enum Failure {
    Connect(String),
    Timeout,
    RateLimited(Option<u64>),
    Status(u16),
    Credentials,
    Malformed,
}

/// What to do after one attempt.
enum Attempt {
    /// Send this to the client.
    Done(Response),
    /// Try again on the same upstream (after a backoff).
    Retry(Failure),
    /// Move on to the next upstream.
    Next(Failure),
}

impl<H: Host + 'static> Upstreams<H> {
    /// The upstreams `specs` (with `keys`, index for index), reached through `host`.
    pub(crate) fn new(host: Rc<H>, specs: Vec<UpstreamSpec>, keys: Vec<Option<Secret>>) -> Self {
        Self { host, specs, keys }
    }

    /// Sends a request to `routes` in order, with retries and backoff on each
    /// and fallback to the next; `payload` gives the body for an upstream's model name.
    pub(crate) async fn call(
        &self,
        routes: Vec<(usize, String)>,
        path: &str,
        mut stream: Option<Streamed>,
        mut payload: impl FnMut(&str) -> Option<Vec<u8>>,
        facts: &mut LogFacts,
    ) -> Response {
        let streamed = stream.is_some();
        let mut last = Failure::Connect("no attempt".into());
        for (index, upstream_model) in routes {
            let spec = &self.specs[index];
            let Some(payload) = payload(&upstream_model) else {
                return Response::error(500, "server_error", "internal", "could not encode the request");
            };
            for attempt in 0..=spec.retries {
                if attempt > 0 {
                    let backoff = spec.backoff_ms.saturating_mul(1 << (attempt - 1).min(16));
                    // Longer Retry-Afters ended the attempts on this upstream below.
                    let delay = match last {
                        Failure::RateLimited(Some(ms)) => ms,
                        _ => backoff,
                    };
                    self.host.sleep(delay).await;
                }
                facts.attempts += 1;
                let t0 = self.host.now_ms();
                let outcome = self
                    .attempt(
                        index,
                        path,
                        payload.clone(),
                        &mut stream,
                        &facts.request_id,
                        facts.started,
                    )
                    .await;
                match outcome {
                    Attempt::Done(resp) => {
                        facts.upstream = Some(spec.name.clone());
                        facts.upstream_ms = Some(self.host.now_ms() - t0);
                        if streamed && resp.status == 200 {
                            facts.outcome = "stream_started";
                        }
                        return resp;
                    }
                    Attempt::Retry(f) => {
                        facts.failures.push(format!("{}: {}", spec.name, describe(&f)));
                        let give_up = matches!(f, Failure::RateLimited(Some(ms)) if ms > MAX_RETRY_AFTER_MS);
                        last = f;
                        if give_up {
                            break;
                        }
                    }
                    Attempt::Next(f) => {
                        facts.failures.push(format!("{}: {}", spec.name, describe(&f)));
                        last = f;
                        break;
                    }
                }
            }
        }
        facts.outcome = "upstreams_failed";
        failure_response(&last)
    }

    async fn timeout<T>(&self, ms: u64, f: impl Future<Output = T>) -> Option<T> {
        let f = pin!(f);
        let timer = pin!(self.host.sleep(ms));
        match select(f, timer).await {
            Either::Left((v, _)) => Some(v),
            Either::Right(_) => None,
        }
    }

    async fn attempt(
        &self,
        index: usize,
        path: &str,
        payload: Vec<u8>,
        stream: &mut Option<Streamed>,
        id: &str,
        started: f64,
    ) -> Attempt {
        let spec = &self.specs[index];
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                if stream.is_some() {
                    "text/event-stream"
                } else {
                    "application/json"
                }
                .to_owned(),
            ),
        ];
        if let Some(key) = &self.keys[index] {
            headers.push(("authorization".to_owned(), format!("Bearer {}", key.expose())));
        }
        let request = UpstreamRequest {
            url: format!("{}/{path}", spec.base_url.trim_end_matches('/')),
            headers,
            body: payload,
        };
        let deadline = self.host.now_ms() + spec.timeout_ms as f64;
        let resp = match self.timeout(spec.timeout_ms, self.host.fetch(request)).await {
            None => return Attempt::Retry(Failure::Timeout),
            Some(Err(e)) => return Attempt::Retry(Failure::Connect(self.scrub(&e))),
            Some(Ok(resp)) => resp,
        };
        let remaining = || (deadline - self.host.now_ms()).max(1.0) as u64;
        match resp.status {
            429 => {
                let after = resp
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| s.saturating_mul(1000));
                Attempt::Retry(Failure::RateLimited(after))
            }
            500..=599 => Attempt::Retry(Failure::Status(resp.status)),
            401 | 403 => Attempt::Next(Failure::Credentials),
            // Hosts fetch with redirects off: following one would resend the
            // prompt (and the key) wherever the upstream points.
            300..=399 => Attempt::Next(Failure::Status(resp.status)),
            200..=299 if stream.is_some() => {
                let UpstreamResponse { mut body, .. } = resp;
                match self.timeout(remaining(), body.next()).await {
                    None => Attempt::Retry(Failure::Timeout),
                    Some(Some(Err(e))) => Attempt::Retry(Failure::Connect(self.scrub(&e))),
                    Some(None) => Attempt::Retry(Failure::Malformed),
                    Some(Some(Ok(first))) => {
                        let how = stream.take().unwrap_or_default();
                        Attempt::Done(self.streaming(first, body, spec.idle_timeout_ms, how, id, started))
                    }
                }
            }
            status => {
                let body = match self.read_all(resp.body, remaining()).await {
                    Ok(body) => body,
                    Err(f) => return Attempt::Retry(f),
                };
                if (200..300).contains(&status) {
                    if serde_json::from_slice::<Value>(&body).is_err() {
                        return Attempt::Retry(Failure::Malformed);
                    }
                    Attempt::Done(Response {
                        status: 200,
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: Body::Full(body),
                    })
                } else {
                    // A client error the upstream found (bad parameter, context too long):
                    // the client must see it, but only as an OpenAI error of bounded size
                    // with any key removed, not whatever else the upstream's body holds.
                    let error = self.client_error(status, &body);
                    Attempt::Done(Response {
                        status,
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: Body::Full(serde_json::to_vec(&error).unwrap_or_default()),
                    })
                }
            }
        }
    }

    fn streaming(
        &self,
        first: Vec<u8>,
        body: ByteStream,
        idle_ms: u64,
        how: Streamed,
        id: &str,
        started: f64,
    ) -> Response {
        let host = Rc::clone(&self.host);
        let id = id.to_owned();
        let mut hook = how.on_end;
        let on_end = move |end: RelayEnd, usage: Option<Usage>| {
            let line = json!({
                "request_id": id,
                "event": "stream_end",
                "outcome": end.as_str(),
                "duration_ms": ms1(host.now_ms() - started),
                "usage": usage,
            });
            host.log(&line.to_string());
            hook.take().map(|f| f(usage))
        };
        Response {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/event-stream; charset=utf-8".into()),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: Body::Stream(relay(
                Rc::clone(&self.host),
                first,
                body,
                idle_ms,
                how.hide_usage,
                on_end,
            )),
        }
    }

    async fn read_all(&self, mut body: ByteStream, ms: u64) -> Result<Vec<u8>, Failure> {
        let read = async {
            let mut out = Vec::new();
            while let Some(chunk) = body.next().await {
                out.extend_from_slice(&chunk.map_err(|e| Failure::Connect(self.scrub(&e)))?);
                if out.len() > MAX_UPSTREAM_BODY {
                    return Err(Failure::Malformed);
                }
            }
            Ok(out)
        };
        self.timeout(ms, read).await.unwrap_or(Err(Failure::Timeout))
    }

    /// What a client is told of an upstream's 4xx: the `message`, `type` and `code` of an
    /// OpenAI-shaped error (message cut at [`MAX_ERROR_MESSAGE`] characters, keys scrubbed);
    /// for any other body, only the status. Upstream bodies can carry stack traces, internal
    /// host names or an echoed key.
    fn client_error(&self, status: u16, body: &[u8]) -> ErrorBody {
        let parsed = serde_json::from_slice::<Value>(body).ok();
        let error = parsed.as_ref().map(|v| &v["error"]);
        let field = |name: &str| {
            error
                .and_then(|e| e[name].as_str())
                .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic()))
                .map(str::to_owned)
        };
        // Scrubbed before the cut, so that no prefix of a key survives it.
        let message = error
            .and_then(|e| e["message"].as_str())
            .map(|m| self.scrub(m).chars().take(MAX_ERROR_MESSAGE).collect::<String>());
        match message {
            Some(message) => ErrorBody::new(
                &field("type").unwrap_or_else(|| "invalid_request_error".into()),
                &field("code").unwrap_or_else(|| "upstream_rejected".into()),
                message,
            ),
            None => ErrorBody::new(
                "invalid_request_error",
                "upstream_rejected",
                format!("the upstream refused the request (HTTP {status})"),
            ),
        }
    }

    /// `text` with every upstream API key replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for key in self.keys.iter().flatten() {
            if !key.expose().is_empty() {
                out = out.replace(key.expose(), "***");
            }
        }
        out
    }
}

fn describe(f: &Failure) -> String {
    match f {
        Failure::Connect(e) => format!("connection failed ({e})"),
        Failure::Timeout => "timed out".into(),
        Failure::RateLimited(_) => "429".into(),
        Failure::Status(s) => s.to_string(),
        Failure::Credentials => "credentials rejected".into(),
        Failure::Malformed => "malformed response".into(),
    }
}

fn failure_response(last: &Failure) -> Response {
    match last {
        Failure::RateLimited(after) => {
            let mut resp = Response::error(
                429,
                "rate_limit_error",
                "upstream_rate_limited",
                "every upstream is rate limited",
            );
            if let Some(ms) = after {
                resp.headers.push(("retry-after".into(), ms.div_ceil(1000).to_string()));
            }
            resp
        }
        Failure::Timeout => Response::error(504, "upstream_error", "upstream_timeout", "every upstream timed out"),
        Failure::Credentials => Response::error(
            502,
            "upstream_error",
            "upstream_credentials",
            "the upstream refused the gateway's credentials",
        ),
        other => Response::error(
            502,
            "upstream_error",
            "upstream_unavailable",
            format!("no upstream could answer (last: {})", describe(other)),
        ),
    }
}
