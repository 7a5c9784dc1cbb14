//! `tandem verify-curve`: what a forward over k new positions costs on a
//! cached context, relative to one position. Speculative verification runs
//! k drafted tokens in one pass, so this curve decides whether it pays.

use crate::generate::BackendArgs;
use crate::{models, synthetic};
use anyhow::{Result, ensure};
use std::time::Instant;
use tandem_models::Model;

/// Arguments of `tandem verify-curve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Model name (see pkg-scripts/models.json) or GGUF path.
    #[arg(long, default_value = "smollm2-135m")]
    model: String,
    /// Random weights of this model's shape and Q4_K_M types instead of a file
    /// (qwen2.5-coder-1.5b or qwen2.5-coder-0.5b): for machines the file cannot reach.
    #[arg(long, conflicts_with = "model")]
    synthetic: Option<String>,
    /// Positions already in the KV cache before each timed forward.
    #[arg(long, default_value_t = 128)]
    context: usize,
    /// New positions per forward.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    positions: Vec<usize>,
    /// Timed forwards per k (the median is reported), after one untimed.
    #[arg(long, default_value_t = 7)]
    repeat: usize,
    /// Run burn's operation graph instead of the fused decoder (the CPU's or
    /// the GPU's): the reference, to compare the two in one script.
    #[arg(long)]
    graph: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

pub(crate) fn run(args: Args) -> Result<()> {
    ensure!(
        args.repeat > 0 && args.context > 0,
        "--repeat and --context must be positive"
    );
    let (device, format) = args.backend.prepare()?;
    let (model, source) = match &args.synthetic {
        Some(name) => {
            let config = synthetic::config(name)?;
            let weights = synthetic::Synthetic::new(config.clone());
            let model = Model::load_as(config, &weights, &device, format)?;
            (model, format!("random {name}-shaped weights"))
        }
        None => {
            let (engine, path) = models::load_engine(&args.model, &device, format)?;
            (engine.model().clone(), path.display().to_string())
        }
    };
    let model = match args.graph {
        true => model.without_fused_cpu().without_fused_gpu(),
        false => model,
    };
    let vocab = model.config().vocab_size as u32;
    // Any fixed token ids do: the cost does not depend on their values.
    let tokens: Vec<u32> = (0..args.context + args.positions.iter().max().copied().unwrap_or(1))
        .map(|i| (i as u32 * 7919 + 13) % vocab)
        .collect();
    let mut cache = model.new_cache();
    let logits = model.forward(&tokens[..args.context], &mut cache)?;
    drop(logits.into_data());
    let bytes = model.matrix_bytes();
    println!(
        "{source} on {:?}, {:?} weights ({:.1} MB of matrices), {}, context {}",
        args.backend.device,
        args.backend.weights,
        bytes as f64 / 1e6,
        match (model.fused_cpu(), model.fused_gpu()) {
            (true, _) => "fused CPU decoder",
            (_, true) => "fused GPU decoder",
            _ => "burn's graph",
        },
        args.context
    );
    println!("{:>4} {:>12} {:>10} {:>12}", "k", "ms/forward", "÷ k=1", "weights GB/s");
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
        // Each forward reads every matrix once, whatever k is.
        let rate = bytes as f64 / (median / 1e3) / 1e9;
        println!("{k:>4} {median:>12.2} {:>10.2} {rate:>12.1}", median / one);
    }
    Ok(())
}
