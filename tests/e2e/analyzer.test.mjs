// The on-device encoder in headless Chromium, on WebGPU (SwiftShader) and on the CPU backend:
// all-MiniLM-L6-v2 from the setup script's cache gives sentence-transformers' embeddings
// (cosine >= 0.9999 against transformers), and the Analyzer (shipped heads) finds the names,
// organizations and addresses, merges them with the pattern layer, and routes with the same
// probability as the PyTorch heads. A base file with the wrong sha256 is refused with a clear
// error and the page keeps working. Any console error fails.
// Needs `pkg-scripts/build-web models` (built by pkg-scripts/test).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

const REFERENCE = JSON.parse(
  await readFile(new URL("../../crates/tandem-models/tests/fixtures/minilm_reference.json", import.meta.url), "utf8"),
);
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

/** A page with the wasm package initialised and the base encoder files fetched. */
async function openPage() {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${base}index.html`);
  await page.evaluate(async () => {
    const m = await import("/pkg-models/tandem_wasm.js");
    await m.default();
    const get = async (name) => {
      const r = await fetch(`/models/all-minilm-l6-v2/${name}`);
      if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    };
    const model = await get("model.safetensors");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", model));
    window.tandem = {
      m,
      config: new TextDecoder().decode(await get("config.json")),
      model,
      sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
      tokenizer: await get("tokenizer.json"),
    };
  });
  return { page, errors };
}

const cosine = (a, b) => {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
};

for (const device of ["auto", "cpu"]) {
  test(`sentence embeddings match sentence-transformers (${device})`, async () => {
    const { page, errors } = await openPage();
    const { backend, embeddings } = await page.evaluate(
      async ({ device, texts }) => {
        const t = window.tandem;
        const enc = await t.m.SentenceEncoder.load(t.config, t.model, t.tokenizer, device);
        const embeddings = [];
        for (const text of texts) embeddings.push(Array.from(await enc.embed(text)));
        return { backend: enc.backend, embeddings };
      },
      { device, texts: REFERENCE.sentences.map((s) => s.text) },
    );
    const hasGpu = await page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())));
    assert.equal(backend, device === "cpu" || !hasGpu ? "cpu" : "webgpu");
    REFERENCE.sentences.forEach((s, i) => {
      const c = cosine(embeddings[i], s.embedding);
      assert.ok(c >= 0.9999, `${backend}: cosine ${c} for ${JSON.stringify(s.text)}`);
    });
    assert.deepEqual(errors, []);
    await page.close();
  });

  test(`the analyzer finds entities and routes like its PyTorch heads (${device})`, async () => {
    const { page, errors } = await openPage();
    const text = "Hi, I'm Jane Doe 🙂 from Acme Corp. Ship it to 42 Baker Street, London, or mail jane@example.com.";
    const result = await page.evaluate(
      async ({ device, text, refs }) => {
        const t = window.tandem;
        const a = await t.m.Analyzer.load(t.config, t.model, t.sha256, t.tokenizer, undefined, device);
        const analysis = await a.analyze(text);
        const probabilities = [];
        for (const r of refs) probabilities.push((await a.analyze(r)).route.pLocal);
        // The f32 encoder is the PyTorch-parity reference; the default holds its matrices as Q8_0.
        const reference = await t.m.Analyzer.load(t.config, t.model, t.sha256, t.tokenizer, undefined, device, "f32");
        const f32Probabilities = [];
        for (const r of refs) f32Probabilities.push((await reference.analyze(r)).route.pLocal);
        const offline = await a.analyze("What is the capital of France?", { minLocalProbability: 1.1 }, { cloudAvailable: false });
        const forced = await a.analyze("What is the capital of France?", { force: "cloud" });
        let badPreset = null;
        try {
          a.setModelPreset("loose");
        } catch (e) {
          badPreset = String(e.message ?? e);
        }
        a.setModelPreset("precision");
        const strict = await a.analyze(text);
        return { backend: a.backend, analysis, probabilities, f32Probabilities, offline: offline.route, forced: forced.route, badPreset, strict };
      },
      { device, text, refs: REFERENCE.sentences.map((s) => s.text) },
    );
    const found = result.analysis.entities.map((e) => [e.kind, text.slice(e.start, e.end)]);
    assert.ok(found.some(([k, v]) => k === "PERSON" && v === "Jane Doe"), JSON.stringify(found));
    assert.ok(found.some(([k, v]) => k === "EMAIL_ADDRESS" && v === "jane@example.com"), JSON.stringify(found));
    assert.ok(found.some(([k, v]) => k === "STREET_ADDRESS" && v.includes("42 Baker Street")), JSON.stringify(found));
    assert.ok(result.analysis.modelEntities.every((e) => e.recognizer === "ner"));
    REFERENCE.sentences.forEach((s, i) => {
      assert.ok(
        Math.abs(result.f32Probabilities[i] - s.route_probability) < 1e-3,
        `${result.backend} f32: p_local ${result.f32Probabilities[i]} vs ${s.route_probability}`,
      );
      // The same tolerance as crates/tandem-engine/tests/tagger.rs for the integer encoder.
      assert.ok(
        Math.abs(result.probabilities[i] - s.route_probability) < 0.02,
        `${result.backend}: p_local ${result.probabilities[i]} vs ${s.route_probability}`,
      );
    });
    const route = result.analysis.route;
    assert.ok(["local", "cloud"].includes(route.route));
    assert.match(route.explanation, /p = \d\.\d\d|personal data/);
    assert.deepEqual([result.offline.route, result.offline.reason.kind], ["local", "offline"]);
    assert.deepEqual([result.forced.route, result.forced.reason.kind], ["cloud", "userSetting"]);
    // The precision preset keeps a subset of the default's model entities; a typo is an error.
    assert.match(result.badPreset, /`recall` or `precision`/);
    assert.ok(result.strict.modelEntities.length <= result.analysis.modelEntities.length);
    assert.deepEqual(errors, []);
    await page.close();
  });
}

test("a base model with the wrong sha256 is refused and the page keeps working", async () => {
  const { page, errors } = await openPage();
  const outcome = await page.evaluate(async () => {
    const t = window.tandem;
    let message = null;
    try {
      await t.m.Analyzer.load(t.config, t.model, "0".repeat(64), t.tokenizer, undefined, "cpu");
    } catch (e) {
      message = String(e.message ?? e);
    }
    let weightsError = null;
    try {
      await t.m.Analyzer.load(t.config, t.model, t.sha256, t.tokenizer, undefined, "cpu", "int3");
    } catch (e) {
      weightsError = String(e.message ?? e);
    }
    let policyError = null;
    const a = await t.m.Analyzer.load(t.config, t.model, t.sha256, t.tokenizer, undefined, "cpu");
    try {
      await a.analyze("hi", { minLocalProbability: "high" });
    } catch (e) {
      policyError = String(e.message ?? e);
    }
    const after = await a.analyze("Please call Jane Doe.");
    return { message, weightsError, policyError, after: after.entities.length };
  });
  assert.match(outcome.message ?? "", /trained on base model/);
  assert.match(outcome.weightsError ?? "", /unknown weight format `int3`/);
  assert.match(outcome.policyError ?? "", /router policy/);
  assert.ok(outcome.after >= 1);
  assert.deepEqual(errors, []);
  await page.close();
});
