//! The sealed channel's routes: `GET /v1/seal/keys` publishes the key
//! configurations; `POST /v1/sealed` opens a sealed request, answers it like
//! any other route, and seals the answer chunk by chunk as it streams.

use crate::response::{Body, Request, Response};
use futures_util::{StreamExt, stream};
use std::collections::BTreeMap;
use tandem_protocol::sealed::{InnerRequest, InnerResponseHead};
use tandem_seal::{ReplayWindow, ResponseSealer, SealError, ServerKeys};

/// The key configurations clients seal to.
pub(crate) fn keys_response(keys: &ServerKeys, now_ms: f64) -> Response {
    let mut resp = Response::json(200, &keys.configs(now_ms));
    resp.headers
        .push(("cache-control".into(), "public, max-age=300".into()));
    resp
}

fn refuse(e: &SealError) -> Response {
    if *e == SealError::WindowFull {
        let mut resp = Response::error(503, "server_error", "seal_busy", e.to_string());
        resp.headers.push(("retry-after".into(), "1".into()));
        return resp;
    }
    let code = match e {
        SealError::UnknownKey(_) => "seal_unknown_key",
        SealError::Replay => "seal_replay",
        SealError::Decrypt => "seal_decrypt",
        _ => "seal_malformed",
    };
    Response::error(400, "invalid_request_error", code, e.to_string())
}

/// Opens a sealed request: the inner request and the sealer of its answer.
pub(crate) fn unseal(
    keys: &ServerKeys,
    replay: &mut ReplayWindow,
    body: &[u8],
    now_ms: f64,
) -> Result<(Request, ResponseSealer), Response> {
    let opened = tandem_seal::open_request(keys, body, now_ms).map_err(|e| refuse(&e))?;
    let inner: InnerRequest = serde_json::from_slice(&opened.plaintext).map_err(|e| {
        Response::error(
            400,
            "invalid_request_error",
            "seal_malformed",
            format!("sealed request: {e}"),
        )
    })?;
    replay.check(&opened.enc, inner.ts, now_ms).map_err(|e| refuse(&e))?;
    let request = Request {
        method: inner.method,
        path: inner.path,
        headers: inner
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body: inner.body.into_bytes(),
    };
    Ok((request, opened.sealer))
}

/// `resp` sealed: a head chunk (status and headers), the body chunks as they
/// come, and an empty final chunk.
pub(crate) fn seal_response(mut sealer: ResponseSealer, resp: Response) -> Response {
    let head = InnerResponseHead {
        status: resp.status,
        headers: resp.headers.into_iter().collect::<BTreeMap<_, _>>(),
    };
    let head = sealer.seal_chunk(&serde_json::to_vec(&head).unwrap_or_default(), false);
    let body = match resp.body {
        Body::Full(bytes) => stream::iter([bytes]).boxed_local(),
        Body::Stream(s) => s,
    };
    // The sealer moves through the stream; the final chunk is sealed once the body ends.
    let chunks = stream::unfold(Some((sealer, body)), |state| async move {
        let (mut sealer, mut body) = state?;
        match body.next().await {
            Some(bytes) => {
                let frame = sealer.seal_chunk(&bytes, false);
                Some((frame, Some((sealer, body))))
            }
            None => Some((sealer.seal_chunk(b"", true), None)),
        }
    });
    Response {
        status: 200,
        headers: vec![
            ("content-type".into(), tandem_seal::RESPONSE_CONTENT_TYPE.into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body: Body::Stream(Box::pin(stream::iter([head]).chain(chunks))),
    }
}
