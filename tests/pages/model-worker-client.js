// A bench page's handle on a model worker (model-worker.js): `call(msg)` posts one message and resolves
// with the worker's reply ("loaded" or "done"), skipping the streamed "token" messages; an "error"
// reply rejects. One call at a time.
export function modelWorker(url) {
  const worker = new Worker(url, { type: "module" });
  const call = (msg) =>
    new Promise((ok, fail) => {
      worker.onmessage = ({ data }) => {
        if (data.type === "token") return;
        if (data.type === "error") fail(new Error(data.message));
        else ok(data);
      };
      worker.postMessage(msg);
    });
  return { worker, call };
}
