//! Shared state on Workers: the gateway's replay window and rate limits in
//! Durable Objects, so that every isolate (and every instance of the worker
//! bound to the same namespace) meets the same state.
//!
//! * Rate limits: one object per bucket key (`client:web`, `peer:203.0.113.7`),
//!   keeping its token bucket in memory. An object that is evicted while idle
//!   loses it, which only refills the bucket early: idle means not limited.
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
use tandem_gateway::{ENC_LEN, Rate, SharedState, StateError};
use worker::{Method, ObjectNamespace, Request, RequestInit};

/// The binding name of the namespace, in `wrangler.toml` or the workerd config.
pub(crate) const BINDING: &str = "TANDEM_STATE";
/// Objects the replay window is spread over.
const REPLAY_SHARDS: u8 = 16;

/// `POST /take`: one request from a rate-limit bucket.
#[derive(Serialize, Deserialize)]
pub(crate) struct Take {
    pub(crate) key: String,
    pub(crate) rate: Rate,
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

    /// Sends `body` to object `name`'s `path`; its status and `Retry-After`,
    /// or why it could not be reached.
    async fn call(&self, name: &str, path: &str, body: String) -> std::result::Result<(u16, u64), StateError> {
        let unavailable = |e: worker::Error| StateError::Unavailable(format!("{name}: {e}"));
        let stub = self
            .namespace
            .id_from_name(name)
            .and_then(|id| id.get_stub())
            .map_err(unavailable)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let req = Request::new_with_init(&format!("https://state{path}"), &init).map_err(unavailable)?;
        let resp = stub.fetch_with_request(req).await.map_err(unavailable)?;
        let retry_after = resp
            .headers()
            .get("retry-after")
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        Ok((resp.status_code(), retry_after))
    }
}

impl SharedState for DurableState {
    fn take<'a>(
        &'a self,
        key: &'a str,
        rate: Rate,
        _now_ms: f64,
    ) -> LocalBoxFuture<'a, std::result::Result<(), StateError>> {
        Box::pin(async move {
            let body = serde_json::to_string(&Take {
                key: key.to_owned(),
                rate,
            })
            .unwrap_or_default();
            match self.call(key, "/take", body).await? {
                (200, _) => Ok(()),
                (429, retry_after_s) => Err(StateError::Limited { retry_after_s }),
                (status, _) => Err(StateError::Unavailable(format!("{key}: status {status}"))),
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
                enc: enc.iter().map(|b| format!("{b:02x}")).collect(),
                window_ms,
            })
            .unwrap_or_default();
            match self.call(&name, "/sighting", body).await? {
                (200, _) => Ok(()),
                (409, _) => Err(StateError::Replay),
                (status, _) => Err(StateError::Unavailable(format!("{name}: status {status}"))),
            }
        })
    }
}
