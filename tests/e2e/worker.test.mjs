// The edge worker in a real workerd process, in front of local OpenAI-compatible upstreams
// (tests/support/upstream.mjs) with scripted faults. Needs `pkg-scripts/build-worker` first.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { request as httpRequest } from "node:http";
import { startUpstream, FAULTS } from "../support/upstream.mjs";
import { freePort } from "../support/workerd.mjs";
import { startGateway as startWorker, RUNTIME } from "../support/gateway.mjs";

const KEYS = { PRIMARY_KEY: "sk-primary-9f8e7d6c5b4a", BACKUP_KEY: "sk-backup-1a2b3c4d5e6f" };
const TOKEN = "tandem-client-token-0123456789";
let primary, backup, worker, deadPort;
const bodies = []; // every response body the tests saw, checked for leaked secrets at the end

function gatewayConfig(extra = {}) {
  return {
    upstreams: [
      { name: "dead", base_url: `http://127.0.0.1:${deadPort}/v1`, models: { "via-dead": "via-dead" }, timeout_ms: 600, retries: 0 },
      { name: "primary", base_url: primary.url, api_key_secret: "PRIMARY_KEY", models: { "gpt-test": "upstream-model", "*": "*" }, timeout_ms: 600, idle_timeout_ms: 2000, retries: 1, backoff_ms: 20 },
      { name: "backup", base_url: backup.url, api_key_secret: "BACKUP_KEY", models: { "*": "*" }, timeout_ms: 600, retries: 1, backoff_ms: 20 },
    ],
    clients: [{ name: "web", token_secret: "CLIENT_TOKEN" }],
    limits: { max_body_bytes: 65536, requests_per_minute: 60000, burst: 1000 },
    cors_origins: ["https://app.example"],
    ...extra,
  };
}

before(async () => {
  deadPort = await freePort(); // nothing listens there: connections are refused
  primary = await startUpstream({ name: "primary", apiKey: KEYS.PRIMARY_KEY, tokenDelayMs: 25, slowMs: 1000 });
  backup = await startUpstream({ name: "backup", apiKey: KEYS.BACKUP_KEY, tokenDelayMs: 5 });
  worker = await startWorker({ gateway: gatewayConfig(), secrets: { ...KEYS, CLIENT_TOKEN: TOKEN } });
});

after(async () => {
  await worker?.close();
  await primary?.close();
  await backup?.close();
});

const client = () => new OpenAI({ baseURL: `${worker.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
const ask = (content) => [{ role: "user", content }];

async function post(path, body, headers = {}, url = worker.url) {
  const r = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  bodies.push(text);
  return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) };
}

/** The gateway's log line for a request id (workerd prints console.log lines). */
async function logLine(id) {
  for (let i = 0; i < 50; i++) {
    const line = worker.logs.find((l) => l.includes(`"request_id":"${id}"`) && l.includes('"status"'));
    if (line) return JSON.parse(line.slice(line.indexOf("{")));
    await new Promise((ok) => setTimeout(ok, 20));
  }
  throw new Error(`no log line for ${id}`);
}

test("the openai client streams a completion token by token, unbuffered", async () => {
  await fetch(`${primary.url.replace("/v1", "")}/_control/requests`, { method: "DELETE" });
  const stream = await client().chat.completions.create({ model: "gpt-test", messages: ask("stream please"), stream: true });
  const arrivals = [];
  let text = "";
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta?.content ?? "";
    arrivals.push(performance.now());
    text += delta;
  }
  assert.equal(text, "Hello from primary: you said stream please");
  // 6 words, 25 ms apart at the upstream: buffered output would arrive all at once.
  assert.ok(arrivals.length >= 7, `${arrivals.length} chunks`);
  const spread = arrivals.at(-1) - arrivals[0];
  assert.ok(spread >= 5 * 25 * 0.6, `chunks spread over ${spread.toFixed(0)} ms`);
  const seen = await (await fetch(`${primary.url.replace("/v1", "")}/_control/requests`)).json();
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers.authorization, `Bearer ${KEYS.PRIMARY_KEY}`);
  assert.equal(JSON.parse(seen[0].body).model, "upstream-model", "the public name is mapped");
  assert.ok(!JSON.stringify(seen[0]).includes(TOKEN), "the client token never goes upstream");
});

test("non-streamed completions and the model list work through the openai client", async () => {
  const c = client();
  const reply = await c.chat.completions.create({ model: "gpt-test", messages: ask("hi"), temperature: 0.1 });
  assert.equal(reply.choices[0].message.content, "Hello from primary: you said hi");
  const models = [];
  for await (const m of c.models.list()) models.push(m.id);
  assert.deepEqual(models, ["via-dead", "gpt-test"]);
  const health = await fetch(`${worker.url}/health`);
  assert.equal(health.status, 200);
});

/**
 * Streams a chunked body of up to `maxBytes` (no Content-Length) until the server answers or
 * drops the connection; resolves with the status (null if the connection was reset before an
 * answer could be read) and the bytes written.
 */
function chunkedUpload(url, maxBytes) {
  return new Promise((resolve) => {
    let sent = 0;
    let done = false;
    const finish = (status) => {
      if (done) return;
      done = true;
      resolve({ status, sent });
      req.destroy();
    };
    const req = httpRequest(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` } });
    req.on("response", (res) => {
      res.resume();
      res.on("close", () => finish(res.statusCode));
    });
    req.on("error", () => setTimeout(() => finish(null), 100));
    const chunk = Buffer.alloc(1 << 20, 0x20);
    const pump = () => {
      while (sent < maxBytes && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return req.once("drain", pump);
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}

test("a chunked upload without a length is cut off at the body limit", async () => {
  const { status, sent } = await chunkedUpload(`${worker.url}/v1/chat/completions`, 256 << 20);
  // 413, or a connection closed while the client was still sending (its answer lost to the reset).
  assert.ok(status === 413 || status === null, `status ${status}`);
  assert.ok(sent < 256 << 20, `the gateway stopped reading before 256 MiB arrived (${sent >> 20} MiB sent)`);
  assert.equal((await fetch(`${worker.url}/health`)).status, 200);
});

test("clients are authenticated, bodies limited, routes checked, CORS answered", async () => {
  const noAuth = await post("/v1/chat/completions", { model: "m", messages: ask("x") }, { authorization: "" });
  assert.equal(noAuth.status, 401);
  assert.equal(noAuth.json().error.code, "invalid_api_key");
  const wrong = await post("/v1/chat/completions", { model: "m", messages: ask("x") }, { authorization: `Bearer ${TOKEN}x` });
  assert.equal(wrong.status, 401);
  await assert.rejects(new OpenAI({ baseURL: `${worker.url}/v1`, apiKey: "nope", maxRetries: 0 }).models.list(), { status: 401 });
  const big = await post("/v1/chat/completions", { model: "m", messages: ask("x".repeat(70_000)) });
  assert.equal(big.status, 413);
  assert.equal((await post("/v1/chat/completions", "{not json")).status, 400);
  assert.equal((await post("/v1/chat/completions", { model: "m", messages: [] })).status, 400);
  assert.equal((await post("/v1/nothing", {})).status, 404);
  assert.equal((await fetch(`${worker.url}/v1/chat/completions`)).status, 405);
  const preflight = await fetch(`${worker.url}/v1/chat/completions`, {
    method: "OPTIONS",
    headers: { origin: "https://app.example", "access-control-request-method": "POST" },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(preflight.headers.get("access-control-allow-headers"), /authorization/);
  const evil = await fetch(`${worker.url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: "https://evil.example" } });
  assert.equal(evil.status, 403);
  const cors = await post("/v1/chat/completions", { model: "m", messages: ask("x") }, { origin: "https://app.example" });
  assert.equal(cors.headers.get("access-control-allow-origin"), "https://app.example");
});

test("each client is rate limited with Retry-After", async () => {
  const limited = await startWorker({
    gateway: gatewayConfig({ limits: { max_body_bytes: 65536, requests_per_minute: 60, burst: 3 } }),
    secrets: { ...KEYS, CLIENT_TOKEN: TOKEN },
  });
  try {
    const statuses = [];
    let last;
    for (let i = 0; i < 5; i++) {
      last = await post("/v1/chat/completions", { model: "m", messages: ask("x") }, {}, limited.url);
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(last.json().error.code, "rate_limited");
    assert.ok(Number(last.headers.get("retry-after")) >= 1);
  } finally {
    await limited.close();
  }
});

// Scripted faults: what the primary (and backup) do, and what the client must see.
const NON_STREAM_CASES = [
  { name: "429 once: retried on the same upstream", primary: ["429"], status: 200, from: "primary", attempts: 2 },
  { name: "500 twice: falls back to the next upstream", primary: ["500", "500"], status: 200, from: "backup", attempts: 3 },
  { name: "slow first byte twice: times out, falls back", primary: ["slow", "slow"], status: 200, from: "backup", attempts: 3 },
  { name: "malformed JSON once: retried", primary: ["malformed"], status: 200, from: "primary", attempts: 2 },
  { name: "every upstream 429: 429 to the client", primary: ["429", "429"], backup: ["429", "429"], status: 429, attempts: 4 },
  { name: "every upstream 500: 502 to the client", primary: ["500", "500"], backup: ["500", "500"], status: 502, attempts: 4 },
];

for (const c of NON_STREAM_CASES) {
  test(`fault: ${c.name}`, async () => {
    primary.script(...(c.primary ?? []));
    backup.script(...(c.backup ?? []));
    const r = await post("/v1/chat/completions", { model: "m", messages: ask("fault") });
    assert.equal(r.status, c.status, r.text);
    if (c.from) assert.match(r.json().choices[0].message.content, new RegExp(`^Hello from ${c.from}`));
    else assert.ok(r.json().error.message);
    const log = await logLine(r.headers.get("x-request-id"));
    assert.equal(log.attempts, c.attempts);
    assert.equal(primary.state.queue.length + backup.state.queue.length, 0, "every scripted fault was used");
  });
}

test("fault: connection refused falls back to the next upstream", async () => {
  const r = await post("/v1/chat/completions", { model: "via-dead", messages: ask("x") });
  assert.equal(r.status, 200);
  assert.match(r.json().choices[0].message.content, /^Hello from primary/);
  const log = await logLine(r.headers.get("x-request-id"));
  assert.match(log.failures[0], /^dead: connection failed/);
});

test("fault: every upstream slow gives 504 in bounded time", async () => {
  primary.script("slow", "slow");
  backup.state.slowMs = 1000;
  backup.script("slow", "slow");
  const started = performance.now();
  const r = await post("/v1/chat/completions", { model: "m", messages: ask("x") });
  assert.equal(r.status, 504);
  assert.ok(performance.now() - started < 4 * 600 + 1000);
});

const STREAM_CASES = [
  { fault: "drop", message: /mid-stream/ },
  { fault: "truncate", message: /before \[DONE\]/ },
  { fault: "malformed", message: /not JSON/ },
];

for (const c of STREAM_CASES) {
  test(`fault after the first byte (${c.fault}): the stream ends with an error event, never a silent 200`, async () => {
    primary.script(c.fault);
    const stream = await client().chat.completions.create({ model: "m", messages: ask("s"), stream: true });
    let text = "";
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
      })(),
      (err) => c.message.test(err.message),
    );
    assert.equal(text, "Hello from", "what arrived before the fault was relayed");
  });
}

test("10,000 requests with random faults: the worker keeps serving, no hang, no panic", { timeout: 600_000 }, async () => {
  const fast = await startUpstream({ name: "fast", tokenDelayMs: 0, slowMs: 300 });
  const spare = await startUpstream({ name: "spare", tokenDelayMs: 0, slowMs: 300 });
  const w = await startWorker({
    gateway: {
      upstreams: [
        { name: "fast", base_url: fast.url, models: { "*": "*" }, timeout_ms: 150, idle_timeout_ms: 500, retries: 1, backoff_ms: 1 },
        { name: "spare", base_url: spare.url, models: { "*": "*" }, timeout_ms: 150, idle_timeout_ms: 500, retries: 0 },
      ],
      clients: [{ name: "load", token_secret: "CLIENT_TOKEN" }],
      limits: { max_body_bytes: 65536, requests_per_minute: 10_000_000, burst: 100_000 },
    },
    secrets: { CLIENT_TOKEN: TOKEN },
  });
  fast.randomFaults(0.5, 7);
  spare.randomFaults(0.3, 11);
  const outcomes = {};
  const count = (k) => (outcomes[k] = (outcomes[k] ?? 0) + 1);
  let next = 0;
  async function one(i) {
    const stream = i % 2 === 0;
    const r = await fetch(`${w.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ model: "m", messages: ask(`n${i}`), stream }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    if (r.status !== 200) {
      assert.ok([429, 502, 504].includes(r.status), `status ${r.status}: ${text}`);
      assert.ok(JSON.parse(text).error.code);
      return count(`${r.status}`);
    }
    if (!stream) {
      assert.match(JSON.parse(text).choices[0].message.content, /^Hello from/);
      return count("200 json");
    }
    const ends = text.trimEnd().split("\n\n").at(-1);
    if (ends === "data: [DONE]") return count("200 stream done");
    assert.match(ends, /^data: \{"error":/, `a stream must end with [DONE] or an error event: ${ends}`);
    count(`200 stream error ${JSON.parse(ends.slice(6)).error.code}`);
  }
  try {
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < 10_000) await one(next++);
      }),
    );
    assert.equal(w.exited, null, "workerd is still running");
    assert.equal((await fetch(`${w.url}/health`)).status, 200);
    fast.randomFaults(0);
    spare.randomFaults(0);
    const ok = await post("/v1/chat/completions", { model: "m", messages: ask("after") }, {}, w.url);
    assert.equal(ok.status, 200);
    assert.ok(!w.logs.some((l) => /panicked|RuntimeError|Critical error|uncaught/i.test(l)), "no panic in the logs");
    console.log("outcomes:", JSON.stringify(outcomes));
    assert.ok(outcomes["200 stream done"] > 1000 && outcomes["200 json"] > 1000);
    assert.ok(Object.keys(outcomes).some((k) => k.startsWith("200 stream error")), "mid-stream faults were exercised");
  } finally {
    await w.close();
    await fast.close();
    await spare.close();
  }
});

test("secrets never appear in responses or logs", () => {
  const all = bodies.join("\n") + worker.logs.join("\n");
  for (const secret of [...Object.values(KEYS), TOKEN]) assert.ok(!all.includes(secret), "a secret leaked");
  assert.ok(worker.logs.length > 10);
});
