//! The key/value cache: buffers written in place, truncatable in O(1).

use burn::tensor::Tensor;

/// Positions a layer's buffers hold at first; they double when full.
pub(crate) const FIRST_CAPACITY: usize = 64;

/// One layer's keys and values, `[b, kv_heads, capacity, head_dim]`, valid
/// up to the cache's length.
#[derive(Debug, Clone)]
struct Layer {
    k: Tensor<4>,
    v: Tensor<4>,
}

impl Layer {
    fn capacity(&self) -> usize {
        self.k.dims()[2]
    }
}

/// Keys and values of every layer for the tokens run so far.
///
/// New positions are written in place into buffers that double when full
/// (amortized O(1) per token; burn writes in place when the cache holds the
/// only reference). Speculative decoding rejects drafted tokens by
/// [`KvCache::truncate`]-ing back to the last accepted position, which
/// only moves the length. A cache belongs to the kind of model that made it
/// ([`Model::new_cache`](crate::Model::new_cache)): burn tensors on the
/// device, host memory for the fused CPU decoder, or device buffers for the
/// GPU decoder.
#[derive(Debug, Clone)]
pub struct KvCache {
    store: Store,
    len: usize,
}

/// Where a cache keeps its keys and values.
#[derive(Debug, Clone)]
enum Store {
    /// Burn tensors per layer, `[b, kv_heads, capacity, head_dim]`.
    Device(Vec<Option<Layer>>),
    /// Host vectors per layer, `[positions, kv_heads · head_dim]`.
    Host { layers: Vec<HostLayer>, kv_dim: usize },
    /// Device buffers per layer, `[capacity, kv_heads · head_dim]`, that
    /// the GPU decoder writes in place.
    #[cfg(feature = "wgpu")]
    Gpu(crate::gpu::GpuKv),
}

/// One layer's keys and values in host memory, position-major: appending
/// is a copy to the end and the vectors grow by doubling.
#[derive(Debug, Clone, Default)]
struct HostLayer {
    k: Vec<f32>,
    v: Vec<f32>,
}

impl KvCache {
    /// An empty cache for `n_layers` layers of burn tensors.
    pub fn new(n_layers: usize) -> Self {
        Self {
            store: Store::Device(vec![None; n_layers]),
            len: 0,
        }
    }

    /// An empty host cache for `n_layers` layers of `kv_dim` values per
    /// position (the fused CPU decoder's).
    pub(crate) fn new_host(n_layers: usize, kv_dim: usize) -> Self {
        Self {
            store: Store::Host {
                layers: vec![HostLayer::default(); n_layers],
                kv_dim,
            },
            len: 0,
        }
    }

    /// An empty cache for the GPU decoder's `n_layers` layers.
    #[cfg(feature = "wgpu")]
    pub(crate) fn new_gpu(n_layers: usize) -> Self {
        Self {
            store: Store::Gpu(crate::gpu::GpuKv::new(n_layers)),
            len: 0,
        }
    }

    /// The GPU decoder's buffers, if this is its cache.
    #[cfg(feature = "wgpu")]
    pub(crate) fn gpu(&mut self) -> Option<&mut crate::gpu::GpuKv> {
        match &mut self.store {
            Store::Gpu(kv) => Some(kv),
            _ => None,
        }
    }

    /// Whether this cache holds burn tensors (the graph's).
    pub(crate) fn is_graph(&self) -> bool {
        matches!(self.store, Store::Device(_))
    }

    /// Whether this is a host cache.
    pub(crate) fn is_host(&self) -> bool {
        matches!(self.store, Store::Host { .. })
    }

    /// Number of positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the buffers have room for (what the memory is sized by).
    pub fn capacity(&self) -> usize {
        match &self.store {
            Store::Device(layers) => layers.iter().flatten().map(Layer::capacity).max().unwrap_or(0),
            Store::Host { layers, kv_dim } => layers.iter().map(|l| l.k.capacity() / kv_dim).max().unwrap_or(0),
            #[cfg(feature = "wgpu")]
            Store::Gpu(kv) => kv.capacity(),
        }
    }

    /// Forgets positions `len..` (their slots are overwritten by the next
    /// append). Truncating to a length at or beyond the current one changes
    /// nothing.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// A new cache holding this one's first `len` positions (at most its
    /// length), for a sequence that starts with a prompt another sequence
    /// already ran: it skips running those positions again.
    pub fn copy_prefix(&self, len: usize) -> Self {
        let len = len.min(self.len);
        let store = match &self.store {
            // The buffers are shared, not copied: burn copies a shared buffer
            // before writing into it, so neither cache sees the other's writes.
            Store::Device(layers) => Store::Device(layers.clone()),
            // Shared too: the GPU decoder copies shared buffers before it
            // writes (`GpuKv`).
            #[cfg(feature = "wgpu")]
            Store::Gpu(kv) => Store::Gpu(kv.clone()),
            Store::Host { layers, kv_dim } => {
                let n = len * kv_dim;
                let copy = |values: &Vec<f32>| values[..n.min(values.len())].to_vec();
                Store::Host {
                    layers: layers
                        .iter()
                        .map(|l| HostLayer {
                            k: copy(&l.k),
                            v: copy(&l.v),
                        })
                        .collect(),
                    kv_dim: *kv_dim,
                }
            }
        };
        Self { store, len }
    }

    /// Writes a layer's new keys and values (`[b, kv_heads, t, head_dim]`)
    /// at positions `len..len + t` and returns the valid ones,
    /// `[b, kv_heads, len + t, head_dim]`.
    pub(crate) fn append(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [b, heads, t, dim] = k.dims();
        let (start, end) = (self.len, self.len + t);
        let Store::Device(layers) = &mut self.store else {
            unreachable!("Model::forward runs host and GPU caches through their fused decoders")
        };
        let slot = &mut layers[layer];
        // Taken out of the slot so that the buffers are uniquely owned and
        // burn writes into them instead of copying.
        let Layer { k: keys, v: values } = match slot.take() {
            Some(l) if l.capacity() >= end => l,
            old => {
                let capacity = end.next_power_of_two().max(FIRST_CAPACITY);
                let device = k.device();
                let mut fresh = Layer {
                    k: Tensor::zeros([b, heads, capacity, dim], &device),
                    v: Tensor::zeros([b, heads, capacity, dim], &device),
                };
                if let Some(old) = old
                    && start > 0
                {
                    let kept = [0..b, 0..heads, 0..start, 0..dim];
                    fresh.k = fresh.k.slice_assign(kept.clone(), old.k.narrow(2, 0, start));
                    fresh.v = fresh.v.slice_assign(kept, old.v.narrow(2, 0, start));
                }
                fresh
            }
        };
        let new = [0..b, 0..heads, start..end, 0..dim];
        let keys = keys.slice_assign(new.clone(), k);
        let values = values.slice_assign(new, v);
        let valid = (keys.clone().narrow(2, 0, end), values.clone().narrow(2, 0, end));
        *slot = Some(Layer { k: keys, v: values });
        valid
    }

    /// Writes a layer's new keys and values (`[t, kv_dim]` each, host
    /// memory) at positions `len..len + t` and returns all valid ones,
    /// `[len + t, kv_dim]`.
    pub(crate) fn append_host(&mut self, layer: usize, k: &[f32], v: &[f32]) -> (&[f32], &[f32]) {
        let Store::Host { layers, kv_dim } = &mut self.store else {
            unreachable!("the fused decoder runs only host caches")
        };
        let layer = &mut layers[layer];
        // Positions past `len` were truncated away (or never written).
        layer.k.truncate(self.len * *kv_dim);
        layer.v.truncate(self.len * *kv_dim);
        layer.k.extend_from_slice(k);
        layer.v.extend_from_slice(v);
        (&layer.k, &layer.v)
    }

    /// Records that `t` positions were appended to every layer.
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
    }
}
