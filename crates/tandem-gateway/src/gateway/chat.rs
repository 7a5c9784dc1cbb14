//! `POST /v1/chat/completions`: validate, map the model, call the upstreams.

use super::Gateway;
use crate::facts::LogFacts;
use crate::host::Host;
use crate::response::Response;
use tandem_protocol::openai::ChatCompletionRequest;

impl<H: Host + 'static> Gateway<H> {
    pub(super) async fn complete(&self, body: &[u8], facts: &mut LogFacts) -> Response {
        let mut request: ChatCompletionRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return Response::error(
                    400,
                    "invalid_request_error",
                    "invalid_body",
                    format!("the body is not a chat completion request: {e}"),
                );
            }
        };
        if request.messages.is_empty() {
            return Response::error(400, "invalid_request_error", "invalid_body", "messages is empty");
        }
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
        let stream = request.is_stream();
        let payload = |model: &str| {
            request.model = model.to_owned();
            serde_json::to_vec(&request).ok()
        };
        self.upstreams
            .call(routes, "chat/completions", stream, payload, facts)
            .await
    }
}
