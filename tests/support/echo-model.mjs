// An OpenAI-compatible model that repeats what it was sent, for the shield's adapters: whatever
// reached it is recorded (`requests`), and its answer quotes the last user text back, streamed in
// pieces of `piece` characters so that a placeholder arrives split. Chat completions (with a
// tool call quoting the text when the request offers tools) and the Responses API.
import { createServer } from "node:http";

/** Starts the model; resolves to { url, requests, close } once listening. */
export function startEchoModel({ piece = 3 } = {}) {
  const requests = [];
  const server = createServer(async (req, res) => {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    requests.push({ path: req.url, body: raw });
    if (req.url === "/v1/chat/completions") return chat(JSON.parse(raw), res, piece);
    if (req.url === "/v1/responses") return responses(JSON.parse(raw), res, piece);
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: `no ${req.url}` } }));
  });
  return new Promise((ok) =>
    server.listen(0, "127.0.0.1", () =>
      ok({
        url: `http://127.0.0.1:${server.address().port}/v1`,
        requests,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(done); }),
      }),
    ),
  );
}

/** The text of a message's content: a string, or its text parts joined. */
const textOf = (content) => (typeof content === "string" ? content : (content ?? []).map((p) => p.text ?? "").join(""));
const pieces = (text, n) => Array.from({ length: Math.ceil(text.length / n) }, (_, i) => text.slice(i * n, (i + 1) * n));

function chat(body, res, piece) {
  const text = `You said: ${textOf(body.messages.findLast((m) => m.role === "user").content)}`;
  const tool = body.tools?.[0]?.function?.name;
  const args = JSON.stringify({ quote: text });
  const base = { id: "chatcmpl-echo", created: 1, model: body.model };
  if (!body.stream) {
    const message = tool
      ? { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: tool, arguments: args } }] }
      : { role: "assistant", content: text };
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ ...base, object: "chat.completion", choices: [{ index: 0, message, finish_reason: tool ? "tool_calls" : "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  const send = (delta, finish = null) => res.write(`data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
  if (tool) {
    send({ role: "assistant", tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: tool, arguments: "" } }] });
    for (const p of pieces(args, piece)) send({ tool_calls: [{ index: 0, function: { arguments: p } }] });
    send({}, "tool_calls");
  } else {
    send({ role: "assistant", content: "" });
    for (const p of pieces(text, piece)) send({ content: p });
    send({}, "stop");
  }
  res.end("data: [DONE]\n\n");
}

function responses(body, res, piece) {
  const input = typeof body.input === "string" ? body.input : textOf(body.input.findLast((i) => i.role === "user").content);
  const text = `You said: ${input}`;
  const item = { id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] };
  const response = { id: "resp_1", object: "response", created_at: 1, model: body.model, status: "completed", output: [item] };
  if (!body.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify(response));
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  let n = 0;
  const send = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: n++, ...data })}\n\n`);
  send("response.created", { response: { ...response, status: "in_progress", output: [] } });
  for (const p of pieces(text, piece)) send("response.output_text.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta: p });
  send("response.output_text.done", { item_id: "msg_1", output_index: 0, content_index: 0, text });
  send("response.completed", { response });
  res.end();
}
