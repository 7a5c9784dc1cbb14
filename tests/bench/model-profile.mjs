// Where a decode's time goes inside headless Chromium: the package's wasm with models runs a GGUF model in
// the bench page's model worker (tests/pages/model-worker.js: the CPU backend, relaxed SIMD where Chromium
// has it; with THREADS > 0 the threaded build, /pkg-models-threads/, with that many pool workers beside
// it), and answers twice under V8's sampling profiler, attached to that worker through the Chrome DevTools
// Protocol: with 1 token and with N. It prints the decode's speed and the self time of the hottest
// functions of the worker in the second answer less the first, so that loading and prefill cancel out.
// The pool's own workers are not profiled; the model worker's `Condvar::wait` is its wait for them. The
// relaxed-SIMD module's functions carry no names (`wasm-function[0]` is its `block_rows`).
// Usage: node tests/bench/model-profile.mjs [MODEL=qwen2.5-coder-1.5b] [N=17] [THREADS=0]
// Build first: pkg-scripts/build-web models (and --threads for THREADS > 0)
import { servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";
import { printHottest, selfTimes } from "./cpu-profile.mjs";

const [model = "qwen2.5-coder-1.5b", tokens = "17", threads = "0"] = process.argv.slice(2);
const messages = [{ role: "user", content: "Write a long story about a dragon who learns to cook." }];
const server = await servePages(0, { isolated: true });
const browser = await launch();
try {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${server.address().port}/model.html`);

  // The worker's session, reached through the page's (`flatten: false`: messages travel inside
  // `Target.sendMessageToTarget`, which a page's CDP session can send).
  const cdp = await browser.context.newCDPSession(page);
  // The page starts a model worker of its own (tests/pages/model.js); this one is told apart by its URL.
  const attached = new Promise((ok) =>
    cdp.on("Target.attachedToTarget", (e) => e.targetInfo.url.includes("profiled=1") && ok(e.sessionId)),
  );
  const replies = new Map();
  cdp.on("Target.receivedMessageFromTarget", ({ message }) => {
    const reply = JSON.parse(message);
    replies.get(reply.id)?.(reply);
    replies.delete(reply.id);
  });
  let nextId = 1;
  const inWorker = (sessionId, method, params = {}) =>
    new Promise((ok, fail) => {
      const id = nextId++;
      replies.set(id, (reply) => (reply.error ? fail(new Error(`${method}: ${reply.error.message}`)) : ok(reply.result)));
      cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method, params }) }).catch(fail);
    });
  await cdp.send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });

  const kernel = await page.evaluate(
    async ({ url, threads }) => {
      const { modelWorker } = await import("/model-worker-client.js");
      window.call = modelWorker(`/model-worker.js?threads=${threads}&profiled=1`).call;
      const loaded = await window.call({ type: "load", url, device: "cpu" });
      await window.call({ type: "chat", messages: [{ role: "user", content: "Hi" }], options: { maxTokens: 2 } }); // warm-up
      return loaded.kernel;
    },
    { url: `/models/${model}.gguf`, threads: Number(threads) },
  );
  const worker = await attached;
  await inWorker(worker, "Profiler.enable");
  await inWorker(worker, "Profiler.setSamplingInterval", { interval: 200 });
  const profiled = async (maxTokens) => {
    await inWorker(worker, "Profiler.start");
    const { result } = await page.evaluate((msg) => window.call(msg), { type: "chat", messages, options: { maxTokens } });
    const { profile } = await inWorker(worker, "Profiler.stop");
    return { result, times: selfTimes(profile) };
  };
  const one = await profiled(1);
  const many = await profiled(Number(tokens));
  if (errors.length) throw new Error(errors.join("\n"));
  const steps = many.result.tokens.length - 1;
  console.log(
    JSON.stringify({ model, kernel, threads: 1 + Number(threads), decode_steps: steps, ms_per_token: +(many.result.decodeMs / steps).toFixed(1) }),
  );
  printHottest(new Map([...many.times].map(([name, ms]) => [name, ms - (one.times.get(name) ?? 0)])));
} finally {
  await browser.close();
  server.close();
}
