//! The one layer every model here shares.

use crate::error::ModelError;
use crate::weights::WeightSource;
use burn::tensor::{Device, Tensor, TensorData};

/// A linear layer stored as `[in, out]` so that `x · w` needs no transpose.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub(crate) w: Tensor<2>,
    pub(crate) bias: Option<Tensor<1>>,
}

impl Linear {
    pub(crate) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let out = self.w.dims()[1];
        let y = x.reshape([b * t, d]).matmul(self.w.clone());
        let y = match &self.bias {
            Some(bias) => y + bias.clone().unsqueeze::<2>(),
            None => y,
        };
        y.reshape([b, t, out])
    }
}

/// Reads a weight and checks its shape against `shape`.
pub(crate) fn load_weight(
    source: &dyn WeightSource,
    name: &str,
    shape: &[usize],
) -> Result<crate::weights::Weight, ModelError> {
    let w = source.get(name)?.ok_or_else(|| ModelError::Weight {
        name: name.to_owned(),
        reason: "missing".to_owned(),
    })?;
    if w.shape != shape {
        return Err(ModelError::Weight {
            name: name.to_owned(),
            reason: format!("shape {:?}, expected {:?}", w.shape, shape),
        });
    }
    Ok(w)
}

/// A `[n]` vector weight.
pub(crate) fn load_vector(
    source: &dyn WeightSource,
    name: &str,
    n: usize,
    device: &Device,
) -> Result<Tensor<1>, ModelError> {
    let w = load_weight(source, name, &[n])?;
    Ok(Tensor::from_data(TensorData::new(w.data, [n]), device))
}

/// `{name}.weight` stored `[out, in]` (PyTorch), kept as `[in, out]`, and `{name}.bias`.
pub(crate) fn load_linear(
    source: &dyn WeightSource,
    name: &str,
    out: usize,
    inp: usize,
    bias: bool,
    device: &Device,
) -> Result<Linear, ModelError> {
    let w = load_weight(source, &format!("{name}.weight"), &[out, inp])?;
    let w = Tensor::<2>::from_data(TensorData::new(w.data, [out, inp]), device).transpose();
    let bias = if bias {
        Some(load_vector(source, &format!("{name}.bias"), out, device)?)
    } else {
        None
    };
    Ok(Linear { w, bias })
}
