//! One generation's state: what to run next, and what the logits mean.

use crate::{Engine, EngineError, GenerateOptions};
use tandem_core::cascade::{TokenConfidence, token_confidence};
use tandem_decoding::sampling::{History, Sampler};
use tandem_decoding::text::TextDelta;
use tandem_models::KvCache;

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-turn token.
    Stop,
    /// `max_tokens` were generated.
    MaxTokens,
}

/// What happened in a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The prompt was processed.
    Prefilled {
        /// Prompt length in tokens.
        tokens: usize,
    },
    /// A token was generated; `text` is the newly decodable text (may be
    /// empty while a multi-byte character is incomplete).
    Token {
        /// The token id.
        id: u32,
        /// Text to append.
        text: String,
        /// How sure the model was of it (for the cascade).
        confidence: TokenConfidence,
    },
    /// Generation ended.
    Done(StopReason),
}

/// The state of one generation.
#[derive(Debug, Clone)]
pub struct Generation {
    prompt: Vec<u32>,
    generated: Vec<u32>,
    pending: Option<Vec<u32>>,
    cache: KvCache,
    sampler: Sampler,
    max_tokens: usize,
    text: TextDelta,
    stop: Option<StopReason>,
}

impl Generation {
    pub(crate) fn new(engine: &Engine, prompt: Vec<u32>, options: &GenerateOptions) -> Result<Self, EngineError> {
        if prompt.is_empty() {
            return Err(tandem_models::ModelError::Input("the prompt is empty".into()).into());
        }
        Ok(Self {
            pending: Some(prompt.clone()),
            prompt,
            generated: Vec::new(),
            cache: engine.model().new_cache(),
            sampler: Sampler::new(options.sampling.clone())?,
            max_tokens: options.max_tokens,
            text: TextDelta::default(),
            stop: if options.max_tokens == 0 {
                Some(StopReason::MaxTokens)
            } else {
                None
            },
        })
    }

    /// The tokens to run next, or `None` when generation has ended.
    pub fn next_input(&mut self) -> Option<Vec<u32>> {
        if self.stop.is_some() {
            return None;
        }
        self.pending.take()
    }

    /// The KV cache the next forward pass must extend.
    pub fn cache_mut(&mut self) -> &mut KvCache {
        &mut self.cache
    }

    /// Consumes the logits of the last position of the input just run.
    pub fn accept_logits(&mut self, engine: &Engine, logits: &[f32]) -> Result<Vec<Event>, EngineError> {
        let mut events = Vec::new();
        if self.generated.is_empty() && self.cache.len() == self.prompt.len() {
            events.push(Event::Prefilled {
                tokens: self.prompt.len(),
            });
        }
        let history = History {
            prompt: &self.prompt,
            generated: &self.generated,
        };
        let id = self.sampler.sample(logits, history);
        if engine.stop_ids().contains(&id) {
            self.stop = Some(StopReason::Stop);
            events.push(Event::Done(StopReason::Stop));
            return Ok(events);
        }
        let confidence = token_confidence(logits, id);
        self.generated.push(id);
        let text = engine.tokenizer().decode(&self.generated)?;
        let new_text = self.text.next(&text).to_owned();
        events.push(Event::Token {
            id,
            text: new_text,
            confidence,
        });
        if self.generated.len() >= self.max_tokens {
            self.stop = Some(StopReason::MaxTokens);
            events.push(Event::Done(StopReason::MaxTokens));
        } else {
            self.pending = Some(vec![id]);
        }
        Ok(events)
    }

    /// The generated token ids so far.
    pub fn generated(&self) -> &[u32] {
        &self.generated
    }

    /// Why it ended, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop
    }
}
