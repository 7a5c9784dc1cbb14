// The local model page: loads a GGUF file into a Web Worker and streams a reply. `?threads=N`
// (served cross-origin isolated) runs the threaded build with N pool workers.
const $ = (id) => document.getElementById(id);
const threads = Number(new URLSearchParams(location.search).get("threads") ?? 0);
const workerUrl = new URL(threads > 0 ? `./model-worker.js?threads=${threads}` : "./model-worker.js", import.meta.url);
const worker = new Worker(workerUrl, { type: "module" });
let pending = null;

/** Sends one request to the worker; token messages go to `onToken` until it answers. */
function request(message, onToken = () => {}) {
  return new Promise((resolve, reject) => {
    pending = { resolve, reject, onToken };
    worker.postMessage(message);
  });
}

worker.onmessage = ({ data }) => {
  if (data.type === "token") return pending?.onToken(data.text);
  const done = pending;
  pending = null;
  if (data.type === "error") done?.reject(new Error(data.message));
  else done?.resolve(data);
};

function showError(err) {
  $("error").hidden = !err;
  $("error").textContent = err ? `Error: ${err.message}` : "";
}

async function load() {
  showError(null);
  $("ask").disabled = true;
  $("load").disabled = true;
  $("model-status").textContent = "Loading…";
  document.body.dataset.model = "loading";
  try {
    const info = await request({ type: "load", url: $("model-url").value, device: $("device").value });
    $("model-status").textContent =
      `Loaded in ${(info.loadMs / 1000).toFixed(1)} s on ${info.backend} (${info.kernel} kernel)` +
      (info.fallbackReason ? ` (${info.fallbackReason})` : "");
    document.body.dataset.backend = info.backend;
    document.body.dataset.kernel = info.kernel;
    document.body.dataset.model = "loaded";
    $("ask").disabled = false;
  } catch (err) {
    $("model-status").textContent = "No model loaded.";
    document.body.dataset.model = "failed";
    showError(err);
  } finally {
    $("load").disabled = false;
  }
}

async function ask() {
  showError(null);
  $("ask").disabled = true;
  $("output").textContent = "";
  $("stats").textContent = "";
  document.body.dataset.generation = "running";
  try {
    const options = { maxTokens: Number($("max-tokens").value), temperature: Number($("temperature").value) };
    // Plain decoding turns the chat defaults' repetition rules off (0 = off, penalty 1 = none).
    if ($("plain").checked) Object.assign(options, { repetitionPenalty: 1, repetitionWindow: 0, noRepeatNgram: 0 });
    const { result } = await request(
      { type: "chat", messages: [{ role: "user", content: $("prompt").value }], options },
      (text) => ($("output").textContent += text),
    );
    const decodeRate = ((result.tokens.length - 1) / result.decodeMs) * 1000;
    $("stats").textContent =
      `${result.promptTokens} prompt tokens, first token after ${result.prefillMs.toFixed(0)} ms; ` +
      `${result.tokens.length} tokens, decode ${decodeRate.toFixed(1)} tok/s; stop: ${result.stopReason}`;
    document.body.dataset.generation = "done";
  } catch (err) {
    document.body.dataset.generation = "failed";
    showError(err);
  } finally {
    $("ask").disabled = false;
  }
}

$("load").addEventListener("click", load);
$("ask").addEventListener("click", ask);
const params = new URLSearchParams(location.search);
if (params.has("model")) $("model-url").value = params.get("model");
if (params.has("device")) $("device").value = params.get("device");
document.body.dataset.ready = "true";
