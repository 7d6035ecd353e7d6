// "Cancel this request" on the hosted page: the action is refused with its
// history saying the person cancelled, the person goes back to the app the
// way a verified one would, and nothing is carried out: the demo bank
// executes nothing, and reloading or reopening changes nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { authsignal, uid, BASE, configure, client, assertError } from "./lib.mjs";
import { SHOTS, useBrowserDemo, executed as executedBy } from "./browser-kit.mjs";

const demo = useBrowserDemo();
const executed = (user) => executedBy(demo.bank, user);

test("a withdrawal cancelled on the challenge page: refused, said so, the bank runs nothing", async () => {
  const user = uid("cancel");
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`${BASE}/login?user=${user}`);
    await page.fill("input[name=amount]", "4200");
    await page.fill("input[name=to]", "NZ-0201-3333333-00");
    await Promise.all([page.waitForURL(/\/challenge\?token=/), page.click("form[action='/withdraw'] button")]);
    const challengeUrl = page.url();
    await page.waitForSelector("#cancel-row:not([hidden])");
    await page.screenshot({ path: join(SHOTS, "08-challenge-cancel.png"), fullPage: true });
    await Promise.all([page.waitForURL(/\/__actiongate\/outcome/), page.click("#cancel")]);
    await page.waitForSelector("h1");
    assert.equal(await page.textContent("h1"), "Not completed");
    assert.match(await page.textContent("main"), /nothing was carried out/);
    assert.match(await page.textContent("#reference"), /^[A-Z0-9]{8}$/);
    assert.equal(await page.getAttribute("main a", "href"), "/", "a way back to the app");
    await page.screenshot({ path: join(SHOTS, "09-outcome-cancelled.png"), fullPage: true });
    await page.reload();
    await page.waitForSelector("h1");
    assert.equal(await page.textContent("h1"), "Not completed", "a reload submits nothing");
    assert.deepEqual(await executed(user), [], "the bank ran nothing");

    // The link opened again: nothing left to do, and still nothing runs.
    await page.goto(challengeUrl);
    await page.waitForSelector("#back:not([hidden])");
    assert.match(await page.textContent("#status"), /refused|nothing left|cancelled/i);
    assert.deepEqual(await executed(user), []);
  } finally {
    await context.close();
  }
});

test("cancelling through the Client API: CHALLENGE_FAILED with ABANDONED in the history, once; other states refused", async () => {
  await configure("cancel-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP"] });
  const user = uid("cancel-api");
  const t = await authsignal.track({ userId: user, action: "cancel-action" });
  let r = await client("/action/cancel", t.token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { state: "CHALLENGE_FAILED", cancelled: true });
  r = await client("/action/cancel", t.token);
  assert.deepEqual(r.body, { state: "CHALLENGE_FAILED", cancelled: true }, "asked again: the same answer");
  const a = await authsignal.getAction({ userId: user, action: "cancel-action", idempotencyKey: t.idempotencyKey });
  assert.equal(a.state, "CHALLENGE_FAILED");
  assert.deepEqual(a.history.filter((h) => h.cause.type === "ABANDONED").map((h) => [h.from, h.to]),
    [["CHALLENGE_REQUIRED", "CHALLENGE_FAILED"]], "recorded once");
  const v = await authsignal.validateChallenge({ token: t.token });
  assert.equal(v.state, "CHALLENGE_FAILED");
  assert.equal(v.isValid, false);
  // A code can no longer be asked for or checked.
  r = await client("/challenge/email-otp", t.token);
  assert.ok(r.status >= 400, JSON.stringify(r.body));

  // An allowed action cannot be cancelled (nothing to cancel).
  await configure("cancel-allowed", { defaultUserActionResult: "ALLOW" });
  const allowed = await authsignal.track({ userId: user, action: "cancel-allowed" });
  assertError(await client("/action/cancel", allowed.token), 400, "invalid_state_transition");
  const still = await authsignal.getAction({ userId: user, action: "cancel-allowed", idempotencyKey: allowed.idempotencyKey });
  assert.equal(still.state, "ALLOW");
});

test("the hosted page's Cancel goes back to the app's redirectUrl with the token, which validates as failed", async () => {
  await configure("cancel-page", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP"] });
  const user = uid("cancel-page");
  const t = await authsignal.track({ userId: user, action: "cancel-page", attributes: { redirectUrl: `${BASE}/__actiongate/admin?back=1` } });
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(t.url);
    await page.waitForSelector("#cancel-row:not([hidden])");
    await Promise.all([page.waitForURL((u) => u.searchParams.get("back") === "1"), page.click("#cancel")]);
    const token = new URL(page.url()).searchParams.get("token");
    const v = await authsignal.validateChallenge({ token });
    assert.equal(v.state, "CHALLENGE_FAILED");
    assert.equal(v.isValid, false);
  } finally {
    await context.close();
  }
});
