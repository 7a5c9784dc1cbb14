// Serves the chat demo (www/demo/dist) against the edge worker in workerd, as `pkg-scripts/demo`
// runs it: a local OpenAI-compatible upstream stands in for the cloud model, and
// `tandem serve --target smollm2-135m` is the target that verifies speculative drafts.
// Usage: node pkg-scripts/demo-web.mjs TANDEM_BINARY [PORT=8080]   (the worker listens on 8787)
import { fileURLToPath } from "node:url";
import { serve, MODEL_CACHE } from "./serve.mjs";
import { startServer } from "../tests/support/process.mjs";
import { startUpstream } from "../tests/support/upstream.mjs";
import { freePort, startWorker } from "../tests/support/workerd.mjs";

const [tandem, port = "8080"] = process.argv.slice(2);
const TARGET = "smollm2-135m";
const upstream = await startUpstream({ name: "cloud stand-in", tokenDelayMs: 40 });
const targetPort = await freePort();
console.log(`loading the speculative target (${TARGET}) …`);
const target = await startServer({
  name: "tandem serve --target",
  command: tandem,
  args: ["serve", "--target", TARGET, "--listen", `127.0.0.1:${targetPort}`, "--kv-budget-mib", "256"],
  healthUrl: `http://127.0.0.1:${targetPort}/health`,
  startupMs: 120_000,
});
const worker = await startWorker({
  port: 8787,
  gateway: {
    upstreams: [
      { name: "target", base_url: `http://127.0.0.1:${targetPort}/v1`, models: { [TARGET]: TARGET }, timeout_ms: 120000 },
      { name: "cloud", base_url: upstream.url, models: { "*": "*" } },
    ],
    clients: [{ name: "demo", token_secret: "DEV_TOKEN" }],
    cors_origins: ["*"],
  },
  secrets: { DEV_TOKEN: "dev-token" },
});
const site = await serve(fileURLToPath(new URL("../www/demo/dist", import.meta.url)), Number(port), {
  mounts: { "/models/": MODEL_CACHE },
});
const url = `http://127.0.0.1:${site.address().port}/`;
console.log(`worker (workerd) on ${worker.url}/v1, cloud stand-in on ${upstream.url}, target on :${targetPort}`);
console.log(`chat demo:              ${url}`);
console.log(`with speculative cloud: ${url}?speculative=${TARGET}`);
console.log("(Ctrl-C to stop)");
process.on("SIGINT", async () => {
  await Promise.allSettled([worker.close(), target.close(), upstream.close()]);
  process.exit(0);
});
