// The browser extension (www/extension, built by `pkg-scripts/build-demo extension`) loaded
// unpacked into headless Chromium, on a chat-like test page: personal data typed into a text
// field is highlighted and one click redacts it; sending (Enter, the form's button, a labelled
// send button outside any form) redacts it first on its own; the page's own request carries
// only placeholders, and the site's streamed reply shows the originals to the user alone. The
// shield runs in the extension's service worker (the package's shield-only wasm).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { launch, screenshot, watchErrors } from "../support/browser.mjs";

const EXTENSION = fileURLToPath(new URL("../../www/extension/dist", import.meta.url));
const SEEDED = ["jane.doe@example.com", "+1 415 555 0134", "DE89 3704 0044 0532 0130 00"];
// A chat app in miniature: the message is posted, and the site's reply streams back into the
// page a few characters at a time (it quotes the message). `?show=TEXT` shows TEXT as a reply.
// Enter in the textarea sends, as in chat apps; Shift+Enter is a new line. A second composer,
// as some chat apps build it: a contenteditable and a "Send message" button, no form.
const PAGE = `<!doctype html><meta charset="utf-8"><title>chat</title>
<form id="f"><textarea id="msg" rows="4" cols="60"></textarea><input id="subject" type="text"><button id="send">Send</button></form>
<div id="composer"><div id="editor" contenteditable="true" style="border:1px solid #888;min-height:2em"></div><button id="send2" type="button" aria-label="Send message">&#10148;</button></div>
<div id="reply"></div>
<script>
  const reply = document.getElementById("reply");
  reply.textContent = new URLSearchParams(location.search).get("show") ?? "";
  const msg = document.getElementById("msg");
  msg.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      document.getElementById("f").requestSubmit();
    }
  });
  document.getElementById("send2").addEventListener("click", () => post(document.getElementById("editor").innerText));
  document.getElementById("f").addEventListener("submit", (e) => {
    e.preventDefault();
    post(msg.value);
  });
  async function post(body) {
    const res = await fetch("/submit", { method: "POST", body });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      reply.textContent = text;
    }
    document.body.dataset.sent = String(Number(document.body.dataset.sent ?? 0) + 1);
  }
</script>`;
let server, browser, base;
const received = [];

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.method !== "POST") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return res.end(PAGE);
      }
      received.push(body);
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      const answer = `Sure, I will write to ${body.replace(/^.*?(\[EMAIL_\d+\]).*$/s, "$1")} today.`;
      let at = 0;
      const next = () => (at < answer.length ? (res.write(answer.slice(at, (at += 3))), setTimeout(next, 15)) : res.end());
      next();
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${server.address().port}/`;
  browser = await launch({ extension: EXTENSION });
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (server ? server.close(ok) : ok()));
});

test("the extension loads unpacked, with its module service worker", async () => {
  const worker = browser.context.serviceWorkers()[0] ?? (await browser.context.waitForEvent("serviceworker"));
  assert.match(worker.url(), /^chrome-extension:\/\/[a-p]{32}\/background\.js$/);
});

test("personal data typed into a field is highlighted, and one click redacts it before sending", async () => {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(base);
  const text = `Hi, I am Jane. Mail me at ${SEEDED[0]} or call ${SEEDED[1]}; IBAN ${SEEDED[2]}.`;
  await page.click("#msg");
  await page.fill("#msg", text);
  const marks = page.locator("tandem-shield mark");
  await marks.nth(2).waitFor({ timeout: 60_000 });
  assert.deepEqual(await marks.allTextContents(), SEEDED);
  assert.deepEqual(await marks.evaluateAll((m) => m.map((x) => x.dataset.kind)), ["EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE"]);
  assert.match(await page.locator("tandem-shield .summary").textContent(), /^3 personal data items/);
  await screenshot(page, "extension", { x: 0, y: 0, width: 760, height: 190 });
  await page.locator("tandem-shield button.redact").click();
  await page.waitForFunction(() => document.getElementById("msg").value.includes("[EMAIL_1]"));
  const redacted = await page.inputValue("#msg");
  assert.equal(redacted, "Hi, I am Jane. Mail me at [EMAIL_1] or call [PHONE_1]; IBAN [IBAN_1].");
  assert.equal(await page.locator("tandem-shield").evaluate((h) => h.style.display), "none", "the panel closes");
  // The panel's shadow root is open to the page: once closed it holds none of the originals.
  const panel = await page.evaluate(() => document.querySelector("tandem-shield").shadowRoot.textContent);
  for (const value of SEEDED) assert.ok(!panel.includes(value), `${value} stayed in the hidden panel`);
  await page.click("#send");
  await page.waitForFunction(() => document.body.dataset.sent === "1");
  assert.equal(received.at(-1), redacted);
  assert.equal(await page.inputValue("#msg"), redacted, "nothing was left to redact on send");
  for (const value of SEEDED) assert.ok(!received.some((b) => b.includes(value)), `${value} was sent`);
  // A clean field shows nothing.
  await page.fill("#subject", "Lunch on Friday?");
  await page.waitForTimeout(600);
  assert.equal(await page.locator("tandem-shield").evaluate((h) => h.style.display), "none");
  assert.deepEqual(errors, []);
  await page.close();
});

test("sending redacts on its own: the form's button, and a labelled send button outside any form", async () => {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(base);
  const text = `Call ${SEEDED[1]} or mail ${SEEDED[0]}.`;
  await page.click("#msg");
  await page.fill("#msg", text);
  await page.click("#send");
  await page.waitForFunction(() => document.body.dataset.sent === "1", null, { timeout: 60_000 });
  assert.equal(received.at(-1), "Call [PHONE_1] or mail [EMAIL_1].");
  assert.equal(await page.inputValue("#msg"), received.at(-1), "the field shows what was sent");
  assert.match(await page.locator("tandem-shield .summary").textContent(), /redacted 2 items before sending/);

  // Send pressed twice while the first send waits for its redaction: one message goes out.
  await page.fill("#msg", `Mail ${SEEDED[0]} please`);
  await page.evaluate(() => {
    document.getElementById("send").click();
    document.getElementById("send").click();
  });
  await page.waitForFunction(() => document.body.dataset.sent === "2", null, { timeout: 60_000 });
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => document.body.dataset.sent), "2", "sent once");
  assert.equal(received.at(-1), "Mail [EMAIL_1] please");

  // A contenteditable and a "Send message" button with no form, as some chat apps build it.
  await page.click("#editor");
  await page.keyboard.type(`IBAN ${SEEDED[2]}, thanks`);
  await page.click("#send2");
  await page.waitForFunction(() => document.body.dataset.sent === "3", null, { timeout: 60_000 });
  assert.equal(received.at(-1), "IBAN [IBAN_1], thanks");

  // Clean text goes out as typed, once; Shift+Enter is still a new line, not a send.
  await page.fill("#msg", "");
  await page.click("#msg");
  await page.keyboard.type("Lunch on Friday?");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("At noon.");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.body.dataset.sent === "4", null, { timeout: 60_000 });
  assert.equal(received.at(-1), "Lunch on Friday?\nAt noon.");
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => document.body.dataset.sent), "4", "sent once");
  for (const value of SEEDED) assert.ok(!received.some((b) => b.includes(value)), `${value} was sent`);
  assert.deepEqual(errors, []);
  await page.close();
});

/** The text the user sees inside closed shadow roots (which the page's scripts cannot open), through the DevTools protocol. */
async function closedShadowText(page) {
  const cdp = await page.context().newCDPSession(page);
  const { root } = await cdp.send("DOM.getDocument", { depth: -1, pierce: true });
  const out = [];
  const walk = (node, closed) => {
    if (closed && node.nodeType === 3) out.push(node.nodeValue);
    for (const child of node.children ?? []) walk(child, closed);
    for (const shadow of node.shadowRoots ?? []) walk(shadow, closed || shadow.shadowRootType === "closed");
  };
  walk(root, false);
  await cdp.detach();
  return out.join("");
}

test("the site's streamed reply shows the originals to the user, while the page itself only ever holds placeholders", async () => {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(base);
  await page.click("#msg");
  await page.fill("#msg", `Please write to ${SEEDED[0]} about the invoice.`);
  // Enter at once, before the highlighting's analysis: the send waits for the redaction.
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.body.dataset.sent === "1", null, { timeout: 60_000 });
  const placeholder = (await page.inputValue("#msg")).match(/\[EMAIL_\d+\]/)[0];
  assert.equal(received.at(-1), `Please write to ${placeholder} about the invoice.`);
  await page.locator("#reply [data-tandem-restored]").first().waitFor({ timeout: 10_000 });
  // What the page's scripts can read: the placeholder, never the original.
  const pageText = await page.locator("#reply").textContent();
  assert.equal(pageText, `Sure, I will write to ${placeholder} today.`);
  assert.ok(!(await page.content()).includes(SEEDED[0]), "the original is in the page's DOM");
  // What the user sees: the original, rendered from a closed shadow root.
  assert.equal(await closedShadowText(page), SEEDED[0]);
  await screenshot(page, "extension-restore", { x: 0, y: 0, width: 760, height: 120 });
  for (const value of SEEDED) assert.ok(!received.some((b) => b.includes(value)), `${value} was sent`);

  // Another site in the same tab shows the same placeholder: not this site's vault, not restored.
  await page.goto(`${base.replace("127.0.0.1", "localhost")}?show=${encodeURIComponent(`Hello ${placeholder}`)}`);
  await page.waitForTimeout(500);
  assert.equal(await page.locator("[data-tandem-restored]").count(), 0);
  assert.equal(await closedShadowText(page), "");
  assert.deepEqual(errors, []);
  await page.close();
});

test("a site does not share its vault with the next site the tab goes to", async () => {
  const page = await browser.context.newPage();
  const redactOn = async (url, text) => {
    await page.goto(url);
    await page.click("#msg");
    await page.fill("#msg", text);
    await page.locator("tandem-shield mark").first().waitFor({ timeout: 60_000 });
    await page.locator("tandem-shield button.redact").click();
    await page.waitForFunction(() => document.getElementById("msg").value.includes("[EMAIL_"));
    return page.inputValue("#msg");
  };
  assert.equal(await redactOn(base, "Mail first.person@example.com"), "Mail [EMAIL_1]");
  assert.equal(await redactOn(base, "Mail second.person@example.com"), "Mail [EMAIL_2]", "one site, one vault");
  // Same server, another origin (localhost instead of 127.0.0.1): a fresh vault.
  const other = base.replace("127.0.0.1", "localhost");
  assert.equal(await redactOn(other, "Mail third.person@example.com"), "Mail [EMAIL_1]");
  await page.close();
});

test("the popup turns the shield off for one site, and on again at once", async () => {
  const worker = browser.context.serviceWorkers()[0] ?? (await browser.context.waitForEvent("serviceworker"));
  const origin = new URL(base).origin;
  const popup = await browser.context.newPage();
  const popupErrors = watchErrors(popup);
  await popup.goto(`chrome-extension://${new URL(worker.url()).host}/popup.html?origin=${encodeURIComponent(origin)}`);
  assert.equal(await popup.textContent("#site"), origin);
  assert.equal(await popup.isChecked("#on"), true, "on by default");
  await popup.uncheck("#on");
  await popup.waitForFunction((o) => document.getElementById("off").textContent.includes(o), origin);

  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  const sendOn = async (url, text, count) => {
    if (url) await page.goto(url);
    await page.click("#msg");
    await page.fill("#msg", text);
    await page.keyboard.press("Enter");
    await page.waitForFunction((n) => document.body.dataset.sent === n, String(count), { timeout: 60_000 });
    return received.at(-1);
  };
  // Off here: sent as typed, no panel, no notice.
  assert.equal(await sendOn(base, "Mail off.site@example.com", 1), "Mail off.site@example.com");
  await page.waitForTimeout(400);
  assert.equal(await page.locator("tandem-shield").count(), 0, "no panel on a site where the shield is off");
  // Another site is still shielded.
  assert.equal(await sendOn(base.replace("127.0.0.1", "localhost"), "Mail other.site@example.com", 1), "Mail [EMAIL_1]");
  // On again from the popup: the open page follows without a reload.
  await page.goto(base);
  await popup.check("#on");
  await popup.waitForFunction(() => document.getElementById("off").textContent === "none");
  await page.waitForTimeout(300); // the storage change reaches the page's content script
  assert.equal(await sendOn(null, "Mail back.on@example.com", 1), "Mail [EMAIL_1]");
  assert.deepEqual(errors, []);
  assert.deepEqual(popupErrors, []);
  await popup.close();
  await page.close();
});
