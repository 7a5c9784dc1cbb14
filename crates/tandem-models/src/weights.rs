//! Where weights come from: GGUF files or Hugging Face safetensors.
//!
//! Both are presented with Hugging Face names and PyTorch shapes
//! (`[out_features, in_features]`), so the model code has one naming scheme.

use crate::config::Architecture;
use crate::error::ModelError;
use std::collections::HashMap;
use tandem_gguf::Gguf;
use tandem_quant::QMatrix;

/// A dense `f32` weight in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    /// Shape in PyTorch order.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f32>,
}

/// A source of named weights.
pub trait WeightSource {
    /// The weight called `name` (Hugging Face naming), if present.
    fn get(&self, name: &str) -> Result<Option<Weight>, ModelError>;

    /// The matrix called `name` in its stored ggml blocks, if it is present
    /// and stored in a type [`QMatrix`] runs (`None` otherwise: the caller
    /// falls back to [`WeightSource::get`]).
    fn get_quantized(&self, name: &str) -> Result<Option<QMatrix>, ModelError> {
        let _ = name;
        Ok(None)
    }
}

/// Weights stored in a GGUF file: quantized matrices as views of the file's
/// blocks ([`WeightSource::get_quantized`]), anything else dequantized to `f32`.
pub struct GgufWeights<'a> {
    gguf: &'a Gguf,
    arch: Architecture,
    n_heads: usize,
    n_kv_heads: usize,
}

impl<'a> GgufWeights<'a> {
    /// Weights of `gguf`, whose Llama q/k projections llama.cpp stored permuted.
    pub fn new(gguf: &'a Gguf, arch: Architecture, n_heads: usize, n_kv_heads: usize) -> Self {
        Self {
            gguf,
            arch,
            n_heads,
            n_kv_heads,
        }
    }
}

/// The GGUF name for a Hugging Face weight name.
fn gguf_name(hf: &str) -> Option<String> {
    let fixed = match hf {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_owned());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, tail) = rest.split_once('.')?;
    let mapped = match tail {
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{layer}.{mapped}"))
}

impl GgufWeights<'_> {
    /// The tensor's info and PyTorch shape, if the file has it.
    fn find(&self, name: &str) -> Option<(String, &tandem_gguf::TensorInfo, Vec<usize>)> {
        let gname = gguf_name(name)?;
        let info = self.gguf.tensor(&gname)?;
        // ggml lists dimensions fastest-first; PyTorch slowest-first.
        let shape: Vec<usize> = info.dims.iter().rev().map(|&d| d as usize).collect();
        Some((gname, info, shape))
    }

    /// The head count whose rows llama.cpp permuted in `gname` for its
    /// interleaved RoPE (Llama q/k), to undo so that every source uses
    /// Hugging Face's rotate-half layout.
    fn permuted_heads(&self, gname: &str) -> Option<usize> {
        if self.arch != Architecture::Llama {
            None
        } else if gname.ends_with("attn_q.weight") || gname.ends_with("attn_q.bias") {
            Some(self.n_heads)
        } else if gname.ends_with("attn_k.weight") || gname.ends_with("attn_k.bias") {
            Some(self.n_kv_heads)
        } else {
            None
        }
    }
}

impl WeightSource for GgufWeights<'_> {
    fn get(&self, name: &str) -> Result<Option<Weight>, ModelError> {
        let Some((gname, info, shape)) = self.find(name) else {
            return Ok(None);
        };
        if self.gguf.is_rewritten(info) {
            // Moved in place into the kernels' layout (`lay_out_in_place`):
            // the same values, read back through that layout.
            let Some(q) = self.get_quantized(name)? else {
                return Ok(None);
            };
            return Ok(Some(Weight {
                shape,
                data: q.dequantize(),
            }));
        }
        let mut data = self.gguf.tensor_f32(info)?;
        if let Some(heads) = self.permuted_heads(&gname) {
            data = unpermute_rows(&data, shape[0], shape.get(1).copied().unwrap_or(1), heads).map_err(|reason| {
                ModelError::Weight {
                    name: name.to_owned(),
                    reason,
                }
            })?;
        }
        Ok(Some(Weight { shape, data }))
    }

    fn get_quantized(&self, name: &str) -> Result<Option<QMatrix>, ModelError> {
        let Some((gname, info, shape)) = self.find(name) else {
            return Ok(None);
        };
        if shape.len() != 2 || !QMatrix::SUPPORTED.contains(&info.ty) {
            return Ok(None);
        }
        let (rows, cols) = (shape[0], shape[1]);
        let weight_error = |e: tandem_quant::QuantError| ModelError::Weight {
            name: name.to_owned(),
            reason: e.to_string(),
        };
        if self.gguf.is_rewritten(info) {
            return QMatrix::new_interleaved(info.ty, rows, cols, self.gguf.tensor_data(info))
                .map(Some)
                .map_err(weight_error);
        }
        // A view of the file's bytes; only Llama's permuted q/k rows are copied.
        let mut bytes = self.gguf.tensor_data(info);
        if let Some(heads) = self.permuted_heads(&gname) {
            // Whole rows move, so the permutation applies to the blocks as stored.
            bytes = unpermute_rows(&bytes, rows, bytes.len() / rows.max(1), heads)
                .map_err(|reason| ModelError::Weight {
                    name: name.to_owned(),
                    reason,
                })?
                .into();
        }
        let matrix = QMatrix::new(info.ty, rows, cols, bytes).map_err(weight_error)?;
        Ok(Some(matrix))
    }
}

/// Moves the quantized matrices of `gguf` into the layout this CPU's
/// kernels read fastest ([`tandem_quant::Layout::Interleaved`]), in place,
/// where a model loaded from it with `format` on `device` keeps them
/// quantized on the CPU and `gguf` owns its bytes ([`Gguf::rewrite_tensors`]).
/// Loading then copies none of them, where [`Model::from_gguf_as`](crate::Model::from_gguf_as)
/// would otherwise make that layout in a second copy of each (peak memory
/// of the file twice over, and a page fault per new page). Llama's q/k
/// projections, whose rows loading permutes, are left to that copy.
/// Returns how many matrices moved.
pub fn lay_out_in_place(gguf: &mut Gguf, device: &burn::tensor::Device, format: crate::WeightFormat) -> usize {
    if !tandem_quant::Layout::INTERLEAVED_KERNELS
        || format.on(device) == crate::WeightFormat::F32
        || *device != burn::tensor::Device::flex()
    {
        return 0;
    }
    let Ok(config) = crate::Config::from_gguf(gguf) else {
        return 0;
    };
    let permuted = |name: &str| {
        config.arch == Architecture::Llama && (name.ends_with("attn_q.weight") || name.ends_with("attn_k.weight"))
    };
    let moved = gguf.rewrite_tensors(|info, bytes| {
        let [cols, rows] = info.dims[..] else { return false };
        !permuted(&info.name)
            && QMatrix::interleave_in_place(info.ty, rows as usize, cols as usize, bytes).unwrap_or(false)
    });
    moved.unwrap_or(0)
}

/// Inverse of llama.cpp's `permute`: within each head, rows stored as
/// interleaved pairs `(0, h, 1, h+1, …)` go back to halves `(0, 1, …, h, h+1, …)`.
/// `cols` counts elements of `data` per row (values, or bytes of blocks).
/// Shapes that do not split into `heads` heads of pairs of rows are an error
/// (a hostile file's zero or odd dimensions), never a panic.
fn unpermute_rows<T: Copy + Default>(data: &[T], rows: usize, cols: usize, heads: usize) -> Result<Vec<T>, String> {
    if heads == 0 || rows == 0 || !rows.is_multiple_of(2 * heads) || rows.checked_mul(cols) != Some(data.len()) {
        return Err(format!(
            "{rows} rows of {cols} ({} elements) do not split into {heads} heads of row pairs",
            data.len()
        ));
    }
    let head_rows = rows / heads;
    let half = head_rows / 2;
    let mut out = vec![T::default(); data.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = h * head_rows + 2 * i + j;
                let dst = h * head_rows + j * half + i;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&data[src * cols..(src + 1) * cols]);
            }
        }
    }
    Ok(out)
}

/// Weights from Hugging Face `.safetensors` bytes (F32, F16 or BF16).
pub struct SafetensorsWeights {
    tensors: HashMap<String, Weight>,
    /// Tensors of other dtypes (e.g. BERT's I64 `position_ids` buffer): an
    /// error only if a model asks for one.
    unsupported: HashMap<String, safetensors::Dtype>,
}

impl SafetensorsWeights {
    /// Parses one safetensors file.
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| ModelError::Safetensors(e.to_string()))?;
        let mut tensors = HashMap::new();
        let mut unsupported = HashMap::new();
        for (name, view) in st.tensors() {
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                safetensors::Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                safetensors::Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                other => {
                    unsupported.insert(name, other);
                    continue;
                }
            };
            tensors.insert(
                name,
                Weight {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        Ok(Self { tensors, unsupported })
    }
}

impl WeightSource for SafetensorsWeights {
    fn get(&self, name: &str) -> Result<Option<Weight>, ModelError> {
        if let Some(dtype) = self.unsupported.get(name) {
            return Err(ModelError::Safetensors(format!(
                "{name}: dtype {dtype:?} is not supported"
            )));
        }
        Ok(self.tensors.get(name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2).reshape(rows, cols)
        let (rows, cols, heads) = (8, 2, 2);
        let hf: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let mut permuted = vec![0.0; hf.len()];
        let half = rows / heads / 2;
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..half {
                    let src = h * rows / heads + j * half + i;
                    let dst = h * rows / heads + 2 * i + j;
                    permuted[dst * cols..(dst + 1) * cols].copy_from_slice(&hf[src * cols..(src + 1) * cols]);
                }
            }
        }
        assert_eq!(unpermute_rows(&permuted, rows, cols, heads).unwrap(), hf);
    }

    #[test]
    fn shapes_that_do_not_split_into_heads_are_errors_not_panics() {
        let data = vec![0u8; 12];
        assert!(unpermute_rows(&data, 0, 12, 2).is_err(), "zero rows");
        assert!(unpermute_rows(&data, 6, 2, 0).is_err(), "zero heads");
        assert!(
            unpermute_rows(&data, 6, 2, 2).is_err(),
            "6 rows are not 2 heads of pairs"
        );
        assert!(
            unpermute_rows(&data, 4, 4, 2).is_err(),
            "16 elements claimed, 12 present"
        );
        assert!(unpermute_rows(&data, 4, usize::MAX, 1).is_err(), "overflowing shape");
        assert_eq!(unpermute_rows(&data, 4, 3, 2).unwrap().len(), 12);
    }

    #[test]
    fn names_map_to_gguf() {
        assert_eq!(
            gguf_name("model.layers.12.self_attn.q_proj.bias").as_deref(),
            Some("blk.12.attn_q.bias")
        );
        assert_eq!(gguf_name("lm_head.weight").as_deref(), Some("output.weight"));
        assert_eq!(gguf_name("model.layers.x"), None);
    }
}
