//! Generation: a model, its tokenizer and chat template, a sampler and stop
//! rules, producing text as it is decoded.
//!
//! The decoding loop is split in two so that one implementation serves both
//! a blocking native caller and an `async` browser caller (where reading a
//! GPU tensor must be awaited): a [`Generation`] decides what to run next
//! and consumes the logits that come back; [`Engine::generate`] drives it
//! with synchronous reads, the wasm crate with asynchronous ones. No clock is
//! read here: callers time the [`Event`]s.
//!
//! On-device analysis: [`Tagger`] runs the encoder once per text for the
//! shield's model spans and the router's probability.
//!
//! Speculative decoding: [`target::Target`] is the target model's side
//! (scores drafts per session, prompt log-probabilities by prefix, KV caches
//! under a memory budget); [`speculate()`] is the client's side, drafting with
//! a small model and verifying through a [`Verifier`], in process or remote.

mod generation;
pub mod speculate;
pub mod tagger;
pub mod target;

pub use generation::{Event, Generation, StopReason};
pub use speculate::{
    LocalVerifier, SpeculateOptions, SpeculateReport, Verifier, VerifyError, reusable_prefix, speculate,
};
pub use tagger::{Analysis, Tagger, TaggerFiles};
pub use target::Target;

use burn::tensor::Device;
use tandem_decoding::chat::{ChatTemplate, HistoryBudget, Message};
use tandem_decoding::sampling::SamplingConfig;
use tandem_gguf::Gguf;
use tandem_models::{Model, ModelError, RankedTokens, Shortlist, TextTokenizer, WeightFormat};

/// A loaded model ready to generate.
#[derive(Debug, Clone)]
pub struct Engine {
    model: Model,
    tokenizer: TextTokenizer,
    template: ChatTemplate,
    stop_ids: Vec<u32>,
}

/// Settings of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// How to pick them.
    pub sampling: SamplingConfig,
    /// How much of a conversation [`Engine::chat`] shows the model.
    pub history: HistoryBudget,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 128,
            sampling: SamplingConfig::greedy(),
            history: HistoryBudget::ALL,
        }
    }
}

impl GenerateOptions {
    /// What a local chat answer uses: [`SamplingConfig::chat()`] and
    /// [`LOCAL_HISTORY`], measured in docs/router.md ("Local answers").
    pub fn chat(max_tokens: usize) -> Self {
        Self {
            max_tokens,
            sampling: SamplingConfig::chat(),
            history: LOCAL_HISTORY,
        }
    }
}

/// Settings a caller puts over a [`GenerateOptions`]: `None` keeps the
/// default, and 0 turns the repetition window or the n-gram rule off. The
/// one place the CLI's flags and the wasm options are applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateOverrides {
    /// Most tokens to generate.
    pub max_tokens: Option<usize>,
    /// 0 = greedy.
    pub temperature: Option<f32>,
    /// Keep the k most likely tokens.
    pub top_k: Option<usize>,
    /// Nucleus sampling threshold.
    pub top_p: Option<f32>,
    /// Penalty for recently seen tokens (1 = none).
    pub repetition_penalty: Option<f32>,
    /// How many recent tokens the penalty looks at (0 = all).
    pub repetition_window: Option<usize>,
    /// Never repeat an n-gram of the answer of this length (0 = off).
    pub no_repeat_ngram: Option<usize>,
    /// Most earlier turns shown.
    pub history_turns: Option<usize>,
    /// Most prompt tokens shown.
    pub history_tokens: Option<usize>,
    /// Seed of the random stream.
    pub seed: Option<u64>,
}

impl GenerateOverrides {
    /// These settings over `defaults`.
    pub fn over(&self, defaults: GenerateOptions) -> GenerateOptions {
        let positive = |n: usize| (n > 0).then_some(n);
        let (s, h) = (defaults.sampling, defaults.history);
        GenerateOptions {
            max_tokens: self.max_tokens.unwrap_or(defaults.max_tokens),
            sampling: SamplingConfig {
                temperature: self.temperature.unwrap_or(s.temperature),
                top_k: self.top_k.or(s.top_k),
                top_p: self.top_p.or(s.top_p),
                repetition_penalty: self.repetition_penalty.unwrap_or(s.repetition_penalty),
                repetition_window: self.repetition_window.map_or(s.repetition_window, positive),
                no_repeat_ngram: self.no_repeat_ngram.map_or(s.no_repeat_ngram, positive),
                seed: self.seed.unwrap_or(s.seed),
            },
            history: HistoryBudget {
                max_turns: self.history_turns.unwrap_or(h.max_turns),
                max_tokens: self.history_tokens.unwrap_or(h.max_tokens),
            },
        }
    }
}

/// How much of a conversation a small local model is shown by default.
pub const LOCAL_HISTORY: HistoryBudget = HistoryBudget {
    max_turns: 1,
    max_tokens: 768,
};

/// Why generation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Loading or running the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The file is not a readable GGUF model.
    #[error(transparent)]
    Gguf(#[from] tandem_gguf::GgufError),
    /// Invalid sampling settings.
    #[error(transparent)]
    Sampling(#[from] tandem_decoding::sampling::SamplingError),
    /// Reading logits back from the device failed.
    #[error("reading logits from the device: {0}")]
    Readback(String),
    /// A speculative round could not be verified.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The model's chat template does not parse, or refused the conversation.
    #[error(transparent)]
    Template(#[from] tandem_decoding::chat::ChatTemplateError),
}

impl Engine {
    /// Loads model, tokenizer and chat template from GGUF bytes onto `device`,
    /// quantized weights kept as stored. The bytes (a `Vec<u8>`, or a
    /// [`tandem_gguf::Bytes`] over a mapped file) are kept, not copied: the
    /// quantized matrices are views of them.
    pub fn from_gguf(bytes: impl Into<tandem_gguf::Bytes>, device: &Device) -> Result<Self, EngineError> {
        Self::from_gguf_as(bytes, device, WeightFormat::default())
    }

    /// [`Engine::from_gguf`] with the weight matrices held as `format` says.
    pub fn from_gguf_as(
        bytes: impl Into<tandem_gguf::Bytes>,
        device: &Device,
        format: WeightFormat,
    ) -> Result<Self, EngineError> {
        let mut gguf = Gguf::parse(bytes)?;
        // Owned bytes: the CPU kernels' layout is made in place, not copied.
        tandem_models::lay_out_in_place(&mut gguf, device, format);
        let model = Model::from_gguf_as(&gguf, device, format)?;
        let tokenizer = TextTokenizer::from_gguf(&gguf)?;
        let template = match gguf.metadata.get("tokenizer.chat_template").and_then(|v| v.as_str()) {
            Some(source) => {
                let text = |id: Option<u32>| id.and_then(|id| tokenizer.token_text(id)).unwrap_or_default();
                ChatTemplate::from_jinja(source, &text(tokenizer.bos()), &text(tokenizer.eos()))?
            }
            None => ChatTemplate::Plain,
        };
        Ok(Self::new(model, tokenizer, template))
    }

    /// An engine from parts.
    pub fn new(model: Model, tokenizer: TextTokenizer, template: ChatTemplate) -> Self {
        let mut stop_ids: Vec<u32> = template
            .stop_strings()
            .iter()
            .filter_map(|s| tokenizer.token_id(s))
            .collect();
        stop_ids.extend(tokenizer.eos());
        stop_ids.sort_unstable();
        stop_ids.dedup();
        Self {
            model,
            tokenizer,
            template,
            stop_ids,
        }
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Token ids that end generation.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// A drafter's shortlist (see [`Shortlist`]): the first `size` tokens
    /// of the shipped ranking ([`RankedTokens::SHIPPED`]) and the stop
    /// tokens. `None` where the ranking is not about this tokenizer, the
    /// build ships none, or the model does not run the fused CPU decoder
    /// (it then drafts with its whole head).
    pub fn draft_shortlist(&self, size: usize) -> Result<Option<Shortlist>, EngineError> {
        let (true, Some(shipped)) = (self.model.fused_cpu(), RankedTokens::SHIPPED) else {
            return Ok(None);
        };
        let ranked = RankedTokens::parse(shipped)?;
        let Some(mut ids) = ranked.ids(&self.tokenizer, size) else {
            return Ok(None);
        };
        ids.extend_from_slice(&self.stop_ids);
        Ok(Some(self.model.shortlist(&ids)?))
    }

    /// Starts generating a reply to `messages` with the model's chat template.
    pub fn chat(&self, messages: &[Message], options: &GenerateOptions) -> Result<Generation, EngineError> {
        let shown = options.history.fit(messages, |m| {
            Ok::<_, EngineError>(self.tokenizer.encode(&self.template.render(m)?)?.len())
        })?;
        self.start(&self.template.render(&shown)?, options)
    }

    /// Starts generating a continuation of raw `prompt` text.
    pub fn start(&self, prompt: &str, options: &GenerateOptions) -> Result<Generation, EngineError> {
        let ids = self.tokenizer.encode(prompt)?;
        Generation::new(self, ids, options)
    }

    /// Runs a generation to the end with blocking reads, calling `on_event`
    /// as tokens are decoded. Not for wasm with WebGPU (reads must be awaited there).
    pub fn generate(
        &self,
        mut generation: Generation,
        mut on_event: impl FnMut(&Event),
    ) -> Result<StopReason, EngineError> {
        loop {
            let Some(input) = generation.next_input() else {
                return Ok(generation.stop_reason().unwrap_or(StopReason::MaxTokens));
            };
            let logits = self.model.forward_last(&input, generation.cache_mut())?;
            let vocab = self.model.config().vocab_size;
            let last = logits
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| EngineError::Readback(format!("{e:?}")))?;
            debug_assert_eq!(last.len(), vocab);
            for event in generation.accept_logits(self, &last)? {
                on_event(&event);
            }
        }
    }
}
