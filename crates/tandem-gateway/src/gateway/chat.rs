//! `POST /v1/chat/completions`: validate, apply the client's spending policy
//! (model allow-list, `max_tokens` and `n` caps, token budget), map the model,
//! call the upstreams, and charge the usage they report.

use super::Gateway;
use crate::config::{Policy, TokenBudget};
use crate::facts::LogFacts;
use crate::host::Host;
use crate::response::{Body, Response};
use crate::upstream::{OnStreamEnd, Streamed};
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value, json};
use std::rc::Rc;
use tandem_protocol::openai::{ChatCompletionRequest, Usage};

fn invalid(code: &str, message: String) -> Response {
    Response::error(400, "invalid_request_error", code, message)
}

/// Checks `request` against `policy`, filling in `max_tokens` when absent;
/// returns the most completion tokens the request can produce (all choices).
fn enforce(policy: &Policy, request: &mut ChatCompletionRequest) -> Result<u64, Response> {
    let number = |extra: &Map<String, Value>, key: &str| -> Result<Option<u64>, Response> {
        match extra.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid("invalid_body", format!("`{key}` must be a non-negative integer"))),
        }
    };
    let n = number(&request.extra, "n")?.unwrap_or(1);
    if n > u64::from(policy.max_n) {
        return Err(invalid(
            "n_too_large",
            format!("`n` is {n}; this client may ask for at most {}", policy.max_n),
        ));
    }
    let cap = u64::from(policy.max_tokens);
    let mut asked = None;
    for key in ["max_tokens", "max_completion_tokens"] {
        if let Some(m) = number(&request.extra, key)? {
            if m > cap {
                return Err(invalid(
                    "max_tokens_too_large",
                    format!("`{key}` is {m}; this client may ask for at most {cap}"),
                ));
            }
            asked = Some(asked.map_or(m, |a: u64| a.min(m)));
        }
    }
    if asked.is_none() {
        request.extra.remove("max_completion_tokens");
        request.extra.insert("max_tokens".into(), json!(cap));
    }
    Ok(asked.unwrap_or(cap).saturating_mul(n.max(1)))
}

impl<H: Host + 'static> Gateway<H> {
    pub(super) async fn complete(&self, client: &str, body: &[u8], facts: &mut LogFacts) -> Response {
        let mut request: ChatCompletionRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return invalid(
                    "invalid_body",
                    format!("the body is not a chat completion request: {e}"),
                );
            }
        };
        if request.messages.is_empty() {
            return invalid("invalid_body", "messages is empty".into());
        }
        request.model = self.config.model_name(&request.model).to_owned();
        facts.model = Some(request.model.clone());
        let routes = self.config.route(&request.model);
        if routes.is_empty() {
            return Response::error(
                404,
                "invalid_request_error",
                "model_not_found",
                format!("the model `{}` does not exist", request.model),
            );
        }
        let policy = self.config.policy(client);
        let checked = self
            .allow_model(client, &request.model)
            .and_then(|()| enforce(policy, &mut request));
        let most_output = match checked {
            Ok(m) => m,
            Err(resp) => return resp,
        };
        // The most the request could cost: its prompt (about four bytes a
        // token) and every completion token it may ask for. Reserved now,
        // settled with the upstream's usage (or kept, without one).
        let estimate = (body.len() as u64 / 4).saturating_add(most_output);
        if let Err(resp) = self.reserve(client, estimate, facts).await {
            return resp;
        }
        let budget = policy.token_budget;
        let stream = request
            .is_stream()
            .then(|| self.streamed(client, budget, estimate, &mut request));
        let payload = |model: &str| {
            request.model = model.to_owned();
            serde_json::to_vec(&request).ok()
        };
        let resp = self
            .upstreams
            .call(routes, "chat/completions", stream, payload, facts)
            .await;
        if let Body::Full(bytes) = &resp.body {
            // A refusal spent nothing upstream; an answer costs its usage.
            let used = match resp.status {
                200 => serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .and_then(|v| Usage::of(&v))
                    .map_or(estimate, |u| u.billable()),
                _ => 0,
            };
            self.settle(client, estimate, used, facts).await;
        }
        resp
    }

    /// Asks a streaming upstream for its usage (hidden from a client that did
    /// not ask for it) and settles the reservation with it when the stream ends.
    fn streamed(
        &self,
        client: &str,
        budget: Option<TokenBudget>,
        estimate: u64,
        request: &mut ChatCompletionRequest,
    ) -> Streamed {
        let options = request.extra.entry("stream_options").or_insert_with(|| json!({}));
        if !options.is_object() {
            *options = json!({});
        }
        let asked = options["include_usage"] == json!(true);
        options["include_usage"] = json!(true);
        let on_end = budget.map(|budget| {
            let state = Rc::clone(&self.state);
            let host = Rc::clone(&self.host);
            let client = client.to_owned();
            Box::new(move |usage: Option<Usage>| {
                let used = usage.map_or(estimate, |u| u.billable());
                Box::pin(async move {
                    super::admission::settle(state.as_ref(), host.as_ref(), budget, &client, estimate, used).await;
                }) as LocalBoxFuture<'static, ()>
            }) as OnStreamEnd
        });
        Streamed {
            hide_usage: !asked,
            on_end,
        }
    }
}
