// Router/NER decision latency inside headless Chromium (www/pkg-models): loads the Analyzer
// on the given device, analyzes the first turn of each MT-Bench question once (after one
// warm-up) and prints one JSON line {backend, queries, median_ms, p90_ms, mean_ms}.
// Usage: node tests/bench/analyzer-browser.mjs PROMPTS.jsonl DEVICE(auto|cpu) [N=40]
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { serve, MODEL_CACHE } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

const [prompts, device = "auto", n = "40"] = process.argv.slice(2);
if (!prompts) {
  console.error("usage: node tests/bench/analyzer-browser.mjs PROMPTS.jsonl [auto|cpu] [N]");
  process.exit(2);
}
const queries = (await readFile(prompts, "utf8"))
  .split("\n")
  .filter((l) => l.trim())
  .slice(0, Number(n))
  .map((l) => JSON.parse(l).turns[0]);

const server = await serve(fileURLToPath(new URL("../../www", import.meta.url)), 0, {
  mounts: { "/models/": MODEL_CACHE },
});
const browser = await launch();
try {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
  const result = await page.evaluate(
    async ({ queries, device }) => {
      const m = await import("/pkg-models/tandem_wasm.js");
      await m.default();
      const get = async (name) => new Uint8Array(await (await fetch(`/models/all-minilm-l6-v2/${name}`)).arrayBuffer());
      const model = await get("model.safetensors");
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", model));
      const sha = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      const config = new TextDecoder().decode(await get("config.json"));
      const a = await m.Analyzer.load(config, model, sha, await get("tokenizer.json"), undefined, device);
      await a.analyze(queries[0]);
      const ms = [];
      for (const q of queries) {
        const t0 = performance.now();
        await a.analyze(q);
        ms.push(performance.now() - t0);
      }
      ms.sort((x, y) => x - y);
      const pick = (f) => ms[Math.round((ms.length - 1) * f)];
      return {
        backend: `chromium-${a.backend}`,
        queries: ms.length,
        median_ms: pick(0.5),
        p90_ms: pick(0.9),
        mean_ms: ms.reduce((s, x) => s + x, 0) / ms.length,
      };
    },
    { queries, device },
  );
  if (errors.length) throw new Error(errors.join("\n"));
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
  server.close();
}
