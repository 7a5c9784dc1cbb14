// Serves the chat demo (www/demo/dist) against the edge worker in workerd, as `pkg-scripts/demo`
// runs it: a local OpenAI-compatible upstream stands in for the cloud model, and
// `tandem serve --target smollm2-135m` is the target that verifies speculative drafts.
// Usage: node pkg-scripts/demo-web.mjs TANDEM_BINARY [PORT=8080]   (the worker listens on 8787)
import { fileURLToPath } from "node:url";
import { serve, MODEL_CACHE } from "./serve.mjs";
import { startDemoStack, TARGET } from "../tests/support/demo-stack.mjs";

const [tandem, port = "8080"] = process.argv.slice(2);
console.log(`loading the speculative target (${TARGET}) …`);
const stack = await startDemoStack({ tandem, token: "dev-token", workerPort: 8787, tokenDelayMs: 40, kvBudgetMib: 256 });
// Cross-origin isolated, so that the engine's worker runs the threaded build on the CPU backend.
const site = await serve(fileURLToPath(new URL("../www/demo/dist", import.meta.url)), Number(port), {
  mounts: { "/models/": MODEL_CACHE },
  isolated: true,
});
const url = `http://127.0.0.1:${site.address().port}/`;
console.log(`worker (workerd) on ${stack.worker.url}/v1, cloud stand-in on ${stack.upstream.url}, target on ${stack.target.url}`);
console.log(`chat demo:              ${url}`);
console.log(`with speculative cloud: ${url}?speculative=${TARGET}`);
console.log("(Ctrl-C to stop)");
process.on("SIGINT", async () => {
  await stack.close();
  process.exit(0);
});
