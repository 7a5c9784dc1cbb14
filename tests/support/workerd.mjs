// Runs the built edge worker (worker/build, from pkg-scripts/build-worker) in a real workerd
// process from npm: a generated config, secrets passed through the environment, stdout captured.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const WORKERD = join(ROOT, "tests/node_modules/.bin/workerd");
export const BUILD = join(ROOT, "worker/build");

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** The workerd config (Cap'n Proto text) for the worker on `port` with these vars and secrets. */
export function workerdConfig({ port, vars, secretNames, dir }) {
  const text = (s) => JSON.stringify(s);
  const bindings = [
    ...Object.entries(vars).map(([k, v]) => `(name = ${text(k)}, text = ${text(v)})`),
    ...secretNames.map((k) => `(name = ${text(k)}, fromEnvironment = ${text(k)})`),
  ];
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .tandem),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const tandem :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed ${text(relative(dir, join(BUILD, "index.js")))}),
    (name = "index_bg.wasm", wasm = embed ${text(relative(dir, join(BUILD, "index_bg.wasm")))}),
  ],
  compatibilityDate = "2026-11-01",
  bindings = [${bindings.join(", ")}],
  globalOutbound = "internet",
);
`;
}

/**
 * Starts workerd serving the worker with `gateway` (the TANDEM_GATEWAY JSON object) and
 * `secrets` (name -> value). Resolves once /health answers; `logs` collects stdout+stderr lines.
 */
export async function startWorker({ gateway, secrets = {}, port: wanted = 0 }) {
  const dir = await mkdtemp(join(tmpdir(), "tandem-workerd-"));
  const port = wanted || (await freePort());
  const config = join(dir, "config.capnp");
  await writeFile(config, workerdConfig({ dir, port, vars: { TANDEM_GATEWAY: JSON.stringify(gateway) }, secretNames: Object.keys(secrets) }));
  const child = spawn(WORKERD, ["serve", config, "--verbose"], {
    env: { ...process.env, ...secrets },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs = [];
  let exited = null;
  const collect = (buf) => logs.push(...buf.toString().split("\n").filter(Boolean));
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  child.on("exit", (code) => (exited = code));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (exited !== null) throw new Error(`workerd exited (${exited}):\n${logs.join("\n")}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {}
    if (i > 200) throw new Error(`workerd did not start:\n${logs.join("\n")}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return {
    url,
    logs,
    process: child,
    get exited() {
      return exited;
    },
    async close() {
      child.kill("SIGTERM");
      await new Promise((ok) => (exited !== null ? ok() : child.on("exit", ok)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
