// Decode speed of a GGUF model in headless Chromium: Tandem (the package's wasm with models, /pkg-models/, in the page's Web
// Worker, on WebGPU and on the CPU backend) against wllama (llama.cpp in wasm, npm
// @wllama/wllama) on the same file, prompt and greedy settings. Prints one JSON line per run
// and a table with the ratios. Pages are served cross-origin isolated so wllama may use threads.
// Tandem's CPU runs twice: on its default kernel (relaxed SIMD where Chromium has it) and on the
// `simd128` kernel that browsers without relaxed SIMD run; so does the threaded build, where it was
// built. Each run also reports its memory: the peak resident memory of Chromium's renderer
// processes while it ran, above what they held before it (page and Web Workers live there), and
// for Tandem the size of its wasm memory after the reply.
// Usage: node tests/bench/model-browser.mjs [MODEL=smollm2-135m] [CPU_TOKENS=64] [GPU_TOKENS=8]
// ONLY=tandem/cpu-threads2,tandem/cpu-threads2-simd128 runs only the runs named (an A/B on a noisy machine).
// Build first: pkg-scripts/build-web models
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CACHE, servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

const [model = "smollm2-135m", cpuTokens = "64", gpuTokens = "8"] = process.argv.slice(2);
const url = `/models/${model}.gguf`;
const messages = [{ role: "user", content: "Write a long story about a dragon who learns to cook." }];
const THREADED = fileURLToPath(new URL("../../www/tandem-web/src/wasm-threads/tandem_wasm.js", import.meta.url));
const WLLAMA = fileURLToPath(new URL("../node_modules/@wllama/wllama/esm", import.meta.url));

const server = await servePages(0, { mounts: { "/wllama/": WLLAMA }, isolated: true });
const browser = await launch();

/** Resident memory of Chromium's renderer processes, in bytes (Linux `/proc`). */
async function rendererRss() {
  let total = 0;
  for (const pid of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
      if (!cmdline.includes("--type=renderer")) continue;
      const rss = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
      total += Number(rss?.[1] ?? 0) * 1024;
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return total;
}

/** `run()`'s result with `peak_rss_mb`: the renderers' peak resident memory while it ran, above the start. */
async function withPeakRss(run) {
  const before = await rendererRss();
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rendererRss());
      await new Promise((ok) => setTimeout(ok, 100));
    }
  })();
  try {
    return { ...(await run()), peak_rss_mb: Math.round((peak - before) / 2 ** 20) };
  } finally {
    sampling = false;
    await sampler;
  }
}

/**
 * One run of Tandem's model worker: load on `device` (and `kernel`), generate `maxTokens` greedily;
 * with `threads` > 0, the threaded build with that many pool workers beside the model's.
 */
async function tandem(page, device, maxTokens, kernel, threads = 0, whole = false) {
  return page.evaluate(
    async ({ url, device, messages, maxTokens, kernel, threads, whole }) => {
      const { modelWorker } = await import("/model-worker-client.js");
      const { worker, call } = modelWorker(threads > 0 ? `/model-worker.js?threads=${threads}` : "/model-worker.js");
      const loaded = await call({ type: "load", url, device, kernel, whole });
      const { result, wasmMemoryBytes } = await call({ type: "chat", messages, options: { maxTokens } });
      worker.terminate();
      return {
        backend: loaded.backend,
        kernel: loaded.kernel,
        wasm_memory_mb: Math.round(wasmMemoryBytes / 2 ** 20),
        prompt_tokens: result.promptTokens,
        tokens: result.tokens.length,
        prefill_tok_s: (result.promptTokens / result.prefillMs) * 1000,
        decode_tok_s: ((result.tokens.length - 1) / result.decodeMs) * 1000,
      };
    },
    { url, device, messages, maxTokens, kernel, threads, whole },
  );
}

/** One run of wllama: `threads` CPU threads, or all layers on WebGPU when `gpu`. */
async function wllama(page, { threads, gpu }, maxTokens) {
  return page.evaluate(
    async ({ url, messages, maxTokens, threads, gpu }) => {
      const { Wllama } = await import("/wllama/index.js");
      // llama.cpp's load log says where the weights went ("CPU model buffer" or a GPU buffer).
      const lines = [];
      const keep = (...a) => lines.push(a.join(" "));
      const logger = { debug: keep, log: keep, info: keep, warn: keep, error: keep };
      const w = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, { logger });
      await w.loadModelFromUrl(new URL(url, location.href).href, {
        n_threads: threads,
        n_gpu_layers: gpu ? 999 : 0,
        n_ctx: 1024,
        useCache: false,
      });
      const r = await w.createChatCompletion({ messages, max_tokens: maxTokens, temperature: 0 });
      await w.exit();
      return {
        backend:
          gpu && !lines.some((l) => /WebGPU.*model buffer/i.test(l))
            ? "cpu (llama.cpp put no layer on WebGPU)"
            : gpu ? "webgpu" : `cpu, ${threads} thread(s)`,
        prompt_tokens: r.timings?.prompt_n,
        tokens: r.timings?.predicted_n,
        prefill_tok_s: r.timings?.prompt_per_second,
        decode_tok_s: r.timings?.predicted_per_second,
      };
    },
    { url, messages, maxTokens, threads, gpu },
  );
}

const runs = [
  ["tandem", "cpu", () => tandem(page, "cpu", Number(cpuTokens))],
  ["tandem", "cpu-simd128", () => tandem(page, "cpu", Number(cpuTokens), "simd128")],
  // Memory only: the file read whole into JavaScript and copied in (`fromGguf`), as pages did
  // before `ModelBuffer`; four tokens.
  ["tandem", "cpu-whole-file", () => tandem(page, "cpu", 4, undefined, 0, true)],
  // The threaded build, where pkg-scripts/build-web models --threads made it: two threads.
  ...(existsSync(THREADED)
    ? [
        ["tandem", "cpu-threads2", () => tandem(page, "cpu", Number(cpuTokens), undefined, 1)],
        ["tandem", "cpu-threads2-simd128", () => tandem(page, "cpu", Number(cpuTokens), "simd128", 1)],
      ]
    : []),
  ["wllama", "cpu1", () => wllama(page, { threads: 1, gpu: false }, Number(cpuTokens))],
  ["wllama", "cpu2", () => wllama(page, { threads: 2, gpu: false }, Number(cpuTokens))],
  ["tandem", "webgpu", () => tandem(page, "webgpu", Number(gpuTokens))],
  ["wllama", "webgpu", () => wllama(page, { threads: 1, gpu: true }, Number(gpuTokens))],
]
  .filter(([, setting]) => setting !== "webgpu" || Number(gpuTokens) > 0) // GPU_TOKENS=0: CPU only
  .filter(([system, setting]) => !process.env.ONLY || process.env.ONLY.split(",").includes(`${system}/${setting}`));
const errors = [];
const results = {};
let page = null;
try {
  // A page of its own per run, closed after it: the memory of one run is gone before the next
  // starts, and the renderers' peak above the fresh page's is the run's own.
  for (const [system, setting, run] of runs) {
    page = await browser.context.newPage();
    const pageErrors = watchErrors(page);
    await page.goto(`http://127.0.0.1:${server.address().port}/model.html`);
    if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error("the bench page is not cross-origin isolated");
    try {
      const r = { system, setting, ...(await withPeakRss(run)) };
      results[`${system}/${setting}`] = r;
      console.log(JSON.stringify(r));
    } catch (err) {
      console.log(JSON.stringify({ system, setting, error: err.message }));
    }
    await page.close();
    errors.push(...pageErrors);
  }
} finally {
  await browser.close();
  server.close();
}
// For pkg-scripts/plot_bench.py: $TANDEM_CACHE/bench/browser-MODEL.json.
const benchDir = join(CACHE, "bench");
await mkdir(benchDir, { recursive: true });
await writeFile(join(benchDir, `browser-${model}.json`), JSON.stringify({ model, cpu_tokens: Number(cpuTokens), results }, null, 1));
const ratio = (a, b) => (a && b ? `${(a.decode_tok_s / b.decode_tok_s).toFixed(2)}×` : "n/a");
const t = (k) => results[k];
console.log(`\n${model}, greedy; decode tok/s, tandem ÷ wllama:`);
console.log(`  CPU:    tandem ${t("tandem/cpu")?.decode_tok_s?.toFixed(1)} (${t("tandem/cpu")?.kernel}; simd128 ${t("tandem/cpu-simd128")?.decode_tok_s?.toFixed(1)}, ${ratio(t("tandem/cpu"), t("tandem/cpu-simd128"))}) vs wllama 1 thread ${t("wllama/cpu1")?.decode_tok_s?.toFixed(1)} (${ratio(t("tandem/cpu"), t("wllama/cpu1"))}), 2 threads ${t("wllama/cpu2")?.decode_tok_s?.toFixed(1)} (${ratio(t("tandem/cpu"), t("wllama/cpu2"))})`);
if (t("tandem/cpu-threads2")) console.log(`  CPU, 2 threads: tandem ${t("tandem/cpu-threads2").decode_tok_s.toFixed(1)} (${t("tandem/cpu-threads2").kernel}; simd128 ${t("tandem/cpu-threads2-simd128")?.decode_tok_s?.toFixed(1)}, ${ratio(t("tandem/cpu-threads2"), t("tandem/cpu-threads2-simd128"))}) vs wllama 2 threads ${t("wllama/cpu2")?.decode_tok_s?.toFixed(1)} (${ratio(t("tandem/cpu-threads2"), t("wllama/cpu2"))}); prefill ${t("tandem/cpu-threads2").prefill_tok_s.toFixed(1)} vs ${t("wllama/cpu2")?.prefill_tok_s?.toFixed(1)}`);
const mb = (k) => (t(k)?.peak_rss_mb !== undefined ? `${t(k).peak_rss_mb} MB` : "n/a");
const mbRatio = (a, b) => (t(a)?.peak_rss_mb && t(b)?.peak_rss_mb ? `${(t(a).peak_rss_mb / t(b).peak_rss_mb).toFixed(2)}×` : "n/a");
console.log(`  Memory (renderers' peak above the start): tandem ${mb("tandem/cpu")} (wasm memory ${t("tandem/cpu")?.wasm_memory_mb} MB; the file read whole first: ${mb("tandem/cpu-whole-file")}, ${mbRatio("tandem/cpu", "tandem/cpu-whole-file")}), 2 threads ${mb("tandem/cpu-threads2")}; wllama 1 thread ${mb("wllama/cpu1")} (tandem ÷ wllama ${mbRatio("tandem/cpu", "wllama/cpu1")}), 2 threads ${mb("wllama/cpu2")}`);
console.log(`  WebGPU: tandem ${t("tandem/webgpu")?.decode_tok_s?.toFixed(2)} (${t("tandem/webgpu")?.backend}) vs wllama ${t("wllama/webgpu")?.decode_tok_s?.toFixed(2)} (${t("wllama/webgpu")?.backend})`);
if (errors.length) console.error("page errors:", errors);
