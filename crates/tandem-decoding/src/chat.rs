//! Chat templates: turning a conversation into the prompt a model was
//! trained on, and knowing which tokens end its turn.
//!
//! A model carries its own Jinja template (GGUF's `tokenizer.chat_template`,
//! or `chat_template` in a Hugging Face `tokenizer_config.json`). It is
//! rendered with `minijinja`, set up as `transformers`' `apply_chat_template`
//! sets up Jinja: blocks trimmed, Python's string methods (`strip`,
//! `startswith`…), `raise_exception`, `tojson`, and `bos_token`,
//! `eos_token` and `add_generation_prompt` in the context.
//! `tests/chat_templates.rs` holds the rendering to `transformers`' own
//! output, byte for byte, for SmolLM2, Qwen2.5 and Llama 3
//! (`pkg-scripts/chat_template_fixtures.py`).
//!
//! Templates come from model files, which may be hostile: rendering runs
//! with a fuel limit, so a template that loops for ever is an error, not a
//! hung page.

use std::fmt;
use std::sync::Arc;

use minijinja::{Environment, ErrorKind, context};
use serde::{Deserialize, Serialize};

/// Who speaks a message.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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

/// One message of a conversation.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "ChatMessage"))]
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

/// Why a template could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatTemplateError {
    /// The template text is not valid Jinja.
    #[error("the model's chat template does not parse: {0}")]
    Syntax(String),
    /// The template refused the conversation (its `raise_exception`, e.g.
    /// "roles must alternate") or failed while rendering it.
    #[error("the model's chat template refused the conversation: {0}")]
    Render(String),
}

/// A prompt format.
#[derive(Clone, PartialEq, Eq)]
pub enum ChatTemplate {
    /// The model's own Jinja template.
    Jinja(JinjaTemplate),
    /// No template (a base model): the messages' contents joined by newlines.
    Plain,
}

/// A compiled Jinja chat template with the special tokens it may print.
#[derive(Clone)]
pub struct JinjaTemplate {
    env: Arc<Environment<'static>>,
    source: Arc<str>,
    bos_token: String,
    eos_token: String,
}

impl PartialEq for JinjaTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.bos_token == other.bos_token && self.eos_token == other.eos_token
    }
}

impl Eq for JinjaTemplate {}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatTemplate::Jinja(t) => f
                .debug_struct("Jinja")
                .field("source_len", &t.source.len())
                .field("bos_token", &t.bos_token)
                .field("eos_token", &t.eos_token)
                .finish(),
            ChatTemplate::Plain => f.write_str("Plain"),
        }
    }
}

/// How much work one rendering may do (minijinja's fuel: about one unit per
/// instruction). Real templates need a few thousand per message.
const FUEL: u64 = 5_000_000;

/// Token strings that end an assistant's turn in the template families in
/// use; those the template prints, and the end-of-sequence token, stop
/// generation.
const END_OF_TURN: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|end_of_text|>",
    "</s>",
];

impl ChatTemplate {
    /// Compiles a model's Jinja chat template; `bos_token` and `eos_token`
    /// are the strings of the model's special tokens, which templates print.
    pub fn from_jinja(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, ChatTemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template_owned("chat", source.to_owned())
            .map_err(|e| ChatTemplateError::Syntax(e.to_string()))?;
        Ok(ChatTemplate::Jinja(JinjaTemplate {
            env: Arc::new(env),
            source: source.into(),
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        }))
    }

    /// The prompt for `messages`, ending where the assistant's reply starts.
    pub fn render(&self, messages: &[Message]) -> Result<String, ChatTemplateError> {
        match self {
            ChatTemplate::Plain => Ok(messages
                .iter()
                .map(|m| m.content.as_str())
                .collect::<Vec<_>>()
                .join("\n")),
            ChatTemplate::Jinja(t) => {
                let render_error = |e: minijinja::Error| ChatTemplateError::Render(e.to_string());
                let template = t.env.get_template("chat").map_err(render_error)?;
                template
                    .render(context! {
                        messages => messages,
                        add_generation_prompt => true,
                        bos_token => t.bos_token,
                        eos_token => t.eos_token,
                    })
                    .map_err(render_error)
            }
        }
    }

    /// Token strings that end the assistant's turn: the end-of-turn markers
    /// the template prints and the end-of-sequence token.
    pub fn stop_strings(&self) -> Vec<&str> {
        match self {
            ChatTemplate::Jinja(t) => {
                let mut stops: Vec<&str> = END_OF_TURN.iter().copied().filter(|m| t.source.contains(m)).collect();
                // ChatML models also end a turn with the document end
                if t.source.contains("<|im_end|>") {
                    stops.push("<|endoftext|>");
                }
                if !t.eos_token.is_empty() && !stops.contains(&t.eos_token.as_str()) {
                    stops.push(&t.eos_token);
                }
                stops
            }
            ChatTemplate::Plain => Vec::new(),
        }
    }
}

/// How much of a conversation a local model is shown. Small models copy
/// earlier turns instead of answering the last one (SmolLM2-135M answered
/// "What is the capital of France?" with the previous reply), so a local
/// answer sees the system messages, the last user message and as many of
/// the turns before it as fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryBudget {
    /// Most earlier turns (a user message and the replies to it) kept.
    pub max_turns: usize,
    /// Most prompt tokens; earlier turns are dropped, oldest first, until
    /// the prompt fits. The last user message is kept even if it alone is longer.
    pub max_tokens: usize,
}

impl HistoryBudget {
    /// Everything: the conversation as given.
    pub const ALL: Self = Self {
        max_turns: usize::MAX,
        max_tokens: usize::MAX,
    };

    /// The messages to render: system messages, then the last `k` turns
    /// before the last user message and that message, for the largest
    /// `k <= max_turns` whose prompt `count` says fits `max_tokens`.
    pub fn fit<E>(
        &self,
        messages: &[Message],
        mut count: impl FnMut(&[Message]) -> Result<usize, E>,
    ) -> Result<Vec<Message>, E> {
        if *self == Self::ALL {
            return Ok(messages.to_vec());
        }
        let (system, rest): (Vec<&Message>, Vec<&Message>) = messages.iter().partition(|m| m.role == Role::System);
        // Turn starts: each user message opens one; the last one is the question.
        let starts: Vec<usize> = (0..rest.len()).filter(|&i| rest[i].role == Role::User).collect();
        let Some((&question, earlier)) = starts.split_last() else {
            return Ok(messages.to_vec());
        };
        let with = |k: usize| -> Vec<Message> {
            let from = if k == 0 { question } else { earlier[earlier.len() - k] };
            system.iter().chain(&rest[from..]).map(|m| (*m).clone()).collect()
        };
        let mut k = earlier.len().min(self.max_turns);
        loop {
            let candidate = with(k);
            if k == 0 || self.max_tokens == usize::MAX || count(&candidate)? <= self.max_tokens {
                return Ok(candidate);
            }
            k -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    #[test]
    fn renders_a_conversation_and_names_its_stops() {
        let t = ChatTemplate::from_jinja(CHATML, "", "<|im_end|>").unwrap();
        let prompt = t.render(&[Message::new(Role::User, "Hi")]).unwrap();
        assert_eq!(prompt, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assert_eq!(t.stop_strings(), ["<|im_end|>", "<|endoftext|>"]);
    }

    #[test]
    fn message_text_is_data_not_template() {
        let t = ChatTemplate::from_jinja(CHATML, "", "<|im_end|>").unwrap();
        let prompt = t
            .render(&[Message::new(Role::User, "{{ 7 * 7 }} {% if true %}x{% endif %}")])
            .unwrap();
        assert!(prompt.contains("{{ 7 * 7 }} {% if true %}x{% endif %}"), "{prompt}");
    }

    #[test]
    fn bad_templates_are_clear_errors() {
        let err = ChatTemplate::from_jinja("{% for m in messages %}", "", "").unwrap_err();
        assert!(matches!(err, ChatTemplateError::Syntax(_)), "{err}");
        // a template's own refusal reaches the caller with its message
        let strict = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with the user') }}{% endif %}ok";
        let t = ChatTemplate::from_jinja(strict, "", "").unwrap();
        let err = t.render(&[Message::new(Role::Assistant, "hi")]).unwrap_err();
        assert!(
            err.to_string().contains("Conversation must start with the user"),
            "{err}"
        );
        assert_eq!(t.render(&[Message::new(Role::User, "hi")]).unwrap(), "ok");
    }

    #[test]
    fn a_template_that_never_ends_runs_out_of_fuel() {
        let hostile = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}";
        let t = ChatTemplate::from_jinja(hostile, "", "").unwrap();
        let err = t.render(&[Message::new(Role::User, "hi")]).unwrap_err();
        assert!(matches!(err, ChatTemplateError::Render(_)), "{err}");
    }

    fn conversation() -> Vec<Message> {
        vec![
            Message::new(Role::System, "be brief"),
            Message::new(Role::User, "one"),
            Message::new(Role::Assistant, "1"),
            Message::new(Role::User, "two"),
            Message::new(Role::Assistant, "2"),
            Message::new(Role::User, "three?"),
        ]
    }

    fn texts(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.content.as_str()).collect()
    }

    #[test]
    fn the_history_budget_keeps_system_and_question_and_the_latest_turns() {
        let chars = |m: &[Message]| Ok::<_, ()>(m.iter().map(|m| m.content.len()).sum());
        let all = HistoryBudget::ALL.fit(&conversation(), chars).unwrap();
        assert_eq!(all, conversation());
        let one = HistoryBudget {
            max_turns: 1,
            max_tokens: usize::MAX,
        };
        assert_eq!(
            texts(&one.fit(&conversation(), chars).unwrap()),
            ["be brief", "two", "2", "three?"]
        );
        // 8 + 3 + 1 + 6 = 18 chars fit; adding "one" and "1" (22) does not
        let tight = HistoryBudget {
            max_turns: 5,
            max_tokens: 18,
        };
        assert_eq!(
            texts(&tight.fit(&conversation(), chars).unwrap()),
            ["be brief", "two", "2", "three?"]
        );
        // the question stays even when it alone is over budget
        let none = HistoryBudget {
            max_turns: 5,
            max_tokens: 1,
        };
        assert_eq!(
            texts(&none.fit(&conversation(), chars).unwrap()),
            ["be brief", "three?"]
        );
        // no user message: nothing to trim around
        let only = [Message::new(Role::Assistant, "hi")];
        assert_eq!(none.fit(&only, chars).unwrap(), only);
        // counting errors reach the caller
        assert_eq!(none.fit(&conversation(), |_| Err::<usize, _>("boom")), Err("boom"));
    }

    #[test]
    fn without_a_template_messages_are_joined() {
        let prompt = ChatTemplate::Plain
            .render(&[Message::new(Role::System, "a"), Message::new(Role::User, "b")])
            .unwrap();
        assert_eq!(prompt, "a\nb");
        assert!(ChatTemplate::Plain.stop_strings().is_empty());
    }
}
