//! How many tokens to draft per round, from what speculation has measured.
//!
//! With per-token acceptance probability `a`, a draft of `k` yields
//! `(1 - a^(k+1)) / (1 - a)` tokens per round. What a round costs depends on
//! where the target runs: on a GPU serving engine a forward over `k + 1`
//! positions costs about one decode step, on a CPU nearly `k + 1` of them,
//! and a link adds its round trip to every round. So [`DraftLength`] learns
//! the costs instead of assuming them:
//!
//! * a draft step's time, as the client measures it;
//! * the target's forward time as a line over the positions it ran
//!   (`forward_ms ≈ f0 + f1 · positions`, fitted by exponentially weighted
//!   least squares over the rounds' reports), and the link's share of each
//!   round (round trip less the forward time).
//!
//! It then picks the `k` with the most expected tokens per millisecond. A
//! round with an empty draft is plain decoding by the verifier (one token per
//! round), so `k = 0` is a candidate too: when no draft length beats it, the
//! client stops drafting, and after [`PROBE_EVERY`] plain rounds it drafts
//! once more so that the acceptance estimate stays current, unless no draft
//! length would win even at an acceptance of [`OPTIMISTIC_RATE`] (the drafter
//! is too slow for this target, whatever it proposes). A probe costs
//! the drafter a catch-up over every token it missed, so each probe that
//! leaves plain decoding in place doubles the wait before the next one (up
//! to [`PROBE_MAX`] rounds).
//!
//! The other way round, a client that only drafts never times a one-position
//! forward, and the line's value there is an extrapolation from the drafted
//! rounds' positions, which a fixed per-round cost (a busy machine, a proxy)
//! can put far above a real decoding step. So after [`PROBE_EVERY`] drafted
//! rounds in a row it sends one plain round, and each plain probe after
//! which drafting still wins doubles the wait before the next (up to
//! [`PROBE_MAX`]): about one round in 64 where speculation clearly pays.
//!
//! A fresh client (adaptive, nothing measured) sends its first
//! [`COLD_ROUNDS`] rounds plain, drafting nothing: the first carries the
//! prompt and times the target over many positions, the second over one, and
//! the line through them prices every draft length before the drafter has
//! spent anything (on a CPU target, where each position costs a fraction of a
//! step, drafting rarely pays, and a drafter that never drafts never reads
//! the prompt). The client times one draft step meanwhile (see
//! `Speculation`). A client whose rounds are not timed drafts after the first,
//! by the relative model below; one that has drafted without ever timing a
//! plain round (a saved copy) sends one after [`FIRST_PLAIN_PROBE`] drafted
//! rounds.
//!
//! The model above prices a round from its parts. What a client lives can
//! differ: a drafter that shares cores with the target slows it down, and
//! drafts made ahead are thrown away on a rejection. So the client also
//! reports each round's realized cost ([`DraftLength::observe_realized`]:
//! the drafting it waited for plus the round trip, against the tokens the
//! round added), and while drafted rounds have realized more milliseconds per
//! token than plain ones, rounds go out plain whatever the model predicts
//! (probes still go out, and keep the drafted figure current).
//!
//! A drafter that has not run for a while must first read what it missed
//! (a fresh one: the whole prompt) before its first draft: a catch-up the
//! per-round model does not see. So a draft, probe or not, goes out only
//! where what it is expected to save over the rest of the answer repays
//! that catch-up ([`DraftLength::choice_behind`]). The catch-up is priced
//! as the drafter measured it, per position, on its steps that read
//! [`CATCH_UP_MIN`] positions or more (a moving average:
//! [`DraftLength::observe_catch_up`]); until one did, as the drafter's step time per position scaled as the
//! target's per-position cost is to its step. On a CPU target with a
//! drafter a third of its size that stops the probes a perfect drafter
//! would win (a catch-up of a 40-token prompt costs about ten of the
//! target's steps); on a GPU target, whose positions cost next to nothing,
//! it changes nothing.
//!
//! A probe is exploration: it is paid whether or not drafting turns out to
//! win. So a probe also goes out only where its catch-up costs at most
//! [`PROBE_SHARE`] of the rest of the answer as plain rounds would take
//! it: in a short answer a probe that makes the drafter read the prompt
//! would cost more than the bound on speculation's loss allows (5 %, of
//! which the link may take [`LINK_SHARE`]), in a long one it is cheap.
//!
//! A plain round pays the link for one token. Over a long link that alone
//! can make plain rounds slower than the target streaming by itself, so a
//! plain round asks the target to continue on its own ([`DraftLength::extension`]
//! tokens, the round's `extend`): enough that the link costs at most
//! [`LINK_SHARE`] of the tokens' time, up to [`EXTEND_MAX`].
//!
//! Before anything is timed it falls back to a relative model: a round costs
//! `k · draft_cost + 1` target rounds.

use super::lookup::Match;

/// Rounds a fresh client sends plain, to time the target before it drafts.
pub const COLD_ROUNDS: usize = 2;
/// Plain rounds in a row after which one drafted round is tried again.
pub const PROBE_EVERY: usize = 8;
/// Drafted rounds after which a client that has never sent a plain round times one.
pub const FIRST_PLAIN_PROBE: usize = 2;
/// The longest wait between probes.
pub const PROBE_MAX: usize = 64;
/// The acceptance at which a probe asks whether drafting could pay at all.
pub const OPTIMISTIC_RATE: f64 = 0.95;
/// The largest share of a plain round's time the link may take before the
/// round asks the target to continue by itself.
pub const LINK_SHARE: f64 = 0.025;
/// The largest share of the rest of an answer (as plain rounds) that a
/// probe's catch-up may cost: with [`LINK_SHARE`], the 5 % that speculation
/// may lose against the target alone.
pub const PROBE_SHARE: f64 = 0.025;
/// The fewest positions a draft step must read to time the drafter's
/// catch-up per position (fewer: the step's own cost dominates).
pub const CATCH_UP_MIN: usize = 8;
/// The most tokens a plain round asks the target to continue by (the answer
/// then streams in pieces of this size).
pub const EXTEND_MAX: usize = 32;

/// Chooses the draft length (see the module docs). Serializable, so that a
/// client can start its next answer from what this one measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DraftLength {
    rate: f64,
    /// Per-token acceptance of prompt-lookup drafts, apart from the model's,
    /// for each [`Match`] class (short, medium and long matches).
    #[serde(default = "lookup_priors")]
    lookup_rates: [f64; 3],
    min: usize,
    max: usize,
    draft_cost: f64,
    smoothing: f64,
    draft_ms: Ema,
    /// What the drafter took per position when it read [`CATCH_UP_MIN`] or
    /// more in one step (the prompt, or what it missed while rounds went
    /// out plain).
    #[serde(default)]
    catch_up_ms: Ema,
    link_ms: Ema,
    forward: LineFit,
    plain_allowed: bool,
    plain_streak: usize,
    probe_interval: usize,
    /// Drafted rounds since the last plain one.
    #[serde(default)]
    drafted_streak: usize,
    /// Drafted rounds after which a plain round is timed again.
    #[serde(default = "probe_every")]
    plain_probe_interval: usize,
    /// Whether a plain round has been observed.
    #[serde(default)]
    seen_plain: bool,
    /// What drafted rounds and plain rounds have cost per token as the client lived them.
    #[serde(default)]
    realized_drafted: Realized,
    #[serde(default)]
    realized_plain: Realized,
    /// Rounds observed, and of them the timed ones (at most [`COLD_ROUNDS`]
    /// each: all that matters is whether a fresh client is still cold).
    #[serde(default)]
    rounds: usize,
    #[serde(default)]
    timed_rounds: usize,
}

impl DraftLength {
    /// Drafts of `min..=max` tokens, starting from acceptance `initial_rate`;
    /// `draft_cost` is a draft step's cost relative to a round until both are timed.
    pub fn new(min: usize, max: usize, draft_cost: f64, initial_rate: f64) -> Self {
        let min = min.max(1);
        Self {
            rate: initial_rate.clamp(0.0, 0.999),
            lookup_rates: lookup_priors(),
            min,
            max: max.max(min),
            draft_cost: draft_cost.max(1e-6),
            smoothing: 0.3,
            draft_ms: Ema::default(),
            catch_up_ms: Ema::default(),
            link_ms: Ema::default(),
            forward: LineFit::default(),
            plain_allowed: false,
            plain_streak: 0,
            probe_interval: PROBE_EVERY,
            drafted_streak: 0,
            plain_probe_interval: PROBE_EVERY,
            seen_plain: false,
            realized_drafted: Realized::default(),
            realized_plain: Realized::default(),
            rounds: 0,
            timed_rounds: 0,
        }
    }

    /// Also considers plain decoding (`k = 0`) once rounds are timed.
    pub fn with_plain(mut self) -> Self {
        self.plain_allowed = true;
        self
    }

    /// The same measurements within `min..=max` drafts, plain rounds
    /// allowed: a client resuming from a saved copy keeps its own bounds,
    /// whatever the copy says.
    pub fn bounded(mut self, min: usize, max: usize) -> Self {
        self.min = min.max(1);
        self.max = max.max(self.min);
        self.rate = sane_rate(self.rate, 0.5);
        // Lookup's rates change only when a lookup round goes out, so a class that fell too low
        // would never be tried again: a new answer starts each halfway back to its prior.
        for (rate, prior) in self.lookup_rates.iter_mut().zip(lookup_priors()) {
            *rate = (sane_rate(*rate, prior) + prior) / 2.0;
        }
        self.plain_allowed = true;
        self.probe_interval = self.probe_interval.clamp(PROBE_EVERY, PROBE_MAX);
        self.plain_probe_interval = self.plain_probe_interval.clamp(PROBE_EVERY, PROBE_MAX);
        self.rounds = self.rounds.min(COLD_ROUNDS);
        self.timed_rounds = self.timed_rounds.min(COLD_ROUNDS);
        self
    }

    /// The longest draft this policy allows.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The current acceptance-rate estimate.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Records a round: `accepted` of `proposed` draft tokens kept.
    pub fn observe(&mut self, proposed: usize, accepted: usize) {
        self.rounds = (self.rounds + 1).min(COLD_ROUNDS);
        if proposed == 0 {
            self.seen_plain = true;
            self.plain_streak += 1;
            if self.drafted_streak > 0 {
                // After a plain probe, the next one waits longer; a plain round on merit resets it.
                self.plain_probe_interval = if self.drafted_streak >= self.plain_probe_interval {
                    (self.plain_probe_interval * 2).min(PROBE_MAX)
                } else {
                    PROBE_EVERY
                };
            }
            self.drafted_streak = 0;
            return;
        }
        self.drafted_streak += 1;
        self.probe_interval = if self.plain_streak >= self.probe_interval {
            // A probe: if plain decoding still wins, the next probe waits twice as long.
            (self.probe_interval * 2).min(PROBE_MAX)
        } else {
            PROBE_EVERY
        };
        self.plain_streak = 0;
        self.rate = self.updated(self.rate, proposed, accepted);
    }

    /// Records a prompt-lookup round of class `class`: `accepted` of
    /// `proposed` tokens kept.
    pub fn observe_lookup(&mut self, class: Match, proposed: usize, accepted: usize) {
        self.rounds = (self.rounds + 1).min(COLD_ROUNDS);
        if proposed > 0 {
            let i = class.index();
            self.lookup_rates[i] = self.updated(self.lookup_rates[i], proposed, accepted);
        }
    }

    /// The current acceptance estimate of lookup proposals of class `class`.
    pub fn lookup_rate(&self, class: Match) -> f64 {
        self.lookup_rates[class.index()]
    }

    /// `rate` moved towards what a round of `proposed` tokens with `accepted` kept shows.
    fn updated(&self, rate: f64, proposed: usize, accepted: usize) -> f64 {
        // Tokens up to and including the first rejection are the trials.
        let trials = (accepted + usize::from(accepted < proposed)) as f64;
        let observed = accepted as f64 / trials;
        ((1.0 - self.smoothing) * rate + self.smoothing * observed).clamp(0.0, 0.999)
    }

    /// How many of a prompt-lookup proposal's `offered` tokens to send
    /// instead of the plan (a model draft of `k`, or a plain round for
    /// `k = 0`): the length with the fewest expected milliseconds per token
    /// at the acceptance of lookups of its `class`, or `None` when no length
    /// beats the plan. Lookup drafts cost nothing to make, but the target
    /// still runs every position of them: on a target whose cost grows with
    /// positions, a poor lookup loses, and a long match earns a longer draft
    /// than a short one. Until rounds are timed, all of them.
    pub fn lookup_length(&self, class: Match, offered: usize, k: usize) -> Option<usize> {
        let rate = self.lookup_rate(class);
        let (Some(plan), Some(link)) = (self.ms_per_token(k), self.link_ms.value()) else {
            return (offered > 0).then_some(offered);
        };
        let cost = |n: usize| {
            let forward = self.forward.at((n + 1) as f64).unwrap_or(f64::INFINITY);
            (link + forward) / expected_tokens(rate, n)
        };
        (1..=offered)
            .map(|n| (n, cost(n)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|&(_, ms)| ms < plan)
            .map(|(n, _)| n)
    }

    /// Whether a draft step has been timed: until one is, a fresh client
    /// cannot price drafting (see `Speculation`'s timing step).
    pub fn draft_step_timed(&self) -> bool {
        self.draft_ms.value().is_some()
    }

    /// A draft step's measured milliseconds, once timed.
    pub fn draft_step_ms(&self) -> Option<f64> {
        self.draft_ms.value()
    }

    /// The drafter's measured catch-up per position, once a step read
    /// [`CATCH_UP_MIN`] positions or more.
    pub fn catch_up_ms_per_position(&self) -> Option<f64> {
        self.catch_up_ms.value()
    }

    /// Whether lengths adapt down to plain rounds (not a fixed length).
    pub fn adaptive(&self) -> bool {
        self.plain_allowed
    }

    /// Whether this is a fresh client still timing the target with plain
    /// rounds: every round so far was timed, and fewer than [`COLD_ROUNDS`].
    fn cold(&self) -> bool {
        self.plain_allowed && self.timed_rounds < COLD_ROUNDS && self.timed_rounds == self.rounds
    }

    /// Records how long one draft step took.
    pub fn observe_draft_ms(&mut self, ms: f64) {
        if ms.is_finite() && ms >= 0.0 {
            self.draft_ms.push(ms);
        }
    }

    /// Records a draft step that read `positions` positions (at least
    /// [`CATCH_UP_MIN`]; fewer are ignored) in `ms`: the drafter's catch-up
    /// per position, as it prices the next one.
    pub fn observe_catch_up(&mut self, positions: usize, ms: f64) {
        if positions >= CATCH_UP_MIN && ms.is_finite() && ms >= 0.0 {
            self.catch_up_ms.push(ms / positions as f64);
        }
    }

    /// Records a round's timing: the target ran `positions` positions in
    /// `forward_ms` (0 when the verifier does not say), then continued by
    /// `extended` tokens on its own (one position each), and the whole round
    /// trip took `round_ms` as the client measured it.
    pub fn observe_round(&mut self, positions: usize, extended: usize, forward_ms: f64, round_ms: f64) {
        if !(round_ms.is_finite() && forward_ms.is_finite()) || round_ms < 0.0 || positions == 0 {
            return;
        }
        self.timed_rounds = (self.timed_rounds + 1).min(COLD_ROUNDS);
        let (forward_ms, steps) = if forward_ms > 0.0 && forward_ms <= round_ms {
            self.link_ms.push(round_ms - forward_ms);
            (forward_ms, extended + 1)
        } else {
            // Nothing reported (or a clock that disagrees): the round trip is all we know.
            self.link_ms.push(0.0);
            (round_ms, extended + 1)
        };
        if extended == 0 {
            self.forward.push(positions as f64, forward_ms);
        } else {
            // A plain round and its continuation: steps of one position each.
            self.forward.push(1.0, forward_ms / steps as f64);
        }
    }

    /// Records what a model-drafted (`drafted`) or plain round cost as the
    /// client lived it: `ms` from the first draft step it waited for (steps
    /// run while an earlier round was in flight overlap that round, and are
    /// not counted) to its reply, for the `tokens` it added to the answer.
    pub fn observe_realized(&mut self, drafted: bool, ms: f64, tokens: usize) {
        if !ms.is_finite() || ms < 0.0 || tokens == 0 {
            return;
        }
        let realized = if drafted {
            &mut self.realized_drafted
        } else {
            &mut self.realized_plain
        };
        realized.ms.push(ms);
        realized.tokens.push(tokens as f64);
    }

    /// Realized milliseconds per token of drafted and of plain rounds, once both were seen.
    pub fn realized_ms_per_token(&self) -> Option<(f64, f64)> {
        self.realized_drafted.per_token().zip(self.realized_plain.per_token())
    }

    /// Whether drafting ahead while a round is in flight may pay. With a
    /// fixed length, always. With adaptive lengths, only once drafted rounds
    /// have realized fewer milliseconds per token than plain ones: drafts
    /// made ahead share the device with whatever else runs there (a local
    /// target, the page) and are thrown away on a rejection, so a fresh
    /// client first learns whether drafting pays at all.
    pub fn pipelining_pays(&self) -> bool {
        !self.plain_allowed
            || self
                .realized_ms_per_token()
                .is_some_and(|(drafted, plain)| drafted < plain)
    }

    /// Whether drafted rounds have realized more milliseconds per token than plain ones.
    fn drafting_realized_slower(&self) -> bool {
        self.realized_ms_per_token()
            .is_some_and(|(drafted, plain)| drafted > plain)
    }

    /// How many tokens a plain round should ask the target to continue by:
    /// enough that the measured link costs at most [`LINK_SHARE`] of the
    /// tokens' forward time (0 while untimed or where the link is free).
    pub fn extension(&self) -> usize {
        let (Some(link), Some(step)) = (self.link_ms.value(), self.forward.at(1.0)) else {
            return 0;
        };
        if step <= 0.0 {
            return 0;
        }
        // Less a hair, so that float noise in the averages does not add a token.
        let tokens = (link / (LINK_SHARE * step) - 1e-6).ceil();
        (tokens as usize).saturating_sub(1).min(EXTEND_MAX)
    }

    /// Expected milliseconds per generated token with drafts of `k`
    /// (`k = 0`: plain decoding, continued by [`Self::extension`] tokens),
    /// once draft steps and rounds are timed.
    pub fn ms_per_token(&self, k: usize) -> Option<f64> {
        self.ms_per_token_at(k, self.rate)
    }

    /// The same at acceptance `rate`.
    fn ms_per_token_at(&self, k: usize, rate: f64) -> Option<f64> {
        let link = self.link_ms.value()?;
        if k == 0 {
            let tokens = (self.extension() + 1) as f64;
            return Some(link / tokens + self.forward.at(1.0)?);
        }
        let draft = self.draft_ms.value()?;
        let round = link + self.forward.at((k + 1) as f64)?;
        Some((k as f64 * draft + round) / expected_tokens(rate, k))
    }

    /// Whether some draft length would beat plain rounds if the drafter were
    /// nearly always right ([`OPTIMISTIC_RATE`]), repaying the catch-up over
    /// `behind` positions within the `remaining` tokens. When not, the
    /// drafter is too slow for this target whatever it proposes, and probing
    /// it (which makes it read every token it skipped) only costs.
    fn drafting_could_pay(&self, behind: usize, remaining: usize) -> bool {
        if self.ms_per_token(0).is_none() {
            return true;
        }
        (self.min..=self.max).any(|k| self.repays_catch_up(k, self.rate.max(OPTIMISTIC_RATE), behind, remaining))
    }

    /// Milliseconds a drafter takes to read `behind` positions it has not
    /// seen: as measured per position ([`Self::observe_catch_up`]), or until
    /// then its step time per position, scaled as the target's cost of one
    /// more position is to its step (0 while either is untimed).
    fn catch_up_ms(&self, behind: usize) -> f64 {
        if let Some(per_position) = self.catch_up_ms.value() {
            return behind as f64 * per_position;
        }
        let (Some(draft), Some(step), Some(two)) = (self.draft_ms.value(), self.forward.at(1.0), self.forward.at(2.0))
        else {
            return 0.0;
        };
        if step <= 0.0 {
            return 0.0;
        }
        behind as f64 * draft * ((two - step) / step).clamp(0.0, 1.0)
    }

    /// Whether drafts of `k` at acceptance `rate` save more than plain rounds
    /// over the `remaining` tokens than the drafter's catch-up over `behind`
    /// positions costs.
    fn repays_catch_up(&self, k: usize, rate: f64, behind: usize, remaining: usize) -> bool {
        let (Some(plain), Some(drafted)) = (self.ms_per_token(0), self.ms_per_token_at(k, rate)) else {
            return true;
        };
        drafted < plain && (plain - drafted) * remaining as f64 > self.catch_up_ms(behind)
    }

    /// Whether a probe's catch-up over `behind` positions costs at most
    /// [`PROBE_SHARE`] of the `remaining` tokens' time as plain rounds.
    fn probe_affordable(&self, behind: usize, remaining: usize) -> bool {
        let Some(plain) = self.ms_per_token(0) else {
            return true;
        };
        self.catch_up_ms(behind) <= PROBE_SHARE * plain * remaining as f64
    }

    /// Expected tokens a round with a draft of `k` yields.
    pub fn tokens_per_round(&self, k: usize) -> f64 {
        expected_tokens(self.rate, k)
    }

    /// The draft length for the next round: `0` means a plain round.
    pub fn next(&self) -> usize {
        self.choice().draft_len()
    }

    /// The next round's draft length, or why it goes out plain, for a
    /// drafter that has read everything and an answer without end.
    pub fn choice(&self) -> Choice {
        self.choice_behind(0, usize::MAX)
    }

    /// The next round's draft length, or why it goes out plain, for a
    /// drafter `behind` positions behind the answer (a fresh one: the whole
    /// prompt) and an answer that may add `remaining` more tokens: a draft
    /// that would not repay the drafter's catch-up goes out plain (see the
    /// module docs).
    pub fn choice_behind(&self, behind: usize, remaining: usize) -> Choice {
        let best = |cost: &dyn Fn(usize) -> f64| {
            (self.min..=self.max)
                .min_by(|&x, &y| cost(x).total_cmp(&cost(y)).then(x.cmp(&y)))
                .unwrap_or(self.min)
        };
        if self.cold() {
            return Choice::Plain(PlainReason::Probe);
        }
        if self.ms_per_token(self.min).is_some() {
            let cost = |k: usize| self.ms_per_token(k).unwrap_or(f64::INFINITY);
            let k = best(&cost);
            if !self.plain_allowed {
                return Choice::Draft(k);
            }
            let plain_probe = self.drafted_streak
                >= if self.seen_plain {
                    self.plain_probe_interval
                } else {
                    FIRST_PLAIN_PROBE
                };
            if plain_probe {
                return Choice::Plain(PlainReason::Probe);
            }
            let probe = self.plain_streak >= self.probe_interval
                && self.drafting_could_pay(behind, remaining)
                && self.probe_affordable(behind, remaining);
            if probe {
                return Choice::Draft(k);
            }
            if cost(0) <= cost(k) || !self.repays_catch_up(k, self.rate, behind, remaining) {
                return Choice::Plain(PlainReason::Predicted);
            }
            if self.drafting_realized_slower() {
                return Choice::Plain(PlainReason::Realized);
            }
            return Choice::Draft(k);
        }
        let relative = |k: usize| (k as f64 * self.draft_cost + 1.0) / self.tokens_per_round(k);
        Choice::Draft(best(&relative))
    }
}

/// What [`DraftLength::choice`] decided for the next round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Draft this many tokens (at least the policy's minimum).
    Draft(usize),
    /// Send a plain round, for this reason.
    Plain(PlainReason),
}

impl Choice {
    /// The draft length: `0` for a plain round.
    pub fn draft_len(self) -> usize {
        match self {
            Choice::Draft(k) => k,
            Choice::Plain(_) => 0,
        }
    }
}

/// Why a round goes out without a draft, so that a report can say why
/// speculation stopped drafting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainReason {
    /// The measured parts (draft steps, forward times, link) predict that
    /// no draft length beats plain rounds.
    Predicted,
    /// The parts predict drafting pays, but drafted rounds have realized
    /// more milliseconds per token than plain ones.
    Realized,
    /// A plain round sent to time the target: a fresh client's first
    /// [`COLD_ROUNDS`], or one among drafted rounds, to keep its cost current.
    Probe,
}

/// Tokens a round with a draft of `k` yields when each draft token is kept
/// with probability `a` (until the first rejection), the target's own included.
fn expected_tokens(a: f64, k: usize) -> f64 {
    (1.0 - a.powi(k as i32 + 1)) / (1.0 - a)
}

/// The starting acceptance of prompt lookup in each match class (and of a
/// saved copy without them): one half after a short match, more after
/// longer ones. Optimistic on purpose: a class that starts too low is never
/// tried and never learns, one that starts too high costs one round. On
/// this project's development prompts (`pkg-scripts/speculative_prompts.json`,
/// the three short code edits) the target's answers went on after a match of
/// six or more tokens for 6.2-9.6 tokens on average, after two to five for
/// 2.4-2.7 (docs/speculative.md, stop 55).
fn lookup_priors() -> [f64; 3] {
    [0.5, 0.7, 0.85]
}

/// An acceptance rate read from a saved copy: within `0..1`, or `default`
/// where it is not a number.
fn sane_rate(rate: f64, default: f64) -> f64 {
    if rate.is_finite() {
        rate.clamp(0.0, 0.999)
    } else {
        default
    }
}

/// A saved copy without a plain-probe interval starts from the first.
fn probe_every() -> usize {
    PROBE_EVERY
}

/// An exponentially weighted mean (recent rounds count most).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Ema {
    value: Option<f64>,
}

impl Ema {
    const WEIGHT: f64 = 0.25;

    fn push(&mut self, x: f64) {
        self.value = Some(self.value.map_or(x, |v| v + Self::WEIGHT * (x - v)));
    }

    fn value(&self) -> Option<f64> {
        self.value
    }
}

/// Rounds' milliseconds and tokens, each an exponentially weighted mean, so
/// that their ratio weighs a round by its tokens.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Realized {
    ms: Ema,
    tokens: Ema,
}

impl Realized {
    fn per_token(&self) -> Option<f64> {
        let (ms, tokens) = self.ms.value().zip(self.tokens.value())?;
        (tokens > 0.0).then(|| ms / tokens)
    }
}

/// `y ≈ a + b·x` by exponentially weighted least squares; where every `x`
/// was the same, a flat line at the mean of `y`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct LineFit {
    /// Weighted sums of 1, x, x², y and x·y.
    sums: [f64; 5],
}

impl LineFit {
    const DECAY: f64 = 0.9;

    fn push(&mut self, x: f64, y: f64) {
        for (s, v) in self.sums.iter_mut().zip([1.0, x, x * x, y, x * y]) {
            *s = Self::DECAY * *s + v;
        }
    }

    fn at(&self, x: f64) -> Option<f64> {
        let [n, sx, sxx, sy, sxy] = self.sums;
        if n <= 0.0 {
            return None;
        }
        let (mx, my) = (sx / n, sy / n);
        let var = sxx / n - mx * mx;
        // Only where every x is the same (to rounding): two clusters of x give the slope between
        // them however little weight the older one has left, so a prompt's prefill keeps
        // pricing positions through a long run of one-position plain rounds.
        if var <= 1e-9 * (1.0 + mx * mx) {
            return Some(my);
        }
        // A forward never gets cheaper with more positions.
        let slope = ((sxy / n - mx * my) / var).max(0.0);
        Some((my + slope * (x - mx)).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_length_grows_with_acceptance_and_shrinks_without() {
        let mut d = DraftLength::new(1, 8, 0.05, 0.5);
        let start = d.next();
        for _ in 0..20 {
            d.observe(8, 8);
        }
        assert_eq!(d.next(), 8, "rate {}", d.rate());
        for _ in 0..20 {
            d.observe(4, 0);
        }
        assert_eq!(d.next(), 1, "rate {}", d.rate());
        assert!((1..=8).contains(&start));
        // Expensive drafting keeps drafts short even at a good rate.
        let costly = DraftLength::new(1, 8, 1.0, 0.8);
        assert!(costly.next() <= 2);
    }

    /// Feeds rounds whose forward costs `f0 + f1 · positions` ms, over a link of `link` ms.
    fn timed(f0: f64, f1: f64, link: f64, draft_ms: f64, rate_rounds: (usize, usize)) -> DraftLength {
        let mut d = DraftLength::new(1, 8, 0.1, 0.5).with_plain();
        for i in 0..40 {
            let positions = 2 + i % 7;
            let forward = f0 + f1 * positions as f64;
            d.observe_round(positions, 0, forward, forward + link);
            d.observe_draft_ms(draft_ms);
            d.observe(rate_rounds.0, rate_rounds.1);
        }
        d
    }

    #[test]
    fn a_flat_verification_cost_drafts_long() {
        // A GPU target: 8 positions cost what one does; good acceptance.
        let mut d = timed(30.0, 0.1, 20.0, 3.0, (8, 7));
        // After 40 drafted rounds, one plain round is timed; drafting then goes on.
        assert_eq!(d.next(), 0, "a plain probe");
        d.observe_round(1, 0, 30.1, 50.1);
        d.observe(0, 0);
        assert_eq!(
            d.next(),
            8,
            "{:?}",
            (1..=8).map(|k| d.ms_per_token(k)).collect::<Vec<_>>()
        );
        let ratio = d.ms_per_token(0).unwrap() / d.ms_per_token(8).unwrap();
        assert!(ratio > 2.0, "speculation should pay several times over: {ratio}");
    }

    #[test]
    fn a_proportional_verification_cost_with_poor_acceptance_stops_drafting() {
        // A CPU target: every position costs a decode step; the drafter is a
        // third of the target and rarely right.
        let d = timed(0.0, 200.0, 0.0, 70.0, (4, 0));
        assert_eq!(
            d.next(),
            0,
            "{:?}",
            (0..=8).map(|k| d.ms_per_token(k)).collect::<Vec<_>>()
        );
    }

    /// Runs 200 rounds with a target whose forward costs `forward(positions)` ms (a plain
    /// round: 1 position), a free link, draft steps of `draft_ms` that keep all but one token;
    /// returns the rounds that went out plain.
    fn plain_rounds(d: &mut DraftLength, draft_ms: f64, forward: impl Fn(usize) -> f64) -> Vec<usize> {
        let mut plain_at = Vec::new();
        for i in 0..200 {
            let k = d.next();
            let ms = forward(k + 1);
            d.observe_round(k + 1, 0, ms, ms + 1.0);
            if k == 0 {
                plain_at.push(i);
                d.observe(0, 0);
            } else {
                d.observe_draft_ms(draft_ms);
                d.observe(k, k - 1);
            }
        }
        plain_at
    }

    #[test]
    fn drafted_rounds_time_a_plain_round_now_and_then() {
        // Drafted rounds behind a fixed 100 ms per round (a busy machine, a proxy): the line
        // through them puts a one-position forward near 115 ms, while the target decodes a
        // step in 46. Only a timed plain round shows it, and then plain rounds win.
        let mut d = DraftLength::new(1, 8, 0.1, 0.9).with_plain();
        for positions in [5, 9, 6, 8, 7] {
            d.observe_round(
                positions,
                0,
                100.0 + 13.0 * positions as f64,
                101.0 + 13.0 * positions as f64,
            );
            d.observe_draft_ms(20.0);
            d.observe(4, 4);
        }
        let plain = plain_rounds(&mut d, 20.0, |p| if p == 1 { 46.0 } else { 100.0 + 13.0 * p as f64 });
        assert!(plain[0] <= PROBE_EVERY, "{plain:?}");
        assert!(plain.len() > 150, "plain rounds win once timed: {}", plain.len());
        // A GPU-like target and a fast drafter, where drafting keeps winning: the probes thin
        // out to one in PROBE_MAX rounds.
        let mut gpu = DraftLength::new(1, 8, 0.1, 0.9).with_plain();
        let plain = plain_rounds(&mut gpu, 3.0, |p| 30.0 + 0.1 * p as f64);
        let gaps: Vec<usize> = plain.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{plain:?}");
        assert!(gaps.last().is_some_and(|&g| g > PROBE_MAX), "{plain:?}");
        // A fixed draft length never probes.
        let mut fixed = DraftLength::new(4, 4, 0.1, 0.9);
        assert!(plain_rounds(&mut fixed, 20.0, |p| 100.0 + 13.0 * p as f64).is_empty());
    }

    #[test]
    fn drafted_rounds_that_realize_less_than_plain_ones_go_plain_until_a_probe_shows_better() {
        // The parts say drafting pays several times over (a flat 30 ms forward, 3 ms drafts,
        // 7 of 8 kept), but the client lived 240 ms per drafted round of 4 tokens, against
        // 50 ms per plain token: say a drafter that slows the target down on shared cores.
        let mut d = timed(30.0, 0.1, 20.0, 3.0, (8, 7));
        for _ in 0..4 {
            d.observe_realized(true, 240.0, 4);
        }
        d.observe_realized(false, 50.0, 1);
        d.observe(0, 0);
        assert_eq!(d.realized_ms_per_token(), Some((60.0, 50.0)));
        assert_eq!(d.next(), 0, "realized costs overrule the parts");
        // Plain rounds go on, and after PROBE_EVERY of them one drafted round is tried.
        let mut plain = 0;
        while d.next() == 0 {
            d.observe_realized(false, 50.0, 1);
            d.observe(0, 0);
            plain += 1;
        }
        assert_eq!(plain, PROBE_EVERY - 1);
        // Probes that live 100 ms for 4 tokens pull the drafted figure under the plain one.
        let mut probes = 0;
        while d
            .realized_ms_per_token()
            .is_some_and(|(drafted, plain)| drafted > plain)
        {
            d.observe_realized(true, 100.0, 4);
            d.observe(8, 7);
            probes += 1;
        }
        assert!(probes <= 3, "{probes}");
        assert!(d.next() > 0, "drafting resumes");
    }

    /// A fresh client's first rounds against a target whose forward costs
    /// `f0 + f1 · positions` ms over a free link, after a 40-token prompt, with
    /// draft steps of `draft_ms` once timed; returns the lengths it chose.
    fn fresh_lengths(f0: f64, f1: f64, draft_ms: Option<f64>) -> Vec<usize> {
        let mut d = DraftLength::new(1, 8, 0.1, 0.6).with_plain();
        let mut ks = Vec::new();
        let mut context = 40;
        for _ in 0..COLD_ROUNDS + 3 {
            let k = d.next();
            ks.push(k);
            let ms = f0 + f1 * (context + k) as f64;
            d.observe_round(context + k, 0, ms, ms);
            if let Some(ms) = draft_ms {
                d.observe_draft_ms(ms);
            }
            d.observe(k, k * 3 / 4);
            context = 1 + k * 3 / 4;
        }
        ks
    }

    #[test]
    fn a_fresh_client_times_the_target_with_plain_rounds_before_it_drafts() {
        // A CPU target (28 ms a step, 10 ms more a position) and a drafter step of 22 ms: the
        // prompt's prefill and one plain step price a draft, and plain rounds win.
        let cpu = fresh_lengths(18.0, 10.0, Some(22.0));
        assert!(cpu.iter().all(|&k| k == 0), "{cpu:?}");
        // A GPU target (30 ms whatever the positions) and a 3 ms drafter: drafting after the cold rounds.
        let gpu = fresh_lengths(30.0, 0.05, Some(3.0));
        assert_eq!(gpu[..COLD_ROUNDS], [0; COLD_ROUNDS], "{gpu:?}");
        assert!(gpu[COLD_ROUNDS..].iter().all(|&k| k > 1), "{gpu:?}");
        // A driver that times nothing drafts from the second round on, by the relative model.
        let mut untimed = DraftLength::new(1, 8, 0.1, 0.6).with_plain();
        assert_eq!(untimed.next(), 0);
        untimed.observe(0, 0);
        assert!(untimed.next() > 0);
    }

    /// The 1.5B target on two cores (a 41-token prompt in 435 ms, a step in 35: 10 ms a
    /// position) and the 0.5B drafter (16 ms a step), as measured, after enough plain rounds
    /// for a probe: a drafter that was always right would save about 4.5 ms a token, one
    /// right 60 % of the time would lose.
    fn two_cores_after_plain_rounds() -> DraftLength {
        let mut d = DraftLength::new(1, 8, 0.1, 0.6).with_plain();
        d.observe_round(41, 0, 435.0, 435.0);
        d.observe(0, 0);
        d.observe_round(1, 0, 35.0, 35.0);
        d.observe(0, 0);
        d.observe_draft_ms(16.0);
        for _ in 0..PROBE_EVERY {
            d.observe(0, 0);
        }
        d
    }

    #[test]
    fn a_draft_goes_out_only_where_it_repays_the_drafters_catch_up() {
        let d = two_cores_after_plain_rounds();
        // Reading 50 positions (50 · 16 · 10/35 ≈ 229 ms) costs more than a perfect drafter
        // would save over 40 tokens: no probe.
        assert_eq!(d.choice_behind(50, 40), Choice::Plain(PlainReason::Predicted));
        // A drafter that has read everything, or a long answer, is probed.
        assert!(matches!(d.choice_behind(0, 40), Choice::Draft(_)));
        assert!(matches!(d.choice_behind(50, 1000), Choice::Draft(_)));
        assert!(matches!(d.choice(), Choice::Draft(_)));
    }

    #[test]
    fn a_probe_costs_at_most_its_share_of_the_rest_of_the_answer() {
        // A plain token costs 35 ms, a perfect drafter would save about 4.5 ms a token.
        let mut d = two_cores_after_plain_rounds();
        // Ten positions behind (estimated 10 · 16 · 10/35 ≈ 46 ms): a perfect drafter would
        // repay that over 40 tokens (180 ms), but the probe would cost more than 2.5 % of
        // them as plain rounds (35 ms). Over 1000 tokens it goes out.
        assert_eq!(d.choice_behind(10, 40), Choice::Plain(PlainReason::Predicted));
        assert!(matches!(d.choice_behind(10, 1000), Choice::Draft(_)));
        // Fifty behind over 300 tokens: estimated 229 ms against a budget of 262, a probe.
        assert!(matches!(d.choice_behind(50, 300), Choice::Draft(_)));
        // The drafter measured reading 60 positions in 480 ms (8 ms each, where the estimate
        // said 4.6): the same probe would cost 400 ms, over the budget.
        d.observe_catch_up(3, 1000.0);
        assert_eq!(
            d.catch_up_ms_per_position(),
            None,
            "too few positions to time a catch-up"
        );
        d.observe_catch_up(60, 480.0);
        assert_eq!(d.catch_up_ms_per_position(), Some(8.0));
        assert_eq!(d.choice_behind(50, 300), Choice::Plain(PlainReason::Predicted));
        assert!(matches!(d.choice_behind(50, 3000), Choice::Draft(_)));
        assert_eq!(d.draft_step_ms(), Some(16.0), "a catch-up is not a draft step");
    }

    #[test]
    fn a_client_that_never_timed_a_plain_round_times_one_early() {
        // A saved copy that only ever drafted.
        let mut d = timed(30.0, 0.0, 1.0, 3.0, (8, 7));
        d.seen_plain = false;
        d.drafted_streak = 0;
        let mut ks = Vec::new();
        for _ in 0..FIRST_PLAIN_PROBE + 1 {
            let k = d.next();
            ks.push(k);
            d.observe_round(k + 1, 0, 30.0, 31.0);
            d.observe(k, k.saturating_sub(1));
        }
        assert!(ks[..FIRST_PLAIN_PROBE].iter().all(|&k| k > 0), "{ks:?}");
        assert_eq!(ks[FIRST_PLAIN_PROBE], 0, "{ks:?}");
    }

    #[test]
    fn plain_rounds_probe_a_draft_again_less_and_less_often() {
        // A drafter that is never right, but fast enough to pay if it were.
        let mut d = timed(100.0, 20.0, 0.0, 5.0, (4, 0));
        for wait in [PROBE_EVERY, 2 * PROBE_EVERY, 4 * PROBE_EVERY] {
            for _ in 0..wait {
                assert_eq!(d.next(), 0);
                d.observe(0, 0);
            }
            assert_eq!(d.next(), 1, "after {wait} plain rounds one draft is tried");
            d.observe(1, 0);
        }
        assert_eq!(d.next(), 0);
    }

    #[test]
    fn over_a_long_link_plain_rounds_ask_the_target_to_go_on() {
        // A CPU target (200 ms a position) and a poor drafter: plain rounds.
        let near = timed(0.0, 200.0, 1.0, 70.0, (4, 0));
        assert_eq!(
            (near.next(), near.extension()),
            (0, 0),
            "a free link needs no continuation"
        );
        // 100 ms of link against 200 ms steps: 100 / (0.025 · 200) = 20 tokens a round.
        let mut far = timed(0.0, 200.0, 100.0, 70.0, (4, 0));
        assert_eq!((far.next(), far.extension()), (0, 19));
        assert!(
            (far.ms_per_token(0).unwrap() - 205.0).abs() < 1.0,
            "{:?}",
            far.ms_per_token(0)
        );
        // Its rounds then report 19 continued tokens; the per-step cost stays 200 ms.
        for _ in 0..10 {
            far.observe_round(1, 19, 4000.0, 4100.0);
        }
        assert_eq!(far.extension(), 19);
        // A link ten times longer hits the cap.
        let farther = timed(0.0, 200.0, 1000.0, 70.0, (4, 0));
        assert_eq!(farther.extension(), EXTEND_MAX);
    }

    #[test]
    fn lookup_drafts_are_sent_only_where_their_acceptance_pays_for_their_positions() {
        // A CPU target (60 ms a pass and 140 ms a position, free link) with a drafter that is
        // never right: plain rounds win.
        let mut d = timed(60.0, 140.0, 0.0, 70.0, (4, 0));
        assert_eq!(d.next(), 0);
        for _ in 0..20 {
            d.observe_lookup(Match::Short, 6, 0);
        }
        assert_eq!(
            d.lookup_length(Match::Short, 6, 0),
            None,
            "a lookup that is never right costs positions"
        );
        for _ in 0..20 {
            d.observe_lookup(Match::Long, 6, 6);
        }
        assert_eq!(
            d.lookup_length(Match::Long, 6, 0),
            Some(6),
            "one that is always right pays"
        );
        assert_eq!(
            d.lookup_length(Match::Short, 6, 0),
            None,
            "each class keeps its own rate"
        );
        // A fresh client prices each class at its prior: after a short match (one half) a
        // lookup loses to plain rounds here (227 against 200 ms a token), after a long one
        // (0.85) one token of it wins (184).
        let fresh = timed(60.0, 140.0, 0.0, 70.0, (4, 0));
        assert_eq!(fresh.lookup_length(Match::Short, 6, 0), None);
        assert_eq!(fresh.lookup_length(Match::Long, 6, 0), Some(1));
        // Untimed, every offered token goes.
        assert_eq!(
            DraftLength::new(1, 8, 0.1, 0.5).lookup_length(Match::Short, 3, 2),
            Some(3)
        );
    }

    #[test]
    fn a_drafter_too_slow_to_ever_pay_is_not_probed() {
        // Every position costs the CPU target a decode step, and a draft step a third of one:
        // even a drafter that is always right loses, so plain rounds never probe.
        let mut d = timed(0.0, 200.0, 0.0, 70.0, (4, 0));
        for _ in 0..4 * PROBE_MAX {
            assert_eq!(d.next(), 0);
            d.observe(0, 0);
        }
    }

    #[test]
    fn saved_costs_round_trip_and_a_resumed_copy_keeps_its_own_bounds() {
        let d = timed(0.0, 200.0, 100.0, 70.0, (4, 0));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<DraftLength>(&json).unwrap(), d);
        // A copy edited to draft a billion tokens at an impossible rate.
        let mut hostile: serde_json::Value = serde_json::from_str(&json).unwrap();
        hostile["max"] = 1_000_000_000.into();
        hostile["rate"] = 5.0.into();
        hostile["lookup_rates"] = serde_json::json!([5.0, -1.0, 0.25]);
        let resumed = serde_json::from_value::<DraftLength>(hostile).unwrap().bounded(1, 8);
        assert_eq!(resumed.max(), 8);
        assert!(resumed.rate() < 1.0);
        // Clamped, then halfway back to the priors (0.5, 0.7, 0.85).
        let lookup = Match::ALL.map(|c| resumed.lookup_rate(c));
        let expected = [0.7495, 0.35, 0.55];
        assert!(
            lookup.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-9),
            "{lookup:?}"
        );
        // A copy saved before lookup's rates were kept per match class starts them from the priors.
        let mut older: serde_json::Value = serde_json::from_str(&json).unwrap();
        older.as_object_mut().unwrap().remove("lookup_rates");
        older["lookup_rate"] = 0.9.into();
        let resumed = serde_json::from_value::<DraftLength>(older).unwrap().bounded(1, 8);
        assert_eq!(Match::ALL.map(|c| resumed.lookup_rate(c)), lookup_priors());
        assert_eq!((resumed.next(), resumed.extension()), (d.next(), d.extension()));
    }

    #[test]
    fn the_line_fit_recovers_a_line_and_refuses_to_slope_down() {
        let mut f = LineFit::default();
        for x in 1..=9 {
            f.push(f64::from(x), 5.0 + 2.0 * f64::from(x));
        }
        assert!((f.at(12.0).unwrap() - 29.0).abs() < 1e-6);
        let mut down = LineFit::default();
        for x in 1..=9 {
            down.push(f64::from(x), 50.0 - f64::from(x));
        }
        assert!(down.at(20.0).unwrap() >= down.at(1.0).unwrap() - 1e-9);
        assert_eq!(LineFit::default().at(1.0), None);
    }
}
