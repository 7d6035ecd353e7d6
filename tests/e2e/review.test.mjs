// Manual review and webhooks: the review queue across users (oldest first,
// by action code, paged), reviewers' decisions with who, when and why in the
// audit trail, the edge proxy's held request after approval or rejection,
// and action/authenticator webhooks delivered at least once, signed, and
// retried after a failing receiver.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { authsignal, mgmt, call, uid, configure, assertError, VARS, BASE, client, totpCode } from "./lib.mjs";
import { EVENTS_PORT } from "./harness.mjs";
import { startBank, sessionToken } from "../../demo/bank.mjs";

// The app's webhook receiver: it can be told to fail, and records the rest.
// It also answers the synchronous action.verify webhook with `verdict`.
const events = [];
const asked = [];
let failNext = 0;
let verdict = { status: 200, body: { isVerified: true } };
let receiver;

before(async () => {
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/verify") {
        asked.push({ body: Buffer.concat(chunks).toString(), signature: req.headers["x-signature-v2"] });
        const headers = { "Content-Type": verdict.raw === undefined ? "application/json" : "text/html" };
        if (verdict.location) headers.Location = verdict.location;
        res.writeHead(verdict.status, headers);
        res.end(verdict.raw ?? JSON.stringify(verdict.body));
        return;
      }
      if (failNext > 0) {
        failNext--;
        res.writeHead(503);
        res.end("busy");
        return;
      }
      const body = Buffer.concat(chunks).toString();
      events.push({ body, signature: req.headers["x-signature-v2"], event: JSON.parse(body) });
      res.writeHead(200);
      res.end("ok");
    });
  });
  await new Promise((r) => receiver.listen(EVENTS_PORT, "127.0.0.1", r));
  await configure("rq-transfer", { defaultUserActionResult: "REVIEW" });
  await configure("rq-payee", { defaultUserActionResult: "REVIEW" });
});
after(() => new Promise((r) => receiver.close(r)));

async function until(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The whole queue (every page), optionally of one action code. */
async function queue(actionCode) {
  const all = [];
  let cursor;
  do {
    const q = new URLSearchParams({ limit: "2" });
    if (actionCode) q.set("actionCode", actionCode);
    if (cursor) q.set("cursor", cursor);
    const r = await mgmt("GET", `/reviews?${q}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    all.push(...r.body.reviews);
    cursor = r.body.nextCursor;
  } while (cursor);
  return all;
}

const decide = (userId, action, key, body) =>
  mgmt("POST", `/reviews/${encodeURIComponent(userId)}/${action}/${key}`, { body });

test("actions in review are queued across users, oldest first; a reviewer approves or rejects with a note", async () => {
  const [ann, bob, cat] = [uid("ann"), uid("bob"), uid("cat")];
  const a = await authsignal.track({ userId: ann, action: "rq-transfer", attributes: { custom: { amount: 9000 } } });
  await new Promise((r) => setTimeout(r, 20));
  const b = await authsignal.track({ userId: bob, action: "rq-payee" });
  await new Promise((r) => setTimeout(r, 20));
  const c = await authsignal.track({ userId: cat, action: "rq-transfer" });
  for (const t of [a, b, c]) assert.equal(t.state, "REVIEW_REQUIRED");

  const mine = (list) => list.filter((r) => [ann, bob, cat].includes(r.userId));
  const listed = await until("three queued reviews", async () => {
    const l = mine(await queue());
    return l.length === 3 && l;
  });
  assert.deepEqual(listed.map((r) => r.userId), [ann, bob, cat], "oldest first");
  assert.deepEqual(listed[0].custom, { amount: 9000 });
  assert.equal(listed[0].idempotencyKey, a.idempotencyKey);
  assert.deepEqual(mine(await queue("rq-transfer")).map((r) => r.userId), [ann, cat]);

  // Approve Ann's with a note: her token now validates.
  let r = await decide(ann, "rq-transfer", a.idempotencyKey, { decision: "APPROVE", reviewer: "ops@bank.example", note: "called her back" });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.state, "REVIEW_SUCCEEDED");
  const last = r.body.history.at(-1);
  assert.deepEqual([last.from, last.to, last.cause], ["REVIEW_REQUIRED", "REVIEW_SUCCEEDED", { type: "REVIEW", reviewer: "ops@bank.example", note: "called her back" }]);
  assert.equal((await authsignal.validateChallenge({ token: a.token })).isValid, true);
  // Reject Cat's: her token never validates.
  r = await decide(cat, "rq-transfer", c.idempotencyKey, { decision: "REJECT", reviewer: "ops@bank.example" });
  assert.equal(r.body.state, "REVIEW_FAILED");
  assert.equal((await authsignal.validateChallenge({ token: c.token })).isValid, false);
  // Decided actions leave the queue; Bob's stays.
  await until("decided reviews to leave the queue", async () => {
    const l = mine(await queue());
    return l.length === 1 && l[0].userId === bob;
  });
  // A decision is final.
  assertError(await decide(ann, "rq-transfer", a.idempotencyKey, { decision: "REJECT", reviewer: "x" }), 400, "invalid_state_transition");
  // Deleting Bob removes his from the queue too.
  await authsignal.deleteUser({ userId: bob });
  await until("a deleted user's review to leave the queue", async () => mine(await queue()).length === 0);
});

test("review decisions and queue requests are checked", async () => {
  const user = uid("rq");
  const t = await authsignal.track({ userId: user, action: "rq-payee" });
  assertError(await decide(user, "rq-payee", t.idempotencyKey, { decision: "MAYBE", reviewer: "x" }), 400, "invalid_request");
  assertError(await decide(user, "rq-payee", t.idempotencyKey, { decision: "APPROVE", reviewer: " " }), 400, "invalid_request");
  assertError(await decide(user, "rq-payee", t.idempotencyKey, { decision: "APPROVE" }), 400, "invalid_request");
  assertError(await decide(user, "rq-payee", "no-such-key", { decision: "APPROVE", reviewer: "x" }), 404, "action_not_found");
  assertError(await mgmt("GET", "/reviews?limit=0"), 400, "invalid_request");
  assertError(await mgmt("GET", "/reviews?cursor=nonsense"), 400, "invalid_request");
  assertError(await mgmt("GET", "/reviews?sort=new"), 400, "invalid_request");
  // The management secret, not the API secret.
  assertError(await call("GET", "/v1/management/reviews"), 401, "unauthorized");
  assertError(await call("POST", `/v1/management/reviews/${user}/rq-payee/${t.idempotencyKey}`, { body: { decision: "APPROVE", reviewer: "x" } }), 401, "unauthorized");
});

test("the edge proxy: an approved request runs once on retry, a rejected one never", async () => {
  const bank = await startBank(0);
  try {
    const r0 = await mgmt("PUT", "/configuration", {
      body: {
        actionConfigurations: {
          "rq-withdraw": {
            defaultUserActionResult: "ALLOW",
            rules: [{ ruleId: "large", name: "Large", priority: 1, type: "REVIEW", conditions: { ">": [{ var: "action.custom.amount" }, 10000] } }],
          },
        },
        proxy: {
          originUrl: bank.url,
          identity: { jwt: { cookie: "session", algorithm: "HS256", secretEnv: "APP_SESSION_SECRET" } },
          routes: [{ method: "POST", path: "/api/withdraw", action: "rq-withdraw", custom: { amount: "body:/amount", to: "body:/to" } }],
        },
      },
    });
    assert.equal(r0.status, 200, JSON.stringify(r0.body));
    const send = async (user, body, token) => {
      const headers = { Cookie: `session=${sessionToken(user, VARS.APP_SESSION_SECRET, 3600)}`, "Content-Type": "application/json" };
      if (token) headers["X-ActionGate-Token"] = token;
      const r = await fetch(`${BASE}/api/withdraw`, { method: "POST", headers, body: JSON.stringify(body) });
      return { status: r.status, headers: r.headers, body: await r.json() };
    };
    const executed = async (user) => (await (await fetch(`${bank.url}/api/ledger`)).json()).executed.filter((e) => e.user === user);

    const yes = uid("rq-yes");
    const held = await send(yes, { amount: 20000, to: "NZ-1" });
    assert.equal(held.status, 202);
    await until("the held request in the queue", async () => (await queue("rq-withdraw")).some((r) => r.userId === yes));
    assertError(await send(yes, { amount: 20000, to: "NZ-1" }, held.body.token), 403, "challenge_not_completed");
    await decide(yes, "rq-withdraw", held.body.idempotencyKey, { decision: "APPROVE", reviewer: "ops" });
    const ok = await send(yes, { amount: 20000, to: "NZ-1" }, held.body.token);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assertError(await send(yes, { amount: 20000, to: "NZ-1" }, held.body.token), 403, "token_already_used");
    assert.deepEqual((await executed(yes)).map((e) => [e.amount, e.state]), [[20000, "REVIEW_SUCCEEDED"]]);

    const no = uid("rq-no");
    const held2 = await send(no, { amount: 30000, to: "NZ-2" });
    await decide(no, "rq-withdraw", held2.body.idempotencyKey, { decision: "REJECT", reviewer: "ops", note: "fraud pattern" });
    assertError(await send(no, { amount: 30000, to: "NZ-2" }, held2.body.token), 403, "challenge_not_completed");
    assert.equal((await executed(no)).length, 0);
  } finally {
    await bank.close();
  }
});

test("a route with replayOnApproval: approval sends the held request to the app once, rejection never", async () => {
  const bank = await startBank(0);
  try {
    const r0 = await mgmt("PUT", "/configuration", {
      body: {
        actionConfigurations: {
          "rq-replay": {
            defaultUserActionResult: "ALLOW",
            rules: [{ ruleId: "large", name: "Large", priority: 1, type: "REVIEW", conditions: { ">": [{ var: "action.custom.amount" }, 10000] } }],
          },
        },
        proxy: {
          originUrl: bank.url,
          identity: { jwt: { cookie: "session", algorithm: "HS256", secretEnv: "APP_SESSION_SECRET" } },
          routes: [
            { method: "POST", path: "/withdraw", action: "rq-replay", replayOnApproval: true, custom: { amount: { from: "form:amount", type: "number" }, to: "form:to" } },
          ],
        },
      },
    });
    assert.equal(r0.status, 200, JSON.stringify(r0.body));
    const post = (user, amount) => fetch(`${BASE}/withdraw`, {
      method: "POST",
      redirect: "manual",
      headers: {
        Cookie: `session=${sessionToken(user, VARS.APP_SESSION_SECRET, 3600)}`,
        "Content-Type": "application/x-www-form-urlencoded",
        Accept: "text/html",
      },
      body: new URLSearchParams({ amount: String(amount), to: "NZ-3" }).toString(),
    });
    const executed = async (user) => (await (await fetch(`${bank.url}/api/ledger`)).json()).executed.filter((e) => e.user === user);

    // A browser's form post is held; the page says it will run if approved.
    const yes = uid("replay-yes");
    let r = await post(yes, 25000);
    assert.equal(r.status, 303, "a page of its own (Post/Redirect/Get)");
    const page = await fetch(`${BASE}${r.headers.get("location")}`, { headers: { Accept: "text/html" } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /carried out without anything more from you/);
    const queued = await until("the held request in the queue", async () => (await queue("rq-replay")).find((q) => q.userId === yes));
    assert.equal((await executed(yes)).length, 0);
    await decide(yes, "rq-replay", queued.idempotencyKey, { decision: "APPROVE", reviewer: "ops" });
    const done = await until("the approved request to reach the app", async () => {
      const e = await executed(yes);
      return e.length > 0 && e;
    });
    assert.deepEqual(done.map((e) => [e.amount, e.state, e.idempotencyKey]), [[25000, "REVIEW_SUCCEEDED", queued.idempotencyKey]]);
    const action = await authsignal.getAction({ userId: yes, action: "rq-replay", idempotencyKey: queued.idempotencyKey });
    assert.equal(action.state, "REVIEW_SUCCEEDED");

    // A rejected one never reaches the app.
    const no = uid("replay-no");
    r = await post(no, 26000);
    assert.equal(r.status, 303);
    const q2 = await until("the second held request", async () => (await queue("rq-replay")).find((q) => q.userId === no));
    await decide(no, "rq-replay", q2.idempotencyKey, { decision: "REJECT", reviewer: "ops" });
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal((await executed(no)).length, 0);
    // And the approved one ran exactly once.
    assert.equal((await executed(yes)).length, 1);
  } finally {
    await bank.close();
  }
});

test("webhooks: action and authenticator events, signed, delivered at least once after a failing receiver", async () => {
  await configure("wh-action", { defaultUserActionResult: "REVIEW" });
  const user = uid("wh");
  failNext = 2; // the receiver is down for the first two deliveries
  const t = await authsignal.track({ userId: user, action: "wh-action" });
  await decide(user, "wh-action", t.idempotencyKey, { decision: "APPROVE", reviewer: "ops", note: "fine" });
  const enrolled = await authsignal.enrollVerifiedAuthenticator({ userId: user, attributes: { verificationMethod: "EMAIL_OTP", email: `${user}@example.com` } });
  await authsignal.deleteAuthenticator({ userId: user, userAuthenticatorId: enrolled.authenticator.userAuthenticatorId });

  const mine = () => {
    // At least once: the same event id may come twice; the app keeps the first.
    const seen = new Set();
    return events.filter((e) => e.event.data.userId === user && !seen.has(e.event.id) && seen.add(e.event.id));
  };
  const got = await until("four webhooks", () => mine().length >= 4 && mine(), 60_000);
  assert.deepEqual(got.map((e) => e.event.type), ["action.created", "action.state_changed", "authenticator.created", "authenticator.deleted"]);
  // Each verifies as the app would verify it.
  for (const e of got) {
    const verified = authsignal.webhook.constructEvent(e.body, e.signature);
    assert.equal(verified.id, e.event.id);
    assert.equal(verified.tenantId, "actiongate");
  }
  const [created, changed, added, removed] = got.map((e) => e.event.data);
  assert.equal(created.actionCode, "wh-action");
  assert.equal(created.state, "REVIEW_REQUIRED");
  assert.equal(created.idempotencyKey, t.idempotencyKey);
  assert.deepEqual([changed.previousState, changed.state, changed.cause], ["REVIEW_REQUIRED", "REVIEW_SUCCEEDED", { type: "REVIEW", reviewer: "ops", note: "fine" }]);
  // The authenticator events are flat, as Authsignal sends them.
  assert.equal(added.userAuthenticator, undefined);
  assert.deepEqual(Object.keys(added).sort(), ["createdAt", "email", "userAuthenticatorId", "userId", "verificationMethod"]);
  assert.equal(added.verificationMethod, "EMAIL_OTP");
  assert.equal(added.email, `${user}@example.com`);
  assert.equal(added.userAuthenticatorId, enrolled.authenticator.userAuthenticatorId);
  assert.ok(!Number.isNaN(Date.parse(added.createdAt)));
  assert.equal(removed.userAuthenticatorId, enrolled.authenticator.userAuthenticatorId);
  assert.equal(removed.email, `${user}@example.com`);
  assert.equal(removed.createdAt, added.createdAt, "when it was created");
  assert.ok(Date.parse(removed.deletedAt) >= Date.parse(added.createdAt));
  assert.equal(failNext, 0, "the failures were retried");
  // A forged signature does not verify.
  assert.throws(() => authsignal.webhook.constructEvent(got[0].body.replace("wh-action", "other"), got[0].signature));
});

test("action.verify: the app vetoes or confirms a completed challenge, synchronously; no answer fails closed", async () => {
  await configure("veto-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"], actionVerifyWebhook: true });
  await configure("no-veto-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] });
  /** Track, enroll an authenticator app, answer with its first code. */
  const challenge = async (action) => {
    const userId = uid("veto");
    const t = await authsignal.track({ userId, action });
    const e = await client("/user-authenticators/totp", t.token);
    const r = await client("/verify/totp", t.token, { verificationCode: totpCode(e.body.secret) });
    const a = await authsignal.getAction({ userId, action, idempotencyKey: t.idempotencyKey });
    return { userId, t, r, a };
  };

  verdict = { status: 200, body: { isVerified: false, reason: "too many payees added today" } };
  const before = asked.length;
  let { userId, r, a } = await challenge("veto-action");
  assert.deepEqual(r.body, { isVerified: false, failureReason: "VETOED", reason: "too many payees added today" });
  assert.equal(a.state, "CHALLENGE_FAILED");
  // The app was enrolled by its first code (ENROLLED, the state unchanged), then vetoed.
  assert.deepEqual(a.history.map((h) => h.to), ["CHALLENGE_REQUIRED", "CHALLENGE_SUCCEEDED", "CHALLENGE_SUCCEEDED", "CHALLENGE_FAILED"]);
  assert.equal(a.history[2].cause.type, "ENROLLED");
  assert.deepEqual(a.history.at(-1).cause, { type: "VETOED", reason: "too many payees added today" });
  // What the app was asked, signed like every webhook.
  assert.equal(asked.length, before + 1);
  const q = authsignal.webhook.constructEvent(asked.at(-1).body, asked.at(-1).signature);
  assert.equal(q.type, "action.verify");
  assert.deepEqual([q.data.userId, q.data.actionCode, q.data.verificationMethod], [userId, "veto-action", "AUTHENTICATOR_APP"]);
  // Authsignal's fields for the same.
  assert.deepEqual([q.data.action, q.data.state], ["veto-action", "CHALLENGE_SUCCEEDED"]);
  assert.ok(!Number.isNaN(Date.parse(q.data.verifiedAt)));

  verdict = { status: 200, body: { isVerified: true } };
  ({ r, a } = await challenge("veto-action"));
  assert.equal(r.body.isVerified, true, JSON.stringify(r.body));
  assert.equal(a.state, "CHALLENGE_SUCCEEDED");
  assert.equal((await authsignal.validateChallenge({ token: r.body.accessToken })).isValid, true);

  // As Authsignal's contract has it, a 2xx is a yes (an app written for it answers 200 and nothing more)...
  verdict = { status: 200, body: {} };
  ({ r, a } = await challenge("veto-action"));
  assert.equal(r.body.isVerified, true, JSON.stringify(r.body));
  assert.equal(a.state, "CHALLENGE_SUCCEEDED");
  // Not an answer (stricter than Authsignal, for safety): a login page's 200, a redirect.
  verdict = { status: 200, raw: "<!doctype html><title>Sign in</title>" };
  ({ r, a } = await challenge("veto-action"));
  assert.equal(r.body.failureReason, "VETOED", "an HTML 200 is not a yes");
  assert.equal(a.state, "CHALLENGE_FAILED");
  verdict = { status: 302, location: "/login", body: {} };
  ({ r, a } = await challenge("veto-action"));
  assert.equal(r.body.failureReason, "VETOED", "a redirect is not followed, and not a yes");
  assert.equal(a.state, "CHALLENGE_FAILED");
  // ...and a yes unless it says isVerified and anything but true.
  verdict = { status: 200, body: { isVerified: "no" } };
  ({ r, a } = await challenge("veto-action"));
  assert.equal(r.body.failureReason, "VETOED");
  assert.equal(a.state, "CHALLENGE_FAILED");

  // The app does not answer properly: fail closed.
  verdict = { status: 503, body: {} };
  ({ r, a } = await challenge("veto-action"));
  assert.equal(r.body.failureReason, "VETOED");
  assert.equal(a.state, "CHALLENGE_FAILED");

  // Actions that do not ask never call the app.
  const n = asked.length;
  ({ r, a } = await challenge("no-veto-action"));
  assert.equal(a.state, "CHALLENGE_SUCCEEDED");
  assert.equal(asked.length, n);
  verdict = { status: 200, body: { isVerified: true } };
});
