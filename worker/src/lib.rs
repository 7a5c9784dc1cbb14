//! Tandem's edge worker: `tandem-gateway` on Cloudflare Workers (workerd).
//!
//! This crate is a thin shim: it turns a workers-rs [`worker::Request`] into
//! the gateway's request, implements the gateway's [`Host`] with `fetch`,
//! timers and `console.log`, and turns the answer back into a streamed
//! [`worker::Response`]. All behaviour lives in `tandem-gateway`, which is
//! tested natively and served natively by `tandem serve` as well.
//!
//! Configuration: the `TANDEM_GATEWAY` var holds the JSON of
//! [`tandem_gateway::GatewaySpec`]; the API keys and client tokens it names
//! are worker secrets (or vars, for local runs). A Durable Object namespace
//! bound as `TANDEM_STATE` (class [`GatewayState`]) holds the replay window,
//! the rate limits, the token budgets and the verification sessions for
//! every isolate.

mod host;
mod object;
mod state;

use futures_util::StreamExt;
use host::WorkerHost;
use std::cell::RefCell;
use std::rc::Rc;
use tandem_gateway::{Body, Gateway, GatewayConfig};
use worker::{Env, Headers, Method, Request, Response, event};

pub use object::GatewayState;

thread_local! {
    /// The gateway of this isolate, kept across requests (rate-limit state),
    /// rebuilt when the configuration text changes.
    static GATEWAY: RefCell<Option<(String, Rc<Gateway<WorkerHost>>)>> = const { RefCell::new(None) };
}

fn gateway(env: &Env) -> Result<Rc<Gateway<WorkerHost>>, String> {
    let json = env
        .var("TANDEM_GATEWAY")
        .map(|v| v.to_string())
        .map_err(|_| "the TANDEM_GATEWAY var is not set".to_owned())?;
    if let Some(g) = GATEWAY.with_borrow(|g| g.as_ref().filter(|(j, _)| *j == json).map(|(_, g)| Rc::clone(g))) {
        return Ok(g);
    }
    let secret = |name: &str| env.secret(name).or_else(|_| env.var(name)).ok().map(|s| s.to_string());
    let config = GatewayConfig::from_json(&json, secret).map_err(|e| e.to_string())?;
    let mut g = Gateway::new(config, WorkerHost);
    // With a Durable Object namespace bound, the replay window, rate limits, budgets and
    // sessions are shared by every isolate; without one, each isolate keeps its own.
    if let Ok(namespace) = env.durable_object(state::BINDING) {
        g = g.with_shared_state(Rc::new(state::DurableState::new(namespace)));
    }
    let g = Rc::new(g);
    GATEWAY.with_borrow_mut(|slot| *slot = Some((json, Rc::clone(&g))));
    Ok(g)
}

fn to_worker(resp: tandem_gateway::Response) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in &resp.headers {
        headers.append(name, value)?;
    }
    let out = match resp.body {
        Body::Full(bytes) => Response::from_bytes(bytes)?,
        Body::Stream(stream) => Response::from_stream(stream.map(Ok::<Vec<u8>, worker::Error>))?,
    };
    Ok(out.with_status(resp.status).with_headers(headers))
}

/// The request's body, or `None` once it grows past `cap` bytes (an absent
/// body is empty; a broken one reads as what arrived).
async fn read_capped(req: &mut Request, cap: usize) -> Option<Vec<u8>> {
    let Ok(mut stream) = req.stream() else {
        return Some(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        if body.len() + chunk.len() > cap {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: worker::Context) -> worker::Result<Response> {
    let gateway = match gateway(&env) {
        Ok(g) => g,
        Err(e) => {
            worker::console_error!("{{\"event\":\"config_error\",\"message\":{:?}}}", e);
            let body = tandem_gateway::Response::error(500, "server_error", "gateway_misconfigured", e);
            return to_worker(body);
        }
    };
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > gateway.max_request_bytes()) {
        return to_worker(gateway.too_large());
    }
    let url = req.url()?;
    let body = if matches!(req.method(), Method::Get | Method::Head | Method::Options) {
        Vec::new()
    } else {
        // A chunked upload declares no length: count what arrives.
        match read_capped(&mut req, gateway.max_request_bytes()).await {
            Some(body) => body,
            None => return to_worker(gateway.too_large()),
        }
    };
    // Cloudflare sets CF-Connecting-IP to the client's address (a client's own copy is replaced).
    let peer = req.headers().get("cf-connecting-ip").ok().flatten();
    let request = tandem_gateway::Request {
        method: req.method().to_string(),
        path: url.path().to_owned(),
        headers: req.headers().entries().collect(),
        body,
    }
    .with_peer(peer);
    to_worker(gateway.handle(request).await)
}
