// Where the analyzer's time goes inside headless Chromium (the package's wasm with models, /pkg-models/, CPU backend): loads one
// Analyzer, then either profiles it over the first N MT-Bench first turns (REPS passes, V8's
// sampling profiler at 100 µs) and prints the self time of the 25 hottest functions, or, with
// `--fixed`, analyzes the median-length query 100 times and prints the fastest and the 10th
// percentile: a steady figure for comparing two builds of one kernel, where the machine's drift
// between runs is larger than the change.
// Usage: node tests/bench/analyzer-profile.mjs PROMPTS.jsonl [N=40] [WEIGHTS=int8] [REPS=3] [--fixed]
import { analyzerPage, firstTurns } from "./analyzer-page.mjs";
import { printHottest, selfTimes } from "./cpu-profile.mjs";

const fixed = process.argv.includes("--fixed");
const [prompts, n = "40", weights = "int8", reps = "3"] = process.argv.slice(2).filter((a) => a !== "--fixed");
if (!prompts) {
  console.error("usage: node tests/bench/analyzer-profile.mjs PROMPTS.jsonl [N] [WEIGHTS] [REPS] [--fixed]");
  process.exit(2);
}
let queries = await firstTurns(prompts, n);
if (fixed) {
  const sorted = [...queries].sort((a, b) => a.length - b.length);
  queries = Array(100).fill(sorted[sorted.length >> 1]);
}

const { browser, page, errors, close } = await analyzerPage();
try {
  await page.evaluate(
    async ({ weights, first }) => {
      window.analyzer = await window.loadAnalyzer("cpu", weights);
      await window.analyzer.analyze(first);
    },
    { weights, first: queries[0] },
  );
  const cdp = await browser.context.newCDPSession(page);
  if (!fixed) {
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
    await cdp.send("Profiler.start");
  }
  const ms = await page.evaluate(
    async ({ queries, passes }) => {
      const out = [];
      for (let p = 0; p < passes; p++) {
        for (const q of queries) {
          const t0 = performance.now();
          await window.analyzer.analyze(q);
          out.push(performance.now() - t0);
        }
      }
      return out;
    },
    { queries, passes: fixed ? 1 : Number(reps) },
  );
  if (errors.length) throw new Error(errors.join("\n"));
  ms.sort((a, b) => a - b);
  const at = (p) => ms[Math.floor((ms.length - 1) * p)].toFixed(2);
  if (fixed) {
    console.log(JSON.stringify({ weights, query_chars: queries[0].length, min_ms: +at(0), p10_ms: +at(0.1) }));
  } else {
    const { profile } = await cdp.send("Profiler.stop");
    console.log(JSON.stringify({ weights, queries: queries.length, passes: Number(reps), median_ms: +at(0.5) }));
    printHottest(selfTimes(profile));
  }
} finally {
  await close();
}
