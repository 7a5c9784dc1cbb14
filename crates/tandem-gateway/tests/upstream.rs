//! The gateway against scripted chat upstreams: what a hostile or broken
//! upstream answer does to the client's request.

use serde_json::{Value, json};
use std::cell::RefCell;
use tandem_gateway::{Body, Gateway, GatewayConfig, Host, Request, UpstreamRequest, UpstreamResponse};

/// Upstreams by host name: `redirect` answers 307 to elsewhere, `ok` a chat completion.
#[derive(Default)]
struct Upstreams {
    fetched: RefCell<Vec<String>>,
}

impl Host for Upstreams {
    async fn fetch(&self, request: UpstreamRequest) -> Result<UpstreamResponse, String> {
        self.fetched.borrow_mut().push(request.url.clone());
        let (status, headers, body) = if request.url.starts_with("https://redirect/") {
            (
                307,
                vec![("location".to_owned(), "https://evil.example/steal".to_owned())],
                Vec::new(),
            )
        } else {
            let reply = json!({"id": "c", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]});
            (
                200,
                vec![("content-type".to_owned(), "application/json".to_owned())],
                reply.to_string().into_bytes(),
            )
        };
        Ok(UpstreamResponse {
            status,
            headers,
            body: Box::pin(futures_util::stream::iter([Ok(body)])),
        })
    }

    fn sleep(&self, _ms: u64) -> impl std::future::Future<Output = ()> {
        std::future::ready(())
    }

    fn now_ms(&self) -> f64 {
        0.0
    }

    fn log(&self, _line: &str) {}

    fn request_id(&self) -> String {
        "r".into()
    }
}

fn chat(upstreams: &str) -> (u16, Value, Vec<String>) {
    let config = GatewayConfig::from_json(
        &format!(r#"{{"upstreams": {upstreams}, "allow_anonymous": true}}"#),
        |_| None,
    )
    .unwrap();
    let g = Gateway::new(config, Upstreams::default());
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]});
    let resp = futures_executor::block_on(g.handle(Request {
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        headers: vec![],
        body: body.to_string().into_bytes(),
    }));
    let Body::Full(bytes) = resp.body else {
        panic!("streamed")
    };
    let fetched = g.host().fetched.borrow().clone();
    (resp.status, serde_json::from_slice(&bytes).unwrap(), fetched)
}

#[test]
fn a_redirecting_upstream_is_a_failed_one_and_is_never_followed() {
    let (status, reply, fetched) = chat(
        r#"[{"name": "a", "base_url": "https://redirect/v1", "models": {"*": "*"}, "retries": 2},
            {"name": "b", "base_url": "https://ok/v1", "models": {"*": "*"}}]"#,
    );
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "hi");
    assert_eq!(
        fetched,
        ["https://redirect/v1/chat/completions", "https://ok/v1/chat/completions"]
    );

    let (status, reply, fetched) = chat(r#"[{"name": "a", "base_url": "https://redirect/v1", "models": {"*": "*"}}]"#);
    assert_eq!(status, 502, "{reply}");
    assert_eq!(fetched.len(), 1);
    assert!(!reply.to_string().contains("evil.example"), "{reply}");
}
