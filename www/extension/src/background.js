// The extension's service worker: runs the Tandem shield (the package's wasm) for the content
// scripts. Text is analyzed here, on the device; nothing is sent anywhere.
import init, { Shield } from "./wasm/tandem_wasm.js";

// Service workers may not await at the top level: the wasm starts on the first message.
let ready = null;
const shields = new Map(); // tab id -> Shield: placeholders stay consistent within a tab

function shieldFor(tabId) {
  let shield = shields.get(tabId);
  if (!shield) shields.set(tabId, (shield = new Shield()));
  return shield;
}

async function handle(message, tabId) {
  ready ??= init({ module_or_path: chrome.runtime.getURL("wasm/tandem_wasm_bg.wasm") });
  await ready;
  if (typeof message?.text !== "string") throw new Error("text must be a string");
  switch (message.type) {
    case "analyze":
      return { entities: shieldFor(tabId).analyze(message.text) };
    case "redact":
      return shieldFor(tabId).redact(message.text);
    default:
      throw new Error(`unknown request ${message.type}`);
  }
}

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  handle(message, sender.tab?.id ?? -1).then(
    (value) => reply({ ok: true, value }),
    (err) => reply({ ok: false, error: err?.message ?? String(err) }),
  );
  return true; // the reply is asynchronous
});

chrome.tabs?.onRemoved.addListener((tabId) => {
  shields.get(tabId)?.free();
  shields.delete(tabId);
});
