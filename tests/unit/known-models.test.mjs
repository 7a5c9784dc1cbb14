// The package's registry of known models (@tandem/web `knownManifest`, generated from
// pkg-scripts/models.json) against the manifest `tandem models manifest` wrote for the demo
// from the real model files (www/demo/dist/manifest.json, by pkg-scripts/build-demo): both must
// pin the same files, sizes, hashes and drafting targets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { knownManifest } from "../../www/tandem-web/dist/models.js";
import { ModelLoadError } from "../../www/tandem-web/dist/errors.js";

const DEMO = new URL("../../www/demo/dist/manifest.json", import.meta.url);

test("the registry and `tandem models manifest` describe the same files", async () => {
  const written = JSON.parse(await readFile(DEMO, "utf8"));
  const site = "http://example.test/";
  const { manifest, base } = knownManifest({ baseUrl: `${site}models/`, local: written.local.map((l) => l.name) });
  const resolve = (url, from) => new URL(url, from).href;
  assert.equal(manifest.local.length, 2);
  for (const [i, ours] of manifest.local.entries()) {
    const theirs = written.local[i];
    assert.equal(ours.name, theirs.name);
    assert.deepEqual([ours.file.sha256, ours.file.bytes], [theirs.file.sha256, theirs.file.bytes]);
    assert.equal(resolve(ours.file.url, base), resolve(theirs.file.url, site));
    assert.deepEqual(ours.drafts, theirs.drafts);
    assert.equal(ours.parameters, theirs.parameters);
  }
  for (const part of ["config", "model", "tokenizer"]) {
    assert.deepEqual([manifest.analyzer[part].sha256, manifest.analyzer[part].bytes], [written.analyzer[part].sha256, written.analyzer[part].bytes]);
    assert.equal(resolve(manifest.analyzer[part].url, base), resolve(written.analyzer[part].url, site));
  }
});

test("an unknown name, or an encoder asked for as a local model, is a ModelLoadError", () => {
  assert.throws(() => knownManifest({ baseUrl: "http://x/", local: ["gpt-9"] }), (e) => e instanceof ModelLoadError && /not a known model/.test(e.message));
  assert.throws(() => knownManifest({ baseUrl: "http://x/", local: ["all-minilm-l6-v2"] }), (e) => e instanceof ModelLoadError && /not a local model/.test(e.message));
  const none = knownManifest({ baseUrl: "http://x/m", analyzer: false });
  assert.equal(none.manifest.analyzer, undefined);
  assert.equal(none.base, "http://x/m/");
  assert.equal(none.manifest.local[0].name, "smollm2-135m");
});
