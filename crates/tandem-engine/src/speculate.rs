//! The client side of speculative decoding: the drafter on this device
//! proposes tokens, a [`Verifier`] (in process, or across the network
//! through the gateway's `/v1/verify`) checks them against the target, and
//! the confirmed tokens stream out. With pipelining, drafting continues
//! while a round is in flight (see `tandem_decoding::speculative::pipeline`).

use crate::target::{Target, TargetError};
use crate::{Engine, EngineError, StopReason};
use tandem_decoding::sampling::{Sampler, SamplingConfig};
use tandem_decoding::speculative::round;
use tandem_decoding::speculative::{
    DraftLength, DraftPolicy, Finish, Speculation, SpeculationConfig, SpeculationStats, Step,
};
use tandem_decoding::text::TextDelta;
use tandem_models::{KvCache, Shortlist};
use tandem_protocol::verify::{TargetStats, VerifyReply, VerifyRequest};

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

/// Where drafts are verified. One round is in flight at a time: a round
/// submitted again (after a timeout) replaces the earlier attempt, whose
/// late reply, if any, is dropped.
pub trait Verifier {
    /// Starts verifying `round`.
    fn submit(&mut self, round: VerifyRequest) -> Result<(), VerifyError>;
    /// The reply, if it has arrived; never blocks.
    fn poll(&mut self) -> Option<Result<VerifyReply, VerifyError>>;
    /// Waits for the reply, at most `timeout_ms` when given; `None` when
    /// that time passed first.
    fn wait(&mut self, timeout_ms: Option<f64>) -> Option<Result<VerifyReply, VerifyError>>;
}

/// Verifies in this process against a [`Target`] (the same acceptance rule as `/v1/verify`).
#[derive(Debug)]
pub struct LocalVerifier {
    target: Target,
    clock: Option<fn() -> f64>,
    reply: Option<Result<VerifyReply, VerifyError>>,
}

impl LocalVerifier {
    /// A verifier over `target`; with `clock` (milliseconds) its replies
    /// report the target's forward time, as `/v1/verify` does.
    pub fn new(target: Target, clock: Option<fn() -> f64>) -> Self {
        Self {
            target,
            clock,
            reply: None,
        }
    }

    /// Runs a round to its reply: validation, target scores, verdict. This
    /// crate also runs in wasm, so the clock comes from the caller (`None`:
    /// `forward_ms` is 0).
    pub fn verify(
        target: &mut Target,
        req: &VerifyRequest,
        clock: Option<fn() -> f64>,
    ) -> Result<VerifyReply, VerifyError> {
        round::validate(req).map_err(|e| VerifyError::Failed(e.to_string()))?;
        let start = clock.map(|now| now());
        let scored = target.score_round(req).map_err(|e| match e {
            TargetError::SessionLost { .. } => VerifyError::SessionLost,
            other => VerifyError::Failed(other.to_string()),
        })?;
        let verdict = round::judge(req, &scored.scores).map_err(|e| VerifyError::Failed(e.to_string()))?;
        let reply = round::reply(req, verdict, TargetStats::default());
        // A plain round may ask the target to go on by itself.
        let extended = target
            .extend_round(req, reply.session_len, verdict.next)
            .map_err(|e| VerifyError::Failed(e.to_string()))?;
        let stats = TargetStats {
            forward_tokens: scored.forward_tokens + extended.len(),
            cached_tokens: scored.cached_tokens,
            forward_ms: start.zip(clock).map_or(0.0, |(t0, now)| now() - t0),
        };
        Ok(VerifyReply { stats, ..reply }.with_extension(extended))
    }
}

impl Verifier for LocalVerifier {
    fn submit(&mut self, round: VerifyRequest) -> Result<(), VerifyError> {
        self.reply = Some(Self::verify(&mut self.target, &round, self.clock));
        Ok(())
    }

    fn poll(&mut self) -> Option<Result<VerifyReply, VerifyError>> {
        self.reply.take()
    }

    fn wait(&mut self, _timeout_ms: Option<f64>) -> Option<Result<VerifyReply, VerifyError>> {
        // Verified on submit: the reply is always in.
        Some(
            self.reply
                .take()
                .unwrap_or_else(|| Err(VerifyError::Failed("no round was submitted".into()))),
        )
    }
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
    /// Also draft by prompt lookup (n-gram matches in the conversation).
    pub lookup: bool,
    /// How long a round may go unanswered before it is sent again, once (ms;
    /// needs `clock`).
    pub round_timeout_ms: f64,
    /// Sampling of the drafter and the target: greedy, or exact sampling with
    /// temperature, top-k and top-p (history rules such as the repetition penalty are
    /// ignored: see `SamplingConfig::without_history`).
    pub sampling: SamplingConfig,
    /// With adaptive lengths: start from what an earlier answer against the
    /// same drafter and verifier measured (its report's `draft_length`).
    pub learned: Option<DraftLength>,
    /// A clock in milliseconds. With one, draft steps and rounds are timed
    /// and the adaptive policy picks lengths from measured costs (see
    /// `tandem_decoding::speculative::cost`).
    pub clock: Option<fn() -> f64>,
    /// Draft from these tokens only, and the prompt's own
    /// ([`Engine::draft_shortlist`]); `None`: the whole vocabulary.
    pub shortlist: Option<Shortlist>,
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
    /// Rounds, acceptance, draft steps, target time, resends.
    pub stats: SpeculationStats,
    /// What the draft-length model measured, to start the next answer from.
    pub draft_length: DraftLength,
}

/// The drafter's state: its KV cache and the tokens in it.
struct Drafter<'a> {
    engine: &'a Engine,
    cache: KvCache,
    tokens: Vec<u32>,
    sampler: Sampler,
    shortlist: Option<Shortlist>,
}

impl Drafter<'_> {
    /// Draws one token after `context`, with the distribution it came from
    /// (empty when greedy: the verifier needs none).
    fn step(&mut self, context: &[u32]) -> Result<(u32, Vec<f32>), EngineError> {
        let keep = reusable_prefix(&self.tokens, context);
        self.cache.truncate(keep);
        let model = self.engine.model();
        let logits = match &self.shortlist {
            Some(shortlist) => model.forward_last_shortlisted(&context[keep..], &mut self.cache, shortlist)?,
            None => model.forward_last(&context[keep..], &mut self.cache)?,
        };
        let last = logits
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| EngineError::Readback(format!("{e:?}")))?;
        self.tokens = context.to_vec();
        Ok(self.sampler.draft(&last))
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
/// A thin blocking loop around [`Speculation`], which makes every decision.
pub fn speculate(
    drafter: &Engine,
    verifier: &mut dyn Verifier,
    prompt: Vec<u32>,
    options: &SpeculateOptions,
    mut on_text: impl FnMut(&str),
) -> Result<SpeculateReport, EngineError> {
    let config = SpeculationConfig {
        model: options.model.clone(),
        session: options.session.clone(),
        max_tokens: options.max_tokens,
        draft: options.draft,
        pipelined: options.pipelined,
        sampling: options.sampling.clone(),
        stops: drafter.stop_ids().to_vec(),
        lookup: options.lookup,
        round_timeout_ms: options.round_timeout_ms,
    };
    // The conversation's own tokens join the shortlist: what an answer copies is often rare.
    let shortlist = match &options.shortlist {
        Some(list) => Some(list.with_tokens(drafter.model(), &prompt)?),
        None => None,
    };
    let mut spec = Speculation::resume(prompt, config, options.learned.clone()).map_err(failed)?;
    let mut draft = Drafter {
        engine: drafter,
        cache: drafter.model().new_cache(),
        tokens: Vec::new(),
        sampler: Sampler::new(spec.sampling().clone())?,
        shortlist,
    };
    let now = || options.clock.map(|clock| clock());
    let since = |t0: Option<f64>| t0.zip(now()).map(|(t0, t1)| t1 - t0);
    let mut text = TextDelta::default();
    let mut submitted = None;
    let mut deliver =
        |spec: &mut Speculation, reply: Result<VerifyReply, VerifyError>, submitted: Option<f64>| match reply {
            Ok(reply) => {
                spec.verdict(&reply, since(submitted)).map_err(failed)?;
                let fresh = text.next(&drafter.tokenizer().decode(spec.output())?).to_owned();
                if !fresh.is_empty() {
                    on_text(&fresh);
                }
                Ok(())
            }
            Err(VerifyError::SessionLost) => spec.session_lost().map_err(failed),
            Err(e) => Err(e.into()),
        };
    let finish = loop {
        match spec.next_step() {
            Step::Draft { context } => {
                // Drafting ahead: take the reply first if it is in.
                if spec.in_flight()
                    && let Some(reply) = verifier.poll()
                {
                    deliver(&mut spec, reply, submitted)?;
                    continue;
                }
                let t0 = now();
                let (token, dist) = draft.step(&context)?;
                spec.drafted(token, dist, since(t0));
            }
            Step::Send(round) => {
                submitted = now();
                verifier.submit(round)?;
            }
            Step::Wait => {
                // Without a clock there is no deadline: wait for the reply.
                let left = spec.deadline().zip(since(submitted)).map(|(d, w)| (d - w).max(0.0));
                match verifier.wait(left) {
                    Some(reply) => deliver(&mut spec, reply, submitted)?,
                    None => spec.time_passed(since(submitted).unwrap_or(0.0)).map_err(failed)?,
                }
            }
            Step::Done(finish) => break finish,
        }
    };
    let tokens = spec.output().to_vec();
    let all = drafter.tokenizer().decode(&tokens)?;
    let rest = text.rest(&all);
    if !rest.is_empty() {
        on_text(rest);
    }
    Ok(SpeculateReport {
        text: all,
        tokens,
        stop: match finish {
            Finish::Stop => StopReason::Stop,
            Finish::MaxTokens => StopReason::MaxTokens,
        },
        stats: spec.stats(),
        draft_length: spec.draft_length().clone(),
    })
}

fn failed(e: impl std::fmt::Display) -> EngineError {
    VerifyError::Failed(e.to_string()).into()
}
