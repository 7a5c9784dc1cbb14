// A minimal static file server for the demo pages, the browser tests and benchmarks.
// Usage: node pkg-scripts/serve.mjs [DIR=www] [PORT=8080]
// The model page also gets /models/ (the setup script's model cache, $TANDEM_CACHE/models).
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".ts": "text/plain; charset=utf-8",
};

/** Where `pkg-scripts/setup` caches model files. */
export const MODEL_CACHE = join(process.env.TANDEM_CACHE ?? join(homedir(), ".cache", "tandem"), "models");

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
      const headers = { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" };
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

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await serve(process.argv[2] ?? "www", Number(process.argv[3] ?? 8080), {
    mounts: { "/models/": MODEL_CACHE },
  });
  console.log(`Serving on http://127.0.0.1:${server.address().port}/ (Ctrl-C to stop)`);
}
