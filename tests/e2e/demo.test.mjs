// The chat demo (www/demo, the Vite build of the @tandem/web package) in headless Chromium,
// against the real worker in workerd, a local OpenAI-compatible upstream standing in for the
// cloud model, and `tandem serve --target smollm2-135m` as the speculative target. Every
// request the browser sends (page and Web Worker alike) is captured: none may carry the seeded
// personal data. Needs pkg-scripts/build-package, build-demo, build-worker and the debug
// `tandem` binary (all built by pkg-scripts/test) and the setup script's model files.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { serve, MODEL_CACHE } from "../../pkg-scripts/serve.mjs";
import { launch, screenshot, watchErrors } from "../support/browser.mjs";
import { startDemoStack, TARGET } from "../support/demo-stack.mjs";
import { freePort } from "../support/workerd.mjs";

const run = promisify(execFile);
const DIST = fileURLToPath(new URL("../../www/demo/dist", import.meta.url));
const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target"), "debug", "tandem");
const TOKEN = "demo-client-token";
// Personal data seeded into the chat; none of it may leave the page.
const SEEDED = ["jane.doe@example.com", "+1 415 555 0134", "4111 1111 1111 1111"];
let stack, upstream, worker, site, browser, base;

before(async () => {
  stack = await startDemoStack({ tandem: TANDEM, token: TOKEN });
  ({ upstream, worker } = stack);
  // Cross-origin isolated, as pkg-scripts/demo serves it: the Vite-bundled threaded build runs.
  site = await serve(DIST, 0, { mounts: { "/models/": MODEL_CACHE }, isolated: true });
  base = `http://127.0.0.1:${site.address().port}/`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (site ? site.close(ok) : ok()));
  await stack?.close();
});

/**
 * The small local model, named: tests about something other than the local model's answers
 * take it, since the default (the largest that fits) is Qwen2.5-Coder-0.5B, five times larger.
 */
const SMALL = { localModel: "smollm2-135m" };

/** Opens the demo with `params`; resolves once the engine is ready. Captures every request body. */
async function open(params = {}) {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  const sent = [];
  const capture = (req) => sent.push({ url: req.url(), body: req.postData() ?? "" });
  browser.context.on("request", capture);
  const query = new URLSearchParams({ worker: worker.url, token: TOKEN, ...params });
  await page.goto(`${base}?${query}`);
  await page.waitForFunction(() => document.getElementById("loading").classList.contains("done") || document.querySelector("#progress-label.error"), null, { timeout: 240_000 });
  const failed = await page.locator("#progress-label.error").count();
  if (failed) throw new Error(await page.locator("#progress-label").textContent());
  return {
    page,
    errors,
    sent,
    close: async () => {
      browser.context.off("request", capture);
      await page.close();
    },
  };
}

/** Sends `text` with the route selector at `route`; resolves to the finished reply's details. */
async function ask(page, text, route = "auto") {
  await page.selectOption("#route", route);
  const before = await page.locator(".msg.assistant").count();
  await page.fill("#input", text);
  await page.click("#send");
  const reply = page.locator(".msg.assistant").nth(before);
  await reply.and(page.locator("[data-done='1']")).waitFor({ timeout: 240_000 });
  return {
    answer: await reply.locator(".answer").textContent(),
    meta: await reply.locator(".meta").textContent(),
    route: await reply.locator(".meta").getAttribute("data-route"),
    mode: await reply.getAttribute("data-mode"),
    error: await reply.locator(".error").textContent().catch(() => null),
    marks: await page.locator(".msg.user").nth(before).locator("mark.pii").allTextContents(),
    drafts: {
      accepted: await reply.locator(".draft.accepted").count(),
      rejected: await reply.locator(".draft.rejected").count(),
    },
  };
}

const events = (page, type) => page.evaluate((t) => window.tandemEvents.filter((e) => e.type === t).map((e) => e.event), type);

test("a chat with personal data round-trips through the cloud with none of it in any request", async () => {
  const { page, errors, sent, close } = await open({ threshold: "1", ...SMALL });
  const ready = (await events(page, "ready"))[0];
  assert.equal(ready.backend, "cpu", "SwiftShader is a software adapter: auto takes the CPU backend");
  assert.match(ready.fallbackReason, /software/);
  assert.equal(ready.models.localReason, "smollm2-135m: named by the app");
  // Served cross-origin isolated: the engine's worker runs the threaded build (as Vite bundled it).
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.deepEqual([ready.threads, ready.threadsReason], [Math.min(cores, 8), null]);
  assert.ok(ready.threads >= 2, `this test needs two cores; the browser reports ${cores}`);
  assert.equal(await page.locator("#backend").textContent(), `smollm2-135m · CPU ×${ready.threads}`);
  const message = `Mail ${SEEDED[0]}, call ${SEEDED[1]}, card ${SEEDED[2]}`;
  const r = await ask(page, message, "cloud");
  assert.equal(r.error, null);
  assert.equal(r.route, "cloud");
  assert.equal(r.mode, "cloud");
  assert.deepEqual(r.marks, SEEDED, "every seeded value is highlighted");
  // The stand-in cloud echoes what it got: placeholders, which the page restores.
  assert.match(r.answer, /^Hello from cloud: you said Mail jane\.doe@example\.com/);
  await screenshot(page, "demo", { x: 200, y: 0, width: 880, height: 350 });
  const chat = sent.filter((s) => s.url.endsWith("/v1/chat/completions"));
  assert.equal(chat.length, 1, `the Web Worker's request was captured (${sent.map((s) => s.url).join(", ")})`);
  assert.match(chat[0].body, /Mail \[EMAIL_1\], call \[PHONE_1\], card \[CARD_1\]/);
  for (const s of sent) for (const value of SEEDED) assert.ok(!s.body.includes(value), `${value} left the page in ${s.url}`);
  const got = await (await fetch(`${upstream.url.replace("/v1", "")}/_control/requests`)).json();
  for (const value of SEEDED) assert.ok(!JSON.stringify(got).includes(value), `${value} reached the upstream`);
  const usage = (await events(page, "usage")).at(-1);
  assert.ok(usage.cloudTokens > 0 && usage.cost > 0, JSON.stringify(usage));
  assert.deepEqual(errors, []);
  await close();
});

test("engine.chat.completions.create answers in OpenAI's shapes: whole and streamed, sampling settings reach both sides, leaving the loop early stops the answer", async () => {
  const { page, errors, sent, close } = await open(SMALL);
  const r = await page.evaluate(async (seeded) => {
    const engine = window.tandemEngine;
    const local = { tandem: { route: "local" } };
    const ask = (content, extra) => engine.chat.completions.create({ messages: [{ role: "user", content }], ...local, ...extra });
    const whole = await ask("Say hello.", { max_tokens: 5 });
    const sampled = { stream: true, max_tokens: 24, temperature: 0.8, top_p: 0.9, seed: 7 };
    const chunks = [];
    for await (const chunk of await ask("Name three colours.", sampled)) chunks.push(chunk);
    const again = await ask("Name three colours.", { ...sampled, stream: false });
    const other = await ask("Name three colours.", { ...sampled, stream: false, seed: 8 });
    const cloud = await ask(`Mail ${seeded}`, { tandem: { route: "cloud" }, temperature: 0.3, top_p: 0.8, seed: 11, max_tokens: 20 });
    let pieces = 0;
    for await (const chunk of await ask("Write a long story about a lighthouse.", { stream: true, max_tokens: 200 })) if (chunk.choices[0]?.delta.content && ++pieces === 3) break;
    const after = await ask("Say hello.", { max_tokens: 3 });
    return { whole, chunks, again, other, cloud, pieces, after };
  }, SEEDED[0]);

  assert.equal(r.whole.object, "chat.completion");
  assert.equal(r.whole.choices[0].finish_reason, "length");
  assert.equal(r.whole.usage.completion_tokens, 5);
  assert.ok(r.whole.usage.prompt_tokens > 5, JSON.stringify(r.whole.usage));
  assert.equal(r.whole.choices[0].message.content, r.whole.tandem.text);
  assert.equal(r.whole.tandem.mode, "local");

  const [first, last] = [r.chunks[0], r.chunks.at(-1)];
  assert.equal(first.choices[0].delta.role, "assistant");
  assert.ok(r.chunks.every((c) => c.object === "chat.completion.chunk" && c.id === first.id), "one id for every chunk");
  assert.ok(r.chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null && c.tandem.source === "local"));
  assert.equal(last.tandem.route, "local");
  assert.ok(last.usage.completion_tokens > 0);
  const streamed = r.chunks.map((c) => c.choices[0].delta.content ?? "").join("");
  assert.equal(streamed, last.tandem.text);
  assert.equal(r.again.choices[0].message.content, streamed, "the same seed gives the same sampled answer");
  assert.notEqual(r.other.choices[0].message.content, streamed, "another seed gives another sampled answer");

  assert.equal(r.cloud.tandem.mode, "cloud");
  assert.match(r.cloud.choices[0].message.content, /jane\.doe@example\.com/, "the echoed placeholder is restored");
  const got = await (await fetch(`${upstream.url.replace("/v1", "")}/_control/requests`)).json();
  const body = JSON.parse(got.at(-1).body);
  assert.deepEqual([body.temperature, body.top_p, body.seed, body.max_tokens], [0.3, 0.8, 11, 20], "sampling settings reach the cloud");
  for (const s of sent) assert.ok(!s.body.includes(SEEDED[0]), `the e-mail left the page in ${s.url}`);

  assert.equal(r.pieces, 3);
  assert.equal(r.after.usage.completion_tokens, 3, "the engine answers again after a stream was left early");
  const tokens = await events(page, "token");
  assert.ok(tokens.length < r.whole.usage.completion_tokens + r.chunks.length + 2 * 24 + 3 + 40, `the left stream kept generating (${tokens.length} token events)`);
  assert.deepEqual(errors, []);
  await close();
});

test("sealed: every request to the worker is sealed, and stale keys are fetched again once", async () => {
  const current = await (await fetch(`${worker.url}/v1/seal/keys`)).text();
  // The first answer is a key the worker does not have (as after a rotation), then the real ones.
  const stale = JSON.stringify({ keys: [{ ...JSON.parse(current).keys[0], key_id: 9 }] });
  let served = 0;
  const keys = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
    res.end(served++ === 0 ? stale : current);
  });
  await new Promise((ok) => keys.listen(0, "127.0.0.1", ok));
  try {
    const { page, errors, sent, close } = await open({ threshold: "1", ...SMALL, sealKeys: `http://127.0.0.1:${keys.address().port}/keys.json` });
    const message = `Mail ${SEEDED[0]}, call ${SEEDED[1]}`;
    const r = await ask(page, message, "cloud");
    assert.equal(r.error, null, "the sealed reply opened whole: its final record was checked");
    assert.match(r.answer, /^Hello from cloud: you said Mail jane\.doe@example\.com/);
    assert.equal(served, 2, "the keys were fetched again after seal_unknown_key");
    const toWorker = sent.filter((s) => s.url.startsWith(worker.url));
    assert.deepEqual([...new Set(toWorker.map((s) => new URL(s.url).pathname))], ["/v1/sealed"]);
    assert.equal(toWorker.length, 2, "the refused request and its retry");
    for (const s of toWorker) assert.ok(!s.body.includes("[EMAIL_1]"), "even the placeholders are sealed");
    for (const s of sent) for (const value of SEEDED) assert.ok(!s.body.includes(value), `${value} left the page in ${s.url}`);
    // The browser reports the worker's 400 for the stale key; nothing else may go wrong. One
    // exception: Chromium sometimes reports the sealed reply's request as aborted after its 200
    // (about one run in three). Its net log shows the request completing without an error, and
    // the page has opened every record up to the final one (r.error is null above), so that
    // report says nothing about the reply.
    const reportedAfterWholeReply = (e) => e === `requestfailed: ${worker.url}/v1/sealed (net::ERR_ABORTED) after status 200`;
    assert.deepEqual(errors.filter((e) => !/status of 400/.test(e) && !reportedAfterWholeReply(e)), []);
    await close();
  } finally {
    keys.closeAllConnections();
    await new Promise((ok) => keys.close(ok));
  }
});

test("the demo refuses a worker URL of another origin from its query string, and hides the token", async () => {
  const page = await browser.context.newPage();
  await page.goto(`${base}?${new URLSearchParams({ worker: "https://evil.example", token: TOKEN })}`);
  await page.waitForSelector("#progress-label.error");
  assert.match(await page.textContent("#progress-label"), /the worker URL https:\/\/evil\.example is neither this page's origin nor loopback/);
  assert.ok(!page.url().includes(TOKEN), page.url());
  await page.close();
});

test("the router answers locally on its own: PII-dense text stays on the device, and so does the rest of that conversation", async () => {
  const { page, errors, sent, close } = await open(SMALL);
  const r = await ask(page, `Jane Doe, ${SEEDED[0]}, ${SEEDED[1]}, card ${SEEDED[2]}: who is she?`, "auto");
  assert.equal(r.error, null);
  assert.equal(r.route, "local");
  assert.equal(r.mode, "local");
  assert.match(r.meta, /personal data|PII|entities/i);
  assert.ok(r.answer.length > 0, "the local model answered");
  const route = (await events(page, "route")).at(-1);
  assert.equal(route.reason.kind, "piiDense");
  assert.equal(sent.filter((s) => s.url.includes("/v1/")).length, 0, "nothing went to the worker");
  const usage = (await events(page, "usage")).at(-1);
  assert.ok(usage.localTokens > 0 && usage.saved > 0 && usage.cost === 0, JSON.stringify(usage));
  // A follow-up that would go to the cloud on its own: a cloud request carries the whole
  // conversation, so the conversation stays here.
  const next = await ask(page, "Why does JSON.parse throw 'Unexpected token < in JSON at position 0' when I fetch my API?", "auto");
  assert.equal(next.route, "local");
  const followUp = (await events(page, "route")).at(-1);
  assert.equal(followUp.reason.kind, "privateConversation");
  assert.ok(followUp.pLocal < 0.5, `on its own it would have gone to the cloud: ${followUp.pLocal}`);
  assert.equal(sent.filter((s) => s.url.includes("/v1/")).length, 0, "nothing went to the worker");
  assert.deepEqual(errors, []);
  await close();
});

test("the router sends a plain question to the cloud under a strict threshold, and a lax one keeps it local", async () => {
  const strict = await open({ threshold: "1", ...SMALL });
  const r = await ask(strict.page, "What is the capital of France?", "auto");
  assert.equal(r.route, "cloud");
  assert.equal((await events(strict.page, "route")).at(-1).reason.kind, "needsCloud");
  await strict.close();
  const lax = await open({ threshold: "0.2", ...SMALL });
  const l = await ask(lax.page, "What is the capital of France?", "auto");
  assert.equal(l.route, "local");
  assert.equal((await events(lax.page, "route")).at(-1).reason.kind, "localSuffices");
  // After a cloud answer, a message that clears the threshold but not the switch margin stays
  // in the cloud, which has seen the conversation.
  assert.equal((await ask(lax.page, "Tell me about the history of Paris.", "cloud")).route, "cloud");
  const hard = await ask(lax.page, HARD, "auto");
  assert.equal(hard.route, "cloud");
  const stays = (await events(lax.page, "route")).at(-1);
  assert.equal(stays.reason.kind, "staysInCloud");
  assert.ok(stays.pLocal >= 0.2 && stays.pLocal < 0.35, `${stays.pLocal}`);
  assert.deepEqual([...strict.errors, ...lax.errors], []);
  await lax.close();
});

test("the cascade: a local answer the model is unsure of goes to the cloud before any of it shows", async () => {
  // A bar no answer can pass (mean log-probability ≥ 0 means certainty on every token), and
  // one every answer passes: the switch, then no switch.
  const never = await open({ threshold: "0", cascade: "4:0", ...SMALL });
  const r = await ask(never.page, "What is the capital of France?", "auto");
  assert.equal(r.error, null);
  assert.equal(r.route, "cloud");
  assert.equal(r.mode, "cloud");
  assert.match(r.answer, /^Hello from cloud: you said What is the capital of France\?/);
  const routes = await events(never.page, "route");
  assert.deepEqual(routes.map((x) => x.route), ["local", "cloud"]);
  assert.equal(routes[1].reason.kind, "lowConfidence");
  assert.equal(routes[1].reason.tokens, 4);
  assert.ok(routes[1].reason.meanLogprob < 0);
  assert.equal(await never.page.locator(".tok.local").count(), 0, "no local piece was shown");
  const redactions = await events(never.page, "redaction");
  assert.deepEqual(redactions.map((x) => x.sent), [false, true]);
  const usage = (await events(never.page, "usage")).at(-1);
  assert.ok(usage.localTokens >= 1 && usage.localTokens <= 4 && usage.cloudTokens > 0, JSON.stringify(usage));
  await never.close();
  const always = await open({ threshold: "0", cascade: "4:-100", ...SMALL });
  const l = await ask(always.page, "What is the capital of France?", "auto");
  assert.equal(l.route, "local");
  assert.deepEqual((await events(always.page, "route")).map((x) => x.route), ["local"]);
  assert.ok((await always.page.locator(".tok.local").count()) > 0);
  assert.deepEqual([...never.errors, ...always.errors], []);
  await always.close();
});

/** A request the small model's head gives a low but nonzero chance (p 0.2–0.35; `tandem router decide --local-model smollm2-135m`). */
const HARD = "Prove that there are infinitely many prime numbers.";

/** Is `answer` readable: a few words, `word` among them, not a loop (under 20 % repeated word 3-grams), not a refusal. */
function assertReadable(answer, word) {
  const words = answer.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
  assert.ok(words.length >= 3, `too short: ${answer}`);
  assert.ok(words.some((w) => w.startsWith(word)), `no "${word}" in: ${answer}`);
  const grams = words.slice(2).map((_, i) => words.slice(i, i + 3).join(" "));
  assert.ok(grams.length - new Set(grams).size <= 0.2 * grams.length, `a loop: ${answer}`);
  assert.doesNotMatch(answer, /as an ai|I('m| am) (sorry|unable)|I can(no|')t/i, `a refusal: ${answer}`);
}

test("at default settings the largest local model that fits answers, and its own head routes: a rewording stays local and reads well, knowledge and debugging go to the cloud", async (t) => {
  const { page, errors, sent, close } = await open();
  const ready = (await events(page, "ready")).at(-1);
  assert.equal(ready.models.local, "qwen2.5-coder-0.5b");
  assert.match(ready.models.localReason, /^qwen2\.5-coder-0\.5b: the largest of 2 that fits this device/);
  assert.equal(ready.models.routingFor, "qwen2.5-coder-0.5b");
  assert.match(await page.locator("#backend").textContent(), /^qwen2\.5-coder-0\.5b · CPU ×\d$/);
  // A shortening: the kind of rewording Qwen2.5-Coder-0.5B does well (about 80 % of generated
  // shortening tasks usable, against under 15 % of "make it polite" ones, which go to the cloud).
  const reword = await ask(page, "Say this in fewer words: Would it perhaps be possible for us to move our call from Thursday to Friday afternoon instead?", "auto");
  assert.equal(reword.error, null);
  assert.equal(reword.route, "local");
  assert.equal((await events(page, "route")).at(-1).reason.kind, "localSuffices");
  assertReadable(reword.answer, "friday");
  t.diagnostic(`the rewording, answered on the device: ${reword.answer}`);
  assert.equal(sent.filter((s) => s.url.includes("/v1/")).length, 0, "the rewording never left the page");
  for (const question of [
    "Which element has the highest electronegativity, and why?",
    "Why does JSON.parse throw 'Unexpected token < in JSON at position 0' when I fetch my API?",
  ]) {
    const r = await ask(page, question, "auto");
    assert.equal(r.error, null);
    assert.equal(r.route, "cloud", question);
    const route = (await events(page, "route")).at(-1);
    assert.equal(route.reason.kind, "needsCloud");
    assert.ok(route.pLocal < 0.5, `${question}: ${route.pLocal}`);
  }
  assert.deepEqual(errors, []);
  await close();
});

test("speculative: the page drafts, the worker's target verifies, and the answer is the target's own", async () => {
  const prompt = "Name three primary colors.";
  const maxTokens = 16;
  const { page, errors, sent, close } = await open({ speculative: TARGET, maxTokens: `${maxTokens}` });
  const ready = (await events(page, "ready")).at(-1);
  assert.match(ready.models.localReason, /^smollm2-135m: the largest of 1 that draft for smollm2-135m/, "only a model with the target's tokenizer can draft");
  const r = await ask(page, prompt, "cloud");
  assert.equal(r.error, null);
  assert.equal(r.mode, "speculative");
  const { stdout } = await run(TANDEM, ["generate", "--model", TARGET, "--plain", "--max-tokens", `${maxTokens}`, prompt]);
  assert.equal(r.answer, stdout.trimEnd(), "greedy speculation prints exactly the target's greedy reply");
  const rounds = await events(page, "draft");
  assert.ok(rounds.length >= 2, `${rounds.length} rounds`);
  assert.ok(r.drafts.accepted > 0, "some drafted tokens were accepted (coloured)");
  const usage = (await events(page, "usage")).at(-1);
  assert.equal(usage.accepted, r.drafts.accepted);
  assert.ok(sent.some((s) => s.url.endsWith("/v1/verify")));
  assert.deepEqual(errors, []);
  await close();
});

test("offline, the engine answers locally and says so; an unreachable worker does not hang the chat", async () => {
  const { page, errors, close } = await open(SMALL);
  await browser.context.setOffline(true);
  try {
    const r = await ask(page, "What is the capital of France?", "cloud");
    assert.equal(r.route, "local");
    assert.match(r.meta, /offline/);
    assert.ok(r.answer.length > 0);
  } finally {
    await browser.context.setOffline(false);
  }
  await close();
  const closedPort = await freePort();
  const dead = await open({ worker: `http://127.0.0.1:${closedPort}`, ...SMALL });
  const started = Date.now();
  const r = await ask(dead.page, "What is the capital of France?", "cloud");
  assert.equal(r.route, "local");
  assert.match(r.meta, /unreachable/);
  assert.ok(Date.now() - started < 120_000);
  const routes = await events(dead.page, "route");
  assert.deepEqual(routes.map((x) => x.route), ["cloud", "local"]);
  assert.equal(routes[1].reason.kind, "cloudUnreachable");
  // The failed fetch to the dead worker is expected; nothing else may fail.
  assert.deepEqual([...errors, ...dead.errors.filter((e) => !e.includes(`:${closedPort}/`))], []);
  await dead.close();
});

test("known models by name, with no manifest: the package's registry pins the files, and the model answers", async () => {
  const { page, errors, sent, close } = await open({ models: "smollm2-135m" });
  const ready = (await events(page, "ready"))[0];
  assert.equal(ready.models.local, "smollm2-135m");
  assert.ok(ready.models.analyzer, "the default encoder loads too");
  assert.ok(!sent.some((s) => s.url.endsWith("/manifest.json")), "no manifest was fetched");
  const r = await ask(page, "Say hello in one word.", "local");
  assert.equal(r.error, null);
  assert.equal(r.route, "local");
  assert.ok(r.answer.trim().length > 0);
  assert.deepEqual(errors, []);
  await close();
});

test("model files come from the Cache API on the next visit, and a changed manifest swaps them", async () => {
  const first = await open({ threshold: "1", ...SMALL });
  await first.close();
  const again = await open({ threshold: "1", ...SMALL });
  const progress = await again.page.evaluate(() => window.tandemProgress);
  assert.ok(progress.length >= 4 && progress.every((p) => p.cached), JSON.stringify(progress));
  const fractions = await again.page.evaluate(() => window.tandemFractions);
  assert.ok(fractions.every((f, i) => i === 0 || f >= fractions[i - 1]), `the load's fraction went back: ${fractions}`);
  assert.equal(fractions.at(-1), 1, "the load ends at 1");
  const keys = await again.page.evaluate(async () => (await (await caches.open("tandem-models")).keys()).map((r) => r.url));
  // These four, and Qwen2.5-Coder-0.5B's file when an earlier test loaded the default model:
  // the cache keeps every file the manifest names, whichever local model this device takes.
  const names = keys.map((u) => new URL(u).pathname.split("/").pop()).sort();
  for (const n of ["config.json", "model.safetensors", "smollm2-135m.gguf", "tokenizer.json"]) assert.ok(names.includes(n), names.join());
  assert.deepEqual(names.filter((n) => !["config.json", "model.safetensors", "smollm2-135m.gguf", "tokenizer.json", "qwen2.5-coder-0.5b.gguf"].includes(n)), []);
  await again.close();
  // A manifest whose tokenizer hash changed: the old entry is dropped, the new file is
  // fetched and checked (here it fails the check, and the engine says so).
  const page = await browser.context.newPage();
  await page.route("**/manifest.json", async (route) => {
    const manifest = await (await route.fetch()).json();
    manifest.analyzer.tokenizer.sha256 = "0".repeat(64);
    await route.fulfill({ json: manifest });
  });
  await page.goto(`${base}?${new URLSearchParams({ worker: worker.url, token: TOKEN })}`);
  await page.locator("#progress-label.error").waitFor({ timeout: 120_000 });
  assert.match(await page.locator("#progress-label").textContent(), /tokenizer\.json: sha256 [0-9a-f]{64} does not match the manifest's 0{64}/);
  const left = await page.evaluate(async () => (await (await caches.open("tandem-models")).keys()).map((r) => r.url));
  assert.equal(left.length, keys.length - 1, "the old tokenizer entry was dropped");
  assert.ok(!left.some((u) => u.includes("tokenizer.json")));
  await page.close();
  // The local model's GGUF streams into the module's memory and is hashed there (ModelBuffer):
  // a manifest naming another hash gets the file's true sha256 back in the refusal.
  const gguf = await browser.context.newPage();
  await gguf.route("**/manifest.json", async (route) => {
    const manifest = await (await route.fetch()).json();
    for (const entry of manifest.local) entry.file.sha256 = "1".repeat(64);
    await route.fulfill({ json: manifest });
  });
  await gguf.goto(`${base}?${new URLSearchParams({ worker: worker.url, token: TOKEN, localModel: "smollm2-135m" })}`);
  await gguf.locator("#progress-label.error").waitFor({ timeout: 120_000 });
  const real = (await readFile(join(MODEL_CACHE, "smollm2-135m.gguf.sha256"), "utf8")).trim().split(/\s+/)[0];
  assert.match(real, /^[0-9a-f]{64}$/);
  assert.match(await gguf.locator("#progress-label").textContent(), new RegExp(`smollm2-135m\\.gguf: sha256 ${real} does not match the manifest's 1{64}`));
  await gguf.close();
});
