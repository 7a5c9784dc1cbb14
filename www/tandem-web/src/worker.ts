// The engine's Web Worker: runs an InlineEngine and relays its events and results to the page.
import { InlineEngine } from "./engine.js";
import { toWire } from "./errors.js";
import type { FromWorker, ToWorker } from "./protocol.js";
import type { EngineEventType } from "./types.js";

const EVENTS: EngineEventType[] = ["progress", "ready", "redaction", "route", "draft", "token", "usage"];
const scope = globalThis as unknown as { postMessage(m: FromWorker): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null; close(): void };
const post = (m: FromWorker) => scope.postMessage(m);
const aborts = new Map<number, AbortController>();
let engine: Promise<InlineEngine> | null = null;

scope.onmessage = async ({ data: msg }) => {
  switch (msg.kind) {
    case "init":
      engine = InlineEngine.create(msg.options, (e) => {
        for (const type of EVENTS) e.on(type, (event) => post({ kind: "event", type, event }));
      });
      engine.then(
        (e) => post({ kind: "ready", info: e.info }),
        (err: unknown) => post({ kind: "failed", error: toWire(err) }),
      );
      return;
    case "abort":
      aborts.get(msg.id)?.abort(new DOMException("The chat was aborted.", "AbortError"));
      return;
    case "close":
      (await engine)?.close();
      scope.close();
      return;
    case "call": {
      const controller = new AbortController();
      aborts.set(msg.id, controller);
      try {
        const e = await engine!;
        let value: unknown;
        if (msg.method === "chat") {
          const chunks = await e.chat.completions.create({ ...msg.args[0], stream: true }, { signal: controller.signal });
          for await (const chunk of chunks) post({ kind: "chunk", id: msg.id, chunk });
          value = null;
        } else if (msg.method === "reset") {
          value = await e.reset();
        } else {
          value = await e[msg.method](msg.args[0]);
        }
        post({ kind: "result", id: msg.id, value });
      } catch (err) {
        post({ kind: "error", id: msg.id, error: toWire(err) });
      } finally {
        aborts.delete(msg.id);
      }
    }
  }
};
