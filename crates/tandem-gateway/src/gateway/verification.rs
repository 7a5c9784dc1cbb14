//! `POST /v1/verify` as a route: validate the round, score it on the
//! in-process target or a completions upstream, judge, answer.

use super::Gateway;
use crate::facts::{LogFacts, ms1};
use crate::host::Host;
use crate::response::{Body, Response};
use crate::verify::{MAX_SESSION_TOKENS, ScoreError, Scored, completions_body, parse_completions};

/// What a completions target ran for a round: the sequence sent (session, context and draft)
/// and its continuation after the next token, when the round asked for one.
struct RemoteRun {
    sent: Vec<u32>,
    continuation: Vec<u32>,
}
use serde_json::json;
use tandem_decoding::speculative::round;
use tandem_protocol::verify::{TargetStats, VerifyRequest};

impl<H: Host + 'static> Gateway<H> {
    /// A verification round: validate, score on the target, judge, answer.
    ///
    /// Sessions are the client's own: the id the target and the session store
    /// see is the client's name and the session id together, so one client
    /// can neither read nor extend another's session.
    pub(super) async fn verify(&self, client: &str, body: &[u8], facts: &mut LogFacts) -> Response {
        let invalid = |m: String| Response::error(400, "invalid_request_error", "invalid_verify_request", m);
        let mut req: VerifyRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return invalid(format!("the body is not a verification round: {e}")),
        };
        if let Err(e) = round::validate(&req) {
            return invalid(e.to_string());
        }
        facts.model = Some(req.model.clone());
        if let Err(resp) = self.allow_model(client, &req.model) {
            return resp;
        }
        let asked_session = std::mem::take(&mut req.session);
        req.session = format!("{client}\u{1f}{asked_session}");
        let local = self.target.as_ref().filter(|t| t.serves(&req.model));
        // For a completions target, the sequence sent: the session as the gateway keeps it.
        let scored = match local {
            Some(target) => target.score(&req).await.map(|s| (s, None)).map_err(|e| e.response()),
            None => match self.reserve(client, 0, facts).await {
                Err(resp) => Err(resp),
                Ok(()) => self.score_remote(&req, facts).await.map(|(s, run)| (s, Some(run))),
            },
        };
        if let Ok((scored, Some(run))) = &scored {
            // What the completions upstream ran: the uncached prompt, the next token and the
            // continuation.
            let generated = 1 + run.continuation.len() as u64;
            self.settle(client, 0, scored.stats.forward_tokens as u64 + generated, facts)
                .await;
        }
        let (scored, remote) = match scored {
            Ok(s) => s,
            Err(resp) => return resp,
        };
        if scored.scores.len() != req.draft.len() + 1 {
            return ScoreError::Failed(format!(
                "{} positions scored for a draft of {}",
                scored.scores.len(),
                req.draft.len()
            ))
            .response();
        }
        let verdict = match round::judge(&req, &scored.scores) {
            Ok(v) => v,
            Err(e) => return invalid(e.to_string()),
        };
        let mut reply = round::reply(&req, verdict, scored.stats);
        // A plain round may ask the target to go on by itself: a completions target did so in
        // the same call, an in-process one does now.
        if let Some(run) = remote.as_ref().filter(|r| !r.continuation.is_empty()) {
            reply.stats.forward_tokens += run.continuation.len();
            reply = reply.with_extension(run.continuation.clone());
        } else if let Some(target) = local.filter(|_| req.extend > 0) {
            match target.extend(&req, reply.session_len, verdict.next).await {
                Ok((tokens, cost)) => {
                    reply.stats.forward_tokens += cost.forward_tokens;
                    reply.stats.forward_ms += cost.forward_ms;
                    reply = reply.with_extension(tokens);
                }
                Err(e) => return e.response(),
            }
        }
        if let Some(RemoteRun {
            sent: mut held,
            continuation,
        }) = remote
        {
            // The session now holds what was accepted, then the next token and all of the
            // continuation but its last token (as the reply's `session_len` says).
            held.truncate(reply.session_len - continuation.len());
            if let Some((_, held_back)) = continuation.split_last() {
                held.push(reply.next);
                held.extend_from_slice(held_back);
            }
            // Unstored, the session is lost: the next round gets 409 and resends it.
            if let Err(e) = self.state.session_store(&req.session, held).await {
                facts.outcome = "session_not_stored";
                self.host
                    .log(&json!({"event": "session_store_failed", "error": e.to_string()}).to_string());
            }
        }
        Response::json(200, &reply)
    }

    /// Scores a greedy round on a completions upstream with prompt log-probabilities;
    /// also returns what it ran: the whole sequence sent (session, context and draft), and the
    /// continuation a plain round with `extend` asked for in the same call.
    async fn score_remote(&self, req: &VerifyRequest, facts: &mut LogFacts) -> Result<(Scored, RemoteRun), Response> {
        let routes = self.config.route(&req.model);
        if routes.is_empty() {
            return Err(Response::error(
                404,
                "invalid_request_error",
                "model_not_found",
                format!("the model `{}` does not exist", req.model),
            ));
        }
        if round::is_sampled(req) {
            return Err(ScoreError::Invalid(
                "this target returns prompt log-probabilities, which verify greedy rounds only; send temperature 0"
                    .into(),
            )
            .response());
        }
        let mut prompt = self
            .state
            .session_prefix(&req.session, req.base)
            .await
            .map_err(|e| super::refused(&e))?;
        prompt.extend_from_slice(&req.context);
        prompt.extend_from_slice(&req.draft);
        if prompt.len() > MAX_SESSION_TOKENS {
            return Err(ScoreError::Invalid(format!("a session holds at most {MAX_SESSION_TOKENS} tokens")).response());
        }
        let t0 = self.host.now_ms();
        // `round::validate` allows `extend` on plain rounds only.
        let payload = |model: &str| Some(completions_body(model, &prompt, req.extend, &req.stop));
        let resp = self.upstreams.call(routes, "completions", None, payload, facts).await;
        let Body::Full(body) = resp.body else {
            return Err(ScoreError::Failed("the target streamed its reply".into()).response());
        };
        if resp.status != 200 {
            return Err(Response {
                body: Body::Full(body),
                ..resp
            });
        }
        let parsed = parse_completions(&body, prompt.len(), req.draft.len(), req.extend, &req.stop).map_err(|e| {
            facts.outcome = "target_malformed";
            ScoreError::Failed(e).response()
        })?;
        let scored = Scored {
            scores: round::TargetScores::Argmax(parsed.choices),
            stats: TargetStats {
                forward_tokens: prompt.len().saturating_sub(parsed.cached),
                cached_tokens: parsed.cached,
                forward_ms: ms1(self.host.now_ms() - t0),
            },
        };
        Ok((
            scored,
            RemoteRun {
                sent: prompt,
                continuation: parsed.continuation,
            },
        ))
    }
}
