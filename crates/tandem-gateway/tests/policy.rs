//! What a client may spend upstream: the model allow-list, the `max_tokens`
//! and `n` caps, and the token budget charged with the usage the upstream
//! reports (in a reply, in a stream's last chunk, or estimated without one).

mod common;

use common::{Reply, Scripted, answer, events, post, sse};
use serde_json::{Value, json};
use std::rc::Rc;
use tandem_gateway::{Body, Gateway, GatewayConfig, LocalState, Request};

/// Client `web` (token `tw`): only model `small`, at most 100 tokens per
/// request, 1,000 tokens per hour. Client `ops` (token `to`): the gateway's
/// policy (the defaults). The only upstream maps `small` and passes any other name through.
fn gateway(host: Scripted) -> Gateway<Scripted> {
    let config = GatewayConfig::from_json(
        r#"{"upstreams": [{"name": "u", "base_url": "https://u/v1", "models": {"small": "s-1", "*": "*"}}],
            "clients": [
              {"name": "web", "token_secret": "TW", "policy": {"models": ["small"], "max_tokens": 100,
                                                               "token_budget": {"tokens": 1000, "per_seconds": 3600}}},
              {"name": "ops", "token_secret": "TO"}]}"#,
        |name| Some(if name == "TW" { "tw" } else { "to" }.to_owned()),
    )
    .unwrap();
    Gateway::new(config, host)
}

fn completion(total: Option<u64>) -> Value {
    let mut v = json!({"id": "c", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]});
    if let Some(total) = total {
        v["usage"] = json!({"prompt_tokens": total / 2, "completion_tokens": total - total / 2, "total_tokens": total});
    }
    v
}

fn chat_body(extra: Value) -> Value {
    let mut body = json!({"model": "small", "messages": [{"role": "user", "content": "hello"}]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

fn chat(g: &Gateway<Scripted>, token: &str, extra: Value) -> (u16, Value) {
    let body = chat_body(extra);
    let (status, resp, bytes) = answer(g, post("/v1/chat/completions", Some(token), &body));
    let mut v: Value = if body["stream"] == true {
        json!({"events": events(&bytes)})
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    v["retry_after"] = json!(resp.headers.iter().find(|(k, _)| k == "retry-after").map(|(_, v)| v));
    (status, v)
}

#[test]
fn a_client_reaches_only_the_models_it_is_allowed() {
    let g = gateway(Scripted::new(|_, _| Reply::json(&completion(None))));
    let (status, reply) = chat(&g, "tw", json!({"model": "gpt-expensive"}));
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (403, Some("model_not_allowed"))
    );
    assert!(g.host().fetched.borrow().is_empty(), "nothing went upstream");
    let (status, _) = chat(&g, "to", json!({"model": "gpt-expensive"}));
    assert_eq!(status, 200, "the wildcard still serves a client without an allow-list");

    let models = |token| {
        let req = Request {
            method: "GET".into(),
            path: "/v1/models".into(),
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            body: Vec::new(),
        };
        let (_, _, bytes) = answer(&g, req);
        serde_json::from_slice::<Value>(&bytes).unwrap()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(models("tw"), ["small"]);
}

#[test]
fn max_tokens_and_n_are_capped_and_filled_in() {
    let g = gateway(Scripted::new(|_, _| Reply::json(&completion(Some(10)))));
    for (extra, code) in [
        (json!({"max_tokens": 101}), "max_tokens_too_large"),
        (json!({"max_completion_tokens": 5000}), "max_tokens_too_large"),
        (json!({"n": 2}), "n_too_large"),
        (json!({"n": "2"}), "invalid_body"),
        (json!({"max_tokens": -1}), "invalid_body"),
    ] {
        let (status, reply) = chat(&g, "tw", extra.clone());
        assert_eq!((status, reply["error"]["code"].as_str()), (400, Some(code)), "{extra}");
    }
    assert!(g.host().fetched.borrow().is_empty());

    assert_eq!(chat(&g, "tw", json!({})).0, 200);
    assert_eq!(chat(&g, "tw", json!({"max_tokens": 40, "n": 1})).0, 200);
    assert_eq!(chat(&g, "to", json!({"max_tokens": null})).0, 200);
    let sent = g.host().bodies();
    assert_eq!(
        sent[0]["max_tokens"], 100,
        "a request without a cap is sent with the client's"
    );
    assert_eq!(sent[0]["model"], "s-1");
    assert_eq!(sent[1]["max_tokens"], 40);
    assert_eq!(sent[2]["max_tokens"], 4096, "the gateway's default policy");
}

#[test]
fn the_budget_is_charged_the_reported_usage_and_refuses_once_spent() {
    let g = gateway(Scripted::new(|_, _| Reply::json(&completion(Some(600)))));
    assert_eq!(chat(&g, "tw", json!({})).0, 200);
    assert_eq!(chat(&g, "tw", json!({})).0, 200, "400 tokens were left");
    let (status, reply) = chat(&g, "tw", json!({}));
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (429, Some("budget_exhausted"))
    );
    // 200 tokens in debt at 1,000 per hour: 201 tokens to refill take 724 s.
    assert_eq!(reply["retry_after"], "724");
    assert_eq!(g.host().fetched.borrow().len(), 2);
    assert_eq!(chat(&g, "to", json!({})).0, 200, "clients are separate");
    let charged: Vec<Value> = g.host().logs.borrow().iter().map(|l| l["tokens"].clone()).collect();
    assert_eq!(charged, [json!(600), json!(600), Value::Null, Value::Null]);

    g.host().now.set(g.host().now.get() + 724_000.0);
    assert_eq!(chat(&g, "tw", json!({})).0, 200, "served again after the refill");
}

/// A streamed reply, with a usage-only last chunk when the request asked for it.
fn streaming(usage_total: u64) -> Scripted {
    Scripted::new(move |request, _| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let mut chunks = vec![sse(
            &json!({"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": null}),
        )];
        if body["stream_options"]["include_usage"] == true {
            chunks.push(sse(&json!({"choices": [], "usage": {"total_tokens": usage_total}})));
        }
        chunks.push(Ok(b"data: [DONE]\n\n".to_vec()));
        Reply::Stream {
            chunks,
            then_hang: false,
        }
    })
}

#[test]
fn a_stream_asks_for_usage_charges_it_and_hides_it_from_a_client_that_did_not_ask() {
    let g = gateway(streaming(990));
    let (status, reply) = chat(&g, "tw", json!({"stream": true}));
    assert_eq!(status, 200);
    assert_eq!(
        reply["events"].as_array().unwrap().len(),
        2,
        "{reply}: the usage chunk is hidden"
    );
    assert_eq!(g.host().bodies()[0]["stream_options"]["include_usage"], true);
    let end = g.host().logged("stream_end").unwrap();
    assert_eq!(end["usage"]["total_tokens"], 990);

    let (status, reply) = chat(
        &g,
        "tw",
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    assert_eq!(status, 200, "10 tokens were left");
    let events = reply["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{reply}: a client that asked gets the usage chunk");
    assert!(events[1].as_str().unwrap().contains("\"total_tokens\":990"));
    assert_eq!(
        chat(&g, "tw", json!({"stream": true})).0,
        429,
        "both streams were charged"
    );
}

#[test]
fn a_stream_without_usage_is_charged_what_it_could_have_cost() {
    // An upstream that ignores stream_options: no usage chunk ever comes.
    let g = gateway(Scripted::new(|_, _| Reply::Stream {
        chunks: vec![
            sse(&json!({"choices": [{"index": 0, "delta": {"content": "hi"}}]})),
            Ok(b"data: [DONE]\n\n".to_vec()),
        ],
        then_hang: false,
    }));
    // Each request could produce 100 tokens (its cap) plus its prompt: ten of them fit in 1,000 tokens.
    let served = (0..12)
        .take_while(|_| chat(&g, "tw", json!({"stream": true})).0 == 200)
        .count();
    assert!(
        (8..=9).contains(&served),
        "{served} streams served on a 1,000-token budget"
    );
}

#[test]
fn parallel_streams_cannot_spend_one_balance_twice_and_are_settled_when_they_end() {
    let g = gateway(streaming(10));
    let request = || post("/v1/chat/completions", Some("tw"), &chat_body(json!({"stream": true})));
    // Each stream reserves what it could cost (its prompt and 100 tokens) before it starts:
    // streams still running hold their reservations, so a 1,000-token budget admits about
    // nine (a stream is admitted while the balance is at least one token).
    let mut running = Vec::new();
    let refused = loop {
        let resp = futures_executor::block_on(g.handle(request()));
        if resp.status != 200 || running.len() > 20 {
            break resp;
        }
        running.push(resp);
    };
    assert_eq!(refused.status, 429);
    assert!((8..=9).contains(&running.len()), "{} streams admitted", running.len());
    // Each cost 10 tokens: as they end, the rest of each reservation comes back.
    for resp in running {
        let Body::Stream(s) = resp.body else {
            panic!("not a stream")
        };
        futures_executor::block_on(futures_util::StreamExt::collect::<Vec<_>>(s));
    }
    assert_eq!(chat(&g, "tw", json!({"stream": true})).0, 200);
    let tokens: Vec<Value> = g
        .host()
        .logs
        .borrow()
        .iter()
        .filter(|l| l["event"] == "stream_end")
        .map(|l| l["usage"]["total_tokens"].clone())
        .collect();
    assert!(tokens.iter().all(|t| t == 10), "{tokens:?}");
}

#[test]
fn gateways_sharing_state_share_a_budget() {
    let state = Rc::new(LocalState::new(0.0, 0));
    let instance =
        || gateway(Scripted::new(|_, _| Reply::json(&completion(Some(600))))).with_shared_state(state.clone());
    let (a, b) = (instance(), instance());
    assert_eq!(chat(&a, "tw", json!({})).0, 200);
    assert_eq!(chat(&b, "tw", json!({})).0, 200, "400 tokens were left");
    assert_eq!(chat(&a, "tw", json!({})).0, 429, "b's spending counts on a");
    assert_eq!(chat(&b, "tw", json!({})).0, 429);
}

#[test]
fn a_refused_upstream_request_costs_nothing() {
    let g = gateway(Scripted::new(|_, n| {
        if n < 12 {
            Reply::status(400)
        } else {
            Reply::json(&completion(Some(900)))
        }
    }));
    for _ in 0..12 {
        assert_eq!(chat(&g, "tw", json!({})).0, 400);
    }
    assert_eq!(
        chat(&g, "tw", json!({})).0,
        200,
        "twelve refusals reserved and gave back 1,500 tokens"
    );
}
