//! The `Shield` and `StreamRestorer` classes.

use crate::options::{ShieldOptions, from_js_object};
use js_sys::JsString;
use tandem_core::shield::tagging::MODEL_RECOGNIZER;
use tandem_core::shield::{self as core, Redactor, to_detections};
use tandem_core::text::{OffsetCursor, OffsetUnit};
use tandem_protocol::Detection;
use wasm_bindgen::prelude::*;

/// Finds PII and secrets, redacts them for sending, restores them in replies.
///
/// One instance is one conversation: the same value gets the same
/// placeholder in every message until `reset()`.
#[wasm_bindgen]
pub struct Shield {
    redactor: Redactor,
}

#[wasm_bindgen]
impl Shield {
    /// Creates a shield; `options` may be omitted.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "ShieldOptions")] options: JsValue,
    ) -> Result<Shield, JsError> {
        let options: ShieldOptions = from_js_object(options, &ShieldOptions::FIELDS, "ShieldOptions")?;
        let restore_policy = options.restore_policy();
        let (config, policy) = options
            .into_parts()
            .map_err(|e| JsError::new(&format!("invalid ShieldOptions: {e}")))?;
        let mut redactor = Redactor::with_policy(core::Shield::new(config), policy);
        redactor.set_restore_policy(restore_policy);
        Ok(Shield { redactor })
    }

    /// Every entity in `text`, sorted, non-overlapping, in UTF-16 offsets.
    #[wasm_bindgen(unchecked_return_type = "Detection[]")]
    pub fn analyze(&self, #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue) -> Result<JsValue, JsError> {
        let text = rust_string(&text, "text")?;
        let spans = self
            .redactor
            .shield()
            .analyze(&text)
            .map_err(|e| JsError::new(&e.to_string()))?;
        to_js(&to_detections(&text, &spans, OffsetUnit::Utf16))
    }

    /// Replaces entities according to the policy; offsets in UTF-16.
    ///
    /// `modelEntities` (optional) are extra spans found by a model, such as
    /// `Analyzer.analyze(text).modelEntities`: they are merged with the
    /// pattern layer the same way the analyzer merges them (validated
    /// patterns win, overlapping model spans are cut around them).
    #[wasm_bindgen(unchecked_return_type = "Redaction")]
    pub fn redact(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Detection[]")] model_entities: JsValue,
    ) -> Result<JsValue, JsError> {
        let text = rust_string(&text, "text")?;
        let model_spans = model_spans(&text, model_entities)?;
        let redacted = self
            .redactor
            .redact_with(&text, model_spans)
            .map_err(|e| JsError::new(&e.to_string()))?;
        to_js(&redacted.to_wire(&text, OffsetUnit::Utf16))
    }

    /// Puts the originals back into a whole reply (not inside links or markup
    /// unless the options allow it).
    pub fn restore(&self, #[wasm_bindgen(unchecked_param_type = "string")] reply: JsValue) -> Result<String, JsError> {
        Ok(self.redactor.restore(&rust_string(&reply, "reply")?))
    }

    /// A restorer for a streamed reply, knowing every placeholder issued so far.
    pub fn restorer(&self) -> StreamRestorer {
        StreamRestorer {
            inner: self.redactor.restorer(),
            pending_high_surrogate: None,
        }
    }

    /// Forgets issued placeholders: the next message starts a new conversation.
    pub fn reset(&mut self) {
        self.redactor.reset();
    }

    /// The entity kinds this shield can find.
    #[wasm_bindgen(getter, unchecked_return_type = "EntityKind[]")]
    pub fn kinds(&self) -> Vec<String> {
        self.redactor
            .shield()
            .kinds()
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect()
    }
}

/// Restores placeholders in a reply that arrives in chunks.
///
/// Feed each chunk to `push` and show what it returns; call `finish` at the
/// end of the stream. A placeholder split across chunks is held back until
/// it is complete; so is a UTF-16 surrogate pair split across chunks.
#[wasm_bindgen]
pub struct StreamRestorer {
    inner: core::StreamRestorer,
    pending_high_surrogate: Option<u16>,
}

#[wasm_bindgen]
impl StreamRestorer {
    /// Feeds one chunk; returns the restored text that is final so far.
    pub fn push(&mut self, #[wasm_bindgen(unchecked_param_type = "string")] chunk: JsValue) -> Result<String, JsError> {
        let Some(chunk) = chunk.dyn_ref::<JsString>() else {
            return Err(JsError::new("chunk must be a string"));
        };
        let mut units: Vec<u16> = self.pending_high_surrogate.take().into_iter().collect();
        units.extend(chunk.iter());
        if let Some(&last) = units.last()
            && (0xD800..0xDC00).contains(&last)
        {
            self.pending_high_surrogate = units.pop();
        }
        let text = String::from_utf16(&units).map_err(|_| invalid_utf16("chunk", &units))?;
        Ok(self.inner.push(&text))
    }

    /// Placeholders left in the reply so far because they stood inside a link
    /// or markup, where restoring would let the page send the original away.
    #[wasm_bindgen(getter)]
    pub fn withheld(&self) -> usize {
        self.inner.withheld()
    }

    /// Ends the stream; returns whatever was held back.
    pub fn finish(&mut self) -> Result<String, JsError> {
        if self.pending_high_surrogate.take().is_some() {
            return Err(JsError::new("stream ended inside a UTF-16 surrogate pair"));
        }
        Ok(self.inner.finish())
    }
}

/// Model spans given to `redact` in UTF-16 offsets, as byte spans of `text`.
fn model_spans(text: &str, entities: JsValue) -> Result<Vec<core::Span>, JsError> {
    if entities.is_undefined() || entities.is_null() {
        return Ok(Vec::new());
    }
    let entities: Vec<Detection> = serde_wasm_bindgen::from_value(entities)
        .map_err(|e| JsError::new(&format!("modelEntities must be Detection[]: {e}")))?;
    let mut cursor = OffsetCursor::new(text, OffsetUnit::Utf16);
    let mut spans = Vec::with_capacity(entities.len());
    for d in &entities {
        let (Some(start), Some(end)) = (cursor.to_byte(d.start), cursor.to_byte(d.end)) else {
            return Err(JsError::new(&format!(
                "modelEntities: {}..{} is not a range of the text (UTF-16 offsets)",
                d.start, d.end
            )));
        };
        if start >= end {
            return Err(JsError::new(&format!(
                "modelEntities: empty range {}..{}",
                d.start, d.end
            )));
        }
        spans.push(core::Span::new(d.kind, start..end, d.score, MODEL_RECOGNIZER));
    }
    Ok(spans)
}

/// A Rust string from a JS value that must be a well-formed string.
fn rust_string(value: &JsValue, what: &str) -> Result<String, JsError> {
    let Some(js) = value.dyn_ref::<JsString>() else {
        return Err(JsError::new(&format!("{what} must be a string")));
    };
    if !js.is_valid_utf16() {
        let units: Vec<u16> = js.iter().collect();
        return Err(invalid_utf16(what, &units));
    }
    js.as_string()
        .ok_or_else(|| JsError::new(&format!("{what} must be a string")))
}

fn invalid_utf16(what: &str, units: &[u16]) -> JsError {
    let at = char::decode_utf16(units.iter().copied())
        .scan(0usize, |pos, r| {
            let here = *pos;
            *pos += r.as_ref().map_or(1, |c| c.len_utf16());
            Some((here, r.is_err()))
        })
        .find(|(_, bad)| *bad)
        .map_or(0, |(i, _)| i);
    JsError::new(&format!("{what} is not valid UTF-16: unpaired surrogate at index {at}"))
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("could not convert result: {e}")))
}
