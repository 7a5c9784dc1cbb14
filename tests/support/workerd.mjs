// Runs the built edge worker (worker/build, from pkg-scripts/build-worker) in a real workerd
// process from npm: a generated config, secrets passed through the environment, stdout captured.
import { startServer } from "./process.mjs";
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
  const url = `http://127.0.0.1:${port}`;
  const server = await startServer({
    name: "workerd",
    command: WORKERD,
    args: ["serve", config, "--verbose"],
    env: secrets,
    healthUrl: `${url}/health`,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  });
  return Object.assign(server, { url });
}
