// The rules engine end to end: the repository's demo configuration applied
// through the management API, decisions observed through @authsignal/node's
// track, and simulate agreeing with track.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { authsignal, mgmt, call, uid, assertError, client, totpCode } from "./lib.mjs";
import { ROOT } from "./harness.mjs";

const DEMO = readFileSync(join(ROOT, "config", "demo.json"), "utf8");
const now = () => Math.floor(Date.now() / 1000);

before(async () => {
  const r = await mgmt("PUT", "/configuration", { raw: DEMO, headers: { "Content-Type": "application/json" } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.applied, true);
});

async function track(userId, attributes, action = "withdraw-funds") {
  return authsignal.track({ userId, action, attributes });
}

/** The authenticator-app secret of each user who enrolled one here. */
const secrets = new Map();

/** Pass a challenge with an authenticator app (enrolled on the first challenge). */
async function pass(userId, token) {
  if (!secrets.has(userId)) {
    const enrolled = await client("/user-authenticators/totp", token);
    assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
    secrets.set(userId, enrolled.body.secret);
  }
  const verified = await client("/verify/totp", token, { verificationCode: totpCode(secrets.get(userId)) });
  assert.equal(verified.body.isVerified, true, JSON.stringify(verified.body));
}

/** A very large withdrawal held for review, then approved by a reviewer: proof without enrolling anything. */
async function approve(userId, attributes) {
  const r = await track(userId, { ...attributes, custom: { amount: 20000 } });
  assert.equal(r.state, "REVIEW_REQUIRED", JSON.stringify(r));
  const d = await mgmt("POST", `/reviews/${encodeURIComponent(userId)}/withdraw-funds/${r.idempotencyKey}`, { body: { decision: "APPROVE", reviewer: "ops@bank.example" } });
  assert.equal(d.status, 200, JSON.stringify(d.body));
}

/** A track that is challenged, then passed: it proves the user's device, country and place. */
async function prove(userId, attributes, action = "withdraw-funds") {
  const r = await track(userId, attributes, action);
  assert.equal(r.state, "CHALLENGE_REQUIRED", JSON.stringify(r));
  await pass(userId, r.token);
  return r;
}

test("the demo rules decide withdrawals, reporting every matched rule", async () => {
  const userId = uid();
  let r = await track(userId, { deviceId: "phone-1", custom: { amount: 50 } });
  assert.equal(r.state, "CHALLENGE_REQUIRED", "first device is new");
  assert.deepEqual(r.ruleIds, ["new-device"]);
  // Repeating the request proves nothing: the device stays new.
  const again = await track(userId, { deviceId: "phone-1", custom: { amount: 50 } });
  assert.equal(again.state, "CHALLENGE_REQUIRED", "a repeated track does not prime the device");
  assert.deepEqual(again.ruleIds, ["new-device"]);
  await pass(userId, again.token);

  r = await track(userId, { deviceId: "phone-1", custom: { amount: 50 } });
  assert.equal(r.state, "ALLOW", "known device (the challenge passed there), small amount: the default outcome");
  assert.deepEqual(r.ruleIds, []);

  r = await track(userId, { deviceId: "phone-1", custom: { amount: 5000 } });
  assert.equal(r.state, "CHALLENGE_REQUIRED");
  assert.deepEqual(r.ruleIds, ["large-withdrawal", "withdrawal-velocity"], "the fourth withdrawal within the hour");

  r = await track(userId, { deviceId: "laptop-2", custom: { amount: 50000, destinationAccount: "GB-1234-999" } });
  assert.equal(r.state, "BLOCK");
  assert.deepEqual(r.ruleIds, ["sanctioned-destination", "very-large-withdrawal", "large-withdrawal", "new-device", "withdrawal-velocity"]);
  const got = await authsignal.getAction({ userId, action: "withdraw-funds", idempotencyKey: r.idempotencyKey });
  assert.equal(got.rules[0].ruleId, "sanctioned-destination");
  assert.equal(got.rules[0].name, "Sanctioned destination");
  assert.match(got.rules[0].description, /sanctions list/);
  assert.equal(got.decidingRuleId, "sanctioned-destination");
});

test("a sanctioned account is blocked however it is spelled", async () => {
  const userId = uid();
  for (const destinationAccount of ["nz-0000-666 ", " NZ 0000 666", "ＮＺ－００００－６６６", "nz.0000.666"]) {
    const r = await track(userId, { deviceId: "x", custom: { amount: 10, destinationAccount } });
    assert.equal(r.state, "BLOCK", destinationAccount);
    assert.equal(r.ruleIds[0], "sanctioned-destination", destinationAccount);
  }
  const list = await mgmt("GET", "/value-lists/sanctioned-accounts");
  assert.deepEqual(list.body.normalize, ["foldWidth", "trim", "stripSeparators", "caseFold"]);
  assert.ok(list.body.items.includes("nz0000666"), JSON.stringify(list.body.items));
  const other = await track(userId, { deviceId: "x", custom: { amount: 10, destinationAccount: "NZ-0000-667" } });
  assert.notEqual(other.state, "BLOCK");
});

test("a very large withdrawal goes to review", async () => {
  const userId = uid();
  const r = await track(userId, { custom: { amount: 20000 } });
  assert.equal(r.state, "REVIEW_REQUIRED");
  assert.deepEqual(r.ruleIds, ["very-large-withdrawal", "large-withdrawal"]);
});

test("a large transfer to a payee added today needs a challenge and review, with the rule's methods", async () => {
  const userId = uid();
  const r = await track(userId, { custom: { amount: 250000, destinationAccount: "NZ-1", destinationAddedAt: now() - 3600 } });
  assert.equal(r.state, "CHALLENGE_REQUIRED");
  assert.equal(r.ruleIds[0], "large-transfer-to-new-payee");
  assert.deepEqual(r.allowedVerificationMethods, ["PASSKEY", "AUTHENTICATOR_APP"]);
  const older = await track(userId, { custom: { amount: 250000, destinationAccount: "NZ-1", destinationAddedAt: now() - 5 * 86400 } });
  assert.equal(older.state, "REVIEW_REQUIRED", "an older payee: the review rule decides");

  // Completing the challenge (authenticator app) leads to manual review, not success.
  const enrolled = await client("/user-authenticators/totp", r.token);
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const verified = await client("/verify/totp", r.token, { verificationCode: totpCode(enrolled.body.secret) });
  assert.equal(verified.body.isVerified, true);
  assert.equal(verified.body.state, "REVIEW_REQUIRED");
  const after = await authsignal.getAction({ userId, action: "withdraw-funds", idempotencyKey: r.idempotencyKey });
  assert.equal(after.state, "REVIEW_REQUIRED");
  assert.equal(after.verificationMethod, "AUTHENTICATOR_APP");
  assert.equal((await authsignal.validateChallenge({ token: verified.body.accessToken })).isValid, false, "not valid until reviewed");
});

test("geo, velocity, travel and bot data points", async () => {
  const userId = uid();
  let r = await track(userId, { deviceId: "d", geo: { countryCode: "KP" } });
  assert.equal(r.state, "BLOCK");
  assert.equal(r.ruleIds[0], "high-risk-country");

  const v = uid();
  await prove(v, { deviceId: "same", custom: { amount: 10 } });
  const states = [];
  for (let i = 0; i < 4; i++) states.push((await track(v, { deviceId: "same", custom: { amount: 10 } })).state);
  assert.deepEqual(states, ["ALLOW", "ALLOW", "CHALLENGE_REQUIRED", "CHALLENGE_REQUIRED"], "4th and 5th within the hour");

  // Impossible travel is measured from the last place the user proved
  // themselves; an allowed sign-in elsewhere proves nothing.
  const traveller = uid();
  const ua = "Mozilla/5.0 (iPhone)";
  r = await authsignal.track({ userId: traveller, action: "login", attributes: { userAgent: ua, geo: { latitude: 48.85, longitude: 2.35 } } });
  assert.equal(r.state, "ALLOW");
  r = await authsignal.track({ userId: traveller, action: "login", attributes: { userAgent: ua, geo: { latitude: -36.85, longitude: 174.76 } } });
  assert.equal(r.state, "ALLOW", "no proved place yet: no travel to measure");
  await prove(traveller, { userAgent: ua, deviceId: "t", custom: { amount: 5000 }, geo: { latitude: -36.85, longitude: 174.76 } });
  r = await authsignal.track({ userId: traveller, action: "login", attributes: { userAgent: ua, geo: { latitude: 51.5, longitude: -0.12 } } });
  assert.equal(r.state, "CHALLENGE_REQUIRED");
  assert.deepEqual(r.ruleIds, ["impossible-travel"]);

  r = await authsignal.track({ userId: uid(), action: "login", attributes: { userAgent: "python-requests/2.31" } });
  assert.equal(r.state, "BLOCK");
  assert.deepEqual(r.ruleIds, ["bot-user-agent"]);
});

test("a user object that stays awake sees every change made through the API", async () => {
  // The object keeps what tracks read in memory between requests: each change
  // below must reach the next track as if it had read storage.
  const userId = uid();
  const seq = async (n) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push((await track(userId, { deviceId: "phone", custom: { amount: 10 } })).ruleIds);
    return out;
  };
  await approve(userId, { deviceId: "phone" });
  assert.deepEqual(await seq(3), [[], [], ["withdrawal-velocity"]]);

  let r = await track(userId, {}, "login");
  assert.equal(r.isEnrolled, false);
  const enrolled = await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "EMAIL_OTP", email: "a@example.com" } });
  r = await track(userId, {}, "login");
  assert.equal(r.isEnrolled, true, "an authenticator added between two tracks");
  assert.deepEqual(r.enrolledVerificationMethods, ["EMAIL_OTP", "RECOVERY_CODE"]);
  await authsignal.deleteAuthenticator({ userId, userAuthenticatorId: enrolled.authenticator.userAuthenticatorId });
  r = await track(userId, {}, "login");
  assert.equal(r.isEnrolled, false, "and removed again");

  // Deleting the user forgets the device and the withdrawals counted.
  await authsignal.deleteUser({ userId });
  assert.deepEqual(await seq(2), [["new-device"], ["new-device"]]);
});

test("simulate agrees with track and writes nothing", async () => {
  const cases = [
    { deviceId: "x", custom: { amount: 10 } },
    { deviceId: "x", custom: { amount: 5000 } },
    { deviceId: "x", custom: { amount: 250000, destinationAddedAt: now() - 60 } },
    { deviceId: "x", custom: { amount: 1, destinationAccount: "US-4040-404" } },
    { deviceId: "x", geo: { countryCode: "IR" } },
  ];
  for (const attributes of cases) {
    const userId = uid();
    await prove(userId, { deviceId: "x", custom: { amount: 1 } }); // the device is known now
    const sim = await mgmt("POST", "/simulate", { body: { userId, action: "withdraw-funds", attributes } });
    assert.equal(sim.status, 200, JSON.stringify(sim.body));
    const before = await authsignal.queryUserActions({ userId });
    assert.equal(before.length, 1, "simulate stored nothing");
    const real = await track(userId, attributes);
    assert.equal(sim.body.state, real.state, JSON.stringify(attributes));
    assert.deepEqual(sim.body.ruleIds, real.ruleIds);
    assert.equal(sim.body.priorityRuleId, real.ruleIds[0] ?? null);
    assert.ok(Array.isArray(sim.body.trace) && sim.body.trace.length === 7);
  }
  // The trace explains each condition of a rule with a top-level "and".
  const sim = await mgmt("POST", "/simulate", {
    body: { userId: uid(), action: "withdraw-funds", attributes: { custom: { amount: 250000, destinationAddedAt: now() - 10 * 86400 } } },
  });
  const rule = sim.body.trace.find((t) => t.ruleId === "large-transfer-to-new-payee");
  assert.equal(rule.matched, false);
  assert.deepEqual(rule.conditions.map((c) => [c.path, c.result]), [["conditions.and[0]", true], ["conditions.and[1]", false]]);
  assert.equal(sim.body.context.action.custom.amount, 250000);
  // Unknown users and missing data simulate fine.
  const empty = await mgmt("POST", "/simulate", { body: { userId: uid(), action: "never-configured" } });
  assert.equal(empty.body.state, "ALLOW");
  assertError(await mgmt("POST", "/simulate", { body: { action: "x" } }), 400, "invalid_request");
});

test("a rule's reason for the customer: only where the customer is asked, valid templates, a locale per entry; nothing stored otherwise", async () => {
  const code = `reason-${Date.now()}`;
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  const put = (body) => mgmt("PUT", `/action-configurations/${code}/rules/r`, { body: { name: "r", priority: 0, conditions: true, ...body } });
  let r = await put({ type: "BLOCK", customerReason: { en: "Blocked because." } });
  assertError(r, 400, "invalid_request");
  assert.match(JSON.stringify(r.body), /customerReason: only a CHALLENGE or REVIEW rule/);
  r = await put({ type: "CHALLENGE", customerReason: { "not a locale!": "x", de: "{{action.custom.amount" , en: "" } });
  assertError(r, 400, "invalid_request");
  const told = JSON.stringify(r.body);
  for (const where of ["customerReason.not a locale!", "customerReason.de", "customerReason.en"]) assert.ok(told.includes(where), `${where}: ${told}`);
  assert.equal((await mgmt("GET", `/action-configurations/${code}/rules/r`)).status, 404, "nothing was stored");
  r = await put({ type: "REVIEW", customerReason: { en: "We check large payments by hand." } });
  assert.ok([200, 201].includes(r.status), JSON.stringify(r.body));
  assert.deepEqual(r.body.customerReason, { en: "We check large payments by hand." });
  // The action keeps the reason of the rule that decided it.
  const userId = uid();
  const tracked = await authsignal.track({ userId, action: code });
  assert.equal(tracked.state, "REVIEW_REQUIRED");
  const got = await authsignal.getAction({ userId, action: code, idempotencyKey: tracked.idempotencyKey });
  assert.deepEqual(got.rules[0].customerReason, { en: "We check large payments by hand." });
});

test("rules are managed one by one under the action configuration", async () => {
  const code = `rules-crud-${Date.now()}`;
  assertError(await mgmt("PUT", `/action-configurations/${code}/rules/r1`, {
    body: { name: "r", priority: 0, type: "BLOCK", conditions: true },
  }), 404, "action_configuration_not_found");
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });

  let r = await mgmt("PUT", `/action-configurations/${code}/rules/big`, {
    body: { name: "Big", priority: 1, type: "CHALLENGE", conditions: { ">": [{ var: "action.custom.amount" }, 100] } },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.ruleId, "big");
  assert.equal(r.body.isActive, true);
  r = await mgmt("POST", `/action-configurations/${code}/rules`, {
    body: { name: "Huge", priority: 0, type: "BLOCK", conditions: { ">": [{ var: "action.custom.amount" }, 1000] } },
  });
  assert.equal(r.status, 201);
  const generated = r.body.ruleId;
  assert.match(generated, /^[0-9a-f-]{36}$/);

  let t = await authsignal.track({ userId: uid(), action: code, attributes: { custom: { amount: 5000 } } });
  assert.equal(t.state, "BLOCK", "the new rules apply at once");
  assert.deepEqual(t.ruleIds, [generated, "big"]);

  // Replace: deactivate the BLOCK rule.
  r = await mgmt("PUT", `/action-configurations/${code}/rules/${generated}`, {
    body: { name: "Huge", priority: 0, type: "BLOCK", isActive: false, conditions: { ">": [{ var: "action.custom.amount" }, 1000] } },
  });
  assert.equal(r.status, 200);
  t = await authsignal.track({ userId: uid(), action: code, attributes: { custom: { amount: 5000 } } });
  assert.equal(t.state, "CHALLENGE_REQUIRED");

  r = await mgmt("GET", `/action-configurations/${code}/rules`);
  assert.deepEqual(r.body.map((x) => x.ruleId).sort(), [generated, "big"].sort());
  // Replacing the configuration keeps its rules.
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "REVIEW" } });
  assert.equal((await mgmt("GET", `/action-configurations/${code}/rules/big`)).status, 200);

  assert.equal((await mgmt("DELETE", `/action-configurations/${code}/rules/big`)).status, 200);
  assertError(await mgmt("GET", `/action-configurations/${code}/rules/big`), 404, "rule_not_found");
  t = await authsignal.track({ userId: uid(), action: code, attributes: { custom: { amount: 5000 } } });
  assert.equal(t.state, "REVIEW_REQUIRED", "no active rule matches: the default outcome");
});

test("an invalid rule is refused with every problem located and nothing is stored", async () => {
  const code = `rules-bad-${Date.now()}`;
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  const r = await mgmt("PUT", `/action-configurations/${code}/rules/large-withdrawal`, {
    body: {
      name: "Large", priority: 1, type: "CHALLENGE",
      conditions: { and: [
        { ">": [{ var: "action.custom.amount" }, 1000] },
        { gtt: [{ var: "action.custom.amount" }, 5] },
        { "==": [{ var: "wallet.balance" }, 0] },
        { inValueList: [{ var: "action.custom.to" }, "no-such-list"] },
      ] },
    },
  });
  assertError(r, 400, "invalid_request");
  for (const needle of [
    'rule "large-withdrawal": conditions.and[1]: unknown operator "gtt"',
    'conditions.and[2].==[0].var: unknown variable "wallet.balance"',
    'conditions.and[3].inValueList[1]: no value list "no-such-list"',
  ]) assert.ok(r.body.errorDescription.includes(needle), `${needle} in ${r.body.errorDescription}`);
  const bad = await mgmt("PUT", `/action-configurations/${code}/rules/r2`, { body: { name: "x", priority: "high", type: "BLOCK", conditions: true } });
  assertError(bad, 400, "invalid_request");
  assert.match(bad.body.errorDescription, /^priority: /);
  assert.deepEqual((await mgmt("GET", `/action-configurations/${code}/rules`)).body, []);
});

test("a rule's conditions are checked inside a variable's default and computed paths, and nothing invalid is stored", async () => {
  const code = `rules-inner-${Date.now()}`;
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  const r = await mgmt("PUT", `/action-configurations/${code}/rules/hidden`, {
    body: {
      name: "Hidden", priority: 1, type: "BLOCK",
      conditions: { or: [
        { "==": [{ var: ["action.custom.amount", { gtt: 1 }] }, 5] },
        { missing: [{ cat: ["action.", { var: "wallet.x" }] }] },
      ] },
    },
  });
  assertError(r, 400, "invalid_request");
  for (const needle of [
    'rule "hidden": conditions.or[0].==[0].var[1]: unknown operator "gtt"',
    'conditions.or[1].missing[0].cat[1].var: unknown variable "wallet.x"',
  ]) assert.ok(r.body.errorDescription.includes(needle), `${needle} in ${r.body.errorDescription}`);
  assert.deepEqual((await mgmt("GET", `/action-configurations/${code}/rules`)).body, []);
  // The same rule with a valid default is stored, and its default decides.
  const ok = await mgmt("PUT", `/action-configurations/${code}/rules/hidden`, {
    body: { name: "Hidden", priority: 1, type: "BLOCK", conditions: { "==": [{ var: ["action.custom.amount", 5] }, 5] } },
  });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const t = await authsignal.track({ userId: uid(), action: code, attributes: { custom: {} } });
  assert.equal(t.state, "BLOCK", "no amount: the default 5 matches");
});

test("rules read every documented data point, and the portal's form offers exactly those", async () => {
  // The seen-but-not-proven signals: a rule on them is stored and decides.
  const code = `rules-seen-${Date.now()}`;
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  const put = await mgmt("PUT", `/action-configurations/${code}/rules/seen-device`, {
    body: { name: "Seen device", priority: 1, type: "BLOCK", conditions: { and: [
      { "==": [{ var: "device.isSeen" }, true] },
      { "<=": [{ var: "device.firstSeenAt" }, { var: "now" }] },
      { "==": [{ var: "ip.isSeenCountry" }, true] },
    ] } },
  });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const userId = uid();
  const attributes = { deviceId: `dev-${userId}`, geo: { countryCode: "NZ" }, custom: {} };
  const first = await authsignal.track({ userId, action: code, attributes });
  assert.equal(first.state, "ALLOW", "nothing seen before the first track");
  const second = await authsignal.track({ userId, action: code, attributes });
  assert.equal(second.state, "BLOCK", "device and country seen on the first track");
  // The portal's rule form lists the validator's data points, no more, no fewer.
  const rust = readFileSync(join(ROOT, "crates", "core", "src", "policy", "rules", "input.rs"), "utf8");
  const portal = readFileSync(join(ROOT, "www", "__actiongate", "admin", "rules.js"), "utf8");
  const names = (text, start) => [...text.slice(text.indexOf(start)).split("];")[0].matchAll(/"([a-zA-Z.]+)"/g)].map((m) => m[1]).sort();
  const fixed = names(rust, "pub const FIXED_VARIABLES");
  assert.ok(fixed.includes("device.isSeen") && fixed.length > 20, fixed.join(", "));
  assert.deepEqual(names(portal, "export const DATA_POINTS"), fixed);
});

test("value lists: CRUD, a 100,000-entry list, and no deleting a list in use", async () => {
  const alias = `list-${Date.now()}`;
  const items = Array.from({ length: 100_000 }, (_, i) => `acct-${i}`);
  let r = await mgmt("PUT", `/value-lists/${alias}`, { body: { name: "Big list", itemType: "string", items } });
  assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 300));
  assert.equal(r.body.itemCount, 100_000);
  r = await mgmt("GET", "/value-lists");
  assert.ok(r.body.some((l) => l.alias === alias && l.itemCount === 100_000 && l.items === undefined));

  const code = `list-user-${Date.now()}`;
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  r = await mgmt("PUT", `/action-configurations/${code}/rules/listed`, {
    body: { name: "Listed", priority: 0, type: "BLOCK", conditions: { inValueList: [{ var: "action.custom.account" }, alias] } },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  let t = await authsignal.track({ userId: uid(), action: code, attributes: { custom: { account: "acct-99999" } } });
  assert.equal(t.state, "BLOCK");
  t = await authsignal.track({ userId: uid(), action: code, attributes: { custom: { account: "acct-100000" } } });
  assert.equal(t.state, "ALLOW");

  assertError(await mgmt("DELETE", `/value-lists/${alias}`), 409, "value_list_in_use");
  // Replacing the items changes decisions at once.
  r = await mgmt("PUT", `/value-lists/${alias}`, { body: { name: "Small list", itemType: "string", items: ["acct-100000"] } });
  assert.equal(r.status, 200);
  t = await authsignal.track({ userId: uid(), action: code, attributes: { custom: { account: "acct-100000" } } });
  assert.equal(t.state, "BLOCK");

  await mgmt("DELETE", `/action-configurations/${code}/rules/listed`);
  assert.equal((await mgmt("DELETE", `/value-lists/${alias}`)).status, 200);
  assertError(await mgmt("GET", `/value-lists/${alias}`), 404, "value_list_not_found");
  const bad = await mgmt("PUT", `/value-lists/${alias}`, { body: { name: "n", itemType: "number", items: [1, "two"] } });
  assertError(bad, 400, "invalid_request");
  assert.match(bad.body.errorDescription, /items\[1\]/);
});

test("a configuration document is validated as a whole; an invalid one writes nothing", async () => {
  const code = `doc-${Date.now()}`;
  const doc = {
    valueLists: { [`${code}-list`]: { name: "L", itemType: "number", items: [1, 2] } },
    actionConfigurations: {
      [code]: {
        defaultUserActionResult: "ALLOW",
        rules: [
          { ruleId: "ok", name: "ok", priority: 0, type: "BLOCK", conditions: { inValueList: [{ var: "action.custom.n" }, `${code}-list`] } },
          { ruleId: "bad", name: "bad", priority: 1, type: "BLOCK", conditions: { gtt: [1, 2] } },
        ],
      },
    },
  };
  let r = await mgmt("POST", "/configuration/validate", { body: doc });
  assert.equal(r.status, 200);
  assert.equal(r.body.valid, false);
  assert.deepEqual(r.body.problems, [`actionConfigurations.${code}.rules[1]: rule "bad": conditions: unknown operator "gtt"`]);
  r = await mgmt("PUT", "/configuration", { body: doc });
  assertError(r, 400, "invalid_request");
  assert.equal(r.body.problems.length, 1);
  assertError(await mgmt("GET", `/action-configurations/${code}`), 404, "action_configuration_not_found");
  assertError(await mgmt("GET", `/value-lists/${code}-list`), 404, "value_list_not_found");

  doc.actionConfigurations[code].rules.pop();
  r = await mgmt("POST", "/configuration/validate", { body: doc });
  assert.equal(r.body.valid, true);
  r = await mgmt("PUT", "/configuration", { body: doc });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const t = await authsignal.track({ userId: uid(), action: code, attributes: { custom: { n: 2 } } });
  assert.equal(t.state, "BLOCK");
});

test("the server API cannot reach the management API", async () => {
  const r = await call("POST", "/v1/management/simulate", { body: { userId: "u", action: "a" } });
  assertError(r, 401, "unauthorized");
});
