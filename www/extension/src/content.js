// Guards the focused text field: as you type, the shield (in the extension's service worker)
// looks for personal data; found items are outlined in a panel under the field with a
// one-click "Redact" that replaces them with placeholders before you send.
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
