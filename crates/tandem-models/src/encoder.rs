//! A BERT encoder (`all-MiniLM-L6-v2` and its relatives): embeddings
//! (word + position + token type 0) → LayerNorm → `n_layers` × (self-attention
//! over the unpadded tokens → add & LayerNorm → GELU MLP → add & LayerNorm).
//!
//! Post-LayerNorm, exact (erf) GELU and absolute positions, as in
//! `transformers`' `BertModel`; [`mean_pool`] + [`l2_normalize`] give
//! sentence-transformers' sentence embedding.

use crate::error::{ModelError, config_err};
use crate::fused::{FusedEncoder, FusedEncoderLayer, HEAD_DIMS, HostNorm};
use crate::linear::{Embedding, Linear, Projections, WeightFormat, load_linear, load_vector, load_weight};
use crate::weights::WeightSource;
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;

/// Hyper-parameters of a BERT encoder (from its Hugging Face `config.json`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EncoderConfig {
    /// Word-piece vocabulary size.
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Transformer layers.
    #[serde(rename = "num_hidden_layers")]
    pub n_layers: usize,
    /// Attention heads per layer.
    #[serde(rename = "num_attention_heads")]
    pub n_heads: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Longest input, in tokens (absolute position embeddings).
    #[serde(rename = "max_position_embeddings")]
    pub max_position: usize,
    /// Token-type (segment) vocabulary size.
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

impl EncoderConfig {
    /// Reads a BERT `config.json`; refuses other architectures and activations.
    pub fn from_hf_json(json: &str) -> Result<Self, ModelError> {
        #[derive(Deserialize)]
        struct Extra {
            model_type: Option<String>,
            hidden_act: Option<String>,
            position_embedding_type: Option<String>,
        }
        let extra: Extra = serde_json::from_str(json).map_err(|e| config_err(format!("config.json: {e}")))?;
        if let Some(t) = extra.model_type.as_deref().filter(|t| *t != "bert") {
            return Err(config_err(format!("model_type `{t}` is not a BERT encoder")));
        }
        if let Some(a) = extra.hidden_act.as_deref().filter(|a| *a != "gelu") {
            return Err(config_err(format!("hidden_act `{a}` is not supported (only `gelu`)")));
        }
        if let Some(p) = extra.position_embedding_type.as_deref().filter(|p| *p != "absolute") {
            return Err(config_err(format!("position_embedding_type `{p}` is not supported")));
        }
        let config: Self = serde_json::from_str(json).map_err(|e| config_err(format!("config.json: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ModelError> {
        if self.n_heads == 0 || !self.hidden_size.is_multiple_of(self.n_heads) {
            return Err(config_err(format!(
                "hidden_size {} is not a multiple of {} heads",
                self.hidden_size, self.n_heads
            )));
        }
        if self.n_layers == 0 || self.vocab_size == 0 || self.max_position == 0 || self.type_vocab_size == 0 {
            return Err(config_err("zero layers, vocabulary, positions or token types"));
        }
        Ok(())
    }

    fn head_dim(&self) -> usize {
        self.hidden_size / self.n_heads
    }
}

#[derive(Debug, Clone)]
struct LayerNorm {
    w: Tensor<1>,
    b: Tensor<1>,
    eps: f32,
}

impl LayerNorm {
    fn load(source: &dyn WeightSource, name: &str, n: usize, eps: f64, device: &Device) -> Result<Self, ModelError> {
        Ok(Self {
            w: load_vector(source, &format!("{name}.weight"), n, device)?,
            b: load_vector(source, &format!("{name}.bias"), n, device)?,
            eps: eps as f32,
        })
    }

    fn host(&self) -> Option<HostNorm> {
        HostNorm::new(&self.w, &self.b, self.eps)
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mean = x.clone().mean_dim(2);
        let centered = x - mean;
        let var = centered.clone().powi_scalar(2).mean_dim(2);
        centered / (var + self.eps).sqrt() * self.w.clone().unsqueeze::<3>() + self.b.clone().unsqueeze::<3>()
    }
}

#[derive(Debug, Clone)]
struct Layer {
    /// Query, key and value, stacked where their weights allow.
    qkv: Projections,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

/// A BERT encoder on a burn device.
#[derive(Debug, Clone)]
pub struct Encoder {
    config: EncoderConfig,
    device: Device,
    word: Embedding,
    position: Tensor<2>,
    token_type: Tensor<1>,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    /// The same encoder on host slices, when every matrix is quantized.
    fused: Option<FusedEncoder>,
}

/// Hidden states of a padded batch and which of its positions hold tokens.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// `[batch, tokens, hidden]`.
    pub hidden: Tensor<3>,
    /// `[batch, tokens]`: 1 for a token, 0 for padding.
    pub mask: Tensor<2>,
}

impl Encoder {
    /// Loads the weights named as in `transformers`' `BertModel` from `source`.
    pub fn load(config: EncoderConfig, source: &dyn WeightSource, device: &Device) -> Result<Self, ModelError> {
        Self::load_as(config, source, device, WeightFormat::Stored)
    }

    /// [`Encoder::load`] with the layers' matrices held as `format` says:
    /// [`WeightFormat::Int8`] and [`WeightFormat::Q8_0`] run them through
    /// `tandem-quant`'s integer kernels on the CPU backend (with the word
    /// table as `Q8_0` rows), and then the whole pass runs on host slices
    /// (`fused/encoder.rs`) instead of burn's operations.
    pub fn load_as(
        config: EncoderConfig,
        source: &dyn WeightSource,
        device: &Device,
        format: WeightFormat,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        let c = &config;
        let h = c.hidden_size;
        let matrix = |name: &str, rows: usize| -> Result<Tensor<2>, ModelError> {
            let w = load_weight(source, name, &[rows, h])?;
            Ok(Tensor::from_data(TensorData::new(w.data, [rows, h]), device))
        };
        let token_type = matrix("embeddings.token_type_embeddings.weight", c.type_vocab_size)?
            .narrow(0, 0, 1)
            .reshape([h]);
        let linear = |name: &str, out: usize, inp: usize| load_linear(source, name, out, inp, true, device, format);
        let norm = |name: &str| LayerNorm::load(source, name, h, c.layer_norm_eps, device);
        let layers = (0..c.n_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    qkv: Projections::new(vec![
                        linear(&format!("{p}.attention.self.query"), h, h)?,
                        linear(&format!("{p}.attention.self.key"), h, h)?,
                        linear(&format!("{p}.attention.self.value"), h, h)?,
                    ]),
                    attn_out: linear(&format!("{p}.attention.output.dense"), h, h)?,
                    attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    up: linear(&format!("{p}.intermediate.dense"), c.intermediate_size, h)?,
                    down: linear(&format!("{p}.output.dense"), h, c.intermediate_size)?,
                    out_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let word = Embedding::load(
            source,
            "embeddings.word_embeddings.weight",
            c.vocab_size,
            h,
            device,
            format,
        )?;
        let position = matrix("embeddings.position_embeddings.weight", c.max_position)?;
        let embed_norm = norm("embeddings.LayerNorm")?;
        let fused = match &word {
            Embedding::Quantized(table) if HEAD_DIMS.contains(&config.head_dim()) => layers
                .iter()
                .map(|l| {
                    FusedEncoderLayer::new(
                        &l.qkv,
                        &l.attn_out,
                        || l.attn_norm.host(),
                        &l.up,
                        &l.down,
                        || l.out_norm.host(),
                    )
                })
                .collect::<Option<Vec<_>>>()
                .and_then(|fused_layers| {
                    FusedEncoder::new(table, &position, &token_type, embed_norm.host()?, fused_layers)
                }),
            _ => None,
        };
        Ok(Self {
            word,
            position,
            token_type,
            embed_norm,
            layers,
            fused,
            config,
            device: device.clone(),
        })
    }

    /// Whether forward passes run on host slices (every matrix quantized,
    /// on the CPU backend).
    pub fn fused_cpu(&self) -> bool {
        self.fused.is_some()
    }

    /// This encoder running burn's operations even where the host pass
    /// could run: the reference the host pass is tested against.
    pub fn without_fused_cpu(mut self) -> Self {
        self.fused = None;
        self
    }

    /// Loads an encoder from a Hugging Face `config.json` and `model.safetensors`.
    pub fn from_safetensors(config_json: &str, safetensors: &[u8], device: &Device) -> Result<Self, ModelError> {
        let config = EncoderConfig::from_hf_json(config_json)?;
        Self::load(config, &crate::SafetensorsWeights::parse(safetensors)?, device)
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Encodes `rows` of token ids (each with its own `[CLS]`/`[SEP]`),
    /// padded to the longest row, in one pass.
    pub fn forward(&self, rows: &[Vec<u32>]) -> Result<Encoded, ModelError> {
        self.forward_with(rows, None)
    }

    /// Like [`Encoder::forward`], with `extra` (`[rows, longest row, hidden]`)
    /// added to the input embeddings: how a fine-tuned model feeds the encoder
    /// what its vocabulary cannot say (the tagger's word shapes).
    pub fn forward_with(&self, rows: &[Vec<u32>], extra: Option<Tensor<3>>) -> Result<Encoded, ModelError> {
        let c = &self.config;
        let t = rows.iter().map(Vec::len).max().unwrap_or(0);
        if t == 0 {
            return Err(ModelError::Input("no tokens to encode".into()));
        }
        if t > c.max_position {
            return Err(ModelError::Input(format!(
                "{t} tokens exceed the encoder's {} positions",
                c.max_position
            )));
        }
        if let Some(&bad) = rows.iter().flatten().find(|&&id| id as usize >= c.vocab_size) {
            return Err(ModelError::Input(format!(
                "token {bad} is outside the vocabulary of {}",
                c.vocab_size
            )));
        }
        let (b, h) = (rows.len(), c.hidden_size);
        if let Some(extra) = extra.as_ref().filter(|e| e.dims() != [b, t, h]) {
            return Err(ModelError::Input(format!(
                "extra input embeddings are {:?}, expected {:?}",
                extra.dims(),
                [b, t, h]
            )));
        }
        let mut mask = Vec::with_capacity(b * t);
        for row in rows {
            mask.extend(std::iter::repeat_n(1.0f32, row.len()));
            mask.extend(std::iter::repeat_n(0.0f32, t - row.len()));
        }
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [b, t]), &self.device);
        if let Some(fused) = &self.fused {
            // The host pass lives on the CPU backend, whose reads are plain copies.
            let extra: Option<Vec<f32>> = extra.map(|e| e.into_data().try_into_vec().expect("f32 on the CPU backend"));
            let hidden = fused.forward(c, rows, extra.as_deref());
            let hidden = Tensor::<3>::from_data(TensorData::new(hidden, [b, t, h]), &self.device);
            return Ok(Encoded { hidden, mask });
        }
        // burn's graph gathers a padded batch of ids (the host pass needs none).
        let mut ids = Vec::with_capacity(b * t);
        for row in rows {
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(0, t - row.len()));
        }
        let x = self.word.gather(&ids, &self.device).reshape([b, t, h])
            + self.position.clone().narrow(0, 0, t).unsqueeze::<3>()
            + self.token_type.clone().unsqueeze::<3>();
        let x = match extra {
            Some(extra) => x + extra,
            None => x,
        };
        let mut x = self.embed_norm.forward(x);
        // Additive mask [b, 1, 1, t]: padded keys get a large negative score.
        let bias = (mask.clone() - 1.0).mul_scalar(1e9).reshape([b, 1, 1, t]);
        for layer in &self.layers {
            let attn = self.attention(layer, x.clone(), &bias);
            x = layer.attn_norm.forward(attn + x);
            let mlp = layer.down.forward(gelu(layer.up.forward(x.clone())));
            x = layer.out_norm.forward(mlp + x);
        }
        Ok(Encoded { hidden: x, mask })
    }

    fn attention(&self, layer: &Layer, x: Tensor<3>, bias: &Tensor<4>) -> Tensor<3> {
        let c = &self.config;
        let [b, t, _] = x.dims();
        let d = c.head_dim();
        let heads = |y: Tensor<3>| y.reshape([b, t, c.n_heads, d]).swap_dims(1, 2);
        let [q, k, v]: [Tensor<3>; 3] = layer.qkv.forward(x).try_into().expect("three projections were stacked");
        let (q, k, v) = (heads(q), heads(k), heads(v));
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(1.0 / (d as f32).sqrt()) + bias.clone();
        let out = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, t, c.hidden_size]);
        layer.attn_out.forward(out)
    }
}

/// The mean of the token states of each row (padding excluded): `[batch, hidden]`.
pub fn mean_pool(encoded: &Encoded) -> Tensor<2> {
    let [b, t, h] = encoded.hidden.dims();
    let m = encoded.mask.clone().reshape([b, t, 1]);
    let sum = (encoded.hidden.clone() * m.clone()).sum_dim(1).reshape([b, h]);
    let count = m.sum_dim(1).reshape([b, 1]).clamp_min(1e-9);
    sum / count
}

/// Scales each row to unit length (sentence-transformers' `Normalize`).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
