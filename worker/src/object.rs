//! The Durable Object class of the gateway's shared state (see `state`).
// The #[durable_object] macro generates wasm-bindgen glue without doc comments.
#![allow(missing_docs)]

use crate::state::{DrawFrom, Held, Prefix, Sighting, Store};
use std::cell::RefCell;
use tandem_gateway::{Bucket, Buckets, Sessions};
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

/// The Durable Object class behind `DurableState`: a rate-limit bucket, a
/// token budget, a replay shard or a completions session, depending on the
/// name it was reached by.
#[durable_object]
pub struct GatewayState {
    state: State,
    buckets: RefCell<Buckets>,
    sessions: RefCell<Sessions>,
}

impl DurableObject for GatewayState {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            buckets: RefCell::default(),
            sessions: RefCell::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let now = js_sys::Date::now();
        match req.path().as_str() {
            "/draw" => {
                let DrawFrom { key, meter, draw } = req.json().await?;
                let result = if meter.must_persist() {
                    // Storage calls run under the object's input gate: no other
                    // request interleaves between this read and the write.
                    let storage = self.state.storage();
                    let mut bucket = storage
                        .get::<Bucket>(&key)
                        .await?
                        .unwrap_or_else(|| Bucket::full(meter, now));
                    let result = bucket.draw(meter, draw, now);
                    storage.put(&key, bucket).await?;
                    result
                } else {
                    self.buckets.borrow_mut().draw(&key, meter, draw, now)
                };
                match result {
                    Ok(()) => Response::empty(),
                    Err(s) => {
                        let resp = Response::empty()?.with_status(429);
                        resp.headers().set("retry-after", &s.to_string())?;
                        Ok(resp)
                    }
                }
            }
            "/session/prefix" => {
                let Prefix { session, base } = req.json().await?;
                let result = self.sessions.borrow_mut().prefix(&session, base);
                match result {
                    Ok(tokens) => Response::from_json(&tokens),
                    Err(held) => Ok(Response::from_json(&Held { held })?.with_status(409)),
                }
            }
            "/session/store" => {
                let Store { session, tokens } = req.json().await?;
                self.sessions.borrow_mut().store(&session, tokens);
                Response::empty()
            }
            "/sighting" => {
                let sighting: Sighting = req.json().await?;
                let storage = self.state.storage();
                // Storage calls run under the object's input gate: no other request
                // interleaves between this read and the write below.
                let seen: Option<f64> = storage.get(&sighting.enc).await?;
                if seen.is_some_and(|forget_at| forget_at > now) {
                    return Ok(Response::empty()?.with_status(409));
                }
                let forget_at = now + 2.0 * sighting.window_ms;
                storage.put(&sighting.enc, forget_at).await?;
                if storage.get_alarm().await?.is_none() {
                    storage.set_alarm(forget_at as i64).await?;
                }
                Response::empty()
            }
            _ => Response::error("no such operation", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let now = js_sys::Date::now();
        let storage = self.state.storage();
        let mut expired = Vec::new();
        let mut next: Option<f64> = None;
        for entry in storage.list().await?.entries() {
            let pair: js_sys::Array = entry?.into();
            let (Some(key), Some(forget_at)) = (pair.get(0).as_string(), pair.get(1).as_f64()) else {
                continue;
            };
            if forget_at <= now {
                expired.push(key);
            } else {
                next = Some(next.map_or(forget_at, |n| n.min(forget_at)));
            }
        }
        if !expired.is_empty() {
            storage.delete_multiple(expired).await?;
        }
        if let Some(at) = next {
            storage.set_alarm(at as i64).await?;
        }
        Response::empty()
    }
}
