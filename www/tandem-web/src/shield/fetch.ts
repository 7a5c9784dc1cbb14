// `shieldFetch`: a `fetch` for OpenAI-compatible clients (the OpenAI SDK, LangChain, plain
// fetch) that redacts what they send and restores what comes back, streamed or whole.
import type { RedactedEntity } from "../wasm-shield/tandem_wasm.js";
import { bodyChunks, formatSse, sseEvents, textStream, type SseEvent } from "../sse.js";
import { shieldOf, type ShieldLike, type ShieldSource } from "./load.js";
import { mapStrings, Restorers } from "./walk.js";

/** Settings of `shieldFetch`. */
export interface ShieldFetchOptions extends ShieldSource {
  /** Told what each request had redacted before it left (for a UI or an audit log; no originals leave). */
  onRedaction?: (event: { url: string; entities: RedactedEntity[] }) => void;
}

/** The OpenAI-compatible APIs whose bodies carry user text. */
type Endpoint = "chat" | "completions" | "embeddings" | "responses";

/** Refused to send a request it could not shield: nothing was sent. */
export class ShieldError extends Error {
  override name = "ShieldError";
}

/**
 * Wraps `fetch` so that POSTs to an OpenAI-compatible API (`…/chat/completions`,
 * `…/completions`, `…/embeddings`, `…/responses`) leave with personal data replaced by
 * placeholders, and replies (JSON or server-sent events) come back with the originals restored,
 * a placeholder split across streamed pieces included. Every other request passes unchanged.
 *
 * ```ts
 * const openai = new OpenAI({ apiKey, fetch: shieldFetch(fetch) });
 * ```
 *
 * One shield serves every call, so a value keeps its placeholder across a conversation's turns.
 * A body it cannot read as JSON (a stream, a form) is refused with a `ShieldError`, never sent.
 */
export function shieldFetch(fetchImpl: typeof fetch = globalThis.fetch, options: ShieldFetchOptions = {}): typeof fetch {
  const shield = shieldOf(options);
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : null;
    const url = request ? request.url : String(input);
    const method = (init?.method ?? request?.method ?? "GET").toUpperCase();
    const endpoint = method === "POST" ? endpointOf(url) : null;
    if (!endpoint) return fetchImpl(input, init);
    const text = await bodyText(url, request, init);
    if (text === "") return fetchImpl(input, init);
    const body = json(text);
    if (body === NOT_JSON) throw new ShieldError(`shieldFetch: the body of POST ${url} is not JSON; it was not sent`);
    const s = await shield();
    const entities: RedactedEntity[] = [];
    const redact = async (t: string) => {
      if (!t) return t;
      const r = await s.redact(t);
      entities.push(...r.entities);
      return r.text;
    };
    const sent = JSON.stringify(await redactRequest(endpoint, body, redact));
    options.onRedaction?.({ url, entities });
    const headers = new Headers(init?.headers ?? request?.headers);
    headers.delete("content-length");
    const response = request
      ? await fetchImpl(new Request(request, { ...init, method, headers, body: sent }))
      : await fetchImpl(input, { ...init, method, headers, body: sent });
    return restoreResponse(endpoint, response, s);
  };
}

function endpointOf(url: string): Endpoint | null {
  let path: string;
  try {
    path = new URL(url, globalThis.location?.href ?? "http://localhost/").pathname.replace(/\/+$/, "");
  } catch {
    return null;
  }
  if (path.endsWith("/chat/completions")) return "chat";
  if (path.endsWith("/completions")) return "completions";
  if (path.endsWith("/embeddings")) return "embeddings";
  if (path.endsWith("/responses")) return "responses";
  return null;
}

async function bodyText(url: string, request: Request | null, init?: RequestInit): Promise<string> {
  const body = init?.body;
  if (body == null) return request ? request.clone().text() : "";
  if (typeof body === "string") return body;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return new TextDecoder().decode(body);
  if (typeof Blob !== "undefined" && body instanceof Blob) return body.text();
  throw new ShieldError(`shieldFetch: cannot read the body of POST ${url} (${body.constructor?.name ?? typeof body}) to shield it; it was not sent`);
}

type Json = Record<string, unknown>;

/** What `json` returns for text that is not JSON. */
const NOT_JSON = Symbol("not JSON");

/** `text` parsed, or `NOT_JSON`. */
function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}
const isObject = (v: unknown): v is Json => !!v && typeof v === "object" && !Array.isArray(v);

/** The request with the user's text redacted: messages, prompts, inputs, tool arguments and results. */
async function redactRequest(endpoint: Endpoint, body: unknown, redact: (t: string) => Promise<string>): Promise<unknown> {
  if (!isObject(body)) return body;
  const out = { ...body };
  const strings = (v: unknown) => (typeof v === "string" || Array.isArray(v) ? mapStrings(v, redact) : v);
  switch (endpoint) {
    case "chat":
      if (Array.isArray(body.messages)) {
        out.messages = await Promise.all(body.messages.map((m: unknown) => (isObject(m) ? redactChatMessage(m, redact) : m)));
      }
      break;
    case "completions":
      out.prompt = await strings(body.prompt);
      break;
    case "embeddings":
      out.input = await strings(body.input);
      break;
    case "responses":
      if (typeof body.instructions === "string") out.instructions = await redact(body.instructions);
      out.input = typeof body.input === "string" ? await redact(body.input) : Array.isArray(body.input) ? await Promise.all(body.input.map((item: unknown) => redactResponseItem(item, redact))) : body.input;
      break;
  }
  return out;
}

/** A chat message: its text (a string or text parts) and its tool calls' arguments. */
async function redactChatMessage(m: Json, redact: (t: string) => Promise<string>): Promise<Json> {
  const out = { ...m };
  out.content = await redactContent(m.content, redact, ["text"]);
  if (typeof m.refusal === "string") out.refusal = await redact(m.refusal);
  if (Array.isArray(m.tool_calls)) {
    out.tool_calls = await Promise.all(
      m.tool_calls.map(async (call: unknown) =>
        isObject(call) && isObject(call.function) && typeof call.function.arguments === "string"
          ? { ...call, function: { ...call.function, arguments: await redact(call.function.arguments) } }
          : call,
      ),
    );
  }
  return out;
}

/** One input item of the Responses API: a message, a function call or its output. */
async function redactResponseItem(item: unknown, redact: (t: string) => Promise<string>): Promise<unknown> {
  if (!isObject(item)) return item;
  const out = { ...item };
  if ("content" in item) out.content = await redactContent(item.content, redact, ["input_text", "output_text", "text"]);
  if (typeof item.arguments === "string") out.arguments = await redact(item.arguments);
  if (typeof item.output === "string") out.output = await redact(item.output);
  return out;
}

/** Message content: a string, or parts of which those of the `textTypes` carry text (images and files pass). */
async function redactContent(content: unknown, redact: (t: string) => Promise<string>, textTypes: string[]): Promise<unknown> {
  if (typeof content === "string") return redact(content);
  if (!Array.isArray(content)) return content;
  return Promise.all(
    content.map(async (part: unknown) =>
      isObject(part) && typeof part.type === "string" && textTypes.includes(part.type) && typeof part.text === "string" ? { ...part, text: await redact(part.text) } : part,
    ),
  );
}

/** The reply with the originals back: every string of a JSON body, or each streamed piece. */
async function restoreResponse(endpoint: Endpoint, response: Response, shield: ShieldLike): Promise<Response> {
  const type = response.headers.get("content-type") ?? "";
  if (!response.ok || !response.body || endpoint === "embeddings") return response;
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  headers.delete("content-encoding");
  const init = { status: response.status, statusText: response.statusText, headers };
  if (type.includes("text/event-stream")) {
    const restore = endpoint === "responses" ? restoreResponsesEvents : restoreChoiceEvents;
    return new Response(textStream(restore(sseEvents(bodyChunks(response)), new Restorers(shield), shield)), init);
  }
  if (!type.includes("json")) return response;
  const text = await response.text();
  const body = json(text);
  if (body === NOT_JSON) return new Response(text, init);
  return new Response(JSON.stringify(await mapStrings(body, (t) => shield.restore(t))), init);
}

/**
 * Chat and text completion chunks: `choices[i].delta.content` (and `refusal`, reasoning, tool
 * call arguments) or `choices[i].text`, each restored as its own stream. What a stream holds
 * back is released with its choice's `finish_reason`, or in a chunk of its own before `[DONE]`.
 */
async function* restoreChoiceEvents(events: AsyncIterable<SseEvent>, streams: Restorers): AsyncGenerator<string> {
  let last: Json = {};
  const release = (choice: Json) => {
    const prefix = `${choice.index ?? 0}/`;
    for (const key of streams.open.filter((k) => k.startsWith(prefix))) {
      const rest = streams.finish(key);
      if (rest) place(choice, key.slice(prefix.length), rest);
    }
  };
  for await (const event of events) {
    if (event.data === "[DONE]") {
      yield* releaseAll(streams, last);
      yield formatSse(event);
      continue;
    }
    const chunk = json(event.data);
    if (chunk === NOT_JSON) {
      yield formatSse(event);
      continue;
    }
    if (isObject(chunk) && Array.isArray(chunk.choices)) {
      last = chunk;
      for (const choice of chunk.choices) {
        if (!isObject(choice)) continue;
        const i = choice.index ?? 0;
        const delta = isObject(choice.delta) ? choice.delta : null;
        for (const field of ["content", "refusal", "reasoning_content", "reasoning"]) {
          if (delta && typeof delta[field] === "string") delta[field] = streams.push(`${i}/${field}`, delta[field]);
        }
        if (delta && Array.isArray(delta.tool_calls)) {
          for (const call of delta.tool_calls) {
            if (isObject(call) && isObject(call.function) && typeof call.function.arguments === "string") {
              call.function.arguments = streams.push(`${i}/tool/${call.index ?? 0}`, call.function.arguments);
            }
          }
        }
        if (typeof choice.text === "string") choice.text = streams.push(`${i}/text`, choice.text);
        if (choice.finish_reason) release(choice);
      }
    }
    yield formatSse({ ...event, data: JSON.stringify(chunk) });
  }
  yield* releaseAll(streams, last);
}

/** What open streams still hold, as one chunk per choice shaped like `last`. */
function* releaseAll(streams: Restorers, last: Json): Generator<string> {
  const byChoice = new Map<string, Json>();
  for (const key of streams.open) {
    const rest = streams.finish(key);
    if (!rest) continue;
    const [index, ...field] = key.split("/");
    let choice = byChoice.get(index);
    if (!choice) byChoice.set(index, (choice = { index: Number(index), finish_reason: null }));
    place(choice, field.join("/"), rest);
  }
  if (byChoice.size) yield formatSse({ data: JSON.stringify({ ...last, choices: [...byChoice.values()], usage: undefined }) });
}

/** Appends `text` to a choice's field named by a stream key (`content`, `text`, `tool/N`…). */
function place(choice: Json, field: string, text: string): void {
  if (field === "text") {
    choice.text = `${choice.text ?? ""}${text}`;
    return;
  }
  const delta = (choice.delta = isObject(choice.delta) ? choice.delta : {});
  const tool = /^tool\/(\d+)$/.exec(field);
  if (!tool) {
    delta[field] = `${delta[field] ?? ""}${text}`;
    return;
  }
  const calls = (delta.tool_calls = Array.isArray(delta.tool_calls) ? delta.tool_calls : []) as Json[];
  const call = calls.find((c) => c.index === Number(tool[1]));
  if (call && isObject(call.function)) call.function.arguments = `${call.function.arguments ?? ""}${text}`;
  else calls.push({ index: Number(tool[1]), function: { arguments: text } });
}

/**
 * Responses API events: each `….delta` event's `delta` is restored as the stream of its item and
 * content part; the matching `….done` event first releases what that stream held back (as one
 * more delta), then, like every other event, has its whole strings restored.
 */
async function* restoreResponsesEvents(events: AsyncIterable<SseEvent>, streams: Restorers, shield: ShieldLike): AsyncGenerator<string> {
  for await (const event of events) {
    const data = json(event.data);
    if (data === NOT_JSON) {
      yield formatSse(event);
      continue;
    }
    if (isObject(data) && typeof data.type === "string") {
      const [kind, phase] = [data.type.replace(/\.(delta|done)$/, ""), /\.(delta|done)$/.exec(data.type)?.[1]];
      const key = `${kind}/${data.item_id ?? ""}/${data.output_index ?? ""}/${data.content_index ?? ""}`;
      if (phase === "delta" && typeof data.delta === "string") {
        yield formatSse({ ...event, data: JSON.stringify({ ...data, delta: streams.push(key, data.delta) }) });
        continue;
      }
      if (phase === "done") {
        const rest = streams.finish(key);
        if (rest) {
          const { item_id, output_index, content_index } = data;
          yield formatSse({ ...event, event: event.event && `${kind}.delta`, data: JSON.stringify({ type: `${kind}.delta`, item_id, output_index, content_index, delta: rest }) });
        }
      }
    }
    yield formatSse({ ...event, data: JSON.stringify(await mapStrings(data, (t) => shield.restore(t))) });
  }
  // A stream cut before its `.done` event: what it held back still reaches the reader.
  for (const key of streams.open) {
    const rest = streams.finish(key);
    const [kind, item_id, output_index, content_index] = key.split("/");
    const number = (s: string) => (s === "" ? undefined : Number(s));
    if (rest) yield formatSse({ event: `${kind}.delta`, data: JSON.stringify({ type: `${kind}.delta`, item_id: item_id || undefined, output_index: number(output_index), content_index: number(content_index), delta: rest }) });
  }
}
