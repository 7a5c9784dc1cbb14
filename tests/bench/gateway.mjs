// Added latency of the gateway, loopback only: the same local upstream direct, through the
// worker (workerd, with and without its Durable Object namespace), through `tandem serve`, and
// through LiteLLM's proxy (when LITELLM_BIN is set), sequential and at 32 concurrent; plus the
// worker bundle size.
// Usage: node tests/bench/gateway.mjs [SEQUENTIAL=300] [CONCURRENT_TOTAL=3000]
// (pkg-scripts/bench-gateway installs LiteLLM and runs this.)
import { spawn } from "node:child_process";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { startWorker, freePort, BUILD } from "../support/workerd.mjs";
import { startNative } from "../support/gateway.mjs";

const [sequential = "300", concurrentTotal = "3000"] = process.argv.slice(2).map(String);
const TOKEN = "bench-token";
const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }] });

async function startLiteLLM(upstreamUrl) {
  const dir = await mkdtemp(join(tmpdir(), "litellm-"));
  const config = join(dir, "config.yaml");
  await writeFile(
    config,
    `model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n      api_base: ${upstreamUrl}\n      api_key: upstream-key\ngeneral_settings:\n  master_key: sk-${TOKEN}\nlitellm_settings:\n  telemetry: false\n`,
  );
  const port = await freePort();
  const child = spawn(process.env.LITELLM_BIN, ["--config", config, "--port", `${port}`, "--host", "127.0.0.1", "--num_workers", "1"], {
    env: { ...process.env, LITELLM_LOCAL_MODEL_COST_MAP: "True", LITELLM_LOG: "ERROR" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (b) => (err += b));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/health/liveliness`)).ok) return { url, token: `sk-${TOKEN}`, close: () => child.kill("SIGTERM") };
    } catch {}
    await new Promise((ok) => setTimeout(ok, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`LiteLLM did not start: ${err.slice(-2000)}`);
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(url, token, total, concurrency) {
  const times = [];
  let next = 0;
  const one = async () => {
    const t0 = performance.now();
    const r = await fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    });
    const j = await r.json();
    if (!r.ok || !j.choices) throw new Error(`status ${r.status}: ${JSON.stringify(j).slice(0, 200)}`);
    times.push(performance.now() - t0);
  };
  for (let i = 0; i < 20; i++) await one(); // warm-up
  times.length = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next++ < total) await one(); }));
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return { p50: pct(times, 50), p99: pct(times, 99), rps: total / seconds };
}

// The upstream runs in its own process, so that it does not share this client's event loop.
async function startUpstreamProcess() {
  const port = await freePort();
  const child = spawn(process.execPath, [new URL("../support/upstream.mjs", import.meta.url).pathname, `${port}`, "bench"], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}/v1`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`${url}/models`);
      return { url, close: async () => child.kill("SIGTERM") };
    } catch {}
    await new Promise((ok) => setTimeout(ok, 50));
  }
  throw new Error("the upstream did not start");
}
const upstream = await startUpstreamProcess();
const gateway = { upstreams: [{ name: "up", base_url: upstream.url, models: { "*": "*" } }], clients: [{ name: "b", token_secret: "T" }],
  limits: { max_body_bytes: 65536, requests_per_minute: 100_000_000, burst: 1_000_000 } };
const systems = [["direct", { url: upstream.url, token: "x", close() {} }]];
const worker = await startWorker({ gateway, secrets: { T: TOKEN } });
systems.push(["tandem worker (workerd)", { url: `${worker.url}/v1`, token: TOKEN, close: () => worker.close() }]);
// The same worker without the Durable Object namespace: what the shared rate limit costs.
const isolated = await startWorker({ gateway, secrets: { T: TOKEN }, durable: false });
systems.push(["tandem worker, no Durable Objects", { url: `${isolated.url}/v1`, token: TOKEN, close: () => isolated.close() }]);
const native = await startNative({ gateway, secrets: { T: TOKEN } });
systems.push(["tandem serve (native)", { url: `${native.url}/v1`, token: TOKEN, close: () => native.close() }]);
if (process.env.LITELLM_BIN) {
  const lite = await startLiteLLM(upstream.url);
  systems.push(["LiteLLM proxy", { url: lite.url, token: lite.token, close: lite.close }]);
}

const results = {};
for (const [name, s] of systems) {
  results[name] = {
    sequential: await measure(s.url, s.token, Number(sequential), 1),
    concurrent: await measure(s.url, s.token, Number(concurrentTotal), 32),
  };
  console.log(JSON.stringify({ system: name, ...results[name] }));
}
for (const [, s] of systems) await s.close();
await upstream.close();

const d = results.direct;
const added = (r, mode, p) => r[mode][p] - d[mode][p];
console.log(`\nadded latency over the upstream alone (ms), ${sequential} sequential / ${concurrentTotal} at 32 concurrent:`);
console.log("| system | seq p50 | seq p99 | conc p50 | conc p99 | conc req/s |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name] of systems) {
  const r = results[name];
  const f = (x) => x.toFixed(2);
  if (name === "direct") console.log(`| direct (absolute) | ${f(r.sequential.p50)} | ${f(r.sequential.p99)} | ${f(r.concurrent.p50)} | ${f(r.concurrent.p99)} | ${r.concurrent.rps.toFixed(0)} |`);
  else console.log(`| ${name} | +${f(added(r, "sequential", "p50"))} | +${f(added(r, "sequential", "p99"))} | +${f(added(r, "concurrent", "p50"))} | +${f(added(r, "concurrent", "p99"))} | ${r.concurrent.rps.toFixed(0)} |`);
}
const lite = results["LiteLLM proxy"], w = results["tandem worker (workerd)"];
if (lite) {
  const ratio = (mode, p) => (added(lite, mode, p) / added(w, mode, p)).toFixed(1);
  console.log(`\nLiteLLM's added latency ÷ the worker's: sequential p50 ${ratio("sequential", "p50")}×, p99 ${ratio("sequential", "p99")}×; 32 concurrent p50 ${ratio("concurrent", "p50")}×, p99 ${ratio("concurrent", "p99")}×`);
}
const wasm = await readFile(join(BUILD, "index_bg.wasm"));
const js = await stat(join(BUILD, "index.js"));
console.log(`\nworker bundle: ${wasm.length} bytes wasm (${gzipSync(wasm, { level: 9 }).length} gzipped) + ${js.size} bytes JS`);
