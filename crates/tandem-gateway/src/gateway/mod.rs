//! Request handling: routes, and the log line of every request. Admission,
//! the chat route and the verify route have their own modules; calling
//! upstreams is [`crate::upstream`].

mod admission;
mod chat;
mod verification;

use crate::config::GatewayConfig;
use crate::facts::{LogFacts, ms1};
use crate::host::Host;
use crate::rate::{Draw, Meter, Rate};
use crate::response::{Body, PEER_HEADER, Request, Response};
use crate::shared::{LocalState, SharedState, StateError};
use crate::upstream::Upstreams;
use crate::verify::{ScoreError, TargetScorer};
use crate::{cors, sealed};
use serde_json::json;
use std::rc::Rc;
use tandem_protocol::openai::{ModelEntry, ModelList};

/// What sealing adds to a request body (header, encapsulated key, tag, inner JSON framing).
const SEAL_OVERHEAD: usize = 1024;

/// The gateway: configuration, the host it runs on, the state it shares.
pub struct Gateway<H: Host> {
    host: Rc<H>,
    config: GatewayConfig,
    upstreams: Upstreams<H>,
    /// Replay window, rate limits, token budgets and completions sessions:
    /// in this process, or shared by every instance.
    state: Rc<dyn SharedState>,
    target: Option<Rc<dyn TargetScorer>>,
}

impl<H: Host + 'static> Gateway<H> {
    /// A gateway serving `config` on `host`.
    pub fn new(config: GatewayConfig, host: H) -> Self {
        let host = Rc::new(host);
        Self {
            state: Rc::new(match &config.spec.seal {
                Some(seal) => LocalState::new(seal.window_ms as f64, seal.max_remembered),
                None => LocalState::new(0.0, 0),
            }),
            upstreams: Upstreams::new(
                Rc::clone(&host),
                config.spec.upstreams.clone(),
                config.upstream_keys.clone(),
            ),
            config,
            host,
            target: None,
        }
    }

    /// Keeps the replay window, rate limits, token budgets and completions
    /// sessions in `state` instead of this instance's memory: on Workers,
    /// Durable Objects every isolate reaches.
    pub fn with_shared_state(mut self, state: Rc<dyn SharedState>) -> Self {
        self.state = state;
        self
    }

    /// Verifies drafts for the models `target` serves in this process
    /// instead of asking a completions upstream (`tandem serve --target`).
    pub fn with_target(mut self, target: Rc<dyn TargetScorer>) -> Self {
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
            request_id: id.clone(),
            started,
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
            self.route(&req, &mut facts).await
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
            "tokens": facts.tokens,
        });
        self.host.log(&line.to_string());
        resp
    }

    async fn route(&self, req: &Request, facts: &mut LogFacts) -> Response {
        match (req.method.as_str(), req.path.as_str(), &self.config.seal_keys) {
            ("GET", "/v1/seal/keys", Some(keys)) => sealed::keys_response(keys, self.host.now_ms()),
            ("POST", "/v1/sealed", Some(keys)) => {
                if req.body.len() > self.max_request_bytes() {
                    return self.too_large();
                }
                let peer = format!("peer:{}", req.header(PEER_HEADER).unwrap_or("unknown"));
                let limits = self.config.limits();
                let rate = Rate {
                    per_minute: limits.peer_requests_per_minute,
                    burst: limits.peer_burst,
                };
                let taken = self
                    .state
                    .draw(&peer, Meter::Rate(rate), Draw::Reserve(1), self.host.now_ms())
                    .await;
                if let Err(e) = taken {
                    facts.outcome = "peer_rate_limited";
                    return refused(&e);
                }
                let window_ms = self.config.spec.seal.as_ref().map_or(0, |s| s.window_ms) as f64;
                let opened = sealed::unseal(keys, self.state.as_ref(), window_ms, &req.body, self.host.now_ms()).await;
                match opened {
                    Err(resp) => resp,
                    Ok((inner, sealer)) => {
                        facts.sealed = true;
                        let resp = self.route_plain(&inner, facts).await;
                        facts.inner_status = Some(resp.status);
                        let coalesce_ms = self.config.spec.seal.as_ref().map_or(0, |s| s.coalesce_ms);
                        sealed::seal_response(Rc::clone(&self.host), sealer, resp, coalesce_ms)
                    }
                }
            }
            (_, "/v1/seal/keys" | "/v1/sealed", None) => Response::error(
                404,
                "invalid_request_error",
                "seal_not_configured",
                "this gateway has no sealed channel",
            ),
            _ => self.route_plain(req, facts).await,
        }
    }

    /// The routes a sealed request may reach.
    async fn route_plain(&self, req: &Request, facts: &mut LogFacts) -> Response {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/health") => Response::json(200, &json!({"status": "ok"})),
            ("GET", "/v1/models") => match self.admit(req, facts).await {
                Err(resp) => resp,
                Ok(client) => Response::json(200, &self.models(&client)),
            },
            ("POST", "/v1/chat/completions") => match self.admit(req, facts).await {
                Err(resp) => resp,
                Ok(client) => self.complete(&client, &req.body, facts).await,
            },
            ("POST", "/v1/verify") => match self.admit(req, facts).await {
                Err(resp) => resp,
                Ok(client) => self.verify(&client, &req.body, facts).await,
            },
            ("POST", "/v1/completions") if let Some(target) = &self.target => match self.admit(req, facts).await {
                Err(resp) => resp,
                Ok(_) => target.completions(&req.body).await,
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

    /// The models `client` may use.
    fn models(&self, client: &str) -> ModelList {
        let mut names: Vec<String> = self.target.as_ref().map(|t| t.models()).unwrap_or_default();
        for name in self.config.public_models() {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        if let Some(allowed) = &self.config.policy(client).models {
            names.retain(|n| allowed.contains(n));
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
}

/// The answer to a refusal of the shared state: 429 or 503 with `Retry-After`, 400 for a replay.
pub(crate) fn refused(e: &StateError) -> Response {
    let (mut resp, retry_after) = match e {
        StateError::Limited { retry_after_s } => (
            Response::error(429, "rate_limit_error", "rate_limited", e.to_string()),
            Some(*retry_after_s),
        ),
        StateError::Replay => (
            Response::error(400, "invalid_request_error", "seal_replay", e.to_string()),
            None,
        ),
        StateError::Full => (
            Response::error(503, "server_error", "seal_busy", e.to_string()),
            Some(1),
        ),
        StateError::SessionLost { held } => (ScoreError::SessionLost { held: *held }.response(), None),
        StateError::Unavailable(_) => (
            Response::error(503, "server_error", "state_unavailable", e.to_string()),
            Some(1),
        ),
    };
    if let Some(s) = retry_after {
        resp.headers.push(("retry-after".into(), s.to_string()));
    }
    resp
}
