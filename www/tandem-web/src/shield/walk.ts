// The two moves every shield adapter makes: rewrite each string of a JSON value (redact outgoing
// requests, restore whole replies), and restore several replies streaming at once.
import type { PieceRestorer, ShieldLike } from "./load.js";

/** `value` with every string (object values and array items, not keys) replaced by `f` of it. */
export async function mapStrings<T>(value: T, f: (text: string) => string | Promise<string>): Promise<T> {
  if (typeof value === "string") return (await f(value)) as T;
  if (Array.isArray(value)) {
    const out = [];
    for (const item of value) out.push(await mapStrings(item, f));
    return out as T;
  }
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await mapStrings(v, f);
    return out as T;
  }
  return value;
}

/** Redacts one text with `shield`, returning the text that may leave. */
export async function redacted(shield: ShieldLike, text: string): Promise<string> {
  return text ? (await shield.redact(text)).text : text;
}

/**
 * Restorers for the streams of one reply, by key (a choice, a tool call's arguments, a text
 * block): a placeholder split across pieces of one stream is held back until it is whole.
 */
export class Restorers {
  readonly #shield: ShieldLike;
  readonly #open = new Map<string, PieceRestorer>();

  constructor(shield: ShieldLike) {
    this.#shield = shield;
  }

  /** Feeds a piece of stream `key`; returns what is final so far. */
  push(key: string, piece: string): string {
    let restorer = this.#open.get(key);
    if (!restorer) this.#open.set(key, (restorer = this.#shield.restorer()));
    return restorer.push(piece);
  }

  /** Ends stream `key`; returns what it held back ("" for a stream never pushed to). */
  finish(key: string): string {
    const restorer = this.#open.get(key);
    if (!restorer) return "";
    this.#open.delete(key);
    try {
      return restorer.finish();
    } finally {
      restorer.free?.();
    }
  }

  /** The keys still open, in the order they opened. */
  get open(): string[] {
    return [...this.#open.keys()];
  }
}
