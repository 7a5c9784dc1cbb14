// The sealed channel from JavaScript (the wasm package's SealClient, run in Node) against the
// real worker in workerd: a sealed chat completion streams back and opens chunk by chunk; what
// travels is ciphertext; tampered, replayed, reordered or truncated messages are refused;
// rotated keys keep working through their grace period. Needs pkg-scripts/build-package and
// pkg-scripts/build-worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startUpstream } from "../support/upstream.mjs";
import { startGateway as startWorker } from "../support/gateway.mjs";

// The sealed channel is in the engine's wasm (the shield-only one has none).
const PKG = fileURLToPath(new URL("../../www/tandem-web/dist/wasm/", import.meta.url));
const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target"), "debug", "tandem");
const TOKEN = "sealed-client-token-42";
const PROMPT = "my secret prompt 4111 1111 1111 1111";
let wasm, upstream, worker, keysJson;

/** A fresh key from the CLI: [secret, public config]. */
function keygen(id) {
  const out = execFileSync(TANDEM, ["seal", "keygen", "--key-id", `${id}`], { encoding: "utf8" });
  return out.split("\n")[1].trim();
}

before(async () => {
  wasm = await import(join(PKG, "tandem_wasm.js"));
  await wasm.default({ module_or_path: await readFile(join(PKG, "tandem_wasm_bg.wasm")) });
  upstream = await startUpstream({ name: "sealed-up", tokenDelayMs: 10 });
  const now = Date.now();
  worker = await startWorker({
    gateway: {
      upstreams: [{ name: "up", base_url: upstream.url, models: { "*": "*" } }],
      clients: [{ name: "web", token_secret: "TOKEN" }],
      seal: {
        keys: [
          { key_id: 2, secret: "SEAL_2" },
          { key_id: 1, secret: "SEAL_1", retire_after_ms: now + 3_600_000 },
          { key_id: 0, secret: "SEAL_0", retire_after_ms: now - 1 },
        ],
      },
    },
    secrets: { TOKEN, SEAL_2: keygen(2), SEAL_1: keygen(1), SEAL_0: keygen(0) },
  });
  keysJson = await (await fetch(`${worker.url}/v1/seal/keys`)).text();
});

after(async () => {
  await worker?.close();
  await upstream?.close();
});

const chat = (stream) => JSON.stringify({ model: "m", messages: [{ role: "user", content: PROMPT }], stream });

async function send(body) {
  return fetch(`${worker.url}/v1/sealed`, {
    method: "POST",
    headers: { "content-type": "application/tandem-sealed-request" },
    body,
  });
}

/** The response body's frames: [response nonce + first frame, frame, ...] split at length prefixes. */
function frames(bytes) {
  const out = [];
  let at = 16;
  while (at < bytes.length) {
    const len = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0);
    out.push(bytes.subarray(at, at + 4 + len));
    at += 4 + len;
  }
  out[0] = bytes.subarray(0, 16 + out[0].length);
  return out;
}

test("the worker publishes its current keys, preferred first, without retired ones", () => {
  const { keys } = JSON.parse(keysJson);
  assert.deepEqual(keys.map((k) => k.key_id), [2, 1]);
  assert.deepEqual([keys[0].kem_id, keys[0].kdf_id, keys[0].aead_id], [0x20, 1, 1]);
});

test("a sealed streamed chat completion opens chunk by chunk as it arrives", async () => {
  const client = wasm.SealClient.fromKeys(keysJson);
  const exchange = client.seal("POST", "/v1/chat/completions", chat(true), `Bearer ${TOKEN}`);
  const body = exchange.body;
  assert.ok(!Buffer.from(body).toString("latin1").includes("secret prompt"), "the request is ciphertext");
  const resp = await send(body);
  assert.equal(resp.status, 200);
  assert.equal(resp.headers.get("content-type"), "application/tandem-sealed-response");
  const chunks = [];
  const received = [];
  for await (const bytes of resp.body) {
    received.push(Buffer.from(bytes));
    for (const c of exchange.push(bytes)) chunks.push(new TextDecoder().decode(c));
  }
  exchange.finish();
  const wire = Buffer.concat(received);
  assert.ok(!wire.toString("latin1").includes("Hello from"), "the response is ciphertext");
  // Every record is padded to a size bucket (256 bytes, powers of two to 4 KiB, then 4 KiB
  // steps) plus its 16-byte tag: its size does not tell the tokens' lengths.
  for (const [i, frame] of frames(new Uint8Array(wire)).entries()) {
    const sealed = frame.length - (i === 0 ? 16 : 0) - 4 - 16;
    assert.ok([256, 512, 1024, 2048].includes(sealed) || sealed % 4096 === 0, `record of ${sealed} bytes`);
  }
  const head = JSON.parse(chunks[0]);
  assert.equal(head.status, 200);
  assert.match(head.headers["content-type"], /text\/event-stream/);
  const events = chunks.slice(1).join("").split("\n\n").filter(Boolean);
  assert.equal(events.at(-1), "data: [DONE]");
  const text = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0].delta.content ?? "").join("");
  assert.equal(text, `Hello from sealed-up: you said ${PROMPT}`.slice(0, `Hello from sealed-up: you said `.length + 40));
  // Events 10 ms apart, coalesced within 20 ms: streamed, in fewer records than events.
  assert.ok(chunks.length >= 4, `streamed in ${chunks.length} chunks`);
  assert.ok(chunks.length - 2 < events.length, `${chunks.length - 2} body records for ${events.length} events`);
  const sent = await (await fetch(`${upstream.url.replace("/v1", "")}/_control/requests`)).json();
  assert.equal(JSON.parse(sent.at(-1).body).messages[0].content, PROMPT, "the upstream got the opened request");
});

test("inner errors come back sealed, with their status", async () => {
  const client = wasm.SealClient.fromKeys(keysJson);
  const exchange = client.seal("POST", "/v1/chat/completions", chat(false), "Bearer wrong-token");
  const resp = await send(exchange.body);
  assert.equal(resp.status, 200);
  const chunks = exchange.push(new Uint8Array(await resp.arrayBuffer()));
  exchange.finish();
  assert.equal(JSON.parse(new TextDecoder().decode(chunks[0])).status, 401);
});

test("a tampered request is refused", async () => {
  const exchange = wasm.SealClient.fromKeys(keysJson).seal("POST", "/v1/chat/completions", chat(false), `Bearer ${TOKEN}`);
  for (const at of [10, 45, exchange.body.length - 3]) {
    const body = exchange.body;
    body[at] ^= 0x01;
    const resp = await send(body);
    assert.equal(resp.status, 400);
    assert.equal((await resp.json()).error.code, "seal_decrypt");
  }
});

test("a replayed request is refused", async () => {
  const exchange = wasm.SealClient.fromKeys(keysJson).seal("POST", "/v1/chat/completions", chat(false), `Bearer ${TOKEN}`);
  assert.equal((await send(exchange.body)).status, 200);
  const again = await send(exchange.body);
  assert.equal(again.status, 400);
  assert.equal((await again.json()).error.code, "seal_replay");
});

async function sealedResponseBytes() {
  const exchange = wasm.SealClient.fromKeys(keysJson).seal("POST", "/v1/chat/completions", chat(true), `Bearer ${TOKEN}`);
  const bytes = new Uint8Array(await (await send(exchange.body)).arrayBuffer());
  return { exchange, bytes };
}

test("tampered, reordered, replayed or truncated response chunks are refused", async () => {
  {
    const { exchange, bytes } = await sealedResponseBytes();
    bytes[bytes.length - 5] ^= 0x80;
    assert.throws(() => { exchange.push(bytes); exchange.finish(); }, /authenticate/);
  }
  {
    const { exchange, bytes } = await sealedResponseBytes();
    const f = frames(bytes);
    [f[1], f[2]] = [f[2], f[1]];
    assert.throws(() => f.forEach((x) => exchange.push(x)), /authenticate/);
  }
  {
    const { exchange, bytes } = await sealedResponseBytes();
    const f = frames(bytes);
    exchange.push(f[0]);
    exchange.push(f[1]);
    assert.throws(() => exchange.push(f[1]), /authenticate/, "a replayed chunk");
  }
  {
    const { exchange, bytes } = await sealedResponseBytes();
    const f = frames(bytes);
    f.slice(0, -1).forEach((x) => exchange.push(x));
    assert.throws(() => exchange.finish(), /truncated/);
  }
  {
    const { exchange: a } = await sealedResponseBytes();
    const { bytes } = await sealedResponseBytes();
    assert.throws(() => { a.push(bytes); a.finish(); }, /authenticate/, "another request's response");
  }
});

test("keys rotate: the retiring key still works, the retired one is refused", async () => {
  const keys = JSON.parse(keysJson).keys;
  const old = wasm.SealClient.fromKeys(JSON.stringify({ keys: [keys[1]] }));
  assert.equal(old.keyId, 1);
  const ok = old.seal("POST", "/v1/chat/completions", chat(false), `Bearer ${TOKEN}`);
  assert.equal((await send(ok.body)).status, 200);
  const retired = { ...keys[1], key_id: 0 };
  const gone = wasm.SealClient.fromKeys(JSON.stringify({ keys: [retired] })).seal("POST", "/v1/models", "", `Bearer ${TOKEN}`);
  const resp = await send(gone.body);
  assert.equal(resp.status, 400);
  assert.equal((await resp.json()).error.code, "seal_unknown_key");
});
