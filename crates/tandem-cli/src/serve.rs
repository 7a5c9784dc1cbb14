//! `tandem serve`: the edge gateway natively (hyper + reqwest), for running
//! without workerd and for tests. The same `tandem-gateway` logic as the
//! worker; only the [`Host`] differs. With `--target` it also runs a target
//! model for speculative decoding (see [`crate::target`]).

use crate::idle::Watched;
use crate::target::{QueueLimits, TargetHandle};
use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tandem_gateway::{Body, ByteStream, Gateway, GatewayConfig, Host, Response, UpstreamRequest, UpstreamResponse};

/// Arguments of `tandem serve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The gateway configuration (JSON, as the worker's TANDEM_GATEWAY var);
    /// the secrets it names are read from environment variables. Optional
    /// with --target (then no upstreams, no auth, no rate limit).
    #[arg(long, required_unless_present = "target")]
    config: Option<std::path::PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: String,
    /// A target model (name or GGUF path) to serve for speculative decoding:
    /// `/v1/verify` in process and `/v1/completions` with `prompt_logprobs`.
    #[arg(long)]
    target: Option<String>,
    /// The public name of the target model (default: --target as given).
    #[arg(long)]
    target_name: Option<String>,
    /// KV-cache memory for all target sessions together, in MiB (least
    /// recently used sessions are evicted beyond it).
    #[arg(long, default_value_t = 1024)]
    kv_budget_mib: usize,
    /// Target jobs that may wait for the model; one more gets 503 with `Retry-After`.
    #[arg(long, default_value_t = 16)]
    queue_depth: usize,
    /// Seconds a target job may wait for the model before it is dropped (504).
    #[arg(long, default_value_t = 30)]
    job_deadline_s: u64,
    /// Open connections at most; more wait in the listen backlog.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Seconds a connection may take to send a request's headers (also the
    /// first request's: an idle connection is closed after it).
    #[arg(long, default_value_t = 10)]
    header_timeout_s: u64,
    /// Seconds a request may take to send its body (408 after that).
    #[arg(long, default_value_t = 30)]
    body_timeout_s: u64,
    /// Seconds a connection may stay silent (no byte either way) before it
    /// is closed; a request still running finishes first.
    #[arg(long, default_value_t = 60)]
    idle_timeout_s: u64,
    /// Backend of the target model.
    #[command(flatten)]
    backend: crate::generate::BackendArgs,
}

/// What answers requests: the gateway (with the target, if any, behind it).
struct Server {
    gateway: Gateway<NativeHost>,
    body_timeout: Duration,
}

/// The gateway's runtime natively.
struct NativeHost {
    client: reqwest::Client,
}

impl Host for NativeHost {
    async fn fetch(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String> {
        let mut builder = self.client.post(&request.url).body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        // reqwest's error text names the URL, never the headers.
        let resp = builder.send().await.map_err(|e| e.without_url().to_string())?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body: ByteStream = Box::pin(
            resp.bytes_stream()
                .map(|chunk| chunk.map(|b| b.to_vec()).map_err(|e| e.without_url().to_string())),
        );
        Ok(UpstreamResponse { status, headers, body })
    }

    fn sleep(&self, ms: u64) -> impl std::future::Future<Output = ()> {
        tokio::time::sleep(Duration::from_millis(ms))
    }

    fn now_ms(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn log(&self, line: &str) {
        println!("{line}");
    }

    fn request_id(&self) -> String {
        let mut bytes = [0u8; 12];
        let _ = getrandom::fill(&mut bytes);
        hex::encode(bytes)
    }
}

/// A response body that need not be `Send` (the gateway runs on one thread).
enum ResponseBody {
    Full(Option<Bytes>),
    Stream(std::pin::Pin<Box<dyn futures_util::Stream<Item = Vec<u8>>>>),
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => std::task::Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream(s) => s
                .as_mut()
                .poll_next(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(Bytes::from(b))))),
        }
    }
}

async fn answer(
    server: Rc<Server>,
    peer: std::net::IpAddr,
    req: hyper::Request<Incoming>,
) -> hyper::Response<ResponseBody> {
    let gateway = &server.gateway;
    let too_large = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n > gateway.max_request_bytes());
    let (parts, body) = req.into_parts();
    let body = if too_large {
        Err(gateway.too_large())
    } else {
        let read = Limited::new(body, gateway.max_request_bytes()).collect();
        match tokio::time::timeout(server.body_timeout, read).await {
            Ok(Ok(b)) => Ok(b.to_bytes().to_vec()),
            Ok(Err(_)) => Err(gateway.too_large()),
            Err(_) => Err(Response::error(
                408,
                "invalid_request_error",
                "request_timeout",
                format!("the request body took longer than {} s", server.body_timeout.as_secs()),
            )),
        }
    };
    let resp = match body {
        Err(resp) => resp,
        Ok(body) => {
            let request = tandem_gateway::Request {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                headers: parts
                    .headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect(),
                body,
            }
            .with_peer(Some(peer.to_string()));
            gateway.handle(request).await
        }
    };
    let body = match resp.body {
        Body::Full(bytes) => ResponseBody::Full(Some(Bytes::from(bytes))),
        Body::Stream(stream) => ResponseBody::Stream(stream),
    };
    let mut out = hyper::Response::new(body);
    *out.status_mut() = hyper::StatusCode::from_u16(resp.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &resp.headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            out.headers_mut().append(n, v);
        }
    }
    out
}

pub(crate) fn run(args: Args) -> Result<()> {
    let config = match &args.config {
        Some(path) => {
            let json = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            GatewayConfig::from_json(&json, |name| std::env::var(name).ok())?
        }
        None => {
            refuse_open_listen(&args.listen)?;
            GatewayConfig::local_only()
        }
    };
    let host = NativeHost {
        client: reqwest::Client::builder()
            .tcp_nodelay(true)
            // A redirect would resend the prompt to wherever the upstream points.
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    };
    let mut gateway = Gateway::new(config, host);
    if let Some(model) = &args.target {
        // Fail before spawning when the name is unknown or not fetched.
        crate::models::resolve(model)?;
        let name = args.target_name.clone().unwrap_or_else(|| model.clone());
        let (device, format) = args.backend.prepare()?;
        let limits = QueueLimits {
            depth: args.queue_depth.max(1),
            wait: Duration::from_secs(args.job_deadline_s),
        };
        let handle = TargetHandle::spawn(model.clone(), name, device, format, args.kv_budget_mib << 20, limits)?;
        gateway = gateway.with_target(Rc::new(handle));
    }
    let server = Rc::new(Server {
        gateway,
        body_timeout: Duration::from_secs(args.body_timeout_s),
    });
    let connections = std::sync::Arc::new(tokio::sync::Semaphore::new(args.max_connections.max(1)));
    let header_timeout = Duration::from_secs(args.header_timeout_s.max(1));
    let idle_timeout = Duration::from_secs(args.idle_timeout_s.max(1));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        eprintln!("tandem gateway on http://{}", listener.local_addr()?);
        loop {
            // At the cap, new connections wait in the listen backlog.
            let permit = std::sync::Arc::clone(&connections)
                .acquire_owned()
                .await
                .context("the connection semaphore closed")?;
            let (stream, peer) = match listener.accept().await {
                Ok((stream, addr)) => (stream, addr.ip()),
                Err(e) => {
                    // Out of file descriptors, a connection reset before
                    // accept: log it, give the system a moment, keep serving.
                    eprintln!(
                        "{}",
                        serde_json::json!({"event": "accept_error", "error": e.to_string()})
                    );
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let server = Rc::clone(&server);
            tokio::task::spawn_local(async move {
                let service = hyper::service::service_fn(move |req| {
                    let server = Rc::clone(&server);
                    async move { Ok::<_, std::convert::Infallible>(answer(server, peer, req).await) }
                });
                let last = Rc::new(std::cell::Cell::new(std::time::Instant::now()));
                let io = TokioIo::new(Watched::new(stream, Rc::clone(&last)));
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(io, service);
                let mut conn = std::pin::pin!(conn);
                let mut closing = false;
                loop {
                    let quiet_until = tokio::time::Instant::from_std(last.get() + idle_timeout);
                    tokio::select! {
                        _ = conn.as_mut() => break,
                        () = tokio::time::sleep_until(quiet_until), if !closing => {
                            if last.get().elapsed() >= idle_timeout {
                                conn.as_mut().graceful_shutdown();
                                closing = true;
                            }
                        }
                    }
                }
                drop(permit);
            });
        }
    })
}

/// How long the accept loop waits after an accept error (such as EMFILE).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Without `--config` nothing authenticates clients, so the server only
/// listens on a loopback address.
fn refuse_open_listen(listen: &str) -> Result<()> {
    let loopback = listen
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or_else(|_| listen.starts_with("localhost:"));
    anyhow::ensure!(
        loopback,
        "without --config this server has no authentication and no rate limit: listen on a loopback address \
         (127.0.0.1:PORT) or give a --config with client tokens"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::refuse_open_listen;

    #[test]
    fn without_a_config_only_loopback_is_served() {
        for open in ["0.0.0.0:8787", "192.168.1.5:80", "[::]:8787"] {
            assert!(refuse_open_listen(open).is_err(), "{open}");
        }
        for local in ["127.0.0.1:8787", "[::1]:8787", "localhost:8787"] {
            assert!(refuse_open_listen(local).is_ok(), "{local}");
        }
    }
}
