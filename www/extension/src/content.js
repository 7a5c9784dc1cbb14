// Guards the focused text field: as you type, the shield (in the extension's service worker)
// looks for personal data; found items are outlined in a panel under the field with a
// one-click "Redact" that replaces them with placeholders before you send. Where the page then
// shows those placeholders (a chat app's streamed reply), the originals are shown in their
// place, to the user only (see `restoreShown`).
(() => {
  const FIELD = 'textarea, input:not([type]), input[type="text"], input[type="email"], input[type="search"], input[type="tel"], [contenteditable=""], [contenteditable="true"]';
  let field = null;
  let timer = 0;
  let seq = 0;

  const host = document.createElement("tandem-shield");
  host.style.cssText = "position:absolute;z-index:2147483647;display:none";
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `<style>
    .panel{font:13px/1.4 system-ui,sans-serif;background:#fffbea;border:1px solid #e0b400;border-radius:6px;padding:6px 8px;box-shadow:0 2px 8px #0002;max-width:520px;color:#222}
    mark{background:#ffe08a;border-radius:3px;padding:0 2px} mark::after{content:" " attr(data-kind);font-size:10px;color:#864}
    button{margin-left:8px;font:inherit;cursor:pointer} .excerpt{margin-top:4px;white-space:pre-wrap;word-break:break-word}
  </style><div class="panel"><span class="summary"></span><button class="redact" type="button">Redact</button><div class="excerpt"></div></div>`;
  const summary = root.querySelector(".summary");
  const excerpt = root.querySelector(".excerpt");
  root.querySelector(".redact").addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the field
  root.querySelector(".redact").addEventListener("click", redact);

  const textOf = (el) => (el.isContentEditable ? el.innerText : el.value);
  function setText(el, text) {
    if (el.isContentEditable) el.innerText = text;
    else {
      // Through the native setter, so that frameworks (React, Vue) see the change.
      const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
      Object.getOwnPropertyDescriptor(proto, "value").set.call(el, text);
    }
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function ask(type, text) {
    return new Promise((resolve, reject) =>
      chrome.runtime.sendMessage({ type, text }, (r) => {
        if (chrome.runtime.lastError) reject(new Error(chrome.runtime.lastError.message));
        else if (!r?.ok) reject(new Error(r?.error ?? "no answer"));
        else resolve(r.value);
      }),
    );
  }

  function hide() {
    host.style.display = "none";
    // The page can read this shadow root: no original may stay in it once hidden.
    summary.textContent = "";
    excerpt.replaceChildren();
    if (field) field.style.outline = field.dataset.tandemOutline ?? "";
  }

  function show(el, text, entities) {
    if (!host.isConnected) document.documentElement.append(host);
    const kinds = [...new Set(entities.map((e) => e.kind))];
    summary.textContent = `${entities.length} personal data item${entities.length > 1 ? "s" : ""} (${kinds.join(", ")})`;
    excerpt.replaceChildren();
    let at = 0;
    for (const e of entities) {
      excerpt.append(text.slice(at, e.start));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(e.start, e.end);
      mark.dataset.kind = e.kind;
      excerpt.append(mark);
      at = e.end;
    }
    excerpt.append(text.slice(at));
    const box = el.getBoundingClientRect();
    host.style.left = `${box.left + scrollX}px`;
    host.style.top = `${box.bottom + scrollY + 4}px`;
    host.style.display = "block";
    el.dataset.tandemOutline ??= el.style.outline;
    el.style.outline = "2px solid #e0b400";
  }

  async function check() {
    const el = field;
    if (!el) return;
    const text = textOf(el);
    const mine = ++seq;
    try {
      const { entities } = text.trim() ? await ask("analyze", text) : { entities: [] };
      if (mine !== seq || el !== field) return; // a newer keystroke won
      if (entities.length) show(el, text, entities);
      else hide();
    } catch (err) {
      console.warn("Tandem Shield:", err.message);
    }
  }

  async function redact() {
    const el = field;
    if (!el) return;
    try {
      const { text } = await ask("redact", textOf(el));
      setText(el, text);
      hide();
    } catch (err) {
      summary.textContent = `Could not redact: ${err.message}`;
    }
  }

  // Restoring what the page shows. The placeholder stays in the page's text, which is all the
  // page's own scripts can read (and send back to the site); a closed shadow root, which they
  // cannot open, renders the original over it. Only placeholders this tab issued for this site
  // are restored (the service worker's vault is per tab and origin).
  const PLACEHOLDER = /\[[A-Z][A-Z_]*_\d+\]/g;
  const SKIP = `script, style, noscript, tandem-shield, [data-tandem-restored], ${FIELD}`;
  const originals = new Map(); // placeholder -> original, once the vault knows it
  let scanning = false;
  let again = false;

  async function originalOf(placeholder) {
    if (!originals.has(placeholder)) {
      const original = await ask("restore", placeholder).catch(() => null);
      if (original) originals.set(placeholder, original);
    }
    return originals.get(placeholder) ?? null;
  }

  function restoredSpan(placeholder, original) {
    const span = document.createElement("span");
    span.dataset.tandemRestored = "";
    span.textContent = placeholder;
    const shown = document.createElement("span");
    shown.textContent = original;
    shown.title = `Shown by Tandem Shield; the site only has ${placeholder}`;
    shown.style.cssText = "background:#e6f4ea;border-radius:3px;padding:0 2px";
    span.attachShadow({ mode: "closed" }).append(shown);
    return span;
  }

  async function restoreShown() {
    if (!document.body) return;
    if (scanning) return void (again = true); // once this scan ends, another one
    scanning = true;
    again = false;
    try {
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
        acceptNode: (n) => (n.data.includes("[") && n.parentElement && !n.parentElement.closest(SKIP) ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT),
      });
      const nodes = [];
      while (walker.nextNode()) nodes.push(walker.currentNode);
      for (const node of nodes) {
        const text = node.data;
        const found = [...text.matchAll(PLACEHOLDER)];
        const known = [];
        for (const m of found) {
          const original = await originalOf(m[0]);
          if (original) known.push({ at: m.index, placeholder: m[0], original });
        }
        // The page may have changed the text meanwhile: the observer brings it back here.
        if (!known.length || !node.isConnected || node.data !== text) continue;
        const parts = document.createDocumentFragment();
        let at = 0;
        for (const k of known) {
          parts.append(text.slice(at, k.at), restoredSpan(k.placeholder, k.original));
          at = k.at + k.placeholder.length;
        }
        parts.append(text.slice(at));
        node.replaceWith(parts);
      }
    } finally {
      scanning = false;
      if (again) restoreShown();
    }
  }

  let queued = 0;
  new MutationObserver(() => {
    clearTimeout(queued);
    queued = setTimeout(restoreShown, 50);
  }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });

  document.addEventListener("focusin", (e) => {
    const el = e.target instanceof Element ? e.target.closest(FIELD) : null;
    if (el === field) return;
    hide();
    field = el;
    if (field) check();
  });
  document.addEventListener("input", (e) => {
    if (e.target !== field && !(e.target instanceof Node && field?.contains(e.target))) return;
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
})();
