//! The gateway against scripted chat upstreams: fallback, retries, 429 with
//! `Retry-After`, timeouts, redirects and failures in the middle of a stream.
//! Upstreams are told apart by host name (`https://a/v1`, `https://b/v1`).

mod common;

use common::{Reply, Scripted, answer, events, post, sse};
use serde_json::{Value, json};
use tandem_gateway::{Gateway, GatewayConfig, UpstreamRequest};

fn host_of(request: &UpstreamRequest) -> &str {
    request.url.trim_start_matches("https://").split('/').next().unwrap()
}

fn completion(text: &str) -> Value {
    json!({"id": "c", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})
}

fn gateway(upstreams: &str, host: Scripted) -> Gateway<Scripted> {
    let config = GatewayConfig::from_json(
        &format!(r#"{{"upstreams": {upstreams}, "allow_anonymous": true}}"#),
        |name| (name == "KEY").then(|| "sk-secret-key".to_owned()),
    )
    .unwrap();
    Gateway::new(config, host)
}

/// Two upstreams `a` and `b`, `retries` extra attempts each.
fn two(retries: u32) -> String {
    format!(
        r#"[{{"name": "a", "base_url": "https://a/v1", "models": {{"*": "*"}}, "retries": {retries}, "backoff_ms": 100, "timeout_ms": 500}},
            {{"name": "b", "base_url": "https://b/v1", "models": {{"*": "*"}}, "retries": 0}}]"#
    )
}

fn chat(g: &Gateway<Scripted>, stream: bool) -> (u16, Value, Vec<u8>) {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": stream});
    let (status, resp, bytes) = answer(g, post("/v1/chat/completions", None, &body));
    let retry_after = resp
        .headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .map(|(_, v)| v.clone());
    let value = if stream {
        json!({"retry_after": retry_after})
    } else {
        let mut v: Value = serde_json::from_slice(&bytes).unwrap();
        v["retry_after"] = json!(retry_after);
        v
    };
    (status, value, bytes)
}

#[test]
fn a_redirecting_upstream_is_a_failed_one_and_is_never_followed() {
    let script = |r: &UpstreamRequest, _| match host_of(r) {
        "a" => Reply::Full {
            status: 307,
            headers: vec![("location", "https://evil.example/steal".into())],
            body: Vec::new(),
        },
        _ => Reply::json(&completion("hi")),
    };
    let g = gateway(&two(2), Scripted::new(script));
    let (status, reply, _) = chat(&g, false);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "hi");
    assert_eq!(
        g.host().urls(),
        ["https://a/v1/chat/completions", "https://b/v1/chat/completions"]
    );

    let only_a = r#"[{"name": "a", "base_url": "https://a/v1", "models": {"*": "*"}}]"#;
    let g = gateway(only_a, Scripted::new(script));
    let (status, reply, _) = chat(&g, false);
    assert_eq!(status, 502, "{reply}");
    assert_eq!(g.host().urls().len(), 1);
    assert!(!reply.to_string().contains("evil.example"), "{reply}");
}

#[test]
fn server_errors_are_retried_with_doubling_backoff_then_fall_back() {
    let g = gateway(
        &two(2),
        Scripted::new(|r, _| match host_of(r) {
            "a" => Reply::status(503),
            _ => Reply::json(&completion("from b")),
        }),
    );
    let (status, reply, _) = chat(&g, false);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], "from b");
    assert_eq!(g.host().urls().len(), 4, "three attempts on a, one on b");
    assert_eq!(*g.host().slept.borrow(), [100, 200], "backoff doubles");
    let log = g.host().logs.borrow()[0].clone();
    assert_eq!(log["upstream"], "b");
    assert_eq!(log["attempts"], 4);
    assert_eq!(log["failures"].as_array().unwrap().len(), 3);
}

#[test]
fn a_short_retry_after_is_waited_for_and_a_long_one_moves_on() {
    let g = gateway(
        &two(1),
        Scripted::new(|r, n| match (host_of(r), n) {
            ("a", 0) => Reply::Full {
                status: 429,
                headers: vec![("retry-after", "2".into())],
                body: Vec::new(),
            },
            _ => Reply::json(&completion("second try")),
        }),
    );
    let (status, reply, _) = chat(&g, false);
    assert_eq!(
        (status, reply["choices"][0]["message"]["content"].as_str()),
        (200, Some("second try"))
    );
    assert_eq!(*g.host().slept.borrow(), [2000], "Retry-After replaces the backoff");
    assert_eq!(g.host().urls(), ["https://a/v1/chat/completions"; 2]);

    // Over 10 s: no wait; the next upstream is tried, and when it is limited too
    // the client sees 429 with the upstream's Retry-After.
    let g = gateway(
        &two(3),
        Scripted::new(|_, _| Reply::Full {
            status: 429,
            headers: vec![("retry-after", "60".into())],
            body: Vec::new(),
        }),
    );
    let (status, reply, _) = chat(&g, false);
    assert_eq!(status, 429, "{reply}");
    assert_eq!(reply["error"]["code"], "upstream_rate_limited");
    assert_eq!(reply["retry_after"], "60");
    assert_eq!(g.host().urls().len(), 2, "one attempt on each");
    assert!(g.host().slept.borrow().is_empty());
}

#[test]
fn a_silent_upstream_times_out_and_the_next_one_answers() {
    let g = gateway(
        &two(1),
        Scripted::new(|r, _| match host_of(r) {
            "a" => Reply::Hang,
            _ => Reply::json(&completion("b")),
        }),
    );
    let (status, _, _) = chat(&g, false);
    assert_eq!(status, 200);
    assert_eq!(g.host().urls().len(), 3);
    assert!(
        g.host().slept.borrow().contains(&500),
        "the attempt timer is the upstream's timeout_ms"
    );

    let g = gateway(&two(0), Scripted::new(|_, _| Reply::Hang));
    let (status, reply, _) = chat(&g, false);
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (504, Some("upstream_timeout"))
    );
}

#[test]
fn credentials_refused_move_on_at_once_and_keys_never_reach_the_client() {
    let upstreams = r#"[{"name": "a", "base_url": "https://a/v1", "api_key_secret": "KEY", "models": {"*": "*"}, "retries": 3},
                        {"name": "b", "base_url": "https://b/v1", "api_key_secret": "KEY", "models": {"*": "*"}}]"#;
    let g = gateway(
        upstreams,
        Scripted::new(|r, _| match host_of(r) {
            "a" => Reply::status(401),
            _ => Reply::Full {
                status: 400,
                headers: Vec::new(),
                body: b"bad request from key sk-secret-key".to_vec(),
            },
        }),
    );
    let (status, reply, bytes) = chat(&g, false);
    assert_eq!(status, 400, "the upstream's client error reaches the client");
    assert_eq!(reply["error"]["code"], "upstream_rejected");
    assert_eq!(
        reply["error"]["message"], "the upstream refused the request (HTTP 400)",
        "a body that is not an OpenAI error is not shown"
    );
    assert!(!String::from_utf8_lossy(&bytes).contains("sk-secret-key"), "{reply}");
    assert_eq!(g.host().urls().len(), 2, "no retry after 401");
    let sent = &g.host().fetched.borrow()[0];
    assert!(
        sent.headers
            .contains(&("authorization".into(), "Bearer sk-secret-key".into()))
    );
}

#[test]
fn an_upstream_error_reaches_the_client_as_message_type_and_code_only() {
    let long = format!("context too long for sk-secret-key {}", "x".repeat(2000));
    let body = json!({"error": {"message": long, "type": "invalid_request_error", "code": "context_length_exceeded",
                                "internal": {"host": "gpu-17.internal", "trace": "at vllm/serve.py:1234"}}});
    let upstreams = r#"[{"name": "a", "base_url": "https://a/v1", "api_key_secret": "KEY", "models": {"*": "*"}}]"#;
    let g = gateway(
        upstreams,
        Scripted::new(move |_, _| Reply::Full {
            status: 400,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }),
    );
    let (status, reply, bytes) = chat(&g, false);
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["code"], "context_length_exceeded");
    assert_eq!(reply["error"]["type"], "invalid_request_error");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("context too long for *** xxx"), "{message}");
    assert!(message.chars().count() <= 500);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("gpu-17") && !text.contains("serve.py") && !text.contains("sk-secret"),
        "{text}"
    );
}

fn delta(text: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {"content": text}}]})
}

#[test]
fn a_stream_that_breaks_ends_with_an_error_event_not_a_silent_truncation() {
    type Chunks = Vec<Result<Vec<u8>, String>>;
    let cases: [(Chunks, bool, &str); 4] = [
        (vec![sse(&delta("Hel")), Err("reset".into())], false, "upstream_broken"),
        (vec![sse(&delta("Hel"))], false, "upstream_ended_early"),
        (vec![sse(&delta("Hel"))], true, "upstream_idle"),
        (
            vec![sse(&delta("Hel")), Ok(b"data: {not json\n\n".to_vec())],
            false,
            "upstream_malformed",
        ),
    ];
    for (chunks, then_hang, code) in cases {
        let chunks = std::cell::RefCell::new(Some(chunks));
        let g = gateway(
            &two(1),
            Scripted::new(move |_, _| Reply::Stream {
                chunks: chunks.borrow_mut().take().unwrap_or_default(),
                then_hang,
            }),
        );
        let (status, _, body) = chat(&g, true);
        assert_eq!(status, 200, "{code}: the stream had started");
        let events = events(&body);
        assert_eq!(events.len(), 2, "{code}: {events:?}");
        assert_eq!(serde_json::from_str::<Value>(&events[0]).unwrap(), delta("Hel"));
        let last: Value = serde_json::from_str(&events[1]).unwrap();
        assert_eq!(last["error"]["code"], code, "{last}");
        assert_eq!(g.host().urls().len(), 1, "{code}: a started stream is never retried");
        assert_eq!(g.host().logged("stream_end").unwrap()["outcome"], code);
    }
}

#[test]
fn a_stream_whose_first_byte_never_comes_falls_back() {
    let g = gateway(
        &two(0),
        Scripted::new(|r, _| match host_of(r) {
            "a" => Reply::Stream {
                chunks: Vec::new(),
                then_hang: true,
            },
            _ => Reply::Stream {
                chunks: vec![sse(&delta("ok")), Ok(b"data: [DONE]\n\n".to_vec())],
                then_hang: false,
            },
        }),
    );
    let (status, _, body) = chat(&g, true);
    assert_eq!(status, 200);
    assert_eq!(events(&body).last().unwrap(), "[DONE]");
    assert_eq!(g.host().urls().len(), 2);
}
