//! `tandem generate`: stream a model's reply and report prefill/decode speed.

use crate::models;
use anyhow::Result;
use std::io::Write;
use std::time::Instant;
use tandem_decoding::chat::{Message, Role};
use tandem_decoding::sampling::SamplingConfig;
use tandem_engine::{Event, GenerateOptions, GenerateOverrides};

/// Where the model runs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum DeviceKind {
    /// burn's CPU backend (flex).
    Cpu,
    /// burn's wgpu backend (Vulkan, Metal, …; Mesa lavapipe without a GPU).
    #[cfg(feature = "wgpu")]
    Wgpu,
}

impl DeviceKind {
    /// The burn device.
    pub(crate) fn device(self) -> burn::tensor::Device {
        match self {
            Self::Cpu => burn::tensor::Device::flex(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => burn::tensor::Device::wgpu(Default::default()),
        }
    }
}

/// How weight matrices are held in memory.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum WeightsKind {
    /// As stored in the file: quantized blocks stay quantized (on the CPU in
    /// their blocks, on a GPU as codes with a scale and offset per group).
    Stored,
    /// Widened to f32 at load: the reference path.
    F32,
    /// As stored, and dense matrices quantized to Q8_0 at load.
    #[value(name = "q8_0")]
    Q8_0,
    /// As stored, and dense matrices quantized per row to 8 bits at load
    /// (the encoder's default).
    Int8,
}

impl From<WeightsKind> for tandem_models::WeightFormat {
    fn from(kind: WeightsKind) -> Self {
        match kind {
            WeightsKind::Stored => Self::Stored,
            WeightsKind::F32 => Self::F32,
            WeightsKind::Q8_0 => Self::Q8_0,
            WeightsKind::Int8 => Self::Int8,
        }
    }
}

/// Where and how local models run: shared by `generate`, `speculate` and `serve`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct BackendArgs {
    /// Backend.
    #[arg(long, value_enum, default_value = "cpu")]
    pub(crate) device: DeviceKind,
    /// How weight matrices are held.
    #[arg(long, value_enum, default_value = "stored")]
    pub(crate) weights: WeightsKind,
    /// Threads of the CPU kernels; default: one per core.
    #[arg(long)]
    pub(crate) threads: Option<usize>,
}

impl BackendArgs {
    /// Sizes the kernels' thread pool (once, before any model runs) and
    /// returns the device and weight format to load models with.
    pub(crate) fn prepare(&self) -> Result<(burn::tensor::Device, tandem_models::WeightFormat)> {
        if let Some(n) = self.threads {
            anyhow::ensure!(n > 0, "--threads must be at least 1");
            tandem_quant::set_threads(n).map_err(anyhow::Error::msg)?;
        }
        Ok((self.device.device(), self.weights.into()))
    }
}

/// Sampling options shared by `generate` and `speculate`.
#[derive(clap::Args)]
pub(crate) struct SamplingArgs {
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Keep the k most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Nucleus sampling threshold.
    #[arg(long)]
    top_p: Option<f32>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl SamplingArgs {
    /// These settings on top of `base` (whose history rules are kept).
    pub(crate) fn over(&self, base: SamplingConfig) -> SamplingConfig {
        SamplingConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            seed: self.seed,
            ..base
        }
    }
}

/// How a chat answer is generated: shared by `generate` and `local eval`.
/// Defaults are the local answers' ([`GenerateOptions::chat`]).
#[derive(clap::Args)]
pub(crate) struct AnswerArgs {
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Plain decoding: no repetition rules, the whole conversation shown.
    #[arg(long)]
    plain: bool,
    /// Penalty for tokens seen recently (1 = off).
    #[arg(long)]
    repetition_penalty: Option<f32>,
    /// How many recent tokens the penalty looks at (0 = all).
    #[arg(long)]
    repetition_window: Option<usize>,
    /// Never repeat an n-gram of the answer of this length (0 = off).
    #[arg(long)]
    no_repeat_ngram: Option<usize>,
    /// Most earlier turns shown to the model.
    #[arg(long)]
    history_turns: Option<usize>,
    /// Most prompt tokens; earlier turns are dropped to fit.
    #[arg(long)]
    history_tokens: Option<usize>,
}

impl AnswerArgs {
    /// The generation settings these flags say; `plain` (raw text
    /// continuation) starts from plain decoding like `--plain`.
    pub(crate) fn options(&self, plain: bool) -> GenerateOptions {
        let options = if self.plain || plain {
            GenerateOptions {
                max_tokens: self.max_tokens,
                ..GenerateOptions::default()
            }
        } else {
            GenerateOptions::chat(self.max_tokens)
        };
        let sampling = &self.sampling;
        GenerateOverrides {
            temperature: Some(sampling.temperature),
            top_k: sampling.top_k,
            top_p: sampling.top_p,
            seed: Some(sampling.seed),
            repetition_penalty: self.repetition_penalty,
            repetition_window: self.repetition_window,
            no_repeat_ngram: self.no_repeat_ngram,
            history_turns: self.history_turns,
            history_tokens: self.history_tokens,
            max_tokens: None,
        }
        .over(options)
    }
}

/// Arguments of `tandem generate`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The user's message (or raw text with --raw).
    prompt: String,
    /// Model name (see pkg-scripts/models.json) or GGUF path.
    #[arg(long, default_value = "smollm2-135m")]
    model: String,
    /// Continue the text as is instead of applying the chat template
    /// (with plain decoding unless flags say otherwise).
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    answer: AnswerArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

pub(crate) fn run(args: Args) -> Result<()> {
    let (device, format) = args.backend.prepare()?;
    let loaded = Instant::now();
    let (engine, path) = models::load_engine(&args.model, &device, format)?;
    eprintln!("loaded {} in {:.2} s", path.display(), loaded.elapsed().as_secs_f64());
    let options = args.answer.options(args.raw);
    let generation = if args.raw {
        engine.start(&args.prompt, &options)?
    } else {
        engine.chat(&[Message::new(Role::User, args.prompt.clone())], &options)?
    };
    let mut out = std::io::stdout().lock();
    let start = Instant::now();
    let (mut prefill, mut prompt_tokens, mut generated) = (None, 0, 0usize);
    let mut write_error = None;
    let reason = engine.generate(generation, |event| match event {
        Event::Prefilled { tokens } => {
            prompt_tokens = *tokens;
        }
        Event::Token { text, .. } => {
            // The first token's time includes the prefill pass.
            if prefill.is_none() {
                prefill = Some(start.elapsed());
            }
            generated += 1;
            if let Err(e) = write!(out, "{text}").and_then(|()| out.flush()) {
                write_error.get_or_insert(e);
            }
        }
        Event::Done(_) => {}
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    writeln!(out)?;
    let total = start.elapsed().as_secs_f64();
    let prefill = prefill.map_or(total, |d| d.as_secs_f64());
    let decode_tokens = generated.saturating_sub(1);
    eprintln!(
        "prefill: {prompt_tokens} tokens in {prefill:.3} s ({:.1} tok/s); decode: {decode_tokens} tokens in {:.3} s ({:.1} tok/s); stop: {reason:?}",
        prompt_tokens as f64 / prefill,
        total - prefill,
        decode_tokens as f64 / (total - prefill).max(1e-9)
    );
    Ok(())
}
