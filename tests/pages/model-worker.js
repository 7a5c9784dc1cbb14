// Runs a LocalModel off the main thread. Messages in: {type:"load", url, device, kernel?, whole?},
// {type:"chat", messages, options} and {type:"speculate", messages, options, verifier, token}
// (drafts here, verifies at `verifier`'s /v1/verify); out: "loaded", "token", "done" and "error". `kernel` picks the
// CPU kernel of the quantized products ("simd128", or the default "relaxed" where the browser has
// relaxed SIMD): how the bench compares them. Loaded as `model-worker.js?threads=N` (a cross-origin
// isolated page), it runs the threaded build (`pkg-scripts/build-web models --threads`) with N
// pool workers beside this one.
// No top-level await: a message that arrives while the module awaits finds no handler and is lost.
const threads = Number(new URL(import.meta.url).searchParams.get("threads") ?? 0);
/** The module's memory: its size after a reply is what the bench reports. */
let wasmMemory = null;
const ready = (async () => {
  // Shared memory needs it; without it the module would fail to start with a less clear error.
  if (threads > 0 && !self.crossOriginIsolated) throw new Error("the threaded build needs a cross-origin isolated page");
  return import(threads > 0 ? "./pkg-models-threads/tandem_wasm.js" : "./pkg-models/tandem_wasm.js");
})().then(async (pkg) => {
  wasmMemory = (await pkg.default()).memory;
  if (threads > 0) await pkg.startThreads(threads);
  return pkg;
});
ready.catch(() => {}); // a failure to start is reported by the first load, not as unhandled

let model = null;

/**
 * Loads `url` on `device`: streamed into a `ModelBuffer` (the file held once, in the module's
 * memory), or with `whole`, read into one `Uint8Array` first and copied in by `fromGguf`.
 */
async function load({ url, device, kernel, whole }) {
  const started = performance.now();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  const { LocalModel, ModelBuffer, quantKernel, useQuantKernel } = await ready;
  model?.free();
  model = null;
  if (whole) {
    model = await LocalModel.fromGguf(new Uint8Array(await response.arrayBuffer()), device);
  } else {
    const buffer = new ModelBuffer(Number(response.headers.get("content-length")) || undefined);
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) buffer.push(read.value);
    model = await LocalModel.fromGgufBuffer(buffer, device);
  }
  if (kernel) useQuantKernel(kernel);
  return {
    backend: model.backend,
    fallbackReason: model.fallbackReason ?? null,
    kernel: quantKernel(),
    loadMs: performance.now() - started,
  };
}

async function chat({ messages, options }) {
  if (!model) throw new Error("no model is loaded");
  return model.chat(messages, options, (text, id) => postMessage({ type: "token", text, id }));
}

/** One `/v1/verify` round over HTTP: `null` when the verifier lost the session (409), as the package's client does. */
async function verifyAt(verifier, token, request) {
  const reply = await fetch(`${verifier}/v1/verify`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(request),
  });
  if (reply.status === 409) return null;
  if (!reply.ok) throw new Error(`verification: HTTP ${reply.status}: ${await reply.text()}`);
  return reply.json();
}

async function speculate({ messages, options, verifier, token }) {
  if (!model) throw new Error("no model is loaded");
  const started = performance.now();
  const result = await model.speculate(messages, options, (request) => verifyAt(verifier, token, request));
  return { ...result, ms: performance.now() - started };
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === "load") postMessage({ type: "loaded", ...(await load(data)) });
    else if (data.type === "chat") postMessage({ type: "done", result: await chat(data), wasmMemoryBytes: wasmMemory?.buffer.byteLength });
    else if (data.type === "speculate") postMessage({ type: "done", result: await speculate(data) });
    else throw new Error(`unknown message type ${data.type}`);
  } catch (err) {
    postMessage({ type: "error", message: err?.message ?? String(err) });
  }
};
