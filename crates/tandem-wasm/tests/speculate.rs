//! The browser's speculative driver, `LocalModel.speculate`, through its real
//! interface: the tiny GGUF model (with its tokenizer) drafts on the CPU
//! backend, and `verify` is a JavaScript function answering from a scripted
//! target after a timer, so rounds are in flight while the driver drafts
//! ahead. The target is a fixed function of the context (decided once per
//! context: it keeps the drafter's token at three contexts in four), and the
//! answer must be exactly the target's greedy path, through rejections, a
//! lost session and a round that never answers; a verifier that claims more
//! than was sent is a clear error.
//! Run: `cargo test -p tandem-wasm --features models --target wasm32-unknown-unknown --test speculate`

#![cfg(feature = "models")]

use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use tandem_protocol::verify::{TargetStats, VerifyReply, VerifyRequest};
use tandem_wasm::LocalModel;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

const GGUF: &[u8] = include_bytes!("../../tandem-fuzz/corpus/gguf/tiny-llama.gguf");
const MAX_TOKENS: usize = 24;

/// What the scripted verifier does to one request (numbered from 1).
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// 409: answered with `null`.
    LoseSession,
    /// The promise never settles.
    Stall,
    /// Claims one more accepted token than the draft holds.
    OverAccept,
}

/// The scripted target and the verifier's session.
#[derive(Default)]
struct Script {
    /// The target's next token after each context it was asked about.
    decided: HashMap<Vec<u32>, u32>,
    /// The session the verifier holds.
    held: Vec<u32>,
    requests: usize,
}

impl Script {
    /// The target's choice after `context`, given that the drafter proposed
    /// `draft` there: decided once, then fixed.
    fn target(&mut self, context: &[u32], draft: Option<u32>) -> u32 {
        let n = self.decided.len();
        // Tokens below 90: never the end-of-text token (95), so every answer runs to MAX_TOKENS.
        *self.decided.entry(context.to_vec()).or_insert_with(|| match draft {
            Some(t) if t < 90 && n % 4 != 3 => t,
            Some(t) => (t + 1) % 90,
            None => (context.len() as u32 * 7 + 3) % 90,
        })
    }

    fn answer(&mut self, req: &VerifyRequest, fault: Fault) -> Option<VerifyReply> {
        if fault == Fault::LoseSession || req.base > self.held.len() {
            self.held.clear();
            return None;
        }
        let mut tokens = self.held[..req.base].to_vec();
        tokens.extend_from_slice(&req.context);
        let mut accepted = 0;
        while accepted < req.draft.len() && self.target(&tokens, Some(req.draft[accepted])) == req.draft[accepted] {
            tokens.push(req.draft[accepted]);
            accepted += 1;
        }
        let next = self.target(&tokens, req.draft.get(accepted).copied());
        self.held = tokens;
        Some(VerifyReply {
            accepted: if fault == Fault::OverAccept {
                req.draft.len() + 1
            } else {
                accepted
            },
            next,
            session_len: self.held.len(),
            stats: TargetStats::default(),
            extended: Vec::new(),
        })
    }
}

/// A JavaScript `verify(request)` over `script`, answering after a 2 ms timer;
/// `fault(n)` says what to do to the `n`th request.
fn verifier(script: Rc<RefCell<Script>>, fault: fn(usize) -> Fault) -> js_sys::Function {
    let verify = Closure::<dyn FnMut(JsValue) -> js_sys::Promise>::new(move |request: JsValue| {
        let req: VerifyRequest = serde_wasm_bindgen::from_value(request).expect("a well-formed round");
        let mut script = script.borrow_mut();
        script.requests += 1;
        let fault = fault(script.requests);
        let reply = script.answer(&req, fault);
        let value = reply.map_or(JsValue::NULL, |r| {
            r.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap()
        });
        js_sys::Promise::new(&mut |resolve, _| {
            if fault == Fault::Stall {
                return; // never settles
            }
            let value = value.clone();
            let later = Closure::once_into_js(move || resolve.call1(&JsValue::NULL, &value).unwrap());
            let set_timeout: js_sys::Function = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
                .unwrap()
                .into();
            set_timeout.call2(&JsValue::NULL, &later, &2.into()).unwrap();
        })
    });
    verify.into_js_value().into()
}

async fn speculate(
    model: &LocalModel,
    script: Rc<RefCell<Script>>,
    fault: fn(usize) -> Fault,
    options: &str,
) -> Result<serde_json::Value, String> {
    let messages = js_sys::JSON::parse(r#"[{"role":"user","content":"Count: one two three"}]"#).unwrap();
    let options = js_sys::JSON::parse(options).unwrap();
    let outcome = model
        .speculate(messages, options, verifier(script, fault), JsValue::UNDEFINED)
        .await
        .map_err(|e| String::from(js_sys::Error::from(JsValue::from(e)).message()))?;
    Ok(serde_wasm_bindgen::from_value(outcome).unwrap())
}

/// The output is the target's path: every token is the target's choice after
/// the prompt and the tokens before it.
fn assert_on_the_targets_path(script: &Script, tokens: &[u32]) {
    // The first round's context, the prompt, is the shortest the target was asked about.
    let mut context = script
        .decided
        .keys()
        .min_by_key(|c| c.len())
        .cloned()
        .expect("the target was asked");
    for (i, &t) in tokens.iter().enumerate() {
        assert_eq!(script.decided.get(&context), Some(&t), "token {i} is not the target's");
        context.push(t);
    }
}

#[wasm_bindgen_test]
async fn the_browser_driver_follows_the_target_through_rejections_lost_sessions_and_timeouts() {
    let model = LocalModel::from_gguf(GGUF.to_vec(), Some("cpu".into()), None)
        .await
        .unwrap();
    let options = format!(r#"{{"model":"t","session":"s","maxTokens":{MAX_TOKENS},"roundTimeoutMs":300}}"#);
    for (name, fault) in [
        ("clean", (|_| Fault::None) as fn(usize) -> Fault),
        ("lost", |n| if n == 3 { Fault::LoseSession } else { Fault::None }),
        ("stalled", |n| if n == 4 { Fault::Stall } else { Fault::None }),
    ] {
        for draft in ["", r#","draftTokens":3,"pipelined":false"#] {
            let script = Rc::new(RefCell::new(Script::default()));
            let options = format!("{}{draft}}}", &options[..options.len() - 1]);
            let out = speculate(&model, script.clone(), fault, &options).await.unwrap();
            let tokens: Vec<u32> = serde_json::from_value(out["tokens"].clone()).unwrap();
            assert_eq!(tokens.len(), MAX_TOKENS, "{name}: {out}");
            assert_on_the_targets_path(&script.borrow(), &tokens);
            assert_eq!(out["resent"], u64::from(name == "lost"), "{name}: {out}");
            assert_eq!(out["timedOut"], u64::from(name == "stalled"), "{name}: {out}");
            let rounds = out["rounds"].as_u64().unwrap();
            assert_eq!(out["cloudTokens"]["output"].as_u64(), Some(rounds), "{out}");
            assert_eq!(
                out["plainCloudTokens"]["output"].as_u64(),
                Some(tokens.len() as u64),
                "{out}"
            );
            // Why rounds went out plain reaches JavaScript, within the plain rounds.
            let counted: u64 = ["predicted", "realized", "probes"]
                .iter()
                .map(|k| out["plainWhy"][k].as_u64().expect("a count per reason"))
                .sum();
            assert!(counted <= out["plainRounds"].as_u64().unwrap(), "{out}");
        }
    }
}

#[wasm_bindgen_test]
async fn a_verifier_that_never_answers_or_overclaims_is_a_clear_error() {
    let model = LocalModel::from_gguf(GGUF.to_vec(), Some("cpu".into()), None)
        .await
        .unwrap();
    let options = r#"{"model":"t","session":"s","maxTokens":8,"draftTokens":2,"roundTimeoutMs":50}"#;
    let script = Rc::new(RefCell::new(Script::default()));
    let err = speculate(&model, script, |_| Fault::Stall, options).await.unwrap_err();
    assert!(err.contains("within 50 ms (2 attempts)"), "{err}");
    let script = Rc::new(RefCell::new(Script::default()));
    let err = speculate(&model, script, |_| Fault::OverAccept, options)
        .await
        .unwrap_err();
    assert!(err.contains("accepted 3 tokens of a 2-token draft"), "{err}");
}
