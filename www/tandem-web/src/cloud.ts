// The edge worker, as the engine talks to it: OpenAI-style streamed chat completions and
// `/v1/verify` rounds, each either plain or sealed end to end (HPKE, the wasm SealClient).
import type { SealClient } from "./wasm/tandem_wasm.js";
import { CloudError, CloudUnreachable, cloudError } from "./errors.js";
import { bodyChunks, sseEvents } from "./sse.js";
import type { Sampling } from "./completions.js";
import type { ChatMessage } from "./types.js";

/** The status of a `/v1/verify` round whose session the verifier lost (`VerifyRefusal::SessionLost` in tandem-protocol). */
const SESSION_LOST = 409;

/** A response as the engine reads it: status, `Retry-After`, and the body's bytes as they arrive. */
interface Reply {
  status: number;
  retryAfter: string | null;
  body: AsyncIterable<Uint8Array>;
}

/** How a cloud answer ended: output tokens as the worker reported them, and its finish reason. */
export interface CloudEnd {
  completionTokens: number | null;
  finishReason: string | null;
}

/** Settings of the link to the worker. */
export interface CloudConfig {
  workerUrl: string;
  token?: string;
  seal?: SealSetting;
  timeoutMs: number;
  /** The running wasm build's `SealClient` (the default or the threaded build: whichever started). */
  sealClient: typeof SealClient;
}

/**
 * Where the sealing keys come from: `{ keys }` pinned in the app (the production default),
 * `{ keysUrl }` fetched from another origin than the worker's, or `true`: fetched from the
 * worker itself on first use (development; it trusts the channel the seal distrusts).
 */
export type SealSetting = boolean | { keys: string } | { keysUrl: string };

/** The link to one edge worker. */
export class Cloud {
  #config: CloudConfig;
  #sealer: Promise<SealClient> | null = null;

  constructor(config: CloudConfig) {
    this.#config = { ...config, workerUrl: config.workerUrl.replace(/\/+$/, "") };
  }

  /** Streams a chat completion's content deltas; at the end, its output tokens (when the worker reports them) and finish reason. */
  async *chat(model: string, messages: ChatMessage[], maxTokens: number, sampling: Sampling, signal?: AbortSignal): AsyncGenerator<string, CloudEnd> {
    const { temperature, topP, seed } = sampling;
    const body = JSON.stringify({ model, messages, stream: true, max_tokens: maxTokens, temperature, top_p: topP, seed, stream_options: { include_usage: true } });
    const reply = await this.#post("/v1/chat/completions", body, signal);
    if (reply.status !== 200) throw cloudError("chat", reply.status, await text(reply.body), reply.retryAfter);
    const end: CloudEnd = { completionTokens: null, finishReason: null };
    let done = false;
    for await (const { data } of sseEvents(reply.body)) {
      // After [DONE] the body is still read to its end: a sealed reply is checked whole (its
      // final record proves it was not cut), and an unread body would be aborted.
      if (done) continue;
      if (data === "[DONE]") {
        done = true;
        continue;
      }
      let event: { choices?: { delta?: { content?: string }; finish_reason?: string | null }[]; usage?: { completion_tokens?: number }; error?: { message?: string; code?: string } };
      try {
        event = JSON.parse(data);
      } catch {
        throw new CloudError(`the worker sent an event that is not JSON: ${data.slice(0, 80)}`, { code: "invalid_stream" });
      }
      if (event.error) throw new CloudError(`the cloud model failed mid-answer: ${event.error.message ?? "unknown error"}`, { code: event.error.code ?? "upstream_failed" });
      if (event.usage?.completion_tokens != null) end.completionTokens = event.usage.completion_tokens;
      end.finishReason = event.choices?.[0]?.finish_reason ?? end.finishReason;
      const piece = event.choices?.[0]?.delta?.content;
      if (piece) yield piece;
    }
    if (!done) throw new CloudError("the cloud answer ended before it was complete (no [DONE])", { code: "truncated" });
    return end;
  }

  /** One `/v1/verify` round; `null` when the worker lost the session (409). */
  async verify(request: object, signal?: AbortSignal): Promise<object | null> {
    const reply = await this.#post("/v1/verify", JSON.stringify(request), signal);
    const body = await text(reply.body);
    if (reply.status === SESSION_LOST) return null;
    if (reply.status !== 200) throw cloudError("verification", reply.status, body, reply.retryAfter);
    return JSON.parse(body) as object;
  }

  /**
   * POSTs JSON, plain or sealed; network failures and timeouts become `CloudUnreachable`. A
   * worker that no longer knows the fetched keys (`seal_unknown_key`, after a rotation) makes
   * the client fetch them again and retry, once.
   */
  async #post(path: string, body: string, signal?: AbortSignal, retried = false): Promise<Reply> {
    const { workerUrl, token, seal, timeoutMs } = this.#config;
    const authorization = token ? `Bearer ${token}` : undefined;
    const connect = async (url: string, init: RequestInit): Promise<Response> => {
      // The timeout bounds the wait for headers only: a slow stream is not cut off. The
      // caller's signal aborts the request and, later, its body.
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new DOMException(`no answer in ${timeoutMs} ms`, "TimeoutError")), timeoutMs);
      signal?.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
      try {
        return await fetch(url, { ...init, signal: controller.signal });
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const timeout = controller.signal.aborted;
        throw new CloudUnreachable(`the worker at ${workerUrl} is unreachable: ${(err as Error).message}`, { code: timeout ? "timeout" : "network", cause: err });
      } finally {
        clearTimeout(timer);
      }
    };
    if (!seal) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (authorization) headers.authorization = authorization;
      const response = await connect(`${workerUrl}${path}`, { method: "POST", headers, body });
      return { status: response.status, retryAfter: response.headers.get("retry-after"), body: bodyChunks(response) };
    }
    const exchange = (await this.#sealClient(connect)).seal("POST", path, body, authorization);
    const response = await connect(`${workerUrl}/v1/sealed`, {
      method: "POST",
      headers: { "content-type": "application/tandem-sealed-request" },
      body: exchange.body as BufferSource,
    });
    if (response.headers.get("content-type") !== "application/tandem-sealed-response") {
      const refusal = await response.text();
      if (response.status === 400 && refusal.includes('"seal_unknown_key"')) {
        if (typeof seal === "object" && "keys" in seal) {
          throw new CloudError("the worker no longer accepts the pinned sealing keys (seal_unknown_key): ship its current keys with the app", { code: "seal_unknown_key", status: 400 });
        }
        if (!retried) {
          this.#sealer = null;
          return this.#post(path, body, signal, true);
        }
      }
      throw cloudError("sealed request", response.status, refusal, response.headers.get("retry-after"));
    }
    // The first opened chunk is the inner response head ({status, headers}); the rest is its body.
    const opened = openSealed(exchange, bodyChunks(response));
    const head = await opened.next();
    if (head.done) throw new CloudError("the sealed response ended before its head", { code: "truncated" });
    const { status, headers } = JSON.parse(new TextDecoder().decode(head.value)) as { status: number; headers?: Record<string, string> };
    const retryAfter = Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === "retry-after")?.[1] ?? null;
    return { status, retryAfter, body: { [Symbol.asyncIterator]: () => opened } };
  }

  #sealClient(connect: (url: string, init: RequestInit) => Promise<Response>): Promise<SealClient> {
    const seal = this.#config.seal;
    this.#sealer ??= (async () => {
      if (typeof seal === "object" && "keys" in seal) return this.#config.sealClient.fromKeys(seal.keys);
      const url = typeof seal === "object" ? seal.keysUrl : `${this.#config.workerUrl}/v1/seal/keys`;
      const response = await connect(url, { method: "GET", cache: "no-store" });
      if (!response.ok) throw new CloudError(`no sealing keys at ${url} (${response.status})`, { code: "seal_keys", status: response.status });
      return this.#config.sealClient.fromKeys(await response.text());
    })();
    this.#sealer.catch(() => (this.#sealer = null));
    return this.#sealer;
  }
}

async function* openSealed(
  exchange: { push(bytes: Uint8Array): unknown[]; finish(): void },
  body: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  for await (const bytes of body) {
    for (const chunk of exchange.push(bytes)) yield chunk as Uint8Array;
  }
  exchange.finish(); // throws when the stream was cut short or tampered with
}

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let out = "";
  for await (const bytes of body) out += decoder.decode(bytes, { stream: true });
  return out + decoder.decode();
}
