//! `Analyzer`: the on-device encoder (all-MiniLM-L6-v2 with Tandem's heads)
//! on WebGPU or the CPU backend. One pass per text gives the shield's model
//! entities (names, places, organizations) and the
//! router's decision with its probability and reason.
//!
//! `SentenceEncoder` is the bare base model: sentence-transformers'
//! embeddings, for similarity search or caching.

use crate::js_types::{Analysis, AnalysisRoute, RouteContext};
use crate::model::{device, js_error, now_ms, weight_format};
use burn::tensor::{Tensor, TensorData};
use serde::Serialize;
use tandem_core::router::{RouterPolicy, Signals};
use tandem_core::shield::Shield as CoreShield;
use tandem_core::shield::tagging::{ModelPreset, ModelThresholds};
use tandem_core::shield::to_detections;
use tandem_core::text::OffsetUnit;
use tandem_engine::{Tagger, TaggerFiles};
use tandem_models::{Encoder, PieceTokenizer, l2_normalize, mean_pool};
use wasm_bindgen::prelude::*;

/// The encoder with its NER and routing heads, loaded in the page.
#[wasm_bindgen]
pub struct Analyzer {
    tagger: Tagger,
    shield: CoreShield,
    backend: &'static str,
    fallback_reason: Option<String>,
}

/// Reads a tensor back from the device (awaited: WebGPU buffers map asynchronously).
async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, JsError> {
    let err = |e: &dyn std::fmt::Debug| JsError::new(&format!("reading the encoder's output: {e:?}"));
    let data: TensorData = t.into_data_async().await.map_err(|e| err(&e))?;
    data.try_to_vec::<f32>().map_err(|e| err(&e))
}

#[wasm_bindgen]
impl Analyzer {
    /// Loads the base encoder files and a heads file (`undefined`: the heads
    /// built into this package). `modelSha256` is the sha256 (hex) of
    /// `model` as the caller verified it; it must match the heads' base.
    /// `weights`: how the encoder's matrices are held on the CPU backend,
    /// `"int8"` (default: per-row 8-bit weights in integer tiles), `"q8_0"`
    /// (ggml blocks) or `"f32"` (the reference, through burn's operations).
    #[allow(clippy::too_many_arguments)]
    pub async fn load(
        config_json: String,
        model: Vec<u8>,
        model_sha256: String,
        tokenizer_json: Vec<u8>,
        heads: Option<Vec<u8>>,
        device_preference: Option<String>,
        weights: Option<String>,
    ) -> Result<Analyzer, JsError> {
        let format = weight_format(weights.as_deref(), Tagger::DEFAULT_FORMAT)?;
        let (device, backend, fallback_reason) = device(device_preference.as_deref().unwrap_or("auto")).await?;
        let files = TaggerFiles {
            config_json: &config_json,
            model: &model,
            model_sha256: &model_sha256,
            tokenizer_json: &tokenizer_json,
            heads: heads.as_deref().unwrap_or(tandem_models::DEFAULT_HEADS),
        };
        let tagger = Tagger::load_as(files, &device, format).map_err(js_error)?;
        Ok(Analyzer {
            tagger,
            shield: CoreShield::default(),
            backend,
            fallback_reason,
        })
    }

    /// [`Analyzer::load`] with `model.safetensors` in a
    /// [`ModelBuffer`](crate::ModelBuffer) that received it chunk by chunk
    /// and hashed it on the way: the bytes are taken over, not copied, so the
    /// page never holds a second copy of the file. The buffer is used up.
    #[wasm_bindgen(js_name = loadBuffer)]
    pub async fn load_buffer(
        config_json: String,
        model: crate::ModelBuffer,
        tokenizer_json: Vec<u8>,
        heads: Option<Vec<u8>>,
        device_preference: Option<String>,
        weights: Option<String>,
    ) -> Result<Analyzer, JsError> {
        let model_sha256 = model.sha256();
        let model = model.into_bytes();
        Self::load(
            config_json,
            model,
            model_sha256,
            tokenizer_json,
            heads,
            device_preference,
            weights,
        )
        .await
    }

    /// The precision knob of the model layer: `"recall"` (the default: leak
    /// as few names as possible) or `"precision"` (change as few ordinary
    /// words as possible). Measured trade-offs: docs/shield.md.
    #[wasm_bindgen(js_name = setModelPreset)]
    pub fn set_model_preset(&mut self, preset: &str) -> Result<(), JsError> {
        let preset: ModelPreset = preset.parse().map_err(|e: String| JsError::new(&e))?;
        self.tagger.set_thresholds(ModelThresholds::preset(preset));
        Ok(())
    }

    /// Routes with the head trained for the local model named `localModel`
    /// (its registry name, e.g. `"smollm2-135m"`) when this package ships one;
    /// otherwise keeps the weak/strong head. Says whether one was found.
    #[wasm_bindgen(js_name = routeFor)]
    pub fn route_for(&mut self, local_model: &str) -> Result<bool, JsError> {
        self.tagger.route_for(local_model).map_err(js_error)
    }

    /// The local model the routing head was trained for, or `undefined` for
    /// the weak/strong head (Mixtral-8x7B against GPT-4).
    #[wasm_bindgen(getter, js_name = routingFor)]
    pub fn routing_for(&self) -> Option<String> {
        self.tagger.model().routing_for().map(str::to_owned)
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.to_owned()
    }

    /// Why the CPU backend is used although WebGPU was asked for, if so.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.clone()
    }

    /// Finds entities (patterns + model) and decides the route of `text`.
    #[wasm_bindgen(unchecked_return_type = "Analysis")]
    pub async fn analyze(
        &self,
        text: String,
        #[wasm_bindgen(unchecked_param_type = "RouterPolicy | undefined")] policy: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RouteContext | undefined")] context: JsValue,
    ) -> Result<JsValue, JsError> {
        let policy: RouterPolicy = if policy.is_undefined() || policy.is_null() {
            RouterPolicy::default()
        } else {
            serde_wasm_bindgen::from_value(policy).map_err(|e| JsError::new(&format!("router policy: {e}")))?
        };
        let context: RouteContext = if context.is_undefined() || context.is_null() {
            RouteContext::default()
        } else {
            serde_wasm_bindgen::from_value(context).map_err(|e| JsError::new(&format!("route context: {e}")))?
        };
        let start = now_ms();
        let plan = self.tagger.plan(&text).map_err(js_error)?;
        let out = self.tagger.forward(&plan).map_err(js_error)?;
        let ner = read(out.ner).await?;
        let logit = read(out.route_logit).await?;
        let analysis = self.tagger.finish(&text, &plan, &ner, &logit).map_err(js_error)?;
        let ms = now_ms() - start;
        let model_entities = to_detections(&text, &analysis.entities, OffsetUnit::Utf16);
        let spans = self
            .shield
            .analyze_with(&text, analysis.entities.clone())
            .map_err(js_error)?;
        let decision = policy.decide(&Signals {
            p_local: analysis.p_local,
            entities: spans.len(),
            words: analysis.words,
            cloud_available: context.cloud_available.unwrap_or(true),
            local_available: context.local_available.unwrap_or(true),
            conversation: context.conversation,
        });
        let result = Analysis {
            entities: to_detections(&text, &spans, OffsetUnit::Utf16),
            model_entities,
            route: AnalysisRoute {
                explanation: decision.reason.to_string(),
                decision,
            },
            pieces: analysis.pieces,
            windows: analysis.windows,
            ms,
        };
        result
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(js_error)
    }
}

/// The bare all-MiniLM-L6-v2 encoder: sentence embeddings.
#[wasm_bindgen]
pub struct SentenceEncoder {
    encoder: Encoder,
    tokenizer: PieceTokenizer,
    backend: &'static str,
}

#[wasm_bindgen]
impl SentenceEncoder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json`.
    pub async fn load(
        config_json: String,
        model: Vec<u8>,
        tokenizer_json: Vec<u8>,
        device_preference: Option<String>,
    ) -> Result<SentenceEncoder, JsError> {
        let (device, backend, _) = device(device_preference.as_deref().unwrap_or("auto")).await?;
        Ok(SentenceEncoder {
            encoder: Encoder::from_safetensors(&config_json, &model, &device).map_err(js_error)?,
            tokenizer: PieceTokenizer::from_json(&tokenizer_json).map_err(js_error)?,
            backend,
        })
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.to_owned()
    }

    /// The unit-length embedding of `text` (mean pooling, as sentence-transformers);
    /// texts longer than the model's window are cut.
    pub async fn embed(&self, text: String) -> Result<Vec<f32>, JsError> {
        let (mut ids, _) = self.tokenizer.pieces(&text).map_err(js_error)?;
        ids.truncate(self.encoder.config().max_position - 2);
        let mut row = vec![self.tokenizer.cls()];
        row.extend(ids);
        row.push(self.tokenizer.sep());
        let encoded = self.encoder.forward(&[row]).map_err(js_error)?;
        let emb: Tensor<2> = l2_normalize(mean_pool(&encoded));
        read(emb).await
    }
}
