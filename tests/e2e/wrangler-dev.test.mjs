// The worker as a Cloudflare developer runs it: `wrangler dev` in worker/ (wrangler 4.86, the
// last release on Node 20; local mode, offline) with worker/wrangler.toml as it is, its
// [build] command, and secrets from a `.dev.vars`-style file written from
// worker/.dev.vars.example. Only the upstream's address is changed, to a local
// OpenAI-compatible server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../support/process.mjs";
import { startUpstream } from "../support/upstream.mjs";
import { freePort } from "../support/workerd.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WORKER = join(ROOT, "worker");
const WRANGLER = join(ROOT, "tests/node_modules/.bin/wrangler");
const TANDEM = process.env.TANDEM_BIN ?? join(process.env.HOME, ".cache/tandem/target/debug/tandem");
const TOKEN = "a-dev-token-from-dot-dev-vars";
let upstream, dev, dir, base, gateway, publicKey;

/** The `NAME="value"` lines of a .dev.vars file that are not comments. */
const devVars = (text) => Object.fromEntries([...text.matchAll(/^([A-Z][A-Z0-9_]*)=(["'])(.*)\2$/gm)].map((m) => [m[1], m[3]]));

before(async () => {
  const toml = await readFile(join(WORKER, "wrangler.toml"), "utf8");
  gateway = JSON.parse(toml.match(/^TANDEM_GATEWAY = '''\n([\s\S]*?)'''$/m)[1]);
  const example = devVars(await readFile(join(WORKER, ".dev.vars.example"), "utf8"));
  // The example names every secret wrangler.toml's configuration reads, and nothing else.
  const secrets = [
    ...gateway.upstreams.map((u) => u.api_key_secret),
    ...gateway.clients.map((c) => c.token_secret),
    ...gateway.seal.keys.map((k) => k.secret),
  ].sort();
  assert.deepEqual(Object.keys(example).sort(), secrets);

  upstream = await startUpstream({ name: "openai", apiKey: "sk-from-dot-dev-vars", tokenDelayMs: 5 });
  const keygen = execFileSync(TANDEM, ["seal", "keygen", "--key-id", "1"], { encoding: "utf8" });
  publicKey = JSON.parse(keygen.slice(keygen.indexOf("{"))).public_key;
  const local = structuredClone(gateway);
  local.upstreams[0].base_url = upstream.url;
  const values = {
    OPENAI_API_KEY: "sk-from-dot-dev-vars",
    TANDEM_TOKEN_WEB: TOKEN,
    TANDEM_SEAL_KEY_1: keygen.split("\n")[1].trim(),
    TANDEM_GATEWAY: JSON.stringify(local),
  };
  dir = await mkdtemp(join(tmpdir(), "tandem-wrangler-"));
  const envFile = join(dir, ".dev.vars");
  await writeFile(envFile, Object.entries(values).map(([k, v]) => `${k}='${v}'`).join("\n") + "\n");
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dev = await startServer({
    name: "wrangler dev",
    command: WRANGLER,
    args: ["dev", "--env-file", envFile, "--ip", "127.0.0.1", "--port", String(port), "--persist-to", join(dir, "state"), "--log-level", "warn"],
    cwd: WORKER,
    // Quiet and offline: no metrics, no request.cf download, no prompts, a private config dir.
    env: { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", CI: "true", XDG_CONFIG_HOME: dir },
    healthUrl: `${base}/health`,
    startupMs: 240_000, // the [build] command runs first (cargo finds nothing to do in CI)
  });
});

after(async () => {
  await dev?.close();
  await upstream?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

test("wrangler dev serves the default model, streamed, with the upstream key from .dev.vars", async () => {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "hello there" }], stream: true }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const text = (await res.text())
    .split("\n")
    .filter((l) => l.startsWith("data: {"))
    .map((l) => JSON.parse(l.slice(6)).choices[0]?.delta?.content ?? "")
    .join("");
  assert.equal(text, "Hello from openai: you said hello there");
  const sent = upstream.state.requests.at(-1);
  assert.equal(sent.headers.authorization, "Bearer sk-from-dot-dev-vars");
  assert.equal(JSON.parse(sent.body).model, gateway.upstreams[0].models[gateway.default_model]);
});

test("the client token and the sealed channel's key come from .dev.vars", async () => {
  const wrong = await fetch(`${base}/v1/models`, { headers: { authorization: "Bearer not-the-token" } });
  assert.equal(wrong.status, 401);
  const models = await (await fetch(`${base}/v1/models`, { headers: auth })).json();
  assert.deepEqual(models.data.map((m) => m.id).sort(), Object.keys(gateway.upstreams[0].models).sort());
  const keys = await (await fetch(`${base}/v1/seal/keys`)).json();
  assert.deepEqual(keys.keys.map((k) => [k.key_id, k.public_key]), [[1, publicKey]]);
});

test("the rate limit holds through the Durable Object binding that wrangler.toml declares", async () => {
  const { burst } = gateway.limits;
  const statuses = [];
  for (let i = 0; i < burst + 5; i++) statuses.push((await fetch(`${base}/v1/models`, { headers: auth })).status);
  assert.ok(statuses.includes(429), `no 429 in ${burst + 5} requests: ${statuses}`);
  assert.ok(statuses.slice(0, burst - 3).every((s) => s === 200), `${statuses}`);
  // The counts live in the GatewayState object's storage, which wrangler keeps under --persist-to.
  const stored = (await readdir(join(dir, "state"), { recursive: true })).filter((f) => f.includes("GatewayState"));
  assert.ok(stored.some((f) => f.endsWith(".sqlite")), `no GatewayState storage in ${stored}`);
});
