// The README's quickstart, run as a new user would: its shell steps and its three files are read
// from README.md, a fresh folder installs the packed package and Vite from npm, `npx vite` serves
// the page, `pkg-scripts/serve-worker` runs the edge worker, and headless Chromium opens it. The
// answer must stream in with the e-mail restored, and no request from the browser may carry it.
// Two differences from a person's run, both of setup only: the package is packed from the build
// pkg-scripts/test already made (the README's `build-package --pack` rebuilds it first), and the
// worker listens on a free port instead of 8787 (the port in main.js is changed to match).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch, watchErrors } from "../support/browser.mjs";
import { freePort } from "../support/workerd.mjs";
import { serve as serveStatic } from "../../pkg-scripts/serve.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const EMAIL = "jane.doe@example.com";
let dir, browser, app, workerPort, readmeFiles;
const servers = [];

/** The README's quickstart section: its shell commands and its files (```lang name). */
async function quickstart() {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("### Quickstart");
  const section = readme.slice(start, readme.indexOf("\n#", start + 4));
  const blocks = [...section.matchAll(/^( *)```(\w+)(?: (\S+))?\n([\s\S]*?)^\1```/gm)].map(([, indent, lang, name, body]) => ({
    lang,
    name,
    body: body.split("\n").map((line) => line.slice(indent.length)).join("\n"),
  }));
  const commands = blocks.filter((b) => b.lang === "sh").flatMap((b) => b.body.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean));
  const files = blocks.filter((b) => b.name);
  assert.deepEqual(files.map((f) => f.name), ["index.html", "main.js", "vite.config.js"]);
  return { commands, files };
}

/** Starts `command` in its own process group; resolves once `url` answers. */
async function serve(name, command, args, { cwd, url, startupMs = 120_000 }) {
  const child = spawn(command, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const logs = [];
  child.stdout.on("data", (b) => logs.push(b.toString()));
  child.stderr.on("data", (b) => logs.push(b.toString()));
  let exited = null;
  child.on("exit", (code) => (exited = code));
  servers.push(child);
  const deadline = Date.now() + startupMs;
  for (;;) {
    if (exited !== null) throw new Error(`${name} exited (${exited}):\n${logs.join("")}`);
    if (await fetch(url).then((r) => r.status < 500, () => false)) return logs;
    if (Date.now() > deadline) throw new Error(`${name} did not answer at ${url}:\n${logs.join("")}`);
    await new Promise((ok) => setTimeout(ok, 200));
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "tandem-quickstart-"));
  browser = await launch();
});

after(async () => {
  for (const child of servers) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
  }
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

test("the README's quickstart gives a streamed, shielded answer in a fresh Vite app", { timeout: 600_000 }, async () => {
  const started = Date.now();
  const { commands, files } = await quickstart();
  readmeFiles = files;
  assert.deepEqual(commands.slice(0, 2), ["pkg-scripts/build-package --pack", "pkg-scripts/serve-worker"]);

  // Step 1: the packed package (from the existing build), and the worker.
  const packed = join(dir, "pkg");
  await mkdir(packed);
  execFileSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", packed], { cwd: join(ROOT, "www/tandem-web") });
  workerPort = await freePort();
  await serve("pkg-scripts/serve-worker", join(ROOT, "pkg-scripts/serve-worker"), [String(workerPort)], { cwd: ROOT, url: `http://127.0.0.1:${workerPort}/health` });

  // Step 2: a new folder, with the README's commands.
  app = join(dir, "app");
  await mkdir(app);
  for (const command of commands.slice(2)) {
    const line = command.replace("~/.cache/tandem/pkg/", `${packed}/`);
    execFileSync("bash", ["-c", line], { cwd: app, stdio: "pipe" });
  }

  // Step 3: the three files, the worker's port aside.
  for (const f of files) await writeFile(join(app, f.name), f.body.replaceAll("127.0.0.1:8787", `127.0.0.1:${workerPort}`));
  const setupMs = Date.now() - started;

  // Step 4: `npx vite`, and the page in Chromium.
  const vitePort = await freePort();
  await serve("npx vite", "npx", ["vite", "--port", String(vitePort), "--strictPort", "--host", "127.0.0.1"], { cwd: app, url: `http://127.0.0.1:${vitePort}/` });
  const answer = await shieldedAnswer(`http://127.0.0.1:${vitePort}/`);
  console.log(`quickstart: setup ${(setupMs / 1000).toFixed(1)} s, answer after ${((Date.now() - started) / 1000).toFixed(1)} s in all: ${answer}`);
});

test("the same page bundled with esbuild as the package's README says: worker entry, wasm copied, both passed by URL", { timeout: 600_000 }, async () => {
  assert.ok(app, "needs the quickstart's app");
  const main = readmeFiles.find((f) => f.name === "main.js").body.replaceAll("127.0.0.1:8787", `127.0.0.1:${workerPort}`);
  const options = `token: "dev-token", workerScript: "/tandem-worker.js", wasm: "/tandem.wasm" }`;
  assert.ok(main.includes(`token: "dev-token" }`));
  await writeFile(join(app, "main.js"), main.replace(`token: "dev-token" }`, options));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "esbuild@0.28"], { cwd: app, stdio: "pipe" });
  for (const line of [
    "npx esbuild main.js --bundle --format=esm --outdir=dist",
    "npx esbuild @tandem/web/worker --bundle --format=esm --outfile=dist/tandem-worker.js",
    "cp node_modules/@tandem/web/dist/wasm/tandem_wasm_bg.wasm dist/tandem.wasm",
  ]) {
    execFileSync("bash", ["-c", line], { cwd: app, stdio: "pipe" });
  }
  await writeFile(join(app, "dist/index.html"), readmeFiles.find((f) => f.name === "index.html").body);
  const site = await serveStatic(join(app, "dist"), 0);
  try {
    const answer = await shieldedAnswer(`http://127.0.0.1:${site.address().port}/`);
    console.log(`esbuild: ${answer}`);
  } finally {
    // Without closing its kept-alive connections, close() waits for Chromium to drop them.
    site.closeAllConnections();
    await new Promise((ok) => site.close(ok));
  }
});

/** Opens the page at `url`; asserts the answer streams in restored and nothing leaves unshielded. */
async function shieldedAnswer(url) {
  const page = await browser.context.newPage();
  const errors = watchErrors(page);
  const sent = [];
  const capture = (req) => sent.push({ url: req.url(), body: req.postData() ?? "" });
  browser.context.on("request", capture);
  try {
    await page.goto(url);
    await page.locator("#answer[data-done='true']").waitFor({ timeout: 120_000 });
  } finally {
    browser.context.off("request", capture);
  }
  const answer = await page.locator("#answer").textContent();
  assert.match(answer, new RegExp(EMAIL.replaceAll(".", "\\.")), "the streamed answer has the e-mail restored");
  const chats = sent.filter((s) => s.url.endsWith("/v1/chat/completions"));
  assert.equal(chats.length, 1, sent.map((s) => s.url).join(", "));
  assert.match(chats[0].body, /\[EMAIL_1\]/);
  for (const s of sent) assert.ok(!s.body.includes(EMAIL), `the e-mail left the page in ${s.url}`);
  assert.deepEqual(errors, []);
  await page.close();
  return answer;
}
