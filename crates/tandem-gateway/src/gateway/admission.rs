//! Admission: who the client is (bearer token), whether its rate allows
//! another request, and whether the body fits. Every route but `/health` and
//! the seal keys passes here first. Routes that spend upstream tokens also
//! check the client's model allow-list and token budget here.

use super::Gateway;
use crate::auth::{AuthError, authenticate};
use crate::config::TokenBudget;
use crate::facts::LogFacts;
use crate::host::Host;
use crate::rate::{Draw, Meter, Rate};
use crate::response::{Request, Response};
use crate::shared::{SharedState, StateError};

impl<H: Host + 'static> Gateway<H> {
    /// Authentication, rate limit and size limit; the client's name.
    pub(super) async fn admit(&self, req: &Request, facts: &mut LogFacts) -> Result<String, Response> {
        let client = if self.config.spec.allow_anonymous && self.config.client_tokens.is_empty() {
            "anonymous".to_owned()
        } else {
            match authenticate(req.header("authorization"), &self.config.client_tokens) {
                Ok(name) => name.to_owned(),
                Err(AuthError::Missing) if self.config.spec.allow_anonymous => "anonymous".to_owned(),
                Err(e) => {
                    let message = match e {
                        AuthError::Missing => "missing bearer token",
                        AuthError::Invalid => "invalid bearer token",
                    };
                    return Err(Response::error(401, "authentication_error", "invalid_api_key", message));
                }
            }
        };
        facts.client = Some(client.clone());
        let limits = self.config.limits();
        let rate = Rate {
            per_minute: limits.requests_per_minute,
            burst: limits.burst,
        };
        let key = format!("client:{client}");
        if let Err(e) = self
            .state
            .draw(&key, Meter::Rate(rate), Draw::Reserve(1), self.host.now_ms())
            .await
        {
            return Err(super::refused(&e));
        }
        if req.body.len() > self.max_body_bytes() {
            return Err(self.too_large());
        }
        Ok(client)
    }

    /// Whether `client` may use `model` (its policy's allow-list).
    pub(super) fn allow_model(&self, client: &str, model: &str) -> Result<(), Response> {
        match &self.config.policy(client).models {
            Some(allowed) if !allowed.iter().any(|m| m == model) => Err(Response::error(
                403,
                "permission_error",
                "model_not_allowed",
                format!("client `{client}` may not use the model `{model}`"),
            )),
            _ => Ok(()),
        }
    }

    /// Reserves `most` tokens (what the request could cost at most) of
    /// `client`'s budget, if it has one, refusing once the balance is spent.
    /// Reserving first keeps parallel requests from spending one balance
    /// many times over, and a client that leaves mid-stream pays the most.
    pub(super) async fn reserve(&self, client: &str, most: u64, facts: &mut LogFacts) -> Result<(), Response> {
        let Some(budget) = self.config.policy(client).token_budget else {
            return Ok(());
        };
        let drawn = self
            .state
            .draw(
                &budget_key(client),
                Meter::Budget(budget),
                Draw::Reserve(most),
                self.host.now_ms(),
            )
            .await;
        let retry_after = match drawn {
            Ok(()) => return Ok(()),
            Err(StateError::Limited { retry_after_s }) => retry_after_s,
            Err(e) => return Err(super::refused(&e)),
        };
        facts.outcome = "budget_exhausted";
        let mut resp = Response::error(
            429,
            "rate_limit_error",
            "budget_exhausted",
            format!("this client's token budget is spent; retry in {retry_after} s"),
        );
        resp.headers.push(("retry-after".into(), retry_after.to_string()));
        Err(resp)
    }

    /// Settles a reservation of `reserved` tokens with what the request
    /// cost (`used`), if `client` has a budget.
    pub(super) async fn settle(&self, client: &str, reserved: u64, used: u64, facts: &mut LogFacts) {
        if let Some(budget) = self.config.policy(client).token_budget {
            facts.tokens = Some(used);
            settle(self.state.as_ref(), self.host.as_ref(), budget, client, reserved, used).await;
        }
    }
}

/// The shared-state key of `client`'s token budget.
fn budget_key(client: &str) -> String {
    format!("budget:{client}")
}

/// Settles a reservation (see [`Gateway::settle`]); free-standing so that a
/// stream can settle when it ends, after the handler has returned. A store
/// that cannot be reached keeps the reservation: the client paid the most.
pub(super) async fn settle<H: Host>(
    state: &dyn SharedState,
    host: &H,
    budget: TokenBudget,
    client: &str,
    reserved: u64,
    used: u64,
) {
    let delta = i64::try_from(used)
        .unwrap_or(i64::MAX)
        .saturating_sub(i64::try_from(reserved).unwrap_or(i64::MAX));
    if let Err(e) = state
        .draw(
            &budget_key(client),
            Meter::Budget(budget),
            Draw::Settle(delta),
            host.now_ms(),
        )
        .await
    {
        let line = serde_json::json!({"event": "settle_failed", "client": client, "error": e.to_string()});
        host.log(&line.to_string());
    }
}
