// Tandem Shield demo page. All PII handling happens in WebAssembly
// (crates/tandem-wasm); this file only wires the page to it.
import init, { Shield } from "./pkg/tandem_wasm.js";

const $ = (id) => document.getElementById(id);
const ACTIONS = ["redact", "mask", "allow"];
let shield;

function showError(err) {
  $("error").hidden = false;
  $("error").textContent = String(err?.message ?? err);
}

function policy() {
  const out = {};
  for (const select of $("policy").querySelectorAll("select")) out[select.name] = select.value;
  return out;
}

function renderHighlighted(text, entities) {
  const box = $("highlighted");
  box.replaceChildren();
  let last = 0;
  // Offsets are UTF-16 code units, exactly what String.prototype.slice uses.
  for (const e of entities) {
    box.append(text.slice(last, e.start));
    const mark = document.createElement("mark");
    mark.dataset.kind = e.kind;
    mark.textContent = text.slice(e.start, e.end);
    box.append(mark);
    last = e.end;
  }
  box.append(text.slice(last));
}

function renderTable(text, entities) {
  const body = $("entities").querySelector("tbody");
  body.replaceChildren(
    ...entities.map((e) => {
      const row = document.createElement("tr");
      for (const cell of [e.kind, text.slice(e.start, e.end), e.score.toFixed(2), e.replacement]) {
        const td = document.createElement("td");
        td.textContent = cell;
        row.append(td);
      }
      return row;
    }),
  );
}

function suggestReply(entities) {
  const placeholders = [...new Set(entities.filter((e) => e.action === "redact").map((e) => e.replacement))];
  return placeholders.length
    ? `Thanks! I noted ${placeholders.join(", ")} and will get back to you.`
    : "Thanks! Nothing personal was shared.";
}

function runShield() {
  $("error").hidden = true;
  try {
    // A new conversation whenever the policy may have changed.
    shield = new Shield({ policy: policy() });
    const text = $("input").value;
    const result = shield.redact(text);
    renderHighlighted(text, result.entities);
    renderTable(text, result.entities);
    $("redacted").textContent = result.text;
    $("reply").value = suggestReply(result.entities);
    $("restored").textContent = "";
    $("withheld").textContent = "";
    $("restore").disabled = false;
    $("status").textContent = `${result.entities.length} entities found.`;
  } catch (err) {
    showError(err);
  }
}

async function streamReply() {
  $("error").hidden = true;
  $("restore").disabled = true;
  const out = $("restored");
  out.textContent = "";
  delete out.dataset.done;
  try {
    const restorer = shield.restorer();
    const reply = $("reply").value;
    // Simulate a token stream: small chunks that split placeholders anywhere.
    for (let i = 0; i < reply.length; i += 3) {
      out.textContent += restorer.push(reply.slice(i, i + 3));
      await new Promise((r) => setTimeout(r, 5));
    }
    out.textContent += restorer.finish();
    $("withheld").textContent = restorer.withheld
      ? `${restorer.withheld} placeholder(s) inside a link or markup left unrestored: restoring them would send the original wherever the link points.`
      : "";
    out.dataset.done = "true";
  } catch (err) {
    showError(err);
  } finally {
    $("restore").disabled = false;
  }
}

async function main() {
  try {
    await init();
    shield = new Shield();
    for (const kind of shield.kinds) {
      const label = document.createElement("label");
      const select = document.createElement("select");
      select.name = kind;
      for (const a of ACTIONS) select.append(new Option(a, a));
      label.append(kind, select);
      $("policy").append(label);
    }
    $("shield").disabled = false;
    $("status").textContent = "Ready.";
    document.body.dataset.ready = "true";
  } catch (err) {
    $("status").textContent = "The shield could not start.";
    showError(err);
  }
}

$("shield").addEventListener("click", runShield);
$("restore").addEventListener("click", streamReply);
main();
