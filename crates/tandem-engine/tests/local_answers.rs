//! The local-answer defaults (`GenerateOptions::chat`) on the real
//! SmolLM2-135M-Instruct GGUF (fetched by pkg-scripts/setup): plain greedy
//! decoding loops on a simple question, the defaults do not, and a
//! conversation's older turns are not shown to the model.

use std::path::PathBuf;
use tandem_core::eval::answers::{DEGENERATE_REPETITION, repetition};
use tandem_decoding::chat::{HistoryBudget, Message, Role};
use tandem_engine::{Engine, Event, GenerateOptions, LOCAL_HISTORY};

fn engine() -> Engine {
    let cache = std::env::var_os("TANDEM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tandem"));
    let path = cache.join("models/smollm2-135m.gguf");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run pkg-scripts/setup", path.display()));
    Engine::from_gguf(bytes, &burn::tensor::Device::flex()).unwrap()
}

/// The reply's token ids, its text and the prompt's length.
fn answer(engine: &Engine, messages: &[Message], options: &GenerateOptions) -> (Vec<u32>, String, usize) {
    let (mut ids, mut text, mut prompt) = (Vec::new(), String::new(), 0);
    let generation = engine.chat(messages, options).unwrap();
    engine
        .generate(generation, |event| match event {
            Event::Prefilled { tokens } => prompt = *tokens,
            Event::Token { id, text: piece, .. } => {
                ids.push(*id);
                text.push_str(piece);
            }
            Event::Done(_) => {}
        })
        .unwrap();
    (ids, text, prompt)
}

/// Whether some 4-gram of `ids` occurs twice.
fn repeats_a_4gram(ids: &[u32]) -> bool {
    let mut seen = std::collections::HashSet::new();
    ids.windows(4).any(|w| !seen.insert(w))
}

#[test]
fn the_chat_defaults_stop_the_loop_that_greedy_decoding_falls_into() {
    let engine = engine();
    let question = [Message::new(Role::User, "What is the capital of France?")];
    let plain = GenerateOptions {
        max_tokens: 64,
        ..GenerateOptions::default()
    };
    let (ids, text, _) = answer(&engine, &question, &plain);
    assert!(repeats_a_4gram(&ids), "plain greedy: {text}");
    assert!(repetition(&text) > DEGENERATE_REPETITION, "plain greedy: {text}");

    let (ids, text, _) = answer(&engine, &question, &GenerateOptions::chat(64));
    assert!(!repeats_a_4gram(&ids), "chat defaults: {text}");
    assert!(repetition(&text) <= DEGENERATE_REPETITION, "chat defaults: {text}");
}

#[test]
fn older_turns_are_not_shown_to_a_small_model() {
    let engine = engine();
    let conversation = [
        Message::new(Role::User, "Bitte übersetze: Willkommen bei der Wohnbau Nord GmbH."),
        Message::new(Role::Assistant, "Welcome to Wohnbau Nord GmbH."),
        Message::new(Role::User, "Name two colors."),
        Message::new(Role::Assistant, "Red and blue."),
        Message::new(Role::User, "What is the capital of France?"),
    ];
    let options = |history| GenerateOptions {
        max_tokens: 1,
        history,
        ..GenerateOptions::chat(1)
    };
    let (_, _, all) = answer(&engine, &conversation, &options(HistoryBudget::ALL));
    let (_, _, shown) = answer(&engine, &conversation, &options(LOCAL_HISTORY));
    let (_, _, last_turn) = answer(&engine, &conversation[2..], &options(HistoryBudget::ALL));
    assert_eq!(LOCAL_HISTORY.max_turns, 1);
    assert_eq!(shown, last_turn, "one earlier turn and the question");
    assert!(shown < all);
    let tight = HistoryBudget {
        max_turns: 1,
        max_tokens: last_turn - 1,
    };
    let (_, _, question_only) = answer(&engine, &conversation, &options(tight));
    let (_, _, alone) = answer(&engine, &conversation[4..], &options(HistoryBudget::ALL));
    assert_eq!(question_only, alone, "a turn that does not fit is dropped");
}
