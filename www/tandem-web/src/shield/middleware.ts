// `shieldMiddleware`: the shield as AI SDK language-model middleware (`wrapLanguageModel`), for
// any provider: the prompt is redacted before the model sees it, and its answer restored.
import { shieldOf, type ShieldLike, type ShieldSource } from "./load.js";
import { mapStrings, redacted, Restorers } from "./walk.js";

/** A prompt part as the AI SDK's language-model specification has it (only what is read here). */
interface PromptPart {
  type: string;
  text?: string;
  input?: unknown;
  output?: unknown;
}

/** A prompt message (system content is a string, the others are parts). */
interface PromptMessage {
  role: string;
  content: string | PromptPart[];
}

/**
 * Middleware for `wrapLanguageModel` from `ai` (language-model specification v4; stream parts as
 * in v2–v4). Its methods are generic over the SDK's own types, so the package needs no `ai`.
 */
export interface ShieldMiddleware {
  readonly specificationVersion: "v4";
  /** Redacts the prompt: system text, text and reasoning parts, tool inputs and tool results. */
  transformParams<P extends { prompt: unknown }>(options: { params: P }): Promise<P>;
  /** Restores the generated content: text, reasoning and tool-call inputs. */
  wrapGenerate<R extends { content: unknown[] }>(options: { doGenerate: () => PromiseLike<R> }): Promise<R>;
  /** Restores the stream: each text, reasoning or tool-input stream by its id, a placeholder split across deltas included. */
  wrapStream<R extends { stream: ReadableStream<unknown> }>(options: { doStream: () => PromiseLike<R> }): Promise<R>;
}

/**
 * The shield for the Vercel AI SDK:
 *
 * ```ts
 * const model = wrapLanguageModel({ model: openai("gpt-4o"), middleware: shieldMiddleware() });
 * const { text } = await generateText({ model, prompt: "Mail jane@example.com a haiku" });
 * ```
 *
 * One shield serves every call, so a value keeps its placeholder across a conversation's turns.
 */
export function shieldMiddleware(source: ShieldSource = {}): ShieldMiddleware {
  const shield = shieldOf(source);
  return {
    specificationVersion: "v4",
    async transformParams({ params }) {
      const s = await shield();
      if (!Array.isArray(params.prompt)) return params;
      const prompt = [];
      for (const message of params.prompt as PromptMessage[]) prompt.push(await redactMessage(s, message));
      return { ...params, prompt };
    },
    async wrapGenerate({ doGenerate }) {
      const s = await shield();
      const result = await doGenerate();
      const restore = (t: string) => s.restore(t);
      return { ...result, content: result.content.map((part) => restorePart(part, restore)) };
    },
    async wrapStream({ doStream }) {
      const s = await shield();
      const result = await doStream();
      return { ...result, stream: result.stream.pipeThrough(restoreParts(s)) };
    },
  };
}

async function redactMessage(shield: ShieldLike, message: PromptMessage): Promise<PromptMessage> {
  const redact = (t: string) => redacted(shield, t);
  if (typeof message.content === "string") return { ...message, content: await redact(message.content) };
  if (!Array.isArray(message.content)) return message;
  const content: PromptPart[] = [];
  for (const part of message.content) {
    if ((part.type === "text" || part.type === "reasoning") && typeof part.text === "string") content.push({ ...part, text: await redact(part.text) });
    else if (part.type === "tool-call") content.push({ ...part, input: await mapStrings(part.input, redact) });
    else if (part.type === "tool-result") content.push({ ...part, output: await redactToolOutput(part.output, redact) });
    else content.push(part);
  }
  return { ...message, content };
}

/** A tool result's output (`{ type: "text" | "json" | "error-text" | …, value }`): its values, not its type. */
async function redactToolOutput(output: unknown, redact: (t: string) => Promise<string>): Promise<unknown> {
  if (!output || typeof output !== "object" || !("value" in output)) return output;
  return { ...output, value: await mapStrings((output as { value: unknown }).value, redact) };
}

/** A generated part with its text (or tool-call input, a JSON string) restored. */
function restorePart(part: unknown, restore: (t: string) => string): unknown {
  if (!part || typeof part !== "object") return part;
  const p = part as { type?: string; text?: unknown; input?: unknown };
  if ((p.type === "text" || p.type === "reasoning") && typeof p.text === "string") return { ...p, text: restore(p.text) };
  if (p.type === "tool-call" && typeof p.input === "string") return { ...p, input: restore(p.input) };
  return part;
}

/**
 * Restores `text-delta`, `reasoning-delta` and `tool-input-delta` parts, one stream per id; the
 * matching `…-end` part releases what its stream held back as one more delta just before it.
 * Whole parts (`tool-call`) are restored at once.
 */
function restoreParts(shield: ShieldLike): TransformStream<unknown, unknown> {
  const streams = new Restorers(shield);
  const restore = (t: string) => shield.restore(t);
  const kindOf = (type: string) => /^(text|reasoning|tool-input)-(delta|end)$/.exec(type);
  return new TransformStream({
    transform(part, controller) {
      const p = part as { type?: string; id?: string; delta?: unknown };
      const kind = typeof p.type === "string" ? kindOf(p.type) : null;
      if (!kind) return controller.enqueue(restorePart(part, restore));
      const key = `${kind[1]}/${p.id ?? ""}`;
      if (kind[2] === "delta" && typeof p.delta === "string") {
        const delta = streams.push(key, p.delta);
        if (delta) controller.enqueue({ ...p, delta });
        return;
      }
      const rest = streams.finish(key);
      if (rest) controller.enqueue({ type: `${kind[1]}-delta`, id: p.id, delta: rest });
      controller.enqueue(part);
    },
    flush(controller) {
      for (const key of streams.open) {
        const rest = streams.finish(key);
        const [kind, id] = key.split("/");
        if (rest) controller.enqueue({ type: `${kind}-delta`, id, delta: rest });
      }
    },
  });
}
