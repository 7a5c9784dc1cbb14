//! The on-device analyzer: one encoder pass gives the shield's model spans
//! (names, places, organizations, street addresses) and the router's
//! probability that the local model suffices.
//!
//! Like [`crate::Generation`], a run is split so that native callers read
//! the device synchronously ([`Tagger::analyze`]) and the browser awaits
//! ([`Tagger::plan`] → [`Tagger::forward`] → read → [`Tagger::finish`]).
//!
//! Texts longer than one window are cut into overlapping windows of word
//! pieces; each piece takes its tag from the window where it sits farthest
//! from an edge. The routing head reads the first window (the query's first
//! `router_max_tokens` pieces, as in training).

use crate::EngineError;
use burn::tensor::Device;
use std::ops::Range;
use tandem_core::shield::Span;
use tandem_core::shield::shape::{SHAPE_FEATURES, shapes};
use tandem_core::shield::tagging::{ModelThresholds, TagScheme, TaggedToken, decode};
use tandem_models::{Heads, PieceTokenizer, TaggingEncoder, TaggingOutput, WeightFormat};

/// Pieces shared by neighbouring windows.
const OVERLAP: usize = 32;

/// Encoder, heads and tokenizer, ready to analyze text.
#[derive(Debug, Clone)]
pub struct Tagger {
    model: TaggingEncoder,
    tokenizer: PieceTokenizer,
    scheme: TagScheme,
    window: usize,
    thresholds: ModelThresholds,
}

/// The base encoder files and the heads file, as bytes.
#[derive(Debug, Clone, Copy)]
pub struct TaggerFiles<'a> {
    /// The base model's `config.json`.
    pub config_json: &'a str,
    /// The base model's `model.safetensors`.
    pub model: &'a [u8],
    /// sha256 of `model`, as verified by whoever fetched it.
    pub model_sha256: &'a str,
    /// The base model's `tokenizer.json`.
    pub tokenizer_json: &'a [u8],
    /// The heads file (LoRA deltas, NER and routing heads).
    pub heads: &'a [u8],
}

/// A text cut into windows, ready for [`Tagger::forward`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// Rows of ids, each `[CLS] pieces… [SEP]`.
    pub rows: Vec<Vec<u32>>,
    /// Per row, the word-shape bits of each of its tokens, flattened.
    pub shapes: Vec<Vec<f32>>,
    ranges: Vec<Range<usize>>,
    /// `(window, position in its row)` that tags piece `i`.
    owner: Vec<(usize, usize)>,
    words: usize,
}

impl Plan {
    /// Word pieces in the text.
    pub fn pieces(&self) -> usize {
        self.ranges.len()
    }
}

/// What the analyzer found in one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Model spans (byte offsets), to merge with the shield's patterns via
    /// [`tandem_core::shield::Shield::analyze_with`].
    pub entities: Vec<Span>,
    /// Calibrated probability that the local model suffices.
    pub p_local: f32,
    /// Word pieces in the text.
    pub pieces: usize,
    /// Whitespace-separated words in the text.
    pub words: usize,
    /// Windows the encoder ran over.
    pub windows: usize,
}

impl Tagger {
    /// Loads the encoder with its heads onto `device`, its matrices as
    /// [`Tagger::DEFAULT_FORMAT`] says.
    pub fn load(files: TaggerFiles<'_>, device: &Device) -> Result<Self, EngineError> {
        Self::load_as(files, device, Self::DEFAULT_FORMAT)
    }

    /// How the encoder's matrices are held unless a caller says otherwise.
    pub const DEFAULT_FORMAT: WeightFormat = WeightFormat::Int8;

    /// [`Tagger::load`] with the encoder's matrices held as `format` says
    /// (`F32` is the reference the quantized encoder is measured against).
    pub fn load_as(files: TaggerFiles<'_>, device: &Device, format: WeightFormat) -> Result<Self, EngineError> {
        let heads = Heads::parse(files.heads)?;
        let scheme = TagScheme::parse(&heads.info().ner_labels)
            .map_err(|e| EngineError::Model(tandem_models::ModelError::Config(format!("heads file: {e}"))))?;
        if heads.info().shape_features != SHAPE_FEATURES {
            return Err(EngineError::Model(tandem_models::ModelError::Config(format!(
                "heads file: shape features {:?}, this build computes {SHAPE_FEATURES:?}",
                heads.info().shape_features
            ))));
        }
        let model = TaggingEncoder::load_as(
            files.config_json,
            files.model,
            files.model_sha256,
            &heads,
            device,
            format,
        )?;
        let tokenizer = PieceTokenizer::from_json(files.tokenizer_json)?;
        let window = heads
            .info()
            .router_max_tokens
            .min(model.encoder().config().max_position)
            .saturating_sub(2);
        if window <= OVERLAP {
            return Err(EngineError::Model(tandem_models::ModelError::Config(format!(
                "window of {window} pieces is too small"
            ))));
        }
        Ok(Self {
            model,
            tokenizer,
            scheme,
            window,
            thresholds: ModelThresholds::default(),
        })
    }

    /// The same tagger deciding under `thresholds` (the precision knob).
    pub fn with_thresholds(mut self, thresholds: ModelThresholds) -> Self {
        self.set_thresholds(thresholds);
        self
    }

    /// Decides under `thresholds` from now on.
    pub fn set_thresholds(&mut self, thresholds: ModelThresholds) {
        self.thresholds = thresholds;
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> &ModelThresholds {
        &self.thresholds
    }

    /// The encoder with its heads.
    pub fn model(&self) -> &TaggingEncoder {
        &self.model
    }

    /// The entity kinds the NER head can produce.
    pub fn kinds(&self) -> Vec<tandem_core::EntityKind> {
        self.scheme.kinds()
    }

    /// Tokenizes `text` and cuts it into windows.
    pub fn plan(&self, text: &str) -> Result<Plan, EngineError> {
        let (ids, ranges) = self.tokenizer.pieces(text)?;
        let bits: Vec<_> = shapes(text, &ranges).iter().map(|s| s.to_f32()).collect();
        let none = [0.0; SHAPE_FEATURES.len()];
        let (w, step) = (self.window, self.window - OVERLAP);
        let mut starts = vec![0];
        while starts.last().is_some_and(|&s| s + w < ids.len()) {
            starts.push(starts.last().copied().unwrap_or(0) + step);
        }
        let rows = starts
            .iter()
            .map(|&s| {
                let end = (s + w).min(ids.len());
                let mut row = Vec::with_capacity(end - s + 2);
                row.push(self.tokenizer.cls());
                row.extend_from_slice(&ids[s..end]);
                row.push(self.tokenizer.sep());
                row
            })
            .collect();
        let shapes = starts
            .iter()
            .map(|&s| {
                let end = (s + w).min(ids.len());
                std::iter::once(&none)
                    .chain(&bits[s..end])
                    .chain(std::iter::once(&none))
                    .flatten()
                    .copied()
                    .collect()
            })
            .collect();
        let owner = (0..ids.len())
            .map(|i| {
                // The window in which piece i is farthest from an edge.
                let best = starts
                    .iter()
                    .enumerate()
                    .filter(|&(_, &s)| s <= i && i < s + w)
                    .max_by_key(|&(_, &s)| {
                        let end = (s + w).min(ids.len());
                        (i - s).min(end - 1 - i)
                    })
                    .map_or(0, |(k, _)| k);
                (best, i - starts[best] + 1)
            })
            .collect();
        Ok(Plan {
            rows,
            shapes,
            ranges,
            owner,
            words: text.split_whitespace().count(),
        })
    }

    /// Routes with a head trained for one local model instead of the heads
    /// file's weak/strong head ([`tandem_models::RoutingHead`]).
    pub fn set_routing_head(&mut self, head: &tandem_models::RoutingHead) -> Result<(), EngineError> {
        Ok(self.model.set_routing_head(head)?)
    }

    /// Routes with the head shipped for `local_model` (a `pkg-scripts/models.json`
    /// name), if one ships ([`tandem_models::ROUTING_HEADS`]); otherwise
    /// keeps the current head. Says whether a head was found.
    pub fn route_for(&mut self, local_model: &str) -> Result<bool, EngineError> {
        match tandem_models::routing_head_for(local_model) {
            Some(bytes) => {
                self.set_routing_head(&tandem_models::RoutingHead::parse(bytes)?)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The routing head's input for `text`: the L2-normalised mean-pooled
    /// encoder state of its first window (what routing heads are trained on).
    pub fn pooled(&self, text: &str) -> Result<Vec<f32>, EngineError> {
        let plan = self.plan(text)?;
        let out = self.forward(&plan)?;
        let [_, h] = out.pooled.dims();
        let all = out
            .pooled
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| EngineError::Readback(format!("{e:?}")))?;
        Ok(all[..h].to_vec())
    }

    /// Runs the encoder and both heads over a plan's windows (on the device).
    pub fn forward(&self, plan: &Plan) -> Result<TaggingOutput, EngineError> {
        Ok(self.model.forward(&plan.rows, &plan.shapes)?)
    }

    /// Turns the heads' outputs, read back as `f32`s (`ner`: `[rows, tokens,
    /// labels]` row-major, `route_logit`: `[rows]`), into an analysis.
    pub fn finish(&self, text: &str, plan: &Plan, ner: &[f32], route_logit: &[f32]) -> Result<Analysis, EngineError> {
        let labels = self.scheme.len();
        let t = plan.rows.iter().map(Vec::len).max().unwrap_or(0);
        if ner.len() != plan.rows.len() * t * labels || route_logit.len() != plan.rows.len() {
            return Err(EngineError::Readback(format!(
                "expected {}×{t}×{labels} tag probabilities and {} logits, got {} and {}",
                plan.rows.len(),
                plan.rows.len(),
                ner.len(),
                route_logit.len()
            )));
        }
        let tokens: Vec<TaggedToken> = plan
            .owner
            .iter()
            .zip(&plan.ranges)
            .map(|(&(row, pos), range)| {
                let probs = &ner[(row * t + pos) * labels..(row * t + pos + 1) * labels];
                TaggedToken::from_probs(&self.scheme, range.clone(), probs)
            })
            .collect();
        let logit = route_logit[0];
        Ok(Analysis {
            entities: decode(&self.scheme, text, &tokens, &self.thresholds),
            p_local: 1.0 / (1.0 + (-logit).exp()),
            pieces: plan.ranges.len(),
            words: plan.words,
            windows: plan.rows.len(),
        })
    }

    /// Analyzes `text`, reading the device synchronously (native callers).
    pub fn analyze(&self, text: &str) -> Result<Analysis, EngineError> {
        let plan = self.plan(text)?;
        let out = self.forward(&plan)?;
        let read = |t: burn::tensor::TensorData| {
            t.try_to_vec::<f32>()
                .map_err(|e| EngineError::Readback(format!("{e:?}")))
        };
        let ner = read(out.ner.into_data())?;
        let logit = read(out.route_logit.into_data())?;
        self.finish(text, &plan, &ner, &logit)
    }
}
