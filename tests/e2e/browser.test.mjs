// A person in headless Chromium (Debian's chromium, driven by playwright-core)
// using the demo bank through ActionGate: a challenged withdrawal, the hosted
// challenge page with authenticator-app enrollment, back at the bank with the
// withdrawal done exactly once. Screenshots go to test-artifacts/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { mgmt, uid, BASE, totpCode } from "./lib.mjs";
import { ROOT } from "./harness.mjs";
import { startBank } from "../../demo/bank.mjs";

const SHOTS = join(ROOT, "test-artifacts", "screenshots");
let bank;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  bank = await startBank(0);
  const doc = JSON.parse(readFileSync(join(ROOT, "config", "demo.json"), "utf8"));
  doc.proxy.originUrl = bank.url;
  const r = await mgmt("PUT", "/configuration", { body: doc });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    // playwright-core gives each launch a fresh, empty profile directory.
  });
});
after(async () => {
  await browser?.close();
  await bank?.close();
});

async function executed(user) {
  const l = await (await fetch(`${bank.url}/api/ledger`)).json();
  return l.executed.filter((e) => e.user === user);
}

test("a challenged withdrawal: enroll an authenticator app on the hosted page, then the bank executes it once", async () => {
  const user = uid("browser");
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } }); // a phone
  const page = await context.newPage();
  const resumes = [];
  page.on("request", (r) => { if (r.url().includes("/__actiongate/resume")) resumes.push(r.url()); });
  await page.goto(`${BASE}/login?user=${user}`);
  assert.match(await page.textContent("body"), new RegExp(`Signed in as ${user}`));
  await page.screenshot({ path: join(SHOTS, "01-bank-home.png"), fullPage: true });

  // 5,000 is over the large-withdrawal threshold: challenged.
  await page.fill("input[name=amount]", "5000");
  await page.fill("input[name=to]", "NZ-0201-7654321-00");
  await Promise.all([page.waitForURL(/\/challenge\?token=/), page.click("form[action='/withdraw'] button")]);
  await page.waitForSelector("#secret:not(:empty)");
  assert.equal(await page.textContent("#message"), "Please confirm your withdrawal of 5000 to NZ-0201-7654321-00");
  assert.ok(await page.isVisible("#qr svg"), "the QR code is drawn without external services");
  await page.screenshot({ path: join(SHOTS, "02-challenge-enroll.png"), fullPage: true });

  // A wrong code: an inline error, focus back on the input.
  const secret = (await page.textContent("#secret")).trim();
  const right = totpCode(secret);
  await page.fill("#code", right === "000000" ? "111111" : "000000");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#code-error:not(:empty)");
  assert.match(await page.textContent("#code-error"), /not right/);
  assert.equal(await page.evaluate(() => document.activeElement.id), "code");
  await page.screenshot({ path: join(SHOTS, "03-challenge-wrong-code.png"), fullPage: true });
  assert.equal((await executed(user)).length, 0);

  // The right code: back at the bank, the withdrawal done.
  await page.fill("#code", totpCode(secret));
  await Promise.all([page.waitForURL((u) => u.pathname === "/" && u.searchParams.has("msg")), page.keyboard.press("Enter")]);
  assert.match(await page.textContent(".msg"), /Withdrew \$5000 to NZ-0201-7654321-00/);
  assert.match(await page.textContent("#balance"), /\$995,000/);
  await page.screenshot({ path: join(SHOTS, "04-bank-after-withdrawal.png"), fullPage: true });
  const done = await executed(user);
  assert.deepEqual(done.map((d) => [d.amount, d.state]), [[5000, "CHALLENGE_SUCCEEDED"]]);

  // Going back to the return link replays nothing.
  assert.equal(resumes.length, 1);
  const again = await page.goto(resumes[0]);
  assert.equal(again.status(), 403);
  assert.match(await page.textContent("body"), /already used/);
  await page.screenshot({ path: join(SHOTS, "05-resume-link-reused.png"), fullPage: true });
  assert.equal((await executed(user)).length, 1, "exactly once");
  await context.close();
});

test("the page works by keyboard alone and says when a link is bad", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE}/challenge?token=not-a-token`);
  await page.waitForFunction(() => document.getElementById("status").textContent !== "Loading…");
  assert.match(await page.textContent("#status"), /not valid|malformed|token/i);
  await page.goto(`${BASE}/challenge`);
  await page.waitForFunction(() => /no token/.test(document.getElementById("status").textContent));
  await page.screenshot({ path: join(SHOTS, "06-challenge-bad-link.png") });
  await context.close();
});
