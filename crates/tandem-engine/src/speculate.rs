//! The client side of speculative decoding: the drafter on this device
//! proposes tokens, a [`Verifier`] (in process, or across the network
//! through the gateway's `/v1/verify`) checks them against the target, and
//! the confirmed tokens stream out. With pipelining, drafting continues
//! while a round is in flight (see `tandem_decoding::speculative::pipeline`).

use crate::target::{Target, TargetError};
use crate::{Engine, EngineError, StopReason};
use tandem_decoding::sampling::{History, Sampler, SamplingConfig, argmax};
use tandem_decoding::speculative::pipeline::{Pipeline, PipelineStats};
use tandem_decoding::speculative::round::{self, sparse};
use tandem_decoding::speculative::{DraftLength, Verdict};
use tandem_models::KvCache;
use tandem_protocol::verify::{TargetStats, VerifyReply, VerifyRequest, VerifySampling};

/// Why a round could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The verifier no longer holds the session: resend it from the start.
    #[error("the verifier lost the session")]
    SessionLost,
    /// Anything else; speculation stops with this error.
    #[error("verification failed: {0}")]
    Failed(String),
}

/// Where drafts are verified. One round is in flight at a time.
pub trait Verifier {
    /// Starts verifying `round`.
    fn submit(&mut self, round: VerifyRequest) -> Result<(), VerifyError>;
    /// The reply, if it has arrived; never blocks.
    fn poll(&mut self) -> Option<Result<VerifyReply, VerifyError>>;
    /// Waits for the reply.
    fn wait(&mut self) -> Result<VerifyReply, VerifyError>;
}

/// Verifies in this process against a [`Target`] (the same acceptance rule as `/v1/verify`).
#[derive(Debug)]
pub struct LocalVerifier {
    target: Target,
    reply: Option<Result<VerifyReply, VerifyError>>,
}

impl LocalVerifier {
    /// A verifier over `target`.
    pub fn new(target: Target) -> Self {
        Self { target, reply: None }
    }

    /// Runs a round to its reply: validation, target scores, verdict.
    pub fn verify(target: &mut Target, req: &VerifyRequest) -> Result<VerifyReply, VerifyError> {
        round::validate(req).map_err(|e| VerifyError::Failed(e.to_string()))?;
        let scored = target.score_round(req).map_err(|e| match e {
            TargetError::SessionLost { .. } => VerifyError::SessionLost,
            other => VerifyError::Failed(other.to_string()),
        })?;
        let verdict = round::judge(req, &scored.scores).map_err(|e| VerifyError::Failed(e.to_string()))?;
        // No clock here (this crate also runs in wasm); callers time rounds.
        let stats = TargetStats {
            forward_tokens: scored.forward_tokens,
            cached_tokens: scored.cached_tokens,
            forward_ms: 0.0,
        };
        Ok(round::reply(req, verdict, stats))
    }
}

impl Verifier for LocalVerifier {
    fn submit(&mut self, round: VerifyRequest) -> Result<(), VerifyError> {
        self.reply = Some(Self::verify(&mut self.target, &round));
        Ok(())
    }

    fn poll(&mut self) -> Option<Result<VerifyReply, VerifyError>> {
        self.reply.take()
    }

    fn wait(&mut self) -> Result<VerifyReply, VerifyError> {
        self.reply
            .take()
            .unwrap_or_else(|| Err(VerifyError::Failed("no round was submitted".into())))
    }
}

/// How many tokens to draft per round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DraftPolicy {
    /// Always `k`.
    Fixed(usize),
    /// Chosen each round from the running acceptance rate, within `min..=max`
    /// (see [`DraftLength`]); `draft_cost` is a draft step's cost relative to a round.
    Adaptive {
        /// Shortest draft.
        min: usize,
        /// Longest draft.
        max: usize,
        /// A draft step's cost relative to a verification round (the
        /// starting value when a clock is given).
        draft_cost: f64,
    },
}

/// Settings of a speculative generation.
#[derive(Debug, Clone)]
pub struct SpeculateOptions {
    /// Target model name sent to the verifier.
    pub model: String,
    /// Session id, unique per generation (the verifier keeps state under it).
    pub session: String,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Draft lengths.
    pub draft: DraftPolicy,
    /// Keep drafting while a round is in flight.
    pub pipelined: bool,
    /// Sampling of the drafter and the target: greedy, or exact sampling with
    /// temperature, top-k and top-p (history rules such as the repetition penalty are
    /// ignored: see `SamplingConfig::without_history`).
    pub sampling: SamplingConfig,
    /// A clock in milliseconds. With one, the adaptive policy measures a draft
    /// step's cost against a round's instead of using the configured ratio.
    pub clock: Option<fn() -> f64>,
}

/// What a speculative generation did.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeculateReport {
    /// The generated tokens.
    pub tokens: Vec<u32>,
    /// Their text.
    pub text: String,
    /// Why it ended.
    pub stop: StopReason,
    /// Rounds, sent, accepted, reused and discarded draft tokens.
    pub pipeline: PipelineStats,
    /// Tokens the drafter ran.
    pub draft_steps: usize,
    /// Tokens the target ran in all rounds.
    pub target_forward_tokens: usize,
    /// Time the target spent in its forward passes, as the verifier reports it (ms).
    pub target_forward_ms: f64,
    /// Times the verifier lost the session and it was resent.
    pub resent: usize,
}

impl SpeculateReport {
    /// Draft tokens kept per draft token sent.
    pub fn acceptance(&self) -> f64 {
        self.pipeline.accepted as f64 / self.pipeline.sent.max(1) as f64
    }
}

/// The drafter's state: its KV cache and the tokens in it.
struct Drafter<'a> {
    engine: &'a Engine,
    cache: KvCache,
    tokens: Vec<u32>,
    sampler: Sampler,
    steps: usize,
}

impl Drafter<'_> {
    /// Drafts one more token onto `pipeline`, timing the step when there is a clock.
    fn extend(
        &mut self,
        pipeline: &mut Pipeline,
        timing: &mut Timing,
        clock: Option<fn() -> f64>,
    ) -> Result<(), EngineError> {
        let t0 = clock.map(|now| now());
        let (token, dist) = self.step(&pipeline.draft_context())?;
        if let (Some(t0), Some(now)) = (t0, clock) {
            timing.draft_ms.push(now() - t0);
        }
        pipeline.push_draft(token, dist);
        Ok(())
    }

    /// Draws one token after `context`, with the distribution it came from
    /// (empty when greedy: the verifier needs none).
    fn step(&mut self, context: &[u32]) -> Result<(u32, Vec<f32>), EngineError> {
        let keep = reusable_prefix(&self.tokens, context);
        self.cache.truncate(keep);
        let logits = self.engine.model().forward_last(&context[keep..], &mut self.cache)?;
        let t = context.len() - keep;
        let last = logits
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| EngineError::Readback(format!("{e:?}")))?;
        self.tokens = context.to_vec();
        self.steps += t;
        if self.sampler.config().temperature == 0.0 {
            return Ok((argmax(&last) as u32, Vec::new()));
        }
        let dist = self.sampler.distribution(&last, History::NONE);
        Ok((self.sampler.draw(&dist), dist))
    }
}

/// How many leading tokens of `context` a drafter's KV cache holding
/// `cached` can keep: their common prefix, less one so that the last token of
/// `context` is always run again (its logits are the next draft). `context`
/// must not be empty.
pub fn reusable_prefix(cached: &[u32], context: &[u32]) -> usize {
    cached
        .iter()
        .zip(context)
        .take_while(|(a, b)| a == b)
        .count()
        .min(context.len() - 1)
}

/// Generates a continuation of `prompt` with `drafter` drafting and
/// `verifier` verifying; `on_text` gets the confirmed text as it grows.
/// With greedy sampling the output is exactly the target's greedy output.
pub fn speculate(
    drafter: &Engine,
    verifier: &mut dyn Verifier,
    prompt: Vec<u32>,
    options: &SpeculateOptions,
    mut on_text: impl FnMut(&str),
) -> Result<SpeculateReport, EngineError> {
    if prompt.is_empty() {
        return Err(tandem_models::ModelError::Input("the prompt is empty".into()).into());
    }
    let sampling = options.sampling.without_history();
    let mut draft = Drafter {
        engine: drafter,
        cache: drafter.model().new_cache(),
        tokens: Vec::new(),
        sampler: Sampler::new(sampling.clone())?,
        steps: 0,
    };
    let mut lengths = match options.draft {
        DraftPolicy::Fixed(k) => DraftLength::new(k, k, 0.0, 0.5),
        DraftPolicy::Adaptive { min, max, draft_cost } => DraftLength::new(min, max, draft_cost, 0.6),
    };
    let mut timing = Timing::default();
    let mut pipeline = Pipeline::new(prompt);
    let mut held = 0; // tokens the verifier holds for the session
    let mut emitted = 0; // bytes of text handed to on_text
    let mut report = SpeculateReport {
        tokens: Vec::new(),
        text: String::new(),
        stop: StopReason::MaxTokens,
        pipeline: PipelineStats::default(),
        draft_steps: 0,
        target_forward_tokens: 0,
        target_forward_ms: 0.0,
        resent: 0,
    };
    let stops = drafter.stop_ids();
    let mut round_no = 0u64;
    while report.tokens.len() < options.max_tokens {
        // Draft up to k tokens (fewer near the end), then send them.
        let k = lengths.next().min(options.max_tokens - report.tokens.len() - 1);
        while pipeline.pending() < k && !ends_in_stop(&pipeline, stops) {
            draft.extend(&mut pipeline, &mut timing, options.clock)?;
        }
        let Some(sent) = pipeline.send(k) else {
            return Err(VerifyError::Failed("a round is already in flight".into()).into());
        };
        let mut request = VerifyRequest {
            model: options.model.clone(),
            session: options.session.clone(),
            base: held,
            context: pipeline.committed()[held..].to_vec(),
            draft_dists: (sampling.temperature > 0.0).then(|| sent.dists.iter().map(|d| sparse(d)).collect()),
            draft: sent.tokens,
            sampling: VerifySampling {
                temperature: sampling.temperature,
                top_k: sampling.top_k,
                top_p: sampling.top_p,
                seed: sampling.seed.wrapping_add(round_no.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            },
        };
        round_no += 1;
        let submitted = options.clock.map(|now| now());
        verifier.submit(request.clone())?;
        let reply = loop {
            // Draft ahead while the round is in flight, as long as it is worth it.
            let ahead = options.pipelined && pipeline.pending() < lengths.next() + 1 && !ends_in_stop(&pipeline, stops);
            let reply = if ahead { verifier.poll() } else { Some(verifier.wait()) };
            match reply {
                Some(Err(VerifyError::SessionLost)) if request.base > 0 => {
                    report.resent += 1;
                    request.base = 0;
                    request.context = pipeline.committed().to_vec();
                    verifier.submit(request.clone())?;
                }
                Some(r) => break r?,
                None => draft.extend(&mut pipeline, &mut timing, options.clock)?,
            }
        };
        let fresh = pipeline
            .receive(Verdict {
                accepted: reply.accepted,
                next: reply.next,
            })
            .map_err(|e| VerifyError::Failed(e.to_string()))?;
        lengths.observe(request.draft.len(), reply.accepted);
        if let (Some(t0), Some(now)) = (submitted, options.clock) {
            timing.round_ms.push(now() - t0);
            if let Some(cost) = timing.draft_cost() {
                lengths.set_draft_cost(cost);
            }
        }
        held = reply.checked_session_len(&request).map_err(VerifyError::Failed)?;
        report.target_forward_tokens += reply.stats.forward_tokens;
        report.target_forward_ms += reply.stats.forward_ms;
        for token in fresh {
            if stops.contains(&token) {
                report.stop = StopReason::Stop;
                break;
            }
            report.tokens.push(token);
            if report.tokens.len() >= options.max_tokens {
                break;
            }
        }
        let text = drafter.tokenizer().decode(&report.tokens)?;
        if !text.ends_with('\u{FFFD}')
            && let Some(fresh) = text.get(emitted..)
        {
            on_text(fresh);
            emitted = text.len();
        }
        if report.stop == StopReason::Stop {
            break;
        }
    }
    report.text = drafter.tokenizer().decode(&report.tokens)?;
    if let Some(rest) = report.text.get(emitted..).filter(|r| !r.is_empty()) {
        on_text(rest);
    }
    report.pipeline = pipeline.stats();
    report.draft_steps = draft.steps;
    Ok(report)
}

/// Measured durations, for the adaptive draft length.
#[derive(Debug, Default)]
struct Timing {
    draft_ms: Vec<f64>,
    round_ms: Vec<f64>,
}

impl Timing {
    /// Median draft step over median round (medians: the first steps include prefill).
    fn draft_cost(&self) -> Option<f64> {
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        Some(median(&self.draft_ms)? / median(&self.round_ms)?.max(1e-3))
    }
}

/// Whether the draft context already ends in a generated stop token:
/// drafting past it is wasted.
fn ends_in_stop(pipeline: &Pipeline, stops: &[u32]) -> bool {
    pipeline.last_generated().is_some_and(|t| stops.contains(&t))
}
