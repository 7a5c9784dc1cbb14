// The package's engine on the CPU backend in headless Chromium: `createEngine` from the built
// package (www/tandem-web/dist), SmolLM2-135M by name, in the engine's Web Worker. On a
// cross-origin isolated page it runs the threaded build on the device's cores; elsewhere, or
// asked for one thread, the default build on one, with the reason. Every way answers the same
// greedy text: the rows a thread takes change nothing in the sums. Any console error fails.
// Needs pkg-scripts/build-package (built by pkg-scripts/test) and the setup script's model files.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

const QUESTION = "Name three primary colors.";
let plain, isolated, browser;

before(async () => {
  plain = await servePages();
  isolated = await servePages(0, { isolated: true });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  plain?.close();
  isolated?.close();
});

/**
 * Opens the empty engine page on `server`, creates an engine with `options` (SmolLM2-135M, no
 * analyzer, no cloud) and asks QUESTION greedily; resolves to its `ready` info and answer. Console
 * errors fail, but for those `allowErrors` matches.
 */
async function answer(server, options = {}, { allowErrors = /^$/ } = {}) {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${server.address().port}/engine.html`);
  const result = await page.evaluate(
    async ({ options, question }) => {
      const { createEngine } = await import("/tandem-web/index.js");
      const engine = await createEngine({ models: { baseUrl: "/models/", local: ["smollm2-135m"], analyzer: false }, ...options });
      const reply = await engine.chat.completions.create({ messages: [{ role: "user", content: question }], max_tokens: 24, temperature: 0 });
      engine.close();
      return { info: engine.info, text: reply.choices[0].message.content, mode: reply.tandem.mode, isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency };
    },
    { options, question: QUESTION },
  );
  await page.close();
  assert.deepEqual(errors.filter((e) => !allowErrors.test(e)), []);
  assert.equal(result.info.backend, "cpu", "SwiftShader's WebGPU is a software adapter: the CPU backend runs");
  assert.equal(result.mode, "local");
  assert.ok(result.text.length > 10, JSON.stringify(result.text));
  return result;
}

test("on a cross-origin isolated page the engine's worker runs the threaded build on every core, and answers as one thread does", async () => {
  const threaded = await answer(isolated);
  assert.equal(threaded.isolated, true);
  assert.ok(threaded.cores >= 2, `this test needs two cores; the browser reports ${threaded.cores}`);
  assert.equal(threaded.info.threads, Math.min(threaded.cores, 8));
  assert.equal(threaded.info.threadsReason, null);

  const two = await answer(isolated, { threads: 2 });
  assert.equal(two.info.threads, 2);
  assert.equal(two.text, threaded.text);

  // Asked for one thread: the default build, and nothing to explain.
  const one = await answer(isolated, { threads: 1 });
  assert.deepEqual([one.info.threads, one.info.threadsReason], [1, null]);
  assert.equal(one.text, threaded.text, "threads change nothing in the greedy answer");
});

test("where the threaded build cannot run, one thread and the reason: no cross-origin isolation, the page's main thread, a relocated wasm", async () => {
  const reference = await answer(isolated, { threads: 1 });

  const notIsolated = await answer(plain);
  assert.equal(notIsolated.isolated, false);
  assert.equal(notIsolated.info.threads, 1);
  assert.match(notIsolated.info.threadsReason, /not cross-origin isolated/);
  assert.equal(notIsolated.text, reference.text);

  const mainThread = await answer(isolated, { inWorker: false, threads: 2 });
  assert.equal(mainThread.info.threads, 1);
  assert.match(mainThread.info.threadsReason, /main thread/);
  assert.equal(mainThread.text, reference.text);

  // The app moved the default build's wasm and said nothing of the threaded one's.
  const relocated = await answer(isolated, { threads: 2, wasm: "/tandem-web/wasm/tandem_wasm_bg.wasm" });
  assert.equal(relocated.info.threads, 1);
  assert.match(relocated.info.threadsReason, /threadsWasm/);
});

test("a threaded build that fails to start leaves the default build running, and an invalid `threads` is a clear error", async () => {
  const broken = await answer(isolated, { threads: 2, threadsWasm: "/models/missing-threads.wasm" }, { allowErrors: /missing-threads\.wasm|status of 404/ });
  assert.equal(broken.info.threads, 1);
  assert.match(broken.info.threadsReason, /threaded build failed to start/);

  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${isolated.address().port}/engine.html`);
  const refused = await page.evaluate(async () => {
    const { createEngine } = await import("/tandem-web/index.js");
    return createEngine({ models: { baseUrl: "/models/", local: ["smollm2-135m"], analyzer: false }, threads: 0 }).then(
      () => "created",
      (err) => `${err.name} ${err.code}: ${err.message}`,
    );
  });
  assert.match(refused, /^TandemError invalid_options: threads must be "auto" or a whole number/);
  await page.close();
});
