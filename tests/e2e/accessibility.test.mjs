// An automated accessibility check (axe-core, run in the page) of the hosted
// challenge page in its main states and of the portal's main pages: no
// serious or critical violation of WCAG 2 A/AA rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { authsignal, uid, BASE, MGMT_SECRET, configure } from "./lib.mjs";
import { useBrowserDemo } from "./browser-kit.mjs";
import { ROOT } from "./harness.mjs";

const demo = useBrowserDemo();
const AXE = join(ROOT, "node_modules", "axe-core", "axe.min.js");

/** Serious and critical violations on the page as it is now. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

async function page() {
  // axe is injected as a script, which the pages' own policy would refuse.
  const context = await demo.browser.newContext({ bypassCSP: true });
  return { context, page: await context.newPage() };
}

test("the challenge page: choosing a method, entering a code, a dead end, a bad link", async () => {
  await configure("a11y-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP", "AUTHENTICATOR_APP"] });
  const user = uid("a11y");
  const t = await authsignal.track({ userId: user, action: "a11y-action" });
  const { context, page: p } = await page();
  try {
    await p.goto(t.url);
    await p.waitForSelector("#methods:not([hidden])");
    assert.deepEqual(await violations(p), [], "methods");
    await p.check("input[value=AUTHENTICATOR_APP]");
    await p.waitForSelector("#code-form:not([hidden])");
    assert.deepEqual(await violations(p), [], "authenticator app enrollment and code");

    await configure("a11y-dead-end", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["PASSKEY", "AUTHENTICATOR_APP"] });
    const other = uid("a11y-dead");
    await authsignal.enrollVerifiedAuthenticator({ userId: other, attributes: { verificationMethod: "EMAIL_OTP", email: `${other}@example.com` } });
    const dead = await authsignal.track({ userId: other, action: "a11y-dead-end" });
    await p.goto(dead.url);
    await p.waitForSelector("#back:not([hidden])");
    assert.deepEqual(await violations(p), [], "dead end");

    await p.goto(`${BASE}/challenge?token=nope`);
    await p.waitForSelector("#back:not([hidden])");
    assert.deepEqual(await violations(p), [], "bad link");
  } finally {
    await context.close();
  }
});

test("the portal's main pages", async () => {
  const { context, page: p } = await page();
  try {
    await p.goto(`${BASE}/__actiongate/admin`);
    await p.waitForSelector("#sign-in:not([hidden])");
    assert.deepEqual(await violations(p), [], "sign-in");
    await p.fill("#secret", MGMT_SECRET);
    await p.click("#sign-in button");
    await p.waitForSelector("#nav:not([hidden])");
    for (const [hash, ready] of [["#/actions", "#actions"], ["#/actions/withdraw-funds", "#versions"], ["#/lists", "#lists"],
      ["#/lists/sanctioned-accounts", "#list-items"], ["#/reviews", "#reviewer"], ["#/users", "#user-id"], ["#/analytics", "#analytics-action"]]) {
      await p.goto(`${BASE}/__actiongate/admin${hash}`);
      await p.waitForSelector(ready);
      assert.deepEqual(await violations(p), [], hash);
    }
    // The version diff and an open confirmation, too.
    await p.goto(`${BASE}/__actiongate/admin#/actions/withdraw-funds`);
    await p.waitForSelector("#versions");
    if (await p.locator(".show-version").count()) {
      await p.locator(".show-version").first().click();
      await p.waitForSelector("#version-diff");
      assert.deepEqual(await violations(p), [], "version diff");
    }
    await p.locator(".delete-rule").first().click();
    await p.waitForSelector(".confirm");
    assert.deepEqual(await violations(p), [], "delete confirmation");
    await p.click(".confirm-no");
  } finally {
    await context.close();
  }
});
