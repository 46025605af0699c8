// The guest side of TensorBoard's plugin IPC, driven with real MessageChannels the
// way TensorBoard's plugin-host-ipc does it.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

import { DATA_RELOADED, listenForReloads } from "../../frontend/host.js";

function fakeFrame() {
  const posted = [];
  const parent = { postMessage: (data, origin, ports) => posted.push({ data, origin, ports }) };
  return { win: { parent }, posted };
}

test("bootstraps with a port, answers every host message and reloads on DataReloaded", async () => {
  const { win, posted } = fakeFrame();
  let reloads = 0;
  const guestPort = listenForReloads(() => reloads++, win);
  assert.equal(posted.length, 1);
  assert.equal(posted[0].data, "experimental.bootstrap");
  const hostPort = posted[0].ports[0];
  hostPort.start?.();
  const replies = [];
  hostPort.onmessage = (event) => replies.push(JSON.parse(event.data));

  hostPort.postMessage(JSON.stringify({ type: "experimental.SomethingElse", id: 7, payload: null, error: null, isReply: false }));
  hostPort.postMessage(JSON.stringify({ type: DATA_RELOADED, id: 8, payload: null, error: null, isReply: false }));
  hostPort.postMessage("not json");
  hostPort.postMessage(JSON.stringify({ type: DATA_RELOADED, id: 9, payload: null, error: null, isReply: true }));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(reloads, 1);
  assert.deepEqual(replies, [
    { type: "experimental.SomethingElse", id: 7, payload: null, error: null, isReply: true },
    { type: DATA_RELOADED, id: 8, payload: null, error: null, isReply: true },
  ]);
  guestPort.close();
  hostPort.close();
});

test("outside a frame there is nobody to talk to", () => {
  const win = {};
  win.parent = win;
  assert.equal(listenForReloads(() => {}, win), null);
});

test("no frontend source parses strings as HTML", () => {
  const dir = new URL("../../frontend/", import.meta.url);
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".js"))) {
    const source = readFileSync(new URL(name, dir), "utf-8");
    for (const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]) {
      assert.ok(!source.includes(sink), `${name} uses ${sink}`);
    }
  }
});

test("every frontend module imports (a syntax error would leave a blank tab)", async () => {
  const dir = new URL("../../frontend/", import.meta.url);
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".js"))) {
    await import(new URL(name, dir));
  }
  const { render } = await import(new URL("index.js", dir));
  assert.equal(typeof render, "function");
});
