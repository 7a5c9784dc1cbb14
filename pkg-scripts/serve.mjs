// A minimal static file server for the test pages, the browser tests and benchmarks.
// Usage: node pkg-scripts/serve.mjs [PORT=8080]   the test pages (tests/pages), as servePages() does
// The pages get /pkg/, /pkg-models/ and /pkg-models-threads/ (the package's bound wasm, from pkg-scripts/build-web) and
// /models/ (the setup script's model cache, $TANDEM_CACHE/models).
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".ts": "text/plain; charset=utf-8",
};

/** Tandem's cache outside the clone ($TANDEM_CACHE, as pkg-scripts/env.sh sets it). */
export const CACHE = process.env.TANDEM_CACHE ?? join(homedir(), ".cache", "tandem");
/** Where `pkg-scripts/setup` caches model files. */
export const MODEL_CACHE = join(CACHE, "models");

/**
 * Serves `dir` on 127.0.0.1:`port` (0 = any free port); resolves to the server.
 * `mounts` maps URL prefixes ("/models/") to more directories; `isolated` adds the
 * cross-origin isolation headers that SharedArrayBuffer (threaded wasm) needs.
 */
export function serve(dir, port = 0, { mounts = {}, isolated = false } = {}) {
  const roots = [...Object.entries(mounts).map(([prefix, d]) => [prefix, resolve(d)]), ["/", resolve(dir)]];
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      const [prefix, root] = roots.find(([p]) => path.startsWith(p));
      let file = normalize(join(root, path.slice(prefix.length)));
      // Inside the root itself, not merely a path that starts like it ("/dist" vs "/dist-old").
      if (file !== root && !file.startsWith(root + sep)) throw Object.assign(new Error("outside root"), { code: "ENOENT" });
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      // The length, as a static host sends it: a page reading a model file sizes its buffer by it.
      const headers = { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-length": body.length, "cache-control": "no-store" };
      if (isolated) {
        headers["cross-origin-opener-policy"] = "same-origin";
        headers["cross-origin-embedder-policy"] = "require-corp";
      }
      res.writeHead(200, headers);
      res.end(body);
    } catch (err) {
      res.writeHead(err.code === "ENOENT" ? 404 : 500, { "content-type": "text/plain" });
      res.end(err.code === "ENOENT" ? "not found" : "server error");
    }
  });
  return new Promise((ok) => server.listen(port, "127.0.0.1", () => ok(server)));
}

/** The test pages: the shield page (index.html) and the local model page (model.html). */
export const PAGES = fileURLToPath(new URL("../tests/pages", import.meta.url));
const WASM = fileURLToPath(new URL("../www/tandem-web/src", import.meta.url));

/**
 * Serves the test pages with what they load: the package's wasm as pkg-scripts/build-web binds
 * it (/pkg/: shield only; /pkg-models/: with local models; /pkg-models-threads/: threaded), the
 * built package (/tandem-web/: pkg-scripts/build-package) and the model cache (/models/).
 */
export function servePages(port = 0, { mounts = {}, isolated = false } = {}) {
  const wasm = {
    "/pkg/": join(WASM, "wasm-shield"),
    "/pkg-models/": join(WASM, "wasm"),
    "/pkg-models-threads/": join(WASM, "wasm-threads"),
    "/tandem-web/": join(WASM, "..", "dist"),
    "/models/": MODEL_CACHE,
  };
  return serve(PAGES, port, { mounts: { ...wasm, ...mounts }, isolated });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await servePages(Number(process.argv[2] ?? 8080));
  console.log(`Serving on http://127.0.0.1:${server.address().port}/ (Ctrl-C to stop)`);
}
