//! A scripted [`Host`] for the gateway's native tests: each upstream request
//! is answered by a script (a closure of the request and how many requests
//! came before), timers fire at once while the clock can be moved by hand,
//! and every fetch, sleep and log line is recorded.

#![allow(dead_code)] // each test file uses a different part

use futures_util::stream;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use tandem_gateway::{Body, Gateway, Host, Request, Response, UpstreamRequest, UpstreamResponse};

/// What an upstream does with one request.
pub(crate) enum Reply {
    /// Headers then a whole body.
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// A 200 event stream: these chunks (an `Err` breaks the connection), then
    /// the end, or silence forever when `then_hang`.
    Stream {
        chunks: Vec<Result<Vec<u8>, String>>,
        then_hang: bool,
    },
    /// The connection fails before any header.
    ConnectError(String),
    /// No answer, ever.
    Hang,
}

impl Reply {
    /// A 200 JSON body.
    pub(crate) fn json(value: &Value) -> Self {
        Reply::Full {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    /// A bare status with an empty body.
    pub(crate) fn status(status: u16) -> Self {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

type Script = Box<dyn Fn(&UpstreamRequest, usize) -> Reply>;

/// The host: the script, the clock and what happened.
pub(crate) struct Scripted {
    script: Script,
    /// Every request sent upstream, in order.
    pub(crate) fetched: RefCell<Vec<UpstreamRequest>>,
    /// Every sleep waited for (ms), in order.
    pub(crate) slept: RefCell<Vec<u64>>,
    /// Every log line, parsed.
    pub(crate) logs: RefCell<Vec<Value>>,
    /// The clock (ms); tests move it.
    pub(crate) now: Cell<f64>,
}

impl Scripted {
    /// A host answering with `script`.
    pub(crate) fn new(script: impl Fn(&UpstreamRequest, usize) -> Reply + 'static) -> Self {
        Self {
            script: Box::new(script),
            fetched: RefCell::default(),
            slept: RefCell::default(),
            logs: RefCell::default(),
            now: Cell::new(1_000_000.0),
        }
    }

    /// The URLs fetched, in order.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.fetched.borrow().iter().map(|r| r.url.clone()).collect()
    }

    /// The first log line of `event` (such as `stream_end`).
    pub(crate) fn logged(&self, event: &str) -> Option<Value> {
        self.logs.borrow().iter().find(|l| l["event"] == event).cloned()
    }

    /// The JSON bodies sent upstream, in order.
    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.fetched
            .borrow()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }
}

impl Host for Scripted {
    async fn fetch(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String> {
        let n = self.fetched.borrow().len();
        let reply = (self.script)(&request, n);
        self.fetched.borrow_mut().push(request);
        match reply {
            Reply::Full { status, headers, body } => Ok(UpstreamResponse {
                status,
                headers: headers.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                body: Box::pin(stream::iter([Ok(body)])),
            }),
            Reply::Stream { chunks, then_hang } => {
                let body = stream::iter(chunks);
                Ok(UpstreamResponse {
                    status: 200,
                    headers: vec![("content-type".into(), "text/event-stream".into())],
                    body: if then_hang {
                        Box::pin(futures_util::StreamExt::chain(body, stream::pending()))
                    } else {
                        Box::pin(body)
                    },
                })
            }
            Reply::ConnectError(e) => Err(e),
            Reply::Hang => std::future::pending().await,
        }
    }

    // Recorded when awaited: a timer that lost its race was never waited on.
    async fn sleep(&self, ms: u64) {
        self.slept.borrow_mut().push(ms)
    }

    fn now_ms(&self) -> f64 {
        self.now.get()
    }

    fn log(&self, line: &str) {
        self.logs.borrow_mut().push(serde_json::from_str(line).unwrap());
    }

    fn request_id(&self) -> String {
        "r".into()
    }
}

/// A request with a JSON body and an optional bearer token.
pub(crate) fn post(path: &str, token: Option<&str>, body: &Value) -> Request {
    Request {
        method: "POST".into(),
        path: path.into(),
        headers: token
            .map(|t| vec![("authorization".to_owned(), format!("Bearer {t}"))])
            .unwrap_or_default(),
        body: body.to_string().into_bytes(),
    }
}

/// Status and whole body of `g`'s answer to `req` (a stream is read to its end).
pub(crate) fn answer(g: &Gateway<Scripted>, req: Request) -> (u16, Response, Vec<u8>) {
    futures_executor::block_on(async {
        let mut resp = g.handle(req).await;
        let body = match std::mem::replace(&mut resp.body, Body::Full(Vec::new())) {
            Body::Full(b) => b,
            Body::Stream(s) => futures_util::StreamExt::collect::<Vec<_>>(s).await.concat(),
        };
        (resp.status, resp, body)
    })
}

/// The `data:` payloads of an event stream, in order.
pub(crate) fn events(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: ").map(str::to_owned))
        .collect()
}

/// One server-sent event carrying `data` as JSON.
pub(crate) fn sse(data: &Value) -> Result<Vec<u8>, String> {
    Ok(format!("data: {data}\n\n").into_bytes())
}
