// Runs the built edge worker (worker/build, from pkg-scripts/build-worker) in a real workerd
// process from npm: a generated config, secrets passed through the environment, stdout captured.
import { startServer } from "./process.mjs";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const WORKERD = join(ROOT, "tests/node_modules/.bin/workerd");
export const BUILD = join(ROOT, "worker/build");

/** The compatibility date `worker/wrangler.toml` deploys with: the tests run the worker at the same one. */
export const COMPATIBILITY_DATE = readFileSync(join(ROOT, "worker/wrangler.toml"), "utf8").match(/^compatibility_date = "([0-9-]+)"$/m)[1];

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

/**
 * The workerd config (Cap'n Proto text) for the worker on `ports` (one instance per port, each
 * its own isolate) with these vars and secrets. With `durable`, the first instance declares the
 * `GatewayState` Durable Object namespace (in memory) and every instance binds it as
 * `TANDEM_STATE`: they share the replay window and rate limits, as isolates on Workers do.
 */
export function workerdConfig({ ports, vars, secretNames, dir, durable = true }) {
  const text = (s) => JSON.stringify(s);
  const bindings = (first) => [
    ...Object.entries(vars).map(([k, v]) => `(name = ${text(k)}, text = ${text(v)})`),
    ...secretNames.map((k) => `(name = ${text(k)}, fromEnvironment = ${text(k)})`),
    ...(durable
      ? [first ? `(name = "TANDEM_STATE", durableObjectNamespace = "GatewayState")`
               : `(name = "TANDEM_STATE", durableObjectNamespace = (className = "GatewayState", serviceName = "instance0"))`]
      : []),
  ];
  const worker = (i) => `const tandem${i} :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed ${text(relative(dir, join(BUILD, "index.js")))}),
    (name = "index_bg.wasm", wasm = embed ${text(relative(dir, join(BUILD, "index_bg.wasm")))}),
  ],
  compatibilityDate = ${text(COMPATIBILITY_DATE)},
  bindings = [${bindings(i === 0).join(", ")}],
  globalOutbound = "internet",${durable && i === 0 ? `
  durableObjectNamespaces = [(className = "GatewayState", uniqueKey = "tandem-gateway-state")],
  durableObjectStorage = (inMemory = void),` : ""}
);
`;
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
${ports.map((_, i) => `    (name = "instance${i}", worker = .tandem${i}),`).join("\n")}
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [${ports.map((p, i) => `(name = "http${i}", address = "127.0.0.1:${p}", http = (), service = "instance${i}")`).join(", ")}],
);
${ports.map((_, i) => worker(i)).join("")}`;
}

/**
 * Starts workerd serving the worker with `gateway` (the TANDEM_GATEWAY JSON object) and
 * `secrets` (name -> value), as `instances` isolates on their own ports sharing one Durable
 * Object namespace (none with `durable: false`). Resolves once /health answers; `url` is the
 * first instance, `urls` all of them; `logs` collects stdout+stderr lines.
 */
export async function startWorker({ gateway, secrets = {}, port: wanted = 0, instances = 1, durable = true }) {
  const dir = await mkdtemp(join(tmpdir(), "tandem-workerd-"));
  const ports = [wanted || (await freePort())];
  while (ports.length < instances) ports.push(await freePort());
  const port = ports[0];
  const config = join(dir, "config.capnp");
  const vars = { TANDEM_GATEWAY: JSON.stringify(gateway) };
  await writeFile(config, workerdConfig({ dir, ports, vars, secretNames: Object.keys(secrets), durable }));
  const url = `http://127.0.0.1:${port}`;
  const server = await startServer({
    name: "workerd",
    command: WORKERD,
    args: ["serve", config, "--verbose"],
    env: secrets,
    healthUrl: `${url}/health`,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  });
  return Object.assign(server, { url, urls: ports.map((p) => `http://127.0.0.1:${p}`) });
}
