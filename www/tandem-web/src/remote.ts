// The engine seen from the page when it runs in a Web Worker: the same API as InlineEngine,
// every call and event carried by postMessage; an AbortSignal aborts the worker's call.
import { ChunkQueue, chatCompletions, type CompletionBody } from "./completions.js";
import { AbortError, fromWire } from "./errors.js";
import { Emitter, NOT_READY } from "./events.js";
import type { FromWorker, ToWorker } from "./protocol.js";
import type { ChatCompletionChunk, ChatCompletions, Engine, EngineEvents, EngineEventType, EngineOptions, Redaction } from "./types.js";

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** A streamed answer's chunks. */
  onChunk?(chunk: ChatCompletionChunk): void;
}

/** An engine whose models run in a dedicated Web Worker. */
export class OffThreadEngine implements Engine {
  readonly #events = new Emitter();
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #loaded = false;
  #info: EngineEvents["ready"] = NOT_READY;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /** Starts the worker and loads the models in it; `listen` may subscribe before loading starts. */
  static create(options: EngineOptions, worker: Worker, listen?: (engine: OffThreadEngine) => void): Promise<OffThreadEngine> {
    const engine = new OffThreadEngine(worker);
    listen?.(engine);
    return new Promise((resolve, reject) => {
      engine.#worker.onerror = (e) => {
        e.preventDefault();
        const err = new Error(`the engine's worker failed: ${e.message || "could not load its script"}`);
        reject(err);
        for (const p of engine.#pending.values()) p.reject(err);
        engine.#pending.clear();
      };
      engine.#worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
        if (data.kind === "ready") {
          engine.#loaded = true;
          engine.#info = data.info;
          resolve(engine);
        } else if (data.kind === "failed") {
          engine.#worker.terminate();
          reject(fromWire(data.error));
        } else engine.#receive(data);
      };
      // URLs are resolved here, against the page (in the worker a relative one would resolve
      // against the worker's script), and cross as text: a URL object does not survive
      // postMessage. A signal cannot cross at all: aborting ends the worker from here.
      const { signal, ...rest } = options;
      const page = (url: string | URL) => new URL(String(url), globalThis.location?.href).href;
      const wasm = typeof rest.wasm === "string" || rest.wasm instanceof URL ? page(rest.wasm) : rest.wasm;
      const threadsWasm = rest.threadsWasm && page(rest.threadsWasm);
      const manifestUrl = rest.manifestUrl && page(rest.manifestUrl);
      const models = rest.models && { ...rest.models, baseUrl: page(rest.models.baseUrl) };
      signal?.addEventListener(
        "abort",
        () => {
          if (engine.#loaded) return;
          engine.#worker.terminate();
          reject(new AbortError("loading was aborted", { code: "aborted", cause: signal.reason }));
        },
        { once: true },
      );
      engine.#send({ kind: "init", options: { ...rest, wasm, threadsWasm, manifestUrl, models, inWorker: false, workerScript: undefined } });
    });
  }

  get info(): EngineEvents["ready"] {
    return this.#info;
  }

  on<K extends EngineEventType>(type: K, listener: (event: EngineEvents[K]) => void): () => void {
    return this.#events.on(type, listener);
  }

  readonly chat: ChatCompletions = chatCompletions((body, signal) => this.#stream(body, signal));

  /** Runs one answer in the worker; its chunks arrive by postMessage. Aborting or closing the loop early aborts it there. */
  #stream(body: CompletionBody, signal?: AbortSignal): AsyncIterable<ChatCompletionChunk> {
    signal?.throwIfAborted();
    const id = this.#nextId++;
    const abort = () => this.#send({ kind: "abort", id });
    const queue = new ChunkQueue<ChatCompletionChunk>(abort);
    signal?.addEventListener("abort", abort, { once: true });
    const settle = () => signal?.removeEventListener("abort", abort);
    this.#pending.set(id, {
      resolve: () => (settle(), queue.end()),
      reject: (err) => (settle(), queue.fail(err)),
      onChunk: (chunk) => queue.push(chunk),
    });
    this.#send({ kind: "call", id, method: "chat", args: [body] });
    return queue;
  }

  redact(text: string): Promise<Redaction> {
    const id = this.#nextId++;
    return this.#call(id, { kind: "call", id, method: "redact", args: [text] });
  }

  restore(text: string): Promise<string> {
    const id = this.#nextId++;
    return this.#call(id, { kind: "call", id, method: "restore", args: [text] });
  }

  async reset(): Promise<void> {
    const id = this.#nextId++;
    await this.#call(id, { kind: "call", id, method: "reset", args: [] });
  }

  close(): void {
    this.#send({ kind: "close" });
    for (const p of this.#pending.values()) p.reject(new Error("the engine was closed"));
    this.#pending.clear();
  }

  #call<T>(id: number, message: ToWorker): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#send(message);
    });
  }

  #send(message: ToWorker): void {
    this.#worker.postMessage(message);
  }

  #receive(data: FromWorker): void {
    if (data.kind === "event") {
      if (data.type === "ready") this.#info = data.event as EngineEvents["ready"];
      this.#events.emit(data.type, data.event as never);
      return;
    }
    if (data.kind !== "chunk" && data.kind !== "result" && data.kind !== "error") return;
    const pending = this.#pending.get(data.id);
    if (!pending) return;
    if (data.kind === "chunk") {
      pending.onChunk?.(data.chunk);
    } else if (data.kind === "result") {
      this.#pending.delete(data.id);
      pending.resolve(data.value);
    } else {
      this.#pending.delete(data.id);
      pending.reject(fromWire(data.error));
    }
  }
}
