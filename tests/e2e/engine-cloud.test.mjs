// The engine's cloud side as an app meets it (@tandem/web, InlineEngine in Node with no local
// model) against the real worker in workerd and a local upstream: OpenAI-shaped answers from the
// worker's default model, and every failure as its own error class with status and code.
// Needs pkg-scripts/build-package and pkg-scripts/build-worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { startUpstream } from "../support/upstream.mjs";
import { startWorker, freePort } from "../support/workerd.mjs";
import { AbortError, AuthError, CloudError, CloudUnreachable, RateLimitError, TandemError, createEngine } from "../../www/tandem-web/dist/index.js";

const TOKEN = "engine-cloud-token";
const WASM = new URL("../../www/tandem-web/dist/wasm/tandem_wasm_bg.wasm", import.meta.url);
let upstream, worker, wasm;

before(async () => {
  wasm = await readFile(WASM);
  upstream = await startUpstream({ name: "cloud", tokenDelayMs: 20 });
  worker = await startWorker({
    gateway: {
      // As worker/wrangler.toml has it: public names mapped to the upstream's, no wildcard.
      upstreams: [{ name: "up", base_url: upstream.url, models: { "gpt-small": "small-1", "gpt-large": "large-1" } }],
      default_model: "gpt-small",
      clients: [{ name: "web", token_secret: "TOKEN" }],
      limits: { requests_per_minute: 60, burst: 12 },
    },
    secrets: { TOKEN },
  });
});

after(async () => {
  await worker?.close();
  await upstream?.close();
});

const engine = (options = {}) => createEngine({ workerUrl: worker.url, token: TOKEN, wasm, inWorker: false, ...options });
const ask = (e, content, extra = {}, options) => e.chat.completions.create({ messages: [{ role: "user", content }], ...extra }, options);
const lastUpstreamBody = () => JSON.parse(upstream.state.requests.at(-1).body);

test("without cloudModel the worker's default_model answers, in OpenAI's shapes, with the e-mail restored", async () => {
  const e = await engine();
  const whole = await ask(e, "Write to jane.doe@example.com please", { max_tokens: 30, temperature: 0.2 });
  assert.equal(lastUpstreamBody().model, "small-1", "`default` is the worker's default_model");
  assert.equal(lastUpstreamBody().temperature, 0.2);
  assert.ok(!upstream.state.requests.at(-1).body.includes("jane.doe@example.com"));
  assert.equal(whole.object, "chat.completion");
  assert.equal(whole.choices[0].finish_reason, "stop");
  assert.match(whole.choices[0].message.content, /^Hello from cloud: you said Write to jane\.doe@example\.com/);
  assert.equal(whole.tandem.mode, "cloud");
  assert.equal(whole.tandem.redactions, 1);
  assert.ok(whole.usage.completion_tokens > 0 && whole.usage.total_tokens === whole.usage.prompt_tokens + whole.usage.completion_tokens);

  const chunks = [];
  for await (const chunk of await ask(e, "Hi there", { stream: true, model: "gpt-large" })) chunks.push(chunk);
  assert.equal(lastUpstreamBody().model, "large-1", "the request's model is the cloud model");
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""), chunks.at(-1).tandem.text);
  assert.ok(chunks.slice(0, -1).every((c) => c.tandem.source === "cloud"));
  e.close();
});

test("a wrong token is an AuthError, an unknown model a CloudError, both with status and code", async () => {
  const wrong = await engine({ token: "not-the-token" });
  const auth = await ask(wrong, "Hi").catch((err) => err);
  assert.ok(auth instanceof AuthError && auth instanceof TandemError, String(auth));
  assert.equal(auth.status, 401);
  assert.equal(typeof auth.code, "string");
  wrong.close();

  const e = await engine();
  const missing = await ask(e, "Hi", { model: "gpt-huge" }).catch((err) => err);
  assert.ok(missing instanceof CloudError, String(missing));
  assert.deepEqual([missing.status, missing.code], [404, "model_not_found"]);
  assert.match(missing.message, /gpt-huge/);
  e.close();
});

test("an aborted answer is an AbortError; an unreachable worker with no local model is CloudUnreachable", async () => {
  const e = await engine();
  const controller = new AbortController();
  const stream = await ask(e, "Tell me a long story about lighthouses and the sea", { stream: true }, { signal: controller.signal });
  let pieces = 0;
  const err = await (async () => {
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content && ++pieces === 2) controller.abort();
  })().catch((x) => x);
  assert.ok(err instanceof AbortError, String(err));
  assert.equal(err.name, "AbortError");
  e.close();

  const port = await freePort();
  const gone = await engine({ workerUrl: `http://127.0.0.1:${port}`, cloudTimeoutMs: 2000 });
  const unreachable = await ask(gone, "Hi").catch((x) => x);
  assert.ok(unreachable instanceof CloudUnreachable, String(unreachable));
  assert.equal(unreachable.code, "network");
  gone.close();
});

test("past the worker's rate limit the answer is a RateLimitError with Retry-After", async () => {
  const e = await engine();
  let limited = null;
  for (let i = 0; i < 40 && !limited; i++) {
    limited = await ask(e, `Hi ${i}`, { max_tokens: 2 }).then(() => null, (err) => err);
  }
  assert.ok(limited instanceof RateLimitError, String(limited));
  assert.equal(limited.status, 429);
  assert.ok(limited.retryAfter > 0, `retryAfter ${limited.retryAfter}`);
  e.close();
});
