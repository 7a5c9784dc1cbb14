// A server process for the tests: spawned with its output collected, ready once `healthUrl`
// answers 200, stopped (and `cleanup` run) by close().
import { spawn } from "node:child_process";

/**
 * Spawns `command args` with `env`; resolves when `healthUrl` answers, or kills it and throws with
 * its output after `startupMs`.
 */
export async function startServer({ name, command, args, env, cwd, healthUrl, startupMs = 10_000, cleanup = async () => {} }) {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs = [];
  let exited = null;
  const collect = (buf) => logs.push(...buf.toString().split("\n").filter(Boolean));
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  child.on("exit", (code) => (exited = code));
  const deadline = Date.now() + startupMs;
  for (;;) {
    if (exited !== null) throw new Error(`${name} exited (${exited}):\n${logs.join("\n")}`);
    try {
      if ((await fetch(healthUrl)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not start in ${startupMs} ms:\n${logs.join("\n")}`);
    }
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return {
    logs,
    process: child,
    get exited() {
      return exited;
    },
    async close() {
      child.kill("SIGTERM");
      await new Promise((ok) => (exited !== null ? ok() : child.on("exit", ok)));
      await cleanup();
    },
  };
}
