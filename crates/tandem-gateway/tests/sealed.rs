//! `POST /v1/sealed` before and around decryption: the per-address rate
//! limit that runs before any key work, the bounded replay window, and the
//! sender address that a client cannot forge.

mod common;

use common::{Reply, Scripted, answer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;
use tandem_gateway::{Gateway, GatewayConfig, LocalState, PEER_HEADER, Request, SharedState};
use tandem_protocol::sealed::InnerRequest;
use tandem_seal::{ServerKey, seal_request};

fn gateway(limits: &str, seal: &str) -> (Gateway<Scripted>, tandem_seal::KeyConfig) {
    let (key, secret) = ServerKey::generate(1);
    (gateway_with_secret(limits, seal, &secret), key.config())
}

fn gateway_with_secret(limits: &str, seal: &str, secret: &str) -> Gateway<Scripted> {
    let config = GatewayConfig::from_json(
        &format!(
            r#"{{"upstreams": [{{"name": "u", "base_url": "https://u/v1", "models": {{"m": "m"}}}}],
                "allow_anonymous": true, "limits": {limits},
                "seal": {{"keys": [{{"key_id": 1, "secret": "SEAL"}}]{seal}}}}}"#
        ),
        |_| Some(secret.to_owned()),
    )
    .unwrap();
    Gateway::new(config, Scripted::new(|_, _| Reply::status(500)))
}

fn sealed(body: Vec<u8>, peer: &str) -> Request {
    Request {
        method: "POST".into(),
        path: "/v1/sealed".into(),
        headers: vec![(PEER_HEADER.into(), "forged".into())],
        body,
    }
    .with_peer(Some(peer.into()))
}

fn health(key: &tandem_seal::KeyConfig, now: f64) -> Vec<u8> {
    let inner = InnerRequest {
        ts: now,
        method: "GET".into(),
        path: "/health".into(),
        headers: BTreeMap::new(),
        body: String::new(),
    };
    seal_request(key, &serde_json::to_vec(&inner).unwrap()).unwrap().body
}

fn code(g: &Gateway<Scripted>, req: Request) -> (u16, Option<String>) {
    let (status, _, body) = answer(g, req);
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
    (status, code)
}

#[test]
fn one_address_is_limited_before_any_decryption() {
    let (g, _) = gateway(r#"{"peer_requests_per_minute": 1, "peer_burst": 3}"#, "");
    let junk = vec![0u8; 200];
    for _ in 0..3 {
        assert_eq!(
            code(&g, sealed(junk.clone(), "203.0.113.7")).1.as_deref(),
            Some("seal_malformed")
        );
    }
    let (status, c) = code(&g, sealed(junk.clone(), "203.0.113.7"));
    assert_eq!((status, c.as_deref()), (429, Some("rate_limited")));
    assert_eq!(
        code(&g, sealed(junk, "198.51.100.1")).1.as_deref(),
        Some("seal_malformed"),
        "another address is not limited"
    );
    let log = g.host().logs.borrow()[3].clone();
    assert_eq!(log["outcome"], "peer_rate_limited");
}

#[test]
fn a_full_replay_window_refuses_new_requests_and_still_refuses_replays() {
    let (g, key) = gateway("{}", r#", "window_ms": 1000, "max_remembered": 2"#);
    let now = g.host().now.get();
    let first = health(&key, now);
    assert_eq!(code(&g, sealed(first.clone(), "a")).0, 200);
    assert_eq!(code(&g, sealed(health(&key, now), "a")).0, 200);
    let (status, c) = code(&g, sealed(health(&key, now), "a"));
    assert_eq!((status, c.as_deref()), (503, Some("seal_busy")));
    assert_eq!(code(&g, sealed(first, "a")).1.as_deref(), Some("seal_replay"));
    // Twice the window later the remembered requests are forgotten: there is room again.
    g.host().now.set(now + 2001.0);
    assert_eq!(code(&g, sealed(health(&key, now + 2001.0), "a")).0, 200);
}

#[test]
fn instances_sharing_state_refuse_each_others_replays_and_share_rate_limits() {
    let (key, secret) = ServerKey::generate(1);
    let state: Rc<dyn SharedState> = Rc::new(LocalState::new(300_000.0, 1000));
    let limits = r#"{"requests_per_minute": 1, "burst": 3}"#;
    let a = gateway_with_secret(limits, "", &secret).with_shared_state(Rc::clone(&state));
    let b = gateway_with_secret(limits, "", &secret).with_shared_state(state);
    let now = a.host().now.get();
    let first = health(&key.config(), now);
    assert_eq!(code(&a, sealed(first.clone(), "x")).0, 200);
    assert_eq!(
        code(&b, sealed(first, "x")).1.as_deref(),
        Some("seal_replay"),
        "the replay went to the other instance"
    );
    // Three requests of one client's burst, spread over both instances: the fourth is limited.
    let models = || Request {
        method: "GET".into(),
        path: "/v1/models".into(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    assert_eq!(code(&a, models()).0, 200);
    assert_eq!(code(&b, models()).0, 200);
    assert_eq!(code(&a, models()).0, 200);
    assert_eq!(code(&b, models()).1.as_deref(), Some("rate_limited"));
    // Alone, an instance keeps its own state: the same replay passes a fresh one.
    let c = gateway_with_secret(limits, "", &secret);
    assert_eq!(code(&c, sealed(health(&key.config(), now), "x")).0, 200);
}

#[test]
fn a_client_cannot_choose_its_own_address() {
    let req = sealed(Vec::new(), "192.0.2.1");
    let peers: Vec<_> = req.headers.iter().filter(|(k, _)| k == PEER_HEADER).collect();
    assert_eq!(peers, [&(PEER_HEADER.to_owned(), "192.0.2.1".to_owned())]);
    let without = req.with_peer(None);
    assert!(without.header(PEER_HEADER).is_none());
}
