// Where a decode's time goes inside headless Chromium: the package's wasm with models (/pkg-models/, one
// thread, the CPU backend, relaxed SIMD where Chromium has it) runs a GGUF model on the page's main thread
// (so that the page's profiler sees it) and answers twice under V8's sampling profiler, with 1 token and
// with N; it prints the decode's speed and the self time of the hottest functions in the second answer
// less the first, so that loading and prefill cancel out. The relaxed-SIMD module's functions carry no
// names (`wasm-function[0]` is its `block_rows`).
// Usage: node tests/bench/model-profile.mjs [MODEL=qwen2.5-coder-1.5b] [N=17]
// Build first: pkg-scripts/build-web models
import { servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";
import { printHottest, selfTimes } from "./cpu-profile.mjs";

const [model = "qwen2.5-coder-1.5b", tokens = "17"] = process.argv.slice(2);
const prompt = "Write a long story about a dragon who learns to cook.";
const server = await servePages(0);
const browser = await launch();
try {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${server.address().port}/model.html`);
  const kernel = await page.evaluate(async (url) => {
    const pkg = await import("/pkg-models/tandem_wasm.js");
    await pkg.default();
    const response = await fetch(url);
    if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
    const buffer = new pkg.ModelBuffer(Number(response.headers.get("content-length")) || undefined);
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) buffer.push(read.value);
    window.model = await pkg.LocalModel.fromGgufBuffer(buffer, "cpu");
    await window.model.generate("Hello", { maxTokens: 2, temperature: 0 }); // warm-up
    return pkg.quantKernel();
  }, `/models/${model}.gguf`);
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  const profiled = async (maxTokens) => {
    await cdp.send("Profiler.start");
    const result = await page.evaluate(
      async ({ prompt, maxTokens }) => {
        const r = await window.model.generate(prompt, { maxTokens, temperature: 0 });
        return { tokens: r.tokens.length, decodeMs: r.decodeMs };
      },
      { prompt, maxTokens },
    );
    const { profile } = await cdp.send("Profiler.stop");
    return { result, times: selfTimes(profile) };
  };
  const one = await profiled(1);
  const many = await profiled(Number(tokens));
  if (errors.length) throw new Error(errors.join("\n"));
  const steps = many.result.tokens - 1;
  console.log(JSON.stringify({ model, kernel, decode_steps: steps, ms_per_token: +(many.result.decodeMs / steps).toFixed(1) }));
  printHottest(new Map([...many.times].map(([name, ms]) => [name, ms - (one.times.get(name) ?? 0)])));
} finally {
  await browser.close();
  server.close();
}
