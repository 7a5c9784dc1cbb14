// What both analyzer benches share: the MT-Bench first turns, and a headless Chromium page of
// tests/pages (with the model cache mounted at /models/) in which `window.loadAnalyzer(device, weights)`
// loads all-MiniLM-L6-v2 with the default heads from the package's wasm with models, /pkg-models/ (the module itself is then
// `window.tandem`).
import { readFile } from "node:fs/promises";
import { servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

/** The first turn of each of the first `n` questions of an MT-Bench-style JSONL file. */
export async function firstTurns(path, n) {
  return (await readFile(path, "utf8"))
    .split("\n")
    .filter((l) => l.trim())
    .slice(0, Number(n))
    .map((l) => JSON.parse(l).turns[0]);
}

/** The page, the errors it reports (benches throw if any) and `close()`. */
export async function analyzerPage() {
  const server = await servePages();
  const browser = await launch();
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
  await page.evaluate(() => {
    window.loadAnalyzer = async (device, weights) => {
      const m = await import("/pkg-models/tandem_wasm.js");
      await m.default();
      window.tandem = m;
      const get = async (name) => new Uint8Array(await (await fetch(`/models/all-minilm-l6-v2/${name}`)).arrayBuffer());
      const model = await get("model.safetensors");
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", model));
      const sha = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      const config = new TextDecoder().decode(await get("config.json"));
      const tokenizer = await get("tokenizer.json");
      return m.Analyzer.load(config, model, sha, tokenizer, undefined, device, weights);
    };
  });
  return {
    browser,
    page,
    errors,
    async close() {
      await browser.close();
      server.close();
    },
  };
}
