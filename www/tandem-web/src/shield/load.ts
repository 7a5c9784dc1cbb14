// The pattern-only shield: its own small wasm (no model stack), loaded once per page or process.
import init, { Shield, type InitInput, type Redaction, type ShieldOptions } from "../wasm-shield/tandem_wasm.js";

/**
 * What redacting and restoring need from a shield. The wasm `Shield` is one; an app may pass its
 * own, e.g. one that adds a model's entities to `redact`.
 */
export interface ShieldLike {
  /** Replaces personal data by placeholders; the same value gets the same placeholder each time. */
  redact(text: string): Redaction | Promise<Redaction>;
  /** Puts the originals back into a whole reply. */
  restore(text: string): string;
  /** A restorer for one reply that arrives in pieces. */
  restorer(): PieceRestorer;
}

/** Restores one streamed reply: `push` each piece and show what it returns, then `finish`. */
export interface PieceRestorer {
  push(piece: string): string;
  finish(): string;
  /** Releases wasm memory (wasm-bindgen classes); called after `finish`. */
  free?(): void;
}

/** How `shieldFetch` and `shieldMiddleware` get their shield. */
export interface ShieldSource {
  /**
   * The shield to use: share one with the rest of the app (or pass a promise of one). Default:
   * a new pattern shield with `options`, loaded on first use.
   */
  shield?: ShieldLike | Promise<ShieldLike>;
  /** Settings of the default shield (entity kinds, actions, minimum score). */
  options?: ShieldOptions;
  /**
   * The shield's wasm, where the runtime cannot fetch it from beside this module: in Node its
   * bytes (`readFile(require.resolve("@tandem/web/shield.wasm"))`), or a URL a bundler emitted.
   */
  wasm?: InitInput;
}

let loaded: Promise<unknown> | null = null;

/**
 * Loads the shield's wasm (once; later calls reuse it) and makes a pattern shield: e-mails,
 * phones, cards, IBANs, SSNs, IP addresses, URLs, secrets and dates of birth, with no model.
 */
export async function loadShield(options: Pick<ShieldSource, "options" | "wasm"> = {}): Promise<Shield> {
  loaded ??= init(options.wasm === undefined ? undefined : { module_or_path: options.wasm }).catch((err: unknown) => {
    loaded = null;
    throw new Error(`the shield's wasm could not be loaded: ${(err as Error)?.message ?? err}`);
  });
  await loaded;
  return new Shield(options.options);
}

/** The shield a `ShieldSource` names, made on first call and kept. */
export function shieldOf(source: ShieldSource): () => Promise<ShieldLike> {
  let shield: Promise<ShieldLike> | null = null;
  return () => {
    if (!shield) {
      shield = Promise.resolve(source.shield ?? loadShield(source));
      shield.catch(() => (shield = null)); // a failed load is tried again on the next call
    }
    return shield;
  };
}
