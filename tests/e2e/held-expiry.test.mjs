// A request the edge proxy held back, verified but never resumed, expires
// cleanly: on a worker of its own with HELD_REQUEST_TTL_SECONDS=3, an API
// withdrawal is challenged, the challenge passed, and nobody comes back in
// time. The user object's alarm then drops it: the portal's overview shows
// it expired, the action's history says HELD_REQUEST_EXPIRED with its state
// unchanged, a late return with the token is refused, and the bank never
// executed it. One that is resumed in time is released once and never
// expires.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { VARS, callerOf, uid, totpCode } from "./lib.mjs";
import { startBank, sessionToken } from "../../demo/bank.mjs";

let worker;
let bank;

const call = callerOf(() => worker.baseUrl);

const session = (user) => `session=${sessionToken(user, VARS.APP_SESSION_SECRET, 3600)}`;
const executed = async (user) => (await (await fetch(`${bank.url}/api/ledger`)).json()).executed.filter((e) => e.user === user);

async function challengedWithdrawal(user, body) {
  const r = await call("POST", "/api/withdraw", { cookie: session(user), body });
  assert.equal(r.status, 401, JSON.stringify(r.body));
  assert.equal(r.body.errorCode, "challenge_required");
  const token = r.body.token;
  const enrolled = await call("POST", "/v1/client/user-authenticators/totp", { token, body: {} });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const verified = await call("POST", "/v1/client/verify/totp", { token, body: { verificationCode: totpCode(enrolled.body.secret) } });
  assert.equal(verified.body.isVerified, true, JSON.stringify(verified.body));
  return token;
}

async function overviewAction(user) {
  const o = await call("GET", `/v1/management/users/${user}`, { secret: VARS.MANAGEMENT_SECRET_KEY });
  assert.equal(o.status, 200, JSON.stringify(o.body));
  return o.body.actions.find((a) => a.actionCode === "hold-withdraw");
}

before(async () => {
  worker = await startWorker({ extraArgs: ["--var", "HELD_REQUEST_TTL_SECONDS:3"] });
  bank = await startBank(0);
  const doc = {
    actionConfigurations: {
      "hold-withdraw": { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] },
    },
    proxy: {
      originUrl: bank.url,
      identity: { jwt: { cookie: "session", algorithm: "HS256", secretEnv: "APP_SESSION_SECRET" }, loginUrl: "/login" },
      routes: [{ method: "POST", path: "/api/withdraw", action: "hold-withdraw", custom: { amount: "body:/amount", to: "body:/to" } }],
    },
  };
  const r = await call("PUT", "/v1/management/configuration", { secret: VARS.MANAGEMENT_SECRET_KEY, body: doc });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await bank?.close();
  await worker?.stop();
});

test("verified, never resumed: the held withdrawal expires, is shown so, and never runs", async () => {
  const user = uid("held");
  const body = { amount: 5000, to: "NZ-0201-5555555-00" };
  const token = await challengedWithdrawal(user, body);
  let a = await overviewAction(user);
  assert.equal(a.state, "CHALLENGE_SUCCEEDED");
  assert.equal(a.heldRequest.method, "POST");
  assert.equal(a.heldRequest.path, "/api/withdraw");
  assert.equal(a.heldRequest.releasedAt, null);
  const expiresAt = Date.parse(a.heldRequest.expiresAt);
  assert.ok(expiresAt > Date.now() && expiresAt <= Date.now() + 4000, a.heldRequest.expiresAt);

  // Nobody comes back; the alarm drops it.
  for (let i = 0; ; i++) {
    a = await overviewAction(user);
    if (a.heldRequest?.expiredAt) break;
    assert.ok(i < 60, `still held: ${JSON.stringify(a.heldRequest)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(a.state, "CHALLENGE_SUCCEEDED", "the state stays: the person did verify");
  const last = a.history.at(-1);
  assert.deepEqual([last.from, last.to, last.cause.type], ["CHALLENGE_SUCCEEDED", "CHALLENGE_SUCCEEDED", "HELD_REQUEST_EXPIRED"]);

  // Coming back now releases nothing.
  const late = await call("POST", "/api/withdraw", { cookie: session(user), body, headers: { "X-ActionGate-Token": token } });
  assert.equal(late.status, 403, JSON.stringify(late.body));
  assert.equal(late.body.errorCode, "expired_token");
  assert.deepEqual(await executed(user), [], "the bank never ran it");
});

test("resumed in time: released once, and nothing expires afterwards", async () => {
  const user = uid("held-ok");
  const body = { amount: 6000, to: "NZ-0201-6666666-00" };
  const token = await challengedWithdrawal(user, body);
  const r = await call("POST", "/api/withdraw", { cookie: session(user), body, headers: { "X-ActionGate-Token": token } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal((await executed(user)).length, 1);
  await new Promise((res) => setTimeout(res, 4500));
  const a = await overviewAction(user);
  assert.ok(a.heldRequest.releasedAt, JSON.stringify(a.heldRequest));
  assert.ok(!a.history.some((h) => h.cause.type === "HELD_REQUEST_EXPIRED"));
  assert.equal((await executed(user)).length, 1, "exactly once");
});
