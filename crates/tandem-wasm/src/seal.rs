//! The client side of the sealed channel: seal a request to the worker's
//! published key, open its streamed response chunk by chunk.

use std::collections::BTreeMap;
use tandem_protocol::sealed::InnerRequest;
use tandem_seal::{KeyConfigs, ResponseOpener};
use wasm_bindgen::prelude::*;

/// Seals requests to one of the worker's keys (from `GET /v1/seal/keys`).
#[wasm_bindgen]
pub struct SealClient {
    keys: KeyConfigs,
}

/// One sealed request: the bytes to POST to `/v1/sealed`, and the opener of its response.
#[wasm_bindgen]
pub struct SealedExchange {
    body: Vec<u8>,
    opener: ResponseOpener,
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl SealClient {
    /// Reads the worker's key list (the JSON text of `GET /v1/seal/keys`).
    #[wasm_bindgen(js_name = fromKeys)]
    pub fn from_keys(keys_json: &str) -> Result<SealClient, JsError> {
        let keys: KeyConfigs =
            serde_json::from_str(keys_json).map_err(|e| JsError::new(&format!("invalid key list: {e}")))?;
        if keys.keys.is_empty() {
            return Err(JsError::new("the key list is empty"));
        }
        Ok(SealClient { keys })
    }

    /// The id of the key requests are sealed to.
    #[wasm_bindgen(getter, js_name = keyId)]
    pub fn key_id(&self) -> u8 {
        self.keys.keys[0].key_id
    }

    /// Seals a gateway request (`method`, `path`, `body` text, optional
    /// `authorization` header) with the current time.
    pub fn seal(
        &self,
        method: &str,
        path: &str,
        body: &str,
        authorization: Option<String>,
    ) -> Result<SealedExchange, JsError> {
        let mut headers = BTreeMap::new();
        headers.insert("content-type".to_owned(), "application/json".to_owned());
        if let Some(a) = authorization {
            headers.insert("authorization".to_owned(), a);
        }
        let inner = InnerRequest {
            ts: js_sys::Date::now(),
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            body: body.to_owned(),
        };
        let plaintext = serde_json::to_vec(&inner).map_err(js_error)?;
        let sealed = tandem_seal::seal_request(&self.keys.keys[0], &plaintext).map_err(js_error)?;
        Ok(SealedExchange {
            body: sealed.body,
            opener: sealed.opener,
        })
    }
}

#[wasm_bindgen]
impl SealedExchange {
    /// The request body (content type `application/tandem-sealed-request`).
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> Vec<u8> {
        self.body.clone()
    }

    /// Feeds response bytes as they arrive; returns the chunks they complete
    /// (the first is the JSON head `{status, headers}`, then the body). Throws
    /// on tampered, reordered or replayed chunks, and on every call after that.
    pub fn push(&mut self, bytes: &[u8]) -> Result<js_sys::Array, JsError> {
        let chunks = self.opener.push(bytes).map_err(js_error)?;
        Ok(chunks
            .into_iter()
            .map(|c| JsValue::from(js_sys::Uint8Array::from(c.as_slice())))
            .collect())
    }

    /// Call when the response body ends: throws if it was truncated.
    pub fn finish(&self) -> Result<(), JsError> {
        self.opener.finish().map_err(js_error)
    }
}
