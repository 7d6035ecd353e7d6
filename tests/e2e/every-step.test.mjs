// A challenged withdrawal in headless Chromium, disturbed at every step the
// way people do: reload, back, the tab closed and the link opened again. At
// no step does the bank run the withdrawal early, and in the end it runs it
// exactly once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { uid, BASE } from "./lib.mjs";
import { SHOTS, useBrowserDemo, executed as executedAt, saveRecoveryCodes } from "./browser-kit.mjs";

const demo = useBrowserDemo();
const executed = (user) => executedAt(demo.bank, user);

/** Choose the emailed code and ask for it (a code sent moments ago is kept, and the page says to use it). */
async function askForCode(page, user) {
  await page.waitForSelector("#methods:not([hidden])");
  await page.check("input[value=EMAIL_OTP]");
  await page.waitForSelector("#email-form:not([hidden])");
  await page.fill("#email", `${user}@example.com`);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#code-form:not([hidden])");
}

async function enterCode(page, user) {
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  const sent = outbox.filter((m) => m.data.to === `${user}@example.com`);
  assert.equal(sent.length, 1, "one code was sent, however often the page asked");
  await page.fill("#code", sent[0].data.code);
  await page.keyboard.press("Enter");
}

test("reload, back and close at every step of a challenged withdrawal: nothing runs early, and the bank runs it exactly once", async () => {
  const user = uid("browser-steps");
  const context = await demo.browser.newContext();
  let page = await context.newPage();
  const nothingYet = async (when) => assert.deepEqual(await executed(user), [], `nothing ran: ${when}`);
  const atBank = (u) => !u.pathname.startsWith("/challenge") && !u.pathname.startsWith("/__actiongate");
  try {
    await page.goto(`${BASE}/login?user=${user}`);
    await page.fill("input[name=amount]", "2700");
    await page.fill("input[name=to]", "NZ-0201-3333333-00");
    await Promise.all([page.waitForURL(/\/challenge\?token=/), page.click("form[action='/withdraw'] button")]);
    const challengeUrl = page.url();

    // 1. Choosing a method: reload; back to the bank; forward again.
    await page.waitForSelector("#methods:not([hidden])");
    await page.reload();
    await page.waitForSelector("#methods:not([hidden])");
    await page.goBack();
    await page.waitForURL(atBank);
    await nothingYet("back at the bank before verifying");
    await page.goForward();
    await page.waitForSelector("#methods:not([hidden])");

    // 2. A code sent: reload; then the tab closed and the link opened in a new one.
    await askForCode(page, user);
    await page.reload();
    await page.waitForSelector("#methods:not([hidden])");
    await page.close();
    page = await context.newPage();
    await page.goto(challengeUrl);
    await askForCode(page, user);
    assert.match(await page.textContent("#status"), /moments ago/);
    await nothingYet("a code sent");

    // 3. Verified: the recovery codes the first factor came with, then the
    // passkey offer: back to the bank, then the link again.
    await enterCode(page, user);
    await page.waitForSelector("#recovery:not([hidden])");
    await nothingYet("verified, recovery codes on screen");
    await saveRecoveryCodes(page);
    await page.waitForSelector("#prompt:not([hidden])");
    await nothingYet("verified, not yet back at the bank");
    await page.goBack();
    await page.waitForURL(atBank);
    await nothingYet("back from the passkey offer");
    await Promise.all([page.waitForURL((u) => u.pathname === "/" && u.searchParams.has("msg")), page.goto(challengeUrl)]);
    assert.match(await page.textContent(".msg"), /Withdrew \$2700/);
    assert.deepEqual((await executed(user)).map((d) => [d.amount, d.state]), [[2700, "CHALLENGE_SUCCEEDED"]]);

    // 4. Done: reload the bank's page, go back, open the link once more.
    await page.reload();
    await page.goBack();
    // The page sends a finished request on to the resume page at once,
    // which can interrupt the navigation that opened it.
    await Promise.all([
      page.waitForURL(/\/__actiongate\/resume/),
      page.goto(challengeUrl).catch((e) => { if (!/interrupted by another navigation/.test(e.message)) throw e; }),
    ]);
    await page.waitForSelector("h1");
    assert.equal(await page.textContent("h1"), "Already done");
    await page.screenshot({ path: join(SHOTS, "every-step-done.png"), fullPage: true });
    assert.equal((await executed(user)).length, 1, "exactly once");
  } finally {
    await context.close();
  }
});
