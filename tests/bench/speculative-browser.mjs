// Speculative decoding from a page: the package's LocalModel drafts with Qwen2.5-Coder-0.5B in a
// Web Worker of headless Chromium (wasm, CPU), and Qwen2.5-Coder-1.5B verifies in
// `tandem serve --target`. Greedy rounds go through the edge worker in workerd, whose /v1/verify
// asks the target's /v1/completions for prompt log-probabilities. Sampled rounds go to the
// target's own /v1/verify, because they need its distributions, which the worker refuses to
// approximate. The native client (`tandem speculate`) runs beside it through the same worker,
// and the target alone (`tandem generate`) is the baseline. Every row uses the same prompts
// (pkg-scripts/bench_speculative.py's, two per kind) and the same release binary.
// Warm rows first answer an unmeasured prompt of the kind. Prints one JSON line per answer, then a
// table with the ratios; writes
// $TANDEM_CACHE/bench/speculative-browser.json.
// Usage: [ONLY=browser] node tests/bench/speculative-browser.mjs [PROMPTS_PER_KIND=2] [MAX_TOKENS=48]
// Build first: a release tandem, pkg-scripts/build-web models and pkg-scripts/build-worker
// (`PARTS=3 pkg-scripts/bench-speculative` does all of it).
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CACHE, servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";
import { startServer } from "../support/process.mjs";
import { freePort, startWorker } from "../support/workerd.mjs";

const run = promisify(execFile);
const [perKind = "2", maxTokensArg = "48"] = process.argv.slice(2);
const MAX_TOKENS = Number(maxTokensArg);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SHARED = process.env.TANDEM_SHARED ?? join(ROOT, "..", "shared");
// The release build (pkg-scripts/env.sh's TANDEM_BIN is the tests' debug build).
const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(CACHE, "target"), "release", "tandem");
const DRAFT = "qwen2.5-coder-0.5b";
const TARGET = "qwen2.5-coder-1.5b";
const TOKEN = "bench-token";

/** The native bench's prompts: MT-Bench first turns (not coding or math), code writing, code editing. */
async function prompts(n) {
  const chat = (await readFile(join(SHARED, "data/prompts/mt_bench_questions.jsonl"), "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((q) => !["coding", "math"].includes(q.category))
    .map((q) => q.turns[0]);
  const code = JSON.parse(await readFile(join(ROOT, "pkg-scripts/speculative_prompts.json"), "utf8"));
  return [
    ...chat.slice(0, n).map((p) => ["chat", p]),
    ...code.code.slice(0, n).map((p) => ["code", p]),
    ...code.edit.slice(0, n).map((p) => ["edit", p]),
  ];
}

/**
 * The prompt a warm row answers first, unmeasured, to learn its costs: one of the kind that is
 * not measured, so that no measured answer finds its prompt in the target's prefix cache while
 * the served baseline does not (each shares only the system prompt with what came before).
 */
async function warmups(n) {
  const all = await prompts(n + 1);
  return Object.fromEntries(["chat", "code", "edit"].map((kind) => [kind, all.filter(([k]) => k === kind).at(-1)[1]]));
}

/** The target alone, in process: tokens/s over prefill and decode, and its text. */
async function targetAlone(prompt) {
  const { stdout, stderr } = await run(TANDEM, ["generate", "--model", TARGET, "--plain", "--max-tokens", `${MAX_TOKENS}`, prompt]);
  const m = stderr.match(/prefill: (\d+) tokens in ([\d.]+) s .*decode: (\d+) tokens in ([\d.]+) s/s);
  if (!m) throw new Error(`no timing in tandem generate's output: ${stderr}`);
  return { tokens: Number(m[3]) + 1, seconds: Number(m[2]) + Number(m[4]), text: stdout.trimEnd() };
}

/** The native client through `verifier`; `args` are extra `tandem speculate` flags. */
async function native(prompt, verifier, args) {
  const { stdout } = await run(
    TANDEM,
    ["speculate", "--draft", DRAFT, "--target-name", TARGET, "--max-tokens", `${MAX_TOKENS}`, "--json", "--verifier", verifier, ...args, prompt],
    { env: { ...process.env, TANDEM_TOKEN: TOKEN } },
  );
  const r = JSON.parse(stdout.trim().split("\n").at(-1));
  return {
    text: r.text.trimEnd(), tokens: r.tokens.length, seconds: r.seconds, rounds: r.rounds, drafted: r.sent, accepted: r.accepted,
    plainRounds: r.plain_rounds, plainWhy: r.plain_why, lookupRounds: r.lookup_rounds, targetForwardMs: r.target_forward_ms,
    roundMs: r.round_ms, draftSteps: r.draft_steps, extended: r.extended, promptIds: r.prompt_ids,
  };
}

/** The target alone as served: greedy `/v1/completions` on the target server (its prompt cache included), timed here. */
async function served(promptIds) {
  const started = performance.now();
  const reply = await fetch(`${target.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ model: TARGET, prompt: promptIds, max_tokens: MAX_TOKENS, temperature: 0 }),
  });
  if (!reply.ok) throw new Error(`completions: HTTP ${reply.status}: ${await reply.text()}`);
  const { usage } = await reply.json();
  const r = { tokens: usage.completion_tokens, seconds: (performance.now() - started) / 1000, promptTokens: usage.prompt_tokens, cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? null };
  console.log(JSON.stringify({ row: "target alone, served", ...r }));
  return r;
}

/** The page's client: one `speculate` in the model worker, timed there. */
function browserClient(page) {
  return async (prompt, verifier, options) => {
    const r = await page.evaluate(
      ({ messages, options, verifier, token }) =>
        new Promise((ok, fail) => {
          const worker = globalThis.specWorker;
          worker.onmessage = ({ data }) => (data.type === "error" ? fail(new Error(data.message)) : data.type === "done" && ok(data.result));
          worker.postMessage({ type: "speculate", messages, options, verifier, token });
        }),
      { messages: [{ role: "user", content: prompt }], options: { model: TARGET, session: crypto.randomUUID(), maxTokens: MAX_TOKENS, ...options }, verifier, token: TOKEN },
    );
    return {
      text: r.text.trimEnd(), tokens: r.tokens.length, seconds: r.ms / 1000, rounds: r.rounds, drafted: r.drafted, accepted: r.accepted,
      plainRounds: r.plainRounds, plainWhy: r.plainWhy, lookupRounds: r.lookupRounds, targetForwardMs: r.targetForwardMs,
      roundMs: r.roundMs, draftSteps: r.draftSteps, extended: r.extended,
    };
  };
}

const all = await prompts(Number(perKind));
const warmup = await warmups(Number(perKind));
const KINDS = ["chat", "code", "edit"];
const targetPort = await freePort();
const config = join(await mkdtemp(join(tmpdir(), "tandem-bench-")), "gateway.json");
await writeFile(config, JSON.stringify({
  upstreams: [{ name: "unused", base_url: "http://127.0.0.1:9/v1", models: { unused: "unused" } }],
  clients: [{ name: "bench", token_secret: "BENCH_TOKEN" }],
  cors_origins: ["*"],
  limits: { requests_per_minute: 600000, burst: 10000 },
}));
const target = await startServer({
  name: "tandem serve --target",
  command: TANDEM,
  args: ["serve", "--target", TARGET, "--config", config, "--listen", `127.0.0.1:${targetPort}`],
  env: { BENCH_TOKEN: TOKEN },
  healthUrl: `http://127.0.0.1:${targetPort}/health`,
  startupMs: 120_000,
});
target.url = `http://127.0.0.1:${targetPort}`;
const worker = await startWorker({
  gateway: {
    // The worker authenticates to the target as one of its clients.
    upstreams: [{ name: "target", base_url: `${target.url}/v1`, api_key_secret: "TOKEN", models: { [TARGET]: TARGET }, timeout_ms: 120000 }],
    clients: [{ name: "bench", token_secret: "TOKEN" }],
    cors_origins: ["*"],
    limits: { requests_per_minute: 600000, burst: 10000 },
  },
  secrets: { TOKEN },
});
const pages = await servePages(0);
const browser = await launch();
const costs = join(await mkdtemp(join(tmpdir(), "tandem-costs-")), "costs.json");

const results = {};
const reference = {};
try {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${pages.address().port}/model.html`);
  const loaded = await page.evaluate(
    (url) =>
      new Promise((ok, fail) => {
        globalThis.specWorker = new Worker("/model-worker.js", { type: "module" });
        globalThis.specWorker.onmessage = ({ data }) => (data.type === "error" ? fail(new Error(data.message)) : ok(data));
        globalThis.specWorker.postMessage({ type: "load", url, device: "cpu" });
      }),
    `/models/${DRAFT}.gguf`,
  );
  console.error(`drafter in the page: ${loaded.backend}, kernel ${loaded.kernel}, loaded in ${(loaded.loadMs / 1000).toFixed(1)} s`);
  const browserRun = browserClient(page);
  // Each row: who drafts, where it verifies, and how. Warm rows answer one unmeasured prompt
  // first, so that they start from the costs a long-lived client has learned.
  const ROWS = [
    ["browser, k = 4, pipelined", (p) => browserRun(p, worker.url, { draftTokens: 4 })],
    ["browser, k = 4, not pipelined", (p) => browserRun(p, worker.url, { draftTokens: 4, pipelined: false })],
    ["browser, adaptive, warm", (p) => browserRun(p, worker.url, {}), true],
    ["browser, sampled (T = 0.7), k = 4, direct", (p) => browserRun(p, target.url, { draftTokens: 4, temperature: 0.7, topK: 40, seed: 1 })],
    ["native, k = 4, pipelined", (p) => native(p, worker.url, ["-k", "4"])],
    ["native, adaptive, warm", (p) => native(p, worker.url, ["-k", "0", "--learned-costs", costs]), true],
  ];
  // ONLY=text keeps the rows whose label contains it (the target alone always runs).
  const rows = ROWS.filter(([label]) => label.includes(process.env.ONLY ?? ""));
  for (const kind of KINDS) {
    const mine = all.filter(([k]) => k === kind).map(([, p]) => p);
    const alone = [];
    for (const p of mine) alone.push(await targetAlone(p));
    reference[kind] = alone.map((a) => a.text);
    results[`${kind}/target alone`] = { tokens: alone.reduce((s, a) => s + a.tokens, 0), seconds: alone.reduce((s, a) => s + a.seconds, 0) };
    let ids = null;
    for (const [label, answer, warm] of rows) {
      if (warm) await answer(warmup[kind]);
      const runs = [];
      for (const [i, p] of mine.entries()) {
        const r = await answer(p);
        r.sameAsTarget = r.text === reference[kind][i];
        console.log(JSON.stringify({ kind, row: label, ...r, text: undefined }));
        runs.push(r);
      }
      ids ??= runs.every((r) => r.promptIds) ? runs.map((r) => r.promptIds) : null;
      const sum = (f) => runs.reduce((s, r) => s + f(r), 0);
      results[`${kind}/${label}`] = {
        tokens: sum((r) => r.tokens), seconds: sum((r) => r.seconds), rounds: sum((r) => r.rounds),
        drafted: sum((r) => r.drafted), accepted: sum((r) => r.accepted), plainRounds: sum((r) => r.plainRounds),
        lookupRounds: sum((r) => r.lookupRounds), targetForwardMs: sum((r) => r.targetForwardMs),
        sameAsTarget: label.includes("sampled") ? null : runs.filter((r) => r.sameAsTarget).length, answers: runs.length,
      };
    }
    // The target alone over the same server, after the rows (prompt ids as the native client formatted them). Its
    // prefix cache then holds the system prompt only (`cachedTokens`, 23-25 tokens, in its JSON lines), as for a
    // new question; asked a second time it holds the whole prompt and answers 1.2-1.3× faster (stop 49).
    if (ids) {
      const alone = [];
      for (const promptIds of ids) alone.push(await served(promptIds));
      results[`${kind}/target alone, served`] = { tokens: alone.reduce((s, a) => s + a.tokens, 0), seconds: alone.reduce((s, a) => s + a.seconds, 0) };
    }
  }
  if (errors.length) console.error("page errors:", errors);
} finally {
  await browser.close();
  pages.close();
  await worker.close();
  await target.close();
}

const benchDir = join(CACHE, "bench");
await mkdir(benchDir, { recursive: true });
await writeFile(join(benchDir, "speculative-browser.json"), JSON.stringify({ max_tokens: MAX_TOKENS, prompts: all, results }, null, 1));
console.log(`\n${DRAFT} drafting for ${TARGET}, ${MAX_TOKENS} tokens per answer, ${perKind} prompts per kind`);
console.log("× generate: against `tandem generate` (the prompt run cold); × served: against the target server's own completions (system prompt cached)");
console.log("| prompts | client, drafting | acceptance | plain rounds | target passes per token | greedy text = target alone | tokens/s | × generate | × served |");
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
const rate = (r) => (r ? r.tokens / r.seconds : NaN);
for (const [key, r] of Object.entries(results)) {
  const [kind, label] = key.split("/");
  const tps = rate(r);
  const ratios = `${(tps / rate(results[`${kind}/target alone`])).toFixed(2)}× | ${(tps / rate(results[`${kind}/target alone, served`])).toFixed(2)}×`;
  if (label.startsWith("target alone")) {
    console.log(`| ${kind} | ${label} | | | 1.00 | | ${tps.toFixed(2)} | ${ratios} |`);
    continue;
  }
  const same = r.sameAsTarget === null ? "(sampled)" : `${r.sameAsTarget} of ${r.answers}`;
  console.log(`| ${kind} | ${label} | ${(r.accepted / Math.max(r.drafted, 1)).toFixed(2)} | ${r.plainRounds} | ${(r.rounds / r.tokens).toFixed(2)} | ${same} | ${tps.toFixed(2)} | ${ratios} |`);
}
