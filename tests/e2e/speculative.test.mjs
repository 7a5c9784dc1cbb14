// Speculative decoding across processes, with real models: Qwen2.5-Coder-0.5B drafts in
// `tandem speculate`, Qwen2.5-Coder-1.5B verifies in `tandem serve --target`, reached either
// directly (its in-process verifier, exact for sampling) or through the worker in workerd,
// whose /v1/verify asks the target's vLLM-style /v1/completions for prompt log-probabilities.
// Greedy speculation must print exactly what the target alone prints. Needs the models from
// pkg-scripts/setup, pkg-scripts/build-package (for the sealed client) and pkg-scripts/build-worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startServer } from "../support/process.mjs";
import { freePort } from "../support/workerd.mjs";
import { startGateway } from "../support/gateway.mjs";

const run = promisify(execFile);
const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target"), "debug", "tandem");
// The sealed channel is in the engine's wasm (the shield-only one has none).
const PKG = fileURLToPath(new URL("../../www/tandem-web/dist/wasm/", import.meta.url));
const TARGET = "qwen2.5-coder-1.5b";
const DRAFT = "qwen2.5-coder-0.5b";
const TOKEN = "spec-client-token";
const PROMPT = "Write a Python function that returns the n-th Fibonacci number.";
const MAX_TOKENS = 24;
let target, worker, reference;

before(async () => {
  const port = await freePort();
  target = await startServer({
    name: "tandem serve --target",
    command: TANDEM,
    args: ["serve", "--target", TARGET, "--listen", `127.0.0.1:${port}`, "--kv-budget-mib", "256"],
    healthUrl: `http://127.0.0.1:${port}/health`,
    startupMs: 120_000, // loading 1.5B parameters in a debug build
  });
  target.url = `http://127.0.0.1:${port}`;
  const { stdout: seal } = await run(TANDEM, ["seal", "keygen", "--key-id", "1"]);
  worker = await startGateway({
    gateway: {
      upstreams: [{ name: "target", base_url: `${target.url}/v1`, models: { [TARGET]: TARGET }, timeout_ms: 120000 }],
      clients: [{ name: "spec", token_secret: "TOKEN" }],
      limits: { requests_per_minute: 60000, burst: 1000 },
      seal: { keys: [{ key_id: 1, secret: "SEAL" }] },
    },
    secrets: { TOKEN, SEAL: seal.split("\n")[1].trim() },
  });
  const { stdout } = await run(TANDEM, ["generate", "--model", TARGET, "--plain", "--max-tokens", `${MAX_TOKENS}`, PROMPT]);
  reference = stdout.trimEnd();
});

after(async () => {
  await worker?.close();
  await target?.close();
});

async function speculate(...args) {
  const { stdout } = await run(TANDEM, [
    "speculate", "--draft", DRAFT, "--target-name", TARGET, "--max-tokens", `${MAX_TOKENS}`, "--json", ...args, PROMPT,
  ], { env: { ...process.env, TANDEM_TOKEN: TOKEN } });
  return JSON.parse(stdout.trim().split("\n").at(-1));
}

const post = (url, body, headers = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}`, ...headers },
    body: JSON.stringify(body),
  });

const round = (over = {}) => ({
  model: TARGET, session: `s-${Math.random()}`, base: 0, context: [9707, 11, 1879], draft: [0, 1],
  sampling: { temperature: 0 }, ...over,
});

test("greedy speculation through the worker prints exactly the target's greedy output", async () => {
  assert.ok(reference.length > 20, reference);
  // Learned costs from an unreadable file are ignored, and this answer's are saved over it.
  const costs = join(await mkdtemp(join(tmpdir(), "tandem-costs-")), "costs.json");
  await writeFile(costs, "not json");
  // Adaptive lengths: the first rounds go out plain to time the target, the drafter runs its
  // two timing steps, and the measured costs decide (on this CPU target, mostly plain rounds).
  const out = await speculate("--verifier", worker.url, "--learned-costs", costs);
  const learned = JSON.parse(await readFile(costs, "utf8"));
  assert.ok(learned.rate > 0 && learned.rate < 1, JSON.stringify(learned));
  assert.equal(learned.timed_rounds, 2, JSON.stringify(learned));
  assert.equal(out.text.trimEnd(), reference);
  assert.equal(out.tokens.length, MAX_TOKENS);
  assert.ok(out.rounds > 0 && out.rounds <= MAX_TOKENS, `${out.rounds} rounds`);
  assert.ok(out.plain_rounds + out.lookup_rounds >= 2, JSON.stringify(out));
  assert.ok(out.draft_steps >= 2, JSON.stringify(out));
  // A fixed draft length drafts every round.
  const fixed = await speculate("--verifier", worker.url, "-k", "4");
  assert.equal(fixed.text.trimEnd(), reference);
  assert.ok(fixed.accepted > 0, "the 0.5B drafter agrees with the 1.5B target somewhere");
  assert.ok(fixed.rounds < MAX_TOKENS, `fewer target passes (${fixed.rounds}) than tokens`);
});

test("a drafter on a shortlisted head still prints exactly the target's greedy output", async () => {
  // The 32,768 most frequent tokens of the shipped ranking, the stop tokens and the prompt's own.
  const listed = await speculate("--verifier", worker.url, "-k", "4", "--shortlist", "32768");
  assert.equal(listed.text.trimEnd(), reference);
  assert.ok(listed.shortlist >= 32768 && listed.shortlist < 33000, JSON.stringify(listed.shortlist));
  assert.ok(listed.accepted > 0, "the shortlisted drafter agrees with the target somewhere");
  assert.ok(listed.off_shortlist <= 2, `${listed.off_shortlist} answer tokens were off the list`);
  // One ranked token: the drafter can propose little beyond the prompt's tokens, and the target
  // still decides every token.
  const one = await speculate("--verifier", worker.url, "-k", "4", "--shortlist", "1");
  assert.equal(one.text.trimEnd(), reference);
  assert.ok(one.shortlist < 200, JSON.stringify(one.shortlist));
  assert.ok(one.off_shortlist > listed.off_shortlist, JSON.stringify([one.off_shortlist, listed.off_shortlist]));
});

test("an answer that ends by itself ends cleanly through the worker (the target's stop token comes back as vLLM sends it)", async () => {
  const { stdout } = await run(TANDEM, [
    "speculate", "--draft", DRAFT, "--target-name", TARGET, "--max-tokens", "16", "--json", "--verifier", worker.url,
    "Answer with one word: what color is the sky on a clear day?",
  ], { env: { ...process.env, TANDEM_TOKEN: TOKEN } });
  const out = JSON.parse(stdout.trim().split("\n").at(-1));
  assert.equal(out.stop, "Stop", JSON.stringify(out));
  assert.match(out.text, /blue/i);
});

test("the same against tandem serve's in-process verifier, fixed k, without pipelining", async () => {
  const out = await speculate("--verifier", target.url, "-k", "4", "--no-pipeline");
  assert.equal(out.text.trimEnd(), reference);
  assert.equal(out.reused + out.discarded, 0, "nothing is drafted ahead without pipelining");
  assert.ok(out.sent <= 4 * out.rounds);
});

test("a round that stalls is sent again after the round timeout; a verifier that never answers is a clear error", async () => {
  // A relay to the in-process verifier that holds back the second round (or every round).
  let rounds = 0;
  let stallEvery = false;
  const held = [];
  const relay = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    rounds++;
    if (stallEvery || rounds === 2) return held.push(res);
    const upstream = await fetch(`${target.url}${req.url}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: Buffer.concat(chunks),
    });
    res.writeHead(upstream.status, { "content-type": "application/json" });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${relay.address().port}`;
  try {
    // A fixed k drafts ahead while rounds are in flight (adaptive lengths wait until drafting has paid).
    const out = await speculate("--verifier", url, "-k", "4", "--round-timeout-ms", "15000");
    assert.equal(out.text.trimEnd(), reference);
    assert.equal(out.timed_out, 1, JSON.stringify(out));
    assert.ok(out.reused + out.discarded > 0, "the client drafted ahead while rounds were in flight");
    stallEvery = true;
    await assert.rejects(
      speculate("--verifier", url, "--round-timeout-ms", "300"),
      /did not answer a round within 300 ms \(2 attempts\)/,
    );
  } finally {
    for (const res of held) res.destroy();
    relay.close();
  }
});

test("sampled rounds are exact in process and refused by a prompt-logprobs target", async () => {
  const draft_dists = [{ ids: [0], probs: [1] }, { ids: [1, 2], probs: [0.5, 0.5] }];
  const sampled = round({ draft_dists, sampling: { temperature: 0.8, top_k: 20, seed: 3 } });
  const direct = await post(`${target.url}/v1/verify`, sampled);
  assert.equal(direct.status, 200);
  const reply = await direct.json();
  assert.ok(reply.accepted <= 2 && reply.session_len === 3 + reply.accepted, JSON.stringify(reply));
  const viaWorker = await post(`${worker.url}/v1/verify`, sampled);
  assert.equal(viaWorker.status, 400);
  assert.match((await viaWorker.json()).error.message, /greedy/);
});

test("rounds build on the session; a lost session is reported so the client resends", async () => {
  for (const url of [worker.url, target.url]) {
    const first = round();
    const r1 = await (await post(`${url}/v1/verify`, first)).json();
    assert.equal(r1.session_len, 3 + r1.accepted);
    const next = round({ session: first.session, base: r1.session_len, context: [r1.next], draft: [] });
    const r2 = await post(`${url}/v1/verify`, next);
    assert.equal(r2.status, 200);
    const r2body = await r2.json();
    assert.equal(r2body.session_len, r1.session_len + 1);
    assert.ok(r2body.stats.forward_tokens < 3, `only new tokens run at ${url}: ${JSON.stringify(r2body.stats)}`);
    const lost = await post(`${url}/v1/verify`, round({ base: 5, context: [1] }));
    assert.equal(lost.status, 409);
    assert.equal((await lost.json()).error.code, "session_lost");
  }
});

test("malformed rounds get clear 400s", async () => {
  const cases = [
    [{ ...round(), draft: Array(65).fill(1) }, /at most 64/],
    [round({ context: [] }), /prompt/],
    [round({ draft: [999999999] }), /vocabulary/],
    [{ model: TARGET }, /not a verification round/],
  ];
  for (const url of [worker.url, target.url]) {
    for (const [body, message] of cases) {
      const resp = await post(`${url}/v1/verify`, body);
      assert.equal(resp.status, 400, `${url} ${JSON.stringify(body).slice(0, 80)}`);
      assert.match((await resp.json()).error.message, message);
    }
  }
});

test("tandem serve's /v1/completions gives vLLM-shaped prompt log-probabilities, with a prefix cache", async () => {
  const body = { model: TARGET, prompt: [9707, 11, 1879, 0], max_tokens: 1, temperature: 0, prompt_logprobs: 2, logprobs: 1, return_tokens_as_token_ids: true };
  const first = await (await post(`${target.url}/v1/completions`, body)).json();
  const [choice] = first.choices;
  assert.equal(choice.prompt_logprobs.length, 4);
  assert.equal(choice.prompt_logprobs[0], null);
  for (const [i, entry] of choice.prompt_logprobs.slice(1).entries()) {
    const own = entry[String(body.prompt[i + 1])];
    assert.ok(own && own.logprob <= 0 && own.rank >= 1, JSON.stringify(entry));
    assert.ok(Object.values(entry).some((e) => e.rank === 1));
  }
  assert.match(choice.logprobs.tokens[0], /^token_id:\d+$/);
  const again = await (await post(`${target.url}/v1/completions`, { ...body, prompt: [...body.prompt, 5] })).json();
  assert.equal(again.usage.prompt_tokens_details.cached_tokens, 4, "the previous prompt and its last logits are reused");
  assert.deepEqual(again.choices[0].prompt_logprobs.slice(0, 4), choice.prompt_logprobs);
});

test("a plain round with `extend` is continued by the target as its greedy decoding, in process and through a completions target", async () => {
  const prompt = [9707, 11, 1879, 0, 5];
  const completion = await (await post(`${target.url}/v1/completions`, {
    model: TARGET, prompt, max_tokens: 5, temperature: 0, logprobs: 1, return_tokens_as_token_ids: true,
  })).json();
  const greedy = completion.choices[0].logprobs.tokens.map((t) => Number(t.slice("token_id:".length)));
  assert.equal(greedy.length, 5, JSON.stringify(completion));
  const reply = await (await post(`${target.url}/v1/verify`, round({ context: prompt, draft: [], extend: 4 }))).json();
  assert.deepEqual([reply.next, ...reply.extended], greedy, JSON.stringify(reply));
  assert.equal(reply.session_len, prompt.length + 4, "next and all but the last continuation token are held");
  // Each prompt position was run or copied from another session of this client holding it
  // (earlier tests' sessions), and each continuation token was run.
  assert.equal(reply.stats.forward_tokens + reply.stats.cached_tokens, prompt.length + 4, JSON.stringify(reply.stats));
  // Through the worker, whose target is a completions upstream: the same continuation, asked
  // for in the same call (`max_tokens` 1 + extend), and the session holds it.
  const first = round({ context: prompt, draft: [], extend: 4 });
  const viaWorker = await (await post(`${worker.url}/v1/verify`, first)).json();
  assert.deepEqual([viaWorker.next, ...viaWorker.extended], greedy, JSON.stringify(viaWorker));
  assert.equal(viaWorker.session_len, prompt.length + 4);
  const onward = await post(`${worker.url}/v1/verify`, round({ session: first.session, base: viaWorker.session_len, context: [greedy[4]], draft: [] }));
  assert.equal(onward.status, 200, "the next round builds on the continued session");
  assert.equal((await onward.json()).session_len, prompt.length + 5);
  // A stop token ends the continuation after it, on both kinds of target.
  for (const url of [worker.url, target.url]) {
    const stopped = await (await post(`${url}/v1/verify`, round({ context: prompt, draft: [], extend: 4, stop: [greedy[2]] }))).json();
    assert.deepEqual([stopped.next, ...stopped.extended], greedy.slice(0, 3), `${url}: ${JSON.stringify(stopped)}`);
  }
  const refused = await post(`${target.url}/v1/verify`, round({ extend: 2 }));
  assert.equal(refused.status, 400, "an extension after a draft");
  assert.match((await refused.json()).error.message, /empty draft/);
});

test("a round sealed end to end through the worker", async () => {
  const wasm = await import(join(PKG, "tandem_wasm.js"));
  await wasm.default({ module_or_path: await readFile(join(PKG, "tandem_wasm_bg.wasm")) });
  const keys = await (await fetch(`${worker.url}/v1/seal/keys`)).text();
  const exchange = wasm.SealClient.fromKeys(keys).seal("POST", "/v1/verify", JSON.stringify(round()), `Bearer ${TOKEN}`);
  const resp = await fetch(`${worker.url}/v1/sealed`, { method: "POST", body: exchange.body });
  const chunks = exchange.push(new Uint8Array(await resp.arrayBuffer()));
  exchange.finish();
  const text = chunks.map((c) => new TextDecoder().decode(c));
  assert.equal(JSON.parse(text[0]).status, 200);
  const reply = JSON.parse(text.slice(1).join(""));
  assert.ok(Number.isInteger(reply.next) && reply.accepted <= 2);
});
