//! `LocalModel.speculate`: speculative decoding with this model as the
//! drafter and a verifier across the link (the edge worker's `/v1/verify`).
//!
//! Each round drafts up to `draftTokens` tokens greedily, hands the
//! `/v1/verify` request to the caller's `verify` function (which does the
//! fetch, so that authentication, sealing and aborting stay in JavaScript),
//! and keeps the accepted prefix plus the target's own next token. The
//! output is exactly the target's greedy output. Rounds are sequential: the
//! browser's single thread cannot draft while it awaits the reply.

use crate::model::{LocalModel, js_error, last_logits};
use serde::{Deserialize, Serialize};
use tandem_decoding::chat::Message;
use tandem_decoding::sampling::argmax;
use tandem_decoding::speculative::Verdict;
use tandem_decoding::speculative::pipeline::Pipeline;
use tandem_engine::reusable_prefix;
use tandem_models::KvCache;
use tandem_protocol::verify::{VerifyReply, VerifyRequest, VerifySampling};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// TypeScript declarations of what `speculate` takes and reports.
#[wasm_bindgen(typescript_custom_section)]
pub const TS_SPECULATE_TYPES: &str = r#"
/** Settings of `LocalModel.speculate`. */
export interface SpeculateOptions {
  /** The target model's name, as the verifier knows it. */
  model: string;
  /** Unique per generation: the verifier keeps the target's cache under it. */
  session: string;
  /** Default 128. */
  maxTokens?: number;
  /** Draft tokens per round (default 4, at most 16). */
  draftTokens?: number;
}

/** One verified round, for display: which drafted pieces the target kept. */
export interface SpeculationRound {
  /** The drafted pieces that were sent, in order. */
  drafted: string[];
  /** How many of them the target accepted (a prefix). */
  accepted: number;
  /** The target's own next token. */
  next: string;
  /** Text confirmed by this round (may lag the pieces by an incomplete character). */
  text: string;
}

/** What `speculate` resolves to. */
export interface SpeculationResult {
  text: string;
  tokens: number[];
  rounds: number;
  /** Draft tokens sent and accepted over all rounds. */
  drafted: number;
  accepted: number;
  stopReason: "stop" | "max_tokens";
  /** Times the verifier had lost the session and the context was resent. */
  resent: number;
}
"#;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    model: String,
    session: String,
    max_tokens: Option<usize>,
    draft_tokens: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Round<'a> {
    drafted: Vec<String>,
    accepted: usize,
    next: String,
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    text: String,
    tokens: Vec<u32>,
    rounds: usize,
    drafted: usize,
    accepted: usize,
    stop_reason: &'static str,
    resent: usize,
}

/// The drafter's KV cache and the tokens it holds.
struct DraftCache {
    cache: KvCache,
    tokens: Vec<u32>,
}

impl DraftCache {
    /// The greedy next token after `context`, reusing the cached prefix.
    async fn next(&mut self, model: &tandem_models::Model, context: &[u32]) -> Result<u32, JsError> {
        let keep = reusable_prefix(&self.tokens, context);
        self.cache.truncate(keep);
        let logits = last_logits(model, &context[keep..], &mut self.cache).await?;
        self.tokens = context.to_vec();
        Ok(argmax(&logits) as u32)
    }
}

#[wasm_bindgen]
impl LocalModel {
    /// Replies to `messages` by speculative decoding: this model drafts and
    /// `verify(request)` checks each draft against the target. `verify` must
    /// POST the request to `/v1/verify` and resolve to the reply's JSON, or
    /// to `null` when the verifier answered 409 (session lost: the context is
    /// resent). `onRound` (optional) sees each round. Greedy only.
    #[wasm_bindgen(unchecked_return_type = "SpeculationResult")]
    pub async fn speculate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ChatMessage[]")] messages: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SpeculateOptions")] options: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(request: object) => Promise<object | null>")] verify: js_sys::Function,
        #[wasm_bindgen(unchecked_optional_param_type = "(round: SpeculationRound) => void")] on_round: JsValue,
    ) -> Result<JsValue, JsError> {
        let engine = self.engine()?;
        let messages: Vec<Message> =
            serde_wasm_bindgen::from_value(messages).map_err(|e| JsError::new(&format!("invalid messages: {e}")))?;
        let options: Options = serde_wasm_bindgen::from_value(options)
            .map_err(|e| JsError::new(&format!("invalid SpeculateOptions: {e}")))?;
        let max_tokens = options.max_tokens.unwrap_or(128).max(1);
        let k = options.draft_tokens.unwrap_or(4).clamp(1, 16);
        let on_round = on_round.dyn_into::<js_sys::Function>().ok();
        let prompt = engine
            .tokenizer()
            .encode(&engine.template().render(&messages).map_err(js_error)?)
            .map_err(js_error)?;
        if prompt.is_empty() {
            return Err(JsError::new("the prompt is empty"));
        }
        let stops = engine.stop_ids();
        let mut drafter = DraftCache {
            cache: engine.model().new_cache(),
            tokens: Vec::new(),
        };
        let mut pipeline = Pipeline::new(prompt);
        let (mut held, mut emitted, mut resent) = (0usize, 0usize, 0usize);
        let mut out: Vec<u32> = Vec::new();
        let mut stop_reason = "max_tokens";
        while out.len() < max_tokens {
            let want = k.min(max_tokens - out.len() - 1);
            while pipeline.pending() < want && !pipeline.last_generated().is_some_and(|t| stops.contains(&t)) {
                let token = drafter.next(engine.model(), &pipeline.draft_context()).await?;
                pipeline.push_draft(token, Vec::new());
            }
            let sent = pipeline
                .send(want)
                .ok_or_else(|| JsError::new("a round is already in flight"))?;
            let mut request = VerifyRequest {
                model: options.model.clone(),
                session: options.session.clone(),
                base: held,
                context: pipeline.committed()[held..].to_vec(),
                draft: sent.tokens.clone(),
                draft_dists: None,
                sampling: VerifySampling {
                    temperature: 0.0,
                    top_k: None,
                    top_p: None,
                    seed: 0,
                },
            };
            let reply = loop {
                match call_verify(&verify, &request).await? {
                    Some(reply) => break reply,
                    None if request.base > 0 => {
                        resent += 1;
                        request.base = 0;
                        request.context = pipeline.committed().to_vec();
                    }
                    None => return Err(JsError::new("the verifier lost the session of a full resend")),
                }
            };
            let fresh = pipeline
                .receive(Verdict {
                    accepted: reply.accepted,
                    next: reply.next,
                })
                .map_err(js_error)?;
            held = reply.checked_session_len(&request).map_err(|e| JsError::new(&e))?;
            for &token in &fresh {
                if stops.contains(&token) {
                    stop_reason = "stop";
                    break;
                }
                out.push(token);
                if out.len() >= max_tokens {
                    break;
                }
            }
            let text = engine.tokenizer().decode(&out).map_err(js_error)?;
            let new_text = match text.get(emitted..) {
                Some(t) if !text.ends_with('\u{FFFD}') => t.to_owned(),
                _ => String::new(),
            };
            emitted += new_text.len();
            if let Some(f) = &on_round {
                let piece = |t: u32| engine.tokenizer().decode(&[t]).unwrap_or_default();
                let round = Round {
                    drafted: sent.tokens.iter().map(|&t| piece(t)).collect(),
                    accepted: reply.accepted,
                    next: if stops.contains(&reply.next) {
                        String::new()
                    } else {
                        piece(reply.next)
                    },
                    text: &new_text,
                };
                let value = round
                    .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
                    .map_err(js_error)?;
                f.call1(&JsValue::NULL, &value)
                    .map_err(|e| JsError::new(&format!("onRound threw: {e:?}")))?;
            }
            if stop_reason == "stop" {
                break;
            }
        }
        let text = engine.tokenizer().decode(&out).map_err(js_error)?;
        let stats = pipeline.stats();
        Outcome {
            text,
            tokens: out,
            rounds: stats.rounds,
            drafted: stats.sent,
            accepted: stats.accepted,
            stop_reason,
            resent,
        }
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_error)
    }
}

/// Calls the caller's `verify` and awaits its promise; `None` is a lost session.
async fn call_verify(verify: &js_sys::Function, request: &VerifyRequest) -> Result<Option<VerifyReply>, JsError> {
    let value = request
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_error)?;
    let promise = verify
        .call1(&JsValue::NULL, &value)
        .map_err(|e| JsError::new(&format!("verify threw: {}", describe(&e))))?;
    let reply = JsFuture::from(js_sys::Promise::resolve(&promise))
        .await
        .map_err(|e| JsError::new(&format!("verify failed: {}", describe(&e))))?;
    if reply.is_null() || reply.is_undefined() {
        return Ok(None);
    }
    serde_wasm_bindgen::from_value(reply)
        .map(Some)
        .map_err(|e| JsError::new(&format!("the verifier's reply is malformed: {e}")))
}

/// The message of a thrown JavaScript value.
fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
