// A local OpenAI-compatible upstream for the gateway's tests and benchmarks: chat completions,
// streamed with real timing (one SSE event per word, `tokenDelayMs` apart; a usage chunk last when
// `stream_options.include_usage` asks), scripted faults, and `/v1/completions` with vLLM's
// `prompt_logprobs` for a toy target model (for `/v1/verify`).
//
// Faults are taken from a queue (POST /_control/faults {"faults": [...]}) or, in random mode,
// drawn per request with a seeded generator. Kinds:
//   "429"        429 with Retry-After: 0          "500"       500 with an error body
//   "slow"       headers only after `slowMs`       "malformed" a body (or a stream event) that is not JSON
//   "drop"       stream: two events, then the TCP connection is destroyed
//   "truncate"   stream: two events, then a clean end without [DONE]
// GET /_control/requests lists what arrived (headers and bodies); DELETE clears it.
// Usage: node tests/support/upstream.mjs [PORT] [NAME]
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";

export const FAULTS = ["429", "500", "slow", "malformed", "drop", "truncate"];

/** Starts an upstream; resolves to { url, port, close, ... } once listening. */
export function startUpstream({ name = "upstream", port = 0, apiKey = null, tokenDelayMs = 15, slowMs = 1500 } = {}) {
  const state = { queue: [], random: null, requests: [], tokenDelayMs, slowMs };
  const server = createServer((req, res) => handle(state, name, apiKey, req, res).catch(() => res.destroy()));
  server.on("connection", (socket) => socket.setNoDelay(true));
  server.keepAliveTimeout = 30_000;
  return new Promise((ok) =>
    server.listen(port, "127.0.0.1", () => {
      const p = server.address().port;
      ok({
        name,
        port: p,
        url: `http://127.0.0.1:${p}/v1`,
        state,
        /** Queues faults for the next requests. */
        script: (...faults) => state.queue.push(...faults),
        /** Draws a fault for every request with probability `rate`, from `seed`. */
        randomFaults: (rate, seed = 1) => (state.random = rate > 0 ? { rate, seed } : null),
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }),
      });
    }),
  );
}

function nextRandom(r) {
  // mulberry32
  r.seed = (r.seed + 0x6d2b79f5) | 0;
  let t = r.seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function pickFault(state) {
  if (state.queue.length) return state.queue.shift();
  if (state.random && nextRandom(state.random) < state.random.rate) {
    return FAULTS[Math.floor(nextRandom(state.random) * FAULTS.length)];
  }
  return null;
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

async function handle(state, name, apiKey, req, res) {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/_control/faults" && req.method === "POST") {
    state.queue.push(...JSON.parse(await readBody(req)).faults);
    return res.end("ok");
  }
  if (url.pathname === "/_control/requests") {
    if (req.method === "DELETE") state.requests.length = 0;
    res.setHeader("content-type", "application/json");
    return res.end(JSON.stringify(state.requests));
  }
  if (url.pathname === "/v1/completions" && req.method === "POST") return completions(state, req, res);
  if (url.pathname !== "/v1/chat/completions" || req.method !== "POST") {
    res.writeHead(404, { "content-type": "application/json" });
    return res.end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }));
  }
  const raw = await readBody(req);
  state.requests.push({ headers: req.headers, body: raw });
  if (apiKey && req.headers.authorization !== `Bearer ${apiKey}`) {
    res.writeHead(401, { "content-type": "application/json" });
    return res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${req.headers.authorization}`, type: "invalid_request_error" } }));
  }
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    res.writeHead(400, { "content-type": "application/json" });
    return res.end(JSON.stringify({ error: { message: "invalid JSON", type: "invalid_request_error" } }));
  }
  const fault = pickFault(state);
  if (fault === "429") {
    res.writeHead(429, { "content-type": "application/json", "retry-after": "0" });
    return res.end(JSON.stringify({ error: { message: "slow down", type: "rate_limit_error" } }));
  }
  if (fault === "500") {
    res.writeHead(500, { "content-type": "application/json" });
    return res.end(JSON.stringify({ error: { message: "boom", type: "server_error" } }));
  }
  if (fault === "slow") await sleep(state.slowMs);
  const last = body.messages?.at(-1)?.content ?? "";
  const words = `Hello from ${name}: you said ${String(last).slice(0, 40)}`.split(" ");
  const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
  const created = Math.floor(Date.now() / 1000);
  if (!body.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    if (fault === "malformed") return res.end('{"id": "x", "choices": [');
    return res.end(
      JSON.stringify({
        id, object: "chat.completion", created, model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: words.join(" ") }, finish_reason: "stop" }],
        usage: { prompt_tokens: 5, completion_tokens: words.length, total_tokens: 5 + words.length },
      }),
    );
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const chunk = (delta, finish = null) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.write(chunk({ role: "assistant", content: "" }));
  for (let i = 0; i < words.length; i++) {
    if (i === 2 && fault === "drop") {
      await sleep(20); // let what was written reach the client, then break the connection
      return res.socket.destroy();
    }
    if (i === 2 && fault === "truncate") return res.end();
    if (i === 2 && fault === "malformed") res.write("data: {not json\n\n");
    await sleep(state.tokenDelayMs);
    res.write(chunk({ content: (i ? " " : "") + words[i] }));
  }
  res.write(chunk({}, "stop"));
  if (body.stream_options?.include_usage) {
    // As OpenAI does: a last chunk with no choices and the usage.
    const usage = { prompt_tokens: 5, completion_tokens: words.length, total_tokens: 5 + words.length };
    res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: body.model, choices: [], usage })}\n\n`);
  }
  res.end("data: [DONE]\n\n");
}

/** The toy target model of `/v1/completions`: after token t it picks (3t + 1) mod 50. */
export const targetChoice = (t) => (t * 3 + 1) % 50;

/**
 * `POST /v1/completions` in vLLM's shape for verification: `prompt_logprobs` (rank 1 is the toy
 * target's choice after each prompt token) and the generated tokens as `token_id:N` (up to
 * `max_tokens`, ending after one of `stop_token_ids`).
 */
async function completions(state, req, res) {
  const raw = await readBody(req);
  state.requests.push({ headers: req.headers, body: raw });
  let prompt, maxTokens, stops;
  try {
    const body = JSON.parse(raw);
    prompt = body.prompt;
    maxTokens = body.max_tokens ?? 16;
    stops = body.stop_token_ids ?? [];
    if (!Array.isArray(prompt) || prompt.length === 0) throw new Error("no prompt");
  } catch (e) {
    res.writeHead(400, { "content-type": "application/json" });
    return res.end(JSON.stringify({ error: { message: `invalid request: ${e.message}`, type: "invalid_request_error" } }));
  }
  const logprobs = [null];
  for (let i = 1; i < prompt.length; i++) {
    const best = targetChoice(prompt[i - 1]);
    logprobs.push({ [prompt[i]]: { logprob: -1, rank: prompt[i] === best ? 1 : 2 }, [best]: { logprob: -0.1, rank: 1 } });
  }
  // Greedy generation along the toy chain, ending after a `stop_token_ids` token as vLLM does.
  const generated = [targetChoice(prompt.at(-1))];
  while (generated.length < maxTokens && !stops.includes(generated.at(-1))) generated.push(targetChoice(generated.at(-1)));
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      choices: [{ text: "", prompt_logprobs: logprobs, logprobs: { tokens: generated.map((t) => `token_id:${t}`) } }],
      usage: { prompt_tokens: prompt.length, completion_tokens: generated.length, total_tokens: prompt.length + generated.length },
    }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const up = await startUpstream({ port: Number(process.argv[2] ?? 0), name: process.argv[3] ?? "upstream" });
  console.log(`OpenAI-compatible test upstream on ${up.url}`);
}
