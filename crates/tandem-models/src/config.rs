//! Decoder hyper-parameters, from GGUF metadata or a Hugging Face `config.json`.

use crate::error::{ModelError, config_err};
use serde::Deserialize;
use tandem_gguf::Gguf;

/// The transformer families this decoder implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama (1–3), SmolLM, Mistral-style without sliding windows.
    Llama,
    /// Qwen2 / Qwen2.5: Llama plus biases on the q, k and v projections.
    Qwen2,
}

/// How rotary position frequencies are rescaled for longer contexts.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Positions divided by `factor` (linear interpolation).
    Linear {
        /// Scale factor.
        factor: f32,
    },
    /// Llama 3's frequency-dependent rescaling.
    Llama3 {
        /// Overall factor.
        factor: f32,
        /// Wavelengths longer than `original / low_freq_factor` are fully scaled.
        low_freq_factor: f32,
        /// Wavelengths shorter than `original / high_freq_factor` are kept.
        high_freq_factor: f32,
        /// Context length the model was trained with.
        original_max_position: f32,
    },
    /// Per-frequency divisors given by the file (GGUF `rope_freqs.weight`).
    Factors(Vec<f32>),
}

/// Hyper-parameters of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Family.
    pub arch: Architecture,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f32,
    /// RoPE base.
    pub rope_theta: f32,
    /// RoPE rescaling.
    pub rope_scaling: RopeScaling,
    /// Longest context the model supports.
    pub max_position: usize,
    /// The output projection is the token embedding.
    pub tie_embeddings: bool,
    /// q, k and v projections have biases.
    pub qkv_bias: bool,
}

impl Config {
    /// Reads the configuration from GGUF metadata (`{arch}.*` keys) and
    /// tensor presence (tied output, biases, RoPE factors).
    pub fn from_gguf(g: &Gguf) -> Result<Self, ModelError> {
        let arch_name = g.get_str("general.architecture")?;
        let arch = match arch_name {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            other => {
                return Err(config_err(format!(
                    "architecture `{other}` is not supported (llama, qwen2)"
                )));
            }
        };
        let key = |k: &str| format!("{arch_name}.{k}");
        let uint = |k: &str| g.get_u64(&key(k)).map(|v| v as usize);
        let n_heads = uint("attention.head_count")?;
        let hidden_size = uint("embedding_length")?;
        let vocab_size = match uint("vocab_size") {
            Ok(v) => v,
            Err(_) => g.get_array("tokenizer.ggml.tokens")?.len(),
        };
        let head_dim = uint("attention.key_length")
            .or_else(|_| uint("rope.dimension_count"))
            .unwrap_or(hidden_size / n_heads.max(1));
        let rope_scaling = if let Some(t) = g.tensor("rope_freqs.weight") {
            RopeScaling::Factors(g.tensor_f32(t)?)
        } else {
            match g.metadata.get(&key("rope.scaling.type")).and_then(|v| v.as_str()) {
                None | Some("none") => RopeScaling::None,
                Some("linear") => RopeScaling::Linear {
                    factor: g.get_f64(&key("rope.scaling.factor"))? as f32,
                },
                Some(other) => return Err(config_err(format!("RoPE scaling `{other}` is not supported"))),
            }
        };
        let config = Config {
            arch,
            vocab_size,
            hidden_size,
            intermediate_size: uint("feed_forward_length")?,
            n_layers: uint("block_count")?,
            n_heads,
            n_kv_heads: uint("attention.head_count_kv").unwrap_or(n_heads),
            head_dim,
            rms_norm_eps: g.get_f64(&key("attention.layer_norm_rms_epsilon"))? as f32,
            rope_theta: g.get_f64(&key("rope.freq_base")).unwrap_or(10_000.0) as f32,
            rope_scaling,
            max_position: uint("context_length").unwrap_or(2048),
            tie_embeddings: g.tensor("output.weight").is_none(),
            qkv_bias: g.tensor("blk.0.attn_q.bias").is_some(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads a Hugging Face `config.json` (model types `llama` and `qwen2`).
    pub fn from_hf_json(json: &str) -> Result<Self, ModelError> {
        let c: HfConfig = serde_json::from_str(json).map_err(|e| config_err(format!("config.json: {e}")))?;
        let arch = match c.model_type.as_str() {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            other => {
                return Err(config_err(format!(
                    "model_type `{other}` is not supported (llama, qwen2)"
                )));
            }
        };
        // transformers 5 keeps RoPE settings in `rope_parameters`; 4.x used
        // `rope_theta` and `rope_scaling` at the top level.
        let rope_theta = c.rope_theta.or(c.rope_parameters.as_ref().and_then(|p| p.rope_theta));
        let rope_scaling = match c.rope_scaling.or(c.rope_parameters) {
            None => RopeScaling::None,
            Some(s) => match s.rope_type.or(s.kind).as_deref() {
                None | Some("default") => RopeScaling::None,
                Some("linear") => RopeScaling::Linear {
                    factor: s.factor.unwrap_or(1.0),
                },
                Some("llama3") => RopeScaling::Llama3 {
                    factor: s.factor.unwrap_or(8.0),
                    low_freq_factor: s.low_freq_factor.unwrap_or(1.0),
                    high_freq_factor: s.high_freq_factor.unwrap_or(4.0),
                    original_max_position: s.original_max_position_embeddings.unwrap_or(8192) as f32,
                },
                Some(other) => return Err(config_err(format!("RoPE scaling `{other}` is not supported"))),
            },
        };
        let config = Config {
            arch,
            vocab_size: c.vocab_size,
            hidden_size: c.hidden_size,
            intermediate_size: c.intermediate_size,
            n_layers: c.num_hidden_layers,
            n_heads: c.num_attention_heads,
            n_kv_heads: c.num_key_value_heads.unwrap_or(c.num_attention_heads),
            head_dim: c.head_dim.unwrap_or(c.hidden_size / c.num_attention_heads.max(1)),
            rms_norm_eps: c.rms_norm_eps,
            rope_theta: rope_theta.unwrap_or(10_000.0),
            rope_scaling,
            max_position: c.max_position_embeddings.unwrap_or(2048),
            tie_embeddings: c.tie_word_embeddings.unwrap_or(false),
            qkv_bias: arch == Architecture::Qwen2 || c.attention_bias.unwrap_or(false),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the shapes fit together, and are small enough that no product
    /// of them overflows (a hostile file's metadata is checked before any allocation).
    pub fn validate(&self) -> Result<(), ModelError> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("n_kv_heads", self.n_kv_heads),
            ("head_dim", self.head_dim),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(config_err(format!("{name} must be positive")));
            }
            if v > MAX_DIMENSION {
                return Err(config_err(format!("{name} {v} is over {MAX_DIMENSION}")));
            }
        }
        // Products the model allocates by: none may overflow or be absurd.
        let products = [
            ("n_heads × head_dim", self.n_heads, self.head_dim),
            ("n_kv_heads × head_dim", self.n_kv_heads, self.head_dim),
            ("vocab_size × hidden_size", self.vocab_size, self.hidden_size),
            (
                "intermediate_size × hidden_size",
                self.intermediate_size,
                self.hidden_size,
            ),
        ];
        for (name, a, b) in products {
            if (a as u64).checked_mul(b as u64).is_none_or(|p| p > MAX_ELEMENTS) {
                return Err(config_err(format!(
                    "{name} = {a} × {b} is over {MAX_ELEMENTS} elements"
                )));
            }
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return Err(config_err(format!(
                "{} heads are not a multiple of {} kv heads",
                self.n_heads, self.n_kv_heads
            )));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(config_err(format!("head_dim {} must be even for RoPE", self.head_dim)));
        }
        if !(self.rms_norm_eps > 0.0 && self.rope_theta > 0.0) {
            return Err(config_err("rms_norm_eps and rope_theta must be positive"));
        }
        if let RopeScaling::Factors(f) = &self.rope_scaling
            && f.len() != self.head_dim / 2
        {
            return Err(config_err(format!(
                "{} RoPE factors for head_dim {}",
                f.len(),
                self.head_dim
            )));
        }
        Ok(())
    }
}

/// Largest single dimension accepted (vocabularies of 256k tokens and hidden
/// sizes of 16k are far below it).
const MAX_DIMENSION: usize = 1 << 24;
/// Largest matrix accepted, in elements (2 G: far above any model this runs,
/// and a product that fits a 32-bit `usize` on wasm32).
const MAX_ELEMENTS: u64 = 1 << 31;

#[derive(Deserialize)]
struct HfConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f32,
    rope_theta: Option<f32>,
    rope_scaling: Option<HfRopeScaling>,
    rope_parameters: Option<HfRopeScaling>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
}

#[derive(Deserialize)]
struct HfRopeScaling {
    rope_theta: Option<f32>,
    rope_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    factor: Option<f32>,
    low_freq_factor: Option<f32>,
    high_freq_factor: Option<f32>,
    original_max_position_embeddings: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const SMALL: &str = r#"{"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "rms_norm_eps": 1e-5}"#;

    #[test]
    fn hostile_dimensions_are_refused_before_anything_is_allocated() {
        let ok = Config::from_hf_json(SMALL).unwrap();
        assert_eq!(ok.head_dim, 16);
        for (field, value) in [
            ("num_attention_heads", "0"),
            ("hidden_size", "0"),
            ("num_attention_heads", "4294967296"),
            ("vocab_size", "16777217"),
        ] {
            let json = SMALL.replace(
                &format!(r#""{field}": {}"#, serde_json::from_str::<Value>(SMALL).unwrap()[field]),
                &format!(r#""{field}": {value}"#),
            );
            assert_ne!(json, SMALL, "{field}");
            assert!(Config::from_hf_json(&json).is_err(), "{field} = {value}");
        }
        let mut overflow = ok.clone();
        overflow.n_heads = 1 << 20;
        overflow.n_kv_heads = 1 << 20;
        overflow.head_dim = 1 << 20;
        assert!(
            overflow
                .validate()
                .unwrap_err()
                .to_string()
                .contains("n_heads × head_dim")
        );
    }
}
