// Shared state across isolates: two instances of the worker in workerd (two isolates, like two
// Cloudflare machines) bound to one Durable Object namespace refuse a sealed request replayed to
// the other instance and count one client's requests in one rate limit. Without the namespace
// each isolate keeps its own state, and the replay goes through: what the Durable Objects fix.
// Needs pkg-scripts/build-web (the sealing client), pkg-scripts/build-worker and the debug
// `tandem` binary (seal keygen).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startWorker } from "../support/workerd.mjs";
import { startUpstream } from "../support/upstream.mjs";

const PKG = fileURLToPath(new URL("../../www/pkg/", import.meta.url));
const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target"), "debug", "tandem");
const TOKEN = "shared-state-token";
let wasm, upstream;

before(async () => {
  wasm = await import(join(PKG, "tandem_wasm.js"));
  await wasm.default({ module_or_path: await readFile(join(PKG, "tandem_wasm_bg.wasm")) });
  upstream = await startUpstream({ name: "shared-up", tokenDelayMs: 1 });
});

after(async () => {
  await upstream?.close();
});

/** Two instances of the worker, with or without the shared namespace. */
async function pair(durable) {
  const secret = execFileSync(TANDEM, ["seal", "keygen", "--key-id", "1"], { encoding: "utf8" }).split("\n")[1].trim();
  return startWorker({
    instances: 2,
    durable,
    gateway: {
      upstreams: [{ name: "up", base_url: upstream.url, models: { "*": "*" } }],
      clients: [{ name: "web", token_secret: "TOKEN" }],
      limits: { requests_per_minute: 1, burst: 4 },
      seal: { keys: [{ key_id: 1, secret: "SEAL" }] },
    },
    secrets: { TOKEN, SEAL: secret },
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
