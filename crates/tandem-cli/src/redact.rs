//! `tandem shield redact`.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use tandem_core::shield::{Policy, Redactor, Shield, ShieldConfig};
use tandem_core::text::OffsetUnit;
use tandem_core::{Action, EntityKind};

/// Arguments of `tandem shield redact`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The text; read from stdin when absent or `-`.
    text: Option<String>,
    /// Per-kind action, e.g. `--policy URL=allow --policy CREDIT_CARD=mask`.
    #[arg(long = "policy", value_name = "KIND=ACTION")]
    policies: Vec<String>,
    /// Minimum score for an entity to be acted on.
    #[arg(long, default_value_t = ShieldConfig::default().min_score)]
    min_score: f32,
    /// Print the full result as JSON (offsets in UTF-8 bytes).
    #[arg(long)]
    json: bool,
    /// Also find names, places, organizations and street addresses with the
    /// on-device NER model.
    #[arg(long)]
    model: bool,
    #[command(flatten)]
    tagger: crate::models::TaggerArgs,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let text = match args.text.as_deref() {
        Some(t) if t != "-" => t.to_owned(),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading stdin (it must be UTF-8)")?;
            s
        }
    };
    let mut policy = Policy::default();
    for p in &args.policies {
        let (kind, action) = p
            .split_once('=')
            .with_context(|| format!("policy `{p}` is not KIND=ACTION"))?;
        let kind: EntityKind = kind.parse()?;
        let action = match action.to_ascii_lowercase().as_str() {
            "redact" => Action::Redact,
            "mask" => Action::Mask,
            "allow" => Action::Allow,
            other => bail!("unknown action `{other}`; expected redact, mask or allow"),
        };
        policy.set(kind, action);
    }
    let shield = Shield::new(ShieldConfig {
        min_score: args.min_score,
        ..Default::default()
    });
    let mut redactor = Redactor::with_policy(shield, policy);
    let model_spans = if args.model {
        crate::models::load_tagger(&args.tagger)?.analyze(&text)?.entities
    } else {
        Vec::new()
    };
    let redacted = redactor.redact_with(&text, model_spans)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &redacted.to_wire(&text, OffsetUnit::Utf8))?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", redacted.text)?;
    }
    Ok(())
}
