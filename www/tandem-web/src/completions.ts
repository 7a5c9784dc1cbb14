// `engine.chat.completions.create`: OpenAI's chat completions shape over the engine's one
// pipeline, streamed as chunks or collected whole; the same for both engines (in the page, or
// behind a Web Worker, where the chunks cross postMessage).
import { AbortError } from "./errors.js";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletions,
  ChatMessage,
  ChatResult,
  RequestOptions,
  Route,
} from "./types.js";

/** How a model draws its tokens, for whichever side answers (`undefined`: its default). */
export interface Sampling {
  temperature?: number;
  topP?: number;
  seed?: number;
}

/** What one answer needs from a request, as the pipeline reads it. */
export interface AnswerSettings {
  signal?: AbortSignal;
  route?: "auto" | Route;
  model?: string;
  maxTokens?: number;
  sampling: Sampling;
}

/** The pipeline: answers `messages`, calling `onToken` with each restored piece. */
export type Answerer = (messages: ChatMessage[], settings: AnswerSettings, onToken: (text: string, source: Route) => void) => Promise<ChatResult>;

/** A request's body without its signal: what crosses to the engine's Web Worker. */
export type CompletionBody = Omit<ChatCompletionCreateParams, "signal">;

/** `engine.chat` from a function that streams the chunks of one request. */
export function chatCompletions(stream: (body: CompletionBody, signal: AbortSignal | undefined) => AsyncIterable<ChatCompletionChunk>): ChatCompletions {
  const create = async (body: ChatCompletionCreateParams, options?: RequestOptions) => {
    if (!Array.isArray(body?.messages)) throw new TypeError("chat.completions.create needs `messages`");
    const { signal, ...rest } = body;
    const chunks = stream(rest, options?.signal ?? signal);
    return body.stream ? chunks : collect(chunks);
  };
  return { completions: { create: create as ChatCompletions["completions"]["create"] } };
}

/** The chunks of one answer of `answer`; closing the iteration early aborts it. */
export function answerChunks(answer: Answerer, body: CompletionBody, signal?: AbortSignal): AsyncIterable<ChatCompletionChunk> {
  const controller = new AbortController();
  if (signal?.aborted) controller.abort(signal.reason);
  signal?.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  const queue = new ChunkQueue<ChatCompletionChunk>(() => controller.abort(new DOMException("The stream was closed before its end.", "AbortError")));
  const head = { id: `chatcmpl-${crypto.randomUUID()}`, object: "chat.completion.chunk" as const, created: Math.floor(Date.now() / 1000), model: body.model ?? "tandem" };
  let first = true;
  const settings: AnswerSettings = {
    signal: controller.signal,
    route: body.tandem?.route,
    model: body.model,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    sampling: { temperature: body.temperature ?? undefined, topP: body.top_p ?? undefined, seed: body.seed ?? undefined },
  };
  answer(body.messages, settings, (content, source) => {
    queue.push({ ...head, choices: [{ index: 0, delta: first ? { role: "assistant", content } : { content }, finish_reason: null }], tandem: { source } });
    first = false;
  }).then(
    (result) => {
      const completion_tokens = result.usage.localTokens + result.usage.cloudTokens;
      const usage = { prompt_tokens: result.promptTokens, completion_tokens, total_tokens: result.promptTokens + completion_tokens };
      queue.push({ ...head, choices: [{ index: 0, delta: first ? { role: "assistant" } : {}, finish_reason: result.finishReason }], usage, tandem: result });
      queue.end();
    },
    (err: unknown) => queue.fail(controller.signal.aborted ? aborted(controller.signal.reason) : err),
  );
  return queue;
}

/** An abort as an `AbortError`, keeping the caller's reason as its cause. */
function aborted(reason: unknown): AbortError {
  if (reason instanceof AbortError) return reason;
  const message = (reason as Error)?.message || "The answer was aborted.";
  return new AbortError(message, { code: "aborted", cause: reason });
}

/** The whole completion from its chunks. */
export async function collect(chunks: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletion> {
  let content = "";
  for await (const chunk of chunks) {
    content += chunk.choices[0]?.delta.content ?? "";
    const finish = chunk.choices[0]?.finish_reason;
    if (finish && chunk.usage && chunk.tandem && "route" in chunk.tandem) {
      const { id, created, model, usage, tandem } = chunk;
      return { id, object: "chat.completion", created, model, choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: finish }], usage, tandem };
    }
  }
  throw new Error("the answer ended without its last chunk");
}

/**
 * An async iterable fed from callbacks: `push` items, then `end` or `fail`. Its consumer may stop
 * early (`break`), which calls `onClose` so that the producer stops too.
 */
export class ChunkQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #state: { done: false } | { done: true; error?: unknown } = { done: false };
  #wake: (() => void) | null = null;
  readonly #onClose: () => void;

  constructor(onClose: () => void) {
    this.#onClose = onClose;
  }

  push(item: T): void {
    if (this.#state.done) return;
    this.#items.push(item);
    this.#wake?.();
  }

  end(): void {
    if (!this.#state.done) this.#state = { done: true };
    this.#wake?.();
  }

  fail(error: unknown): void {
    if (!this.#state.done) this.#state = { done: true, error };
    this.#wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (this.#items.length) return { done: false, value: this.#items.shift()! };
          if (this.#state.done) {
            if ("error" in this.#state) throw this.#state.error;
            return { done: true, value: undefined };
          }
          await new Promise<void>((wake) => (this.#wake = wake));
          this.#wake = null;
        }
      },
      return: async (): Promise<IteratorResult<T>> => {
        if (!this.#state.done) {
          this.#state = { done: true };
          this.#onClose();
        }
        this.#items.length = 0;
        return { done: true, value: undefined };
      },
    };
  }
}
