// Shared state across isolates: two instances of the worker in workerd (two isolates, like two
// Cloudflare machines) bound to one Durable Object namespace refuse a sealed request replayed to
// the other instance, count one client's requests in one rate limit and its spending in one token
// budget, and continue a verification session started on the other instance. Without the
// namespace each isolate keeps its own state, and the replay goes through: what the Durable
// Objects fix.
// Needs pkg-scripts/build-package (the sealing client), pkg-scripts/build-worker and the debug
// `tandem` binary (seal keygen).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startWorker } from "../support/workerd.mjs";
import { startUpstream, targetChoice } from "../support/upstream.mjs";

// The sealed channel is in the engine's wasm (the shield-only one has none).
const PKG = fileURLToPath(new URL("../../www/tandem-web/dist/wasm/", import.meta.url));
const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target"), "debug", "tandem");
const TOKEN = "shared-state-token";
const SPENDER = "shared-state-spender";
let wasm, upstream;

before(async () => {
  wasm = await import(join(PKG, "tandem_wasm.js"));
  await wasm.default({ module_or_path: await readFile(join(PKG, "tandem_wasm_bg.wasm")) });
  upstream = await startUpstream({ name: "shared-up", tokenDelayMs: 1 });
});

after(async () => {
  await upstream?.close();
});

/**
 * Two instances of the worker, with or without the shared namespace. Each client may send a burst
 * of four requests, then one a minute, unless `limits` says otherwise; client `spender` has a
 * budget of 100 tokens an hour.
 */
async function pair(durable, limits = { requests_per_minute: 1, burst: 4 }) {
  const secret = execFileSync(TANDEM, ["seal", "keygen", "--key-id", "1"], { encoding: "utf8" }).split("\n")[1].trim();
  return startWorker({
    instances: 2,
    durable,
    gateway: {
      upstreams: [{ name: "up", base_url: upstream.url, models: { "*": "*" } }],
      clients: [
        { name: "web", token_secret: "TOKEN", policy: { max_tokens: 10 } },
        { name: "spender", token_secret: "SPENDER", policy: { max_tokens: 10, token_budget: { tokens: 100, per_seconds: 3600 } } },
      ],
      limits,
      seal: { keys: [{ key_id: 1, secret: "SEAL" }] },
    },
    secrets: { TOKEN, SPENDER, SEAL: secret },
  });
}

/** A sealed `GET /health` to the worker at `url`: its body and the inner status. */
async function sealedHealth(url) {
  const keys = await (await fetch(`${url}/v1/seal/keys`)).text();
  const exchange = wasm.SealClient.fromKeys(keys).seal("GET", "/health", "", `Bearer ${TOKEN}`);
  return exchange.body;
}

async function send(url, body) {
  const resp = await fetch(`${url}/v1/sealed`, { method: "POST", body });
  const type = resp.headers.get("content-type");
  const text = type === "application/tandem-sealed-response" ? "" : await resp.text();
  return { status: resp.status, code: text ? JSON.parse(text).error?.code : null };
}

const LAX = { requests_per_minute: 600, burst: 100 };
const models = (url) => fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.status);

test("two isolates sharing one namespace refuse each other's replays and share a rate limit", async () => {
  const worker = await pair(true);
  try {
    const [a, b] = worker.urls;
    const body = await sealedHealth(a);
    assert.equal((await send(a, body)).status, 200);
    assert.deepEqual(await send(b, body), { status: 400, code: "seal_replay" }, "the replay to the other isolate");
    assert.deepEqual(await send(a, body), { status: 400, code: "seal_replay" });
    // The client's burst of four, spread over both isolates: the next is limited wherever it lands.
    assert.deepEqual([await models(a), await models(b), await models(a), await models(b)], [200, 200, 200, 200]);
    assert.equal(await models(a), 429);
    assert.equal(await models(b), 429);
  } finally {
    await worker.close();
  }
});

test("without the namespace each isolate keeps its own state: the replay goes through", async () => {
  const worker = await pair(false);
  try {
    const [a, b] = worker.urls;
    const body = await sealedHealth(a);
    assert.equal((await send(a, body)).status, 200);
    assert.equal((await send(a, body)).code, "seal_replay", "the same isolate remembers it");
    assert.equal((await send(b, body)).status, 200, "another isolate does not");
  } finally {
    await worker.close();
  }
});

/** POSTs `body` as JSON to `path` with `token`: the status, the error code and the body. */
async function post(url, path, token, body) {
  const resp = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await resp.json();
  return { status: resp.status, code: json.error?.code ?? null, json };
}

test("two isolates sharing one namespace draw on one token budget and continue each other's sessions", async () => {
  const worker = await pair(true, LAX);
  try {
    const [a, b] = worker.urls;
    // Each chat reserves about 25 tokens (its prompt and 10 completion tokens) and costs 11 (the
    // upstream's usage): one 100-token budget serves about ten requests, alternating between the
    // isolates; a budget per isolate would serve about twenty.
    const chat = { model: "m", messages: [{ role: "user", content: "hi" }] };
    const served = [];
    for (let i = 0; i < 30; i++) {
      const r = await post(i % 2 ? b : a, "/v1/chat/completions", SPENDER, chat);
      if (r.status !== 200) {
        assert.deepEqual([r.status, r.code], [429, "budget_exhausted"]);
        break;
      }
      served.push(r.json.usage.total_tokens);
    }
    assert.ok(served.length >= 5 && served.length <= 12, `${served.length} requests served on 100 tokens`);
    for (const url of [a, b]) {
      assert.equal((await post(url, "/v1/chat/completions", SPENDER, chat)).code, "budget_exhausted", url);
    }

    // A verification round on a starts a session; the next round, on b, builds on it.
    const round = (base, context, draft) => ({ model: "target", session: "s1", base, context, draft, sampling: { temperature: 0 } });
    const first = await post(a, "/v1/verify", TOKEN, round(0, [2, 5], [targetChoice(5), targetChoice(16), 7]));
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.deepEqual([first.json.accepted, first.json.next, first.json.session_len], [2, targetChoice(49), 4]);
    await fetch(`${upstream.url.replace("/v1", "")}/_control/requests`, { method: "DELETE" });
    const second = await post(b, "/v1/verify", TOKEN, round(4, [48], [45]));
    assert.equal(second.status, 200, JSON.stringify(second.json));
    const sent = await (await fetch(`${upstream.url.replace("/v1", "")}/_control/requests`)).json();
    assert.deepEqual(JSON.parse(sent.at(-1).body).prompt, [2, 5, 16, 49, 48, 45], "b rebuilt the session a kept");
  } finally {
    await worker.close();
  }
});

test("without the namespace a session started on one isolate is unknown to the other", async () => {
  const worker = await pair(false, LAX);
  try {
    const [a, b] = worker.urls;
    const round = (base, context, draft) => ({ model: "target", session: "s2", base, context, draft, sampling: { temperature: 0 } });
    assert.equal((await post(a, "/v1/verify", TOKEN, round(0, [2, 5], [16]))).status, 200);
    const other = await post(b, "/v1/verify", TOKEN, round(3, [1], []));
    assert.deepEqual([other.status, other.code], [409, "session_lost"]);
  } finally {
    await worker.close();
  }
});
