// A node:test reporter that writes the slowest tests (and test files) with their durations, so
// that a slow CI run names what took its time. pkg-scripts/test prints its output with the step
// times: node --test --test-reporter=./support/durations.mjs --test-reporter-destination=FILE
import { relative } from "node:path";

export default async function* durations(source) {
  const rows = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { name, file, details } = event.data;
    const where = file ? relative(process.cwd(), file) : "";
    const label = where && name !== file && !name.endsWith(where) ? `${name} (${where})` : where || name;
    rows.push({ ms: details?.duration_ms ?? 0, label, failed: event.type === "test:fail" });
  }
  rows.sort((a, b) => b.ms - a.ms);
  for (const r of rows.slice(0, 15)) {
    yield `${(r.ms / 1000).toFixed(0).padStart(7)}s  ${r.failed ? "FAILED " : ""}${r.label}\n`;
  }
}
