// Runs a LocalModel off the main thread. Messages in: {type:"load", url, device, kernel?} and
// {type:"chat", messages, options}; out: "loaded", "token", "done" and "error". `kernel` picks the
// CPU kernel of the quantized products ("simd128", or the default "relaxed" where the browser has
// relaxed SIMD): how the bench compares them.
import init, { LocalModel, quantKernel, useQuantKernel } from "./pkg-models/tandem_wasm.js";

let model = null;
const ready = init();

async function load({ url, device, kernel }) {
  const started = performance.now();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  await ready;
  model?.free();
  model = null;
  model = await LocalModel.fromGguf(bytes, device);
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

self.onmessage = async ({ data }) => {
  try {
    if (data.type === "load") postMessage({ type: "loaded", ...(await load(data)) });
    else if (data.type === "chat") postMessage({ type: "done", result: await chat(data) });
    else throw new Error(`unknown message type ${data.type}`);
  } catch (err) {
    postMessage({ type: "error", message: err?.message ?? String(err) });
  }
};
