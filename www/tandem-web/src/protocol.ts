// Messages between the page and the engine's Web Worker.
import type { CompletionBody } from "./completions.js";
import type { WireError } from "./errors.js";
import type { ChatCompletionChunk, EngineEvents, EngineEventType, EngineOptions } from "./types.js";

/** Page → worker. */
export type ToWorker =
  | { kind: "init"; options: EngineOptions }
  | { kind: "call"; id: number; method: "chat"; args: [CompletionBody] }
  | { kind: "call"; id: number; method: "redact" | "restore"; args: [string] }
  | { kind: "call"; id: number; method: "reset"; args: [] }
  | { kind: "abort"; id: number }
  | { kind: "close" };

/** Worker → page. */
export type FromWorker =
  | { kind: "event"; type: EngineEventType; event: EngineEvents[EngineEventType] }
  | { kind: "ready"; info: EngineEvents["ready"] }
  | { kind: "failed"; error: WireError }
  | { kind: "chunk"; id: number; chunk: ChatCompletionChunk }
  | { kind: "result"; id: number; value: unknown }
  | { kind: "error"; id: number; error: WireError };
