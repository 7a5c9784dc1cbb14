//! Admission: who the client is (bearer token), whether its rate allows
//! another request, and whether the body fits. Every route but `/health` and
//! the seal keys passes here first.

use super::Gateway;
use crate::auth::{AuthError, authenticate};
use crate::facts::LogFacts;
use crate::host::Host;
use crate::response::{Request, Response};

impl<H: Host + 'static> Gateway<H> {
    /// Authentication, rate limit and size limit.
    pub(super) fn admit(&self, req: &Request, facts: &mut LogFacts) -> Result<(), Response> {
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
        if let Err(retry_after) = self.limiter.borrow_mut().check(&client, self.host.now_ms()) {
            let mut resp = Response::error(
                429,
                "rate_limit_error",
                "rate_limited",
                format!("rate limit exceeded; retry in {retry_after} s"),
            );
            resp.headers.push(("retry-after".into(), retry_after.to_string()));
            return Err(resp);
        }
        if req.body.len() > self.max_body_bytes() {
            return Err(self.too_large());
        }
        Ok(())
    }
}
