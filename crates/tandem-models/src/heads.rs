//! The encoder's fine-tuned parts: LoRA deltas for the base weights, a
//! word-shape input embedding (capitals and other bits the uncased vocabulary
//! cannot say), a token-classification head (the shield's NER) and a routing
//! head, shipped
//! as one small safetensors file (`assets/minilm-shield-router.safetensors`,
//! trained by `pkg-scripts/train_encoder.py`).
//!
//! The file names the base model it was trained on by sha256; the deltas are
//! merged into the base weights at load (`W + B·A · alpha/rank`), so running
//! costs nothing extra.

use crate::encoder::{Encoded, Encoder, EncoderConfig, l2_normalize, mean_pool};
use crate::error::{ModelError, config_err};
use crate::linear::{Linear, WeightFormat, load_linear};
use crate::routing::{RoutingHead, hex_sha256};
use crate::weights::{SafetensorsWeights, Weight, WeightSource};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashMap;

/// The file format this crate reads (`format` in the safetensors metadata).
pub const HEADS_FORMAT: &str = "tandem-encoder-heads/2";

/// What the heads file says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadsInfo {
    /// sha256 of the base `model.safetensors` the deltas apply to.
    pub base_sha256: String,
    /// sha256 of this heads file (a [`RoutingHead`] names the file whose
    /// encoder output it was trained on).
    pub sha256: String,
    /// BIO labels of the token head, in output order (`O` first).
    pub ner_labels: Vec<String>,
    /// Names of the word-shape bits the model reads per token, in order
    /// (`tandem_core::shield::shape::SHAPE_FEATURES`).
    pub shape_features: Vec<String>,
    /// Longest window the token head was trained on.
    pub ner_max_tokens: usize,
    /// How many tokens of a query the routing head reads.
    pub router_max_tokens: usize,
    /// MMLU subjects held out of router training (for honest evaluation).
    pub router_eval_subjects: Vec<String>,
    /// The training run's settings and metrics, as JSON.
    pub training: String,
    lora_scale: f32,
}

/// A parsed heads file.
pub struct Heads {
    info: HeadsInfo,
    tensors: SafetensorsWeights,
}

impl Heads {
    /// Parses a heads file and checks its metadata.
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| ModelError::Safetensors(format!("heads file: {e}")))?;
        let meta: HashMap<String, String> = meta.metadata().clone().unwrap_or_default();
        let field = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| config_err(format!("heads file: metadata `{k}` is missing")))
        };
        let number = |k: &str| -> Result<usize, ModelError> {
            field(k)?
                .parse()
                .map_err(|_| config_err(format!("heads file: metadata `{k}` is not a number")))
        };
        let format = field("format")?;
        if format != HEADS_FORMAT {
            return Err(config_err(format!(
                "heads file: format `{format}`, expected `{HEADS_FORMAT}`"
            )));
        }
        let (rank, alpha) = (number("lora_rank")?, number("lora_alpha")?);
        if rank == 0 {
            return Err(config_err("heads file: lora_rank is 0"));
        }
        let ner_labels: Vec<String> = field("ner_labels")?.split(',').map(str::to_owned).collect();
        if ner_labels.first().map(String::as_str) != Some("O") {
            return Err(config_err("heads file: the first NER label must be `O`"));
        }
        let info = HeadsInfo {
            base_sha256: field("base_sha256")?,
            sha256: hex_sha256(bytes),
            ner_labels,
            shape_features: field("shape_features")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            ner_max_tokens: number("ner_max_tokens")?,
            router_max_tokens: number("router_max_tokens")?,
            router_eval_subjects: field("router_eval_subjects")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            training: meta.get("training").cloned().unwrap_or_default(),
            lora_scale: alpha as f32 / rank as f32,
        };
        Ok(Self {
            info,
            tensors: SafetensorsWeights::parse(bytes)?,
        })
    }

    /// What the file says about itself.
    pub fn info(&self) -> &HeadsInfo {
        &self.info
    }

    /// `base` with this file's LoRA deltas merged in.
    pub fn merged<'a>(&'a self, base: &'a dyn WeightSource) -> impl WeightSource + 'a {
        Merged { base, heads: self }
    }
}

struct Merged<'a> {
    base: &'a dyn WeightSource,
    heads: &'a Heads,
}

impl WeightSource for Merged<'_> {
    fn get(&self, name: &str) -> Result<Option<Weight>, ModelError> {
        let Some(mut w) = self.base.get(name)? else {
            return Ok(None);
        };
        let Some(stem) = name.strip_suffix(".weight") else {
            return Ok(Some(w));
        };
        let (a, b) = (
            self.heads.tensors.get(&format!("{stem}.lora_a"))?,
            self.heads.tensors.get(&format!("{stem}.lora_b"))?,
        );
        let (a, b) = match (a, b) {
            (Some(a), Some(b)) => (a, b),
            (None, None) => return Ok(Some(w)),
            _ => return Err(lora_err(stem, "has only one of lora_a and lora_b")),
        };
        // W [out, in] += B [out, r] · A [r, in] · scale
        let (out, inp) = match w.shape[..] {
            [o, i] => (o, i),
            _ => return Err(lora_err(stem, "the base weight is not a matrix")),
        };
        let r = a.shape.first().copied().unwrap_or(0);
        if a.shape != [r, inp] || b.shape != [out, r] {
            return Err(lora_err(
                stem,
                &format!("lora_a {:?} / lora_b {:?} do not fit {:?}", a.shape, b.shape, w.shape),
            ));
        }
        let scale = self.heads.info.lora_scale;
        for o in 0..out {
            let row = &mut w.data[o * inp..(o + 1) * inp];
            for k in 0..r {
                let f = b.data[o * r + k] * scale;
                if f != 0.0 {
                    for (x, &y) in row.iter_mut().zip(&a.data[k * inp..(k + 1) * inp]) {
                        *x += f * y;
                    }
                }
            }
        }
        Ok(Some(w))
    }
}

fn lora_err(stem: &str, reason: &str) -> ModelError {
    ModelError::Weight {
        name: format!("{stem} (LoRA)"),
        reason: reason.to_owned(),
    }
}

/// The base encoder with the heads file's deltas merged in, plus its two heads.
#[derive(Debug, Clone)]
pub struct TaggingEncoder {
    encoder: Encoder,
    shape: Linear,
    ner: Linear,
    router: Linear,
    info: HeadsInfo,
    routing_for: Option<String>,
}

/// What one pass over a batch of windows yields, still on the device.
#[derive(Debug, Clone)]
pub struct TaggingOutput {
    /// `[batch, tokens, labels]`: per-token probabilities of each NER label.
    pub ner: Tensor<3>,
    /// `[batch]`: the routing head's calibrated logit per row (read row 0
    /// for a query: it holds the query's first tokens).
    pub route_logit: Tensor<1>,
    /// `[batch, hidden]`: the L2-normalised mean-pooled state the routing
    /// head reads (what a [`RoutingHead`] is trained on).
    pub pooled: Tensor<2>,
}

impl TaggingEncoder {
    /// Loads the base encoder (`config.json` + `model.safetensors`) with `heads` applied.
    ///
    /// `base_sha256` is the base file's digest as the caller computed or
    /// verified it; it must be the one the heads were trained on.
    pub fn load(
        config_json: &str,
        base_safetensors: &[u8],
        base_sha256: &str,
        heads: &Heads,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::load_as(
            config_json,
            base_safetensors,
            base_sha256,
            heads,
            device,
            WeightFormat::Stored,
        )
    }

    /// [`TaggingEncoder::load`] with the encoder's matrices held as `format`
    /// says ([`Encoder::load_as`]); the small heads stay `f32`.
    pub fn load_as(
        config_json: &str,
        base_safetensors: &[u8],
        base_sha256: &str,
        heads: &Heads,
        device: &Device,
        format: WeightFormat,
    ) -> Result<Self, ModelError> {
        if !base_sha256.eq_ignore_ascii_case(&heads.info.base_sha256) {
            return Err(config_err(format!(
                "the heads were trained on base model {}, not {base_sha256}",
                heads.info.base_sha256
            )));
        }
        let config = EncoderConfig::from_hf_json(config_json)?;
        let base = SafetensorsWeights::parse(base_safetensors)?;
        let merged = heads.merged(&base);
        let encoder = Encoder::load_as(config, &merged, device, format)?;
        let h = encoder.config().hidden_size;
        let labels = heads.info.ner_labels.len();
        let bits = heads.info.shape_features.len();
        Ok(Self {
            shape: load_linear(&heads.tensors, "shape", h, bits, false, device, WeightFormat::F32)?,
            ner: load_linear(&heads.tensors, "ner", labels, h, true, device, WeightFormat::F32)?,
            router: load_linear(&heads.tensors, "router", 1, h, true, device, WeightFormat::F32)?,
            encoder,
            info: heads.info.clone(),
            routing_for: None,
        })
    }

    /// Routes with `head`, trained for one local model, instead of the
    /// heads file's weak/strong head. The head must have been trained on
    /// this heads file's encoder output.
    pub fn set_routing_head(&mut self, head: &RoutingHead) -> Result<(), ModelError> {
        if !head.info().heads_sha256.eq_ignore_ascii_case(&self.info.sha256) {
            return Err(config_err(format!(
                "the routing head for {} was trained on heads file {}, not {}",
                head.info().local_model,
                head.info().heads_sha256,
                self.info.sha256
            )));
        }
        let h = self.encoder.config().hidden_size;
        let device = self.encoder.device().clone();
        self.router = load_linear(head.tensors(), "router", 1, h, true, &device, WeightFormat::F32)?;
        self.routing_for = Some(head.info().local_model.clone());
        Ok(())
    }

    /// The local model the routing head was trained for (`None`: the heads
    /// file's own head, trained on whether Mixtral-8x7B suffices).
    pub fn routing_for(&self) -> Option<&str> {
        self.routing_for.as_deref()
    }

    /// The encoder under the heads.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// What the heads file said about itself.
    pub fn info(&self) -> &HeadsInfo {
        &self.info
    }

    /// Runs the encoder once over `rows` and both heads over its output.
    ///
    /// `shapes[r]` holds row `r`'s word-shape bits as `0.0`/`1.0`, one group
    /// of [`HeadsInfo::shape_features`]`.len()` per token (zeros for
    /// `[CLS]`/`[SEP]`).
    pub fn forward(&self, rows: &[Vec<u32>], shapes: &[Vec<f32>]) -> Result<TaggingOutput, ModelError> {
        let k = self.info.shape_features.len();
        let t = rows.iter().map(Vec::len).max().unwrap_or(0);
        if shapes.len() != rows.len() || rows.iter().zip(shapes).any(|(r, s)| s.len() != r.len() * k) {
            return Err(ModelError::Input(format!(
                "shape bits do not fit the rows: {k} per token expected"
            )));
        }
        let mut bits = Vec::with_capacity(rows.len() * t * k);
        for s in shapes {
            bits.extend_from_slice(s);
            bits.resize(bits.len() + t * k - s.len(), 0.0);
        }
        let bits = Tensor::<3>::from_data(TensorData::new(bits, [rows.len(), t, k]), self.encoder.device());
        let extra = self.shape.forward(bits);
        let encoded: Encoded = self.encoder.forward_with(rows, Some(extra))?;
        let ner = softmax(self.ner.forward(encoded.hidden.clone()), 2);
        let pooled = l2_normalize(mean_pool(&encoded));
        let [b, h] = pooled.dims();
        let route_logit = self.router.forward(pooled.clone().reshape([1, b, h])).reshape([b]);
        Ok(TaggingOutput {
            ner,
            route_logit,
            pooled,
        })
    }
}

/// The heads this repository ships (trained by `pkg-scripts/train_encoder.py`
/// on all-MiniLM-L6-v2), so that every front end has a default.
pub const DEFAULT_HEADS: &[u8] = include_bytes!("../assets/minilm-shield-router.safetensors");
