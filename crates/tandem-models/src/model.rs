//! The decoder: embedding, `n_layers` × (RMSNorm → GQA attention with RoPE →
//! RMSNorm → SwiGLU MLP), final RMSNorm, output projection.

use crate::cache::KvCache;
use crate::config::Config;
use crate::error::ModelError;
use crate::fused::{Fused, FusedLayer};
use crate::linear::{Embedding, Linear, Matrix, Projections, WeightFormat, load_linear, load_vector};
use crate::rope;
use crate::shortlist::Shortlist;
use crate::weights::WeightSource;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use tandem_quant::QMatrix;

/// One decoder layer's weights as loaded: what burn's graph runs, and what
/// the fused decoders ([`FusedLayer`], the GPU's) take theirs from.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) attn_norm: Tensor<1>,
    /// Query, key and value.
    pub(crate) qkv: Projections,
    pub(crate) o: Linear,
    pub(crate) ffn_norm: Tensor<1>,
    /// Gate and up.
    pub(crate) gate_up: Projections,
    pub(crate) down: Linear,
}

impl Block {
    /// This block as `device` runs it ([`Matrix::on_device`]).
    fn on_device(self, device: &Device) -> Self {
        Self {
            qkv: self.qkv.on_device(device),
            o: self.o.on_device(device),
            gate_up: self.gate_up.on_device(device),
            down: self.down.on_device(device),
            ..self
        }
    }

    /// Bytes of this block's weight matrices.
    fn matrix_bytes(&self) -> usize {
        self.qkv.bytes() + self.o.w.bytes() + self.gate_up.bytes() + self.down.w.bytes()
    }
}

/// Which positions' logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Positions {
    /// Every new position (scoring a prompt).
    All,
    /// The last `n` (at least one, at most all): a draft's positions and
    /// the one after, or the last one when generating.
    Tail(usize),
}

impl Positions {
    /// How many of `t` new positions' logits are returned.
    fn rows(self, t: usize) -> usize {
        match self {
            Positions::All => t,
            Positions::Tail(n) => n.clamp(1, t),
        }
    }
}

/// A Llama/Qwen2 causal language model on a burn device.
#[derive(Debug, Clone)]
pub struct Model {
    config: Config,
    device: Device,
    /// `[vocab, hidden]`.
    embed: Embedding,
    blocks: Vec<Block>,
    norm: Tensor<1>,
    /// The output projection; the embedding itself when tied.
    lm_head: Matrix,
    inv_freq: Vec<f32>,
    /// The same decoder on host slices, when every matrix is quantized.
    fused: Option<Fused>,
    /// The same decoder in a few kernels a layer, when every matrix is
    /// quantized on a GPU device.
    #[cfg(feature = "wgpu")]
    gpu: Option<crate::gpu::GpuDecoder>,
}

impl Model {
    /// Loads the weights named by Hugging Face conventions from `source`,
    /// quantized ones kept as stored ([`WeightFormat::Stored`]).
    pub fn load(config: Config, source: &dyn WeightSource, device: &Device) -> Result<Self, ModelError> {
        Self::load_as(config, source, device, WeightFormat::default())
    }

    /// [`Model::load`] with the weight matrices held as `format` says.
    pub fn load_as(
        config: Config,
        source: &dyn WeightSource,
        device: &Device,
        format: WeightFormat,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        let c = &config;
        let (h, q_dim, kv_dim) = (c.hidden_size, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        let vector = |name: &str, n: usize| load_vector(source, name, n, device);
        let linear =
            |name: &str, out: usize, inp: usize, bias: bool| load_linear(source, name, out, inp, bias, device, format);
        let embed = Embedding::load(source, "model.embed_tokens.weight", c.vocab_size, h, device, format)?;
        let lm_head = if c.tie_embeddings {
            match &embed {
                Embedding::Dense(table) => Matrix::Dense(table.clone().transpose()),
                Embedding::Quantized(q) => Matrix::Quantized(q.clone()),
            }
        } else {
            linear("lm_head", c.vocab_size, h, false)?.w
        };
        let blocks = (0..c.n_layers)
            .map(|i| {
                let p = format!("model.layers.{i}");
                Ok(Block {
                    attn_norm: vector(&format!("{p}.input_layernorm.weight"), h)?,
                    qkv: Projections::new(vec![
                        linear(&format!("{p}.self_attn.q_proj"), q_dim, h, c.qkv_bias)?,
                        linear(&format!("{p}.self_attn.k_proj"), kv_dim, h, c.qkv_bias)?,
                        linear(&format!("{p}.self_attn.v_proj"), kv_dim, h, c.qkv_bias)?,
                    ]),
                    o: linear(&format!("{p}.self_attn.o_proj"), h, q_dim, false)?,
                    ffn_norm: vector(&format!("{p}.post_attention_layernorm.weight"), h)?,
                    gate_up: Projections::new(vec![
                        linear(&format!("{p}.mlp.gate_proj"), c.intermediate_size, h, false)?,
                        linear(&format!("{p}.mlp.up_proj"), c.intermediate_size, h, false)?,
                    ]),
                    down: linear(&format!("{p}.mlp.down_proj"), h, c.intermediate_size, false)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        // Quantized matrices move to a GPU device's memory once stacked; on
        // the CPU backend they stay in host memory for the fused decoder.
        let blocks: Vec<Block> = blocks.into_iter().map(|b| b.on_device(device)).collect();
        let lm_head = lm_head.on_device(device);
        let norm = vector("model.norm.weight", h)?;
        let inv_freq = rope::inv_freq(c.head_dim, c.rope_theta, &c.rope_scaling);
        // The fused decoders gather embedding rows from a quantized table.
        let table = match &embed {
            Embedding::Quantized(q) => Some(q),
            Embedding::Dense(_) => None,
        };
        let fused = Fused::new(table, &lm_head, &norm, || blocks.iter().map(FusedLayer::new).collect());
        #[cfg(feature = "wgpu")]
        let gpu = crate::gpu::GpuDecoder::new(c.head_dim, table, &lm_head, &norm, || {
            blocks.iter().map(crate::gpu::GpuLayer::new).collect()
        });
        Ok(Self {
            config,
            device: device.clone(),
            embed,
            blocks,
            norm,
            lm_head,
            inv_freq,
            fused,
            #[cfg(feature = "wgpu")]
            gpu,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes of the weight matrices (every block's and the output head's)
    /// where they live: what one decode step reads, so tokens/s times this
    /// over a device's memory bandwidth says how close decoding runs to it.
    pub fn matrix_bytes(&self) -> usize {
        self.blocks.iter().map(Block::matrix_bytes).sum::<usize>() + self.lm_head.bytes()
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// An empty KV cache for this model (in host memory when it runs the
    /// fused CPU decoder, device buffers for the GPU decoder).
    pub fn new_cache(&self) -> KvCache {
        let c = &self.config;
        #[cfg(feature = "wgpu")]
        if self.gpu.is_some() {
            return KvCache::new_gpu(c.n_layers);
        }
        if self.fused.is_some() {
            KvCache::new_host(c.n_layers, c.n_kv_heads * c.head_dim)
        } else {
            KvCache::new(c.n_layers)
        }
    }

    /// Whether forward passes run the fused CPU decoder (every matrix
    /// quantized, on the CPU backend) rather than burn's operations.
    pub fn fused_cpu(&self) -> bool {
        self.fused.is_some()
    }

    /// This model running burn's operations even where the fused CPU
    /// decoder could run: the reference the fused decoder is tested against.
    pub fn without_fused_cpu(mut self) -> Self {
        self.fused = None;
        self
    }

    /// Whether forward passes run the GPU decoder (every matrix quantized
    /// on a GPU device) rather than burn's operations.
    pub fn fused_gpu(&self) -> bool {
        #[cfg(feature = "wgpu")]
        return self.gpu.is_some();
        #[cfg(not(feature = "wgpu"))]
        return false;
    }

    /// Makes the GPU decoder run at most `rows` positions a pass, so that a
    /// test runs several passes on a tiny model.
    #[cfg(all(test, feature = "wgpu"))]
    pub(crate) fn set_gpu_pass_rows(&mut self, rows: usize) {
        if let Some(gpu) = &mut self.gpu {
            gpu.max_pass = rows;
        }
    }

    /// This model running burn's operations even where the GPU decoder
    /// could run: the reference the GPU decoder is tested against.
    #[cfg_attr(not(feature = "wgpu"), allow(unused_mut))]
    pub fn without_fused_gpu(mut self) -> Self {
        #[cfg(feature = "wgpu")]
        {
            self.gpu = None;
        }
        self
    }

    /// Runs `tokens` (positions `cache.len()..`) and returns the logits of
    /// every one of them, `[tokens.len(), vocab]`: all positions at once, so
    /// that a whole draft is verified in one pass. The cache grows by
    /// `tokens.len()`.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor<2>, ModelError> {
        self.run(tokens, cache, Positions::All)
    }

    /// [`Model::forward`] returning the logits of the last position only,
    /// `[1, vocab]`: all that generation reads, and the output head (a small
    /// model's largest matrix) then runs on one row instead of every
    /// prompt position.
    pub fn forward_last(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor<2>, ModelError> {
        self.run(tokens, cache, Positions::Tail(1))
    }

    /// [`Model::forward`] returning the logits of the last `rows` positions
    /// only, `[rows, vocab]` (`rows` clamped to `1..=tokens.len()`): a
    /// verification round that also carries new context (a first round's
    /// prompt) reads only its draft's positions and the one after, and the
    /// output head skips the rest.
    pub fn forward_tail(&self, tokens: &[u32], cache: &mut KvCache, rows: usize) -> Result<Tensor<2>, ModelError> {
        self.run(tokens, cache, Positions::Tail(rows))
    }

    /// A [`Shortlist`] of this model's output head for `ids` (each once, in
    /// their first order): what a drafter scores instead of the whole
    /// vocabulary ([`Model::forward_last_shortlisted`]). Needs the fused CPU
    /// decoder ([`Model::fused_cpu`]); refuses an empty list and ids outside
    /// the vocabulary.
    pub fn shortlist(&self, ids: &[u32]) -> Result<Shortlist, ModelError> {
        Shortlist::new(self.host_head().ok_or_else(crate::shortlist::no_host_head)?, ids)
    }

    /// The output head in host memory, where the fused CPU decoder runs.
    pub(crate) fn host_head(&self) -> Option<&QMatrix> {
        self.fused.as_ref().map(Fused::head)
    }

    /// [`Model::forward_last`] scoring only `shortlist`'s tokens: the
    /// others' logits are −∞, so the drafter never proposes them. Needs the
    /// fused CPU decoder, as [`Model::shortlist`] does.
    pub fn forward_last_shortlisted(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        shortlist: &Shortlist,
    ) -> Result<Tensor<2>, ModelError> {
        if shortlist.vocab() != self.config.vocab_size {
            return Err(ModelError::Input("this shortlist was made for another model".into()));
        }
        self.run_with(tokens, cache, Positions::Tail(1), Some(shortlist))
    }

    fn run(&self, tokens: &[u32], cache: &mut KvCache, positions: Positions) -> Result<Tensor<2>, ModelError> {
        self.run_with(tokens, cache, positions, None)
    }

    fn run_with(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        positions: Positions,
        shortlist: Option<&Shortlist>,
    ) -> Result<Tensor<2>, ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::Input("no tokens to run".into()));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.config.vocab_size) {
            return Err(ModelError::Input(format!(
                "token {bad} is outside the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        let start = cache.len();
        if start + tokens.len() > self.config.max_position {
            return Err(ModelError::Input(format!(
                "context of {} tokens exceeds the model's {}",
                start + tokens.len(),
                self.config.max_position
            )));
        }
        let mismatch =
            || ModelError::Input("this KV cache was made by another kind of model (see Model::new_cache)".into());
        if shortlist.is_some() && !(self.fused.is_some() && cache.is_host()) {
            return Err(crate::shortlist::no_host_head());
        }
        #[cfg(feature = "wgpu")]
        if let Some(gpu) = &self.gpu {
            let kv = cache.gpu().ok_or_else(mismatch)?;
            let rows = positions.rows(tokens.len());
            let logits = gpu.forward(&self.config, &self.inv_freq, tokens, kv, start, rows);
            cache.advance(tokens.len());
            return Ok(logits);
        }
        match (&self.fused, cache.is_host()) {
            (Some(fused), true) => {
                let rows = positions.rows(tokens.len());
                let logits = fused.forward(&self.config, &self.inv_freq, tokens, cache, rows, shortlist);
                Ok(Tensor::from_data(
                    TensorData::new(logits, [rows, self.config.vocab_size]),
                    &self.device,
                ))
            }
            (None, false) if cache.is_graph() => {
                let logits = self.forward_batch(tokens, start, cache, positions);
                let [_, t, v] = logits.dims();
                Ok(logits.reshape([t, v]))
            }
            _ => Err(mismatch()),
        }
    }

    /// The embedding rows of `tokens` (all inside the vocabulary), `[t, hidden]`.
    fn embed(&self, tokens: &[u32]) -> Tensor<2> {
        self.embed.gather(tokens, &self.device)
    }

    /// The forward pass over `tokens` at positions `start..start + t`, with
    /// a batch dimension of one: `[1, t, vocab]`.
    fn forward_batch(&self, tokens: &[u32], start: usize, cache: &mut KvCache, positions: Positions) -> Tensor<3> {
        let c = &self.config;
        let (b, t) = (1, tokens.len());
        let mut x = self.embed(tokens).reshape([b, t, c.hidden_size]);
        let (cos, sin) = rope::tables(&self.inv_freq, start, t);
        let half = c.head_dim / 2;
        let cos = Tensor::<2>::from_data(TensorData::new(cos, [t, half]), &self.device).reshape([1, 1, t, half]);
        let sin = Tensor::<2>::from_data(TensorData::new(sin, [t, half]), &self.device).reshape([1, 1, t, half]);
        let mask = (t > 1).then(|| causal_mask(t, start, &self.device));
        for (i, block) in self.blocks.iter().enumerate() {
            let h = rms_norm(x.clone(), &block.attn_norm, c.rms_norm_eps);
            let attn = self.attention(block, h, &cos, &sin, mask.as_ref(), cache, i);
            x = x + attn;
            let h = rms_norm(x.clone(), &block.ffn_norm, c.rms_norm_eps);
            let [gate, up] = projections(&block.gate_up, h);
            let mlp = block.down.forward(silu(gate) * up);
            x = x + mlp;
        }
        cache.advance(t);
        let rows = positions.rows(t);
        let (x, t) = (x.narrow(1, t - rows, rows), rows);
        let x = rms_norm(x, &self.norm, c.rms_norm_eps);
        let v = self.lm_head.out_features();
        self.lm_head.apply(x.reshape([b * t, c.hidden_size])).reshape([b, t, v])
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        block: &Block,
        h: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: Option<&Tensor<4>>,
        cache: &mut KvCache,
        layer: usize,
    ) -> Tensor<3> {
        let c = &self.config;
        let [b, t, _] = h.dims();
        let heads = |x: Tensor<3>, n: usize| x.reshape([b, t, n, c.head_dim]).swap_dims(1, 2);
        let [q, k, v] = projections(&block.qkv, h);
        let q = rotate(heads(q, c.n_heads), cos, sin);
        let k = rotate(heads(k, c.n_kv_heads), cos, sin);
        let v = heads(v, c.n_kv_heads);
        let (k, v) = cache.append(layer, k, v);
        let s = k.dims()[2];
        // Grouped-query attention without copying keys and values per query
        // head: the query heads that share a key/value head (head h uses
        // kv head h / n_rep) are stacked along the sequence axis.
        let (kv, n_rep) = (c.n_kv_heads, c.n_heads / c.n_kv_heads);
        let q = q.reshape([b, kv, n_rep * t, c.head_dim]);
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(1.0 / (c.head_dim as f32).sqrt());
        let scores = match mask {
            Some(m) => (scores.reshape([b, kv, n_rep, t, s]) + m.clone().reshape([1, 1, 1, t, s])).reshape([
                b,
                kv,
                n_rep * t,
                s,
            ]),
            None => scores,
        };
        let out = softmax(scores, 3).matmul(v); // [b, kv, n_rep·t, head_dim]
        let out = out
            .reshape([b, c.n_heads, t, c.head_dim])
            .swap_dims(1, 2)
            .reshape([b, t, c.n_heads * c.head_dim]);
        block.o.forward(out)
    }
}

/// The `N` outputs of projections built from `N` layers.
fn projections<const N: usize>(p: &Projections, x: Tensor<3>) -> [Tensor<3>; N] {
    p.forward(x)
        .try_into()
        .unwrap_or_else(|v: Vec<_>| unreachable!("{N} projections built, {} returned", v.len()))
}

/// `x / sqrt(mean(x²) + eps) · w` over the last dimension.
fn rms_norm(x: Tensor<3>, w: &Tensor<1>, eps: f32) -> Tensor<3> {
    let var = x.clone().powi_scalar(2).mean_dim(2);
    x / (var + eps).sqrt() * w.clone().unsqueeze::<3>()
}

/// Rotate-half RoPE on `[b, heads, t, head_dim]`.
fn rotate(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let half = x.dims()[3] / 2;
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    Tensor::cat(
        vec![
            x1.clone() * cos.clone() - x2.clone() * sin.clone(),
            x2 * cos.clone() + x1 * sin.clone(),
        ],
        3,
    )
}

/// Additive mask `[1, 1, t, start + t]`: query `i` (position `start + i`)
/// sees keys up to its own position.
fn causal_mask(t: usize, start: usize, device: &Device) -> Tensor<4> {
    let s = start + t;
    let data: Vec<f32> = (0..t)
        .flat_map(|i| (0..s).map(move |j| if j <= start + i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Tensor::<2>::from_data(TensorData::new(data, [t, s]), device).reshape([1, 1, t, s])
}

impl Model {
    /// Loads a model from a parsed GGUF file, its quantized matrices kept
    /// quantized: as stored on the CPU backend, as codes with a scale and
    /// offset per group on a GPU device (with the `wgpu` feature).
    pub fn from_gguf(gguf: &tandem_gguf::Gguf, device: &Device) -> Result<Self, ModelError> {
        Self::from_gguf_as(gguf, device, WeightFormat::default())
    }

    /// [`Model::from_gguf`] with the weight matrices held as `format` says.
    pub fn from_gguf_as(gguf: &tandem_gguf::Gguf, device: &Device, format: WeightFormat) -> Result<Self, ModelError> {
        let config = Config::from_gguf(gguf)?;
        let weights = crate::GgufWeights::new(gguf, config.arch, config.n_heads, config.n_kv_heads);
        Self::load_as(config, &weights, device, format)
    }

    /// Loads a model from a Hugging Face `config.json` and `model.safetensors`
    /// (dense `f32`; see [`Model::from_safetensors_as`] to quantize).
    pub fn from_safetensors(config_json: &str, safetensors: &[u8], device: &Device) -> Result<Self, ModelError> {
        Self::from_safetensors_as(config_json, safetensors, device, WeightFormat::default())
    }

    /// [`Model::from_safetensors`] with the weight matrices held as `format`
    /// says ([`WeightFormat::Q8_0`] quantizes them at load).
    pub fn from_safetensors_as(
        config_json: &str,
        safetensors: &[u8],
        device: &Device,
        format: WeightFormat,
    ) -> Result<Self, ModelError> {
        let config = Config::from_hf_json(config_json)?;
        Self::load_as(config, &crate::SafetensorsWeights::parse(safetensors)?, device, format)
    }
}
