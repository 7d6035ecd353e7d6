// The portal as a risk analyst uses it all day, in Chromium: a rule built
// with the form (its JSON beside it), changed, rolled back from the history,
// deleted (asked first) and restored with Undo, every problem of a bad rule
// listed; value lists viewed, searched, edited and deleted; reviews with the
// deciding rule, readable attributes and duplicates flagged; the analytics
// opening on the busiest action; and every main page at 390×844 with
// nothing spilling sideways. What the API then decides is asserted through
// track, not only what the page shows.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { authsignal, uid, BASE, MGMT_SECRET, mgmt, configure } from "./lib.mjs";
import { SHOTS, useBrowserDemo } from "./browser-kit.mjs";

const demo = useBrowserDemo();
const ADMIN = `${BASE}/__actiongate/admin`;

async function signIn(page, name) {
  await page.goto(ADMIN);
  await page.waitForSelector("#sign-in:not([hidden])");
  await page.fill("#secret", MGMT_SECRET);
  await page.click("#sign-in button");
  await page.waitForSelector("#nav:not([hidden])");
  if (name) {
    await page.fill("#actor", name);
    await page.dispatchEvent("#actor", "change");
  }
}

const decide = async (action, amount) =>
  (await authsignal.track({ userId: uid("pt"), action, attributes: { custom: { amount } } })).state;

/** Wait until the rules section says something matching `re`. */
const told = (page, re) => page.waitForFunction((src) => new RegExp(src).test(document.querySelector("#rules-status")?.textContent ?? ""), re.source);

/** The rule editor's JSON, parsed. */
const ruleJson = async (page) => JSON.parse(await page.inputValue("#rule-json"));

test("rules: built with the form, changed, rolled back from the history, deleted and restored", async () => {
  const context = await demo.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const action = `form-${uid("x").slice(-8)}`;
  await configure(action, { defaultUserActionResult: "ALLOW" });
  try {
    await signIn(page, "Rita Risk");
    await page.goto(`${ADMIN}#/actions/${action}`);
    await page.waitForSelector("#rule-form");

    // Build: amount more than 1000 and email is not the VIP's, then CHALLENGE.
    await page.fill("#rule-id", "big-form");
    await page.fill("#rule-name", "Big withdrawal");
    await page.fill("#rule-priority", "3");
    await page.selectOption("#rule-type", "CHALLENGE");
    const rows = page.locator("#rule-conditions li.condition");
    assert.equal(await rows.count(), 1, "a new rule starts with one condition");
    await rows.nth(0).locator(".cond-point").selectOption("custom");
    await rows.nth(0).locator(".cond-path").fill("action.custom.amount");
    await rows.nth(0).locator(".cond-op").selectOption(">");
    await rows.nth(0).locator(".cond-value").fill("1000");
    await page.click("#add-condition");
    await rows.nth(1).locator(".cond-point").selectOption("user.email");
    await rows.nth(1).locator(".cond-op").selectOption("!=");
    await rows.nth(1).locator(".cond-value").fill("vip@bank.example");
    await page.selectOption("#rule-join", "and");
    const built = await ruleJson(page);
    assert.deepEqual(built.conditions, { and: [
      { ">": [{ var: "action.custom.amount" }, 1000] },
      { "!=": [{ var: "user.email" }, "vip@bank.example"] },
    ] }, "the JSON view follows the form, with a number typed as a number");
    assert.equal(built.priority, 3);
    assert.equal(built.name, "Big withdrawal");
    await page.screenshot({ path: join(SHOTS, "40-portal-rule-builder.png"), fullPage: true });
    await page.click("#save-rule");
    await told(page, /Saved rule big-form/);
    assert.equal(await decide(action, 5000), "CHALLENGE_REQUIRED");
    assert.equal(await decide(action, 5), "ALLOW");

    // Change it with the form: 10,000 and priority 7. Now 5,000 passes.
    await page.locator("#rules tr", { hasText: "big-form" }).locator(".edit-rule").click();
    assert.equal(await page.inputValue("#rule-id"), "big-form");
    assert.equal(await rows.count(), 2, "the saved conditions come back as rows");
    await rows.nth(0).locator(".cond-value").fill("10000");
    await page.fill("#rule-priority", "7");
    assert.equal(await page.textContent("#rules-status"), "", "editing starts without an old message");
    await page.click("#save-rule");
    await told(page, /Saved rule big-form/);
    assert.equal(await decide(action, 5000), "ALLOW");

    // The history shows the change with who made it; undo it.
    const changedRow = page.locator("#versions-table tr", { hasText: "changed rule big-form" });
    assert.match(await changedRow.textContent(), /Rita Risk \(portal\)/);
    await changedRow.locator(".show-version").click();
    await page.waitForSelector("#version-diff");
    const diff = await page.textContent("#version-diff");
    assert.match(diff, /rule big-form: priority: 3 → 7/);
    assert.match(diff, /rule big-form: conditions/);
    await page.screenshot({ path: join(SHOTS, "41-portal-version-diff.png"), fullPage: true });
    await page.click("#restore-before");
    await page.click(".confirm-yes");
    await told(page, /Undid version/);
    assert.equal(await decide(action, 5000), "CHALLENGE_REQUIRED", "rolled back: 1,000 decides again");

    // Delete asks first; Cancel keeps the rule.
    const del = page.locator("#rules tr", { hasText: "big-form" }).locator(".delete-rule");
    await del.click();
    await page.click(".confirm-no");
    assert.equal(await decide(action, 5000), "CHALLENGE_REQUIRED", "cancelled: nothing deleted");
    await del.click();
    await page.click(".confirm-yes");
    await told(page, /Deleted rule big-form/);
    await page.waitForSelector("#rules-status .undo");
    assert.equal(await decide(action, 5000), "ALLOW", "deleted");
    await page.click("#rules-status .undo");
    await told(page, /Rule big-form is back/);
    assert.equal(await decide(action, 5000), "CHALLENGE_REQUIRED", "restored by Undo");
    const rule = (await mgmt("GET", `/action-configurations/${action}/rules/big-form`)).body;
    assert.equal(rule.priority, 3);

    // JSON into the form: a list condition shows as a row; what the form
    // cannot show keeps the builder off and the JSON as it is.
    await page.fill("#rule-json", JSON.stringify({ name: "L", priority: 1, type: "BLOCK",
      conditions: { "!": { inValueList: [{ var: "action.custom.to" }, "sanctioned-accounts"] } } }));
    assert.equal(await rows.count(), 1);
    assert.equal(await rows.nth(0).locator(".cond-op").inputValue(), "not-in-list");
    await page.fill("#rule-json", JSON.stringify({ name: "L", priority: 1, type: "BLOCK",
      conditions: { if: [{ var: "a" }, true, false] } }));
    assert.match(await page.textContent("#rule-builder-note"), /edit them in the JSON/);
    assert.ok(await page.locator("#add-condition").isDisabled());
    await page.fill("#rule-name", "Kept");
    assert.deepEqual((await ruleJson(page)).conditions, { if: [{ var: "a" }, true, false] });

    // Every problem of a bad rule, listed.
    await page.fill("#rule-id", "bad");
    await page.fill("#rule-json", JSON.stringify({ name: 7, priority: "high", type: "CHALENGE", conditions: true }));
    await page.click("#save-rule");
    await page.waitForSelector("#rules-status ul.problems li");
    const problems = await page.locator("#rules-status ul.problems li").allTextContents();
    assert.equal(problems.length, 3, problems.join(" | "));
    assert.ok(problems.some((p) => p.startsWith("type: unknown variant `CHALENGE`")), problems.join(" | "));
  } finally {
    await context.close();
  }
});

test("value lists: viewed, searched, edited, deleted (asked first; refused while a rule uses it)", async () => {
  const context = await demo.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const alias = `pl-${uid("l").slice(-6)}`;
  const action = `pl-${uid("a").slice(-6)}`;
  assert.equal((await mgmt("PUT", `/value-lists/${alias}`, { body: { name: "Mule accounts", itemType: "string", items: ["NZ-100", "NZ-200", "AU-300"] } })).status, 201);
  await configure(action, { defaultUserActionResult: "ALLOW" });
  try {
    await signIn(page);
    await page.goto(`${ADMIN}#/lists`);
    await page.click(`#lists a:text('${alias}')`);
    await page.waitForSelector("#list-items li");
    assert.equal(await page.locator("#list-items li").count(), 3);
    await page.fill("#list-search", "nz-");
    assert.equal(await page.locator("#list-items li").count(), 2);
    assert.match(await page.textContent("#list-count"), /2 of 3/);
    await page.fill("#list-edit-items", "NZ-100\nNZ-200\nAU-300\nNZ-999");
    await page.click("#list-save");
    await page.waitForSelector("#list-status.ok");
    // Stored as the list matches them (case folded, trimmed).
    assert.deepEqual((await mgmt("GET", `/value-lists/${alias}`)).body.items, ["nz-100", "nz-200", "au-300", "nz-999"]);
    await page.screenshot({ path: join(SHOTS, "42-portal-list.png"), fullPage: true });

    // In use by a rule: deleting is refused and says so.
    await mgmt("PUT", `/action-configurations/${action}/rules/mules`, { body: { name: "Mules", priority: 1, type: "BLOCK",
      conditions: { inValueList: [{ var: "action.custom.to" }, alias] } } });
    await page.click("#list-delete");
    await page.click(".confirm-yes");
    await page.waitForSelector("#list-status.error");
    assert.match(await page.textContent("#list-status"), new RegExp(action));
    await mgmt("DELETE", `/action-configurations/${action}/rules/mules`);
    await page.click("#list-delete");
    await page.click(".confirm-no");
    assert.equal((await mgmt("GET", `/value-lists/${alias}`)).status, 200, "cancelled: still there");
    await page.click("#list-delete");
    await page.click(".confirm-yes");
    await page.waitForSelector("#list-form");
    assert.equal((await mgmt("GET", `/value-lists/${alias}`)).status, 404);
  } finally {
    await context.close();
  }
});

test("reviews: the deciding rule, readable attributes, the same request twice flagged", async () => {
  const context = await demo.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const action = `prv-${uid("a").slice(-6)}`;
  await configure(action, { defaultUserActionResult: "ALLOW" });
  for (const [id, priority] of [["hold-big", 1], ["also-big", 2]]) {
    await mgmt("PUT", `/action-configurations/${action}/rules/${id}`, { body: { name: id, priority, type: "REVIEW",
      conditions: { ">": [{ var: "action.custom.amount" }, 10000] } } });
  }
  const user = uid("prv");
  for (let i = 0; i < 2; i++) {
    await authsignal.track({ userId: user, action, attributes: { custom: { amount: 25000, to: "NZ-1" } } });
  }
  try {
    await signIn(page);
    const rows = page.locator(`#reviews tr[data-user="${user}"]`);
    // The queue fills from the users' outboxes: read it again (a reload:
    // going to the same #/reviews again would not redraw) until both are in.
    await page.goto(`${ADMIN}#/reviews`);
    for (let i = 0; ; i++) {
      await page.waitForSelector("#reviewer");
      if (await rows.count() === 2) break;
      assert.ok(i < 100, "both reached the queue");
      await page.reload();
      await page.waitForTimeout(200);
    }
    const first = rows.nth(0);
    assert.equal((await first.locator(".deciding strong").textContent()), "hold-big");
    assert.match(await first.locator(".deciding").textContent(), /also matched: also-big/);
    assert.match(await first.locator("dl.attrs").textContent(), /amount\s*25,000/);
    assert.match(await first.locator(".badge.duplicate").textContent(), /looks like 1 other/);
    await page.screenshot({ path: join(SHOTS, "43-portal-reviews.png"), fullPage: true });
  } finally {
    await context.close();
  }
});

test("analytics opens on the busiest action, with every day on its axis", async () => {
  const context = await demo.browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  try {
    // Of the actions still configured (other tests delete theirs).
    const sums = async () => {
      const configured = new Set((await mgmt("GET", "/action-configurations")).body.map((c) => c.actionCode));
      const out = new Map();
      for (const d of (await mgmt("GET", "/analytics")).body.days) {
        if (configured.has(d.actionCode)) out.set(d.actionCode, (out.get(d.actionCode) || 0) + d.tracks);
      }
      return out;
    };
    const before = await sums();
    await signIn(page);
    await page.goto(`${ADMIN}#/analytics`);
    await page.waitForSelector("#analytics");
    const after = await sums();
    const chosen = await page.inputValue("#analytics-action");
    // Counts only grow: the busiest when the page asked has at least the
    // busiest count from before it asked.
    assert.ok((after.get(chosen) ?? 0) >= Math.max(0, ...before.values()), `${chosen}: ${after.get(chosen)}`);
    assert.ok(await page.locator("#chart text.day").count() >= 2, "day labels");
    assert.equal(await page.locator("#chart text.axis-title").textContent(), "Day (UTC)");
  } finally {
    await context.close();
  }
});

test("every main page at 390×844: nothing spills sideways, Approve and Reject on screen", async () => {
  const context = await demo.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const action = `narrow-${uid("a").slice(-6)}`;
  await configure(action, { defaultUserActionResult: "REVIEW" });
  await mgmt("PUT", `/action-configurations/${action}/rules/a-rule-with-a-rather-long-identifier`, { body: {
    name: "A rule with a rather long name to wrap", priority: 1, type: "REVIEW", conditions: { ">": [{ var: "action.custom.amount" }, 1] } } });
  const user = uid("narrow-user-with-a-long-id");
  await authsignal.track({ userId: user, action, attributes: { custom: { amount: 123456789, destinationAccount: "NZ-0201-1234567-00-LONG" } } });
  const alias = `narrow-${uid("l").slice(-6)}`;
  await mgmt("PUT", `/value-lists/${alias}`, { body: { name: "Narrow", itemType: "string", items: ["a-very-long-item-value-that-must-wrap-somewhere-0123456789"] } });
  try {
    await signIn(page);
    const pages = [
      ["#/actions", "#actions", "actions"], [`#/actions/${action}`, "#versions", "action"], ["#/lists", "#lists", "lists"],
      [`#/lists/${alias}`, "#list-items", "list"], ["#/reviews", "#reviews", "reviews"], [`#/users/${user}`, "#user-actions", "user"],
      [`#/analytics/${action}`, "#analytics-action", "analytics"],
    ];
    for (const [hash, ready, label] of pages) {
      for (let i = 0; ; i++) {
        await page.goto(`${ADMIN}${hash}`);
        try { await page.waitForSelector(ready, { timeout: 3000 }); break; } catch (e) { if (i >= 20) throw e; }
      }
      const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
      assert.ok(scroll <= width, `${hash}: ${scroll} px wide in a ${width} px screen`);
      await page.screenshot({ path: join(SHOTS, `44-portal-390-${label}.png`), fullPage: true });
    }
    await page.goto(`${ADMIN}#/reviews`);
    const row = page.locator(`#reviews tr[data-user="${user}"]`);
    await row.waitFor();
    for (const b of ["button.approve", "button.reject"]) {
      const box = await row.locator(b).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${b} on screen: ${JSON.stringify(box)}`);
    }
  } finally {
    await context.close();
  }
});

test("users: found by the start of their id, their email or their phone number, then opened", async () => {
  const stem = uid("portal-find");
  await authsignal.updateUser({ userId: `${stem}-a`, attributes: { email: `${stem}-a@example.com` } });
  await authsignal.updateUser({ userId: `${stem}-b`, attributes: { email: `${stem}-b@example.com`, phoneNumber: "+64219990000" } });
  const context = await demo.browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  try {
    await signIn(page);
    await page.goto(`${ADMIN}#/users`);
    await page.fill("#user-id", stem);
    await page.click("#find-user");
    await page.waitForSelector("#found table");
    assert.deepEqual(await page.$$eval("#found td a", (as) => as.map((a) => a.textContent)), [`${stem}-a`, `${stem}-b`]);
    await page.fill("#user-id", `${stem}-b@example.com`);
    await page.click("#find-user");
    await page.waitForFunction((id) => [...document.querySelectorAll("#found td a")].map((a) => a.textContent).join() === id, `${stem}-b`);
    await page.screenshot({ path: join(SHOTS, "portal-user-search.png"), fullPage: true });
    await page.click(`#found td a`);
    await page.waitForSelector("#profile");
    assert.match(await page.textContent("#profile"), /\+64219990000/);
    await page.fill("#user-id", `nobody-${stem}`);
    await page.click("#find-user");
    await page.waitForSelector("#found p.muted");
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, "no sideways scroll");
  } finally {
    await context.close();
  }
});
