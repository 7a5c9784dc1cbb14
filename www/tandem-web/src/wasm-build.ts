// Which of the package's two wasm builds runs the engine: the default one (WebGPU, or the CPU
// backend on one thread) or the threaded one (the CPU backend with its quantized products on a
// pool of Web Workers over shared memory; docs/models.md measures both), and, where more threads
// were wanted, why one. The threaded build is CPU-only and needs what
// shared memory needs: a cross-origin isolated page and a thread that may wait (a Web Worker).
import * as defaultBuild from "./wasm/tandem_wasm.js";
import { TandemError } from "./errors.js";
import type { EngineOptions } from "./types.js";

/** What the engine takes from a wasm build; both builds export it with the same types. */
export type WasmBuild = Pick<typeof defaultBuild, "Analyzer" | "LocalModel" | "ModelBuffer" | "SealClient" | "Shield">;

/** The most threads `"auto"` starts: the products are bound by memory long before eight cores. */
const AUTO_MAX_THREADS = 8;

/** Where the models will run, as far as the engine knows before loading them. */
export type Placement = "cpu" | "webgpu" | "no-models";

/** The build that runs the engine, started. */
export interface StartedBuild {
  wasm: WasmBuild;
  /** Threads the quantized products run on: 1 with the default build. */
  threads: number;
  /** Why one thread where more were wanted (`EngineOptions.threads`); `null` otherwise. */
  reason: string | null;
}

/**
 * Starts the threaded build where `options.threads` wants more than one thread and it can run,
 * else the default one. A threaded build that fails to start is not an error: the default build
 * runs, and `reason` says why.
 */
export async function startWasm(options: Pick<EngineOptions, "threads" | "wasm" | "threadsWasm">, placement: Placement): Promise<StartedBuild> {
  const wanted = wantedThreads(options.threads);
  // Without models there are no products to share: the default build serves the shield.
  let reason = placement !== "no-models" && wanted > 1 ? whyOneThread(options, placement) : null;
  if (placement !== "no-models" && wanted > 1 && reason === null) {
    try {
      const threaded = await import("./wasm-threads/tandem_wasm.js");
      await threaded.default(options.threadsWasm === undefined ? undefined : { module_or_path: options.threadsWasm });
      await threaded.startThreads(wanted - 1);
      return { wasm: threaded, threads: wanted, reason: null };
    } catch (err) {
      reason = `the threaded build failed to start (${(err as Error)?.message ?? err}); one thread`;
    }
  }
  await defaultBuild.default(options.wasm === undefined ? undefined : { module_or_path: options.wasm });
  return { wasm: defaultBuild, threads: 1, reason };
}

/** The threads `threads` asks for: `"auto"` takes the device's cores, up to eight. */
function wantedThreads(threads: EngineOptions["threads"] = "auto"): number {
  if (threads === "auto") return Math.max(1, Math.min(globalThis.navigator?.hardwareConcurrency ?? 1, AUTO_MAX_THREADS));
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new TandemError(`threads must be "auto" or a whole number from 1 to 64, not ${JSON.stringify(threads)}`, { code: "invalid_options" });
  }
  return threads;
}

/** Why the threaded build cannot run here; `null` when it can. */
function whyOneThread(options: Pick<EngineOptions, "wasm" | "threadsWasm">, placement: Exclude<Placement, "no-models">): string | null {
  if (placement === "webgpu") return "the models run on WebGPU; the threaded build is CPU-only";
  if (typeof (globalThis as { document?: unknown }).document !== "undefined") {
    return "the engine runs on the page's main thread (inWorker: false), which may not wait for a thread pool";
  }
  if (!(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
    return "the page is not cross-origin isolated (Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so it cannot share memory with workers";
  }
  if (options.wasm !== undefined && options.threadsWasm === undefined) {
    return "`wasm` relocates the default build's file, and `threadsWasm` does not name the threaded build's";
  }
  return null;
}
