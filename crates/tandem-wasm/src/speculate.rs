//! `LocalModel.speculate`: speculative decoding with this model as the
//! drafter and a verifier across the link (the edge worker's `/v1/verify`).
//!
//! A thin async loop around `tandem_decoding::speculative::Speculation`, the
//! state machine the native client drives too: it decides what to draft,
//! when to send a round, how long drafts are and when to resend. This loop
//! runs the drafter, hands each `/v1/verify` round to the caller's `verify`
//! function (which does the fetch, so that authentication, sealing and
//! aborting stay in JavaScript) and reports back. While a round is in flight
//! it keeps drafting (pipelining) and takes the reply as soon as its promise
//! has settled. Greedy output is exactly the target's greedy output; sampled
//! rounds are exact rejection sampling.

use crate::js_types::{SpeculateOptions, SpeculationResult, SpeculationRound, SpeculationStop};
use crate::model::{LocalModel, js_error, last_logits};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tandem_decoding::chat::Message;
use tandem_decoding::sampling::{Sampler, SamplingConfig};
use tandem_decoding::speculative::{CloudTokens, DraftPolicy, Finish, Speculation, SpeculationConfig, Step};
use tandem_decoding::text::TextDelta;
use tandem_engine::reusable_prefix;
use tandem_models::KvCache;
use tandem_protocol::verify::{VerifyReply, VerifyRequest};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The drafter's KV cache, the tokens it holds and its sampler.
struct Drafter {
    cache: KvCache,
    tokens: Vec<u32>,
    sampler: Sampler,
}

impl Drafter {
    /// The next token after `context` (reusing the cached prefix) and the
    /// distribution it was drawn from (empty when greedy).
    async fn next(&mut self, model: &tandem_models::Model, context: &[u32]) -> Result<(u32, Vec<f32>), JsError> {
        let keep = reusable_prefix(&self.tokens, context);
        self.cache.truncate(keep);
        let logits = last_logits(model, &context[keep..], &mut self.cache).await?;
        self.tokens = context.to_vec();
        Ok(self.sampler.draft(&logits))
    }
}

/// A round on its way: the caller's promise as a future, and when it was sent.
struct InFlight {
    round: VerifyRequest,
    reply: JsFuture,
    sent_at: f64,
}

impl InFlight {
    /// The promise's outcome if it has settled, without waiting.
    fn ready(&mut self) -> Option<Result<JsValue, JsValue>> {
        match Pin::new(&mut self.reply).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(outcome) => Some(outcome),
            Poll::Pending => None,
        }
    }

    /// The promise's outcome, waiting at most until `deadline` ms after the
    /// round was sent; `None` when that time came first.
    async fn settled_within(&mut self, deadline: Option<f64>) -> Result<Option<Result<JsValue, JsValue>>, JsError> {
        let Some(deadline) = deadline else {
            return Ok(Some((&mut self.reply).await));
        };
        let mut timer = JsFuture::from(sleep(deadline - (js_sys::Date::now() - self.sent_at))?);
        Ok(std::future::poll_fn(|cx| {
            if let Poll::Ready(outcome) = Pin::new(&mut self.reply).poll(cx) {
                return Poll::Ready(Some(outcome));
            }
            Pin::new(&mut timer).poll(cx).map(|_| None)
        })
        .await)
    }
}

/// A promise that resolves after `ms` (the global `setTimeout`, in a page or a worker).
fn sleep(ms: f64) -> Result<js_sys::Promise, JsError> {
    let set_timeout = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("setTimeout"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| JsError::new("this context has no setTimeout"))?;
    let mut failed = None;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        failed = set_timeout
            .call2(&JsValue::NULL, &resolve, &JsValue::from_f64(ms.max(0.0)))
            .err();
    });
    match failed {
        Some(e) => Err(JsError::new(&format!("setTimeout threw: {}", describe(&e)))),
        None => Ok(promise),
    }
}

#[wasm_bindgen]
impl LocalModel {
    /// Replies to `messages` by speculative decoding: this model drafts and
    /// `verify(request)` checks each draft against the target. `verify` must
    /// POST the request to `/v1/verify` and resolve to the reply's JSON, or
    /// to `null` when the verifier answered 409 (session lost: the context is
    /// resent). `onRound` (optional) sees each round.
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
        let options: SpeculateOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| JsError::new(&format!("invalid SpeculateOptions: {e}")))?;
        let on_round = on_round.dyn_into::<js_sys::Function>().ok();
        let prompt = engine
            .tokenizer()
            .encode(&engine.template().render(&messages).map_err(js_error)?)
            .map_err(js_error)?;
        let config = SpeculationConfig {
            model: options.model,
            session: options.session,
            max_tokens: options.max_tokens.unwrap_or(128).max(1),
            draft: match options.draft_tokens {
                Some(k) => DraftPolicy::Fixed(k.clamp(1, 16)),
                None => DraftPolicy::Adaptive {
                    min: 1,
                    max: 8,
                    draft_cost: 0.2,
                },
            },
            pipelined: options.pipelined.unwrap_or(true),
            sampling: SamplingConfig {
                temperature: options.temperature.unwrap_or(0.0),
                top_k: options.top_k,
                top_p: options.top_p,
                seed: options.seed.unwrap_or(0),
                ..SamplingConfig::greedy()
            },
            stops: engine.stop_ids().to_vec(),
            lookup: options.prompt_lookup.unwrap_or(true),
            round_timeout_ms: options.round_timeout_ms.unwrap_or(60_000.0),
        };
        // An adaptive client starts from what earlier answers against this target measured.
        let adaptive = matches!(config.draft, DraftPolicy::Adaptive { .. });
        let target = config.model.clone();
        let learned = adaptive.then(|| self.learned.borrow().get(&target).cloned()).flatten();
        let prompt_len = prompt.len();
        let mut spec = Speculation::resume(prompt, config, learned).map_err(js_error)?;
        let mut drafter = Drafter {
            cache: engine.model().new_cache(),
            tokens: Vec::new(),
            sampler: Sampler::new(spec.sampling().clone()).map_err(js_error)?,
        };
        let mut in_flight: Option<InFlight> = None;
        let mut text = TextDelta::default();
        let finish = loop {
            let step = spec.next_step();
            // The reply is in (or must be waited for): hand it to the state machine.
            let outcome = match (&step, in_flight.as_mut()) {
                (Step::Wait, Some(flight)) => match flight.settled_within(spec.deadline()).await? {
                    Some(outcome) => Some(outcome),
                    None => {
                        // No reply in time: the next step resends the round, or this fails.
                        spec.time_passed(js_sys::Date::now() - flight.sent_at)
                            .map_err(js_error)?;
                        continue;
                    }
                },
                (Step::Wait, None) => return Err(JsError::new("no round is in flight")),
                (Step::Draft { .. }, Some(flight)) => flight.ready(),
                _ => None,
            };
            if let Some(outcome) = outcome {
                let flight = in_flight.take().ok_or_else(|| JsError::new("no round is in flight"))?;
                let round_ms = js_sys::Date::now() - flight.sent_at;
                match settle(outcome)? {
                    None => spec.session_lost().map_err(js_error)?,
                    Some(reply) => {
                        let fresh = spec.verdict(&reply, Some(round_ms)).map_err(js_error)?;
                        let decoded = engine.tokenizer().decode(spec.output()).map_err(js_error)?;
                        let new_text = text.next(&decoded);
                        if let Some(f) = &on_round {
                            report_round(f, engine, &flight.round, &reply, &fresh, new_text)?;
                        }
                    }
                }
                continue;
            }
            match step {
                Step::Draft { context } => {
                    let start = js_sys::Date::now();
                    let (token, dist) = drafter.next(engine.model(), &context).await?;
                    spec.drafted(token, dist, Some(js_sys::Date::now() - start));
                }
                // A resend after a timeout replaces the attempt in flight.
                Step::Send(round) => in_flight = Some(send(&verify, round)?),
                // Settled or timed out above.
                Step::Wait => continue,
                Step::Done(finish) => break finish,
            }
        };
        if adaptive {
            self.learned.borrow_mut().insert(target, spec.draft_length().clone());
        }
        let tokens = spec.output().to_vec();
        let text = engine.tokenizer().decode(&tokens).map_err(js_error)?;
        let stats = spec.stats();
        let plain_cloud_tokens = CloudTokens::plain(prompt_len, tokens.len());
        SpeculationResult {
            text,
            passes_per_token: stats.passes_per_token(tokens.len()),
            tokens,
            rounds: stats.pipeline.rounds,
            drafted: stats.pipeline.sent,
            accepted: stats.pipeline.accepted,
            stop_reason: match finish {
                Finish::Stop => SpeculationStop::Stop,
                Finish::MaxTokens => SpeculationStop::MaxTokens,
            },
            resent: stats.resent,
            plain_rounds: stats.plain_rounds,
            plain_why: stats.plain_why,
            lookup_rounds: stats.lookup_rounds,
            lookup_sent: stats.lookup_sent,
            lookup_accepted: stats.lookup_accepted,
            draft_steps: stats.draft_steps,
            reused: stats.pipeline.reused,
            discarded: stats.pipeline.discarded,
            target_forward_ms: stats.target_forward_ms,
            round_ms: stats.round_ms,
            timed_out: stats.timed_out,
            extended: stats.extended,
            cloud_tokens: stats.cloud_tokens(),
            plain_cloud_tokens,
        }
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_error)
    }
}

/// Calls the caller's `verify` with `round` and notes when its promise settles.
fn send(verify: &js_sys::Function, round: VerifyRequest) -> Result<InFlight, JsError> {
    let value = round
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_error)?;
    let sent_at = js_sys::Date::now();
    let returned = verify
        .call1(&JsValue::NULL, &value)
        .map_err(|e| JsError::new(&format!("verify threw: {}", describe(&e))))?;
    Ok(InFlight {
        round,
        reply: JsFuture::from(js_sys::Promise::resolve(&returned)),
        sent_at,
    })
}

/// A round's settled promise as a reply; `None` is a lost session.
fn settle(outcome: Result<JsValue, JsValue>) -> Result<Option<VerifyReply>, JsError> {
    let reply = outcome.map_err(|e| JsError::new(&format!("verify failed: {}", describe(&e))))?;
    if reply.is_null() || reply.is_undefined() {
        return Ok(None);
    }
    serde_wasm_bindgen::from_value(reply)
        .map(Some)
        .map_err(|e| JsError::new(&format!("the verifier's reply is malformed: {e}")))
}

/// Shows a verified round to the caller's `onRound`.
fn report_round(
    on_round: &js_sys::Function,
    engine: &tandem_engine::Engine,
    round: &VerifyRequest,
    reply: &VerifyReply,
    fresh: &[u32],
    text: &str,
) -> Result<(), JsError> {
    let piece = |t: u32| engine.tokenizer().decode(&[t]).unwrap_or_default();
    let next = if fresh.last() == Some(&reply.next) {
        piece(reply.next)
    } else {
        String::new()
    };
    let value = SpeculationRound {
        drafted: round.draft.iter().map(|&t| piece(t)).collect(),
        accepted: reply.accepted,
        next,
        text: text.to_owned(),
    }
    .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
    .map_err(js_error)?;
    on_round
        .call1(&JsValue::NULL, &value)
        .map_err(|e| JsError::new(&format!("onRound threw: {}", describe(&e))))?;
    Ok(())
}

/// The message of a thrown JavaScript value.
fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
