//! The shield: find personal data and secrets, redact them, restore them.
//!
//! The pipeline is three small stages, each in its own module:
//!
//! 1. [`Recognizer`]s propose typed [`Span`]s with scores. Each pattern
//!    recognizer pairs a fast, linear-time candidate regex with a validator
//!    (Luhn, mod-97, SSN area rules, libphonenumber, …) and context rules
//!    (words nearby raise or lower the score).
//! 2. [`Shield::analyze`] keeps spans above a threshold and resolves
//!    overlaps (higher score, then longer span wins). [`Shield::analyze_with`]
//!    also merges spans a token-classification model found (decoded from
//!    BIO tags by [`tagging::decode`]); validated patterns win over them.
//! 3. A [`Redactor`] applies a per-kind [`Policy`] (redact, mask, allow),
//!    issuing placeholders from a [`Vault`]; [`restore()`] and the
//!    [`StreamRestorer`] put the originals back into a reply, even when a
//!    placeholder is split across streamed chunks.
//!
//! All regexes come from the `regex` crate, whose matching is linear in the
//! input: pathological input cannot make the shield hang.
//!
//! ```
//! use tandem_core::shield::{Redactor, Shield, StreamRestorer};
//!
//! let mut redactor = Redactor::new(Shield::default());
//! let out = redactor.redact("Mail jane.doe@example.com or call +44 20 7946 0958.").unwrap();
//! assert_eq!(out.text, "Mail [EMAIL_1] or call [PHONE_1].");
//!
//! let mut restorer = StreamRestorer::new(redactor.vault().clone());
//! let mut reply = restorer.push("I wrote to [EMA");
//! reply += &restorer.push("IL_1].");
//! reply += &restorer.finish();
//! assert_eq!(reply, "I wrote to jane.doe@example.com.");
//! ```

mod analyzer;
mod context;
mod lexicon;
mod policy;
mod recognizer;
pub mod recognizers;
mod redact;
mod refine;
mod resolve;
mod restore;
pub mod shape;
mod span;
pub mod tagging;
mod vault;

pub use analyzer::{Shield, ShieldConfig, ShieldError};
pub use policy::{Policy, mask};
pub use recognizer::Recognizer;
pub use redact::{Redacted, RedactedSpan, Redactor};
pub use restore::{RestorePolicy, Restored, StreamRestorer, restore, restore_with};
pub use span::{Span, to_detections};
pub use vault::Vault;
