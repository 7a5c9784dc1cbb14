// The shield in apps that already talk to a model (@tandem/web/shield, its own pattern-only wasm,
// run in Node): `shieldFetch` under the real `openai` SDK and `shieldMiddleware` under the real
// `ai` SDK, against a local OpenAI-compatible model that records what reached it and quotes it
// back in 3-character pieces. No seeded value may reach the model, and every reply comes back
// with the originals restored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import OpenAI from "openai";
import { generateText, streamText, wrapLanguageModel } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ShieldError, shieldFetch, shieldMiddleware } from "../../www/tandem-web/dist/shield/index.js";
import { startEchoModel } from "../support/echo-model.mjs";

const DIST = new URL("../../www/tandem-web/dist/", import.meta.url);
const SEEDED = {
  EMAIL_ADDRESS: "sabine.krueger@example.de",
  PHONE_NUMBER: "+49 151 23456789",
  IBAN_CODE: "DE89 3704 0044 0532 0130 00",
  CREDIT_CARD: "4111 1111 1111 1111",
};
const MESSAGE = `Mail ${SEEDED.EMAIL_ADDRESS} that my number is ${SEEDED.PHONE_NUMBER}, IBAN ${SEEDED.IBAN_CODE}, card ${SEEDED.CREDIT_CARD}.`;
const ECHO = `You said: ${MESSAGE}`;

let model;
let wasm;
before(async () => {
  model = await startEchoModel({ piece: 3 });
  wasm = await readFile(new URL("wasm-shield/tandem_wasm_bg.wasm", DIST));
});
after(() => model.close());

/** Fails if any seeded value (also without its spaces) reached the model since `from`. */
function assertNothingLeaked(from = 0) {
  const sent = model.requests.slice(from);
  assert.ok(sent.length > 0, "no request reached the model");
  for (const { body } of sent) {
    for (const [kind, value] of Object.entries(SEEDED)) {
      assert.ok(!body.includes(value) && !body.includes(value.replaceAll(" ", "")), `${kind} reached the model: ${body}`);
    }
    assert.match(body, /\[EMAIL_ADDRESS_1\]|\[EMAIL_1\]/);
  }
}

test("OpenAI SDK with shieldFetch: chat completions, streamed and whole, are redacted going out and restored coming back", async () => {
  const events = [];
  const openai = new OpenAI({ baseURL: model.url, apiKey: "sk-local", fetch: shieldFetch(fetch, { wasm, onRedaction: (e) => events.push(e) }) });
  const from = model.requests.length;

  const stream = await openai.chat.completions.create({ model: "echo", stream: true, messages: [{ role: "user", content: MESSAGE }] });
  let streamed = "";
  let chunks = 0;
  for await (const chunk of stream) {
    streamed += chunk.choices[0]?.delta?.content ?? "";
    chunks++;
  }
  assert.equal(streamed, ECHO);
  assert.ok(chunks > 20, `the reply arrived in ${chunks} chunks`);

  const whole = await openai.chat.completions.create({ model: "echo", messages: [{ role: "user", content: [{ type: "text", text: MESSAGE }] }] });
  assert.equal(whole.choices[0].message.content, ECHO);

  assertNothingLeaked(from);
  assert.equal(events.length, 2);
  assert.deepEqual(events[0].entities.map((e) => e.kind).sort(), Object.keys(SEEDED).sort());
});

test("shieldFetch keeps a value's placeholder across turns, and restores streamed tool-call arguments", async () => {
  const openai = new OpenAI({ baseURL: model.url, apiKey: "sk-local", fetch: shieldFetch(fetch, { wasm }) });
  const from = model.requests.length;
  const first = await openai.chat.completions.create({ model: "echo", messages: [{ role: "user", content: MESSAGE }] });
  const reply = first.choices[0].message.content;
  const tools = [{ type: "function", function: { name: "save_note", parameters: { type: "object", properties: { quote: { type: "string" } } } } }];
  const stream = await openai.chat.completions.create({
    model: "echo",
    stream: true,
    tools,
    messages: [
      { role: "user", content: MESSAGE },
      { role: "assistant", content: reply },
      { role: "user", content: `Save a note for ${SEEDED.EMAIL_ADDRESS}` },
    ],
  });
  let args = "";
  for await (const chunk of stream) args += chunk.choices[0]?.delta?.tool_calls?.[0]?.function?.arguments ?? "";
  assert.deepEqual(JSON.parse(args), { quote: `You said: Save a note for ${SEEDED.EMAIL_ADDRESS}` });

  assertNothingLeaked(from);
  const [one, two] = model.requests.slice(from).map((r) => JSON.parse(r.body).messages);
  const placeholder = one[0].content.match(/\[[A-Z_]+_\d+\]/)[0];
  assert.ok(two[1].content.includes(placeholder) && two[2].content.includes(placeholder), "the second turn used other placeholders for the same e-mail");
});

test("OpenAI SDK with shieldFetch: the Responses API, streamed and whole", async () => {
  const openai = new OpenAI({ baseURL: model.url, apiKey: "sk-local", fetch: shieldFetch(fetch, { wasm }) });
  const from = model.requests.length;
  const stream = await openai.responses.create({ model: "echo", input: MESSAGE, stream: true });
  let deltas = "";
  let done = "";
  let completed = "";
  for await (const event of stream) {
    if (event.type === "response.output_text.delta") deltas += event.delta;
    if (event.type === "response.output_text.done") done = event.text;
    if (event.type === "response.completed") completed = event.response.output[0].content[0].text;
  }
  assert.equal(deltas, ECHO);
  assert.equal(done, ECHO);
  assert.equal(completed, ECHO);
  const whole = await openai.responses.create({ model: "echo", input: [{ role: "user", content: [{ type: "input_text", text: MESSAGE }] }] });
  assert.equal(whole.output_text, ECHO);
  assertNothingLeaked(from);
});

test("shieldFetch refuses a body it cannot read, sends nothing, and passes other requests through", async () => {
  const shielded = shieldFetch(fetch, { wasm });
  const from = model.requests.length;
  const body = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(JSON.stringify({ messages: [{ role: "user", content: MESSAGE }] }))), c.close()) });
  await assert.rejects(shielded(`${model.url}/chat/completions`, { method: "POST", body, duplex: "half" }), ShieldError);
  await assert.rejects(shielded(`${model.url}/chat/completions`, { method: "POST", body: "not json" }), ShieldError);
  assert.equal(model.requests.length, from, "a refused request reached the model");
  const other = await shielded(`${model.url}/files`, { method: "POST", body: "raw" });
  assert.equal(other.status, 404);
  assert.equal(model.requests.at(-1).body, "raw");
});

test("AI SDK with shieldMiddleware: generateText and streamText are redacted going out and restored coming back", async () => {
  const provider = createOpenAICompatible({ name: "echo", baseURL: model.url });
  const shielded = wrapLanguageModel({ model: provider.chatModel("echo"), middleware: shieldMiddleware({ wasm }) });
  const from = model.requests.length;

  const generated = await generateText({ model: shielded, system: `The user is ${SEEDED.EMAIL_ADDRESS}.`, prompt: MESSAGE });
  assert.equal(generated.text, ECHO);

  const streamed = streamText({ model: shielded, messages: [{ role: "user", content: MESSAGE }] });
  let text = "";
  let deltas = 0;
  for await (const delta of streamed.textStream) {
    text += delta;
    deltas++;
  }
  assert.equal(text, ECHO);
  assert.ok(deltas > 10, `the reply arrived in ${deltas} deltas`);
  assertNothingLeaked(from);
  assert.ok(!model.requests[from].body.includes(SEEDED.EMAIL_ADDRESS), "the system prompt leaked");
});
