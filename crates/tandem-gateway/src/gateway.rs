//! Request handling: routes, auth, limits, upstream attempts with retries
//! and fallback, and the log line of every request.

use crate::auth::{AuthError, authenticate};
use crate::config::GatewayConfig;
use crate::host::{ByteStream, Host, UpstreamRequest, UpstreamResponse};
use crate::rate::RateLimiter;
use crate::relay::{RelayEnd, relay};
use crate::response::{Body, Request, Response};
use crate::verify::{
    MAX_SESSION_TOKENS, Scored, Sessions, TargetEngine, TargetError, completions_body, parse_completions,
};
use crate::{cors, sealed};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use tandem_core::speculative::round;
use tandem_protocol::openai::{ChatCompletionRequest, ModelEntry, ModelList};
use tandem_protocol::verify::{TargetStats, VerifyRequest};
use tandem_seal::ReplayWindow;

/// Largest upstream body read whole (non-streamed replies and errors).
const MAX_UPSTREAM_BODY: usize = 32 << 20;
/// Longest `Retry-After` honoured before moving on to the next upstream.
const MAX_RETRY_AFTER_MS: u64 = 10_000;
/// What sealing adds to a request body (header, encapsulated key, tag, inner JSON framing).
const SEAL_OVERHEAD: usize = 1024;

/// Milliseconds rounded to 0.1 for the log.
fn ms1(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// The gateway: configuration, the host it runs on, rate-limit state.
pub struct Gateway<H: Host> {
    host: Rc<H>,
    config: GatewayConfig,
    limiter: RefCell<RateLimiter>,
    replay: RefCell<ReplayWindow>,
    target: Option<Rc<dyn TargetEngine>>,
    sessions: RefCell<Sessions>,
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

/// Facts gathered for the request's log line.
#[derive(Debug, Default)]
struct LogFacts {
    client: Option<String>,
    model: Option<String>,
    upstream: Option<String>,
    attempts: u32,
    upstream_ms: Option<f64>,
    outcome: &'static str,
    failures: Vec<String>,
    sealed: bool,
    inner_status: Option<u16>,
}

impl<H: Host + 'static> Gateway<H> {
    /// A gateway serving `config` on `host`.
    pub fn new(config: GatewayConfig, host: H) -> Self {
        Self {
            limiter: RefCell::new(RateLimiter::new(config.limits())),
            replay: RefCell::new(ReplayWindow::new(
                config.spec.seal.as_ref().map_or(300_000, |s| s.window_ms) as f64,
            )),
            config,
            host: Rc::new(host),
            target: None,
            sessions: RefCell::new(Sessions::default()),
        }
    }

    /// Verifies drafts for the models `target` serves in this process
    /// instead of asking a completions upstream (`tandem serve --target`).
    pub fn with_target(mut self, target: Rc<dyn TargetEngine>) -> Self {
        self.target = Some(target);
        self
    }

    /// The host.
    pub fn host(&self) -> &H {
        &self.host
    }

    /// Largest request body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.config.limits().max_body_bytes
    }

    /// Largest HTTP body worth reading (a sealed request carries a little more
    /// than its inner body); shims refuse larger ones before reading them.
    pub fn max_request_bytes(&self) -> usize {
        self.max_body_bytes() + SEAL_OVERHEAD
    }

    /// A `413` response for a body over the limit (for shims that check `Content-Length` first).
    pub fn too_large(&self) -> Response {
        Response::error(
            413,
            "invalid_request_error",
            "request_too_large",
            format!("the request body exceeds {} bytes", self.max_body_bytes()),
        )
    }

    /// Answers one request. Never panics on any input or upstream behaviour.
    pub async fn handle(&self, req: Request) -> Response {
        let id = self.host.request_id();
        let started = self.host.now_ms();
        let mut facts = LogFacts {
            outcome: "ok",
            ..LogFacts::default()
        };
        let cors = cors::allow_headers(req.header("origin"), &self.config.spec.cors_origins);
        let mut resp = if req.method == "OPTIONS" {
            match &cors {
                Some(_) => Response {
                    status: 204,
                    headers: cors::preflight_headers(),
                    body: Body::Full(Vec::new()),
                },
                None => Response::error(403, "invalid_request_error", "origin_not_allowed", "origin not allowed"),
            }
        } else {
            self.route(&req, &id, started, &mut facts).await
        };
        resp.headers.push(("x-request-id".into(), id.clone()));
        resp.headers.extend(cors.unwrap_or_default());
        let line = json!({
            "request_id": id,
            "method": req.method,
            "path": req.path,
            "status": resp.status,
            "client": facts.client,
            "model": facts.model,
            "upstream": facts.upstream,
            "attempts": facts.attempts,
            "upstream_ms": facts.upstream_ms.map(ms1),
            "duration_ms": ms1(self.host.now_ms() - started),
            "outcome": if resp.status >= 400 && facts.outcome == "ok" { "error" } else { facts.outcome },
            "failures": facts.failures,
            "sealed": facts.sealed,
            "inner_status": facts.inner_status,
        });
        self.host.log(&line.to_string());
        resp
    }

    async fn route(&self, req: &Request, id: &str, started: f64, facts: &mut LogFacts) -> Response {
        match (req.method.as_str(), req.path.as_str(), &self.config.seal_keys) {
            ("GET", "/v1/seal/keys", Some(keys)) => sealed::keys_response(keys, self.host.now_ms()),
            ("POST", "/v1/sealed", Some(keys)) => {
                if req.body.len() > self.max_request_bytes() {
                    return self.too_large();
                }
                let opened = sealed::unseal(keys, &mut self.replay.borrow_mut(), &req.body, self.host.now_ms());
                match opened {
                    Err(resp) => resp,
                    Ok((inner, sealer)) => {
                        facts.sealed = true;
                        let resp = self.route_plain(&inner, id, started, facts).await;
                        facts.inner_status = Some(resp.status);
                        sealed::seal_response(sealer, resp)
                    }
                }
            }
            (_, "/v1/seal/keys" | "/v1/sealed", None) => Response::error(
                404,
                "invalid_request_error",
                "seal_not_configured",
                "this gateway has no sealed channel",
            ),
            _ => self.route_plain(req, id, started, facts).await,
        }
    }

    /// The routes a sealed request may reach.
    async fn route_plain(&self, req: &Request, id: &str, started: f64, facts: &mut LogFacts) -> Response {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/health") => Response::json(200, &json!({"status": "ok"})),
            ("GET", "/v1/models") => match self.admit(req, facts) {
                Err(resp) => resp,
                Ok(()) => Response::json(200, &self.models()),
            },
            ("POST", "/v1/chat/completions") => match self.admit(req, facts) {
                Err(resp) => resp,
                Ok(()) => self.complete(&req.body, id, started, facts).await,
            },
            ("POST", "/v1/verify") => match self.admit(req, facts) {
                Err(resp) => resp,
                Ok(()) => self.verify(&req.body, id, started, facts).await,
            },
            ("POST", "/v1/completions") if let Some(target) = &self.target => match self.admit(req, facts) {
                Err(resp) => resp,
                Ok(()) => target.completions(&req.body).await,
            },
            (_, "/health" | "/v1/models" | "/v1/chat/completions" | "/v1/verify" | "/v1/seal/keys" | "/v1/sealed") => {
                Response::error(405, "invalid_request_error", "method_not_allowed", "method not allowed")
            }
            _ => Response::error(
                404,
                "invalid_request_error",
                "not_found",
                format!("no route {}", req.path),
            ),
        }
    }

    /// Authentication, rate limit and size limit.
    fn admit(&self, req: &Request, facts: &mut LogFacts) -> Result<(), Response> {
        let client = if self.config.spec.allow_anonymous && self.config.client_tokens.is_empty() {
            "anonymous".to_owned()
        } else {
            match authenticate(req.header("authorization"), &self.config.client_tokens) {
                Ok(name) => name.to_owned(),
                Err(AuthError::Missing) if self.config.spec.allow_anonymous => "anonymous".to_owned(),
                Err(e) => {
                    let message = match e {
                        AuthError::Missing => "missing bearer token",
                        AuthError::Invalid => "invalid bearer token",
                    };
                    return Err(Response::error(401, "authentication_error", "invalid_api_key", message));
                }
            }
        };
        facts.client = Some(client.clone());
        if let Err(retry_after) = self.limiter.borrow_mut().check(&client, self.host.now_ms()) {
            let mut resp = Response::error(
                429,
                "rate_limit_error",
                "rate_limited",
                format!("rate limit exceeded; retry in {retry_after} s"),
            );
            resp.headers.push(("retry-after".into(), retry_after.to_string()));
            return Err(resp);
        }
        if req.body.len() > self.max_body_bytes() {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn models(&self) -> ModelList {
        let mut names: Vec<String> = self.target.as_ref().map(|t| t.models()).unwrap_or_default();
        for name in self.config.public_models() {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        ModelList {
            object: "list".into(),
            data: names
                .into_iter()
                .map(|id| ModelEntry {
                    id,
                    object: "model".into(),
                    created: 0,
                    owned_by: "tandem".into(),
                })
                .collect(),
        }
    }

    async fn complete(&self, body: &[u8], id: &str, started: f64, facts: &mut LogFacts) -> Response {
        let mut request: ChatCompletionRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return Response::error(
                    400,
                    "invalid_request_error",
                    "invalid_body",
                    format!("the body is not a chat completion request: {e}"),
                );
            }
        };
        if request.messages.is_empty() {
            return Response::error(400, "invalid_request_error", "invalid_body", "messages is empty");
        }
        facts.model = Some(request.model.clone());
        let routes = self.config.route(&request.model);
        if routes.is_empty() {
            return Response::error(
                404,
                "invalid_request_error",
                "model_not_found",
                format!("the model `{}` does not exist", request.model),
            );
        }
        let stream = request.is_stream();
        let payload = |model: &str| {
            request.model = model.to_owned();
            serde_json::to_vec(&request).ok()
        };
        self.call_upstreams(routes, "chat/completions", stream, payload, id, started, facts)
            .await
    }

    /// Sends a request to `routes` in order, with retries and backoff on each
    /// and fallback to the next; `payload` gives the body for an upstream's model name.
    #[allow(clippy::too_many_arguments)]
    async fn call_upstreams(
        &self,
        routes: Vec<(usize, String)>,
        path: &str,
        stream: bool,
        mut payload: impl FnMut(&str) -> Option<Vec<u8>>,
        id: &str,
        started: f64,
        facts: &mut LogFacts,
    ) -> Response {
        let mut last = Failure::Connect("no attempt".into());
        for (index, upstream_model) in routes {
            let spec = &self.config.spec.upstreams[index];
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
                let outcome = self.attempt(index, path, payload.clone(), stream, id, started).await;
                match outcome {
                    Attempt::Done(resp) => {
                        facts.upstream = Some(spec.name.clone());
                        facts.upstream_ms = Some(self.host.now_ms() - t0);
                        if stream && resp.status == 200 {
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

    /// A verification round: validate, score on the target, judge, answer.
    async fn verify(&self, body: &[u8], id: &str, started: f64, facts: &mut LogFacts) -> Response {
        let invalid = |m: String| Response::error(400, "invalid_request_error", "invalid_verify_request", m);
        let req: VerifyRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return invalid(format!("the body is not a verification round: {e}")),
        };
        if let Err(e) = round::validate(&req) {
            return invalid(e.to_string());
        }
        facts.model = Some(req.model.clone());
        let local = self.target.as_ref().filter(|t| t.serves(&req.model));
        // For a completions target, the sequence sent: the session as the gateway keeps it.
        let scored = match local {
            Some(target) => target.score(&req).await.map(|s| (s, None)).map_err(|e| e.response()),
            None => self
                .score_remote(&req, id, started, facts)
                .await
                .map(|(s, sent)| (s, Some(sent))),
        };
        let (scored, sent) = match scored {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        if scored.scores.len() != req.draft.len() + 1 {
            return TargetError::Failed(format!(
                "{} positions scored for a draft of {}",
                scored.scores.len(),
                req.draft.len()
            ))
            .response();
        }
        let verdict = match round::judge(&req, &scored.scores) {
            Ok(v) => v,
            Err(e) => return invalid(e.to_string()),
        };
        let reply = round::reply(&req, verdict, scored.stats);
        if let Some(mut held) = sent {
            held.truncate(reply.session_len);
            self.sessions.borrow_mut().store(&req.session, held);
        }
        Response::json(200, &reply)
    }

    /// Scores a greedy round on a completions upstream with prompt log-probabilities;
    /// also returns the whole sequence sent (session, context and draft).
    async fn score_remote(
        &self,
        req: &VerifyRequest,
        id: &str,
        started: f64,
        facts: &mut LogFacts,
    ) -> Result<(Scored, Vec<u32>), Response> {
        let routes = self.config.route(&req.model);
        if routes.is_empty() {
            return Err(Response::error(
                404,
                "invalid_request_error",
                "model_not_found",
                format!("the model `{}` does not exist", req.model),
            ));
        }
        if round::is_sampled(req) {
            return Err(TargetError::Invalid(
                "this target returns prompt log-probabilities, which verify greedy rounds only; send temperature 0"
                    .into(),
            )
            .response());
        }
        let mut prompt = self
            .sessions
            .borrow_mut()
            .prefix(&req.session, req.base)
            .map_err(|e| e.response())?;
        prompt.extend_from_slice(&req.context);
        prompt.extend_from_slice(&req.draft);
        if prompt.len() > MAX_SESSION_TOKENS {
            return Err(
                TargetError::Invalid(format!("a session holds at most {MAX_SESSION_TOKENS} tokens")).response(),
            );
        }
        let t0 = self.host.now_ms();
        let payload = |model: &str| Some(completions_body(model, &prompt));
        let resp = self
            .call_upstreams(routes, "completions", false, payload, id, started, facts)
            .await;
        let Body::Full(body) = resp.body else {
            return Err(TargetError::Failed("the target streamed its reply".into()).response());
        };
        if resp.status != 200 {
            return Err(Response {
                body: Body::Full(body),
                ..resp
            });
        }
        let (choices, cached) = parse_completions(&body, prompt.len(), req.draft.len()).map_err(|e| {
            facts.outcome = "target_malformed";
            TargetError::Failed(e).response()
        })?;
        let scored = Scored {
            scores: round::TargetScores::Argmax(choices),
            stats: TargetStats {
                forward_tokens: prompt.len().saturating_sub(cached),
                cached_tokens: cached,
                forward_ms: ms1(self.host.now_ms() - t0),
            },
        };
        Ok((scored, prompt))
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
        stream: bool,
        id: &str,
        started: f64,
    ) -> Attempt {
        let spec = &self.config.spec.upstreams[index];
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                }
                .to_owned(),
            ),
        ];
        if let Some(key) = &self.config.upstream_keys[index] {
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
            200..=299 if stream => {
                let UpstreamResponse { mut body, .. } = resp;
                match self.timeout(remaining(), body.next()).await {
                    None => Attempt::Retry(Failure::Timeout),
                    Some(Some(Err(e))) => Attempt::Retry(Failure::Connect(self.scrub(&e))),
                    Some(None) => Attempt::Retry(Failure::Malformed),
                    Some(Some(Ok(first))) => {
                        Attempt::Done(self.streaming(first, body, spec.idle_timeout_ms, id, started))
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
                    // the client must see it, with any key the upstream echoed removed.
                    let text = self.scrub(&String::from_utf8_lossy(&body));
                    let body = if serde_json::from_str::<Value>(&text).is_ok() {
                        text.into_bytes()
                    } else {
                        let e =
                            tandem_protocol::openai::ErrorBody::new("invalid_request_error", "upstream_rejected", text);
                        serde_json::to_vec(&e).unwrap_or_default()
                    };
                    Attempt::Done(Response {
                        status,
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: Body::Full(body),
                    })
                }
            }
        }
    }

    fn streaming(&self, first: Vec<u8>, body: ByteStream, idle_ms: u64, id: &str, started: f64) -> Response {
        let host = Rc::clone(&self.host);
        let id = id.to_owned();
        let on_end = move |end: RelayEnd| {
            let line = json!({
                "request_id": id,
                "event": "stream_end",
                "outcome": end.as_str(),
                "duration_ms": ms1(host.now_ms() - started),
            });
            host.log(&line.to_string());
        };
        Response {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/event-stream; charset=utf-8".into()),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: Body::Stream(relay(Rc::clone(&self.host), first, body, idle_ms, on_end)),
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

    /// `text` with every upstream API key replaced by `***`.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for key in self.config.upstream_keys.iter().flatten() {
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
