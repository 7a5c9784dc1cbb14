// Which of the manifest's local models the engine loads (@tandem/web `pickLocalModel`,
// `localBudget`): plain functions of the package, run in Node on its built dist/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { localBudget, pickLocalModel, residentBytes } from "../../www/tandem-web/dist/models.js";

const MIB = 2 ** 20;
const GIB = 2 ** 30;
const entry = (name, bytes, drafts, parameters) => ({ name, file: { url: `${name}.gguf`, sha256: "0".repeat(64), bytes }, drafts, parameters });
const SMOL = entry("smollm2-135m", 98_362_432, ["smollm2-135m"], 134_515_008);
const QWEN = entry("qwen2.5-coder-0.5b", 491_400_064, ["qwen2.5-coder-1.5b"], 630_167_424);
const BIG = entry("qwen2.5-coder-1.5b", 1_117_320_736, []);

test("the budget is a quarter of the device's memory, 4 GiB assumed when unknown, at most 2 GiB", () => {
  assert.equal(localBudget(2), 512 * MIB);
  assert.equal(localBudget(4), 1 * GIB);
  assert.equal(localBudget(8), 2 * GIB);
  assert.equal(localBudget(32), 2 * GIB);
  assert.equal(localBudget(undefined), 1 * GIB);
  assert.equal(localBudget(0), 1 * GIB);
});

test("a model needs its GGUF × 1.25 + 64 MiB on the CPU, × 2.5 + 64 MiB on a GPU, unless the manifest says", () => {
  assert.equal(residentBytes(SMOL), Math.ceil(98_362_432 * 1.25) + 64 * MIB);
  assert.equal(residentBytes(SMOL, true), Math.ceil(98_362_432 * 2.5) + 64 * MIB);
  assert.equal(residentBytes(BIG, true), Math.ceil(1_117_320_736 * 2.5) + 64 * MIB);
  assert.equal(residentBytes({ ...SMOL, memory: 123 }), 123);
  assert.equal(residentBytes({ ...SMOL, memory: 123 }, true), 123);
});

test("on a GPU, where the file and the GPU's codes both stay, a 4 GB device gets SmolLM2 and an 8 GB one Qwen-0.5B, and says why", () => {
  const { entry, reason } = pickLocalModel([SMOL, QWEN, BIG], { budget: localBudget(8), gpu: true });
  assert.equal(entry, QWEN, "Qwen2.5-Coder-1.5B needs 2.66 GiB on a GPU");
  assert.match(reason, /qwen2\.5-coder-0\.5b: the largest of 3 that fits this device on its GPU \(needs 1\.21 GiB of a 2\.00 GiB budget\)/);
  assert.equal(pickLocalModel([SMOL, QWEN], { budget: localBudget(4), gpu: true }).entry, SMOL);
  assert.equal(pickLocalModel([SMOL, QWEN], { budget: localBudget(4) }).entry, QWEN, "the CPU needs less");
});

test("the largest model that fits is loaded, whatever the manifest's order", () => {
  for (const list of [[SMOL, QWEN, BIG], [BIG, QWEN, SMOL]]) {
    assert.equal(pickLocalModel(list, { budget: localBudget(4) }).entry, QWEN, list.map((e) => e.name).join());
  }
});

test("by device memory: a phone gets SmolLM2, a laptop Qwen-0.5B, and 8 GiB the 1.5B when offered", () => {
  const list = [SMOL, QWEN];
  assert.equal(pickLocalModel(list, { budget: localBudget(1) }).entry, SMOL);
  assert.equal(pickLocalModel(list, { budget: localBudget(2) }).entry, SMOL);
  assert.equal(pickLocalModel(list, { budget: localBudget(4) }).entry, QWEN);
  const { entry, reason } = pickLocalModel([SMOL, QWEN, BIG], { budget: localBudget(8) });
  assert.equal(entry, BIG);
  assert.match(reason, /qwen2\.5-coder-1\.5b: the largest of 3 that fits this device \(needs 1\.36 GiB of a 2\.00 GiB budget\)/);
});

test("nothing fits: no model, and the reason says by how much", () => {
  const { entry, reason } = pickLocalModel([SMOL, QWEN], { budget: 100 * MIB });
  assert.equal(entry, null);
  assert.match(reason, /no local model fits this device: the smallest needs 0\.18 GiB, the budget is 0\.10 GiB/);
  assert.equal(pickLocalModel([], { budget: GIB }).entry, null);
});

test("speculation needs a drafter with the target's tokenizer", () => {
  assert.equal(pickLocalModel([SMOL, QWEN], { budget: localBudget(8), target: "smollm2-135m" }).entry, SMOL);
  assert.equal(pickLocalModel([SMOL, QWEN], { budget: localBudget(8), target: "qwen2.5-coder-1.5b" }).entry, QWEN);
  const none = pickLocalModel([SMOL, QWEN], { budget: localBudget(8), target: "llama-70b" });
  assert.equal(none.entry, null);
  assert.match(none.reason, /no local model drafts for llama-70b/);
});

test("a model named by the app wins over the budget; a name the manifest lacks is an error", () => {
  assert.equal(pickLocalModel([SMOL, QWEN], { name: "smollm2-135m", budget: localBudget(8) }).entry, SMOL);
  assert.equal(pickLocalModel([SMOL, QWEN], { name: "qwen2.5-coder-0.5b", budget: 1 }).entry, QWEN);
  assert.throws(() => pickLocalModel([SMOL], { name: "gpt-9", budget: GIB }), /the manifest has no local model "gpt-9" \(it has: smollm2-135m\)/);
});
