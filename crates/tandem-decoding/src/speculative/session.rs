//! A speculative generation, client side, as one state machine without I/O.
//!
//! The driver owns the drafter and the link; [`Speculation`] owns every
//! decision. The driver asks [`Speculation::next_step`] what to do and reports
//! back:
//!
//! | [`Step`] | the driver | then reports |
//! | --- | --- | --- |
//! | `Draft { context }` | runs the drafter on `context` | [`Speculation::drafted`] |
//! | `Send(round)` | sends the `/v1/verify` round | the reply to [`Speculation::verdict`], a 409 to [`Speculation::session_lost`] |
//! | `Wait` | waits for the round in flight, at most until [`Speculation::deadline`] | as for `Send`, or [`Speculation::time_passed`] |
//! | `Done(finish)` | stops | — |
//!
//! When drafting does not pay, rounds go out with an empty draft, and over a
//! long link they ask the target to continue by itself (`extend`, sized by
//! [`DraftLength::extension`]) so that the answer does not pay a round trip
//! per token.
//!
//! A round whose reply has not come within `round_timeout_ms` is sent again
//! (the verifier truncates to the round's `base`, so a round that did arrive
//! the first time is simply redone), once; a second timeout ends the answer
//! with [`SpeculationError::TimedOut`]. The driver must ignore a late reply
//! to the abandoned attempt.
//!
//! While a round is in flight and pipelining is on, `next_step` answers `Draft`
//! (drafting ahead); a driver that can poll its link checks for the reply
//! first. With adaptive lengths and timed rounds it drafts ahead only once
//! drafted rounds have realized fewer milliseconds per token than plain ones
//! ([`DraftLength::pipelining_pays`]): a fresh client does not spend shared
//! cores on drafts before it knows that drafting pays.
//!
//! A fresh adaptive client sends its first rounds plain while it times the
//! target (see [`super::cost`]), and meanwhile times the drafter: it asks for
//! [`DRAFT_TIMING_STEPS`] steps on the prompt's first tokens, one token each
//! (the first may pay one-off costs such as compiling kernels, so only the
//! last is timed). Their tokens are not drafts; the drafter's cache keeps
//! them as the start of the prompt it reads if it ever drafts.
//!
//! Greedy and exact sampled rounds, pipelining, the draft length (down to
//! plain rounds, see [`super::cost`]), prompt-lookup drafts (see
//! [`super::lookup`]), stop tokens, `max_tokens` and the resend after a lost
//! session all live here, once, for the native driver
//! (`tandem_engine::speculate`) and the browser's (`LocalModel.speculate`).

use super::cost::{CATCH_UP_MIN, Choice, DraftLength, PlainReason};
use super::lookup;
use super::pipeline::{Pipeline, PipelineStats};
use super::round::sparse;
use super::{SpeculationError, Verdict};
use crate::sampling::SamplingConfig;
use tandem_protocol::verify::{SparseDist, VerifyReply, VerifyRequest, VerifySampling};

/// The largest integer a JavaScript number holds exactly (2^53 − 1).
const JS_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How many tokens to draft per round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DraftPolicy {
    /// Always `k` (at least 1).
    Fixed(usize),
    /// Chosen each round by [`DraftLength`] within `min..=max`, or no draft
    /// at all when measured costs say drafting does not pay.
    Adaptive {
        /// Shortest draft.
        min: usize,
        /// Longest draft.
        max: usize,
        /// A draft step's cost relative to a round, until both are timed.
        draft_cost: f64,
    },
}

/// Settings of a speculative generation.
#[derive(Debug, Clone)]
pub struct SpeculationConfig {
    /// Target model name sent to the verifier.
    pub model: String,
    /// Session id, unique per generation (the verifier keeps state under it).
    pub session: String,
    /// Most tokens to generate (at least 1).
    pub max_tokens: usize,
    /// Draft lengths.
    pub draft: DraftPolicy,
    /// Keep drafting while a round is in flight.
    pub pipelined: bool,
    /// Sampling of drafter and target: greedy, or exact sampling with
    /// temperature, top-k and top-p (history rules are dropped: see
    /// [`SamplingConfig::without_history`]).
    pub sampling: SamplingConfig,
    /// Tokens that end the answer (not emitted).
    pub stops: Vec<u32>,
    /// Also propose drafts by prompt lookup (see [`super::lookup`]): when
    /// the conversation's own text offers at least as many tokens as the
    /// model would draft, they are sent instead, without a model step.
    pub lookup: bool,
    /// How long a round may go unanswered before it is sent again (ms).
    pub round_timeout_ms: f64,
}

/// One-token drafter steps a fresh adaptive client runs to time the drafter
/// before it drafts (see the module docs).
pub const DRAFT_TIMING_STEPS: usize = 2;

/// How often a round that timed out is sent again before the answer fails.
const TIMEOUT_RESENDS: usize = 1;

/// What the target was paid for, counted as a provider bills: positions it
/// ran are prompt (input) tokens, and each pass yields one output token (a
/// plain round's continuation one per token it generated).
/// Against [`CloudTokens::plain`], this is what speculation saves or costs
/// in cloud money at the provider's input and output prices.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CloudTokens {
    /// Positions the target read (prompt, corrections and drafts).
    pub input: usize,
    /// Tokens the target generated: one per pass.
    pub output: usize,
}

impl CloudTokens {
    /// A plain cloud answer of `generated` tokens to `prompt` tokens.
    pub fn plain(prompt: usize, generated: usize) -> Self {
        Self {
            input: prompt,
            output: generated,
        }
    }

    /// The price at `input_price` and `output_price` per token (or per
    /// million: the unit carries through).
    pub fn price(&self, input_price: f64, output_price: f64) -> f64 {
        self.input as f64 * input_price + self.output as f64 * output_price
    }
}

/// Plain rounds counted by why they went out without a draft (see
/// [`PlainReason`]): a report's answer to "why did it stop drafting?".
/// Rounds that are plain because the answer has one token left are in none.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlainRounds {
    /// The measured costs predicted that no draft length beats plain rounds.
    pub predicted: usize,
    /// Drafting was predicted to pay, but drafted rounds had realized more
    /// milliseconds per token than plain ones.
    pub realized: usize,
    /// Plain rounds timed among drafted ones.
    pub probes: usize,
}

impl PlainRounds {
    fn count(&mut self, why: PlainReason) {
        match why {
            PlainReason::Predicted => self.predicted += 1,
            PlainReason::Realized => self.realized += 1,
            PlainReason::Probe => self.probes += 1,
        }
    }
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Run the drafter once after `context` and report the token with
    /// [`Speculation::drafted`].
    Draft {
        /// Everything the drafter should have seen: committed, in flight, drafted ahead.
        context: Vec<u32>,
    },
    /// Send this round to the verifier.
    Send(VerifyRequest),
    /// Wait for the reply of the round in flight.
    Wait,
    /// The answer is complete.
    Done(Finish),
}

/// Why a speculative generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A stop token was confirmed.
    Stop,
    /// `max_tokens` were generated.
    MaxTokens,
}

/// What speculation did and saved, for reports and the cost meter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpeculationStats {
    /// Rounds, sent, accepted, reused and discarded draft tokens.
    pub pipeline: PipelineStats,
    /// Rounds sent with an empty draft (plain decoding by the verifier).
    pub plain_rounds: usize,
    /// The plain rounds by why they were plain.
    pub plain_why: PlainRounds,
    /// Rounds whose draft came from prompt lookup, and their draft tokens
    /// sent and accepted (also counted in `pipeline`).
    pub lookup_rounds: usize,
    /// Prompt-lookup draft tokens sent.
    pub lookup_sent: usize,
    /// Prompt-lookup draft tokens the target kept.
    pub lookup_accepted: usize,
    /// Draft steps the drafter ran: one token each after the first, which
    /// also reads the prompt, and a fresh client's timing steps included.
    pub draft_steps: usize,
    /// Positions the target ran over all rounds, as the verifier reports them.
    pub target_forward_tokens: usize,
    /// The target's forward time over all rounds, as the verifier reports it (ms).
    pub target_forward_ms: f64,
    /// Round trips as the driver timed them (ms), the target's time included.
    pub round_ms: f64,
    /// Times the verifier lost the session and the context was resent.
    pub resent: usize,
    /// Rounds sent again because their reply did not come in time.
    pub timed_out: usize,
    /// Tokens the target generated by itself after plain rounds (`extend`).
    pub extended: usize,
}

impl SpeculationStats {
    /// Draft tokens kept per draft token sent.
    pub fn acceptance(&self) -> f64 {
        self.pipeline.accepted as f64 / self.pipeline.sent.max(1) as f64
    }

    /// The same for the draft model's tokens alone.
    pub fn model_acceptance(&self) -> f64 {
        let sent = self.pipeline.sent - self.lookup_sent;
        (self.pipeline.accepted - self.lookup_accepted) as f64 / sent.max(1) as f64
    }

    /// The same for prompt lookup's tokens alone.
    pub fn lookup_acceptance(&self) -> f64 {
        self.lookup_accepted as f64 / self.lookup_sent.max(1) as f64
    }

    /// Target passes per generated token (1 for plain decoding; lower is better).
    pub fn passes_per_token(&self, generated: usize) -> f64 {
        self.pipeline.rounds as f64 / generated.max(1) as f64
    }

    /// The target's work as a provider would bill it (see [`CloudTokens`]):
    /// a continuation's tokens are generated, so they count as output, and
    /// the positions run to produce them not as input.
    pub fn cloud_tokens(&self) -> CloudTokens {
        CloudTokens {
            input: self.target_forward_tokens.saturating_sub(self.extended),
            output: self.pipeline.rounds + self.extended,
        }
    }
}

/// A draft step handed to the driver: whether it only times the drafter,
/// and how long its context is (what the drafter will have read).
#[derive(Debug, Clone, Copy)]
struct DraftOut {
    timing: bool,
    context: usize,
}

/// The client's state machine (see the module docs).
#[derive(Debug, Clone)]
pub struct Speculation {
    config: SpeculationConfig,
    pipeline: Pipeline,
    lengths: DraftLength,
    /// The round in flight, as sent (kept to check its reply and to resend
    /// it), and the match class of its draft if prompt lookup drafted it.
    in_flight: Option<VerifyRequest>,
    looked_up: Option<lookup::Match>,
    /// How often the round in flight has been sent after timing out.
    attempts: usize,
    /// Draft steps' time (ms) while no round was in flight, since the last
    /// send, and that of the round in flight: with its round trip, what the
    /// round cost as the client lived it.
    idle_draft_ms: f64,
    round_draft_ms: f64,
    /// Whether a reply arrived untimed: the driver does not time its rounds.
    untimed: bool,
    /// Drafter timing steps run.
    timing_steps: usize,
    /// The draft step last handed out, until it is answered or overtaken.
    draft_out: Option<DraftOut>,
    /// Whether the drafter has yet to read the prompt (its first draft step).
    drafter_cold: bool,
    /// How many tokens of the context the drafter has read.
    drafter_seen: usize,
    /// A round to hand out with the next `Step::Send`.
    outbox: Option<VerifyRequest>,
    /// Tokens the verifier holds for the session.
    held: usize,
    round_no: u64,
    output: Vec<u32>,
    finish: Option<Finish>,
    stats: SpeculationStats,
}

impl Speculation {
    /// A generation continuing `prompt`.
    pub fn new(prompt: Vec<u32>, config: SpeculationConfig) -> Result<Self, SpeculationError> {
        Self::resume(prompt, config, None)
    }

    /// A generation that starts from what an earlier one against the same
    /// drafter and verifier measured (its [`Self::draft_length`]): with
    /// adaptive lengths, a client that has learned that plain rounds win
    /// starts with them instead of paying for a first drafted round.
    pub fn resume(
        prompt: Vec<u32>,
        config: SpeculationConfig,
        learned: Option<DraftLength>,
    ) -> Result<Self, SpeculationError> {
        let invalid = |m: &str| Err(SpeculationError::Invalid(m.into()));
        if prompt.is_empty() {
            return invalid("the prompt is empty");
        }
        if config.max_tokens == 0 {
            return invalid("max_tokens must be at least 1");
        }
        if config.round_timeout_ms.is_nan() || config.round_timeout_ms <= 0.0 {
            return invalid("round_timeout_ms must be positive");
        }
        let sampling = config.sampling.without_history();
        sampling
            .validate()
            .map_err(|e| SpeculationError::Invalid(e.to_string()))?;
        let lengths = match (config.draft, learned) {
            (DraftPolicy::Fixed(k), _) => DraftLength::new(k, k, 0.0, 0.5),
            (DraftPolicy::Adaptive { min, max, .. }, Some(learned)) => learned.bounded(min, max),
            (DraftPolicy::Adaptive { min, max, draft_cost }, None) => {
                DraftLength::new(min, max, draft_cost, 0.6).with_plain()
            }
        };
        Ok(Self {
            config: SpeculationConfig { sampling, ..config },
            pipeline: Pipeline::new(prompt),
            lengths,
            in_flight: None,
            looked_up: None,
            attempts: 0,
            idle_draft_ms: 0.0,
            round_draft_ms: 0.0,
            untimed: false,
            timing_steps: 0,
            draft_out: None,
            drafter_cold: true,
            drafter_seen: 0,
            outbox: None,
            held: 0,
            round_no: 0,
            output: Vec::new(),
            finish: None,
            stats: SpeculationStats::default(),
        })
    }

    /// The sampling drafter and target use (history rules dropped).
    pub fn sampling(&self) -> &SamplingConfig {
        &self.config.sampling
    }

    /// What to do next.
    pub fn next_step(&mut self) -> Step {
        // A draft step handed out and not answered was overtaken (its driver took a reply first).
        self.draft_out = None;
        if let Some(finish) = self.finish {
            return Step::Done(finish);
        }
        if let Some(round) = self.outbox.take() {
            return Step::Send(round);
        }
        if let Some(context) = self.timing_context() {
            self.draft_out = Some(DraftOut {
                timing: true,
                context: context.len(),
            });
            return Step::Draft { context };
        }
        let ends_in_stop = self
            .pipeline
            .last_generated()
            .is_some_and(|t| self.config.stops.contains(&t));
        // Tokens a round may still draft: the verdict adds one of its own.
        let room = self.config.max_tokens - self.output.len() - 1;
        let behind = self.pipeline.committed().len().saturating_sub(self.drafter_seen);
        let choice = self.lengths.choice_behind(behind, room + 1);
        let k = choice.draft_len().min(room);
        if self.in_flight.is_some() {
            // A driver that does not time its rounds leaves pipelining to the configuration.
            let pays = self.untimed || self.lengths.pipelining_pays();
            let ahead = self.config.pipelined && pays && k > 0 && self.pipeline.pending() <= k && !ends_in_stop;
            return if ahead { self.draft_step() } else { Step::Wait };
        }
        // A lookup proposal goes out only where the cost model expects it to beat the plan: over
        // a long link a plain round continued by the target usually wins, since a lookup round
        // pays the round trip for the tokens it gets accepted, but a long match can still win.
        if self.config.lookup && self.pipeline.pending() == 0 && !ends_in_stop {
            let longest = lookup::MAX_PROPOSAL.max(self.lengths.max()).min(room);
            if let Some(proposal) = lookup::propose(self.pipeline.committed(), longest) {
                let class = proposal.class();
                // An adaptive client lets a long match copy on past the model's longest draft.
                let cap = if self.lengths.adaptive() && class == lookup::Match::Long {
                    longest
                } else {
                    self.lengths.max()
                };
                let offered = proposal.tokens.len().min(cap);
                if offered >= k.max(1)
                    && let Some(n) = self.lengths.lookup_length(class, offered, k)
                {
                    for &token in &proposal.tokens[..n] {
                        // A deterministic proposal: its distribution is one-hot (sent as such).
                        self.pipeline.push_draft(token, Vec::new());
                    }
                    return self.send(n, Some(class), None);
                }
            }
        }
        if self.pipeline.pending() < k && !ends_in_stop {
            return self.draft_step();
        }
        let why = match choice {
            Choice::Plain(why) => Some(why),
            Choice::Draft(_) => None,
        };
        self.send(k, None, why)
    }

    /// The context of the next drafter timing step, while a fresh adaptive
    /// client has not timed one: once the first round is out (so that over
    /// a link the steps overlap its round trip), before any draft step.
    fn timing_context(&self) -> Option<Vec<u32>> {
        let wanted = self.lengths.adaptive()
            && !self.lengths.draft_step_timed()
            && !self.untimed
            && self.round_no > 0
            && self.drafter_cold
            && self.timing_steps < DRAFT_TIMING_STEPS;
        let committed = self.pipeline.committed();
        wanted.then(|| committed[..(self.timing_steps + 1).min(committed.len())].to_vec())
    }

    fn draft_step(&mut self) -> Step {
        let context = self.pipeline.draft_context();
        self.draft_out = Some(DraftOut {
            timing: false,
            context: context.len(),
        });
        Step::Draft { context }
    }

    /// Sends a round of `k` pending draft tokens; `why` is the plan's reason
    /// when it is a plain round.
    fn send(&mut self, k: usize, looked_up: Option<lookup::Match>, why: Option<PlainReason>) -> Step {
        let Some(sent) = self.pipeline.send(k) else {
            return Step::Wait;
        };
        // An empty distribution is a deterministic proposal (prompt lookup): one-hot.
        let dists = |sent: &super::pipeline::Draft| -> Vec<SparseDist> {
            sent.tokens
                .iter()
                .zip(&sent.dists)
                .map(|(&t, d)| {
                    if d.is_empty() {
                        SparseDist {
                            ids: vec![t],
                            probs: vec![1.0],
                        }
                    } else {
                        sparse(d)
                    }
                })
                .collect()
        };
        let sampling = &self.config.sampling;
        // A plain round over a long link asks the target to go on by itself.
        let extend = if sent.tokens.is_empty() {
            let room = self.config.max_tokens - self.output.len() - 1;
            self.lengths.extension().min(room)
        } else {
            0
        };
        let round = VerifyRequest {
            model: self.config.model.clone(),
            session: self.config.session.clone(),
            base: self.held,
            context: self.pipeline.committed()[self.held..].to_vec(),
            draft_dists: (sampling.temperature > 0.0).then(|| dists(&sent)),
            draft: sent.tokens,
            sampling: VerifySampling {
                temperature: sampling.temperature,
                top_k: sampling.top_k,
                top_p: sampling.top_p,
                // A fresh seed per round, kept below 2^53 so that JavaScript
                // carries it as a number without loss.
                seed: sampling
                    .seed
                    .wrapping_add(self.round_no.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    & JS_SAFE_INTEGER,
            },
            extend,
            stop: if extend > 0 {
                self.config.stops.clone()
            } else {
                Vec::new()
            },
        };
        self.round_no += 1;
        if round.draft.is_empty() {
            self.stats.plain_rounds += 1;
            if let Some(why) = why {
                self.stats.plain_why.count(why);
            }
        }
        if looked_up.is_some() {
            self.stats.lookup_rounds += 1;
            self.stats.lookup_sent += round.draft.len();
        }
        self.looked_up = looked_up;
        self.attempts = 0;
        self.round_draft_ms = std::mem::take(&mut self.idle_draft_ms);
        self.in_flight = Some(round.clone());
        Step::Send(round)
    }

    /// The drafter drew `token` from `dist` (empty when greedy) on the last
    /// `Draft` context; `ms` is how long the step took, when timed.
    pub fn drafted(&mut self, token: u32, dist: Vec<f32>, ms: Option<f64>) {
        self.stats.draft_steps += 1;
        let out = self.draft_out.take();
        // Positions this step read: its context past what the drafter had read.
        let read = out.map_or(1, |out| out.context.saturating_sub(self.drafter_seen));
        if let Some(out) = out {
            self.drafter_seen = out.context;
        }
        if out.is_some_and(|out| out.timing) {
            // A timing step: not a draft; only the last one's time counts.
            self.timing_steps += 1;
            if let Some(ms) = ms.filter(|_| self.timing_steps == DRAFT_TIMING_STEPS) {
                self.lengths.observe_draft_ms(ms);
            }
            return;
        }
        self.pipeline.push_draft(token, dist);
        // The first step also reads the prompt, and a step after plain rounds
        // what they added: such a step times the drafter's catch-up, not a step.
        let caught_up = !std::mem::take(&mut self.drafter_cold);
        if let Some(ms) = ms {
            if read >= CATCH_UP_MIN {
                self.lengths.observe_catch_up(read, ms);
            } else if caught_up {
                self.lengths.observe_draft_ms(ms);
            }
        }
        if self.in_flight.is_none() {
            self.idle_draft_ms += ms.unwrap_or(0.0);
        }
    }

    /// The reply to the round in flight arrived after `round_ms` (when
    /// timed). Returns the tokens it adds to the answer (stop tokens and
    /// anything past `max_tokens` left out). A reply that contradicts its
    /// round is an error, and the generation cannot go on.
    pub fn verdict(&mut self, reply: &VerifyReply, round_ms: Option<f64>) -> Result<Vec<u32>, SpeculationError> {
        let round = self
            .in_flight
            .take()
            .ok_or_else(|| SpeculationError::Invalid("a reply arrived with no round in flight".into()))?;
        // A reply to an attempt that timed out answers the same round: no resend.
        self.outbox = None;
        self.held = reply.checked_session_len(&round).map_err(SpeculationError::Invalid)?;
        let mut fresh = self
            .pipeline
            .receive(Verdict {
                accepted: reply.accepted,
                next: reply.next,
            })
            .map_err(|e| SpeculationError::Invalid(e.to_string()))?;
        if !reply.extended.is_empty() {
            self.pipeline.commit(&reply.extended);
            fresh.extend_from_slice(&reply.extended);
            self.stats.extended += reply.extended.len();
        }
        if let Some(class) = self.looked_up {
            // Lookup's hits say nothing about the draft model's acceptance.
            self.stats.lookup_accepted += reply.accepted;
            self.lengths.observe_lookup(class, round.draft.len(), reply.accepted);
        } else {
            self.lengths.observe(round.draft.len(), reply.accepted);
        }
        let positions = round.context.len() + round.draft.len();
        self.untimed |= round_ms.is_none();
        if let Some(ms) = round_ms {
            self.lengths
                .observe_round(positions, reply.extended.len(), reply.stats.forward_ms, ms);
            // A first round (or a resend) also prefills the prompt, and a lookup round's draft
            // is free: neither says what the next model-drafted or plain round will cost.
            if round.base > 0 && self.looked_up.is_none() {
                self.lengths
                    .observe_realized(!round.draft.is_empty(), self.round_draft_ms + ms, fresh.len());
            }
            self.stats.round_ms += ms;
        }
        self.stats.target_forward_tokens += reply.stats.forward_tokens;
        self.stats.target_forward_ms += reply.stats.forward_ms;
        let mut emitted = Vec::new();
        for token in fresh {
            if self.config.stops.contains(&token) {
                self.finish = Some(Finish::Stop);
                break;
            }
            self.output.push(token);
            emitted.push(token);
            if self.output.len() >= self.config.max_tokens {
                self.finish = Some(Finish::MaxTokens);
                break;
            }
        }
        Ok(emitted)
    }

    /// The verifier no longer holds the session (HTTP 409): the round is
    /// resent with the whole context. A session lost on a round that already
    /// carried everything is an error.
    pub fn session_lost(&mut self) -> Result<(), SpeculationError> {
        let mut round = self
            .in_flight
            .take()
            .ok_or_else(|| SpeculationError::Invalid("a lost session with no round in flight".into()))?;
        if round.base == 0 {
            return Err(SpeculationError::Invalid(
                "the verifier lost the session of a round that carried the whole context".into(),
            ));
        }
        self.stats.resent += 1;
        // The verifier answered: the resend is a new request with its own timeouts.
        self.attempts = 0;
        round.base = 0;
        round.context = self.pipeline.committed().to_vec();
        self.in_flight = Some(round.clone());
        self.outbox = Some(round);
        Ok(())
    }

    /// How long after sending the round in flight the driver should report
    /// [`Self::time_passed`] if no reply has come (ms); `None` when no round
    /// is in flight.
    pub fn deadline(&self) -> Option<f64> {
        self.in_flight.as_ref().map(|_| self.config.round_timeout_ms)
    }

    /// `waited_ms` have passed since the round in flight was sent, without a
    /// reply. Past the deadline the round is sent again (the next step is its
    /// `Send`), or, if it already was, the answer fails with
    /// [`SpeculationError::TimedOut`]. Before the deadline nothing changes.
    pub fn time_passed(&mut self, waited_ms: f64) -> Result<(), SpeculationError> {
        let Some(round) = &self.in_flight else {
            return Ok(());
        };
        if waited_ms < self.config.round_timeout_ms {
            return Ok(());
        }
        if self.attempts >= TIMEOUT_RESENDS {
            return Err(SpeculationError::TimedOut {
                ms: self.config.round_timeout_ms as u64,
                attempts: self.attempts + 1,
            });
        }
        self.attempts += 1;
        self.stats.timed_out += 1;
        self.outbox = Some(round.clone());
        Ok(())
    }

    /// Whether a round awaits its reply.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The answer so far (no prompt, no stop token).
    pub fn output(&self) -> &[u32] {
        &self.output
    }

    /// How it ended, once it has.
    pub fn finish(&self) -> Option<Finish> {
        self.finish
    }

    /// The counters.
    pub fn stats(&self) -> SpeculationStats {
        SpeculationStats {
            pipeline: self.pipeline.stats(),
            ..self.stats.clone()
        }
    }

    /// The draft-length model, for reports.
    pub fn draft_length(&self) -> &DraftLength {
        &self.lengths
    }
}
