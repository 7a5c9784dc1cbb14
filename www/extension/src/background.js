// The extension's service worker: runs the Tandem shield (the package's shield-only wasm, as
// @tandem/web/shield loads it) for the content scripts. Text is analyzed here, on the device;
// nothing is sent anywhere.
import init, { Shield } from "./wasm/tandem_wasm.js";

// Service workers may not await at the top level: the wasm starts on the first message.
let ready = null;
// "tab origin" -> Shield: placeholders stay consistent within one site in one tab, and a site
// never shares a vault (its originals) with the next site the tab navigates to.
const shields = new Map();

function shieldFor(tabId, origin) {
  const key = `${tabId} ${origin}`;
  let shield = shields.get(key);
  if (!shield) shields.set(key, (shield = new Shield()));
  return shield;
}

/** Frees the shields of `tabId`, except the one of `keepOrigin`. */
function forget(tabId, keepOrigin = null) {
  for (const [key, shield] of shields) {
    const [tab, origin] = key.split(" ");
    if (tab === `${tabId}` && origin !== keepOrigin) {
      shield.free();
      shields.delete(key);
    }
  }
}

async function handle(message, tabId, origin) {
  ready ??= init({ module_or_path: chrome.runtime.getURL("wasm/tandem_wasm_bg.wasm") });
  await ready;
  if (typeof message?.text !== "string") throw new Error("text must be a string");
  switch (message.type) {
    case "analyze":
      return { entities: shieldFor(tabId, origin).analyze(message.text) };
    case "redact":
      return shieldFor(tabId, origin).redact(message.text);
    case "restore":
      // One placeholder: its original when this tab's vault for this site issued it, else null.
      if (!/^\[[A-Z][A-Z_]*_\d+\]$/.test(message.text)) throw new Error("restore takes one placeholder");
      return shields.has(`${tabId} ${origin}`) ? nullIfSame(shieldFor(tabId, origin).restore(message.text), message.text) : null;
    default:
      throw new Error(`unknown request ${message.type}`);
  }
}

const nullIfSame = (restored, placeholder) => (restored === placeholder ? null : restored);

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  const origin = sender.origin ?? (sender.url ? new URL(sender.url).origin : "null");
  handle(message, sender.tab?.id ?? -1, origin).then(
    (value) => reply({ ok: true, value }),
    (err) => reply({ ok: false, error: err?.message ?? String(err) }),
  );
  return true; // the reply is asynchronous
});

chrome.tabs?.onUpdated.addListener((tabId, change) => {
  if (change.url) forget(tabId, new URL(change.url).origin);
});
chrome.tabs?.onRemoved.addListener((tabId) => forget(tabId));
