// `tandem serve` under abuse, on loopback: a full target queue, jobs past their deadline, idle
// connections (before and after a request), slowloris headers and bodies, and running out of
// file descriptors. After each, the server must still answer. Needs target/debug/tandem and smollm2-135m from pkg-scripts/setup.
import { test } from "node:test";
import assert from "node:assert/strict";
import { get } from "node:http";
import { connect } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { startServer } from "../support/process.mjs";
import { freePort } from "../support/workerd.mjs";
import { startNative } from "../support/gateway.mjs";

const TANDEM = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache", "tandem", "target"), "debug", "tandem");
const TARGET = "smollm2-135m";
const GATEWAY = {
  upstreams: [{ name: "nowhere", base_url: "http://127.0.0.1:9/v1", models: { m: "m" } }],
  allow_anonymous: true,
};
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Opens a raw TCP connection to `port` and resolves once it is connected. */
function open(port) {
  return new Promise((ok, fail) => {
    const socket = connect(port, "127.0.0.1", () => ok(socket));
    socket.on("error", fail);
  });
}

/** Resolves true when `socket` is closed by the other side within `ms`. */
function closedWithin(socket, ms) {
  return new Promise((ok) => {
    if (socket.closed) return ok(true);
    const timer = setTimeout(() => ok(false), ms);
    socket.on("close", () => (clearTimeout(timer), ok(true)));
    socket.on("error", () => {});
  });
}

/**
 * GET /health on a fresh connection (a pooled keep-alive one may be closed by the server's
 * header timeout just as it is reused), failing after `ms`.
 */
function health(url, ms = 3000) {
  return new Promise((ok, fail) => {
    const req = get(`${url}/health`, { agent: false, timeout: ms }, (res) => {
      res.resume();
      ok(res.statusCode);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${ms} ms`)));
    req.on("error", fail);
  });
}

test("a full target queue answers 503 with Retry-After, a job past its deadline 504, and serving goes on", async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startServer({
    name: "tandem serve --target",
    command: TANDEM,
    args: ["serve", "--target", TARGET, "--listen", `127.0.0.1:${port}`, "--queue-depth", "2", "--job-deadline-s", "1"],
    healthUrl: `${url}/health`,
    startupMs: 60_000,
  });
  try {
    // Each job generates 256 tokens (seconds in a debug build): one runs, two wait, the rest are refused.
    const body = JSON.stringify({ model: TARGET, prompt: "Count from one to one thousand:", max_tokens: 256, temperature: 0 });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body }),
      ),
    );
    const statuses = answers.map((r) => r.status).sort();
    assert.ok(statuses.every((s) => [200, 503, 504].includes(s)), `${statuses}`);
    assert.ok(statuses.includes(200), `${statuses}`);
    assert.ok(statuses.filter((s) => s === 503).length >= 6, `${statuses}`);
    assert.ok(statuses.includes(504), `a job that waited past 1 s expired: ${statuses}`);
    for (const r of answers.filter((r) => r.status === 503)) {
      assert.equal(r.headers.get("retry-after"), "1");
      assert.equal((await r.json()).error.code, "target_busy");
    }
    const again = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: TARGET, prompt: "Hi", max_tokens: 2, temperature: 0 }),
    });
    assert.equal(again.status, 200);
    assert.equal(server.exited, null);
  } finally {
    await server.close();
  }
});

test("2,000 idle connections and slowloris clients neither stop serving nor stay open", async () => {
  const server = await startNative({ gateway: GATEWAY, args: ["--header-timeout-s", "2", "--body-timeout-s", "2"] });
  const port = Number(new URL(server.url).port);
  const sockets = [];
  try {
    for (let i = 0; i < 2000; i++) sockets.push(await open(port));
    // Slowloris: headers one byte at a time, never finished.
    const loris = await Promise.all(Array.from({ length: 20 }, () => open(port)));
    const drip = setInterval(() => loris.forEach((s) => s.writable && s.write("X")), 200);
    loris.forEach((s) => s.write("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    // A slow body: headers complete, the body never arrives.
    const slowBody = await open(port);
    let slowReply = "";
    slowBody.on("data", (d) => (slowReply += d));
    slowBody.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{");
    try {
      assert.equal(await health(server.url), 200, "served while 2,000 connections idle");
      const closed = await Promise.all([...sockets, ...loris].map((s) => closedWithin(s, 6000)));
      assert.equal(closed.filter(Boolean).length, closed.length, "idle and slowloris connections are closed by the server");
      assert.ok(await closedWithin(slowBody, 6000));
      assert.match(slowReply, /^HTTP\/1.1 408/);
      assert.match(slowReply, /request_timeout/);
    } finally {
      clearInterval(drip);
      loris.forEach((s) => s.destroy());
      slowBody.destroy();
    }
    assert.equal(await health(server.url), 200);
    assert.equal(server.exited, null);
  } finally {
    sockets.forEach((s) => s.destroy());
    await server.close();
  }
});

test("a keep-alive connection left idle after its request is closed by the server", async () => {
  const server = await startNative({ gateway: GATEWAY, args: ["--idle-timeout-s", "2"] });
  const port = Number(new URL(server.url).port);
  const socket = await open(port);
  try {
    let reply = "";
    socket.on("data", (d) => (reply += d));
    socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    while (!reply.includes("\r\n\r\n")) await sleep(20);
    assert.match(reply, /^HTTP\/1.1 200/);
    assert.ok(!/connection: close/i.test(reply), "the connection was kept alive");
    assert.ok(await closedWithin(socket, 6000), "closed after 2 s without a byte");
    assert.equal(await health(server.url), 200);
  } finally {
    socket.destroy();
    await server.close();
  }
});

test("running out of file descriptors is logged and survived", async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = await import("node:fs/promises").then((fs) => fs.mkdtemp(join((process.env.TMPDIR ?? "/tmp"), "tandem-emfile-")));
  const config = join(dir, "gateway.json");
  await import("node:fs/promises").then((fs) => fs.writeFile(config, JSON.stringify(GATEWAY)));
  const server = await startServer({
    name: "tandem serve (ulimit -n 64)",
    command: "bash",
    args: ["-c", `ulimit -n 64 && exec "$0" serve --config "$1" --listen 127.0.0.1:${port}`, TANDEM, config],
    healthUrl: `${url}/health`,
  });
  const sockets = [];
  try {
    for (let i = 0; i < 100; i++) sockets.push(await open(port));
    await sleep(300);
    assert.equal(server.exited, null, "the process is still running");
    sockets.forEach((s) => s.destroy());
    await sleep(300);
    assert.equal(await health(url), 200);
    assert.ok(server.logs.some((l) => l.includes('"accept_error"')), "the accept error was logged");
  } finally {
    sockets.forEach((s) => s.destroy());
    await server.close();
  }
});
