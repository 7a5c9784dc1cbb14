//! Chat templates: turning a conversation into the prompt a model was
//! trained on, and knowing which tokens end its turn.

use serde::{Deserialize, Serialize};

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the assistant.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The speaker.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// A prompt format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTemplate {
    /// ChatML (`<|im_start|>role\n…<|im_end|>\n`), used by SmolLM2 and
    /// Qwen2.5, with the system prompt the model's own template inserts when
    /// the conversation has none.
    ChatMl {
        /// Inserted when the conversation has no system message.
        default_system: Option<String>,
    },
    /// No template: the messages' contents joined by newlines.
    Plain,
}

impl ChatTemplate {
    /// Recognizes the template from a model's Jinja chat template text (as
    /// stored in GGUF's `tokenizer.chat_template`).
    pub fn detect(jinja: &str) -> Self {
        if !jinja.contains("<|im_start|>") {
            return ChatTemplate::Plain;
        }
        // The default system prompt is the literal text after `<|im_start|>system\n`
        // in the branch taken when there is no system message. Templates with a
        // tools branch (Qwen2.5) mention `<|im_start|>system` first with an
        // expression after it, so take the first occurrence followed by plain text.
        let default_system = jinja.split("<|im_start|>system").skip(1).find_map(|rest| {
            // The newline is an escape (`\n`) inside a Jinja string, or a real one.
            let rest = rest.strip_prefix("\\n").or_else(|| rest.strip_prefix('\n'))?;
            let end = rest.find("<|im_end|>")?;
            let text = &rest[..end];
            let literal = !text.is_empty() && !text.contains("{{") && !text.contains("{%") && !text.contains('\'');
            literal.then(|| text.to_owned())
        });
        ChatTemplate::ChatMl { default_system }
    }

    /// The prompt for `messages`, ending where the assistant's reply starts.
    pub fn render(&self, messages: &[Message]) -> String {
        match self {
            ChatTemplate::Plain => messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            ChatTemplate::ChatMl { default_system } => {
                let mut out = String::new();
                if let Some(system) = default_system
                    && messages.first().is_none_or(|m| m.role != Role::System)
                {
                    out.push_str(&format!("<|im_start|>system\n{system}<|im_end|>\n"));
                }
                for m in messages {
                    out.push_str(&format!("<|im_start|>{}\n{}<|im_end|>\n", m.role.as_str(), m.content));
                }
                out.push_str("<|im_start|>assistant\n");
                out
            }
        }
    }

    /// Token strings that end the assistant's turn.
    pub fn stop_strings(&self) -> &'static [&'static str] {
        match self {
            ChatTemplate::ChatMl { .. } => &["<|im_end|>", "<|endoftext|>"],
            ChatTemplate::Plain => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN: &str = "{%- if not messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}";

    #[test]
    fn chatml_with_the_models_default_system_prompt() {
        let t = ChatTemplate::detect(QWEN);
        let prompt = t.render(&[Message::new(Role::User, "Hi")]);
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let with_system = t.render(&[Message::new(Role::System, "Be brief."), Message::new(Role::User, "Hi")]);
        assert!(with_system.starts_with("<|im_start|>system\nBe brief.<|im_end|>"));
        assert_eq!(t.stop_strings(), ["<|im_end|>", "<|endoftext|>"]);
    }

    #[test]
    fn reads_templates_with_real_newlines_too() {
        // SmolLM2's GGUF stores the newline itself, not the `\n` escape.
        let smollm = "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}";
        let expected = Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face".to_owned());
        assert_eq!(
            ChatTemplate::detect(smollm),
            ChatTemplate::ChatMl {
                default_system: expected
            }
        );
    }

    #[test]
    fn finds_the_default_after_a_tools_branch() {
        // The shape of Qwen2.5(-Coder)'s template: a tools branch, then the
        // system-message branch with an expression, then the default.
        let qwen25 = "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}{%- endif %}{%- else %}{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}";
        assert_eq!(
            ChatTemplate::detect(qwen25),
            ChatTemplate::ChatMl {
                default_system: Some("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.".to_owned())
            }
        );
    }

    #[test]
    fn unknown_templates_fall_back_to_plain() {
        assert_eq!(
            ChatTemplate::detect("{{ bos_token }}{{ messages }}"),
            ChatTemplate::Plain
        );
    }
}
