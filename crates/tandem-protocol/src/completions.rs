//! OpenAI's `/v1/completions` with vLLM's `prompt_logprobs` extension: how
//! a verifier asks a serving engine for the target's choices along a token
//! sequence, and how `tandem serve --target` answers the same request.
//!
//! The gateway sends [`CompletionRequest::target_choices`] and reads the reply
//! with [`CompletionReply::target_choices`]; `tandem serve --target` parses
//! the request and builds the reply from these types, so both sides share one
//! shape.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The part of a completions request Tandem writes and serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// The model's public name.
    pub model: String,
    /// Text, or token ids.
    pub prompt: Prompt,
    /// Tokens to generate (16 when absent, as OpenAI's default).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Sampling temperature; Tandem asks for 0 (greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Server-sent events instead of one reply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Log-probabilities of the top `n` tokens at each generated position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<usize>,
    /// vLLM's extension: log-probabilities at every prompt position, with the top `n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_logprobs: Option<usize>,
    /// vLLM's extension: name tokens `token_id:N` instead of by their text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub return_tokens_as_token_ids: bool,
    /// vLLM's extension: generation ends after any of these tokens (which is kept), as after
    /// the model's own end-of-text tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_token_ids: Vec<u32>,
}

fn default_max_tokens() -> usize {
    16
}

impl CompletionRequest {
    /// The request for a verification round: the target's rank-1 token at
    /// every position of `prompt` and its greedy next token, named by id.
    pub fn target_choices(model: &str, prompt: Vec<u32>) -> Self {
        Self {
            model: model.to_owned(),
            prompt: Prompt::Tokens(prompt),
            max_tokens: 1,
            temperature: Some(0.0),
            stream: false,
            logprobs: Some(1),
            prompt_logprobs: Some(1),
            return_tokens_as_token_ids: true,
            stop_token_ids: Vec::new(),
        }
    }

    /// The same, going on greedily for up to `extend` tokens after the next one, ending after
    /// any of `stop`: a plain round's continuation in the same call.
    pub fn continued(mut self, extend: usize, stop: Vec<u32>) -> Self {
        self.max_tokens = 1 + extend;
        self.stop_token_ids = stop;
        self
    }
}

/// A prompt as text or token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// Text, tokenized by the server.
    Text(String),
    /// Token ids, used as they are.
    Tokens(Vec<u32>),
}

/// A completions reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionReply {
    /// Reply id.
    #[serde(default)]
    pub id: String,
    /// `text_completion`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// One choice per requested completion (Tandem asks for one).
    pub choices: Vec<CompletionChoice>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CompletionUsage>,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: usize,
    /// The generated text.
    #[serde(default)]
    pub text: String,
    /// Per generated token, when asked for.
    #[serde(default)]
    pub logprobs: Option<Logprobs>,
    /// `stop` or `length`.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// vLLM's extension: per prompt position (the first is `null`), the
    /// prompt's token and the top tokens, keyed by token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_logprobs: Option<Vec<Option<BTreeMap<String, TokenLogprob>>>>,
}

/// A token's log-probability at a prompt position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// Natural log of its probability.
    pub logprob: f32,
    /// 1 for the most likely token.
    pub rank: usize,
    /// Its text, where the server gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_token: Option<String>,
}

/// Log-probabilities of the generated tokens (OpenAI's legacy shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logprobs {
    /// Each generated token, as text or `token_id:N`.
    pub tokens: Vec<String>,
    /// Each generated token's log-probability.
    #[serde(default)]
    pub token_logprobs: Vec<f32>,
    /// The top tokens at each position.
    #[serde(default)]
    pub top_logprobs: Vec<BTreeMap<String, f32>>,
}

/// Token counts of a completions reply (`u64`: an upstream's figures are
/// read on 32-bit wasm too, and a huge one must not fail the whole reply).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
    /// Cache details, where the server reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

/// How much of the prompt the server had cached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens served from the prefix cache.
    #[serde(default)]
    pub cached_tokens: u64,
}

impl CompletionReply {
    /// Reads a reply to [`CompletionRequest::target_choices`]: the target's
    /// rank-1 token at the last `draft_len` of `prompt_len` prompt positions,
    /// then its next token; and the prompt tokens the server had cached
    /// (never more than the prompt).
    pub fn target_choices(&self, prompt_len: usize, draft_len: usize) -> Result<(Vec<u32>, usize), String> {
        let choice = self.choices.first().ok_or("no choices in the completions reply")?;
        let positions = choice
            .prompt_logprobs
            .as_ref()
            .ok_or("the completions reply has no `prompt_logprobs` (the target must support vLLM's extension)")?;
        if positions.len() != prompt_len || draft_len >= prompt_len.max(1) {
            return Err(format!(
                "`prompt_logprobs` has {} entries for a {prompt_len}-token prompt",
                positions.len()
            ));
        }
        let mut choices = Vec::with_capacity(draft_len + 1);
        for entry in &positions[prompt_len - draft_len..] {
            let top = entry
                .as_ref()
                .and_then(|m| m.iter().find(|(_, e)| e.rank == 1))
                .and_then(|(id, _)| id.parse::<u32>().ok())
                .ok_or("a `prompt_logprobs` entry has no rank-1 token id")?;
            choices.push(top);
        }
        let next = choice
            .logprobs
            .as_ref()
            .and_then(|l| l.tokens.first())
            .and_then(|t| t.strip_prefix("token_id:"))
            .and_then(|t| t.parse::<u32>().ok())
            .ok_or("the completions reply does not name its token as `token_id:N` (return_tokens_as_token_ids)")?;
        choices.push(next);
        let cached = self
            .usage
            .as_ref()
            .and_then(|u| u.prompt_tokens_details.as_ref())
            .map_or(0, |d| d.cached_tokens);
        Ok((choices, usize::try_from(cached).unwrap_or(usize::MAX).min(prompt_len)))
    }
}

impl CompletionReply {
    /// Every generated token after the first (the continuation of a
    /// [`CompletionRequest::continued`] request), by id.
    pub fn continuation(&self) -> Result<Vec<u32>, String> {
        let Some(tokens) = self
            .choices
            .first()
            .and_then(|c| c.logprobs.as_ref())
            .map(|l| &l.tokens)
        else {
            return Ok(Vec::new());
        };
        tokens
            .iter()
            .skip(1)
            .map(|t| {
                t.strip_prefix("token_id:")
                    .and_then(|t| t.parse::<u32>().ok())
                    .ok_or_else(|| format!("a generated token is not named `token_id:N`: {t:?}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> CompletionReply {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn replies_give_argmax_choices_and_the_next_token() {
        let body = json!({
            "choices": [{
                "prompt_logprobs": [null,
                    {"7": {"logprob": -0.1, "rank": 1}},
                    {"9": {"logprob": -2.0, "rank": 4}, "5": {"logprob": -0.3, "rank": 1}}],
                "logprobs": {"tokens": ["token_id:11"]}
            }],
            "usage": {"prompt_tokens_details": {"cached_tokens": 1}}
        });
        let reply = parse(body.clone());
        assert_eq!(reply.target_choices(3, 2).unwrap(), (vec![7, 5, 11], 1));
        assert!(reply.target_choices(4, 2).is_err(), "length mismatch");
        let boast = body
            .to_string()
            .replace("\"cached_tokens\":1", "\"cached_tokens\":18446744073709551615");
        let boast: CompletionReply = serde_json::from_str(&boast).unwrap();
        assert_eq!(
            boast.target_choices(3, 2).unwrap().1,
            3,
            "cached is capped at the prompt"
        );
        let plain = parse(json!({"choices": [{"text": "x"}]}));
        assert!(plain.target_choices(3, 2).unwrap_err().contains("prompt_logprobs"));
        let none = parse(json!({"choices": []}));
        assert!(none.target_choices(3, 2).is_err());
    }

    #[test]
    fn a_continued_request_asks_for_more_tokens_and_its_reply_names_them() {
        let req = CompletionRequest::target_choices("t", vec![1, 2]).continued(3, vec![0]);
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            (v["max_tokens"].clone(), v["stop_token_ids"].clone()),
            (json!(4), json!([0]))
        );
        let reply = parse(json!({"choices": [{"logprobs": {"tokens": ["token_id:5", "token_id:6", "token_id:0"]}}]}));
        assert_eq!(reply.continuation().unwrap(), vec![6, 0]);
        let text = parse(json!({"choices": [{"logprobs": {"tokens": ["token_id:5", "hello"]}}]}));
        assert!(text.continuation().is_err());
        assert_eq!(
            parse(json!({"choices": [{"text": ""}]})).continuation().unwrap(),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn the_verification_request_has_vllms_shape() {
        let req = CompletionRequest::target_choices("t", vec![1, 2]);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"model": "t", "prompt": [1, 2], "max_tokens": 1, "temperature": 0.0,
                   "logprobs": 1, "prompt_logprobs": 1, "return_tokens_as_token_ids": true})
        );
        let text: CompletionRequest = serde_json::from_value(json!({"model": "t", "prompt": "hi"})).unwrap();
        assert_eq!((text.prompt, text.max_tokens), (Prompt::Text("hi".into()), 16));
    }
}
