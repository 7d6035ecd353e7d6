// What the browser tests share: headless Chromium, the demo bank behind the
// worker with the demo configuration, a receiver for the worker's webhooks,
// and the app's own page using @authsignal/browser.
import assert from "node:assert/strict";
import { before, after } from "node:test";
import { createServer } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { mgmt } from "./lib.mjs";
import { ROOT, TEST_APP_PORT, WEBHOOK_PORT } from "./harness.mjs";
import { startBank } from "../../demo/bank.mjs";

export const SHOTS = join(ROOT, "test-artifacts", "screenshots");

/**
 * Start Chromium, the demo bank (configured as the worker's origin) and a
 * webhook receiver that answers 200 (tests read codes from the dev outbox).
 * @returns {Promise<{browser: import("playwright-core").Browser, bank: {url: string}, close: () => Promise<void>}>}
 */
export async function startBrowserDemo() {
  mkdirSync(SHOTS, { recursive: true });
  const webhooks = createServer((req, res) => { req.resume(); req.on("end", () => { res.writeHead(200); res.end("ok"); }); });
  await new Promise((r) => webhooks.listen(WEBHOOK_PORT, "127.0.0.1", r));
  const bank = await startBank(0);
  const doc = JSON.parse(readFileSync(join(ROOT, "config", "demo.json"), "utf8"));
  doc.proxy.originUrl = bank.url;
  const r = await mgmt("PUT", "/configuration", { body: doc });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const browser = await launchChromium();
  return {
    browser,
    bank,
    async close() {
      await browser.close();
      await bank.close();
      await new Promise((r) => webhooks.close(r));
    },
  };
}

/**
 * Debian's Chromium, headless. A launch that dies at once (Chromium has
 * crashed with SIGSEGV at start-up on this machine, before any page) is
 * tried again, twice at most; a browser that started is never retried.
 */
export async function launchChromium() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        // playwright-core gives each launch a fresh, empty profile directory.
      });
    } catch (e) {
      if (attempt >= 3 || !/has been closed|SIGSEGV/.test(String(e.message))) throw e;
      console.error(`chromium did not start (attempt ${attempt}): trying again`);
    }
  }
}

/**
 * The demo for one test file: started before its tests, closed after them.
 * The returned object gains `browser` and `bank` once started.
 */
export function useBrowserDemo() {
  const demo = {};
  before(async () => Object.assign(demo, await startBrowserDemo()));
  after(async () => demo.close?.());
  return demo;
}

/** The withdrawals the bank executed for `user`. */
export async function executed(bank, user) {
  const l = await (await fetch(`${bank.url}/api/ledger`)).json();
  return l.executed.filter((e) => e.user === user);
}

/**
 * Serve the app's own page using @authsignal/browser (bundled by esbuild, no
 * CDN) on TEST_APP_PORT, reached as http://<host>:<port>.
 */
export async function startTestApp(host = "127.0.0.1", port = TEST_APP_PORT) {
  const { build } = await import("esbuild");
  const bundle = await build({
    stdin: { contents: 'export { Authsignal } from "@authsignal/browser";', resolveDir: ROOT },
    bundle: true, format: "iife", globalName: "AuthsignalSDK", write: false, platform: "browser",
  });
  const js = bundle.outputFiles[0].text;
  const html = `<!doctype html><meta charset="utf-8"><title>App</title><script src="/sdk.js"></script><body><h1>My app</h1></body>`;
  const server = createServer((req, res) => {
    if (req.url === "/sdk.js") { res.writeHead(200, { "Content-Type": "text/javascript" }); res.end(js); return; }
    res.writeHead(200, { "Content-Type": "text/html" }); res.end(html);
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return { url: `http://${host}:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

/**
 * The recovery codes the hosted page shows once, after a person's first
 * factor: read them and go on ("I've saved them"), as a person would.
 */
export async function saveRecoveryCodes(where) {
  // A page, a frame or a frame locator: each has locator().
  await where.locator("#recovery:not([hidden])").waitFor();
  const codes = (await where.locator("#recovery-codes li").allTextContents()).map((s) => s.trim());
  await where.locator("#recovery-saved").click();
  return codes;
}
