// Router/NER decision latency inside headless Chromium (the package's wasm with models, /pkg-models/): loads one Analyzer per
// weight format on the given device, analyzes the first turn of each MT-Bench question once per
// analyzer, alternating between them (after one warm-up each), and prints one JSON line per
// format {backend, weights, queries, median_ms, p90_ms, mean_ms, model_median_ms}, then the median ratio of each
// format against the first.
// A format may name the kernel of the quantized products after an `@` (`int8@simd128,int8@relaxed`):
// the page switches to it before each of that analyzer's analyses (`useQuantKernel`), so that two
// kernels are compared in one page, on the same queries, alternating.
// Usage: node tests/bench/analyzer-browser.mjs PROMPTS.jsonl DEVICE(auto|cpu) [N=40] [WEIGHTS=f32,q8_0]
import { analyzerPage, firstTurns } from "./analyzer-page.mjs";

const [prompts, device = "auto", n = "40", weights = "f32,q8_0"] = process.argv.slice(2);
if (!prompts) {
  console.error("usage: node tests/bench/analyzer-browser.mjs PROMPTS.jsonl [auto|cpu] [N] [f32,q8_0]");
  process.exit(2);
}
const queries = await firstTurns(prompts, n);
const { page, errors, close } = await analyzerPage();
try {
  const results = await page.evaluate(
    async ({ queries, device, formats }) => {
      const analyzers = [];
      for (const f of formats) {
        const [weights, kernel] = f.split("@");
        const a = await window.loadAnalyzer(device, weights);
        if (kernel) window.tandem.useQuantKernel(kernel);
        await a.analyze(queries[0]);
        analyzers.push({ a, f, kernel: kernel ?? window.tandem.quantKernel(), ms: [], model: [] });
      }
      for (const q of queries) {
        for (const x of analyzers) {
          window.tandem.useQuantKernel(x.kernel);
          const t0 = performance.now();
          const r = await x.a.analyze(q);
          x.ms.push(performance.now() - t0);
          x.model.push(r.ms);
        }
      }
      return analyzers.map(({ a, f, kernel, ms, model }) => {
        ms.sort((x, y) => x - y);
        model.sort((x, y) => x - y);
        const pick = (p) => ms[Math.round((ms.length - 1) * p)];
        return {
          backend: `chromium-${a.backend}`,
          weights: f,
          kernel,
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
  await close();
}
