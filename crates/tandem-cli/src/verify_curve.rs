//! `tandem verify-curve`: what a forward over k new positions costs on a
//! cached context, relative to one position. Speculative verification runs
//! k drafted tokens in one pass, so this curve decides whether it pays.

use crate::generate::BackendArgs;
use crate::models;
use anyhow::{Result, ensure};
use std::time::Instant;

/// Arguments of `tandem verify-curve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Model name (see pkg-scripts/models.json) or GGUF path.
    #[arg(long, default_value = "smollm2-135m")]
    model: String,
    /// Positions already in the KV cache before each timed forward.
    #[arg(long, default_value_t = 128)]
    context: usize,
    /// New positions per forward.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    positions: Vec<usize>,
    /// Timed forwards per k (the median is reported), after one untimed.
    #[arg(long, default_value_t = 7)]
    repeat: usize,
    #[command(flatten)]
    backend: BackendArgs,
}

pub(crate) fn run(args: Args) -> Result<()> {
    ensure!(
        args.repeat > 0 && args.context > 0,
        "--repeat and --context must be positive"
    );
    let (device, format) = args.backend.prepare()?;
    let (engine, path) = models::load_engine(&args.model, &device, format)?;
    let model = engine.model();
    let vocab = model.config().vocab_size as u32;
    // Any fixed token ids do: the cost does not depend on their values.
    let tokens: Vec<u32> = (0..args.context + args.positions.iter().max().copied().unwrap_or(1))
        .map(|i| (i as u32 * 7919 + 13) % vocab)
        .collect();
    let mut cache = model.new_cache();
    let logits = model.forward(&tokens[..args.context], &mut cache)?;
    drop(logits.into_data());
    println!(
        "{} on {:?}, {:?} weights, context {}",
        path.display(),
        args.backend.device,
        args.backend.weights,
        args.context
    );
    println!("{:>4} {:>12} {:>10}", "k", "ms/forward", "÷ k=1");
    let mut base = None;
    for &k in &args.positions {
        ensure!(k > 0, "positions must be positive");
        let mut times = Vec::with_capacity(args.repeat);
        for rep in 0..=args.repeat {
            cache.truncate(args.context);
            let start = Instant::now();
            let logits = model.forward(&tokens[args.context..args.context + k], &mut cache)?;
            drop(logits.into_data());
            if rep > 0 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let one = *base.get_or_insert(median);
        println!("{k:>4} {median:>12.2} {:>10.2}", median / one);
    }
    Ok(())
}
