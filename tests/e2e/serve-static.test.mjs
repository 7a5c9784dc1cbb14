// The static server of the demo pages (pkg-scripts/serve.mjs) serves its root and mounts, and
// nothing beside them: not a sibling directory whose name starts like the root's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "../../pkg-scripts/serve.mjs";

test("paths that climb out of the root are not served", async () => {
  const base = await mkdtemp(join(tmpdir(), "tandem-serve-"));
  await mkdir(join(base, "site"));
  await mkdir(join(base, "site-secret"));
  await writeFile(join(base, "site", "index.html"), "hello");
  await writeFile(join(base, "site-secret", "key.txt"), "secret");
  const server = await serve(join(base, "site"));
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    assert.equal(await (await fetch(`${url}/`)).text(), "hello");
    for (const path of ["/..%2Fsite-secret/key.txt", "/..%2F..%2Fetc/passwd", "/%2e%2e/site-secret/key.txt"]) {
      const resp = await fetch(`${url}${path}`);
      assert.equal(resp.status, 404, path);
      assert.ok(!(await resp.text()).includes("secret"), path);
    }
  } finally {
    await new Promise((ok) => server.close(ok));
    await rm(base, { recursive: true });
  }
});
