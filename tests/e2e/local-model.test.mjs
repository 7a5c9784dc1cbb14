// The local model page (tests/pages/model.html) in headless Chromium: SmolLM2-135M from the setup
// script's cache runs in a Web Worker on burn's CPU backend and must stream the same plain
// greedy reply as the native `tandem generate --plain` (the kernels agree; the chat defaults'
// repetition penalty can turn a near-tie between the wasm and AVX2 sums either way); WebGPU is picked where the browser has it; broken
// model files give a clear error and leave the page working. Any console error fails.
// The threaded build (two threads, a cross-origin isolated page) gives the same reply.
// Needs `pkg-scripts/build-web models`, `pkg-scripts/build-web models --threads` and the debug
// `tandem` binary (all built by pkg-scripts/test).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { MODEL_CACHE, servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

const TARGET = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target");
const TANDEM = join(TARGET, "debug", "tandem");
const QUESTION = "Name three primary colors.";
const MAX_TOKENS = 24;
let server, browser, base;

before(async () => {
  server = await servePages();
  base = `http://127.0.0.1:${server.address().port}/`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** The model page on `device`, served at `at`; with `threads`, the threaded build. */
async function openPage(device, { at = base, threads = 0 } = {}) {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${at}model.html?device=${device}${threads > 0 ? `&threads=${threads}` : ""}`);
  await page.waitForSelector("body[data-ready=true]");
  return { page, errors };
}

async function load(page, url) {
  await page.fill("#model-url", url);
  await page.click("#load");
  await page.waitForSelector("body[data-model=loaded], body[data-model=failed]", { timeout: 120_000 });
  return page.evaluate(() => document.body.dataset.model);
}

/** The native `tandem generate --plain` reply to QUESTION. */
function nativeReply() {
  const native = execFileSync(TANDEM, ["generate", "--model", "smollm2-135m", "--plain", "--max-tokens", `${MAX_TOKENS}`, QUESTION], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }).replace(/\n$/, "");
  assert.ok(native.length > 10, `native reply: ${JSON.stringify(native)}`);
  return native;
}

/** Asks QUESTION greedily on a loaded page; the streamed output, checked as it grows. */
async function askPlain(page) {
  // Record every change of the output while the reply streams in.
  await page.evaluate(() => {
    window.updates = [];
    new MutationObserver(() => window.updates.push(document.getElementById("output").textContent)).observe(
      document.getElementById("output"),
      { childList: true, characterData: true, subtree: true },
    );
  });
  await page.fill("#prompt", QUESTION);
  await page.fill("#max-tokens", `${MAX_TOKENS}`);
  await page.check("#plain");
  await page.click("#ask");
  await page.waitForSelector("body[data-generation=done], body[data-generation=failed]", { timeout: 300_000 });
  assert.equal(await page.textContent("#error"), "");
  const updates = await page.evaluate(() => window.updates.filter((u) => u.length > 0));
  assert.ok(updates.length >= 5, `streamed in ${updates.length} updates`);
  assert.ok(updates.every((u, i) => i === 0 || u.startsWith(updates[i - 1])), "each update extends the last");
  assert.match(await page.textContent("#stats"), /tok\/s/);
  return page.textContent("#output");
}

test("SmolLM2 on the CPU backend streams the native greedy reply", async () => {
  const native = nativeReply();
  const { page, errors } = await openPage("cpu");
  assert.equal(await load(page, "/models/smollm2-135m.gguf"), "loaded");
  assert.equal(await page.evaluate(() => document.body.dataset.backend), "cpu");
  assert.equal(await page.evaluate(() => document.body.dataset.kernel), "relaxed");
  assert.equal(await askPlain(page), native);
  assert.deepEqual(errors, []);
  await page.close();
});

// The threaded build (pkg-scripts/build-web models --threads): the products on a pool of Web
// Workers over shared memory, which needs a cross-origin isolated page. The rows a thread takes
// change nothing in the sums, so the reply is the native one too.
test("the threaded build streams the same reply on two threads", async () => {
  const native = nativeReply();
  const isolated = await servePages(0, { isolated: true });
  try {
    const at = `http://127.0.0.1:${isolated.address().port}/`;
    const { page, errors } = await openPage("cpu", { at, threads: 1 });
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.equal(await load(page, "/models/smollm2-135m.gguf"), "loaded");
    assert.equal(await page.evaluate(() => document.body.dataset.backend), "cpu");
    // Chromium has relaxed SIMD, and each thread of the pool started the module: it is the
    // kernel only where every thread runs it.
    assert.equal(await page.evaluate(() => document.body.dataset.kernel), "relaxed");
    assert.equal(await askPlain(page), native);
    // On the page's main thread, which may not wait for the pool, startThreads refuses.
    const refused = await page.evaluate(async () => {
      const pkg = await import("/pkg-models-threads/tandem_wasm.js");
      await pkg.default();
      return pkg.startThreads(1).then(
        () => "started",
        (err) => err.message,
      );
    });
    assert.match(refused, /runs in a Web Worker/);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    isolated.close();
  }
});

test("the threaded build on a page that is not cross-origin isolated fails clearly", async () => {
  const { page, errors } = await openPage("cpu", { threads: 1 });
  assert.equal(await page.evaluate(() => crossOriginIsolated), false);
  assert.equal(await load(page, "/models/smollm2-135m.gguf"), "failed");
  assert.match(await page.textContent("#error"), /cross-origin isolated/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("broken model files give a clear error and the page keeps working", async () => {
  const { page, errors } = await openPage("cpu");
  const real = await readFile(join(MODEL_CACHE, "smollm2-135m.gguf"));
  await page.route("**/broken/truncated.gguf", (route) => route.fulfill({ body: real.subarray(0, 2_000_000) }));
  await page.route("**/broken/text.gguf", (route) => route.fulfill({ body: "<html>not a model</html>" }));
  assert.equal(await load(page, "/broken/text.gguf"), "failed");
  assert.match(await page.textContent("#error"), /GGUF|magic/i);
  assert.equal(await load(page, "/broken/truncated.gguf"), "failed");
  assert.match(await page.textContent("#error"), /token_embd.weight.*outside the \d+-byte data section/);
  assert.equal(await load(page, "/models/missing.gguf"), "failed");
  assert.match(await page.textContent("#error"), /HTTP 404/);
  // The worker survived all of it.
  assert.equal(await load(page, "/models/smollm2-135m.gguf"), "loaded");
  await page.fill("#max-tokens", "2");
  await page.click("#ask");
  await page.waitForSelector("body[data-generation=done]", { timeout: 120_000 });
  // The 404 shows up as a failed request in the console; nothing else may.
  assert.deepEqual(
    errors.filter((e) => !e.includes("missing.gguf")),
    [],
  );
  await page.close();
});

test("device auto picks WebGPU where the browser has an adapter", async () => {
  const { page, errors } = await openPage("auto");
  assert.equal(await load(page, "/models/smollm2-135m.gguf"), "loaded");
  const hasAdapter = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()));
  assert.ok(hasAdapter, "this Chromium has no WebGPU adapter: check the flags in tests/support/browser.mjs");
  assert.equal(await page.evaluate(() => document.body.dataset.backend), "webgpu");
  assert.doesNotMatch(await page.textContent("#model-status"), /CPU backend/);
  assert.deepEqual(errors, []);
  await page.close();
});
