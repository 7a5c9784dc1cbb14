//! The parts of the OpenAI chat completions API that the gateway reads.
//!
//! Only what routing and validation need is typed; every other field is kept
//! verbatim in `extra` and forwarded, so clients can use any parameter the
//! upstream understands.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/chat/completions` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model the client asks for (a public name the gateway maps).
    pub model: String,
    /// The conversation; at least one message.
    pub messages: Vec<ChatMessage>,
    /// Server-sent events instead of one JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Every other field, forwarded untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatCompletionRequest {
    /// Whether the reply is a stream of server-sent events.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// One message of a chat request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool`, ...
    pub role: String,
    /// A string or an array of content parts; absent for some tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    /// Other fields (`name`, `tool_calls`, ...), forwarded untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The error body OpenAI clients parse: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A sentence for people.
    pub message: String,
    /// A category (`invalid_request_error`, `rate_limit_error`, `upstream_error`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// A stable code for programs.
    pub code: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(kind: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.to_owned(),
                code: code.to_owned(),
            },
        }
    }
}

/// Tokens a completion used, as the upstream reports it (the `usage` object
/// of a reply, or of a stream's last chunk with `stream_options.include_usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Their sum, as the upstream counts it.
    pub total_tokens: u64,
}

impl Usage {
    /// Tokens to charge: the reported total, or the parts when the total is missing or smaller.
    pub fn billable(&self) -> u64 {
        self.total_tokens
            .max(self.prompt_tokens.saturating_add(self.completion_tokens))
    }

    /// The `usage` object of a reply or chunk, when it has one.
    pub fn of(reply: &Value) -> Option<Self> {
        reply
            .get("usage")
            .filter(|u| u.is_object())
            .and_then(|u| Self::deserialize(u).ok())
    }
}

/// `GET /v1/models` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    /// The models clients may ask for.
    pub data: Vec<ModelEntry>,
}

/// One model of [`ModelList`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// The name to put in `model`.
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// Creation time (seconds); 0 when unknown.
    pub created: u64,
    /// Who serves it.
    pub owned_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let json = r#"{"model":"m","messages":[{"role":"user","content":"hi","name":"x"}],"stream":true,"temperature":0.2,"tools":[]}"#;
        let req: ChatCompletionRequest = serde_json::from_str(json).unwrap();
        assert!(req.is_stream());
        assert_eq!(req.extra["temperature"], 0.2);
        let back: Value = serde_json::to_value(&req).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(json).unwrap());
    }

    #[test]
    fn requests_without_model_or_messages_are_refused() {
        assert!(serde_json::from_str::<ChatCompletionRequest>(r#"{"messages":[]}"#).is_err());
        assert!(serde_json::from_str::<ChatCompletionRequest>(r#"{"model":"m"}"#).is_err());
        assert!(serde_json::from_str::<ChatCompletionRequest>(r#"{"model":"m","messages":"hi"}"#).is_err());
    }
}
