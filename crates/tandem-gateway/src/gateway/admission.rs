//! Admission: who the client is (bearer token), whether its rate allows
//! another request, and whether the body fits. Every route but `/health` and
//! the seal keys passes here first. Routes that spend upstream tokens also
//! check the client's model allow-list and token budget here.

use super::Gateway;
use crate::auth::{AuthError, authenticate};
use crate::facts::LogFacts;
use crate::host::Host;
use crate::rate::Rate;
use crate::response::{Request, Response};

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
        if let Err(e) = self
            .state
            .take(&format!("client:{client}"), rate, self.host.now_ms())
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

    /// Whether `client`'s token budget (if it has one) allows another request.
    pub(super) fn check_budget(&self, client: &str, facts: &mut LogFacts) -> Result<(), Response> {
        let Some(budget) = self.config.policy(client).token_budget else {
            return Ok(());
        };
        let Err(retry_after) = self.budgets.borrow_mut().check(client, budget, self.host.now_ms()) else {
            return Ok(());
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

    /// Takes `tokens` from `client`'s budget (if it has one).
    pub(super) fn charge(&self, client: &str, tokens: u64, facts: &mut LogFacts) {
        if let Some(budget) = self.config.policy(client).token_budget {
            facts.tokens = Some(tokens);
            self.budgets
                .borrow_mut()
                .charge(client, budget, tokens, self.host.now_ms());
        }
    }
}
