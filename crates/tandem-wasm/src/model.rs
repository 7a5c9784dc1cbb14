//! `LocalModel`: a causal LM on WebGPU, or on the CPU backend where WebGPU
//! is missing or fails (with the reason given to the caller).
//!
//! Loaded from GGUF it carries its tokenizer and chat template and generates
//! text ([`LocalModel::generate`], [`LocalModel::chat`]), streaming each
//! decoded piece to a callback. The decoding loop is `tandem-engine`'s
//! [`Generation`]; this module only awaits the logits (reading a GPU buffer
//! must be awaited in the browser) and reads the clock.
//!
//! A generation runs on the calling thread: call it from a Web Worker so
//! that the page stays responsive.

use crate::js_types::{GenerateOptions as GenerateOptionsJs, GenerationResult, GenerationStop};
use crate::options::from_js_object;
use burn::tensor::Device;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use tandem_core::cascade::{CascadeBar, Gate, GateStep};
use tandem_decoding::chat::Message;
use tandem_decoding::speculative::DraftLength;
use tandem_engine::{Engine, Event, GenerateOptions, GenerateOverrides, Generation, StopReason};
use tandem_models::{KvCache, Model, WeightFormat};
use wasm_bindgen::prelude::*;

/// What was loaded: a bare model (token ids only) or a full engine.
enum Loaded {
    Bare(Box<Model>),
    Engine(Box<Engine>),
}

impl Loaded {
    fn model(&self) -> &Model {
        match self {
            Loaded::Bare(model) => model,
            Loaded::Engine(engine) => engine.model(),
        }
    }
}

/// A decoder loaded in the page.
#[wasm_bindgen]
pub struct LocalModel {
    loaded: Loaded,
    backend: &'static str,
    fallback_reason: Option<String>,
    /// What speculation against each target model has measured (draft and
    /// verification costs, acceptance), so the next answer starts from it.
    pub(crate) learned: RefCell<HashMap<String, DraftLength>>,
}

impl GenerateOptionsJs {
    /// The engine's overrides (`GenerateOverrides::over` applies them).
    fn overrides(&self) -> GenerateOverrides {
        GenerateOverrides {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            repetition_penalty: self.repetition_penalty,
            repetition_window: self.repetition_window,
            no_repeat_ngram: self.no_repeat_ngram,
            history_turns: self.history_turns,
            history_tokens: self.history_tokens,
            seed: self.seed,
        }
    }
}

#[cfg(feature = "models")]
thread_local! {
    /// The WebGPU device once started. wgpu registers one runtime per device,
    /// so starting it again in the same page fails ("a server is still
    /// registered"): every later model shares this one.
    static WEBGPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

/// The device for a preference: `"cpu"`, or `"auto"`/`"webgpu"` (WebGPU,
/// falling back to the CPU backend with the reason).
pub(crate) async fn device(preference: &str) -> Result<(Device, &'static str, Option<String>), JsError> {
    // Before any backend: CubeCL's compiler needs the static constructors (`ctors`).
    #[cfg(target_arch = "wasm32")]
    crate::ctors::run_once();
    // The encoder's products on relaxed SIMD where the browser has it; where
    // not, they stay on `simd128` (`quantKernel()` says which runs).
    #[cfg(target_arch = "wasm32")]
    let _ = crate::kernels::enable().await;
    match preference {
        "cpu" => Ok((Device::flex(), "cpu", None)),
        #[cfg(not(feature = "models"))]
        "auto" | "webgpu" => Ok((
            Device::flex(),
            "cpu",
            Some("this build has no WebGPU (the threaded build runs on the CPU); using the CPU backend".to_owned()),
        )),
        #[cfg(feature = "models")]
        "auto" | "webgpu" => {
            // wgpu panics (a trap in wasm) when WebGPU is absent, so ask the page first.
            if let Some(reason) = webgpu_missing().await {
                return Ok((Device::flex(), "cpu", Some(format!("{reason}; using the CPU backend"))));
            }
            if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
                return Ok((device, "webgpu", None));
            }
            match Device::wgpu_options().init_async().await {
                Ok(device) => {
                    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
                    Ok((device, "webgpu", None))
                }
                Err(e) => Ok((
                    Device::flex(),
                    "cpu",
                    Some(format!("WebGPU failed to start ({e}); using the CPU backend")),
                )),
            }
        }
        other => Err(JsError::new(&format!(
            "unknown device `{other}`; expected auto, webgpu or cpu"
        ))),
    }
}

/// The weight format `name` says (`"stored"`, `"f32"`, `"q8_0"` or `"int8"`), or
/// `default` when JavaScript passed none.
pub(crate) fn weight_format(name: Option<&str>, default: WeightFormat) -> Result<WeightFormat, JsError> {
    let Some(name) = name else {
        return Ok(default);
    };
    match name {
        "stored" => Ok(WeightFormat::Stored),
        "f32" => Ok(WeightFormat::F32),
        "q8_0" => Ok(WeightFormat::Q8_0),
        "int8" => Ok(WeightFormat::Int8),
        other => Err(JsError::new(&format!(
            "unknown weight format `{other}`; expected stored, f32, q8_0 or int8"
        ))),
    }
}

/// Why WebGPU cannot be used here, if it cannot: no `navigator.gpu`, or no adapter.
#[cfg(feature = "models")]
async fn webgpu_missing() -> Option<String> {
    use js_sys::Reflect;
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let gpu = if navigator.is_undefined() {
        JsValue::UNDEFINED
    } else {
        Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED)
    };
    if gpu.is_undefined() || gpu.is_null() {
        return Some("WebGPU is not available (no navigator.gpu)".to_owned());
    }
    let request = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let promise = request.call0(&gpu).ok()?.dyn_into::<js_sys::Promise>().ok()?;
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(adapter) if !adapter.is_null() && !adapter.is_undefined() => None,
        Ok(_) => Some("WebGPU has no adapter".to_owned()),
        Err(e) => Some(format!("WebGPU adapter request failed ({e:?})")),
    }
}

/// Runs `input` through the model and reads back the logits of its last position.
pub(crate) async fn last_logits(model: &Model, input: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, JsError> {
    let logits = model.forward_last(input, cache).map_err(js_error)?;
    let data = logits
        .into_data_async()
        .await
        .map_err(|e| JsError::new(&format!("reading logits from the device: {e:?}")))?;
    data.try_to_vec::<f32>()
        .map_err(|e| JsError::new(&format!("reading logits from the device: {e:?}")))
}

/// Milliseconds from `performance.now()` (page, worker and Node alike).
pub(crate) fn now_ms() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| {
            let now = js_sys::Reflect::get(&p, &"now".into())
                .ok()?
                .dyn_into::<js_sys::Function>()
                .ok()?;
            now.call0(&p).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

pub(crate) fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl LocalModel {
    /// Loads a GGUF model file (weights, tokenizer and chat template).
    /// `weights`: `"stored"` (default: quantized blocks stay quantized on
    /// the CPU backend), `"f32"` or `"q8_0"`.
    #[wasm_bindgen(js_name = fromGguf)]
    pub async fn from_gguf(
        bytes: Vec<u8>,
        device_preference: Option<String>,
        weights: Option<String>,
    ) -> Result<LocalModel, JsError> {
        let format = weight_format(weights.as_deref(), WeightFormat::Stored)?;
        let (device, backend, fallback_reason) = device(device_preference.as_deref().unwrap_or("auto")).await?;
        let engine = Engine::from_gguf_as(bytes, &device, format).map_err(js_error)?;
        Ok(LocalModel {
            loaded: Loaded::Engine(Box::new(engine)),
            backend,
            fallback_reason,
            learned: RefCell::default(),
        })
    }

    /// [`LocalModel::from_gguf`] from a [`ModelBuffer`](crate::ModelBuffer)
    /// that received the file chunk by chunk: the bytes are taken over, not
    /// copied, so the page holds the file once. The buffer is used up.
    #[wasm_bindgen(js_name = fromGgufBuffer)]
    pub async fn from_gguf_buffer(
        buffer: crate::ModelBuffer,
        device_preference: Option<String>,
        weights: Option<String>,
    ) -> Result<LocalModel, JsError> {
        Self::from_gguf(buffer.into_bytes(), device_preference, weights).await
    }

    /// Loads a Hugging Face model (`config.json` text and `model.safetensors`
    /// bytes). Without a tokenizer it works on token ids only. `format`:
    /// `"stored"` (default, dense `f32`), `"f32"`, or `"q8_0"` to quantize the
    /// matrices at load (a quarter of the memory, on the CPU backend).
    #[wasm_bindgen(js_name = fromSafetensors)]
    pub async fn from_safetensors(
        config_json: String,
        weights: Vec<u8>,
        device_preference: Option<String>,
        format: Option<String>,
    ) -> Result<LocalModel, JsError> {
        let format = weight_format(format.as_deref(), WeightFormat::Stored)?;
        let (device, backend, fallback_reason) = device(device_preference.as_deref().unwrap_or("auto")).await?;
        let model = Model::from_safetensors_as(&config_json, &weights, &device, format).map_err(js_error)?;
        Ok(LocalModel {
            loaded: Loaded::Bare(Box::new(model)),
            backend,
            fallback_reason,
            learned: RefCell::default(),
        })
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.to_owned()
    }

    /// Why the CPU backend is used although WebGPU was asked for.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.clone()
    }

    /// Greedy continuation of `prompt` token ids by `n` tokens (no stop tokens).
    #[wasm_bindgen(js_name = greedyTokens)]
    pub async fn greedy_tokens(&self, prompt: Vec<u32>, n: usize) -> Result<Vec<u32>, JsError> {
        if prompt.is_empty() {
            return Err(JsError::new("the prompt is empty"));
        }
        let model = self.loaded.model();
        let mut cache = model.new_cache();
        let mut input = prompt;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let next = tandem_decoding::sampling::argmax(&last_logits(model, &input, &mut cache).await?) as u32;
            out.push(next);
            input = vec![next];
        }
        Ok(out)
    }

    /// The token ids of `text` (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, JsError> {
        self.engine()?.tokenizer().encode(text).map_err(js_error)
    }

    /// Continues raw `prompt` text, calling `onToken(text, id)` as each piece
    /// is decoded (a throwing callback stops generation with its error).
    #[wasm_bindgen(unchecked_return_type = "GenerationResult")]
    pub async fn generate(
        &self,
        prompt: String,
        #[wasm_bindgen(unchecked_optional_param_type = "GenerateOptions")] options: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "(text: string, id: number) => void")] on_token: JsValue,
    ) -> Result<JsValue, JsError> {
        let engine = self.engine()?;
        let (options, cascade) = generate_options(options, GenerateOptions::default())?;
        let generation = engine.start(&prompt, &options).map_err(js_error)?;
        self.run(engine, generation, Gate::new(cascade), on_token).await
    }

    /// Replies to `messages` with the model's chat template, streaming like
    /// `generate`, with the local-answer defaults (`GenerateOptions::chat`).
    #[wasm_bindgen(unchecked_return_type = "GenerationResult")]
    pub async fn chat(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ChatMessage[]")] messages: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "GenerateOptions")] options: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "(text: string, id: number) => void")] on_token: JsValue,
    ) -> Result<JsValue, JsError> {
        let engine = self.engine()?;
        let messages: Vec<Message> =
            serde_wasm_bindgen::from_value(messages).map_err(|e| JsError::new(&format!("invalid messages: {e}")))?;
        let (options, cascade) =
            generate_options(options, GenerateOptions::chat(GenerateOptions::default().max_tokens))?;
        let generation = engine.chat(&messages, &options).map_err(js_error)?;
        self.run(engine, generation, Gate::new(cascade), on_token).await
    }
}

impl LocalModel {
    pub(crate) fn engine(&self) -> Result<&Engine, JsError> {
        match &self.loaded {
            Loaded::Engine(engine) => Ok(engine),
            Loaded::Bare(_) => Err(JsError::new(
                "this model was loaded without a tokenizer (fromSafetensors): use greedyTokens, or load a GGUF file",
            )),
        }
    }

    async fn run(
        &self,
        engine: &Engine,
        mut generation: Generation,
        mut gate: Gate<(String, u32)>,
        on_token: JsValue,
    ) -> Result<JsValue, JsError> {
        let on_token = match on_token {
            v if v.is_undefined() || v.is_null() => None,
            v => Some(
                v.dyn_into::<js_sys::Function>()
                    .map_err(|_| JsError::new("onToken must be a function"))?,
            ),
        };
        let start = now_ms();
        let (mut prefill_end, mut prompt_tokens, mut text) = (None, 0, String::new());
        let mut switched = false;
        let show = |step: GateStep<(String, u32)>, text: &mut String| -> Result<bool, JsError> {
            match step {
                GateStep::Hold => {}
                GateStep::Release(pieces) => {
                    for (piece, id) in pieces {
                        text.push_str(&piece);
                        if let Some(f) = &on_token {
                            f.call2(&JsValue::NULL, &piece.into(), &id.into())
                                .map_err(|e| JsError::new(&format!("onToken threw: {e:?}")))?;
                        }
                    }
                }
                GateStep::Switch(_) => return Ok(true),
            }
            Ok(false)
        };
        'decode: while let Some(input) = generation.next_input() {
            let logits = last_logits(engine.model(), &input, generation.cache_mut()).await?;
            for event in generation.accept_logits(engine, &logits).map_err(js_error)? {
                match event {
                    Event::Prefilled { tokens } => {
                        prompt_tokens = tokens;
                        prefill_end = Some(now_ms());
                    }
                    Event::Token {
                        id,
                        text: piece,
                        confidence,
                    } => {
                        if show(gate.push((piece, id), confidence), &mut text)? {
                            switched = true;
                            break 'decode;
                        }
                    }
                    Event::Done(_) => {}
                }
            }
        }
        if !switched {
            switched = show(gate.finish(), &mut text)?;
        }
        let end = now_ms();
        let prefill_end = prefill_end.unwrap_or(end);
        let result = GenerationResult {
            text,
            tokens: generation.generated().to_vec(),
            prompt_tokens,
            stop_reason: match generation.stop_reason() {
                _ if switched => GenerationStop::Cascade,
                Some(StopReason::Stop) => GenerationStop::Stop,
                _ => GenerationStop::MaxTokens,
            },
            cascade: gate.verdict(),
            prefill_ms: prefill_end - start,
            decode_ms: end - prefill_end,
        };
        result
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(js_error)
    }
}

/// The generation settings, and the cascade's bar when one was asked for.
fn generate_options(
    options: JsValue,
    defaults: GenerateOptions,
) -> Result<(GenerateOptions, Option<CascadeBar>), JsError> {
    let options: GenerateOptionsJs = from_js_object(options, &GenerateOptionsJs::FIELDS, "GenerateOptions")?;
    Ok((options.overrides().over(defaults), options.cascade))
}
