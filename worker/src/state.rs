//! Shared state on Workers: the gateway's replay window, rate limits, token
//! budgets and completions sessions in Durable Objects, so that every isolate
//! (and every instance of the worker bound to the same namespace) meets the
//! same state.
//!
//! * Rate limits: one object per bucket key (`client:web`, `peer:203.0.113.7`),
//!   keeping its token bucket in memory. An object that is evicted while idle
//!   loses it, which only refills the bucket early: idle means not limited.
//! * Token budgets: one object per client (`budget:web`), keeping the balance
//!   in storage, so eviction never hands back what was spent.
//! * Completions sessions: one object per session (the client's name and the
//!   session id), keeping its tokens in memory. An object evicted while idle
//!   loses them: the next round gets 409 `session_lost` and the client resends
//!   the session, as after any loss.
//! * Replay window: 16 objects, chosen by the first byte of the encapsulated
//!   key (a replay carries the same key, so it reaches the same object). Each
//!   key is kept in the object's storage until no copy could pass the clock
//!   check (`2 × window_ms`), so eviction forgets nothing; an alarm deletes
//!   expired keys.
//!
//! The worker reaches an object with a `POST` of JSON; when it cannot, the
//! request is refused (503 `state_unavailable`), never let through.

use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use tandem_gateway::{Draw, ENC_LEN, Meter, SharedState, StateError};
use worker::{Method, ObjectNamespace, Request, RequestInit};

/// The binding name of the namespace, in `wrangler.toml` or the workerd config.
pub(crate) const BINDING: &str = "TANDEM_STATE";
/// Objects the replay window is spread over.
const REPLAY_SHARDS: u8 = 16;

/// `POST /draw`: a request against a rate limit or a token budget.
#[derive(Serialize, Deserialize)]
pub(crate) struct DrawFrom {
    pub(crate) key: String,
    pub(crate) meter: Meter,
    pub(crate) draw: Draw,
}

/// `POST /session/prefix`: the session's first `base` tokens (200, a JSON
/// array), or 409 with how many it holds.
#[derive(Serialize, Deserialize)]
pub(crate) struct Prefix {
    pub(crate) session: String,
    pub(crate) base: usize,
}

/// `POST /session/store`: what the target now holds for the session.
#[derive(Serialize, Deserialize)]
pub(crate) struct Store {
    pub(crate) session: String,
    pub(crate) tokens: Vec<u32>,
}

/// The answer of `/session/prefix` when the session holds fewer tokens.
#[derive(Serialize, Deserialize)]
pub(crate) struct Held {
    pub(crate) held: usize,
}

/// What an object answered: its status, `Retry-After` and body.
struct Answer {
    status: u16,
    retry_after: u64,
    body: String,
}

/// `POST /sighting`: a sealed request's encapsulated key, seen once.
#[derive(Serialize, Deserialize)]
pub(crate) struct Sighting {
    /// The encapsulated key, hex.
    pub(crate) enc: String,
    pub(crate) window_ms: f64,
}

/// The gateway's [`SharedState`] in a Durable Object namespace.
pub(crate) struct DurableState {
    namespace: ObjectNamespace,
}

impl DurableState {
    pub(crate) fn new(namespace: ObjectNamespace) -> Self {
        Self { namespace }
    }

    /// Sends `body` to object `name`'s `path`; its answer, or why it could
    /// not be reached.
    async fn call(&self, name: &str, path: &str, body: String) -> std::result::Result<Answer, StateError> {
        let unavailable = |e: worker::Error| StateError::Unavailable(format!("{name}: {e}"));
        let stub = self
            .namespace
            .id_from_name(name)
            .and_then(|id| id.get_stub())
            .map_err(unavailable)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let req = Request::new_with_init(&format!("https://state{path}"), &init).map_err(unavailable)?;
        let mut resp = stub.fetch_with_request(req).await.map_err(unavailable)?;
        let retry_after = resp
            .headers()
            .get("retry-after")
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let body = resp.text().await.map_err(unavailable)?;
        Ok(Answer {
            status: resp.status_code(),
            retry_after,
            body,
        })
    }
}

fn unexpected(name: &str, answer: &Answer) -> StateError {
    StateError::Unavailable(format!("{name}: status {}", answer.status))
}

impl SharedState for DurableState {
    fn draw<'a>(
        &'a self,
        key: &'a str,
        meter: Meter,
        draw: Draw,
        _now_ms: f64,
    ) -> LocalBoxFuture<'a, std::result::Result<(), StateError>> {
        Box::pin(async move {
            let body = serde_json::to_string(&DrawFrom {
                key: key.to_owned(),
                meter,
                draw,
            })
            .unwrap_or_default();
            let answer = self.call(key, "/draw", body).await?;
            match answer.status {
                200 => Ok(()),
                429 => Err(StateError::Limited {
                    retry_after_s: answer.retry_after,
                }),
                _ => Err(unexpected(key, &answer)),
            }
        })
    }

    fn first_sighting<'a>(
        &'a self,
        enc: &'a [u8; ENC_LEN],
        _client_ms: f64,
        window_ms: f64,
        _now_ms: f64,
    ) -> LocalBoxFuture<'a, std::result::Result<(), StateError>> {
        Box::pin(async move {
            let name = format!("replay:{}", enc[0] % REPLAY_SHARDS);
            let body = serde_json::to_string(&Sighting {
                enc: hex::encode(enc),
                window_ms,
            })
            .unwrap_or_default();
            let answer = self.call(&name, "/sighting", body).await?;
            match answer.status {
                200 => Ok(()),
                409 => Err(StateError::Replay),
                _ => Err(unexpected(&name, &answer)),
            }
        })
    }

    fn session_prefix<'a>(
        &'a self,
        session: &'a str,
        base: usize,
    ) -> LocalBoxFuture<'a, std::result::Result<Vec<u32>, StateError>> {
        Box::pin(async move {
            if base == 0 {
                return Ok(Vec::new());
            }
            let name = session_object(session);
            let body = serde_json::to_string(&Prefix {
                session: session.to_owned(),
                base,
            })
            .unwrap_or_default();
            let answer = self.call(&name, "/session/prefix", body).await?;
            let malformed = |e: serde_json::Error| StateError::Unavailable(format!("{name}: {e}"));
            match answer.status {
                200 => serde_json::from_str(&answer.body).map_err(malformed),
                409 => {
                    let Held { held } = serde_json::from_str(&answer.body).map_err(malformed)?;
                    Err(StateError::SessionLost { held })
                }
                _ => Err(unexpected(&name, &answer)),
            }
        })
    }

    fn session_store<'a>(
        &'a self,
        session: &'a str,
        tokens: Vec<u32>,
    ) -> LocalBoxFuture<'a, std::result::Result<(), StateError>> {
        Box::pin(async move {
            let name = session_object(session);
            let body = serde_json::to_string(&Store {
                session: session.to_owned(),
                tokens,
            })
            .unwrap_or_default();
            let answer = self.call(&name, "/session/store", body).await?;
            match answer.status {
                200 => Ok(()),
                _ => Err(unexpected(&name, &answer)),
            }
        })
    }
}

/// The object keeping `session` (already namespaced by client).
fn session_object(session: &str) -> String {
    format!("session:{session}")
}
