//! A tiny Llama through `LocalModel`: on WebGPU where the page has it (headless
//! Chromium's SwiftShader adapter) and on the CPU backend, the greedy tokens
//! must equal the native ones (which equal transformers'; see tandem-models' tests).
//! Run: `WASM_BINDGEN_USE_BROWSER=1 cargo test -p tandem-wasm --features models --target wasm32-unknown-unknown --test model`

#![cfg(feature = "models")]

use tandem_wasm::LocalModel;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

const CONFIG: &str = include_str!("../../tandem-models/tests/fixtures/tiny-llama/config.json");
const WEIGHTS: &[u8] = include_bytes!("../../tandem-models/tests/fixtures/tiny-llama/model.safetensors");
const REFERENCE: &str = include_str!("../../tandem-models/tests/fixtures/tiny-llama/reference.json");

fn has_webgpu() -> bool {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
    !navigator.is_undefined() && js_sys::Reflect::get(&navigator, &"gpu".into()).is_ok_and(|g| !g.is_undefined())
}

#[wasm_bindgen_test]
async fn tiny_llama_generates_the_native_tokens_on_webgpu_and_cpu() {
    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let ids = |key: &str| -> Vec<u32> {
        reference[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect()
    };
    let (prompt, expected) = (ids("greedy_prompt"), ids("greedy_continuation"));
    for preference in ["auto", "cpu"] {
        let model =
            LocalModel::from_safetensors(CONFIG.to_owned(), WEIGHTS.to_vec(), Some(preference.to_owned()), None)
                .await
                .unwrap();
        if preference == "auto" {
            let expected_backend = if has_webgpu() { "webgpu" } else { "cpu" };
            assert_eq!(
                model.backend(),
                expected_backend,
                "fallback: {:?}",
                model.fallback_reason()
            );
            assert_eq!(model.fallback_reason().is_some(), !has_webgpu());
        }
        let tokens = model.greedy_tokens(prompt.clone(), expected.len()).await.unwrap();
        assert_eq!(tokens, expected, "on {}", model.backend());
    }
}

#[wasm_bindgen_test]
async fn text_generation_needs_a_tokenizer_and_bad_inputs_are_refused() {
    let model = LocalModel::from_safetensors(CONFIG.to_owned(), WEIGHTS.to_vec(), Some("cpu".to_owned()), None)
        .await
        .unwrap();
    let message = |e: wasm_bindgen::JsError| js_sys::Error::from(wasm_bindgen::JsValue::from(e)).message();
    let err = message(
        model
            .generate("hello".into(), JsValue::UNDEFINED, JsValue::UNDEFINED)
            .await
            .unwrap_err(),
    );
    assert!(String::from(&err).contains("without a tokenizer"), "{err}");
    assert!(model.greedy_tokens(vec![], 3).await.is_err());
    let err = message(
        LocalModel::from_safetensors(CONFIG.to_owned(), WEIGHTS.to_vec(), Some("tpu".to_owned()), None)
            .await
            .err()
            .unwrap(),
    );
    assert!(String::from(&err).contains("unknown device `tpu`"), "{err}");
    let err = message(
        LocalModel::from_gguf(b"GGUF\x03\0\0\0".to_vec(), Some("cpu".to_owned()), None)
            .await
            .err()
            .unwrap(),
    );
    assert!(!String::from(&err).is_empty());
    let err = message(
        LocalModel::from_safetensors(
            CONFIG.to_owned(),
            WEIGHTS.to_vec(),
            Some("cpu".to_owned()),
            Some("q3".into()),
        )
        .await
        .err()
        .unwrap(),
    );
    assert!(String::from(&err).contains("unknown weight format `q3`"), "{err}");
}

/// The quantized kernels in wasm: weights quantized to `Q8_0` at load give
/// transformers' greedy tokens on the CPU backend (`simd128`) and on WebGPU
/// where the page has it (the CubeCL kernel on SwiftShader in headless
/// Chromium), as the native build does on both (tandem-models'
/// `q8_0_weights_stay_close_to_transformers`).
#[wasm_bindgen_test]
async fn q8_0_weights_generate_the_reference_tokens_in_wasm() {
    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect()
    };
    let (prompt, expected) = (ids(&reference["greedy_prompt"]), ids(&reference["greedy_continuation"]));
    for preference in ["auto", "cpu"] {
        let model = LocalModel::from_safetensors(
            CONFIG.to_owned(),
            WEIGHTS.to_vec(),
            Some(preference.into()),
            Some("q8_0".into()),
        )
        .await
        .unwrap();
        if preference == "auto" && has_webgpu() {
            assert_eq!(model.backend(), "webgpu", "fallback: {:?}", model.fallback_reason());
        }
        let tokens = model.greedy_tokens(prompt.clone(), expected.len()).await.unwrap();
        assert_eq!(tokens, expected, "Q8_0 on {}", model.backend());
    }
}

/// A model file streamed in pieces (`ModelBuffer`): its sha256 is the
/// whole file's, whatever the pieces; a size this module cannot hold is
/// refused when announced, with the size in the message; and a buffer of
/// bytes that are no GGUF file fails to load with an error, not a panic.
#[wasm_bindgen_test]
async fn a_model_buffer_hashes_its_pieces_as_one_file_and_refuses_what_cannot_fit() {
    use tandem_wasm::ModelBuffer;
    let empty = ModelBuffer::new(None).unwrap();
    assert_eq!(
        empty.sha256(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // FIPS 180-2's two-block message, in pieces of 1, 7 and the rest, into
    // a buffer that was told its length and into one that grows.
    let text = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let mut buffers = [Some(text.len() as f64), None].map(|expected| ModelBuffer::new(expected).unwrap());
    for buffer in &mut buffers {
        for piece in [&text[..1], &text[1..8], &text[8..]] {
            buffer.push(piece).unwrap();
        }
        assert_eq!(buffer.length(), text.len() as f64);
        assert_eq!(
            buffer.sha256(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }
    let [buffer, _] = buffers;
    let message = |e: wasm_bindgen::JsError| String::from(js_sys::Error::from(JsValue::from(e)).message());
    let err = message(ModelBuffer::new(Some(8e9)).err().unwrap());
    assert!(err.contains("8000 MB does not fit"), "{err}");
    assert!(ModelBuffer::new(Some(-1.0)).is_err());
    let err = message(
        LocalModel::from_gguf_buffer(buffer, Some("cpu".to_owned()), None)
            .await
            .err()
            .unwrap(),
    );
    assert!(!err.is_empty());
}
