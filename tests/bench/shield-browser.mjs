// Shield throughput inside headless Chromium (the package's shield-only wasm, /pkg/):
// analyzes every text of a labeled data set repeatedly for at least
// MIN_SECONDS and prints one JSON line {chars, seconds, chars_per_sec}.
// Usage: node tests/bench/shield-browser.mjs DATASET [MIN_SECONDS=3]
import { readFile } from "node:fs/promises";
import { servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

const [dataset, minSeconds = "3"] = process.argv.slice(2);
if (!dataset) {
  console.error("usage: node tests/bench/shield-browser.mjs DATASET [MIN_SECONDS]");
  process.exit(2);
}
const content = await readFile(dataset, "utf8");
const texts = content.trimStart().startsWith("[")
  ? JSON.parse(content).map((r) => r.full_text)
  : content.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l).text);

const server = await servePages();
const browser = await launch();
try {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForSelector("body[data-ready=true]");
  const result = await page.evaluate(
    async ({ texts, minMs }) => {
      const { Shield } = await import("./pkg/tandem_wasm.js");
      const shield = new Shield();
      for (const t of texts) shield.analyze(t); // warm-up: lazily compiled regexes
      const chars = texts.reduce((n, t) => n + [...t].length, 0);
      let passes = 0;
      const start = performance.now();
      while (passes === 0 || performance.now() - start < minMs) {
        for (const t of texts) shield.analyze(t);
        passes += 1;
      }
      const seconds = (performance.now() - start) / 1000;
      return { chars: chars * passes, seconds, chars_per_sec: (chars * passes) / seconds, userAgent: navigator.userAgent };
    },
    { texts, minMs: Number(minSeconds) * 1000 },
  );
  if (errors.length) throw new Error(errors.join("\n"));
  console.log(JSON.stringify({ system: "Tandem (wasm, Chromium)", ...result }));
} finally {
  await browser.close();
  server.close();
}
