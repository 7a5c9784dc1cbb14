//! `tandem speculate`: speculative decoding from the command line. The
//! drafter runs here; drafts are verified by a target in this process
//! (`--target`) or by a gateway, worker or `tandem serve --target` across
//! HTTP (`--verifier URL`, `POST /v1/verify`).

use crate::models;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::sync::mpsc;
use std::time::Instant;
use tandem_decoding::chat::{Message, Role};
use tandem_decoding::sampling::SamplingConfig;
use tandem_decoding::speculative::{CloudTokens, DraftLength, DraftPolicy};
use tandem_engine::{LocalVerifier, SpeculateOptions, Target, Verifier, VerifyError};
use tandem_protocol::verify::{VerifyRefusal, VerifyReply, VerifyRequest};

/// Arguments of `tandem speculate`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The user's message (or raw text with --raw).
    prompt: String,
    /// The draft model (name or GGUF path).
    #[arg(long, default_value = "qwen2.5-coder-0.5b")]
    draft: String,
    /// A target model to verify with in this process (name or GGUF path).
    #[arg(long, conflicts_with = "verifier", required_unless_present = "verifier")]
    target: Option<String>,
    /// Base URL of a verifier (`…/v1/verify` is appended): a worker, a
    /// gateway or `tandem serve --target`.
    #[arg(long)]
    verifier: Option<String>,
    /// The target's model name at the verifier.
    #[arg(long, default_value = "qwen2.5-coder-1.5b")]
    target_name: String,
    /// Bearer token for the verifier (default: the TANDEM_TOKEN environment variable).
    #[arg(long)]
    token: Option<String>,
    /// Continue the text as is instead of applying the chat template.
    #[arg(long)]
    raw: bool,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Draft length per round; 0 = adaptive (1 to 8).
    #[arg(short, default_value_t = 0)]
    k: usize,
    /// Wait for each verdict instead of drafting ahead while it is in flight.
    #[arg(long)]
    no_pipeline: bool,
    /// Send a round again when its reply has not come within this many
    /// milliseconds; a second timeout ends the answer with an error.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    round_timeout_ms: u64,
    /// With adaptive lengths (`-k 0`), start from the costs and acceptance an
    /// earlier answer measured, kept in this JSON file, and save this
    /// answer's there: a client that learned that plain rounds win starts
    /// with them instead of paying for drafted rounds first. A missing or
    /// unreadable file starts fresh.
    #[arg(long)]
    learned_costs: Option<std::path::PathBuf>,
    /// Draft with the model only: no prompt-lookup (n-gram) drafts from the conversation itself.
    #[arg(long)]
    no_lookup: bool,
    /// The drafter scores only this many of the most frequent tokens (a
    /// shipped ranking) and the prompt's own, instead of its whole
    /// vocabulary: its output head, a small model's largest matrix, shrinks
    /// with it. 0: the whole vocabulary. The answer stays exact either way.
    #[arg(long, default_value_t = 0)]
    shortlist: usize,
    /// Sampling (temperature 0, the default, gives exactly the target's greedy output).
    #[command(flatten)]
    sampling: crate::generate::SamplingArgs,
    /// Print one JSON line with the text and statistics instead of streaming.
    #[arg(long)]
    json: bool,
    /// Backend of the local models.
    #[command(flatten)]
    backend: crate::generate::BackendArgs,
}

/// A reply and the number of the attempt it answers.
type Arrived = (u64, Result<VerifyReply, VerifyError>);
/// Where the verifier thread's replies arrive.
type Replies = mpsc::Receiver<Arrived>;

/// Verifies across HTTP on a thread of its own, so drafting goes on meanwhile.
/// Each round is its own request, so a round sent again after a timeout does
/// not queue behind the attempt that stalled; replies to attempts other than
/// the latest are dropped.
pub(crate) struct RemoteVerifier {
    requests: tokio::sync::mpsc::UnboundedSender<(u64, VerifyRequest)>,
    replies: Replies,
    /// The latest attempt's number.
    latest: u64,
}

impl RemoteVerifier {
    /// A verifier posting rounds to `{base_url}/v1/verify`; a request still
    /// unanswered after `ceiling` is abandoned.
    pub(crate) fn new(base_url: &str, token: Option<String>, ceiling: std::time::Duration) -> Result<Self> {
        let url = format!("{}/v1/verify", base_url.trim_end_matches('/'));
        let (requests, mut queue) = tokio::sync::mpsc::unbounded_channel::<(u64, VerifyRequest)>();
        let (reply_tx, replies) = mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = reqwest::Client::builder().tcp_nodelay(true).timeout(ceiling).build()?;
        std::thread::Builder::new()
            .name("tandem-verifier".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some((seq, round)) = queue.recv().await {
                        let (client, url, token, reply_tx) =
                            (client.clone(), url.clone(), token.clone(), reply_tx.clone());
                        tokio::spawn(async move {
                            let reply = post(&client, &url, token.as_deref(), &round).await;
                            let _ = reply_tx.send((seq, reply));
                        });
                    }
                });
            })?;
        Ok(Self {
            requests,
            replies,
            latest: 0,
        })
    }

    /// Takes what `recv` gives until the latest attempt's reply (replies to
    /// abandoned attempts are dropped): `None` when `recv` has nothing now
    /// (`Err(false)`), an error when the verifier thread stopped (`Err(true)`).
    fn next_reply(
        &mut self,
        mut recv: impl FnMut(&Replies) -> Result<Arrived, bool>,
    ) -> Option<Result<VerifyReply, VerifyError>> {
        loop {
            match recv(&self.replies) {
                Ok((seq, reply)) if seq == self.latest => return Some(reply),
                Ok(_) => {}
                Err(false) => return None,
                Err(true) => return Some(Err(VerifyError::Failed("the verifier thread has stopped".into()))),
            }
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    round: &VerifyRequest,
) -> Result<VerifyReply, VerifyError> {
    let failed = |e: String| VerifyError::Failed(e);
    let body = serde_json::to_vec(round).map_err(|e| failed(e.to_string()))?;
    let mut req = client.post(url).header("content-type", "application/json").body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| failed(e.to_string()))?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| failed(e.to_string()))?;
    match status {
        200 => serde_json::from_slice(&bytes).map_err(|e| failed(format!("malformed reply: {e}"))),
        s if VerifyRefusal::is_session_lost(s) => Err(VerifyError::SessionLost),
        _ => Err(failed(format!("{status}: {}", String::from_utf8_lossy(&bytes)))),
    }
}

impl Verifier for RemoteVerifier {
    fn submit(&mut self, round: VerifyRequest) -> Result<(), VerifyError> {
        self.latest += 1;
        self.requests
            .send((self.latest, round))
            .map_err(|_| VerifyError::Failed("the verifier thread has stopped".into()))
    }

    fn poll(&mut self) -> Option<Result<VerifyReply, VerifyError>> {
        self.next_reply(|r| r.try_recv().map_err(|e| e == mpsc::TryRecvError::Disconnected))
    }

    fn wait(&mut self, timeout_ms: Option<f64>) -> Option<Result<VerifyReply, VerifyError>> {
        let deadline = timeout_ms.map(|ms| Instant::now() + std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        self.next_reply(|r| match deadline {
            None => r.recv().map_err(|_| true),
            Some(at) => r
                .recv_timeout(at.saturating_duration_since(Instant::now()))
                .map_err(|e| e == mpsc::RecvTimeoutError::Disconnected),
        })
    }
}

/// Costs an earlier answer saved; `None` (start fresh) when the file is
/// missing or not what this version writes.
fn read_learned(path: &std::path::Path) -> Option<DraftLength> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(learned) => Some(learned),
        Err(e) => {
            eprintln!("ignoring {}: {e}", path.display());
            None
        }
    }
}

/// Milliseconds since the first call.
fn now_ms() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

pub(crate) fn run(args: Args) -> Result<()> {
    let (device, format) = args.backend.prepare()?;
    let (drafter, _) = models::load_engine(&args.draft, &device, format)?;
    let mut verifier: Box<dyn Verifier> = match (&args.target, &args.verifier) {
        (Some(target), _) => {
            let (engine, _) = models::load_engine(target, &device, format)?;
            if engine.tokenizer().vocab_size() != drafter.tokenizer().vocab_size() {
                bail!("the draft and target models must share a tokenizer");
            }
            Box::new(LocalVerifier::new(
                Target::new(engine.model().clone(), 1 << 30),
                Some(now_ms),
            ))
        }
        (None, Some(url)) => {
            let token = args.token.clone().or_else(|| std::env::var("TANDEM_TOKEN").ok());
            // A request is abandoned well after the state machine has given up on it.
            let ceiling = std::time::Duration::from_millis(args.round_timeout_ms.saturating_mul(3).max(1));
            Box::new(RemoteVerifier::new(url, token, ceiling)?)
        }
        (None, None) => bail!("give --target or --verifier"),
    };
    let prompt = if args.raw {
        args.prompt.clone()
    } else {
        drafter
            .template()
            .render(&[Message::new(Role::User, args.prompt.clone())])?
    };
    let ids = drafter.tokenizer().encode(&prompt)?;
    let shortlist = match args.shortlist {
        0 => None,
        size => {
            let list = drafter.draft_shortlist(size)?;
            if list.is_none() {
                eprintln!("note: no shortlist for this drafter (another tokenizer, or not the fused CPU decoder)");
            }
            list
        }
    };
    let mut session = [0u8; 12];
    getrandom::fill(&mut session).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let options = SpeculateOptions {
        model: args.target_name.clone(),
        session: hex::encode(session),
        max_tokens: args.max_tokens,
        draft: if args.k == 0 {
            DraftPolicy::Adaptive {
                min: 1,
                max: 8,
                draft_cost: 0.2,
            }
        } else {
            DraftPolicy::Fixed(args.k)
        },
        pipelined: !args.no_pipeline,
        lookup: !args.no_lookup,
        sampling: args.sampling.over(SamplingConfig::greedy()),
        round_timeout_ms: args.round_timeout_ms as f64,
        learned: args.learned_costs.as_deref().and_then(read_learned),
        clock: Some(now_ms),
        shortlist,
    };
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    let report = tandem_engine::speculate(&drafter, verifier.as_mut(), ids.clone(), &options, |text| {
        if !args.json {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.learned_costs {
        std::fs::write(path, serde_json::to_vec(&report.draft_length)?)
            .with_context(|| format!("saving the learned costs to {}", path.display()))?;
    }
    let tok_s = report.tokens.len() as f64 / seconds.max(1e-9);
    // Answer tokens the drafter could not have proposed (off its shortlist and the prompt's).
    let off_shortlist = options.shortlist.as_ref().map(|list| {
        report
            .tokens
            .iter()
            .filter(|&&t| !list.contains(t) && !ids.contains(&t))
            .count()
    });
    let stats = report.stats.pipeline;
    let spec = &report.stats;
    if args.json {
        let line = serde_json::json!({
            "text": report.text,
            "tokens": report.tokens,
            "prompt_tokens": ids.len(),
            "prompt_ids": ids,
            "stop": format!("{:?}", report.stop),
            "seconds": seconds,
            "tokens_per_second": tok_s,
            "rounds": stats.rounds,
            "sent": stats.sent,
            "accepted": stats.accepted,
            "acceptance": spec.acceptance(),
            "model_acceptance": spec.model_acceptance(),
            "lookup_rounds": spec.lookup_rounds,
            "lookup_sent": spec.lookup_sent,
            "lookup_accepted": spec.lookup_accepted,
            "passes_per_token": spec.passes_per_token(report.tokens.len()),
            "plain_rounds": spec.plain_rounds,
            // Why rounds went out plain: predicted by the measured costs, realized by the
            // rounds so far, or a probe.
            "plain_why": spec.plain_why,
            "reused": stats.reused,
            "discarded": stats.discarded,
            "draft_steps": spec.draft_steps,
            "target_forward_tokens": spec.target_forward_tokens,
            "target_forward_ms": spec.target_forward_ms,
            "round_ms": spec.round_ms,
            "resent": spec.resent,
            "timed_out": spec.timed_out,
            "extended": spec.extended,
            // The target's work as a provider bills it, and a plain cloud answer's.
            "cloud_tokens": spec.cloud_tokens(),
            "plain_cloud_tokens": CloudTokens::plain(ids.len(), report.tokens.len()),
            "shortlist": options.shortlist.as_ref().map(|list| list.len()),
            "off_shortlist": off_shortlist,
        });
        writeln!(out, "{line}")?;
    } else {
        writeln!(out)?;
        eprintln!(
            "{} tokens in {seconds:.2} s ({tok_s:.2} tok/s), {} rounds ({} plain: {} predicted, {} realized, {} probes), acceptance {:.2} ({} of {} drafted), {} drafted ahead reused, {} discarded",
            report.tokens.len(),
            stats.rounds,
            spec.plain_rounds,
            spec.plain_why.predicted,
            spec.plain_why.realized,
            spec.plain_why.probes,
            spec.acceptance(),
            stats.accepted,
            stats.sent,
            stats.reused,
            stats.discarded
        );
    }
    Ok(())
}
