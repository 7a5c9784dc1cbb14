//! The sealed channel's routes: `GET /v1/seal/keys` publishes the key
//! configurations; `POST /v1/sealed` opens a sealed request, answers it like
//! any other route, and seals the answer chunk by chunk as it streams.

use crate::host::Host;
use crate::response::{Body, Request, Response};
use crate::shared::SharedState;
use futures_util::future::{Either, select};
use futures_util::{StreamExt, stream};
use std::collections::BTreeMap;
use std::pin::pin;
use std::rc::Rc;
use tandem_protocol::sealed::{InnerRequest, InnerResponseHead};
use tandem_seal::{ResponseSealer, SealError, ServerKeys};

/// The key configurations clients seal to.
pub(crate) fn keys_response(keys: &ServerKeys, now_ms: f64) -> Response {
    let mut resp = Response::json(200, &keys.configs(now_ms));
    resp.headers
        .push(("cache-control".into(), "public, max-age=300".into()));
    resp
}

fn refuse(e: &SealError) -> Response {
    let code = match e {
        SealError::UnknownKey(_) => "seal_unknown_key",
        SealError::Replay => "seal_replay",
        SealError::Decrypt => "seal_decrypt",
        _ => "seal_malformed",
    };
    Response::error(400, "invalid_request_error", code, e.to_string())
}

/// Opens a sealed request: the inner request and the sealer of its answer.
/// Its client time must be within `window_ms` of `now_ms`, and `state` must
/// not have seen it before.
pub(crate) async fn unseal(
    keys: &ServerKeys,
    state: &dyn SharedState,
    window_ms: f64,
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
    if !inner.ts.is_finite() || (now_ms - inner.ts).abs() > window_ms {
        return Err(refuse(&SealError::Replay));
    }
    state
        .first_sighting(&opened.enc, inner.ts, window_ms, now_ms)
        .await
        .map_err(|e| crate::gateway::refused(&e))?;
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

/// Most body bytes gathered into one record while coalescing.
const COALESCE_MAX: usize = 16 << 10;

/// `resp` sealed: a head chunk (status and headers), the body, and an empty
/// final chunk. Body pieces that arrive within `coalesce_ms` of the first
/// unsent one go out together, so that the records' count and timing say
/// less about the tokens inside; each record is padded (`tandem-seal`).
pub(crate) fn seal_response<H: Host + 'static>(
    host: Rc<H>,
    mut sealer: ResponseSealer,
    resp: Response,
    coalesce_ms: u64,
) -> Response {
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
    let chunks = stream::unfold(Some((sealer, body)), move |state| {
        let host = Rc::clone(&host);
        async move {
            let (mut sealer, mut body) = state?;
            let Some(mut data) = body.next().await else {
                return Some((sealer.seal_chunk(b"", true), None));
            };
            let deadline = host.now_ms() + coalesce_ms as f64;
            let mut ended = false;
            while data.len() < COALESCE_MAX {
                let left = deadline - host.now_ms();
                if left < 1.0 {
                    break;
                }
                let timer = pin!(host.sleep(left as u64));
                match select(body.next(), timer).await {
                    Either::Left((Some(more), _)) => data.extend_from_slice(&more),
                    Either::Left((None, _)) => {
                        ended = true;
                        break;
                    }
                    Either::Right(_) => break,
                }
            }
            let mut frame = sealer.seal_chunk(&data, false);
            if ended {
                frame.extend(sealer.seal_chunk(b"", true));
                return Some((frame, None));
            }
            Some((frame, Some((sealer, body))))
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
