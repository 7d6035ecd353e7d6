// Step-up that holds against a stolen session: what someone holding a
// victim's app session tried, against the edge proxy in front of the demo
// bank. Each test asserts what the bank executed and what was stored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { authsignal, mgmt, uid, BASE, assertError, call, client, configure, totpCode } from "./lib.mjs";
import { SoftKey } from "./softkey.mjs";
import { createServer } from "node:http";
import { startBank, sessionToken } from "../../demo/bank.mjs";
import { WEBHOOK_PORT } from "./harness.mjs";

let bank;
// The app's receiver for code and link emails (codes are read from the dev outbox).
const mail = createServer((req, res) => { req.resume(); req.on("end", () => { res.writeHead(200); res.end("ok"); }); });

before(async () => {
  await new Promise((r) => mail.listen(WEBHOOK_PORT, "127.0.0.1", r));
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
after(async () => {
  bank?.close();
  await new Promise((r) => mail.close(r));
});

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

/** The newest message the dev outbox holds for `to`. */
async function lastMessageTo(to) {
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  const hit = outbox.find((m) => m.data.to === to);
  assert.ok(hit, `nothing sent to ${to}`);
  return hit.data;
}

/** A user with an email authenticator, enrolled by the app's server. */
async function victim(prefix, method = "EMAIL_OTP") {
  const user = uid(prefix);
  const email = `${user}@example.com`;
  await authsignal.enrollVerifiedAuthenticator({ userId: user, attributes: { verificationMethod: method, email } });
  return { user, email };
}

/** The user's audit trail of factors, newest first. */
async function factorChanges(user) {
  const r = await mgmt("GET", `/users/${encodeURIComponent(user)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.authenticatorChanges;
}

const authenticators = async (user) => (await authsignal.getAuthenticators({ userId: user })).map((a) => a.verificationMethod).sort();

/** Every way a client adds a factor, with `token`: each must be refused. */
async function tryToAddFactors(token) {
  const refused = [];
  for (const [path, body] of [
    ["/user-authenticators/totp", {}],
    ["/user-authenticators/email-otp", { email: "attacker@example.net" }],
    ["/user-authenticators/passkey/registration-options", {}],
  ]) {
    const r = await client(path, token, body);
    refused.push([path, r.status, r.body.errorCode]);
  }
  return refused;
}

test("the track token adds no factor, even after the victim passed the challenge", async () => {
  const { user, email } = await victim("factor");
  // The attacker's request from a new device is challenged; its token comes back in the 401.
  const first = await withdraw(user, "attacker-laptop", { amount: 90, to: "NZ-9" });
  assertError(first, 401, "challenge_required");
  const token = first.body.token;
  // Before the challenge: nothing.
  assert.deepEqual((await tryToAddFactors(token)).map(([p, s]) => [p, s]), [
    ["/user-authenticators/totp", 400],
    ["/user-authenticators/email-otp", 400],
    ["/user-authenticators/passkey/registration-options", 400],
  ]);
  // The victim, shown the challenge, types the emailed code in their own client.
  const sent = await client("/challenge/email-otp", token);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  const passed = await client("/verify/email-otp", token, { verificationCode: (await lastMessageTo(email)).code });
  assert.equal(passed.body.isVerified, true, JSON.stringify(passed.body));
  // The attacker still holds only the track token: every enrollment is refused.
  for (const [path, status, code] of await tryToAddFactors(token)) {
    assert.equal(status, 400, `${path}: ${code}`);
    assert.equal(code, "invalid_request", path);
  }
  const totp = await client("/user-authenticators/totp", token);
  assert.match(totp.body.errorDescription, /accessToken/);
  // This action was not tracked with scope "add:authenticators": even the
  // victim's own access token adds nothing here.
  const own = await client("/user-authenticators/totp", passed.body.accessToken);
  assert.equal(own.status, 400, JSON.stringify(own.body));
  assert.match(own.body.errorDescription, /add:authenticators/);
  assert.deepEqual(await authenticators(user), ["EMAIL_OTP", "RECOVERY_CODE"], "no authenticator was stored (the recovery codes came with the first factor)");
  assert.deepEqual((await factorChanges(user)).map((c) => [c.change, c.verificationMethod, c.by.type]),
    [["ADDED", "EMAIL_OTP", "SERVER_API"]], "the user's audit trail holds only the app's enrollment");
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  assert.equal(outbox.some((m) => m.data.to === "attacker@example.net"), false, "nothing was sent to the attacker");
});

test("a magic link proves nothing to the page that polls for it, even with scope", async () => {
  await configure("ss-link", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_MAGIC_LINK", "AUTHENTICATOR_APP"] });
  const { user, email } = await victim("link", "EMAIL_MAGIC_LINK");
  const t = await authsignal.track({ userId: user, action: "ss-link", attributes: { scope: "add:authenticators" } });
  assert.equal(t.state, "CHALLENGE_REQUIRED");
  // The attacker asks for the link; the victim opens it from their mailbox.
  assert.equal((await client("/challenge/email-magic-link", t.token)).status, 200);
  const link = new URL((await lastMessageTo(email)).url);
  const opened = await fetch(`${BASE}/__actiongate/magic-link`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: link.searchParams.get("token"), secret: link.searchParams.get("secret") }).toString(),
  });
  assert.equal(opened.status, 200);
  // The attacker's page learns that it is verified and receives an access token…
  const polled = await client("/verify/email-magic-link/finalize", t.token);
  assert.equal(polled.body.isVerified, true, JSON.stringify(polled.body));
  // …which proves nothing about the attacker's client.
  for (const [path, status] of await tryToAddFactors(polled.body.accessToken)) assert.equal(status, 400, path);
  assert.deepEqual(await authenticators(user), ["EMAIL_MAGIC_LINK", "RECOVERY_CODE"]);
});

test("with scope add:authenticators, the client that passed the challenge adds a factor with its access token", async () => {
  await configure("ss-add", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP", "AUTHENTICATOR_APP"] });
  const { user, email } = await victim("scoped");
  const t = await authsignal.track({ userId: user, action: "ss-add", attributes: { scope: "add:authenticators" } });
  // The scope does not make the track token enough, before or after.
  assert.equal((await client("/user-authenticators/totp", t.token)).status, 400);
  await client("/challenge/email-otp", t.token);
  const passed = await client("/verify/email-otp", t.token, { verificationCode: (await lastMessageTo(email)).code });
  assert.equal(passed.body.isVerified, true);
  assert.equal((await client("/user-authenticators/totp", t.token)).status, 400);
  const added = await client("/user-authenticators/totp", passed.body.accessToken);
  assert.equal(added.status, 200, JSON.stringify(added.body));
  const confirmed = await client("/verify/totp", passed.body.accessToken, { verificationCode: totpCode(added.body.secret) });
  assert.equal(confirmed.body.isVerified, true, JSON.stringify(confirmed.body));
  assert.deepEqual(await authenticators(user), ["AUTHENTICATOR_APP", "EMAIL_OTP", "RECOVERY_CODE"]);
  // The enrollment is in the action's audit trail.
  const stored = await authsignal.getAction({ userId: user, action: "ss-add", idempotencyKey: t.idempotencyKey });
  const last = stored.history.at(-1);
  assert.deepEqual([last.from, last.to, last.cause.type, last.cause.method, last.cause.userAuthenticatorId],
    ["CHALLENGE_SUCCEEDED", "CHALLENGE_SUCCEEDED", "ENROLLED", "AUTHENTICATOR_APP", added.body.userAuthenticatorId]);
  // The access token still validates the action for the app.
  const v = await authsignal.validateChallenge({ token: passed.body.accessToken });
  assert.equal(v.isValid, true);
  assert.equal(v.state, "CHALLENGE_SUCCEEDED");

  // The app's server removes the email factor. The user's audit trail of
  // factors holds every change, newest first, with who made it.
  const email0 = (await authsignal.getAuthenticators({ userId: user })).find((a) => a.verificationMethod === "EMAIL_OTP");
  await authsignal.deleteAuthenticator({ userId: user, userAuthenticatorId: email0.userAuthenticatorId });
  assert.deepEqual(await authenticators(user), ["AUTHENTICATOR_APP", "RECOVERY_CODE"], "the recovery codes stay while another factor does");
  const changes = await factorChanges(user);
  assert.deepEqual(changes.map((c) => [c.change, c.verificationMethod, c.userAuthenticatorId, c.by]), [
    ["REMOVED", "EMAIL_OTP", email0.userAuthenticatorId, { type: "SERVER_API" }],
    ["ADDED", "AUTHENTICATOR_APP", added.body.userAuthenticatorId, { type: "ACTION", actionCode: "ss-add", idempotencyKey: t.idempotencyKey }],
    ["ADDED", "EMAIL_OTP", email0.userAuthenticatorId, { type: "SERVER_API" }],
  ]);
  assert.ok(changes.every((c, i) => i === 0 || Date.parse(changes[i - 1].at) >= Date.parse(c.at)), "newest first");
});

test("a token-less passkey sign-in is decided like a track: REVIEW stays in review, BLOCK refuses", async () => {
  await configure("ss-pk-enroll", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["PASSKEY"] });
  await configure("ss-add-payee", { defaultUserActionResult: "REVIEW", verificationMethods: ["PASSKEY"] });
  await configure("ss-close-account", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["PASSKEY"] });
  const rule = await mgmt("PUT", "/action-configurations/ss-close-account/rules/never", {
    body: { name: "Never from a passkey alone", priority: 0, type: "BLOCK", conditions: true },
  });
  assert.ok(rule.status === 200 || rule.status === 201, JSON.stringify(rule.body));
  const user = uid("pk-review");
  const key = new SoftKey({ rpId: "127.0.0.1", origin: BASE });
  const t = await authsignal.track({ userId: user, action: "ss-pk-enroll" });
  const reg = await client("/user-authenticators/passkey/registration-options", t.token, { username: "pk" });
  assert.equal((await client("/user-authenticators/passkey", t.token, { registrationCredential: key.register(reg.body.options), challengeId: reg.body.challengeId })).status, 200);
  // The browser SDK's token-less calls: the tenant id as Basic.
  const tenant = (path, body) => call("POST", `/v1/client${path}`, { secret: null, body, headers: { Authorization: `Basic ${Buffer.from("actiongate").toString("base64")}` } });
  const signIn = async (action) => {
    const ch = await tenant("/challenge", { action });
    assert.equal(ch.status, 200, JSON.stringify(ch.body));
    const o = await tenant("/user-authenticators/passkey/authentication-options", { challengeId: ch.body.challengeId });
    return tenant("/verify/passkey", { authenticationCredential: key.assert(o.body.options), challengeId: ch.body.challengeId });
  };
  // add-payee defaults to REVIEW: the passkey proves who it is, a reviewer still decides.
  const review = await signIn("ss-add-payee");
  assert.equal(review.status, 200, JSON.stringify(review.body));
  assert.equal(review.body.state, "REVIEW_REQUIRED");
  const v = await authsignal.validateChallenge({ token: review.body.accessToken, action: "ss-add-payee" });
  assert.equal(v.isValid, false, "not approved by a passkey alone");
  assert.equal(v.state, "REVIEW_REQUIRED");
  const queue = await mgmt("GET", "/reviews?actionCode=ss-add-payee");
  assert.ok(queue.body.reviews.some((r) => r.userId === user), "it waits in the review queue");
  // A rule that blocks: refused, and stored as blocked.
  const blocked = await signIn("ss-close-account");
  assertError(blocked, 403, "action_blocked");
  const actions = (await authsignal.queryUserActions({ userId: user })).filter((a) => a.actionCode === "ss-close-account");
  assert.deepEqual(actions.map((a) => a.state), ["BLOCK"]);
});

test("a challenge the victim passes on their own device does not make the attacker's device known", async () => {
  const { user, email } = await victim("elsewhere");
  const first = await withdraw(user, "attacker-laptop", { amount: 40, to: "NZ-4" });
  assertError(first, 401, "challenge_required");
  const token = first.body.token;
  // The victim's own browser (its device cookie) asks for and types the code.
  const fromPhone = (path, body = {}) => fetch(`${BASE}/v1/client${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Cookie: "__as_aid=victim-phone" },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  assert.equal((await fromPhone("/challenge/email-otp")).status, 200);
  const passed = await fromPhone("/verify/email-otp", { verificationCode: (await lastMessageTo(email)).code });
  assert.equal(passed.body.isVerified, true, JSON.stringify(passed.body));
  // The laptop is still new: the next request from it is challenged again.
  assertError(await withdraw(user, "attacker-laptop", { amount: 41, to: "NZ-4" }), 401, "challenge_required");
  assert.deepEqual((await executed(user)).map((e) => e.amount), [], "nothing new ran");
});
