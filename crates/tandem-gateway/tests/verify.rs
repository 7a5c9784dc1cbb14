//! `/v1/verify` on a scripted host: a completions upstream whose "target"
//! picks `(t * 3 + 1) % 50` after token `t`, and an in-process target engine
//! giving distributions. Checks what is sent upstream, what sessions keep,
//! and every refusal.

mod common;

use common::{Reply, Scripted};
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};
use std::rc::Rc;
use tandem_decoding::speculative::round::TargetScores;
use tandem_gateway::{
    Body, Gateway, GatewayConfig, LocalState, Request, Response, ScoreError, Scored, TargetScorer, UpstreamRequest,
};
use tandem_protocol::verify::{TargetStats, VerifyRequest};

fn target_choice(t: u32) -> u32 {
    (t * 3 + 1) % 50
}

/// A host whose only upstream is a completions server with prompt
/// log-probabilities (or, when `broken`, one that answers without them).
fn completions_target(broken: bool) -> Scripted {
    Scripted::new(move |request: &UpstreamRequest, _| {
        assert!(request.url.ends_with("/v1/completions"), "{}", request.url);
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let prompt: Vec<u32> = serde_json::from_value(body["prompt"].clone()).unwrap();
        let mut logprobs = vec![Value::Null];
        for w in prompt.windows(2) {
            let best = target_choice(w[0]);
            logprobs.push(
                json!({ w[1].to_string(): {"logprob": -1.0, "rank": if w[1] == best { 1 } else { 2 }},
                                   best.to_string(): {"logprob": -0.1, "rank": 1} }),
            );
        }
        let next = target_choice(*prompt.last().unwrap());
        Reply::json(&if broken {
            json!({"choices": [{"text": "x"}]})
        } else {
            json!({"choices": [{"prompt_logprobs": logprobs, "logprobs": {"tokens": [format!("token_id:{next}")]}}]})
        })
    })
}

/// An in-process target for model "local": uniform over 4 tokens, no session memory beyond 100.
struct Uniform;

impl TargetScorer for Uniform {
    fn completions<'a>(&'a self, body: &'a [u8]) -> LocalBoxFuture<'a, Response> {
        Box::pin(async move { Response::json(200, &json!({"echo": body.len()})) })
    }

    fn serves(&self, model: &str) -> bool {
        model == "local"
    }

    fn models(&self) -> Vec<String> {
        vec!["local".into()]
    }

    fn score<'a>(&'a self, round: &'a VerifyRequest) -> LocalBoxFuture<'a, Result<Scored, ScoreError>> {
        Box::pin(async move {
            if round.base > 100 {
                return Err(ScoreError::SessionLost { held: 100 });
            }
            Ok(Scored {
                scores: TargetScores::Dists(vec![vec![0.25; 4]; round.draft.len() + 1]),
                stats: TargetStats {
                    forward_tokens: round.context.len() + round.draft.len(),
                    cached_tokens: round.base,
                    forward_ms: 1.0,
                },
            })
        })
    }
}

fn gateway(host: Scripted) -> Gateway<Scripted> {
    let config = GatewayConfig::from_json(
        r#"{"upstreams": [{"name": "t", "base_url": "http://target/v1", "models": {"big": "big-upstream"}, "retries": 0}],
            "allow_anonymous": true, "limits": {"requests_per_minute": 60000, "burst": 10000}}"#,
        |_| None,
    )
    .unwrap();
    Gateway::new(config, host).with_target(Rc::new(Uniform))
}

fn post(g: &Gateway<Scripted>, body: Value) -> (u16, Value) {
    let resp: Response = futures_executor::block_on(g.handle(Request {
        method: "POST".into(),
        path: "/v1/verify".into(),
        headers: vec![],
        body: body.to_string().into_bytes(),
    }));
    let Body::Full(bytes) = resp.body else {
        panic!("streamed")
    };
    (resp.status, serde_json::from_slice(&bytes).unwrap())
}

fn round(session: &str, base: usize, context: Vec<u32>, draft: Vec<u32>) -> Value {
    json!({"model": "big", "session": session, "base": base, "context": context, "draft": draft,
           "sampling": {"temperature": 0}})
}

#[test]
fn greedy_rounds_on_a_completions_target_keep_the_session() {
    let g = gateway(completions_target(false));
    // After 5 the target picks 16, then 49, then 48: a draft [16, 49, 7] keeps two.
    let (status, reply) = post(&g, round("s", 0, vec![2, 5], vec![16, 49, 7]));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (reply["accepted"].as_u64(), reply["next"].as_u64()),
        (Some(2), Some(48))
    );
    assert_eq!(reply["session_len"], 4);
    let sent = g.host().bodies()[0].clone();
    assert_eq!(sent["model"], "big-upstream");
    assert_eq!(sent["prompt"], json!([2, 5, 16, 49, 7]));
    assert_eq!(
        (sent["prompt_logprobs"].as_u64(), sent["temperature"].as_f64()),
        (Some(1), Some(0.0))
    );
    // The next round sends only the correction; the gateway rebuilds the sequence.
    let (status, reply) = post(&g, round("s", 4, vec![48], vec![45]));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["accepted"], 1);
    assert_eq!(g.host().bodies()[1]["prompt"], json!([2, 5, 16, 49, 48, 45]));
    // A base beyond what the session holds, or an unknown session: 409.
    let (status, reply) = post(&g, round("s", 9, vec![1], vec![]));
    assert_eq!((status, reply["error"]["code"].as_str()), (409, Some("session_lost")));
    let (status, _) = post(&g, round("other", 3, vec![1], vec![]));
    assert_eq!(status, 409);
}

#[test]
fn a_session_continues_on_another_gateway_sharing_the_state() {
    // Two instances (two isolates on Workers) sharing one state: a round
    // landing on the other one builds on the session the first one kept.
    let state = Rc::new(LocalState::new(0.0, 0));
    let a = gateway(completions_target(false)).with_shared_state(state.clone());
    let b = gateway(completions_target(false)).with_shared_state(state);
    assert_eq!(post(&a, round("s", 0, vec![2, 5], vec![16, 49, 7])).0, 200);
    let (status, reply) = post(&b, round("s", 4, vec![48], vec![45]));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(b.host().bodies()[0]["prompt"], json!([2, 5, 16, 49, 48, 45]));
    // A gateway with its own state has never seen it.
    let c = gateway(completions_target(false));
    assert_eq!(post(&c, round("s", 4, vec![48], vec![45])).0, 409);
}

#[test]
fn refusals_are_clear() {
    let g = gateway(completions_target(false));
    let mut sampled = round("s", 0, vec![1], vec![2]);
    sampled["sampling"] = json!({"temperature": 0.7});
    sampled["draft_dists"] = json!([{"ids": [2], "probs": [1.0]}]);
    let (status, reply) = post(&g, sampled.clone());
    assert_eq!(status, 400);
    assert!(
        reply["error"]["message"].as_str().unwrap().contains("greedy"),
        "{reply}"
    );
    sampled["draft_dists"] = json!([]);
    assert_eq!(post(&g, sampled).0, 400, "distributions must match the draft");
    let (status, reply) = post(&g, json!({"model": "big"}));
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (400, Some("invalid_verify_request"))
    );
    let mut unknown = round("s", 0, vec![1], vec![]);
    unknown["model"] = json!("nope");
    assert_eq!(post(&g, unknown).0, 404);
    let broken = gateway(completions_target(true));
    let (status, reply) = post(&broken, round("s", 0, vec![1], vec![2]));
    assert_eq!(status, 502);
    assert!(reply["error"]["message"].as_str().unwrap().contains("prompt_logprobs"));
}

#[test]
fn an_in_process_target_judges_sampled_rounds() {
    let g = gateway(completions_target(false));
    let mut r = round("s", 0, vec![1, 2], vec![3, 3]);
    r["model"] = json!("local");
    r["sampling"] = json!({"temperature": 1.0, "seed": 9});
    // q(3) = 1 against p(3) = 0.25: each draft token is kept with probability 1/4.
    r["draft_dists"] = json!([{"ids": [3], "probs": [1.0]}, {"ids": [3], "probs": [1.0]}]);
    let mut kept = 0;
    for seed in 0..200 {
        r["sampling"]["seed"] = json!(seed);
        let (status, reply) = post(&g, r.clone());
        assert_eq!(status, 200, "{reply}");
        let accepted = reply["accepted"].as_u64().unwrap();
        if accepted < 2 {
            assert_ne!(
                reply["next"], 3,
                "a replacement comes from the residual, which excludes 3"
            );
        }
        kept += usize::from(accepted > 0);
    }
    assert!(
        (25..=80).contains(&kept),
        "first token kept {kept} times in 200 (expected about 50)"
    );
    r["base"] = json!(101);
    assert_eq!(post(&g, r).0, 409);
    assert!(g.host().fetched.borrow().is_empty(), "nothing went upstream");
}

fn call(g: &Gateway<Scripted>, path: &str, token: Option<&str>, body: &[u8]) -> Response {
    let headers = token
        .map(|t| ("authorization".to_owned(), format!("Bearer {t}")))
        .into_iter()
        .collect();
    futures_executor::block_on(g.handle(Request {
        method: "POST".into(),
        path: path.into(),
        headers,
        body: body.to_vec(),
    }))
}

#[test]
fn an_in_process_targets_completions_pass_the_same_admission() {
    let config = GatewayConfig::from_json(
        r#"{"upstreams": [{"name": "t", "base_url": "http://target/v1", "models": {"big": "big-upstream"}, "retries": 0}], "clients": [{"name": "edge", "token_secret": "EDGE"}],
            "limits": {"requests_per_minute": 60, "burst": 2}}"#,
        |name| (name == "EDGE").then(|| "edge-key".to_owned()),
    )
    .unwrap();
    let g = Gateway::new(config, completions_target(false)).with_target(Rc::new(Uniform));
    assert_eq!(call(&g, "/v1/completions", None, b"{}").status, 401);
    assert_eq!(call(&g, "/v1/completions", Some("wrong"), b"{}").status, 401);
    assert_eq!(call(&g, "/v1/completions", Some("edge-key"), b"{}").status, 200);
    let huge = vec![b' '; g.max_request_bytes() + 1];
    assert_eq!(call(&g, "/v1/completions", Some("edge-key"), &huge).status, 413);
    // The burst of two is spent (the clock of the scripted host stands still).
    let limited = call(&g, "/v1/completions", Some("edge-key"), b"{}");
    assert_eq!(limited.status, 429);
    assert!(limited.headers.iter().any(|(k, _)| k == "retry-after"));
}

#[test]
fn a_gateway_without_a_target_has_no_completions_route() {
    let config = GatewayConfig::from_json(r#"{"upstreams": [{"name": "t", "base_url": "http://target/v1", "models": {"big": "big-upstream"}, "retries": 0}], "allow_anonymous": true}"#, |_| None).unwrap();
    let g = Gateway::new(config, completions_target(false));
    assert_eq!(call(&g, "/v1/completions", None, b"{}").status, 404);
}

#[test]
fn a_busy_target_answers_503_with_retry_after() {
    let resp = ScoreError::Busy { retry_after_s: 2 }.response();
    assert_eq!(resp.status, 503);
    assert!(resp.headers.iter().any(|(k, v)| k == "retry-after" && v == "2"));
    assert_eq!(ScoreError::TimedOut(30).response().status, 504);
}

#[test]
fn a_session_belongs_to_the_client_that_made_it() {
    let config = GatewayConfig::from_json(
        r#"{"upstreams": [{"name": "t", "base_url": "http://target/v1", "models": {"big": "big-upstream"}, "retries": 0}],
            "clients": [{"name": "a", "token_secret": "A"}, {"name": "b", "token_secret": "B"}]}"#,
        |name| Some(name.to_lowercase()),
    )
    .unwrap();
    let g = Gateway::new(config, completions_target(false));
    let first = round("shared-id", 0, vec![2, 5], vec![16, 49, 7]);
    assert_eq!(
        call(&g, "/v1/verify", Some("a"), first.to_string().as_bytes()).status,
        200
    );
    // b names a's session and builds on it: the gateway holds nothing for b under that id.
    let next = round("shared-id", 4, vec![48], vec![45]);
    let resp = call(&g, "/v1/verify", Some("b"), next.to_string().as_bytes());
    let Body::Full(bytes) = resp.body else {
        panic!("streamed")
    };
    let reply: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(reply["error"]["code"], "session_lost", "{reply}");
    assert_eq!(
        call(&g, "/v1/verify", Some("a"), next.to_string().as_bytes()).status,
        200
    );
    assert_eq!(g.host().bodies().len(), 2, "b's round never reached the target");
}
