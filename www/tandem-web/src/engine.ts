// The engine on the calling thread: shield → router → local answer or cloud (plain or
// speculative) → restore, with an event for each step. `createEngine` puts it behind a Web
// Worker by default (see remote.ts); the API is the same.
import type { Analysis, Analyzer, CloudTokens, GenerationResult, LocalModel, ModelBuffer, RouteContext, Shield } from "./wasm/tandem_wasm.js";
import { Cloud } from "./cloud.js";
import { AbortError, CloudUnreachable, ModelLoadError, TandemError } from "./errors.js";
import { answerChunks, chatCompletions, type AnswerSettings } from "./completions.js";
import { Emitter, NOT_READY } from "./events.js";
import { startWasm, type StartedBuild, type WasmBuild } from "./wasm-build.js";
import { fetchModelFile, fetchModelInto, knownManifest, type FileSink, loadManifest, LoadProgress, localBudget, pickLocalModel, pruneCache } from "./models.js";
import type {
  CascadeBar,
  ChatCompletions,
  ChatMessage,
  ChatResult,
  Detection,
  DevicePreference,
  Engine,
  EngineEvents,
  EngineEventType,
  EngineOptions,
  ModelFile,
  Redaction,
  Route,
  Usage,
} from "./types.js";

/** Prices of a GPT-4o-class model (dollars per million tokens), the cost meter's default. */
export const DEFAULT_PRICING = { inputPerMTok: 2.5, outputPerMTok: 10 };

type RouteEvent = EngineEvents["route"];

/** The engine on the thread that runs the models (the page, or the Web Worker behind an `OffThreadEngine`). */
export class InlineEngine implements Engine {
  readonly #events = new Emitter();
  readonly #options: EngineOptions;
  #shield!: Shield;
  #analyzer: Analyzer | null = null;
  #local: LocalModel | null = null;
  #localName: string | null = null;
  #localReason: string | null = null;
  #cloud: Cloud | null = null;
  #info: EngineEvents["ready"] = NOT_READY;
  #total: Usage = emptyUsage();
  /** Model entities by message text (bounded; see `#modelEntities`). */
  readonly #entities = new Map<string, Detection[]>();
  /**
   * Where each user message was answered, and whether it stayed local for its personal data:
   * the router keeps a conversation on one side (bounded like `#entities`).
   */
  readonly #routes = new Map<string, { route: Route; private: boolean }>();
  #busy: Promise<unknown> = Promise.resolve();

  private constructor(options: EngineOptions) {
    this.#options = options;
  }

  /** Loads the wasm and the manifest's models; progress and `ready` events go to `listen`. */
  static async create(options: EngineOptions = {}, listen?: (engine: InlineEngine) => void): Promise<InlineEngine> {
    const engine = new InlineEngine(options);
    listen?.(engine);
    try {
      await engine.#load();
    } catch (err) {
      engine.close();
      const signal = options.signal;
      if (signal?.aborted) throw err instanceof AbortError ? err : new AbortError("loading was aborted", { code: "aborted", cause: signal.reason });
      throw err;
    }
    return engine;
  }

  get info(): EngineEvents["ready"] {
    return this.#info;
  }

  on<K extends EngineEventType>(type: K, listener: (event: EngineEvents[K]) => void): () => void {
    return this.#events.on(type, listener);
  }

  async redact(text: string): Promise<Redaction> {
    return this.#serial(async () => this.#shield.redact(text, await this.#modelEntities(text)));
  }

  async restore(text: string): Promise<string> {
    return this.#shield.restore(text);
  }

  async reset(): Promise<void> {
    this.#shield.reset();
    this.#routes.clear();
  }

  close(): void {
    this.#analyzer?.free();
    this.#local?.free();
    this.#shield?.free();
    this.#analyzer = this.#local = null;
  }

  readonly chat: ChatCompletions = chatCompletions((body, signal) =>
    answerChunks((messages, settings, onToken) => this.#serial(() => this.#chat(messages, settings, onToken)), body, signal),
  );

  async #load(): Promise<void> {
    const o = this.#options;
    const models = !!(o.manifestUrl || o.models);
    // The device decides the build: the threaded one is CPU-only.
    const picked = models ? await pickDevice(o.device ?? "auto") : null;
    const build = await startWasm(o, !picked ? "no-models" : picked.device === "cpu" ? "cpu" : "webgpu");
    this.#shield = new build.wasm.Shield(o.shield);
    if (o.workerUrl) {
      this.#cloud = new Cloud({ workerUrl: o.workerUrl, token: o.token, seal: o.seal, timeoutMs: o.cloudTimeoutMs ?? 15_000, sealClient: build.wasm.SealClient });
    }
    if (!picked) {
      this.#ready("none", null, build);
      return;
    }
    const { Analyzer, LocalModel } = build.wasm;
    const signal = o.signal;
    const { manifest, base } = o.manifestUrl ? await loadManifest(o.manifestUrl, signal) : knownManifest(o.models!);
    await pruneCache(manifest, base);
    const { device, reason, gpu } = picked;
    let backend: "webgpu" | "cpu" | "none" = "none";
    let fallbackReason = reason;
    const want = o.load ?? {};
    const a = want.analyzer !== false ? manifest.analyzer : undefined;
    const analyzerFiles = a ? [a.config, a.model, a.tokenizer, ...(a.heads ? [a.heads] : [])] : [];
    const target = o.speculative ? o.speculative.targetModel : undefined;
    const choice = manifest.local?.length && want.local !== false
      ? pickLocalModel(manifest.local, { name: o.localModel, budget: o.localBudgetBytes ?? localBudget(), target, gpu })
      : null;
    this.#localReason = choice?.reason ?? null;
    const entry = choice?.entry;
    const progress = new LoadProgress([...analyzerFiles, ...(entry ? [entry.file] : [])], (p) => this.#events.emit("progress", p));
    // One file at a time: progress reads naturally, and peak memory stays lower.
    const fetchFile = (file: ModelFile) => fetchModelFile(file, base, progress.file(file), signal);
    // A large file straight into the module's memory: the page holds it once, not twice.
    const fetchBuffer = (file: ModelFile) => fetchModelInto(file, base, progress.file(file), signal, (bytes) => modelBufferSink(build.wasm, bytes));
    if (a) {
      const config = await fetchFile(a.config);
      const model = await fetchBuffer(a.model);
      let tokenizer: Uint8Array, heads: Uint8Array | undefined;
      try {
        tokenizer = await fetchFile(a.tokenizer);
        heads = a.heads ? await fetchFile(a.heads) : undefined;
        signal?.throwIfAborted();
      } catch (err) {
        model.free();
        throw err;
      }
      this.#analyzer = await progress.build("analyzer", analyzerFiles, () =>
        loading("the analyzer", () => Analyzer.loadBuffer(new TextDecoder().decode(config), model, tokenizer, heads, device)),
      );
      this.#analyzer.setModelPreset(o.shieldModel ?? "recall");
      backend = this.#analyzer.backend as "webgpu" | "cpu";
      fallbackReason ??= this.#analyzer.fallbackReason ?? null;
    }
    if (entry) {
      const buffer = await fetchBuffer(entry.file);
      if (signal?.aborted) buffer.free();
      signal?.throwIfAborted();
      this.#local = await progress.build(entry.name, [entry.file], () => loading(entry.name, () => LocalModel.fromGgufBuffer(buffer, device)));
      this.#localName = entry.name;
      backend = this.#local.backend as "webgpu" | "cpu";
      fallbackReason ??= this.#local.fallbackReason ?? null;
    }
    // The router believes what it was trained for: the head of this local model, where one ships.
    if (this.#analyzer && this.#localName) this.#analyzer.routeFor(this.#localName);
    this.#ready(backend, fallbackReason, build);
  }

  #ready(backend: "webgpu" | "cpu" | "none", fallbackReason: string | null, build: StartedBuild): void {
    this.#info = { backend, fallbackReason, threads: build.threads, threadsReason: build.reason, models: { local: this.#localName, localReason: this.#localReason, analyzer: !!this.#analyzer, routingFor: this.#analyzer?.routingFor ?? null } };
    this.#events.emit("ready", this.#info);
  }

  /** One call at a time: the models and the shield's conversation state are not reentrant. */
  #serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(f, f);
    this.#busy = run.catch(() => undefined);
    return run;
  }

  async #analyze(text: string, context?: RouteContext): Promise<Analysis | null> {
    if (!this.#analyzer) return null;
    const analysis = await this.#analyzer.analyze(text, this.#options.router, context);
    remember(this.#entities, text, analysis.modelEntities);
    return analysis;
  }

  /** The NER model's entities in `text`: earlier messages are redacted again every turn, so they are kept. */
  async #modelEntities(text: string): Promise<Detection[] | undefined> {
    return this.#entities.get(text) ?? (await this.#analyze(text))?.modelEntities;
  }

  async #chat(messages: ChatMessage[], options: AnswerSettings, onToken: OnToken): Promise<ChatResult> {
    const last = messages.findLast((m) => m.role === "user");
    if (!last) throw new TandemError("chat needs at least one user message", { code: "no_user_message" });
    options.signal?.throwIfAborted();
    const online = globalThis.navigator?.onLine !== false;
    const cloudAvailable = !!this.#cloud && online;
    const localAvailable = !!this.#local;
    if (!cloudAvailable && !localAvailable) {
      if (this.#cloud) throw new CloudUnreachable("offline, and no local model is loaded: nothing can answer", { code: "offline" });
      throw new TandemError("no worker URL and no local model: nothing can answer", { code: "nothing_can_answer" });
    }

    // Shield: the last user message is analyzed once (entities + route); every message that
    // may leave the page is redacted with the conversation's placeholders.
    const analysis = await this.#analyze(last.content, { cloudAvailable, localAvailable, ...this.#conversation(messages, last) });
    const redactedLast = this.#shield.redact(last.content, analysis?.modelEntities);
    let route = this.#decide(analysis, options.route ?? "auto", cloudAvailable, localAvailable, redactedLast.entities.length);
    this.#events.emit("redaction", {
      original: last.content,
      redacted: redactedLast.text,
      entities: redactedLast.entities,
      sent: route.route === "cloud",
    });
    this.#events.emit("route", route);

    const maxTokens = options.maxTokens ?? this.#options.maxTokens ?? 256;
    const say: OnToken = (piece, source) => {
      this.#events.emit("token", { text: piece, source });
      onToken(piece, source);
    };
    const usage = emptyUsage();
    let offline = !online;
    const redactAll = async (): Promise<ChatMessage[]> => {
      const out: ChatMessage[] = [];
      for (const m of messages) out.push(m === last ? { role: m.role, content: redactedLast.text } : { role: m.role, content: await this.#redactText(m.content) });
      return out;
    };
    /** The cloud's answer; `null` when the cloud is unreachable and the local model can answer instead. */
    const cloud = async (): Promise<Answer | null> => {
      try {
        return await this.#cloudAnswer(await redactAll(), maxTokens, usage, options, say);
      } catch (err) {
        if (!(err instanceof CloudUnreachable) || !this.#local) throw err;
        offline = true;
        route = {
          route: "local",
          pLocal: route.pLocal,
          reason: { kind: "cloudUnreachable", error: err.message },
          explanation: `the cloud is unreachable (${err.message}); answered on this device`,
        };
        this.#events.emit("route", route);
        return null;
      }
    };
    let result = route.route === "cloud" ? await cloud() : null;
    if (!result) {
      // The cascade watches only answers the router sent here on its own, with a cloud to switch to.
      const bar = route.reason.kind === "localSuffices" && cloudAvailable && this.#options.cascade ? this.#options.cascade : undefined;
      const local = await this.#localAnswer(messages, maxTokens, usage, options, say, bar);
      if (local.cascade && !local.cascade.keepLocal && bar) {
        const { meanLogprob, tokens } = local.cascade;
        route = {
          route: "cloud",
          pLocal: route.pLocal,
          reason: { kind: "lowConfidence", meanLogprob, tokens, minMeanLogprob: bar.minMeanLogprob },
          explanation: `the local model was unsure of its first ${tokens} tokens (mean log-probability ${meanLogprob.toFixed(2)} < ${bar.minMeanLogprob.toFixed(2)}); the cloud answers`,
        };
        this.#events.emit("redaction", { original: last.content, redacted: redactedLast.text, entities: redactedLast.entities, sent: true });
        this.#events.emit("route", route);
        result = (await cloud()) ?? (await this.#localAnswer(messages, maxTokens, usage, options, say));
      } else {
        result = local;
      }
    }
    const kept = route.reason.kind === "piiDense" || route.reason.kind === "privateConversation";
    remember(this.#routes, last.content, { route: route.route, private: kept });
    for (const k of Object.keys(usage) as (keyof Usage)[]) this.#total[k] += usage[k];
    this.#events.emit("usage", { ...this.#total });
    return {
      text: result.text,
      route: route.route,
      mode: result.mode,
      finishReason: result.finishReason,
      promptTokens: result.promptTokens,
      explanation: route.explanation,
      offline,
      redactions: redactedLast.entities.length,
      withheld: result.withheld,
      usage,
    };
  }

  /** The conversation before `last`, as the router weighs it: the previous answer's side, and whether it was kept private. */
  #conversation(messages: ChatMessage[], last: ChatMessage): Pick<RouteContext, "previous" | "private"> {
    const earlier = messages.slice(0, messages.lastIndexOf(last)).filter((m) => m.role === "user");
    const known = earlier.map((m) => this.#routes.get(m.content));
    return { previous: known.at(-1)?.route, private: known.some((k) => k?.private) };
  }

  #decide(analysis: Analysis | null, force: "auto" | Route, cloudAvailable: boolean, localAvailable: boolean, entities: number): RouteEvent {
    if (force !== "auto") {
      const possible = force === "cloud" ? cloudAvailable : localAvailable;
      if (possible) return { route: force, pLocal: analysis?.route.pLocal ?? null, reason: { kind: "userSetting", route: force }, explanation: `the caller asked for ${force}` };
    }
    if (analysis) {
      const r = analysis.route;
      return { route: r.route, pLocal: r.pLocal, reason: r.reason, explanation: r.explanation };
    }
    // No router model: the cloud when it can be reached, else the local model.
    if (!cloudAvailable) return { route: "local", pLocal: null, reason: { kind: "offline" }, explanation: "the cloud is unavailable; answered on this device" };
    if (!localAvailable) return { route: "cloud", pLocal: null, reason: { kind: "noLocalModel" }, explanation: "no local model is loaded" };
    return { route: "cloud", pLocal: null, reason: { kind: "noRouter" }, explanation: `no router model is loaded; the cloud answers (${entities} entities redacted)` };
  }

  async #redactText(text: string): Promise<string> {
    return this.#shield.redact(text, await this.#modelEntities(text)).text;
  }

  /** The cloud's answer, streamed through the restorer: plain, or speculative with the local model drafting. */
  async #cloudAnswer(messages: ChatMessage[], maxTokens: number, usage: Usage, options: AnswerSettings, say: OnToken): Promise<Answer> {
    const cloud = this.#cloud!;
    const pricing = this.#options.pricing ?? DEFAULT_PRICING;
    const restorer = this.#shield.restorer();
    let text = "";
    const emit = (piece: string) => {
      const restored = restorer.push(piece);
      if (!restored) return;
      text += restored;
      say(restored, "cloud");
    };
    const inputTokens = estimateTokens(messages.map((m) => m.content).join("\n"));
    const spec = this.#options.speculative;
    let mode: ChatResult["mode"] = "cloud";
    let finishReason: ChatResult["finishReason"] = "stop";
    let speculativeCost: number | undefined;
    if (spec && this.#local) {
      mode = "speculative";
      const session = crypto.randomUUID();
      const outcome = await this.#local.speculate(
        messages,
        { model: spec.targetModel, session, maxTokens, draftTokens: spec.draftTokens, ...options.sampling },
        (request: object) => {
          options.signal?.throwIfAborted();
          return cloud.verify(request, options.signal);
        },
        (round) => {
          options.signal?.throwIfAborted();
          this.#events.emit("draft", { drafted: round.drafted, accepted: round.accepted, next: round.next });
          if (round.text) emit(round.text);
        },
      );
      usage.cloudTokens = outcome.tokens.length;
      if (outcome.stopReason === "max_tokens") finishReason = "length";
      usage.drafted = outcome.drafted;
      usage.accepted = outcome.accepted;
      usage.targetPasses = outcome.rounds;
      usage.roundMs = outcome.roundMs;
      // Billed as the target worked (positions read, one output token per pass), against a
      // plain cloud answer to the same prompt.
      const price = (t: CloudTokens) => (t.input * pricing.inputPerMTok + t.output * pricing.outputPerMTok) / 1e6;
      speculativeCost = price(outcome.cloudTokens);
      usage.saved += price(outcome.plainCloudTokens) - speculativeCost;
    } else {
      const model = options.model ?? this.#options.cloudModel ?? "default";
      const stream = cloud.chat(model, messages, maxTokens, options.sampling, options.signal);
      let pieces = 0;
      for (;;) {
        const next = await stream.next();
        if (next.done) {
          usage.cloudTokens = next.value.completionTokens ?? Math.max(pieces, estimateTokens(text));
          if (next.value.finishReason === "length") finishReason = "length";
          break;
        }
        pieces++;
        emit(next.value);
      }
    }
    const rest = restorer.finish();
    if (rest) {
      text += rest;
      say(rest, "cloud");
    }
    usage.cost = speculativeCost ?? (inputTokens * pricing.inputPerMTok + usage.cloudTokens * pricing.outputPerMTok) / 1e6;
    return { text, mode, withheld: restorer.withheld, finishReason, promptTokens: inputTokens };
  }

  /**
   * The local model's answer to the original (unredacted) messages: nothing leaves the page.
   * With a cascade `bar`, its first tokens are held back until judged, and an answer that fails
   * the bar stops with nothing shown (`cascade.keepLocal` false).
   */
  async #localAnswer(messages: ChatMessage[], maxTokens: number, usage: Usage, options: AnswerSettings, say: OnToken, bar?: CascadeBar): Promise<Answer & { cascade?: GenerationResult["cascade"] }> {
    const pricing = this.#options.pricing ?? DEFAULT_PRICING;
    const result = await this.#local!.chat(messages, { maxTokens, ...options.sampling, ...(bar && { cascade: bar }) }, (piece: string) => {
      options.signal?.throwIfAborted(); // a throw here stops the generation
      say(piece, "local");
    });
    usage.localTokens += result.tokens.length;
    if (result.stopReason !== "cascade") {
      usage.saved += (result.promptTokens * pricing.inputPerMTok + result.tokens.length * pricing.outputPerMTok) / 1e6;
    }
    const finishReason = result.stopReason === "max_tokens" ? "length" : "stop";
    return { text: result.text, mode: "local", withheld: 0, finishReason, promptTokens: result.promptTokens, cascade: result.cascade };
  }
}

/** One side's answer, as `#chat` reports it. */
type Answer = Pick<ChatResult, "text" | "mode" | "withheld" | "finishReason" | "promptTokens">;

/** Where each restored piece of an answer goes: the `token` event and the caller's chunks. */
type OnToken = (text: string, source: Route) => void;

/**
 * The device to ask the wasm for. `"auto"` takes the CPU backend where there is no WebGPU or no
 * adapter, and where the only adapter is a software one (SwiftShader, WARP, llvmpipe), on which
 * the CPU backend is many times faster; a device that fails to start the wasm detects and
 * explains itself. `gpu`: the models will most likely run on WebGPU (a hardware adapter answered), which decides how much memory a
 * local model needs (a GPU holds the weights as codes beside the file: `residentBytes`).
 */
export async function pickDevice(preference: DevicePreference): Promise<{ device: DevicePreference; reason: string | null; gpu: boolean }> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } })?.gpu;
  if (preference === "cpu") return { device: preference, reason: null, gpu: false };
  if (!gpu) {
    // "webgpu" stays: the wasm tries, and says why it could not.
    if (preference === "webgpu") return { device: preference, reason: null, gpu: false };
    return { device: "cpu", reason: "WebGPU is not available (no navigator.gpu); using the CPU backend", gpu: false };
  }
  type Info = { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  const adapter = (await gpu.requestAdapter().catch(() => null)) as { isFallbackAdapter?: boolean; info?: Info } | null;
  if (preference === "webgpu") return { device: preference, reason: null, gpu: !!adapter };
  if (!adapter) return { device: "cpu", reason: "no WebGPU adapter answered; using the CPU backend", gpu: false };
  const info = adapter.info ?? {};
  const name = `${info.vendor ?? ""} ${info.architecture ?? ""} ${info.description ?? ""}`.trim().toLowerCase();
  if (adapter.isFallbackAdapter || info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|warp|software/.test(name)) {
    return { device: "cpu", reason: `the only WebGPU adapter is a software one (${name || "fallback"}); using the CPU backend, which is faster`, gpu: false };
  }
  return { device: "auto", reason: null, gpu: true };
}

/** Runs a model's load; the wasm's refusal of a malformed file becomes a `ModelLoadError`. */
/**
 * A model file read into the module's memory as it arrives (`ModelBuffer`), hashed there: no
 * second copy of it in JavaScript. Running out of memory is a `ModelLoadError`.
 */
function modelBufferSink(wasm: WasmBuild, expected: number): FileSink<ModelBuffer> {
  const tooLarge = (err: unknown) => new ModelLoadError((err as Error)?.message ?? String(err), { code: "model_too_large", cause: err });
  let buffer: ModelBuffer;
  try {
    buffer = new wasm.ModelBuffer(expected);
  } catch (err) {
    throw tooLarge(err);
  }
  return {
    push(chunk) {
      try {
        buffer.push(chunk);
      } catch (err) {
        throw tooLarge(err);
      }
    },
    sha256: async () => buffer.sha256(),
    take: () => buffer,
    discard: () => buffer.free(),
  };
}

async function loading<T>(what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw new ModelLoadError(`${what} could not be loaded: ${(err as Error)?.message ?? err}`, { code: "model_invalid", cause: err });
  }
}

/** Keeps `value` under `key`, dropping the oldest entry beyond 256. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > 256) map.delete(map.keys().next().value!);
}

/** About four characters per token: the cost meter's estimate where no tokenizer counted. */
function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function emptyUsage(): Usage {
  return { localTokens: 0, cloudTokens: 0, drafted: 0, accepted: 0, targetPasses: 0, roundMs: 0, cost: 0, saved: 0 };
}
