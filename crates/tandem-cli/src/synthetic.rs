//! Random weights of a real model's shape and quantization types: for
//! measuring speed where the model file cannot go (a borrowed GPU machine
//! takes 64 MiB of files; Qwen2.5-Coder-1.5B is 1.1 GB). The values are
//! noise, so only timings and memory mean anything.

use anyhow::{Result, bail};
use tandem_gguf::GgmlType;
use tandem_models::{Architecture, Config, ModelError, RopeScaling, Weight, WeightSource};
use tandem_quant::QMatrix;

/// The shapes `--synthetic` knows, as their Q4_K_M GGUF files hold them.
pub(crate) const SHAPES: [&str; 2] = ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"];

/// The hyper-parameters of the model named `name` (one of [`SHAPES`]).
pub(crate) fn config(name: &str) -> Result<Config> {
    let (hidden, intermediate, layers, heads, tie) = match name {
        "qwen2.5-coder-1.5b" => (1536, 8960, 28, 12, false),
        "qwen2.5-coder-0.5b" => (896, 4864, 24, 14, false),
        other => bail!("no synthetic shape {other:?}; known: {}", SHAPES.join(", ")),
    };
    Ok(Config {
        arch: Architecture::Qwen2,
        vocab_size: 151_936,
        hidden_size: hidden,
        intermediate_size: intermediate,
        n_layers: layers,
        n_heads: heads,
        n_kv_heads: 2,
        head_dim: 128.min(hidden / heads),
        rms_norm_eps: 1e-6,
        rope_theta: 1_000_000.0,
        rope_scaling: RopeScaling::None,
        max_position: 32_768,
        tie_embeddings: tie,
        qkv_bias: true,
    })
}

/// Random weights for a [`Config`], typed as llama.cpp's Q4_K_M files type
/// them: `Q4_K` matrices, `Q6_K` for the output head and for the value and
/// down projections of every other layer; rows that are no whole number of
/// 256-value super-blocks fall back to `Q5_0` and `Q8_0`, as llama.cpp does.
pub(crate) struct Synthetic {
    config: Config,
}

impl Synthetic {
    /// Weights for `config`.
    pub(crate) fn new(config: Config) -> Self {
        Self { config }
    }

    /// The shape and type of matrix `name`, if it is one.
    fn matrix(&self, name: &str) -> Option<(usize, usize, GgmlType)> {
        let c = &self.config;
        let (h, q, kv) = (c.hidden_size, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
        let odd_layer = name
            .strip_prefix("model.layers.")
            .and_then(|rest| rest.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i % 2 == 1);
        let wide = if odd_layer { GgmlType::Q4_K } else { GgmlType::Q6_K };
        let tail = name.rsplit_once(".layers.").map_or(name, |(_, t)| t);
        let (rows, cols, ty) = match tail {
            "model.embed_tokens.weight" => (c.vocab_size, h, GgmlType::Q4_K),
            "lm_head.weight" => (c.vocab_size, h, GgmlType::Q6_K),
            t if t.ends_with("q_proj.weight") => (q, h, GgmlType::Q4_K),
            t if t.ends_with("k_proj.weight") => (kv, h, GgmlType::Q4_K),
            t if t.ends_with("v_proj.weight") => (kv, h, wide),
            t if t.ends_with("o_proj.weight") => (h, q, GgmlType::Q4_K),
            t if t.ends_with("gate_proj.weight") || t.ends_with("up_proj.weight") => {
                (c.intermediate_size, h, GgmlType::Q4_K)
            }
            t if t.ends_with("down_proj.weight") => (h, c.intermediate_size, wide),
            _ => return None,
        };
        let ty = match ty {
            _ if cols % 256 == 0 => ty,
            GgmlType::Q4_K => GgmlType::Q5_0,
            _ => GgmlType::Q8_0,
        };
        Some((rows, cols, ty))
    }
}

/// A seed per weight name, so that every weight differs.
fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) | 1
}

impl WeightSource for Synthetic {
    fn get(&self, name: &str) -> Result<Option<Weight>, ModelError> {
        // Matrices widened to f32 (`--weights f32`): the same values.
        if let Some(q) = self.get_quantized(name)? {
            return Ok(Some(Weight {
                shape: vec![q.rows(), q.cols()],
                data: q.dequantize(),
            }));
        }
        let c = &self.config;
        let n = if name.ends_with("k_proj.bias") || name.ends_with("v_proj.bias") {
            c.n_kv_heads * c.head_dim
        } else if name.ends_with("q_proj.bias") {
            c.n_heads * c.head_dim
        } else if name.ends_with("norm.weight") || name.ends_with("layernorm.weight") {
            c.hidden_size
        } else {
            return Ok(None);
        };
        // Norm weights near 1 and small biases: 1 plus a per-name pattern under 0.1.
        let seed = seed(name);
        let data = (0..n as u64)
            .map(|i| 1.0 + (seed.wrapping_add(i.wrapping_mul(0x9E37_79B9)) % 1000) as f32 / 10_000.0)
            .collect();
        Ok(Some(Weight { shape: vec![n], data }))
    }

    fn get_quantized(&self, name: &str) -> Result<Option<QMatrix>, ModelError> {
        let Some((rows, cols, ty)) = self.matrix(name) else {
            return Ok(None);
        };
        // Small scales, so that activations stay finite through the layers.
        QMatrix::random(ty, rows, cols, seed(name), 0.002)
            .map(Some)
            .map_err(|e| ModelError::Weight {
                name: name.to_owned(),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_models::WeightFormat;

    #[test]
    fn every_weight_of_the_shape_is_there_with_its_type() {
        let config = config("qwen2.5-coder-0.5b").unwrap();
        let source = Synthetic::new(config.clone());
        let device = burn::tensor::Device::flex();
        let model = tandem_models::Model::load(config.clone(), &source, &device).unwrap();
        // The matrices a forward reads (all but the embedding: 494M parameters,
        // the untied head among them) in Q5_0, Q6_K and Q8_0: 5.5 to 7.5 bits a
        // weight (the real file's are 392 MB).
        let bytes = model.matrix_bytes() as f64;
        assert!((3.4e8..4.6e8).contains(&bytes), "{bytes} bytes of matrices");
        let f32 = tandem_models::Model::load_as(config.clone(), &source, &device, WeightFormat::F32).unwrap();
        assert!(f32.matrix_bytes() > 4 * model.matrix_bytes());
        let mut cache = model.new_cache();
        let logits = model.forward_last(&[1, 2, 3], &mut cache).unwrap();
        let values: Vec<f32> = logits.into_data().try_to_vec().unwrap();
        assert_eq!(values.len(), config.vocab_size);
        assert!(values.iter().all(|v| v.is_finite()));
        assert!(super::config("llama-70b").is_err());
    }
}
