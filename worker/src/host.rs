//! The gateway's [`Host`] on Workers: `fetch` with redirects off, timers,
//! the clock, `console.log` and random request ids.

use futures_util::StreamExt;
use std::time::Duration;
use tandem_gateway::{ByteStream, Host, UpstreamRequest, UpstreamResponse};
use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

/// The gateway's runtime on Workers.
pub(crate) struct WorkerHost;

impl Host for WorkerHost {
    async fn fetch(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String> {
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers
                .set(name, value)
                .map_err(|_| format!("invalid header `{name}`"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            // A followed redirect would resend the prompt wherever the upstream
            // points; the gateway treats a 3xx as a failed upstream instead.
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(js_sys::Uint8Array::from(request.body.as_slice()).into()));
        let req = Request::new_with_init(&request.url, &init).map_err(|e| e.to_string())?;
        // The error text of a failed fetch names the URL at most, never the headers.
        let mut resp = Fetch::Request(req).send().await.map_err(|e| e.to_string())?;
        let status = resp.status_code();
        let headers = resp.headers().entries().collect();
        let body: ByteStream = match resp.stream() {
            Ok(stream) => Box::pin(stream.map(|chunk| chunk.map_err(|e| e.to_string()))),
            Err(_) => Box::pin(futures_util::stream::empty()),
        };
        Ok(UpstreamResponse { status, headers, body })
    }

    fn sleep(&self, ms: u64) -> impl std::future::Future<Output = ()> {
        worker::Delay::from(Duration::from_millis(ms))
    }

    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }

    fn request_id(&self) -> String {
        let mut bytes = [0u8; 12];
        if getrandom::fill(&mut bytes).is_err() {
            return format!("t{}", js_sys::Date::now());
        }
        hex::encode(bytes)
    }
}
