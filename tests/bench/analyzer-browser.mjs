// Router/NER decision latency inside headless Chromium (www/pkg-models): loads one Analyzer per
// weight format on the given device, analyzes the first turn of each MT-Bench question once per
// analyzer, alternating between them (after one warm-up each), and prints one JSON line per
// format {backend, weights, queries, median_ms, p90_ms, mean_ms, model_median_ms}, then the median ratio of each
// format against the first.
// Usage: node tests/bench/analyzer-browser.mjs PROMPTS.jsonl DEVICE(auto|cpu) [N=40] [WEIGHTS=f32,q8_0]
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { serve, MODEL_CACHE } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

const [prompts, device = "auto", n = "40", weights = "f32,q8_0"] = process.argv.slice(2);
if (!prompts) {
  console.error("usage: node tests/bench/analyzer-browser.mjs PROMPTS.jsonl [auto|cpu] [N] [f32,q8_0]");
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
  const results = await page.evaluate(
    async ({ queries, device, formats }) => {
      const m = await import("/pkg-models/tandem_wasm.js");
      await m.default();
      const get = async (name) => new Uint8Array(await (await fetch(`/models/all-minilm-l6-v2/${name}`)).arrayBuffer());
      const model = await get("model.safetensors");
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", model));
      const sha = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      const config = new TextDecoder().decode(await get("config.json"));
      const tokenizer = await get("tokenizer.json");
      const analyzers = [];
      for (const f of formats) {
        const a = await m.Analyzer.load(config, model, sha, tokenizer, undefined, device, f);
        await a.analyze(queries[0]);
        analyzers.push({ a, f, ms: [], model: [] });
      }
      for (const q of queries) {
        for (const x of analyzers) {
          const t0 = performance.now();
          const r = await x.a.analyze(q);
          x.ms.push(performance.now() - t0);
          x.model.push(r.ms);
        }
      }
      return analyzers.map(({ a, f, ms, model }) => {
        ms.sort((x, y) => x - y);
        model.sort((x, y) => x - y);
        const pick = (p) => ms[Math.round((ms.length - 1) * p)];
        return {
          backend: `chromium-${a.backend}`,
          weights: f,
          queries: ms.length,
          median_ms: pick(0.5),
          p90_ms: pick(0.9),
          mean_ms: ms.reduce((s, x) => s + x, 0) / ms.length,
          // The model's part alone (tokenize, encoder and heads, tag decoding): `Analysis.ms`.
          model_median_ms: model[Math.round((model.length - 1) * 0.5)],
        };
      });
    },
    { queries, device, formats: weights.split(",") },
  );
  if (errors.length) throw new Error(errors.join("\n"));
  for (const r of results) console.log(JSON.stringify(r));
  for (const r of results.slice(1)) {
    console.log(`median ${r.weights} / ${results[0].weights}: ${(r.median_ms / results[0].median_ms).toFixed(3)}`);
  }
} finally {
  await browser.close();
  server.close();
}
