//! `tandem shield eval`: accuracy on a labeled set, side by side with
//! baselines (e.g. Presidio's predictions on the same texts), and throughput.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tandem_core::eval::{self, Example, LabeledSpan, MatchMode, Report};
use tandem_core::shield::{Shield, to_detections};
use tandem_core::text::OffsetUnit;
use tandem_engine::Tagger;

/// Arguments of `tandem shield eval`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Labeled data: Presidio JSON or JSONL (`{"text", "spans": [{"label","start","end"}]}`).
    #[arg(long)]
    dataset: PathBuf,
    /// Another system's predictions on the same texts, as JSONL in the same
    /// order: `NAME=FILE` (repeatable).
    #[arg(long = "baseline", value_name = "NAME=FILE")]
    baselines: Vec<String>,
    /// Throughput measurement lasts at least this long.
    #[arg(long, default_value_t = 2.0)]
    min_seconds: f64,
    /// Print machine-readable JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write the JSON result to this file (tables still go to stdout).
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
    /// Write the last system's predictions (JSONL, code-point offsets) here, for error analysis.
    #[arg(long, value_name = "FILE")]
    predictions_out: Option<PathBuf>,
    /// Also score patterns + the on-device NER model (names, places,
    /// organizations, street addresses), side by side with patterns alone.
    #[arg(long)]
    model: bool,
    #[command(flatten)]
    tagger: crate::models::TaggerArgs,
}

struct System {
    name: String,
    predictions: Vec<Vec<LabeledSpan>>,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let content =
        std::fs::read_to_string(&args.dataset).with_context(|| format!("reading {}", args.dataset.display()))?;
    let gold = eval::parse_dataset(&content).with_context(|| format!("parsing {}", args.dataset.display()))?;
    let shield = Shield::default();
    let tagger = if args.model {
        Some(crate::models::load_tagger(&args.tagger)?)
    } else {
        None
    };
    let mut covered: BTreeSet<String> = shield.kinds().iter().map(|k| k.as_str().to_owned()).collect();
    if let Some(t) = &tagger {
        covered.extend(t.kinds().iter().map(|k| k.as_str().to_owned()));
    }

    let mut systems = vec![System {
        name: if tagger.is_some() { "Tandem patterns" } else { "Tandem" }.into(),
        predictions: predict(&shield, None, &gold)?,
    }];
    let mut model_time = None;
    if let Some(t) = &tagger {
        let start = Instant::now();
        systems.push(System {
            name: "Tandem + model".into(),
            predictions: predict(&shield, Some(t), &gold)?,
        });
        model_time = Some(start.elapsed().as_secs_f64());
    }
    for spec in &args.baselines {
        let (name, path) = spec
            .split_once('=')
            .with_context(|| format!("baseline `{spec}` is not NAME=FILE"))?;
        let content = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        let examples = eval::parse_dataset(&content).with_context(|| format!("parsing {path}"))?;
        if examples.len() != gold.len() || examples.iter().zip(&gold).any(|(a, b)| a.text != b.text) {
            bail!("{path}: predictions must list the data set's texts in the same order");
        }
        systems.push(System {
            name: name.into(),
            predictions: examples.into_iter().map(|e| e.spans).collect(),
        });
    }

    if let Some(path) = &args.predictions_out {
        let last = &systems[systems.len() - 1];
        let mut lines = String::new();
        for (e, spans) in gold.iter().zip(&last.predictions) {
            lines += &serde_json::to_string(&Example {
                text: e.text.clone(),
                spans: spans.clone(),
            })?;
            lines.push('\n');
        }
        std::fs::write(path, lines).with_context(|| format!("writing {}", path.display()))?;
    }
    let chars: usize = gold.iter().map(|e| e.text.chars().count()).sum();
    let throughput = measure(&shield, &gold, chars, Duration::from_secs_f64(args.min_seconds))?;
    let reports: Vec<(String, [Report; 2])> = systems
        .iter()
        .map(|s| {
            let r = |mode| eval::score(&gold, &s.predictions, &covered, mode);
            (s.name.clone(), [r(MatchMode::Exact), r(MatchMode::Overlap)])
        })
        .collect();

    let mut out = std::io::stdout().lock();
    let json = serde_json::json!({
        "dataset": args.dataset.display().to_string(),
        "texts": gold.len(),
        "chars": chars,
        "tandem_chars_per_sec": throughput,
        "tandem_model_chars_per_sec": model_time.map(|t| chars as f64 / t),
        "systems": reports.iter().map(|(n, r)| serde_json::json!({"name": n, "exact": r[0], "overlap": r[1]})).collect::<Vec<_>>(),
    });
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "Shield evaluation on {} ({} texts, {chars} chars)",
        args.dataset.display(),
        gold.len()
    )?;
    for (i, mode) in ["exact", "overlap"].iter().enumerate() {
        write_table(
            &mut out,
            mode,
            &reports.iter().map(|(n, r)| (n.as_str(), &r[i])).collect::<Vec<_>>(),
        )?;
    }
    let (_, tandem) = &reports[0];
    let not_covered: Vec<String> = tandem[0].not_covered.iter().map(|(l, n)| format!("{l} {n}")).collect();
    writeln!(
        out,
        "\nGold labels the pattern layer does not cover (not scored above): {}",
        not_covered.join(", ")
    )?;
    for (name, r) in &reports {
        let unscored: Vec<String> = r[0]
            .unscored_predictions
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        if !unscored.is_empty() {
            writeln!(
                out,
                "{name} predictions of labels the data set does not annotate: {}",
                unscored.join(", ")
            )?;
        }
    }
    writeln!(out, "\nThroughput, Tandem native (1 thread): {:.0} chars/s", throughput)?;
    if let Some(t) = model_time {
        writeln!(
            out,
            "Throughput with the model (CPU backend, one pass of the set): {:.0} chars/s, {:.1} ms per text",
            chars as f64 / t,
            t * 1e3 / gold.len().max(1) as f64
        )?;
    }
    Ok(())
}

/// Runs the shield (with the model's spans merged in, when given) on every
/// text; spans in code points.
fn predict(shield: &Shield, tagger: Option<&Tagger>, gold: &[Example]) -> Result<Vec<Vec<LabeledSpan>>> {
    gold.iter()
        .map(|e| {
            let model = match tagger {
                Some(t) => t.analyze(&e.text)?.entities,
                None => Vec::new(),
            };
            let spans = shield.analyze_with(&e.text, model)?;
            Ok(eval::spans_from_detections(&to_detections(
                &e.text,
                &spans,
                OffsetUnit::CodePoint,
            )))
        })
        .collect()
}

/// Chars per second over whole passes of the data set, for at least `min`.
fn measure(shield: &Shield, gold: &[Example], chars: usize, min: Duration) -> Result<f64> {
    // One warm-up pass compiles the lazily built regexes.
    predict(shield, None, gold)?;
    let start = Instant::now();
    let mut passes = 0usize;
    while passes == 0 || start.elapsed() < min {
        for e in gold {
            std::hint::black_box(shield.analyze(&e.text)?);
        }
        passes += 1;
    }
    Ok((chars * passes) as f64 / start.elapsed().as_secs_f64())
}

fn write_table(out: &mut impl Write, mode: &str, systems: &[(&str, &Report)]) -> Result<()> {
    writeln!(out, "\nMatching: {mode}")?;
    write!(out, "{:<16} {:>6}", "label", "gold")?;
    for (name, _) in systems {
        write!(out, " | {:^22}", name)?;
    }
    writeln!(out)?;
    write!(out, "{:<16} {:>6}", "", "")?;
    for _ in systems {
        write!(out, " | {:>6} {:>6} {:>8}", "P", "R", "F1")?;
    }
    writeln!(out)?;
    let Some((_, first)) = systems.first() else {
        return Ok(());
    };
    let rows = first
        .per_label
        .keys()
        .map(|l| (l.as_str(), false))
        .chain([("micro", true)]);
    for (label, micro) in rows {
        let pick = |r: &Report| {
            if micro {
                r.micro
            } else {
                r.per_label.get(label).copied().unwrap_or_default()
            }
        };
        let gold = pick(first).tp + pick(first).fn_;
        write!(out, "{:<16} {:>6}", label, gold)?;
        for (_, r) in systems {
            let c = pick(r);
            write!(out, " | {:>6.3} {:>6.3} {:>8.3}", c.precision(), c.recall(), c.f1())?;
        }
        writeln!(out)?;
    }
    Ok(())
}
