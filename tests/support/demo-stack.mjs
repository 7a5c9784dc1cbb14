// What the chat demo talks to, as `pkg-scripts/demo` and tests/e2e/demo.test.mjs start it: the
// edge worker in workerd before a local OpenAI-compatible upstream (standing in for the cloud
// model) and `tandem serve --target` (the target that verifies speculative drafts). The worker
// has a sealing key, so the demo's `?seal=1` works.
import { execFileSync } from "node:child_process";
import { startServer } from "./process.mjs";
import { startUpstream } from "./upstream.mjs";
import { freePort, startWorker } from "./workerd.mjs";

/** The speculative target's model name (it shares SmolLM2-135M's tokenizer with the drafter). */
export const TARGET = "smollm2-135m";

/**
 * Starts the three servers; `tandem` is the tandem binary, `token` the client token the worker
 * accepts. Resolves to { upstream, target, worker, close }.
 */
export async function startDemoStack({ tandem, token, workerPort = 0, tokenDelayMs = 5, kvBudgetMib = 128 }) {
  const upstream = await startUpstream({ name: "cloud", tokenDelayMs });
  const targetPort = await freePort();
  const target = await startServer({
    name: "tandem serve --target",
    command: tandem,
    // The target keeps its GGUF blocks quantized: its fused decoder scores each position of a
    // round exactly as one-token decoding does (docs/speculative.md, "Quantized targets").
    args: ["serve", "--target", TARGET, "--listen", `127.0.0.1:${targetPort}`,
      "--kv-budget-mib", `${kvBudgetMib}`],
    healthUrl: `http://127.0.0.1:${targetPort}/health`,
    startupMs: 120_000,
  });
  target.url = `http://127.0.0.1:${targetPort}`;
  // A worker that fails to start (no worker/build) would leave the two servers running, and
  // the test process waiting on them for ever: they are closed before the error goes on.
  const worker = await startWorker({
    port: workerPort,
    gateway: {
      upstreams: [
        { name: "target", base_url: `${target.url}/v1`, models: { [TARGET]: TARGET }, timeout_ms: 120000 },
        { name: "cloud", base_url: upstream.url, models: { "*": "*" } },
      ],
      clients: [{ name: "demo", token_secret: "TOKEN" }],
      cors_origins: ["*"],
      limits: { requests_per_minute: 60000, burst: 1000 },
      seal: { keys: [{ key_id: 2, secret: "SEAL" }] },
    },
    // `tandem seal keygen` prints the public configuration, then the secret.
    secrets: { TOKEN: token, SEAL: execFileSync(tandem, ["seal", "keygen", "--key-id", "2"], { encoding: "utf8" }).split("\n")[1].trim() },
  }).catch(async (err) => {
    await Promise.allSettled([target.close(), upstream.close()]);
    throw err;
  });
  return {
    upstream,
    target,
    worker,
    close: () => Promise.allSettled([worker.close(), target.close(), upstream.close()]),
  };
}
