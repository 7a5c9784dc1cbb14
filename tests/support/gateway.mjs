// Starts the gateway under test: the worker in workerd (default), or `tandem serve` natively
// when TANDEM_GATEWAY_RUNTIME=native. Both return { url, logs, exited, close }.
import { startServer } from "./process.mjs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startWorker } from "./workerd.mjs";

const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target"), "debug", "tandem");

/** Which runtime the tests run against. */
export const RUNTIME = process.env.TANDEM_GATEWAY_RUNTIME ?? "workerd";

/**
 * Starts `tandem serve` with `gateway` (config object), `secrets` in its environment and `args`
 * after the usual ones.
 */
export async function startNative({ gateway, secrets = {}, args = [] }) {
  const dir = await mkdtemp(join(tmpdir(), "tandem-serve-"));
  const config = join(dir, "gateway.json");
  await writeFile(config, JSON.stringify(gateway));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startServer({
    name: "tandem serve",
    command: TANDEM,
    args: ["serve", "--config", config, "--listen", `127.0.0.1:${port}`, ...args],
    env: secrets,
    healthUrl: `${url}/health`,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  });
  return Object.assign(server, { url });
}

/** The gateway on the runtime under test. */
export function startGateway(options) {
  return RUNTIME === "native" ? startNative(options) : startWorker(options);
}
