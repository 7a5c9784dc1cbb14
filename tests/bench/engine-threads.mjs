// Decode speed of the npm package's engine (`createEngine`, www/tandem-web/dist, in its Web
// Worker) in headless Chromium on the CPU backend: `threads: 1` (the default build) against
// `threads: "auto"` (the threaded build on every core) on a cross-origin isolated page, the same
// known model, prompt and greedy settings. The two alternate for ROUNDS rounds and each keeps its
// best (this VM's noise only ever slows a run down). Prints one JSON line per run and the ratio.
// Usage: node tests/bench/engine-threads.mjs [MODEL=qwen2.5-coder-0.5b] [MAX_TOKENS=64] [ROUNDS=2]
// Build first: pkg-scripts/build-package
import { servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

const [model = "qwen2.5-coder-0.5b", maxTokens = "64", rounds = "2"] = process.argv.slice(2);
const server = await servePages(0, { isolated: true });
const browser = await launch();

/** One answer with `threads`: its decode tok/s and the engine's threads. */
async function run(threads) {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${server.address().port}/engine.html`);
  const result = await page.evaluate(
    async ({ model, threads, maxTokens }) => {
      const { createEngine } = await import("/tandem-web/index.js");
      const engine = await createEngine({ models: { baseUrl: "/models/", local: [model], analyzer: false }, localModel: model, threads });
      const stamps = [];
      engine.on("token", () => stamps.push(performance.now()));
      const messages = [{ role: "user", content: "Write a long story about a dragon who learns to cook." }];
      const started = performance.now();
      const reply = await engine.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0 });
      engine.close();
      // Tokens after the first, over the time from the first streamed piece to the last.
      const tokens = reply.usage.completion_tokens;
      const decodeS = (stamps.at(-1) - stamps[0]) / 1000;
      return { info: engine.info, tokens, firstPieceMs: stamps[0] - started, decode_tok_s: (tokens - 1) / decodeS };
    },
    { model, threads, maxTokens: Number(maxTokens) },
  );
  await page.close();
  if (errors.length) throw new Error(errors.join("\n"));
  return { threads: result.info.threads, threadsReason: result.info.threadsReason, tokens: result.tokens, first_piece_ms: Math.round(result.firstPieceMs), decode_tok_s: +result.decode_tok_s.toFixed(2) };
}

const best = {};
for (let round = 0; round < Number(rounds); round++) {
  for (const threads of [1, "auto"]) {
    const r = await run(threads);
    console.log(JSON.stringify({ model, round, asked: threads, ...r }));
    if (!best[threads] || r.decode_tok_s > best[threads].decode_tok_s) best[threads] = r;
  }
}
await browser.close();
server.close();
const [one, auto] = [best[1], best.auto];
console.log(`${model}: decode ${one.decode_tok_s} tok/s on 1 thread, ${auto.decode_tok_s} on ${auto.threads} (${(auto.decode_tok_s / one.decode_tok_s).toFixed(2)}×)`);
