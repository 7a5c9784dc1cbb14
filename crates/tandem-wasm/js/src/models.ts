// Model files: downloaded with progress, verified by sha256, kept in the Cache API, and
// swapped when the manifest names new versions.
import type { LocalModelEntry, ModelFile, ModelManifest } from "./types.js";

/** The Cache API bucket the engine owns. */
export const CACHE_NAME = "tandem-models";

/** Reports bytes as they arrive. */
export type Progress = (p: { file: string; loaded: number; total: number; cached: boolean }) => void;

/** Fetches and checks the manifest. */
export async function loadManifest(url: string, signal?: AbortSignal): Promise<{ manifest: ModelManifest; base: string }> {
  const response = await fetch(url, { signal, cache: "no-cache" });
  if (!response.ok) throw new Error(`model manifest ${url}: HTTP ${response.status}`);
  let manifest: ModelManifest;
  try {
    manifest = (await response.json()) as ModelManifest;
  } catch (err) {
    throw new Error(`model manifest ${url} is not JSON: ${(err as Error).message}`);
  }
  for (const file of manifestFiles(manifest)) {
    if (typeof file.url !== "string" || !/^[0-9a-f]{64}$/.test(file.sha256 ?? "")) {
      throw new Error(`model manifest ${url}: every file needs a url and a hex sha256`);
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
    if (!entry) throw new Error(`the manifest has no local model "${name}" (it has: ${entries.map((e) => e.name).join(", ") || "none"})`);
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

/** The file's bytes: from the cache, or downloaded (with progress), verified and cached. */
export async function fetchModelFile(file: ModelFile, base: string, onProgress: Progress, signal?: AbortSignal): Promise<Uint8Array> {
  const key = cacheKey(file, base);
  const name = file.url.split("/").pop() ?? file.url;
  const cache = await openCache();
  const hit = await cache?.match(key);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if ((await sha256Hex(bytes)) === file.sha256) {
      onProgress({ file: name, loaded: bytes.length, total: bytes.length, cached: true });
      return bytes;
    }
    await cache?.delete(key); // corrupted in storage: fetch it again
  }
  const url = new URL(file.url, base).href;
  const response = await fetch(url, { signal });
  if (!response.ok || !response.body) throw new Error(`model file ${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get("content-length")) || file.bytes || 0;
  // The cache is written from a copy of the stream while this one is read and hashed; a file
  // that fails the check is deleted again (and a cached file is re-checked when it is read).
  const putting = cache
    ?.put(key, response.clone())
    .then(() => true)
    .catch((err) => (console.warn(`tandem: could not cache ${name} (quota?)`, err), false));
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress({ file: name, loaded, total, cached: false });
  }
  const bytes = concat(chunks, loaded);
  const digest = await sha256Hex(bytes);
  const cached = await putting;
  if (digest !== file.sha256) {
    if (cached) await cache?.delete(key);
    throw new Error(`model file ${url}: sha256 ${digest} does not match the manifest's ${file.sha256}; not used`);
  }
  return bytes;
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
