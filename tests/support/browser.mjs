// Launches Debian's Chromium headless with the flags this project relies on
// (WebGPU exposed through SwiftShader, no background network traffic).
import { chromium } from "playwright-core";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

export const FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * A fresh browser with its own profile; `close()` removes the profile. `extension` is the
 * directory of an unpacked extension to load.
 */
export async function launch({ extension } = {}) {
  const profile = await mkdtemp(join(tmpdir(), "tandem-chromium-"));
  const extra = extension ? [`--disable-extensions-except=${extension}`, `--load-extension=${extension}`] : [];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...extra],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Collects console errors, page errors and failed requests; tests assert the list is empty. */
export function watchErrors(page) {
  const errors = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`console: ${msg.text()}`);
  });
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  // Where the headers had arrived, the report says so: a test can then tell a refused or broken
  // request from one reported as aborted after its response (see the sealed test in demo.test.mjs).
  const statuses = new WeakMap();
  page.on("response", (res) => statuses.set(res.request(), res.status()));
  page.on("requestfailed", (req) => {
    const status = statuses.get(req);
    errors.push(`requestfailed: ${req.url()} (${req.failure()?.errorText})${status ? ` after status ${status}` : ""}`);
  });
  return errors;
}

/**
 * Saves a screenshot of `page` (or of its `clip` rectangle) as
 * tests/e2e/.artifacts/screenshots/NAME.png, for the docs
 * (docs/images holds the copies the README shows; refresh them from here).
 */
export async function screenshot(page, name, clip) {
  const { mkdir } = await import("node:fs/promises");
  const dir = new URL("../e2e/.artifacts/screenshots/", import.meta.url);
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, dir).pathname, clip });
}
