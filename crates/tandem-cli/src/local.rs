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
use tandem_core::eval::answers::{Judgement, judge, parse_cases};
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
}

/// Pass counts of one kind of case.
#[derive(Default, Serialize)]
struct Tally {
    cases: usize,
    passed: usize,
    degenerate: usize,
}

fn eval(args: EvalArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.set).with_context(|| format!("reading {}", args.set.display()))?;
    let cases = parse_cases(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.set.display()))?;
    let (device, format) = args.backend.prepare()?;
    let (engine, path) = models::load_engine(&args.model, &device, format)?;
    let options = args.answer.options();
    eprintln!("{}: {} cases, {options:?}", path.display(), cases.len());
    let start = Instant::now();
    let mut answered = Vec::with_capacity(cases.len());
    for case in &cases {
        let mut answer = String::new();
        let mut tokens = 0;
        let generation = engine.chat(&case.messages, &options)?;
        engine.generate(generation, |event| {
            if let Event::Token { text, .. } = event {
                answer.push_str(text);
                tokens += 1;
            }
        })?;
        let judgement = judge(case, &answer);
        if args.verbose {
            let mark = if judgement.passed() { "pass" } else { "FAIL" };
            println!(
                "{mark} {} (rep {:.2}): {}",
                case.id,
                judgement.repetition,
                answer.trim()
            );
        }
        answered.push(Answered {
            id: case.id.clone(),
            kind: case.kind.clone(),
            answer,
            tokens,
            judgement,
        });
    }
    let mut kinds: BTreeMap<&str, Tally> = BTreeMap::new();
    for a in &answered {
        for key in [a.kind.as_str(), "all"] {
            let t = kinds.entry(key).or_default();
            t.cases += 1;
            t.passed += usize::from(a.judgement.passed());
            t.degenerate += usize::from(a.judgement.degenerate);
        }
    }
    println!("{:<12} {:>5} {:>6} {:>10}", "kind", "cases", "passed", "degenerate");
    for (kind, t) in &kinds {
        println!("{kind:<12} {:>5} {:>6} {:>10}", t.cases, t.passed, t.degenerate);
    }
    let seconds = start.elapsed().as_secs_f64();
    let tokens: usize = answered.iter().map(|a| a.tokens).sum();
    println!("{tokens} tokens in {seconds:.1} s");
    if let Some(out) = &args.json_out {
        let json = serde_json::json!({
            "model": args.model,
            "options": format!("{options:?}"),
            "kinds": kinds,
            "answers": answered,
        });
        std::fs::write(out, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
