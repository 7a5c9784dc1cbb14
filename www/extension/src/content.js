// Guards the focused text field: as you type, the shield (in the extension's service worker)
// looks for personal data; found items are outlined in a panel under the field, with a
// one-click "Redact". Sending is guarded too (`guardSend`): Enter in the field, the field's
// form submitting, or a click on its send button is held until the text is redacted, then
// replayed, so typed personal data never leaves unredacted. Where the page then shows those
// placeholders (a chat app's streamed reply), the originals are shown in their place, to the
// user only (see `restoreShown`). The toolbar button's popup turns all of it off for one site.
(() => {
  const FIELD = 'textarea, input:not([type]), input[type="text"], input[type="email"], input[type="search"], input[type="tel"], [contenteditable=""], [contenteditable="true"]';
  let field = null;
  let timer = 0;
  let seq = 0;
  // Each field's text when the shield last found nothing in it: sending exactly this needs no
  // redaction. Anything else is redacted first.
  const clean = new WeakMap();
  // The field last typed in: a send button takes focus from it before it is clicked.
  let lastField = null;

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
  const redactButton = root.querySelector(".redact");
  redactButton.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the field
  redactButton.addEventListener("click", redact);

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
    unoutline();
  }

  let outlined = null; // the field the panel is under
  function unoutline() {
    if (outlined) outlined.style.outline = outlined.dataset.tandemOutline ?? "";
    outlined = null;
  }

  function show(el, text, entities) {
    if (!host.isConnected) document.documentElement.append(host);
    redactButton.hidden = false;
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
    if (outlined !== el) unoutline();
    outlined = el;
    el.dataset.tandemOutline ??= el.style.outline;
    el.style.outline = "2px solid #e0b400";
  }

  // Sites where the user turned the shield off (popup.js keeps the list): nothing is checked,
  // redacted or restored there. Until the list is read, the shield is on, so that a send is
  // never let through unguarded by a slow read.
  let off = false;
  const readOff = (origins) => {
    off = Array.isArray(origins) && origins.includes(location.origin);
    if (off) hide();
  };
  chrome.storage.local.get("off").then((s) => readOff(s.off), () => {});
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && changes.off) readOff(changes.off.newValue);
  });

  async function check() {
    const el = field;
    if (!el || off) return;
    const text = textOf(el);
    const mine = ++seq;
    try {
      const { entities } = text.trim() ? await ask("analyze", text) : { entities: [] };
      if (mine !== seq || el !== field) return; // a newer keystroke won
      if (entities.length) show(el, text, entities);
      else {
        clean.set(el, text);
        hide();
      }
    } catch (err) {
      console.warn("Tandem Shield:", err.message);
    }
  }

  /** Replaces `el`'s text with its redaction; resolves to how many items were redacted. */
  async function redactField(el) {
    const { text, entities } = await ask("redact", textOf(el));
    if (text !== textOf(el)) setText(el, text);
    clean.set(el, text);
    if (el === field) {
      seq++; // an analysis still in flight is of the old text
      hide();
    }
    return entities.filter((e) => e.action !== "allow").length;
  }

  async function redact() {
    if (!field) return;
    try {
      await redactField(field);
    } catch (err) {
      summary.textContent = `Could not redact: ${err.message}`;
    }
  }

  // Sending. The listeners are on `window` in the capture phase, registered at document_start,
  // so they run before the page's own handlers. A send of text the shield has not cleared is
  // stopped there, the field is redacted, and the same send is replayed: Enter as a keydown
  // at the field, a submit through `requestSubmit`, a click through `click()`. If redaction
  // fails, nothing is sent and the text stays in the field.
  let replaying = false;
  const SEND_BUTTON = 'button, input[type="submit"], [role="button"]';
  const SEND_LABEL = /\bsend\b|\bsubmit\b/i;

  const needsRedaction = (el) => el.isConnected && textOf(el).trim() !== "" && textOf(el) !== clean.get(el);

  /** The fields a send would carry that the shield has not cleared (none: let it go). */
  function unclearedFields(e) {
    if (replaying || !(e.target instanceof Element)) return [];
    let fields = [];
    if (e.type === "keydown") {
      const plainEnter = e.key === "Enter" && !e.shiftKey && !e.altKey && !e.isComposing;
      const el = e.target.closest(FIELD);
      if (plainEnter && el) fields = [el];
    } else if (e.type === "submit") {
      if (e.target instanceof HTMLFormElement) fields = [...e.target.querySelectorAll(FIELD)];
    } else {
      const button = e.target.closest(SEND_BUTTON);
      const form = button?.form ?? button?.closest("form");
      const label = button && `${button.getAttribute("aria-label") ?? ""} ${button.title} ${button.textContent} ${button.dataset.testid ?? ""}`;
      const sends = label && SEND_LABEL.test(label);
      if (form && (sends || button.type === "submit")) fields = [...form.querySelectorAll(FIELD)];
      else if (sends && lastField) fields = [lastField];
    }
    return fields.filter(needsRedaction);
  }

  function replay(e) {
    replaying = true;
    try {
      if (e.type === "keydown") {
        const { key, code, keyCode, ctrlKey, metaKey } = e;
        const again = new KeyboardEvent("keydown", { key, code, keyCode, which: keyCode, ctrlKey, metaKey, bubbles: true, cancelable: true, composed: true });
        if (e.target.dispatchEvent(again)) {
          // The page did not take the key: do what the browser would have done with it.
          const el = e.target.closest(FIELD);
          if (el instanceof HTMLInputElement) el.form?.requestSubmit();
          else document.execCommand("insertLineBreak");
        }
      } else if (e.type === "submit") {
        e.target.requestSubmit(e.submitter ?? undefined);
      } else {
        e.target.closest(SEND_BUTTON).click();
      }
    } finally {
      replaying = false;
    }
  }

  let guarding = false; // a held send is being redacted: another send now would go out twice
  async function guardSend(e) {
    if (off) return;
    const fields = unclearedFields(e);
    if (!fields.length) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    if (guarding) return;
    guarding = true;
    try {
      let count = 0;
      for (const el of fields) count += await redactField(el);
      if (count) notice(fields[0], `Tandem Shield redacted ${count} item${count > 1 ? "s" : ""} before sending.`);
      replay(e);
    } catch (err) {
      notice(fields[0], `Not sent: could not redact (${err.message}).`);
    } finally {
      guarding = false;
    }
  }
  for (const type of ["keydown", "submit", "click"]) window.addEventListener(type, guardSend, true);

  /** A line under the field that says what the send guard did; it goes after 4 s. */
  function notice(el, message) {
    show(el, "", []);
    summary.textContent = message;
    redactButton.hidden = true;
    setTimeout(() => summary.textContent === message && hide(), 4000);
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
    if (!document.body || off) return;
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
    if (field) {
      lastField = field;
      check();
    }
  });
  document.addEventListener("input", (e) => {
    if (e.target !== field && !(e.target instanceof Node && field?.contains(e.target))) return;
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
})();
