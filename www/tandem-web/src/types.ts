// The public types of the engine: options, chat results and events.
import type { KnownModels } from "./models.js";
import type { Detection, Redaction, RouteReason, RouterPolicy, ShieldOptions } from "./wasm/tandem_wasm.js";

export type { Detection, Redaction, RouteReason, RouterPolicy, ShieldOptions };

/** Which compute backend the models run on. `"auto"` takes WebGPU unless the only adapter is a software one. */
export type DevicePreference = "auto" | "webgpu" | "cpu";

/** Where an answer came from. */
export type Route = "local" | "cloud";

/** One chat message, as OpenAI's API has it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** One file of a model, pinned by its sha256. `url` is relative to the manifest. */
export interface ModelFile {
  url: string;
  sha256: string;
  bytes?: number;
}

/**
 * The models an app ships, by version. When an app publishes a manifest with
 * different hashes, the engine downloads the new files and drops the old ones
 * from its cache.
 */
export interface ModelManifest {
  version: string;
  /**
   * The local causal LMs (GGUF) the app offers, in any order. The engine loads one: the
   * largest that fits the device (`pickLocalModel`), or the one `EngineOptions.localModel`
   * names. It answers locally and drafts for speculative decoding.
   */
  local?: LocalModelEntry[];
  /** The on-device encoder with its NER and routing heads. */
  analyzer?: { config: ModelFile; model: ModelFile; tokenizer: ModelFile; heads?: ModelFile };
}

/** One local causal LM of the manifest. */
export interface LocalModelEntry {
  /** Its registry name (`tandem models list`): the router loads the routing head trained on this model's answers. */
  name: string;
  file: ModelFile;
  /**
   * Bytes it needs resident: weights, KV cache and scratch. Default on the CPU backend:
   * `file.bytes` × 1.25 + 64 MiB (weights stay quantized; the native engine's measured peak
   * is 1.16× the GGUF for Qwen2.5-Coder-0.5B); on WebGPU `file.bytes` × 2.5 + 64 MiB (the
   * file stays in the tab, and the GPU holds the matrices as 4- to 8-bit codes).
   */
  memory?: number;
  /** Its parameter count (informational: shown to users, not used in the estimate). */
  parameters?: number;
  /**
   * Target models it can draft for (they share its tokenizer). With `speculative`, the engine
   * only picks a model that drafts for the target.
   */
  drafts?: string[];
}

/** Estimated cloud prices in dollars per million tokens, for the cost meter. */
export interface Pricing {
  inputPerMTok: number;
  outputPerMTok: number;
}

/** How `createEngine` sets up an engine. Every field is optional. */
export interface EngineOptions {
  /** The edge worker's base URL (e.g. `https://ai.example.com`); without one every answer is local. */
  workerUrl?: string;
  /** The client token the worker expects (`Authorization: Bearer …`). */
  token?: string;
  /**
   * The cloud model's name for plain chats (default `"default"`: the worker's `default_model`,
   * or its first public model).
   */
  cloudModel?: string;
  /** Speculative decoding for cloud answers: the local model drafts, the worker's target verifies.
   *  `draftTokens` fixes the draft length; omitted, it is chosen per round from measured acceptance
   *  and costs, down to plain rounds when drafting does not pay. */
  speculative?: { targetModel: string; draftTokens?: number } | false;
  /**
   * Seal every request to the worker end to end (HPKE). In production pin the keys: `{ keys }`
   * (the worker's key list, JSON, shipped with the app) or `{ keysUrl }` (fetched from another
   * origin than the worker's). `true` fetches them from the worker on first use: convenient,
   * but an attacker on that channel could hand out their own key. Fetched keys are fetched
   * again, once, when the worker says it no longer knows them (a rotation).
   */
  seal?: boolean | { keys: string } | { keysUrl: string };
  /** Model manifest URL (JSON, see `ModelManifest`; `tandem models manifest` writes it). */
  manifestUrl?: string;
  /**
   * Or known models by name (`tandem models list`; the package ships their hashes), served from
   * `baseUrl` as `NAME.gguf` and `NAME/FILE`, the layout of Tandem's model cache:
   * `{ baseUrl: "/models/", local: ["smollm2-135m"] }`. Default `local`: SmolLM2-135M;
   * default `analyzer`: all-MiniLM-L6-v2 (`false`: none). Without either, no model is loaded.
   */
  models?: KnownModels;
  /** Aborts loading: `createEngine` then rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** Which of the manifest's models to load (default: both). */
  load?: { local?: boolean; analyzer?: boolean };
  /**
   * The manifest's local model to load, by name. Default: the largest that fits the device's
   * budget (`localBudgetBytes`), among those that draft for the speculative target when
   * speculation is on.
   */
  localModel?: string;
  /**
   * Bytes a local model may take in this tab. Default: a quarter of `navigator.deviceMemory`
   * (which browsers round and cap at 8 GiB; 4 GiB assumed where it is missing), at most 2 GiB
   * (wasm32 addresses 4 GiB, and the analyzer and the page need their share).
   */
  localBudgetBytes?: number;
  device?: DevicePreference;
  /** Run the engine in a Web Worker (default `true` where `Worker` exists). */
  inWorker?: boolean;
  /**
   * The engine's wasm, where the runtime cannot fetch it from beside the package's module: its
   * URL as a bundler emitted it, or in Node its bytes (`@tandem/web/tandem.wasm`).
   */
  wasm?: string | URL | BufferSource;
  /** The Web Worker script, when a bundler cannot resolve the package's own (`@tandem/web/worker`). */
  workerScript?: string | URL;
  /**
   * Threads for the CPU backend: `"auto"` (default) takes the device's cores, up to 8; `1` keeps
   * the default build. More than one thread runs the package's threaded build, which is CPU-only
   * and needs shared memory: the engine in its Web Worker (the default), on a cross-origin
   * isolated page (`Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Embedder-Policy:
   * require-corp`). Where it cannot run, one thread, and `ready.threadsReason` says why.
   */
  threads?: "auto" | number;
  /** The threaded build's wasm, where a bundler moved it (`@tandem/web/tandem-threads.wasm`); see `wasm`. */
  threadsWasm?: string | URL;
  router?: RouterPolicy;
  shield?: ShieldOptions;
  /**
   * How sure the on-device NER model must be before a name, place or organization is redacted:
   * `"recall"` (default: leak as few as possible) or `"precision"` (change as few ordinary words
   * as possible). Measured precision and recall of both: docs/shield.md.
   */
  shieldModel?: "recall" | "precision";
  pricing?: Pricing;
  /** A cloud request with no response headers after this long fails over to the local model (default 15 000). */
  cloudTimeoutMs?: number;
  /** Most tokens per answer (default 256). */
  maxTokens?: number;
  /**
   * The cascade (default off): when the router sends a message to the local model, its first
   * `tokens` pieces are held back, and if the model's mean log-probability of them is under
   * `minMeanLogprob` the answer is stopped and the cloud answers instead (a `route` event with
   * reason `lowConfidence`). It costs the time of those tokens before the first one shows.
   * Measured switch rates and how well it separates bad answers: docs/router.md.
   */
  cascade?: CascadeBar | false;
}

/** When the cascade hands a local answer to the cloud (see `EngineOptions.cascade`). */
export interface CascadeBar {
  tokens: number;
  minMeanLogprob: number;
}

/**
 * A request of `engine.chat.completions.create`, as OpenAI's chat completions API has it. The
 * sampling settings reach whichever model answers: the local one, the cloud, or both when
 * speculating.
 */
export interface ChatCompletionCreateParams {
  messages: ChatMessage[];
  /** The cloud model for this answer (default: `EngineOptions.cloudModel`). */
  model?: string;
  /** `true`: an async iterable of chunks; otherwise the whole completion. */
  stream?: boolean | null;
  max_tokens?: number | null;
  /** Takes precedence over `max_tokens`, as in OpenAI's API. */
  max_completion_tokens?: number | null;
  /** Default 0 (greedy) for the local model; the cloud model's own default in the cloud. */
  temperature?: number | null;
  top_p?: number | null;
  /** The same seed gives the same local (and speculative) answer. */
  seed?: number | null;
  /** Aborts the answer (as the OpenAI SDK's second argument's `signal` does too). */
  signal?: AbortSignal;
  /** Tandem's own settings for this call. */
  tandem?: {
    /** Overrides the router for this call. */
    route?: "auto" | Route;
  };
}

/** The second argument of `create`, as in the OpenAI SDK. */
export interface RequestOptions {
  signal?: AbortSignal;
}

/** Why an answer ended: its natural end, or `max_tokens`. */
export type FinishReason = "stop" | "length";

/** Token counts in OpenAI's shape (the prompt estimated at four characters a token where no tokenizer counted). */
export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** One streamed piece of an answer, as OpenAI's `chat.completion.chunk`. */
export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: { index: 0; delta: { role?: "assistant"; content?: string }; finish_reason: FinishReason | null }[];
  /** On the last chunk only. */
  usage?: CompletionUsage;
  /**
   * Tandem's report: on content chunks, which side wrote the piece (`{ source }`); on the last
   * chunk, the whole answer's route, mode, redactions and usage (`ChatResult`).
   */
  tandem?: { source: Route } | ChatResult;
}

/** A whole answer, as OpenAI's `chat.completion`. */
export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: { index: 0; message: { role: "assistant"; content: string }; finish_reason: FinishReason }[];
  usage: CompletionUsage;
  tandem: ChatResult;
}

/** `engine.chat`: OpenAI's chat completions API, answered by the engine's pipeline. */
export interface ChatCompletions {
  completions: {
    /**
     * Runs shield → router → local answer or cloud (plain or speculative) → restore. With
     * `stream: true` it resolves to the chunks (leaving the loop early aborts the answer),
     * otherwise to the whole completion.
     */
    create(body: ChatCompletionCreateParams & { stream: true }, options?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
    create(body: ChatCompletionCreateParams & { stream?: false | null }, options?: RequestOptions): Promise<ChatCompletion>;
    create(body: ChatCompletionCreateParams, options?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion>;
  };
}

/** How the answer was produced. */
export type ChatMode = "local" | "cloud" | "speculative";

/** What Tandem reports about an answer: the `tandem` field of a completion and of its last chunk. */
export interface ChatResult {
  text: string;
  route: Route;
  mode: ChatMode;
  finishReason: FinishReason;
  /** The prompt's tokens: counted by the local model's tokenizer, estimated for the cloud. */
  promptTokens: number;
  /** The router's sentence for this route. */
  explanation: string;
  /** True when the cloud was unreachable and the answer is local for that reason. */
  offline: boolean;
  /** Entities replaced before anything left the page (only meaningful for cloud answers). */
  redactions: number;
  /**
   * Placeholders the cloud's reply put inside a link or HTML markup, left unrestored: restoring
   * there would let the page send the original wherever the link points (see `restoreInLinks`).
   */
  withheld: number;
  usage: Usage;
}

/** Token counts and estimated dollars for one answer (or, in the `usage` event, the session). */
export interface Usage {
  localTokens: number;
  cloudTokens: number;
  /** Draft tokens sent to the verifier and accepted by it. */
  drafted: number;
  accepted: number;
  /** Speculative answers: target passes (verification rounds; a plain cloud answer takes one
   *  per token) and the milliseconds spent waiting on them. */
  targetPasses: number;
  roundMs: number;
  /** Estimated cloud cost of what was sent to the cloud. */
  cost: number;
  /** Estimated cloud cost avoided: by answering locally, or, for a speculative answer, against
   *  a plain cloud answer (the target billed for the positions it read, prompt-priced, and one
   *  output token per pass; negative when rejected drafts cost more than the passes saved). */
  saved: number;
}

/** Everything the engine reports, as `engine.on(type, listener)` delivers it. */
export interface EngineEvents {
  /**
   * Loading progress: `file`'s bytes `loaded` of `total` in its `phase` (downloading, checking
   * its sha256, building its model), `cached` when it came from the Cache API, and `fraction`
   * (0 to 1) of the whole load across every file and phase.
   */
  progress: { file: string; loaded: number; total: number; cached: boolean; phase: "download" | "verify" | "load"; fraction: number };
  /** The engine is ready: the backend the models run on, and why not WebGPU when not. */
  ready: {
    backend: "webgpu" | "cpu" | "none";
    fallbackReason: string | null;
    /**
     * Threads the CPU backend's quantized products run on: more than 1 with the threaded build
     * (`EngineOptions.threads`), else 1.
     */
    threads: number;
    /** Why one thread where `EngineOptions.threads` wanted more: WebGPU, no cross-origin isolation… */
    threadsReason: string | null;
    models: {
      /** The local model loaded, by name; `null`: none. */
      local: string | null;
      /** Why that one: named by the app, or the largest that fits the budget. */
      localReason: string | null;
      analyzer: boolean;
      /** The local model the router's head was trained for; `null`: the weak/strong head (Mixtral-8x7B against GPT-4). */
      routingFor: string | null;
    };
  };
  /** The last user message, with what was found in it and the text that may leave the page. */
  redaction: { original: string; redacted: string; entities: Detection[]; sent: boolean };
  /** The route chosen for this message, with the local-suffices probability and the reason. */
  route: {
    route: Route;
    pLocal: number | null;
    /**
     * The router's reason, or the engine's own: no router model loaded, the cloud failed
     * before answering, or the cascade found the local model unsure of its first tokens.
     */
    reason:
      | RouteReason
      | { kind: "noRouter" }
      | { kind: "cloudUnreachable"; error: string }
      | { kind: "lowConfidence"; meanLogprob: number; tokens: number; minMeanLogprob: number };
    explanation: string;
  };
  /** One speculative round: drafted pieces, how many the target accepted, its own next token. */
  draft: { drafted: string[]; accepted: number; next: string };
  /** A piece of the answer. */
  token: { text: string; source: Route };
  /** Running totals for the session. */
  usage: Usage;
}

/** The names of the engine's events. */
export type EngineEventType = keyof EngineEvents;

/** The engine, on the main thread or behind a Web Worker: the same API either way. */
export interface Engine {
  /** OpenAI's chat completions API: `engine.chat.completions.create({ messages, stream: true })`. */
  readonly chat: ChatCompletions;
  /** Redacts text with the conversation's shield (patterns, plus the NER model when loaded). */
  redact(text: string): Promise<Redaction>;
  /** Puts the originals back into text that holds this conversation's placeholders. */
  restore(text: string): Promise<string>;
  /** Starts a new conversation: placeholders issued so far are forgotten. */
  reset(): Promise<void>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends EngineEventType>(type: K, listener: (event: EngineEvents[K]) => void): () => void;
  /** What `ready` reported. */
  readonly info: EngineEvents["ready"];
  /** Releases the models (and the Web Worker). */
  close(): void;
}
