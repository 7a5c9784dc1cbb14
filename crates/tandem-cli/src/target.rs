//! `tandem serve --target`: a target model on burn for speculative decoding.
//!
//! The model runs on a thread of its own (a forward pass blocks for tens of
//! milliseconds to seconds); the HTTP side sends it jobs and awaits the
//! answers. It serves:
//! * `/v1/verify` through the gateway, as an in-process
//!   [`TargetScorer`] (per-session KV caches; sampled rounds are exact);
//! * `/v1/completions` with vLLM's `prompt_logprobs` extension (greedy), the
//!   endpoint a gateway or worker uses when the target runs elsewhere.

use anyhow::{Context, Result};
use futures_util::future::LocalBoxFuture;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tandem_engine::target::{MAX_TOP_LOGPROBS, PositionLogprobs, TargetError};
use tandem_engine::{Engine, Target};
use tandem_gateway::{Response, ScoreError, Scored, TargetScorer};
use tandem_protocol::completions::{
    CompletionChoice, CompletionReply, CompletionRequest, CompletionUsage, Logprobs, Prompt, PromptTokensDetails,
    TokenLogprob,
};
use tandem_protocol::verify::{TargetStats, VerifyRequest};

/// The model and its caches, owned by the target thread.
struct Loaded {
    engine: Engine,
    target: Target,
}

/// Runs a job on the model, or, given `None`, reports that it expired unstarted.
type Work = Box<dyn FnOnce(Option<&mut Loaded>) + Send>;

/// Work for the target thread, with the time by which it must have started.
struct Job {
    start_by: Instant,
    work: Work,
}

/// How the target thread's queue is bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    /// Jobs that may wait; one more is refused at once with 503 and `Retry-After`.
    pub(crate) depth: usize,
    /// How long a job may wait before it is dropped unstarted (504). A caller
    /// also stops waiting after this plus [`RUN_DEADLINE`].
    pub(crate) wait: Duration,
}

/// The longest a started job is awaited (a 256-token completion on a 1.5B
/// model on two cores fits in it); the caller then answers 504.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// Why a job got no result.
#[derive(Debug, Clone, PartialEq)]
enum RunError {
    /// The queue is full.
    Busy,
    /// It waited or ran past its deadline.
    TimedOut(Duration),
    /// The model panicked or its thread stopped.
    Failed(String),
}

impl From<RunError> for ScoreError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Busy => ScoreError::Busy { retry_after_s: 1 },
            RunError::TimedOut(d) => ScoreError::TimedOut(d.as_secs()),
            RunError::Failed(m) => ScoreError::Failed(m),
        }
    }
}

/// A handle on the target thread.
#[derive(Clone)]
pub(crate) struct TargetHandle {
    name: String,
    jobs: mpsc::SyncSender<Job>,
    limits: QueueLimits,
}

impl TargetHandle {
    /// Loads `model` (name or GGUF path) on a new thread, serving it as
    /// `name` with `budget_bytes` of KV cache.
    pub(crate) fn spawn(
        model: String,
        name: String,
        device: burn::tensor::Device,
        format: tandem_models::WeightFormat,
        budget_bytes: usize,
        limits: QueueLimits,
    ) -> Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(limits.depth);
        let (ready_tx, ready) = mpsc::channel::<Result<String>>();
        std::thread::Builder::new()
            .name("tandem-target".into())
            .spawn(move || {
                let mut loaded = match crate::models::load_engine(&model, &device, format) {
                    Ok((engine, _)) => {
                        let target = Target::new(engine.model().clone(), budget_bytes);
                        let _ = ready_tx.send(Ok(format!(
                            "{} layers, {} KiB of KV cache per token",
                            engine.model().config().n_layers,
                            target.bytes_per_token() >> 10
                        )));
                        Loaded { engine, target }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                for job in queue {
                    if Instant::now() > job.start_by {
                        (job.work)(None);
                    } else {
                        (job.work)(Some(&mut loaded));
                    }
                }
            })?;
        let info = ready.recv().context("the target thread ended while loading")??;
        eprintln!("target `{name}`: {info}, budget {} MiB", budget_bytes >> 20);
        Ok(Self { name, jobs, limits })
    }

    /// Runs `f` on the target thread and awaits its result, within the queue's limits.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Loaded) -> T + Send + 'static) -> Result<T, RunError> {
        let (tx, rx) = futures_channel::oneshot::channel();
        let wait = self.limits.wait;
        let work: Work = Box::new(move |loaded: Option<&mut Loaded>| {
            let out = match loaded {
                None => Err(RunError::TimedOut(wait)),
                // A panic in the model must not take the server down: report it as a failure.
                Some(loaded) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(loaded)))
                    .map_err(|_| RunError::Failed("the target model panicked".into())),
            };
            let _ = tx.send(out);
        });
        let job = Job {
            start_by: Instant::now() + wait,
            work,
        };
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => RunError::Busy,
            mpsc::TrySendError::Disconnected(_) => RunError::Failed("the target thread has stopped".into()),
        })?;
        match tokio::time::timeout(wait + RUN_DEADLINE, rx).await {
            Ok(Ok(out)) => out,
            Ok(Err(_)) => Err(RunError::Failed("the target thread has stopped".into())),
            Err(_) => Err(RunError::TimedOut(wait + RUN_DEADLINE)),
        }
    }
}

impl TargetScorer for TargetHandle {
    /// Greedy completions with prompt log-probabilities as vLLM gives them.
    fn completions<'a>(&'a self, body: &'a [u8]) -> LocalBoxFuture<'a, Response> {
        Box::pin(self.complete_body(body))
    }

    fn serves(&self, model: &str) -> bool {
        model == self.name
    }

    fn models(&self) -> Vec<String> {
        vec![self.name.clone()]
    }

    fn score<'a>(&'a self, round: &'a VerifyRequest) -> LocalBoxFuture<'a, Result<Scored, ScoreError>> {
        Box::pin(self.score_round(round.clone()))
    }

    fn extend<'a>(
        &'a self,
        round: &'a VerifyRequest,
        held: usize,
        next: u32,
    ) -> LocalBoxFuture<'a, Result<(Vec<u32>, TargetStats), ScoreError>> {
        let round = round.clone();
        Box::pin(async move {
            let (result, ms) = self
                .run(move |loaded| {
                    let started = Instant::now();
                    let result = loaded.target.extend_round(&round, held, next);
                    (result, started.elapsed().as_secs_f64() * 1000.0)
                })
                .await?;
            let tokens = result.map_err(score_error)?;
            let stats = TargetStats {
                forward_tokens: tokens.len(),
                cached_tokens: 0,
                forward_ms: (ms * 10.0).round() / 10.0,
            };
            Ok((tokens, stats))
        })
    }
}

/// A target's refusal as the gateway reports it.
fn score_error(e: TargetError) -> ScoreError {
    match e {
        TargetError::SessionLost { held, .. } => ScoreError::SessionLost { held },
        TargetError::Invalid(m) => ScoreError::Invalid(m),
        e => ScoreError::Failed(e.to_string()),
    }
}

impl TargetHandle {
    /// Answers `POST /v1/completions` (greedy; prompt log-probabilities as vLLM gives them).
    async fn complete_body(&self, body: &[u8]) -> Response {
        let req: CompletionRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return invalid(format!("the body is not a completions request: {e}")),
        };
        if req.model != self.name {
            return Response::error(
                404,
                "invalid_request_error",
                "model_not_found",
                format!("this server's target is `{}`, not `{}`", self.name, req.model),
            );
        }
        if req.temperature.unwrap_or(0.0) != 0.0 || req.stream {
            return invalid("tandem serve's completions are greedy and not streamed: send temperature 0".into());
        }
        if req.max_tokens > 256 {
            return invalid("max_tokens is at most 256 here".into());
        }
        let top_n = req.prompt_logprobs.unwrap_or(0).max(req.logprobs.unwrap_or(0));
        if top_n > MAX_TOP_LOGPROBS {
            return invalid(format!("at most {MAX_TOP_LOGPROBS} log-probabilities per position"));
        }
        let name = self.name.clone();
        match self.run(move |loaded| complete(loaded, &req, &name)).await {
            Ok(Ok(body)) => Response::json(200, &body),
            Ok(Err(Refusal::Invalid(m))) => invalid(m),
            Ok(Err(Refusal::Failed(m))) => ScoreError::Failed(m).response(),
            Err(e) => ScoreError::from(e).response(),
        }
    }

    /// Scores one verification round on the target thread.
    async fn score_round(&self, req: VerifyRequest) -> Result<Scored, ScoreError> {
        let scored = self
            .run(move |loaded| {
                let started = Instant::now();
                let scored = loaded.target.score_round(&req);
                (scored, started.elapsed().as_secs_f64() * 1000.0)
            })
            .await?;
        match scored {
            (Ok(s), ms) => Ok(Scored {
                scores: s.scores,
                stats: TargetStats {
                    forward_tokens: s.forward_tokens,
                    cached_tokens: s.cached_tokens,
                    forward_ms: (ms * 10.0).round() / 10.0,
                },
            }),
            (Err(e), _) => Err(score_error(e)),
        }
    }
}

fn invalid(message: String) -> Response {
    Response::error(400, "invalid_request_error", "invalid_body", message)
}

/// Why a completions request got no answer (made into a response on the HTTP side).
enum Refusal {
    Invalid(String),
    Failed(String),
}

/// Runs a completions request on the target thread.
fn complete(loaded: &mut Loaded, req: &CompletionRequest, name: &str) -> Result<CompletionReply, Refusal> {
    let Loaded { engine, target } = loaded;
    let mut tokens = match &req.prompt {
        Prompt::Tokens(t) => t.clone(),
        Prompt::Text(t) => engine
            .tokenizer()
            .encode(t)
            .map_err(|e| Refusal::Invalid(e.to_string()))?,
    };
    let prompt_len = tokens.len();
    let fail = |e: TargetError| match e {
        TargetError::Invalid(m) => Refusal::Invalid(m),
        other => Refusal::Failed(other.to_string()),
    };
    let top_n = req.prompt_logprobs.unwrap_or(0).max(req.logprobs.unwrap_or(0));
    let first = target.prompt_logprobs(&tokens, top_n).map_err(fail)?;
    let cached = first.cached_tokens;
    let mut generated: Vec<PositionLogprobs> = Vec::new();
    let mut next = first.next.clone();
    let mut finish = "length";
    while generated.len() < req.max_tokens {
        // As vLLM does, a stop token (the model's, or one of the request's `stop_token_ids`)
        // ends the completion and is part of it (its token id and log-probability are
        // reported; its text is not).
        let stop = engine.stop_ids().contains(&next.token) || req.stop_token_ids.contains(&next.token);
        tokens.push(next.token);
        generated.push(next);
        if stop {
            finish = "stop";
            break;
        }
        if generated.len() == req.max_tokens {
            break;
        }
        next = target.prompt_logprobs(&tokens, top_n).map_err(fail)?.next;
    }
    let ids: Vec<u32> = generated
        .iter()
        .map(|g| g.token)
        .filter(|t| !engine.stop_ids().contains(t))
        .collect();
    let text = engine
        .tokenizer()
        .decode(&ids)
        .map_err(|e| Refusal::Failed(e.to_string()))?;
    let piece = |id: u32| -> String {
        if req.return_tokens_as_token_ids {
            format!("token_id:{id}")
        } else {
            engine.tokenizer().decode(&[id]).unwrap_or_default()
        }
    };
    let logprobs = req.logprobs.map(|n| Logprobs {
        tokens: generated.iter().map(|g| piece(g.token)).collect(),
        token_logprobs: generated.iter().map(|g| g.logprob).collect(),
        top_logprobs: generated
            .iter()
            .map(|g| {
                g.top[..n.min(g.top.len())]
                    .iter()
                    .map(|&(id, lp)| (piece(id), lp))
                    .collect()
            })
            .collect(),
    });
    let prompt_logprobs = req.prompt_logprobs.map(|n| {
        let mut entries = vec![None];
        for r in &first.prompt {
            let mut entry = BTreeMap::new();
            let mut add = |id: u32, logprob: f32, rank: usize| {
                entry.entry(id.to_string()).or_insert_with(|| TokenLogprob {
                    logprob,
                    rank,
                    decoded_token: Some(engine.tokenizer().decode(&[id]).unwrap_or_default()),
                });
            };
            add(r.token, r.logprob, r.rank);
            for (i, &(id, lp)) in r.top.iter().take(n).enumerate() {
                add(id, lp, i + 1);
            }
            entries.push(Some(entry));
        }
        entries
    });
    let (prompt_tokens, completion_tokens) = (prompt_len as u64, generated.len() as u64);
    Ok(CompletionReply {
        id: "cmpl-tandem".into(),
        object: "text_completion".into(),
        created: 0,
        model: name.to_owned(),
        choices: vec![CompletionChoice {
            index: 0,
            text,
            logprobs,
            finish_reason: Some(finish.into()),
            prompt_logprobs,
        }],
        usage: Some(CompletionUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: cached as u64,
            }),
        }),
    })
}
