// The chat demo: the @tandem/web engine (in a Web Worker) against the local edge worker.
// URL parameters: worker (edge worker URL), token, manifest, device (auto|webgpu|cpu),
// speculative (target model name: cloud answers are drafted here and verified there),
// seal (1: seal requests end to end), sealKeys (URL of the sealing keys), threads (CPU threads;
// default auto), inWorker (0: run the engine on the main thread), threshold (the router's minimum P(local suffices), 0..1),
// maxTokens, localModel (the manifest's local model by name; default: the largest that fits),
// cascade (TOKENS:MIN_MEAN_LOGPROB, e.g. 8:-1.5: local answers the model is unsure of go to the cloud). URLs from the query string must be this page's origin or loopback: a link
// must not point the demo at someone else's worker, which would read the chats. The token is
// removed from the address bar once read.
import { createEngine, type ChatMessage, type ChatResult, type Detection, type Engine, type EngineEvents, type EngineOptions } from "@tandem/web";

const params = new URLSearchParams(location.search);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const log = $<HTMLElement>("log");
const input = $<HTMLTextAreaElement>("input");
const send = $<HTMLButtonElement>("send");
const stop = $<HTMLButtonElement>("stop");
const routeSelect = $<HTMLSelectElement>("route");
const history: ChatMessage[] = [];
let controller: AbortController | null = null;

/** Every event, for tests and for the curious (`window.tandemEvents` in the console). */
const events: { type: string; event: unknown }[] = [];
/** Each model file's final progress event (downloaded or from the cache). */
const progressDone: EngineEvents["progress"][] = [];
/** The whole load's fraction, event by event. */
const fractions: number[] = [];
Object.assign(window, { tandemEvents: events, tandemProgress: progressDone, tandemFractions: fractions });

/** `url` from the query string, refused unless it is this page's origin or a loopback address. */
function trustedUrl(name: string, fallback: string): string {
  const raw = params.get(name);
  if (raw == null) return fallback;
  const url = new URL(raw, location.href);
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.origin !== location.origin && !loopback) {
    throw new Error(`the ${name} URL ${url.origin} is neither this page's origin nor loopback; refused`);
  }
  return url.href;
}

if (params.has("token")) {
  const rest = new URLSearchParams(params);
  rest.delete("token");
  window.history.replaceState(null, "", `${location.pathname}${rest.size ? `?${rest}` : ""}${location.hash}`);
}

/** The engine's options from the query string (throws on a URL `trustedUrl` refuses). */
const readOptions = (): EngineOptions => ({
  workerUrl: trustedUrl("worker", "http://127.0.0.1:8787"),
  token: params.get("token") ?? "dev-token",
  // `?models=NAME,…`: known models by name from /models/ (the package's registry), no manifest.
  ...(params.get("models")
    ? { models: { baseUrl: new URL("models/", location.href).href, local: params.get("models")!.split(",") } }
    : { manifestUrl: trustedUrl("manifest", new URL("manifest.json", location.href).href) }),
  device: (params.get("device") as EngineOptions["device"]) ?? "auto",
  inWorker: params.get("inWorker") !== "0",
  threads: params.get("threads") ? Number(params.get("threads")) : "auto",
  speculative: params.get("speculative") ? { targetModel: params.get("speculative")!, draftTokens: 4 } : false,
  seal: params.has("sealKeys") ? { keysUrl: trustedUrl("sealKeys", "") } : params.get("seal") === "1",
  maxTokens: Number(params.get("maxTokens") ?? 48),
  localModel: params.get("localModel") ?? undefined,
  cascade: params.get("cascade") ? cascadeBar(params.get("cascade")!) : false,
  router: params.get("threshold") ? { minLocalProbability: Number(params.get("threshold")) } : undefined,
});

/** `TOKENS:MIN_MEAN_LOGPROB` from the query string. */
function cascadeBar(text: string): { tokens: number; minMeanLogprob: number } {
  const [tokens, minMeanLogprob] = text.split(":").map(Number);
  if (!(tokens >= 1) || !Number.isFinite(minMeanLogprob)) throw new Error(`cascade=${text}: expected TOKENS:MIN_MEAN_LOGPROB, e.g. 8:-1.5`);
  return { tokens, minMeanLogprob };
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = "", text = ""): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text) el.textContent = text;
  return el;
}

/** The user's text with each entity highlighted (offsets are UTF-16, as JS strings index). */
function highlighted(text: string, entities: Detection[]): DocumentFragment {
  const out = document.createDocumentFragment();
  let at = 0;
  for (const e of entities) {
    out.append(text.slice(at, e.start));
    const mark = element("mark", "pii", text.slice(e.start, e.end));
    mark.dataset.kind = e.kind;
    mark.title = `${e.kind} (${e.recognizer}, score ${e.score.toFixed(2)})`;
    out.append(mark);
    at = e.end;
  }
  out.append(text.slice(at));
  return out;
}

function wire(engine: Engine) {
  const progress = $<HTMLProgressElement>("progress");
  const label = $<HTMLElement>("progress-label");
  const record = <K extends keyof EngineEvents>(type: K) =>
    engine.on(type, (event) => {
      if (type !== "token" && type !== "progress") events.push({ type, event });
    });
  (["ready", "redaction", "route", "draft", "usage", "token", "progress"] as const).forEach(record);
  engine.on("progress", (p) => {
    if (p.phase === "verify" && p.loaded === p.total) progressDone.push(p);
    fractions.push(p.fraction);
    const doing = p.phase === "load" ? "Loading" : p.phase === "verify" ? "Checking" : p.cached ? "From cache" : "Downloading";
    label.textContent = `${doing} ${p.file}: ${(p.loaded / 1e6).toFixed(1)} / ${(p.total / 1e6).toFixed(1)} MB`;
    progress.value = p.fraction;
  });
  engine.on("usage", (u) => {
    $("cost").textContent = `spent $${u.cost.toFixed(6)} · saved $${u.saved.toFixed(6)} · drafts ${u.accepted}/${u.drafted}`;
  });
}

function showReady(info: EngineEvents["ready"]) {
  const badge = $("backend");
  const where = info.backend === "webgpu" ? "WebGPU" : info.backend === "cpu" ? (info.threads > 1 ? `CPU ×${info.threads}` : "CPU") : "";
  badge.textContent = info.models.local ? `${info.models.local} · ${where}` : "no local model";
  badge.className = `badge ${info.backend}`;
  badge.title = [info.models.localReason, info.fallbackReason, info.threadsReason].filter(Boolean).join("; ");
  badge.dataset.backend = info.backend;
  $("loading").classList.add("done");
  input.disabled = send.disabled = false;
  input.focus();
}

async function ask(engine: Engine, text: string) {
  const user = element("div", "msg user");
  const body = element("div", "body", text);
  user.append(body);
  log.append(user);
  const reply = element("div", "msg assistant");
  const answer = element("div", "answer");
  const drafts = element("div", "drafts");
  const meta = element("div", "meta");
  reply.append(answer, drafts, meta);
  log.append(reply);

  const offs = [
    engine.on("redaction", (r) => {
      body.replaceChildren(highlighted(r.original, r.entities));
      if (r.entities.length) user.append(element("div", "sent", `${r.sent ? "sent as" : "would be sent as"}: ${r.redacted}`));
    }),
    engine.on("route", (r) => {
      meta.replaceChildren(element("span", `route ${r.route}`, r.route));
      meta.dataset.route = r.route;
      const p = r.pLocal == null ? "" : ` · P(local suffices) ${r.pLocal.toFixed(2)}`;
      meta.append(`${p} · ${r.explanation}`);
    }),
    engine.on("draft", (d) => {
      d.drafted.forEach((piece, i) => drafts.append(element("span", `draft ${i < d.accepted ? "accepted" : "rejected"}`, piece)));
      if (d.next) drafts.append(element("span", "draft next", d.next));
    }),
  ];
  history.push({ role: "user", content: text });
  controller = new AbortController();
  stop.disabled = false;
  send.disabled = true;
  try {
    const stream = await engine.chat.completions.create(
      { messages: history, stream: true, tandem: { route: routeSelect.value as "auto" | "local" | "cloud" } },
      { signal: controller.signal },
    );
    let result: ChatResult | null = null;
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta.content;
      if (piece && chunk.tandem && "source" in chunk.tandem) answer.append(element("span", `tok ${chunk.tandem.source}`, piece));
      if (chunk.tandem && "route" in chunk.tandem) result = chunk.tandem;
    }
    if (!result) throw new Error("the answer ended without its report");
    history.push({ role: "assistant", content: result.text });
    reply.dataset.mode = result.mode;
    meta.append(` · ${result.mode}${result.offline ? " (offline)" : ""} · ${result.usage.localTokens + result.usage.cloudTokens} tokens`);
    if (result.withheld) {
      reply.append(element("div", "withheld", `${result.withheld} placeholder(s) in a link or markup left unrestored: restoring them would send your data where the link points`));
    }
  } catch (err) {
    history.pop();
    reply.append(element("div", "error", (err as Error).message));
  } finally {
    offs.forEach((off) => off());
    controller = null;
    stop.disabled = true;
    send.disabled = false;
    reply.dataset.done = "1";
  }
}

async function main() {
  let engine: Engine;
  try {
    engine = await createEngine(readOptions(), wire);
  } catch (err) {
    $("progress-label").textContent = `The engine failed to start: ${(err as Error).message}`;
    $("progress-label").classList.add("error");
    return;
  }
  showReady(engine.info);
  Object.assign(window, { tandemEngine: engine });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || controller) return;
    input.value = "";
    void ask(engine, text);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("composer").dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  stop.addEventListener("click", () => controller?.abort());
}

void main();
