// The admin portal in headless Chromium: sign in with the management secret,
// change an action's default outcome and see track follow it, preview a
// message template, add a rule and simulate it, import a value list from CSV,
// approve a review, look at a user's history and the analytics chart. And the
// management API's guard: no credentials, cross-site requests and cookie
// requests without the CSRF token are refused on every endpoint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { authsignal, uid, BASE, MGMT_SECRET, basic, configure } from "./lib.mjs";
import { SHOTS, useBrowserDemo } from "./browser-kit.mjs";

const demo = useBrowserDemo();
const ADMIN = `${BASE}/__actiongate/admin`;

async function signIn(page) {
  await page.goto(ADMIN);
  await page.waitForSelector("#sign-in:not([hidden])");
  await page.fill("#secret", "not-the-secret");
  await page.click("#sign-in button");
  await page.waitForSelector("#sign-in-error:not(:empty)");
  assert.match(await page.textContent("#sign-in-error"), /not the management secret/);
  await page.fill("#secret", MGMT_SECRET);
  await page.click("#sign-in button");
  await page.waitForSelector("#nav:not([hidden])");
}

test("the portal: sign in, configure an action and see track follow, rules and simulate, lists, reviews, users, analytics", async () => {
  const context = await demo.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const action = `portal-${uid("x").slice(-8)}`;
  try {
    await signIn(page);
    await page.waitForSelector("#actions");
    await page.screenshot({ path: join(SHOTS, "30-admin-actions.png"), fullPage: true });

    // A new action, allowed by default; track says ALLOW.
    await page.fill("#new-code", action);
    await page.selectOption("#new-outcome", "ALLOW");
    await page.click("#new-action button");
    await page.waitForSelector("#config");
    assert.equal((await authsignal.track({ userId: uid("p"), action })).state, "ALLOW");

    // Change the default outcome to BLOCK, with a message template previewed live.
    await page.selectOption("#outcome", "BLOCK");
    await page.fill("#template", "Confirm your transfer of {{action.custom.amount}}");
    assert.equal(await page.textContent("#preview"), "Confirm your transfer of 5000");
    await page.fill("#sample", JSON.stringify({ action: { custom: { amount: "<b>5</b>" } } }));
    assert.equal(await page.textContent("#preview"), "Confirm your transfer of <b>5</b>", "values are text, not HTML");
    assert.equal(await page.locator("#preview b").count(), 0);
    await page.fill("#sample", "{}");
    assert.match(await page.textContent("#preview"), /no message/);
    await page.click("#save");
    await page.waitForSelector("#config .ok");
    await page.screenshot({ path: join(SHOTS, "31-admin-action.png"), fullPage: true });
    assert.equal((await authsignal.track({ userId: uid("p"), action })).state, "BLOCK");

    // A rule, saved from the JSON editor; an invalid one is refused with its problem.
    await page.fill("#rule-id", "big");
    await page.fill("#rule-json", JSON.stringify({ name: "Big", priority: 1, type: "CHALLENGE", conditions: { ">": [{ var: "action.custom.amount" }, 100] } }));
    await page.click("#save-rule");
    await page.waitForSelector("#rules td:text('big')");
    await page.fill("#rule-id", "broken");
    await page.fill("#rule-json", JSON.stringify({ name: "Broken", priority: 2, type: "MAYBE", conditions: {} }));
    await page.click("#save-rule");
    await page.waitForSelector("#rule-form .error:not(:empty)");
    assert.match(await page.textContent("#rule-form .error"), /type/);
    // Simulate it.
    await page.fill("#sim-attrs", JSON.stringify({ custom: { amount: 500 } }));
    await page.click("#simulate button");
    await page.waitForSelector("#sim-state");
    assert.equal(await page.textContent("#sim-state"), "CHALLENGE_REQUIRED");
    await page.screenshot({ path: join(SHOTS, "32-admin-rule-simulate.png"), fullPage: true });
    const tracked = await authsignal.track({ userId: uid("p"), action, attributes: { custom: { amount: 500 } } });
    assert.equal(tracked.state, "CHALLENGE_REQUIRED");

    // A value list from CSV.
    await page.goto(`${ADMIN}#/lists`);
    await page.waitForSelector("#list-form");
    const alias = `portal-list-${uid("l").slice(-6)}`;
    await page.fill("#list-alias", alias);
    await page.fill("#list-csv", 'account,reason\n"NZ-1, main",fraud\nNZ-2,mule\n\nNZ-3,test\n');
    await page.check("#list-header");
    await page.click("#list-form button");
    await page.waitForSelector(`#lists td:text('${alias}')`);
    const row = page.locator("#lists tr", { hasText: alias });
    assert.equal(await row.locator("td").nth(3).textContent(), "foldWidth, trim, caseFold", "how it matches is shown");
    assert.equal(await row.locator("td").nth(4).textContent(), "3");

    // A review, approved from the queue.
    await configure("portal-review", { defaultUserActionResult: "REVIEW" });
    const reviewed = uid("rev");
    const held = await authsignal.track({ userId: reviewed, action: "portal-review", attributes: { custom: { amount: 12000 } } });
    for (let i = 0; ; i++) {
      await page.goto(`${ADMIN}#/reviews`);
      await page.waitForSelector("#reviewer");
      if (await page.locator(`#reviews tr[data-user="${reviewed}"]`).count()) break;
      assert.ok(i < 50, "the review reached the queue");
      await page.waitForTimeout(200);
    }
    await page.fill("#reviewer", "ops@bank.example");
    const mine = page.locator(`#reviews tr[data-user="${reviewed}"]`);
    await mine.locator("input").fill("checked with the customer");
    await page.screenshot({ path: join(SHOTS, "33-admin-reviews.png"), fullPage: true });
    await mine.locator("button.approve").click();
    await page.waitForSelector("#view .ok");
    const approved = await authsignal.getAction({ userId: reviewed, action: "portal-review", idempotencyKey: held.idempotencyKey });
    assert.equal(approved.state, "REVIEW_SUCCEEDED");
    assert.deepEqual(approved.history.at(-1).cause, { type: "REVIEW", reviewer: "ops@bank.example", note: "checked with the customer" });

    // The user's page shows that history, and the factors the app's server added.
    await authsignal.enrollVerifiedAuthenticator({ userId: reviewed, attributes: { verificationMethod: "EMAIL_OTP", email: `${reviewed}@example.com` } });
    await page.goto(`${ADMIN}#/users/${encodeURIComponent(reviewed)}`);
    await page.waitForSelector("#user-actions ol.history li");
    assert.match(await page.textContent("#user-actions"), /reviewed by ops@bank\.example: checked with the customer/);
    assert.match(await page.textContent("#authenticator-changes"), /added\s*EMAIL_OTP.*the app's server/s);
    await page.screenshot({ path: join(SHOTS, "34-admin-user.png"), fullPage: true });

    // The analytics chart for the action tracked above (counts arrive from the outboxes).
    for (let i = 0; ; i++) {
      await page.goto(`${ADMIN}#/analytics/${action}`);
      await page.waitForSelector("#analytics, #view .error");
      if (await page.locator("#chart rect.bar").count() >= 2) break;
      assert.ok(i < 50, "the chart has bars");
      await page.waitForTimeout(300);
    }
    assert.ok(await page.locator("#chart rect.bar.BLOCK").count() >= 1);
    assert.equal(await page.locator("#chart-success").count(), 1);
    assert.equal(await page.locator("#chart-median").count(), 1);
    await page.screenshot({ path: join(SHOTS, "35-admin-analytics.png"), fullPage: true });

    // Signing out ends the session.
    await page.click("#sign-out");
    await page.waitForSelector("#sign-in:not([hidden])");
    const after = await page.evaluate(async () => (await fetch("/v1/management/action-configurations")).status);
    assert.equal(after, 401);
  } finally {
    await context.close();
  }
});

const ENDPOINTS = [
  ["GET", "/action-configurations"],
  ["GET", "/action-configurations/guard-x"], ["PUT", "/action-configurations/guard-x"], ["DELETE", "/action-configurations/guard-x"],
  ["GET", "/action-configurations/guard-x/rules"], ["POST", "/action-configurations/guard-x/rules"],
  ["GET", "/action-configurations/guard-x/rules/r"], ["PUT", "/action-configurations/guard-x/rules/r"], ["DELETE", "/action-configurations/guard-x/rules/r"],
  ["GET", "/value-lists"], ["GET", "/value-lists/guard-l"], ["PUT", "/value-lists/guard-l"], ["DELETE", "/value-lists/guard-l"],
  ["POST", "/simulate"], ["POST", "/configuration/validate"], ["PUT", "/configuration"],
  ["GET", "/reviews"], ["POST", "/reviews/u/guard-x/k"], ["GET", "/analytics"], ["GET", "/users/u"],
];

test("every management endpoint refuses no credentials, cross-site requests, and cookies without the CSRF token", async () => {
  const send = (method, path, headers = {}) =>
    fetch(`${BASE}/v1/management${path}`, {
      method,
      headers: { "Content-Type": "application/json", ...headers },
      body: method === "GET" || method === "DELETE" ? undefined : "{}",
    });
  // A session, as the portal gets one.
  const s = await fetch(`${BASE}/__actiongate/admin/session`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ secret: MGMT_SECRET }),
  });
  assert.equal(s.status, 200);
  const cookie = s.headers.get("set-cookie").split(";")[0];
  assert.match(s.headers.get("set-cookie"), /HttpOnly; SameSite=Strict/);
  const { csrfToken } = await s.json();

  for (const [method, path] of ENDPOINTS) {
    const what = `${method} ${path}`;
    let r = await send(method, path);
    assert.equal(r.status, 401, `${what} without credentials`);
    r = await send(method, path, { Authorization: basic(MGMT_SECRET), Origin: "https://evil.example" });
    assert.equal(r.status, 403, `${what} from another origin`);
    assert.equal((await r.json()).errorCode, "cross_site_request");
    r = await send(method, path, { Authorization: basic(MGMT_SECRET), "Sec-Fetch-Site": "cross-site" });
    assert.equal(r.status, 403, `${what} marked cross-site`);
    r = await send(method, path, { Cookie: cookie });
    assert.equal(r.status, 403, `${what} with the cookie but no CSRF token`);
    assert.equal((await r.json()).errorCode, "csrf_token_missing");
    r = await send(method, path, { Cookie: cookie, "X-ActionGate-CSRF": "wrong" });
    assert.equal(r.status, 403, `${what} with a wrong CSRF token`);
    r = await send(method, path, { Cookie: cookie, "X-ActionGate-CSRF": csrfToken, "Sec-Fetch-Site": "cross-site" });
    assert.equal(r.status, 403, `${what} cross-site even with the token`);
  }
  // With both, the portal's requests go through.
  const ok = await send("GET", "/action-configurations", { Cookie: cookie, "X-ActionGate-CSRF": csrfToken, "Sec-Fetch-Site": "same-origin" });
  assert.equal(ok.status, 200);
  // Signing in from another site, or with the wrong secret, is refused.
  let r = await fetch(`${BASE}/__actiongate/admin/session`, {
    method: "POST", headers: { "Content-Type": "application/json", Origin: "https://evil.example" }, body: JSON.stringify({ secret: MGMT_SECRET }),
  });
  assert.equal(r.status, 403);
  r = await fetch(`${BASE}/__actiongate/admin/session`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ secret: "guess" }),
  });
  assert.equal(r.status, 401);
  // A forged cookie is no session.
  r = await send("GET", "/reviews", { Cookie: `${cookie.split("=")[0]}=forged.cookie`, "X-ActionGate-CSRF": csrfToken });
  assert.equal(r.status, 401);
});

test("a browser's held withdrawal: the person sees it is under review; approved in the portal, the bank runs it once; rejected, never", async () => {
  const context = await demo.browser.newContext();
  const person = await context.newPage();
  const admin = await context.newPage();
  const ledger = async (user) => (await (await fetch(`${demo.bank.url}/api/ledger`)).json()).executed.filter((e) => e.user === user);
  try {
    const user = uid("held");
    await person.goto(`${BASE}/login?user=${user}`);
    // 20,000 is over the demo's review threshold; the form route replays on approval.
    for (const amount of [20000, 21000]) {
      await person.fill("input[name=amount]", String(amount));
      await person.fill("input[name=to]", "NZ-0201-9999999-00");
      await Promise.all([person.waitForURL(/\/__actiongate\/outcome\?token=/), person.click("form[action='/withdraw'] button")]);
      assert.match(await person.textContent("body"), /held for a check.*carried out without anything more from you/s);
      // Reloading the page submits nothing again.
      const reloaded = await person.reload();
      assert.equal(reloaded.status(), 200);
      assert.match(await person.textContent("h1"), /Under review/);
      if (amount === 20000) await person.screenshot({ path: join(SHOTS, "36-under-review.png") });
      await person.goto(`${BASE}/`);
    }
    assert.equal((await ledger(user)).length, 0);

    await signIn(admin);
    const rows = admin.locator(`#reviews tr[data-user="${user}"]`);
    for (let i = 0; ; i++) {
      await admin.goto(`${ADMIN}#/reviews`);
      await admin.waitForSelector("#reviewer");
      if (await rows.count() === 2) break;
      assert.ok(i < 50, "both withdrawals reached the queue");
      await admin.waitForTimeout(200);
    }
    await admin.fill("#reviewer", "ops@bank.example");
    // Oldest first: approve the 20,000, reject the 21,000.
    assert.match(await rows.nth(0).textContent(), /amount\s*20,000/);
    await rows.nth(0).locator("button.approve").click();
    await admin.waitForSelector("#view .ok");
    await rows.nth(0).locator("button.reject").click();
    await admin.waitForFunction(() => document.querySelector("#view [role=status]").textContent.includes("REVIEW_FAILED"));

    for (let i = 0; (await ledger(user)).length === 0; i++) {
      assert.ok(i < 100, "the approved withdrawal reached the bank");
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const done = await ledger(user);
    assert.deepEqual(done.map((e) => [e.amount, e.state]), [[20000, "REVIEW_SUCCEEDED"]], "once, and only the approved one");
    await person.goto(`${BASE}/`);
    assert.match(await person.textContent("#balance"), /\$980,000/);
    await person.screenshot({ path: join(SHOTS, "37-bank-after-approval.png") });
  } finally {
    await context.close();
  }
});
