//! Routing heads per local model: what the router believes depends on which
//! local model it routes to.
//!
//! The heads file's own routing head was trained on whether Mixtral-8x7B
//! answers as well as GPT-4, a model hundreds of times stronger than the
//! 135M one the demo runs locally. A [`RoutingHead`] is a linear head over
//! the same L2-normalised pooled encoder state, trained by
//! `pkg-scripts/train_local_router.py` on whether *that* local model's
//! answers were usable. It ships with the local model's registry entry
//! ([`ROUTING_HEADS`]), so swapping the local model swaps the head.
//!
//! File: safetensors with `router.weight` `[1, hidden]` and `router.bias`
//! `[1]` (F32), metadata `format` = [`ROUTING_HEAD_FORMAT`], `local_model`,
//! `heads_sha256` (the heads file whose encoder output it was trained on),
//! `label` and `training` (settings and metrics, JSON).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::error::ModelError;
use crate::weights::SafetensorsWeights;

/// The file format [`RoutingHead::parse`] reads.
pub const ROUTING_HEAD_FORMAT: &str = "tandem-routing-head/1";

/// The routing heads this repository ships, by local model name
/// (`pkg-scripts/models.json`), trained on [`crate::DEFAULT_HEADS`].
pub const ROUTING_HEADS: &[(&str, &[u8])] = &[
    (
        "smollm2-135m",
        include_bytes!("../assets/routing-smollm2-135m.safetensors"),
    ),
    (
        "qwen2.5-coder-0.5b",
        include_bytes!("../assets/routing-qwen2.5-coder-0.5b.safetensors"),
    ),
];

/// The shipped routing head for `local_model`, if there is one.
pub fn routing_head_for(local_model: &str) -> Option<&'static [u8]> {
    ROUTING_HEADS
        .iter()
        .find(|(name, _)| *name == local_model)
        .map(|(_, bytes)| *bytes)
}

/// What a routing head file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingHeadInfo {
    /// The local model whose answers it was trained on.
    pub local_model: String,
    /// sha256 of the heads file whose encoder output it reads.
    pub heads_sha256: String,
    /// What its probability means.
    pub label: String,
    /// The training run's settings and metrics, as JSON.
    pub training: String,
}

/// A parsed routing head file.
pub struct RoutingHead {
    info: RoutingHeadInfo,
    tensors: SafetensorsWeights,
}

impl RoutingHead {
    /// Parses a routing head file and checks its metadata.
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let bad = |m: String| ModelError::Config(format!("routing head file: {m}"));
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let meta: HashMap<String, String> = meta.metadata().clone().unwrap_or_default();
        let field = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| bad(format!("metadata `{k}` is missing")))
        };
        let format = field("format")?;
        if format != ROUTING_HEAD_FORMAT {
            return Err(bad(format!("format `{format}`, expected `{ROUTING_HEAD_FORMAT}`")));
        }
        let info = RoutingHeadInfo {
            local_model: field("local_model")?,
            heads_sha256: field("heads_sha256")?,
            label: field("label")?,
            training: meta.get("training").cloned().unwrap_or_default(),
        };
        Ok(Self {
            info,
            tensors: SafetensorsWeights::parse(bytes)?,
        })
    }

    /// What the file says about itself.
    pub fn info(&self) -> &RoutingHeadInfo {
        &self.info
    }

    pub(crate) fn tensors(&self) -> &SafetensorsWeights {
        &self.tensors
    }
}

/// Lower-case hex sha256 of `bytes`.
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
