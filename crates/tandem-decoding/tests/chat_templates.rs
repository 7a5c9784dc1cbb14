//! Chat templates rendered by `tandem_decoding::chat` against `transformers`'
//! `apply_chat_template`, byte for byte: SmolLM2's and Qwen2.5's templates
//! from their GGUF files and Llama 3's, on the conversations of
//! `pkg-scripts/chat_template_fixtures.py` (which wrote the fixture).

use serde::Deserialize;
use tandem_decoding::chat::{ChatTemplate, Message};

#[derive(Deserialize)]
struct Fixture {
    templates: Vec<Template>,
}

#[derive(Deserialize)]
struct Template {
    name: String,
    template: String,
    bos_token: String,
    eos_token: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    messages: Vec<Message>,
    prompt: String,
}

#[test]
fn prompts_match_transformers_apply_chat_template() {
    let fixture: Fixture = serde_json::from_str(include_str!("data/chat_templates.json")).unwrap();
    let names: Vec<&str> = fixture.templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["smollm2", "qwen2.5", "llama3"]);
    for t in &fixture.templates {
        let template = ChatTemplate::from_jinja(&t.template, &t.bos_token, &t.eos_token).unwrap();
        for (i, case) in t.cases.iter().enumerate() {
            let prompt = template.render(&case.messages).unwrap();
            assert_eq!(prompt, case.prompt, "{} conversation {i}", t.name);
        }
    }
}

#[test]
fn each_family_stops_at_its_own_end_of_turn() {
    let fixture: Fixture = serde_json::from_str(include_str!("data/chat_templates.json")).unwrap();
    let stops = |name: &str| {
        let t = fixture.templates.iter().find(|t| t.name == name).unwrap();
        let template = ChatTemplate::from_jinja(&t.template, &t.bos_token, &t.eos_token).unwrap();
        template
            .stop_strings()
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(stops("smollm2"), ["<|im_end|>", "<|endoftext|>"]);
    assert_eq!(stops("qwen2.5"), ["<|im_end|>", "<|endoftext|>"]);
    assert_eq!(stops("llama3"), ["<|eot_id|>", "<|end_of_text|>"]);
}
