//! The package's TypeScript declarations, generated from the Rust types
//! that cross into JavaScript ([`crate::js_types`] and the core types they
//! hold). `tests/ts_types.rs` writes them to `ts/shield.d.ts` and
//! `ts/models.d.ts` and fails when a file is stale; the crate's root includes
//! them in wasm-bindgen's output (the second only with the `models` feature).

use crate::ShieldOptions;
use crate::js_types::*;
use tandem_core::cascade::{CascadeBar, CascadeVerdict};
use tandem_core::router::{Conversation, Decision, PiiRule, Reason, Route, RouterPolicy};
use tandem_decoding::chat::{Message, Role};
use tandem_decoding::speculative::{CloudTokens, PlainRounds};
use tandem_protocol::{Action, Detection, EntityKind, RedactedEntity, Redaction};
use ts_rs::{Config, TS};

/// The first lines of the generated file.
const HEADER: &str = "// Generated from the Rust types by `TANDEM_BLESS=1 cargo test -p tandem-wasm --features ts --test ts_types`; do not edit.\n// Offsets are UTF-16 code units (JavaScript string indices).\n";

/// One declared type.
struct Declared {
    name: String,
    text: String,
    uses: Vec<String>,
}

fn declared<T: TS + 'static>(cfg: &Config) -> Declared {
    Declared {
        name: T::name(cfg),
        text: format!("{}export {}", T::docs().unwrap_or_default(), T::decl(cfg)),
        uses: T::dependencies(cfg).into_iter().map(|d| d.ts_name).collect(),
    }
}

/// The shield's types: what every build of the package declares (`ts/shield.d.ts`).
fn shield() -> Vec<Declared> {
    let cfg = config();
    vec![
        declared::<EntityKind>(&cfg),
        declared::<Action>(&cfg),
        declared::<Detection>(&cfg),
        declared::<RedactedEntity>(&cfg),
        declared::<Redaction>(&cfg),
        declared::<ShieldOptions>(&cfg),
    ]
}

/// The local models' types: the router, generation and speculation
/// (`ts/models.d.ts`, only in builds with the `models` feature).
fn models() -> Vec<Declared> {
    let cfg = config();
    vec![
        declared::<Route>(&cfg),
        declared::<PiiRule>(&cfg),
        declared::<RouterPolicy>(&cfg),
        declared::<Conversation>(&cfg),
        declared::<RouteContext>(&cfg),
        declared::<Reason>(&cfg),
        declared::<Decision>(&cfg),
        declared::<AnalysisRoute>(&cfg),
        declared::<Analysis>(&cfg),
        declared::<Role>(&cfg),
        declared::<Message>(&cfg),
        declared::<CascadeBar>(&cfg),
        declared::<CascadeVerdict>(&cfg),
        declared::<GenerateOptions>(&cfg),
        declared::<GenerationStop>(&cfg),
        declared::<GenerationResult>(&cfg),
        declared::<SpeculateOptions>(&cfg),
        declared::<SpeculationRound>(&cfg),
        declared::<SpeculationStop>(&cfg),
        declared::<CloudTokens>(&cfg),
        declared::<PlainRounds>(&cfg),
        declared::<SpeculationResult>(&cfg),
    ]
}

/// How ts-rs names Rust's types: `usize` and `u64` both reach JavaScript as
/// numbers (the bindings' serializer is `json_compatible`).
fn config() -> Config {
    Config::new().with_large_int("number")
}

/// The generated files: `(name under ts/, contents)`.
pub fn files() -> [(&'static str, String); 2] {
    [("shield.d.ts", render(shield())), ("models.d.ts", render(models()))]
}

fn render(declared: Vec<Declared>) -> String {
    let mut out = String::from(HEADER);
    for d in declared {
        out.push('\n');
        out.push_str(&compact_docs(&d.text));
        out.push('\n');
    }
    out
}

/// One-line doc comments as `/** text */`: ts-rs writes every doc over three
/// lines, which doubles the size of the declarations the package ships.
fn compact_docs(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let single = lines[i].trim() == "/**"
            && lines.get(i + 1).is_some_and(|l| l.starts_with(" * "))
            && lines.get(i + 2).is_some_and(|l| l.trim() == "*/");
        if single {
            out.push_str(&format!("/** {} */", &lines[i + 1][3..]));
            i += 3;
        } else {
            out.push_str(lines[i].trim_end());
            i += 1;
        }
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// Type names the declarations refer to without declaring them, as
/// `"User -> Missing"`; empty when the file is complete.
pub fn undeclared() -> Vec<String> {
    let all: Vec<Declared> = shield().into_iter().chain(models()).collect();
    let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
    all.iter()
        .flat_map(|d| {
            d.uses
                .iter()
                .filter(|u| !names.contains(&u.as_str()))
                .map(move |u| format!("{} -> {u}", d.name))
        })
        .collect()
}
