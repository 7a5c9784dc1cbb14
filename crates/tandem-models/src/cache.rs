//! The key/value cache, truncatable to any earlier position.

use burn::tensor::Tensor;

/// Keys and values of every layer for the tokens run so far.
///
/// Speculative decoding rejects drafted tokens by [`KvCache::truncate`]-ing
/// back to the last accepted position.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `n_layers` layers.
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: vec![None; n_layers],
            len: 0,
        }
    }

    /// Number of positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets positions `len..`. Truncating to a length at or beyond the
    /// current one changes nothing.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        for layer in &mut self.layers {
            *layer = match layer.take() {
                Some(_) if len == 0 => None,
                Some((k, v)) => Some((k.narrow(2, 0, len), v.narrow(2, 0, len))),
                None => None,
            };
        }
        self.len = len;
    }

    /// Appends a layer's new keys and values (`[b, kv_heads, t, head_dim]`)
    /// and returns the full ones.
    pub(crate) fn append(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.layers[layer].take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }

    /// Records that `t` positions were appended to every layer.
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
    }
}
