// Model files: downloaded with progress, verified by sha256, kept in the Cache API, and
// swapped when the manifest names new versions.
import { IntegrityError, ModelLoadError } from "./errors.js";
import { KNOWN_MODELS } from "./registry.js";
import type { LocalModelEntry, ModelFile, ModelManifest } from "./types.js";

/** The Cache API bucket the engine owns. */
export const CACHE_NAME = "tandem-models";

/** A model of Tandem's registry (`tandem models list`), as `registry.ts` ships it. */
export interface KnownModel {
  description: string;
  /** A one-file model (GGUF), served as `NAME.gguf`. */
  bytes?: number;
  sha256?: string;
  /** A model of several files (the encoder), served as `NAME/FILE`. */
  files?: Record<string, { bytes: number; sha256: string }>;
  drafts?: string[];
  parameters?: number;
}

/** Which known models to load, from where (see `EngineOptions.models`). */
export interface KnownModels {
  baseUrl: string | URL;
  local?: string[];
  analyzer?: string | false;
}

/**
 * The manifest of known models served from `baseUrl` the way `tandem models manifest` lays out
 * Tandem's model cache: `NAME.gguf` for a local model, `NAME/FILE` for the encoder's files.
 */
export function knownManifest(want: KnownModels, known: Record<string, KnownModel> = KNOWN_MODELS): { manifest: ModelManifest; base: string } {
  const find = (name: string) => {
    const model = known[name];
    if (!model) throw new ModelLoadError(`"${name}" is not a known model (known: ${Object.keys(known).join(", ")})`, { code: "model_unknown" });
    return model;
  };
  const base = new URL(String(want.baseUrl), globalThis.location?.href).href.replace(/\/?$/, "/");
  const local = (want.local ?? ["smollm2-135m"]).map((name): LocalModelEntry => {
    const m = find(name);
    if (!m.sha256 || !m.bytes) throw new ModelLoadError(`"${name}" is not a local model (one GGUF file)`, { code: "model_unknown" });
    return { name, file: { url: `${name}.gguf`, sha256: m.sha256, bytes: m.bytes }, drafts: m.drafts, parameters: m.parameters };
  });
  const analyzerName = want.analyzer ?? "all-minilm-l6-v2";
  let analyzer: ModelManifest["analyzer"];
  if (analyzerName) {
    const files = find(analyzerName).files ?? {};
    const file = (f: string) => {
      if (!files[f]) throw new ModelLoadError(`"${analyzerName}" is not an encoder (no ${f})`, { code: "model_unknown" });
      return { url: `${analyzerName}/${f}`, ...files[f] };
    };
    analyzer = { config: file("config.json"), model: file("model.safetensors"), tokenizer: file("tokenizer.json") };
  }
  const version = `registry:${[...local.map((l) => l.file.sha256), analyzer?.model.sha256 ?? ""].join("+")}`;
  return { manifest: { version, local, analyzer }, base };
}

/** What a load is doing: downloading a file, checking its sha256, or building a model from files. */
export type LoadPhase = "download" | "verify" | "load";

/** Reports one file's bytes as they arrive, and when it is being verified. */
export type Progress = (p: { file: string; loaded: number; total: number; cached: boolean; phase: LoadPhase }) => void;

/**
 * A whole load's progress as one fraction, by the manifest's byte counts (1 MiB where one is
 * missing): each file's download and check make 85 % of its share, building its model the rest.
 */
export class LoadProgress {
  readonly #emit: (p: Parameters<Progress>[0] & { fraction: number }) => void;
  readonly #total: number;
  readonly #downloaded = new Map<ModelFile, number>();
  #built = 0;

  constructor(files: ModelFile[], emit: (p: Parameters<Progress>[0] & { fraction: number }) => void) {
    this.#emit = emit;
    this.#total = files.reduce((n, f) => n + weight(f), 0) || 1;
  }

  /** The download callback of one file. */
  file(file: ModelFile): Progress {
    return (p) => {
      this.#downloaded.set(file, weight(file) * (p.total ? Math.min(1, p.loaded / p.total) : 0));
      this.#emit({ ...p, fraction: this.#fraction() });
    };
  }

  /** Builds a model from `files` (parsing, uploading to the GPU), reporting before and after. */
  async build<T>(name: string, files: ModelFile[], build: () => Promise<T>): Promise<T> {
    const bytes = files.reduce((n, f) => n + weight(f), 0);
    this.#emit({ file: name, loaded: 0, total: bytes, cached: false, phase: "load", fraction: this.#fraction() });
    const built = await build();
    this.#built += bytes;
    this.#emit({ file: name, loaded: bytes, total: bytes, cached: false, phase: "load", fraction: this.#fraction() });
    return built;
  }

  #fraction(): number {
    let downloaded = 0;
    for (const n of this.#downloaded.values()) downloaded += n;
    // Rounded, so that a finished load is exactly 1.
    return Math.min(1, Math.round(((0.85 * downloaded + 0.15 * this.#built) / this.#total) * 1e6) / 1e6);
  }
}

const weight = (file: ModelFile) => file.bytes ?? 2 ** 20;

/** `fetch`, with a network failure as a `ModelLoadError` (an abort stays an abort). */
async function get(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (init.signal?.aborted) throw err;
    throw new ModelLoadError(`${url} could not be fetched: ${(err as Error).message}`, { code: "network", cause: err });
  }
}

/** Fetches and checks the manifest. */
export async function loadManifest(url: string, signal?: AbortSignal): Promise<{ manifest: ModelManifest; base: string }> {
  const response = await get(url, { signal, cache: "no-cache" });
  if (!response.ok) throw new ModelLoadError(`model manifest ${url}: HTTP ${response.status}`, { code: "manifest_http", status: response.status });
  let manifest: ModelManifest;
  try {
    manifest = (await response.json()) as ModelManifest;
  } catch (err) {
    throw new ModelLoadError(`model manifest ${url} is not JSON: ${(err as Error).message}`, { code: "manifest_invalid" });
  }
  for (const file of manifestFiles(manifest)) {
    if (typeof file.url !== "string" || !/^[0-9a-f]{64}$/.test(file.sha256 ?? "")) {
      throw new ModelLoadError(`model manifest ${url}: every file needs a url and a hex sha256`, { code: "manifest_invalid" });
    }
  }
  return { manifest, base: new URL(url, globalThis.location?.href).href };
}

/** Every file the manifest names. */
export function manifestFiles(manifest: ModelManifest): ModelFile[] {
  const a = manifest.analyzer;
  return [...(manifest.local ?? []).map((m) => m.file), a?.config, a?.model, a?.tokenizer, a?.heads].filter((f): f is ModelFile => !!f);
}

const MIB = 1 << 20;
const GIB = 1 << 30;

/**
 * Bytes a local model needs resident: its own estimate, else the GGUF's size × 1.25 + 64 MiB
 * on the CPU backend (weights stay in their blocks), and × 2.5 + 64 MiB on a GPU (the file
 * stays in the tab for the embedding and tokenizer, and the GPU holds the matrices as 4- to
 * 8-bit codes with a scale and offset per group: 1.2–1.4× their blocks; measured 2.0–2.2× in
 * all for SmolLM2-135M and the Qwen2.5-Coder files, docs/models.md).
 */
export function residentBytes(entry: LocalModelEntry, gpu = false): number {
  if (entry.memory !== undefined) return entry.memory;
  const bytes = entry.file.bytes ?? 0;
  return Math.ceil(bytes * (gpu ? 2.5 : 1.25)) + 64 * MIB;
}

/**
 * The bytes a local model may take in this tab: a quarter of the device's memory as the
 * browser reports it (`navigator.deviceMemory`, in GiB, rounded and capped at 8 by browsers;
 * 4 GiB where it is missing), at most 2 GiB of wasm32's 4 GiB address space.
 */
export function localBudget(deviceMemoryGiB: number | undefined = (globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory): number {
  const gib = typeof deviceMemoryGiB === "number" && deviceMemoryGiB > 0 ? deviceMemoryGiB : 4;
  return Math.min(gib * GIB / 4, 2 * GIB);
}

/**
 * Which of the manifest's local models to load: the one named, or else the largest that fits
 * `budget` among those allowed (those that draft for `target` when one is given). `null` with
 * a reason when none qualifies; a name the manifest lacks is an error, not a silent fallback.
 */
export function pickLocalModel(
  entries: LocalModelEntry[],
  { name, budget, target, gpu = false }: { name?: string; budget: number; target?: string; gpu?: boolean },
): { entry: LocalModelEntry | null; reason: string } {
  if (name) {
    const entry = entries.find((e) => e.name === name);
    if (!entry) throw new ModelLoadError(`the manifest has no local model "${name}" (it has: ${entries.map((e) => e.name).join(", ") || "none"})`, { code: "model_unknown" });
    return { entry, reason: `${name}: named by the app` };
  }
  const allowed = target ? entries.filter((e) => e.drafts?.includes(target)) : entries;
  const gib = (b: number) => `${(b / GIB).toFixed(2)} GiB`;
  const need = (e: LocalModelEntry) => residentBytes(e, gpu);
  const fitting = allowed.filter((e) => need(e) <= budget).sort((a, b) => need(b) - need(a));
  if (fitting.length) {
    const e = fitting[0];
    const among = target ? ` that draft for ${target}` : "";
    const where = gpu ? " on its GPU" : "";
    return { entry: e, reason: `${e.name}: the largest of ${allowed.length}${among} that fits this device${where} (needs ${gib(need(e))} of a ${gib(budget)} budget)` };
  }
  if (!allowed.length) return { entry: null, reason: target ? `no local model drafts for ${target}` : "the manifest has no local model" };
  const smallest = Math.min(...allowed.map(need));
  return { entry: null, reason: `no local model fits this device: the smallest needs ${gib(smallest)}, the budget is ${gib(budget)}` };
}

/** The cache key of a file: its URL pinned to its hash, so a new version is a new entry. */
function cacheKey(file: ModelFile, base: string): string {
  const url = new URL(file.url, base);
  url.searchParams.set("sha256", file.sha256);
  return url.href;
}

/** Drops cached files that the current manifest no longer names (a model update). */
export async function pruneCache(manifest: ModelManifest, base: string): Promise<number> {
  const cache = await openCache();
  if (!cache) return 0;
  const keep = new Set(manifestFiles(manifest).map((f) => cacheKey(f, base)));
  let dropped = 0;
  for (const request of await cache.keys()) {
    if (!keep.has(request.url) && (await cache.delete(request))) dropped++;
  }
  return dropped;
}

/**
 * Where a model file's bytes go as they arrive: `push` each chunk, then `sha256` of them all and
 * `take` the result. `discard` frees what arrived when the file is not used.
 */
export interface FileSink<T> {
  push(chunk: Uint8Array): void;
  sha256(): Promise<string>;
  take(): T;
  discard(): void;
}

/** The file as one `Uint8Array` (the chunks joined at the end, hashed by WebCrypto). */
export function bytesSink(): FileSink<Uint8Array> {
  let chunks: Uint8Array[] = [];
  let joined: Uint8Array | null = null;
  const all = (): Uint8Array => {
    if (!joined) {
      joined = concat(chunks, chunks.reduce((n, c) => n + c.length, 0));
      chunks = [];
    }
    return joined;
  };
  return {
    push: (chunk) => void chunks.push(chunk),
    sha256: () => sha256Hex(all()),
    take: all,
    discard: () => ((chunks = []), (joined = null)),
  };
}

/** The file's bytes: from the cache, or downloaded (with progress), verified and cached. */
export function fetchModelFile(file: ModelFile, base: string, onProgress: Progress, signal?: AbortSignal): Promise<Uint8Array> {
  return fetchModelInto(file, base, onProgress, signal, bytesSink);
}

/**
 * [fetchModelFile] into `sink(expected bytes)`: the file from the cache, or downloaded, read
 * chunk by chunk into the sink, which hashes it; a file that fails the check is discarded.
 */
export async function fetchModelInto<T>(
  file: ModelFile,
  base: string,
  onProgress: Progress,
  signal: AbortSignal | undefined,
  sink: (expected: number) => FileSink<T>,
): Promise<T> {
  const key = cacheKey(file, base);
  const name = file.url.split("/").pop() ?? file.url;
  const cache = await openCache();
  const hit = await cache?.match(key);
  if (hit?.body) {
    const total = Number(hit.headers.get("content-length")) || file.bytes || 0;
    const into = sink(total);
    let verified = false;
    try {
      await readInto(hit.body, into, (loaded) => onProgress({ file: name, loaded, total, cached: true, phase: "verify" }), signal);
      verified = (await into.sha256()) === file.sha256;
    } catch (err) {
      if (signal?.aborted) {
        into.discard();
        throw err;
      }
    }
    if (verified) return into.take();
    into.discard();
    await cache?.delete(key); // corrupted in storage: fetch it again
  }
  const url = new URL(file.url, base).href;
  const response = await get(url, { signal });
  if (!response.ok || !response.body) throw new ModelLoadError(`model file ${url}: HTTP ${response.status}`, { code: "model_http", status: response.status });
  const total = Number(response.headers.get("content-length")) || file.bytes || 0;
  // The cache is written from a copy of the stream while this one is read and hashed; a file
  // that fails the check is deleted again (and a cached file is re-checked when it is read).
  const putting = cache
    ?.put(key, response.clone())
    .then(() => true)
    .catch((err) => (console.warn(`tandem: could not cache ${name} (quota?)`, err), false));
  const into = sink(total);
  let digest: string;
  try {
    const loaded = await readInto(response.body, into, (loaded) => onProgress({ file: name, loaded, total, cached: false, phase: "download" }), signal);
    onProgress({ file: name, loaded, total: loaded, cached: false, phase: "verify" });
    digest = await into.sha256();
  } catch (err) {
    into.discard();
    throw err;
  }
  const cached = await putting;
  if (digest !== file.sha256) {
    into.discard();
    if (cached) await cache?.delete(key);
    throw new IntegrityError(`model file ${url}: sha256 ${digest} does not match the manifest's ${file.sha256}; not used`, { code: "sha256_mismatch" });
  }
  return into.take();
}

/** Reads `body` to its end into `sink`, reporting the bytes read so far; their count. */
async function readInto<T>(body: ReadableStream<Uint8Array>, sink: FileSink<T>, onRead: (loaded: number) => void, signal?: AbortSignal): Promise<number> {
  const reader = body.getReader();
  let loaded = 0;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) return loaded;
      sink.push(value);
      loaded += value.length;
      onRead(loaded);
    }
  } finally {
    reader.releaseLock();
  }
}

/** Hex sha256 of `bytes` (WebCrypto). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function openCache(): Promise<Cache | undefined> {
  try {
    return globalThis.caches ? await caches.open(CACHE_NAME) : undefined;
  } catch {
    return undefined; // opaque origins and some private modes have no Cache API
  }
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
