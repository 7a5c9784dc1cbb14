//! `LocalModel`: a causal LM on WebGPU, or on the CPU backend where WebGPU
//! is missing or fails (with the reason given to the caller).

use burn::tensor::Device;
use tandem_models::Model;
use wasm_bindgen::prelude::*;

/// A decoder loaded in the page.
#[wasm_bindgen]
pub struct LocalModel {
    model: Model,
    backend: &'static str,
    fallback_reason: Option<String>,
}

/// The device for a preference: `"cpu"`, or `"auto"`/`"webgpu"` (WebGPU,
/// falling back to the CPU backend with the reason).
async fn device(preference: &str) -> Result<(Device, &'static str, Option<String>), JsError> {
    match preference {
        "cpu" => Ok((Device::flex(), "cpu", None)),
        "auto" | "webgpu" => {
            // wgpu panics (a trap in wasm) when WebGPU is absent, so ask the page first.
            if let Some(reason) = webgpu_missing().await {
                return Ok((Device::flex(), "cpu", Some(format!("{reason}; using the CPU backend"))));
            }
            match Device::wgpu_options().init_async().await {
                Ok(device) => Ok((device, "webgpu", None)),
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

/// Why WebGPU cannot be used here, if it cannot: no `navigator.gpu`, or no adapter.
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

#[wasm_bindgen]
impl LocalModel {
    /// Loads a Hugging Face model (`config.json` text and `model.safetensors` bytes).
    #[wasm_bindgen(js_name = fromSafetensors)]
    pub async fn from_safetensors(
        config_json: String,
        weights: Vec<u8>,
        device_preference: Option<String>,
    ) -> Result<LocalModel, JsError> {
        let (device, backend, fallback_reason) = device(device_preference.as_deref().unwrap_or("auto")).await?;
        let model =
            Model::from_safetensors(&config_json, &weights, &device).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(LocalModel {
            model,
            backend,
            fallback_reason,
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

    /// Greedy continuation of `prompt` token ids by `n` tokens.
    #[wasm_bindgen(js_name = greedyTokens)]
    pub async fn greedy_tokens(&self, prompt: Vec<u32>, n: usize) -> Result<Vec<u32>, JsError> {
        let mut cache = self.model.new_cache();
        let mut input = prompt;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let logits = self
                .model
                .forward(&input, &mut cache)
                .map_err(|e| JsError::new(&e.to_string()))?;
            let t = input.len();
            // Reading a GPU buffer must be awaited in the browser.
            let data = logits
                .narrow(0, t - 1, 1)
                .into_data_async()
                .await
                .map_err(|e| JsError::new(&format!("{e:?}")))?;
            let last = data.try_to_vec::<f32>().map_err(|e| JsError::new(&format!("{e:?}")))?;
            let next = tandem_core::sampling::argmax(&last) as u32;
            out.push(next);
            input = vec![next];
        }
        Ok(out)
    }
}
