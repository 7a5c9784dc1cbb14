//! `tandem local`: what the local model's answers are worth.
//!
//! `local eval` answers each prompt of a JSONL set of simple cases
//! (`tests/data/local/simple-prompts.jsonl`) with a local model and judges
//! the answers by keywords and repetition (`tandem_core::eval::answers`),
//! so generation defaults are chosen on measured answers.

use crate::generate::{AnswerArgs, BackendArgs};
use crate::models;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use tandem_core::cascade::{CascadeBar, Confidence};
use tandem_core::eval::answers::{Judgement, judge, parse_cases};
use tandem_core::eval::routing::auc;
use tandem_engine::Event;

/// `tandem local …`
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Answer a set of simple prompts and judge the answers (keywords, repetition).
    Eval(EvalArgs),
}

/// Arguments of `tandem local eval`.
#[derive(clap::Args)]
pub(crate) struct EvalArgs {
    /// JSON lines of cases: `{"id", "kind", "messages", "any": [[words]], "none": [words]}`.
    #[arg(long, default_value = "tests/data/local/simple-prompts.jsonl")]
    set: PathBuf,
    /// Model name (see pkg-scripts/models.json) or GGUF path.
    #[arg(long, default_value = "smollm2-135m")]
    model: String,
    /// Print every answer.
    #[arg(long)]
    verbose: bool,
    /// Also write the JSON result to this file.
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
    /// The cascade's bar: how many first tokens it judges…
    #[arg(long, default_value_t = 8)]
    cascade_tokens: usize,
    /// …and the mean log-probability below which it switches to the cloud.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    cascade_min_logprob: f32,
    #[command(flatten)]
    answer: AnswerArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

pub(crate) fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Eval(args) => eval(args),
    }
}

/// One judged answer.
#[derive(Serialize)]
struct Answered {
    id: String,
    kind: String,
    answer: String,
    tokens: usize,
    #[serde(flatten)]
    judgement: Judgement,
    /// Mean log-probability of the first `cascade_tokens` tokens.
    mean_logprob: f32,
    /// Mean entropy of the same tokens.
    mean_entropy: f32,
    /// The cascade would have kept the local answer.
    kept_local: bool,
}

/// Pass counts of one kind of case.
#[derive(Default, Serialize)]
struct Tally {
    cases: usize,
    passed: usize,
    degenerate: usize,
    refused: usize,
}

/// The cases of a set file (JSON lines of `AnswerCase`), with the file named in errors.
pub(crate) fn read_cases(path: &std::path::Path) -> Result<Vec<tandem_core::eval::answers::AnswerCase>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_cases(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn eval(args: EvalArgs) -> Result<()> {
    let cases = read_cases(&args.set)?;
    let (device, format) = args.backend.prepare()?;
    let (engine, path) = models::load_engine(&args.model, &device, format)?;
    let options = args.answer.options(false);
    eprintln!("{}: {} cases, {options:?}", path.display(), cases.len());
    let bar = CascadeBar {
        tokens: args.cascade_tokens,
        min_mean_logprob: args.cascade_min_logprob,
    };
    let start = Instant::now();
    let mut answered = Vec::with_capacity(cases.len());
    for case in &cases {
        let mut answer = String::new();
        let mut confidence = Confidence::default();
        let generation = engine.chat(&case.messages, &options)?;
        engine.generate(generation, |event| {
            if let Event::Token {
                text, confidence: c, ..
            } = event
            {
                answer.push_str(text);
                confidence.push(*c);
            }
        })?;
        let tokens = confidence.len();
        let judgement = judge(case, &answer);
        let verdict = bar
            .verdict(&confidence, true)
            .context("an ended answer has a verdict")?;
        if args.verbose {
            let mark = if judgement.passed() { "pass" } else { "FAIL" };
            let (rep, logprob) = (judgement.repetition, verdict.mean_logprob);
            println!(
                "{mark} {} (rep {rep:.2}, logprob {logprob:.2}): {}",
                case.id,
                answer.trim()
            );
        }
        answered.push(Answered {
            id: case.id.clone(),
            kind: case.kind.clone(),
            answer,
            tokens,
            judgement,
            mean_logprob: verdict.mean_logprob,
            mean_entropy: confidence.mean_entropy(args.cascade_tokens),
            kept_local: verdict.keep_local,
        });
    }
    let mut kinds: BTreeMap<&str, Tally> = BTreeMap::new();
    for a in &answered {
        for key in [a.kind.as_str(), "all"] {
            let t = kinds.entry(key).or_default();
            t.cases += 1;
            t.passed += usize::from(a.judgement.passed());
            t.degenerate += usize::from(a.judgement.degenerate);
            t.refused += usize::from(a.judgement.refused);
        }
    }
    println!(
        "{:<12} {:>5} {:>6} {:>10} {:>7}",
        "kind", "cases", "passed", "degenerate", "refused"
    );
    for (kind, t) in &kinds {
        println!(
            "{kind:<12} {:>5} {:>6} {:>10} {:>7}",
            t.cases, t.passed, t.degenerate, t.refused
        );
    }
    let cascade = cascade_report(&answered);
    println!(
        "cascade ({} tokens, mean logprob >= {}): switches {} of {}; catches {} of {} unusable answers, gives up {} of {} usable; \
         AUC of mean logprob for usable {}, of -entropy {}",
        bar.tokens,
        bar.min_mean_logprob,
        cascade.switched,
        answered.len(),
        cascade.caught,
        cascade.unusable,
        cascade.given_up,
        answered.len() - cascade.unusable,
        cascade.auc_logprob.map_or("n/a".into(), |a| format!("{a:.3}")),
        cascade.auc_entropy.map_or("n/a".into(), |a| format!("{a:.3}")),
    );
    let seconds = start.elapsed().as_secs_f64();
    let tokens: usize = answered.iter().map(|a| a.tokens).sum();
    println!("{tokens} tokens in {seconds:.1} s");
    if let Some(out) = &args.json_out {
        let json = serde_json::json!({
            "model": args.model,
            "options": format!("{options:?}"),
            "kinds": kinds,
            "cascade": { "bar": bar, "report": cascade },
            "answers": answered,
        });
        std::fs::write(out, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// What the cascade's bar would have done to these answers.
#[derive(Serialize)]
struct CascadeReport {
    /// Answers it hands to the cloud.
    switched: usize,
    /// Unusable answers (failed keywords or degenerate).
    unusable: usize,
    /// Unusable answers it hands to the cloud.
    caught: usize,
    /// Usable answers it hands to the cloud anyway.
    given_up: usize,
    /// How well the mean log-probability ranks usable above unusable answers.
    auc_logprob: Option<f64>,
    /// The same for the negated mean entropy.
    auc_entropy: Option<f64>,
}

fn cascade_report(answered: &[Answered]) -> CascadeReport {
    let usable: Vec<bool> = answered.iter().map(|a| a.judgement.passed()).collect();
    let count = |f: &dyn Fn(&Answered, bool) -> bool| answered.iter().zip(&usable).filter(|(a, u)| f(a, **u)).count();
    let scores = |f: fn(&Answered) -> f32| answered.iter().map(|a| f64::from(f(a))).collect::<Vec<_>>();
    CascadeReport {
        switched: count(&|a, _| !a.kept_local),
        unusable: count(&|_, u| !u),
        caught: count(&|a, u| !u && !a.kept_local),
        given_up: count(&|a, u| u && !a.kept_local),
        auc_logprob: auc(&scores(|a| a.mean_logprob), &usable),
        auc_entropy: auc(&scores(|a| -a.mean_entropy), &usable),
    }
}
