// The same gateway and sealed-channel tests against `tandem serve` (native, hyper + reqwest)
// instead of workerd: one gateway logic, two runtimes.
process.env.TANDEM_GATEWAY_RUNTIME = "native";
await import("./worker.test.mjs");
await import("./sealed.test.mjs");
