//! Tokenizers from GGUF metadata (vocabulary + merges) or `tokenizer.json`,
//! built on the `tokenizers` crate.

use crate::error::ModelError;
use tandem_gguf::Gguf;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

/// Qwen2's split pattern (single digits, letters with one leading non-letter).
const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split pattern (numbers in groups of up to three digits).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF `tokenizer.ggml.token_type` values.
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;

/// Text ↔ token ids for one model.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    eos: Option<u32>,
    bos: Option<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab", &self.vocab_size())
            .field("eos", &self.eos)
            .finish()
    }
}

fn tok_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

impl TextTokenizer {
    /// Builds the byte-level BPE tokenizer that a GGUF file describes
    /// (`tokenizer.ggml.model = gpt2`), with the pre-tokenizer its
    /// `tokenizer.ggml.pre` names and its control tokens as special tokens.
    pub fn from_gguf(g: &Gguf) -> Result<Self, ModelError> {
        let model = g.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(tok_err(format!(
                "tokenizer model `{model}` is not supported (byte-level BPE `gpt2` is)"
            )));
        }
        let tokens: Vec<&str> = g
            .get_array("tokenizer.ggml.tokens")?
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| tok_err("tokenizer.ggml.tokens holds a non-string"))
            })
            .collect::<Result<_, _>>()?;
        let merges: Vec<(String, String)> = g
            .get_array("tokenizer.ggml.merges")?
            .iter()
            .map(|v| {
                let m = v
                    .as_str()
                    .ok_or_else(|| tok_err("tokenizer.ggml.merges holds a non-string"))?;
                let (a, b) = m
                    .split_once(' ')
                    .ok_or_else(|| tok_err(format!("merge `{m}` is not two tokens")))?;
                Ok((a.to_owned(), b.to_owned()))
            })
            .collect::<Result<_, ModelError>>()?;
        let types: Vec<i64> = match g.metadata.get("tokenizer.ggml.token_type").and_then(|v| v.as_array()) {
            Some(a) => a.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| ((*t).to_owned(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(tok_err)?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let pre = g
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .unwrap_or("default");
        inner.with_pre_tokenizer(Some(pre_tokenizer(pre)?));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, ty)| **ty == TOKEN_CONTROL || **ty == TOKEN_USER_DEFINED)
            .map(|(t, ty)| AddedToken::from((*t).to_owned(), *ty == TOKEN_CONTROL))
            .collect();
        inner.add_special_tokens(&special);
        let id = |key: &str| g.metadata.get(key).and_then(|v| v.as_u64()).map(|v| v as u32);
        Ok(Self {
            inner,
            eos: id("tokenizer.ggml.eos_token_id"),
            bos: id("tokenizer.ggml.bos_token_id"),
        })
    }

    /// Loads a Hugging Face `tokenizer.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(tok_err)?;
        let eos = ["<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>"]
            .iter()
            .find_map(|t| inner.token_to_id(t));
        Ok(Self { inner, eos, bos: None })
    }

    /// Token ids of `text`; special-token strings (`<|im_start|>`) become their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        Ok(self.inner.encode(text, false).map_err(tok_err)?.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens included.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.inner.decode(ids, false).map_err(tok_err)
    }

    /// The id of a token string, e.g. `<|im_end|>`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The string of token `id` (`<|im_end|>`), for templates that print it.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The end-of-sequence id the file declares.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The beginning-of-sequence id the file declares.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// Vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The underlying `tokenizers` tokenizer (for streaming decode).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` name.
fn pre_tokenizer(name: &str) -> Result<PreTokenizerWrapper, ModelError> {
    let byte_level = |use_regex| PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, use_regex));
    let split = |pattern: &str| -> Result<PreTokenizerWrapper, ModelError> {
        let split = Split::new(
            SplitPattern::Regex(pattern.to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tok_err)?;
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Split(split),
            byte_level(false),
        ])))
    };
    match name {
        "default" | "gpt2" | "gpt-2" => Ok(byte_level(true)),
        // SmolLM: digits one by one, then GPT-2's byte-level split.
        "smollm" | "smaug-bpe" => Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            byte_level(true),
        ]))),
        "qwen2" => split(QWEN2_SPLIT),
        "llama3" | "llama-bpe" => split(LLAMA3_SPLIT),
        other => Err(tok_err(format!(
            "pre-tokenizer `{other}` is not supported (gpt2, smollm, qwen2, llama-bpe)"
        ))),
    }
}

/// An encoder's word-piece tokenizer (a BERT `tokenizer.json`), used
/// without its own truncation, padding or special tokens: callers window
/// long texts themselves and need each piece's place in the text.
#[derive(Clone)]
pub struct PieceTokenizer {
    inner: tokenizers::Tokenizer,
    cls: u32,
    sep: u32,
}

impl std::fmt::Debug for PieceTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PieceTokenizer")
            .field("cls", &self.cls)
            .field("sep", &self.sep)
            .finish()
    }
}

impl PieceTokenizer {
    /// Loads a `tokenizer.json` that defines `[CLS]` and `[SEP]`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(tok_err)?;
        inner.with_truncation(None).map_err(tok_err)?;
        inner.with_padding(None);
        let id = |t: &str| inner.token_to_id(t).ok_or_else(|| tok_err(format!("no `{t}` token")));
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        Ok(Self { inner, cls, sep })
    }

    /// The word pieces of `text` (no special tokens) with their byte ranges in `text`.
    pub fn pieces(&self, text: &str) -> Result<(Vec<u32>, Vec<std::ops::Range<usize>>), ModelError> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        let ranges = enc.get_offsets().iter().map(|&(s, e)| s..e).collect();
        Ok((enc.get_ids().to_vec(), ranges))
    }

    /// The `[CLS]` id that opens every window.
    pub fn cls(&self) -> u32 {
        self.cls
    }

    /// The `[SEP]` id that closes every window.
    pub fn sep(&self) -> u32 {
        self.sep
    }
}
