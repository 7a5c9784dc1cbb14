// Response bodies as byte chunks, and server-sent events (the WHATWG event-stream format) read
// from them and written back.

/**
 * A response's body as it arrives. Leaving the loop early cancels the body, so the server stops
 * sending (a `ReadableStream` is not async-iterable in every browser yet).
 */
export async function* bodyChunks(response: Response): AsyncGenerator<Uint8Array> {
  if (!response.body) return;
  const reader = response.body.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if ((done = next.done)) return;
      yield next.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** A byte stream of the strings `source` yields; cancelling it ends `source` (its `finally` runs). */
export function textStream(source: AsyncGenerator<string>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    async pull(controller) {
      try {
        const next = await source.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(next.value));
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel() {
      await source.return(undefined);
    },
  });
}

/** One event of a stream: its `data` lines joined by "\n", with its `event` name and `id` when set. */
export interface SseEvent {
  event?: string;
  id?: string;
  data: string;
}

/** The events of an event stream that carry data (comments and empty events are skipped). */
export async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event: Partial<SseEvent> & { lines: string[] } = { lines: [] };
  const dispatch = function* () {
    if (event.lines.length) {
      const { lines, ...rest } = event;
      yield { ...rest, data: lines.join("\n") };
    }
    event = { lines: [] };
  };
  const line = function* (text: string) {
    if (text === "") return yield* dispatch();
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? "" : text.slice(colon + 1).replace(/^ /, "");
    if (field === "data") event.lines.push(value);
    else if (field === "event") event.event = value;
    else if (field === "id") event.id = value;
  };
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A "\r" at the very end may be the first half of "\r\n": wait for the next bytes.
      if (buffer[end] === "\r" && end === buffer.length - 1) break;
      const text = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
      yield* line(text);
    }
  }
  // As the format says, an event the stream ends inside (no blank line after it) is dropped.
}

/** One event in the wire format, ending with its blank line. */
export function formatSse(event: SseEvent): string {
  let out = "";
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  for (const line of event.data.split("\n")) out += `data: ${line}\n`;
  return `${out}\n`;
}
