// Starts the gateway under test: the worker in workerd (default), or `tandem serve` natively
// when TANDEM_GATEWAY_RUNTIME=native. Both return { url, logs, exited, close }.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startWorker } from "./workerd.mjs";

const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target"), "debug", "tandem");

/** Which runtime the tests run against. */
export const RUNTIME = process.env.TANDEM_GATEWAY_RUNTIME ?? "workerd";

/** Starts `tandem serve` with `gateway` (config object) and `secrets` in its environment. */
export async function startNative({ gateway, secrets = {} }) {
  const dir = await mkdtemp(join(tmpdir(), "tandem-serve-"));
  const config = join(dir, "gateway.json");
  await writeFile(config, JSON.stringify(gateway));
  const port = await freePort();
  const child = spawn(TANDEM, ["serve", "--config", config, "--listen", `127.0.0.1:${port}`], {
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
    if (exited !== null) throw new Error(`tandem serve exited (${exited}):\n${logs.join("\n")}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {}
    if (i > 200) throw new Error(`tandem serve did not start:\n${logs.join("\n")}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return {
    url,
    logs,
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

/** The gateway on the runtime under test. */
export function startGateway(options) {
  return RUNTIME === "native" ? startNative(options) : startWorker(options);
}
