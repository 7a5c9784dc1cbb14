//! `tandem router`: route one query, or score the router on the held-out
//! routing data against a random router and a prompt-length baseline.

use crate::models::{TaggerArgs, load_tagger};
use anyhow::{Context, Result, bail};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tandem_core::eval::routing::{RoutedQuery, RouterReport, evaluate};
use tandem_core::router::{Conversation, Route, RouterPolicy, Signals};
use tandem_core::shield::Shield;

/// `tandem router …`
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Decide local or cloud for one query (argument or stdin), with the reason.
    Decide(DecideArgs),
    /// Score the router on the held-out routing data (AUC, APGR, CPT).
    Eval(EvalArgs),
    /// Time one analysis (encoder pass, both heads, decision) per query.
    Bench(BenchArgs),
    /// Write the routing head's input (pooled encoder state) per routing prompt, for training.
    Features(FeaturesArgs),
}

/// Arguments of `tandem router features`.
#[derive(clap::Args)]
pub(crate) struct FeaturesArgs {
    /// The routing data (`mmlu/*.csv`, `gsm8k_responses.csv`, `*_contaminated_prompts.jsonl`).
    #[arg(long, default_value = "../shared/data/routing")]
    data: PathBuf,
    /// Chat cases (`tandem local eval --set` format) whose last message is also encoded.
    #[arg(long, value_name = "FILE")]
    cases: Vec<PathBuf>,
    /// Where the JSON lines go.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    tagger: TaggerArgs,
}

/// Arguments of `tandem router bench`.
#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// MT-Bench-style JSONL (`{"turns": [first, …]}`); the first turn of each line is a query.
    #[arg(long, default_value = "../shared/data/prompts/mt_bench_questions.jsonl")]
    prompts: PathBuf,
    /// Queries to time (after one warm-up).
    #[arg(long, default_value_t = 40)]
    n: usize,
    #[command(flatten)]
    tagger: TaggerArgs,
}

/// Arguments of `tandem router decide`.
#[derive(clap::Args)]
pub(crate) struct DecideArgs {
    /// The query; read from stdin when absent or `-`.
    text: Option<String>,
    /// Route locally when P(local suffices) is at least this (the cost/quality knob).
    #[arg(long, default_value_t = RouterPolicy::default().min_local_probability)]
    threshold: f32,
    /// Treat the cloud as unreachable.
    #[arg(long)]
    offline: bool,
    /// Where the conversation's previous answer came from (`local` or `cloud`).
    #[arg(long, value_parser = parse_route)]
    previous: Option<Route>,
    /// An earlier message of the conversation stayed local as PII-dense.
    #[arg(long)]
    private: bool,
    #[command(flatten)]
    tagger: TaggerArgs,
}

fn parse_route(s: &str) -> Result<Route, String> {
    match s {
        "local" => Ok(Route::Local),
        "cloud" => Ok(Route::Cloud),
        _ => Err(format!("`{s}`: expected local or cloud")),
    }
}

/// Arguments of `tandem router eval`.
#[derive(clap::Args)]
pub(crate) struct EvalArgs {
    /// The routing data (`mmlu/*.csv`, `gsm8k_responses.csv`, `*_contaminated_prompts.jsonl`).
    #[arg(long, default_value = "../shared/data/routing")]
    data: PathBuf,
    /// Score only every n-th held-out query (quicker, less precise).
    #[arg(long, default_value_t = 1)]
    every: usize,
    /// Also write the JSON result to this file.
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
    /// Chat tasks (`tandem local eval --set` format) to score too: the held-out 30 % of them.
    #[arg(long, value_name = "FILE", requires = "task_labels")]
    tasks: Option<PathBuf>,
    /// The local model's judged answers to `--tasks` (`tandem local eval --json-out`).
    #[arg(long, value_name = "FILE", requires = "tasks")]
    task_labels: Option<PathBuf>,
    #[command(flatten)]
    tagger: TaggerArgs,
}

pub(crate) fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Decide(args) => decide(args),
        Command::Eval(args) => eval(args),
        Command::Bench(args) => bench(args),
        Command::Features(args) => features(args),
    }
}

/// First turns of an MT-Bench-style JSONL file.
pub(crate) fn first_turns(path: &Path, n: usize) -> Result<Vec<String>> {
    let content = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    content
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            v["turns"][0]
                .as_str()
                .map(str::to_owned)
                .context("a line without turns[0]")
        })
        .collect()
}

fn bench(args: BenchArgs) -> Result<()> {
    let queries = first_turns(&args.prompts, args.n)?;
    let tagger = load_tagger(&args.tagger)?;
    let policy = RouterPolicy::default();
    let shield = Shield::default();
    let run = |q: &str| -> Result<f64> {
        let start = Instant::now();
        let a = tagger.analyze(q)?;
        let spans = shield.analyze_with(q, a.entities)?;
        std::hint::black_box(policy.decide(&Signals {
            p_local: a.p_local,
            entities: spans.len(),
            words: a.words,
            ..Signals::default()
        }));
        Ok(start.elapsed().as_secs_f64() * 1e3)
    };
    run(&queries[0])?;
    let mut ms = queries.iter().map(|q| run(q)).collect::<Result<Vec<f64>>>()?;
    ms.sort_by(f64::total_cmp);
    let pick = |f: f64| ms[((ms.len() - 1) as f64 * f).round() as usize];
    let out = serde_json::json!({
        "backend": "native-cpu",
        "queries": ms.len(),
        "median_ms": pick(0.5),
        "p90_ms": pick(0.9),
        "mean_ms": ms.iter().sum::<f64>() / ms.len() as f64,
    });
    println!("{out}");
    Ok(())
}

fn decide(args: DecideArgs) -> Result<()> {
    let text = match args.text.as_deref() {
        Some(t) if t != "-" => t.to_owned(),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading stdin")?;
            s
        }
    };
    let tagger = load_tagger(&args.tagger)?;
    let start = Instant::now();
    let analysis = tagger.analyze(&text)?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let spans = Shield::default().analyze_with(&text, analysis.entities.clone())?;
    let policy = RouterPolicy {
        min_local_probability: args.threshold,
        ..RouterPolicy::default()
    };
    let decision = policy.decide(&Signals {
        p_local: analysis.p_local,
        entities: spans.len(),
        words: analysis.words,
        cloud_available: !args.offline,
        local_available: true,
        conversation: Conversation {
            previous: args.previous,
            private: args.private,
        },
    });
    let entities: Vec<_> = spans
        .iter()
        .map(|s| serde_json::json!({"kind": s.kind, "text": s.text(&text), "score": s.score, "recognizer": s.recognizer}))
        .collect();
    let out = serde_json::json!({
        "route": decision.route,
        "pLocal": decision.p_local,
        "reason": decision.reason.to_string(),
        "entities": entities,
        "pieces": analysis.pieces,
        "analysisMs": ms,
    });
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &out)?;
    writeln!(stdout)?;
    Ok(())
}

/// One routing example.
struct Row {
    prompt: String,
    weak: bool,
    strong: bool,
    /// The MMLU subject, or `gsm8k`.
    group: String,
    split: Split,
}

/// Which part of the routing data a prompt belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Split {
    /// Fits the head.
    Train,
    /// Chooses its settings and calibrates it.
    Calib,
    /// Held out: only scored.
    Eval,
}

/// `h` of a prompt: the first four bytes of its sha256, big-endian, mod 100
/// (`train_encoder.py`'s `split_of`).
/// The share (in percent, by `hash_share`) of GSM8K prompts and chat tasks held out; the
/// training scripts hold out by the same rule.
const HELD_OUT_PERCENT: u32 = 30;

fn hash_share(prompt: &str) -> u32 {
    let d = sha2::Sha256::digest(prompt.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % 100
}

/// Every routing prompt with its split, by the rule
/// `pkg-scripts/train_encoder.py` trained with: held out are whole MMLU
/// subjects named in the heads file, every contaminated prompt, and 30% of
/// GSM8K by sha256 of the prompt; of the rest, one in ten calibrates.
fn routing_rows(data: &Path, eval_subjects: &BTreeSet<String>) -> Result<Vec<Row>> {
    let mut contaminated = BTreeSet::new();
    for name in ["mmlu_contaminated_prompts.jsonl", "gsm8k_contaminated_prompts.jsonl"] {
        let path = data.join(name);
        let content = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        for line in content.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}", path.display()))?;
            if let Some(p) = v["eval_prompt"].as_str() {
                contaminated.insert(p.trim().to_owned());
            }
        }
    }
    let read = |path: &Path, group: &str, rows: &mut Vec<Row>| -> Result<()> {
        let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
        for rec in reader.records() {
            let rec = rec.with_context(|| format!("{}", path.display()))?;
            let prompt = rec.get(0).unwrap_or_default().to_owned();
            let h = hash_share(&prompt);
            let split = if contaminated.contains(prompt.trim())
                || eval_subjects.contains(group)
                || (group == "gsm8k" && h < HELD_OUT_PERCENT)
            {
                Split::Eval
            } else if h.is_multiple_of(10) {
                Split::Calib
            } else {
                Split::Train
            };
            rows.push(Row {
                weak: rec.get(1) == Some("True"),
                strong: rec.get(2) == Some("True"),
                prompt,
                group: group.to_owned(),
                split,
            });
        }
        Ok(())
    };
    let mut rows = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("mmlu"))
        .with_context(|| format!("reading {}/mmlu", data.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    for path in files {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let subject = stem.strip_prefix("mmlu_").unwrap_or(stem).to_owned();
        read(&path, &subject, &mut rows)?;
    }
    read(&data.join("gsm8k_responses.csv"), "gsm8k", &mut rows)?;
    Ok(rows)
}

/// The held-out split of [`routing_rows`].
fn held_out(data: &Path, eval_subjects: &BTreeSet<String>) -> Result<Vec<Row>> {
    Ok(routing_rows(data, eval_subjects)?
        .into_iter()
        .filter(|r| r.split == Split::Eval)
        .collect())
}

/// Writes the routing head's input for every routing prompt (and extra
/// chat cases) as JSON lines, for `pkg-scripts/train_local_router.py`.
fn features(args: FeaturesArgs) -> Result<()> {
    let tagger = load_tagger(&args.tagger)?;
    let subjects: BTreeSet<String> = tagger.model().info().router_eval_subjects.iter().cloned().collect();
    let rows = routing_rows(&args.data, &subjects)?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?,
    );
    let start = Instant::now();
    let mut write = |record: serde_json::Value| -> Result<()> {
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    for (i, r) in rows.iter().enumerate() {
        let x = tagger.pooled(&r.prompt)?;
        write(serde_json::json!({
            "source": "routing", "group": r.group, "split": r.split,
            "weak": r.weak, "strong": r.strong, "prompt": r.prompt, "x": x,
        }))?;
        if (i + 1) % 1000 == 0 {
            eprintln!("  {} / {} ({:.0} s)", i + 1, rows.len(), start.elapsed().as_secs_f64());
        }
    }
    for path in &args.cases {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}", path.display()))?;
            let last = case["messages"]
                .as_array()
                .and_then(|m| m.last())
                .and_then(|m| m["content"].as_str())
                .with_context(|| format!("{}: a case without messages", path.display()))?;
            let x = tagger.pooled(last)?;
            write(serde_json::json!({
                "source": path.display().to_string(), "id": case["id"], "kind": case["kind"], "prompt": last, "x": x,
            }))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    let tagger = load_tagger(&args.tagger)?;
    let subjects: BTreeSet<String> = tagger.model().info().router_eval_subjects.iter().cloned().collect();
    if subjects.is_empty() {
        bail!("the heads file names no held-out subjects");
    }
    // A head trained for a local model is scored on that model's own labels: its MMLU and
    // GSM8K answers are not scored (no gold letters), so it is taken to be wrong there.
    let local_model = tagger.model().routing_for().map(str::to_owned);
    let mut parts: Vec<(&str, Vec<Labelled>)> = vec![(
        "routing",
        held_out(&args.data, &subjects)?
            .into_iter()
            .step_by(args.every.max(1))
            .map(|r| Labelled {
                weak: r.weak && local_model.is_none(),
                strong: r.strong,
                prompt: r.prompt,
            })
            .collect(),
    )];
    if let (Some(tasks), Some(labels)) = (&args.tasks, &args.task_labels) {
        parts.push(("tasks", held_out_tasks(tasks, labels)?));
    }
    let start = Instant::now();
    let mut json = serde_json::json!({
        "heldOutSubjects": subjects,
        "localModel": local_model,
        "random": {"auc": 0.5, "apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8},
    });
    let mut out = std::io::stdout().lock();
    let mut scored_total = 0;
    for (part, rows) in &parts {
        eprintln!("scoring {} held-out {part} queries", rows.len());
        let mut scored = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let a = tagger.analyze(&r.prompt)?;
            scored.push(RoutedQuery {
                p_local: f64::from(a.p_local),
                weak_correct: r.weak,
                strong_correct: r.strong,
            });
            if (i + 1) % 500 == 0 {
                eprintln!("  {} / {} ({:.0} s)", i + 1, rows.len(), start.elapsed().as_secs_f64());
            }
        }
        scored_total += rows.len();
        let length: Vec<RoutedQuery> = rows
            .iter()
            .zip(&scored)
            .map(|(r, q)| RoutedQuery {
                p_local: -(r.prompt.chars().count() as f64),
                ..*q
            })
            .collect();
        let report = |qs: &[RoutedQuery]| {
            evaluate(qs).with_context(|| format!("no performance gap to recover in the {part} split"))
        };
        let mut systems: BTreeMap<&str, RouterReport> = BTreeMap::new();
        systems.insert("1 tandem router", report(&scored)?);
        systems.insert("2 prompt length", report(&length)?);
        let calibration = calibration(&scored);
        let local_share = scored.iter().filter(|q| q.p_local >= 0.5).count() as f64 / scored.len().max(1) as f64;
        let r = &systems["1 tandem router"];
        let weak_name = local_model.as_deref().unwrap_or("weak model");
        writeln!(
            out,
            "{part}: {} held-out queries; {weak_name} {:.3}, strong model {:.3} accurate; routed local at p >= 0.5: {:.1}%",
            r.n,
            r.weak_accuracy,
            r.strong_accuracy,
            100.0 * local_share
        )?;
        writeln!(
            out,
            "{:<18} {:>6} {:>6} {:>8} {:>8}",
            "router", "AUC", "APGR", "CPT(50%)", "CPT(80%)"
        )?;
        writeln!(
            out,
            "{:<18} {:>6.3} {:>6.3} {:>8.3} {:>8.3}",
            "random (expected)", 0.5, 0.5, 0.5, 0.8
        )?;
        for (name, r) in &systems {
            writeln!(
                out,
                "{:<18} {:>6.3} {:>6.3} {:>8.3} {:>8.3}",
                &name[2..],
                r.auc,
                r.apgr,
                r.cpt50,
                r.cpt80
            )?;
        }
        writeln!(
            out,
            "calibration (mean predicted vs observed, by decile of p): {calibration:?}"
        )?;
        let systems_json: BTreeMap<String, serde_json::Value> = systems
            .iter()
            .map(|(k, v)| (k[2..].to_owned(), serde_json::to_value(v).unwrap_or_default()))
            .collect();
        let part_json = serde_json::json!({
            "queries": rows.len(), "systems": systems_json, "calibration": calibration, "routedLocalAt05": local_share,
        });
        // The routing split keeps its keys at the top level, as before tasks were scored.
        if *part == "routing" {
            if let (Some(obj), serde_json::Value::Object(p)) = (json.as_object_mut(), part_json) {
                obj.extend(p);
            }
        } else {
            json[*part] = part_json;
        }
    }
    let per_query_ms = start.elapsed().as_secs_f64() * 1e3 / scored_total.max(1) as f64;
    json["msPerQuery"] = per_query_ms.into();
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    writeln!(
        out,
        "analysis time: {per_query_ms:.1} ms per query (CPU backend, 1 query at a time)"
    )?;
    Ok(())
}

/// A held-out query with whether the weak (local) and strong (cloud) models answer it well.
struct Labelled {
    prompt: String,
    weak: bool,
    strong: bool,
}

/// The held-out chat tasks (30 % by sha256 of the prompt, the rule
/// `pkg-scripts/train_local_router.py` holds out by), labelled by the local
/// model's judged answers; the cloud is taken to answer them well.
fn held_out_tasks(tasks: &Path, labels: &Path) -> Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(labels).with_context(|| format!("reading {}", labels.display()))?;
    let judged: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}", labels.display()))?;
    let usable: BTreeMap<&str, bool> = judged["answers"]
        .as_array()
        .with_context(|| {
            format!(
                "{}: no answers (expected `tandem local eval --json-out`)",
                labels.display()
            )
        })?
        .iter()
        .filter_map(|a| {
            let ok = a["keywords"].as_bool()? && !a["degenerate"].as_bool()? && !a["refused"].as_bool()?;
            Some((a["id"].as_str()?, ok))
        })
        .collect();
    let cases = crate::local::read_cases(tasks)?;
    let mut rows = Vec::new();
    for case in &cases {
        let Some(&weak) = usable.get(case.id.as_str()) else {
            continue;
        };
        // The question is the last message, as `tandem router features` encodes it.
        let prompt = &case
            .messages
            .last()
            .with_context(|| format!("{}: case {} has no messages", tasks.display(), case.id))?
            .content;
        if hash_share(prompt) < HELD_OUT_PERCENT {
            rows.push(Labelled {
                prompt: prompt.to_owned(),
                weak,
                strong: true,
            });
        }
    }
    Ok(rows)
}

/// Mean predicted probability and the observed share of "weak model suffices" per decile of `p_local`.
fn calibration(qs: &[RoutedQuery]) -> Vec<(f64, f64, usize)> {
    let mut sorted: Vec<&RoutedQuery> = qs.iter().collect();
    sorted.sort_by(|a, b| a.p_local.total_cmp(&b.p_local));
    sorted
        .chunks(sorted.len().div_ceil(10).max(1))
        .map(|c| {
            let n = c.len() as f64;
            let p = c.iter().map(|q| q.p_local).sum::<f64>() / n;
            let y = c.iter().filter(|q| q.weak_suffices()).count() as f64 / n;
            ((p * 1000.0).round() / 1000.0, (y * 1000.0).round() / 1000.0, c.len())
        })
        .collect()
}
