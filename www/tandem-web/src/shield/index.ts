/**
 * `@tandem/web/shield`: the PII shield alone, for apps that already talk to a model. Personal
 * data (e-mails, phones, cards, IBANs, SSNs, IP addresses, URLs, secrets, dates of birth) is
 * replaced by placeholders before a request leaves, and put back into the reply as it streams
 * in. Its wasm holds the pattern recognizers only (no model stack): a fraction of the full
 * package's, loaded on first use.
 *
 * ```ts
 * import OpenAI from "openai";
 * import { shieldFetch } from "@tandem/web/shield";
 * const openai = new OpenAI({ apiKey, fetch: shieldFetch(fetch) });
 * ```
 * @packageDocumentation
 */
export { loadShield, type PieceRestorer, type ShieldLike, type ShieldSource } from "./load.js";
export { shieldFetch, ShieldError, type ShieldFetchOptions } from "./fetch.js";
export { shieldMiddleware, type ShieldMiddleware } from "./middleware.js";
export { Shield, StreamRestorer, default as initShieldWasm } from "../wasm-shield/tandem_wasm.js";
export type { Action, Detection, EntityKind, InitInput, RedactedEntity, Redaction, ShieldOptions } from "../wasm-shield/tandem_wasm.js";
