/**
 * Tandem in the page: a PII shield, an on-device router and a local model (Rust compiled to
 * WebAssembly, on WebGPU or the CPU backend), with an edge worker for cloud models.
 *
 * ```ts
 * import { createEngine } from "@tandem/web";
 * const engine = await createEngine({ workerUrl: "https://ai.example.com", token, manifestUrl: "/models/manifest.json" });
 * engine.on("route", (r) => console.log(r.route, r.explanation));
 * const stream = await engine.chat.completions.create({ messages: [{ role: "user", content: "Mail jane@example.com a haiku" }], stream: true });
 * for await (const chunk of stream) print(chunk.choices[0]?.delta.content ?? "");
 * ```
 * @packageDocumentation
 */
import { InlineEngine } from "./engine.js";
import { OffThreadEngine } from "./remote.js";
import type { Engine, EngineOptions } from "./types.js";

export type * from "./types.js";
export { DEFAULT_PRICING, InlineEngine, pickDevice } from "./engine.js";
export { OffThreadEngine } from "./remote.js";
export { AbortError, AuthError, CloudError, CloudUnreachable, IntegrityError, ModelLoadError, RateLimitError, TandemError } from "./errors.js";
export { CACHE_NAME, knownManifest, localBudget, pickLocalModel, residentBytes, sha256Hex, type KnownModel, type KnownModels } from "./models.js";
export { KNOWN_MODELS } from "./registry.js";
export { Shield, StreamRestorer, default as initWasm } from "./wasm/tandem_wasm.js";

/**
 * Creates an engine: in a Web Worker by default (the page stays responsive while models
 * load and run), on the calling thread with `inWorker: false`. `listen` subscribes to events
 * before loading starts, so that download progress is seen.
 */
export function createEngine(options: EngineOptions = {}, listen?: (engine: Engine) => void): Promise<Engine> {
  const inWorker = options.inWorker ?? typeof Worker !== "undefined";
  if (!inWorker) return InlineEngine.create(options, listen);
  // Written out in full so that bundlers (Vite, webpack) see and bundle the worker script.
  const worker = options.workerScript
    ? new Worker(options.workerScript, { type: "module", name: "tandem-engine" })
    : new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "tandem-engine" });
  return OffThreadEngine.create(options, worker, listen);
}
