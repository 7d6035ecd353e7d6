// Step-up that holds against a stolen session: what someone holding a
// victim's app session tried, against the edge proxy in front of the demo
// bank. Each test asserts what the bank executed and what was stored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { authsignal, mgmt, uid, BASE, assertError, client, totpCode } from "./lib.mjs";
import { startBank, sessionToken } from "../../demo/bank.mjs";

let bank;

before(async () => {
  bank = await startBank(0);
  const r = await mgmt("PUT", "/configuration", {
    body: {
      actionConfigurations: {
        "ss-withdraw": {
          defaultUserActionResult: "ALLOW",
          verificationMethods: ["AUTHENTICATOR_APP", "EMAIL_OTP"],
          rules: [{ ruleId: "new-device", name: "New device", priority: 0, type: "CHALLENGE", conditions: { "==": [{ var: "device.isNew" }, true] } }],
        },
      },
      proxy: {
        originUrl: bank.url,
        identity: { jwt: { cookie: "session", algorithm: "HS256", secretEnv: "APP_SESSION_SECRET" } },
        routes: [{ method: "POST", path: "/api/withdraw", action: "ss-withdraw", custom: { amount: { from: "body:/amount", type: "number" }, to: "body:/to" } }],
      },
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});
after(() => bank?.close());

async function withdraw(user, device, body, headers = {}) {
  const r = await fetch(`${BASE}/api/withdraw`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Cookie: `session=${sessionToken(user)}; __as_aid=${device}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* page */ }
  return { status: r.status, headers: r.headers, body: parsed };
}

const executed = async (user) => (await (await fetch(`${bank.url}/api/ledger`)).json()).executed.filter((e) => e.user === user);

test("repeating a challenged request from a new device does not make the device known", async () => {
  const user = uid("prime");
  const body = { amount: 250, to: "NZ-1" };
  const first = await withdraw(user, "attacker-laptop", body);
  assertError(first, 401, "challenge_required");
  // The attacker sends it again, and again: each time a fresh challenge.
  for (let i = 0; i < 3; i++) {
    const again = await withdraw(user, "attacker-laptop", body);
    assertError(again, 401, "challenge_required");
  }
  assert.deepEqual(await executed(user), [], "the bank ran nothing");
  const actions = await authsignal.queryUserActions({ userId: user });
  assert.equal(actions.length, 4);
  assert.ok(actions.every((a) => a.state === "CHALLENGE_REQUIRED"), JSON.stringify(actions));
  const stored = await authsignal.getAction({ userId: user, action: "ss-withdraw", idempotencyKey: actions[0].idempotencyKey });
  assert.deepEqual(stored.rules.map((r) => r.ruleId), ["new-device"], "the last track still found the device new");

  // The user proves themselves from the device: it is known from then on.
  const enrolled = await client("/user-authenticators/totp", first.body.token);
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const verified = await client("/verify/totp", first.body.token, { verificationCode: totpCode(enrolled.body.secret) });
  assert.equal(verified.body.isVerified, true);
  const retried = await withdraw(user, "attacker-laptop", body, { "X-ActionGate-Token": first.body.token });
  assert.equal(retried.status, 200, JSON.stringify(retried.body));
  const now = await withdraw(user, "attacker-laptop", { amount: 7, to: "NZ-1" });
  assert.equal(now.status, 200, JSON.stringify(now.body));
  assert.deepEqual((await executed(user)).map((e) => [e.amount, e.state]), [[250, "CHALLENGE_SUCCEEDED"], [7, "ALLOW"]]);
  // Another device of the same user is still new.
  assertError(await withdraw(user, "other-phone", body), 401, "challenge_required");
});
