// Analytics: tracks by outcome, challenge success rate and the median time
// to complete a challenge, per action and day, counted in shard objects from
// the users' outboxes and summed when read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authsignal, mgmt, uid, assertError, client, totpCode } from "./lib.mjs";

test("per action and day: outcomes, challenge success rate, median time to complete", async () => {
  const action = `an-${uid("a").slice(-8)}`;
  const r0 = await mgmt("PUT", `/action-configurations/${action}`, {
    body: { defaultUserActionResult: "ALLOW", verificationMethods: ["AUTHENTICATOR_APP"] },
  });
  assert.ok([200, 201].includes(r0.status), JSON.stringify(r0.body));
  for (const [id, type, min] of [["big", "BLOCK", 10000], ["mid", "CHALLENGE", 100]]) {
    const r = await mgmt("PUT", `/action-configurations/${action}/rules/${id}`, {
      body: { name: id, priority: type === "BLOCK" ? 0 : 1, type, conditions: { ">": [{ var: "action.custom.amount" }, min] } },
    });
    assert.ok([200, 201].includes(r.status), JSON.stringify(r.body));
  }
  const track = (amount) => authsignal.track({ userId: uid("an"), action, attributes: { custom: { amount } } });
  await track(5);
  await track(50);
  await track(50000);
  // Challenges: two completed, one failed with six wrong codes.
  const challenged = [await track(500), await track(600), await track(700)];
  for (const t of challenged) assert.equal(t.state, "CHALLENGE_REQUIRED");
  for (const t of challenged.slice(0, 2)) {
    const e = await client("/user-authenticators/totp", t.token);
    const v = await client("/verify/totp", t.token, { verificationCode: totpCode(e.body.secret) });
    assert.equal(v.body.isVerified, true);
  }
  const e = await client("/user-authenticators/totp", challenged[2].token);
  const wrong = totpCode(e.body.secret) === "000000" ? "111111" : "000000";
  for (let i = 0; i < 6; i++) await client("/verify/totp", challenged[2].token, { verificationCode: wrong });
  // Two more: one cancelled by the person, one left open. Neither passed,
  // so both count against the success rate, not as failures.
  const left = [await track(800), await track(900)];
  assert.equal((await client("/action/cancel", left[0].token)).status, 200);

  const today = new Date().toISOString().slice(0, 10);
  let day;
  for (let i = 0; i < 100; i++) {
    const r = await mgmt("GET", `/analytics?actionCode=${action}&from=${today}&to=${today}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    day = r.body.days.find((d) => d.actionCode === action && d.day === today);
    if (day && day.tracks === 8 && day.challengesSucceeded + day.challengesFailed === 3) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.ok(day, "the day was counted");
  assert.deepEqual(day.byOutcome, { ALLOW: 2, CHALLENGE: 5, REVIEW: 0, BLOCK: 1 });
  assert.equal(day.tracks, 8);
  assert.equal(day.challengesSucceeded, 2);
  assert.equal(day.challengesFailed, 1);
  assert.equal(day.challengesAbandoned, 2);
  assert.ok(Math.abs(day.challengeSuccessRate - 2 / 5) < 1e-9, "of the challenges issued");
  assert.equal(typeof day.medianChallengeSeconds, "number");
  assert.ok(day.medianChallengeSeconds >= 0 && day.medianChallengeSeconds < 60, String(day.medianChallengeSeconds));
});

test("analytics queries are checked", async () => {
  assertError(await mgmt("GET", "/analytics?from=yesterday"), 400, "invalid_request");
  assertError(await mgmt("GET", "/analytics?from=2026-11-20&to=2026-11-01"), 400, "invalid_request");
  assertError(await mgmt("GET", "/analytics?from=2025-01-01&to=2026-11-01"), 400, "invalid_request");
  assertError(await mgmt("GET", "/analytics?group=day"), 400, "invalid_request");
  const r = await mgmt("GET", "/analytics");
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(r.body.days));
  assert.match(r.body.from, /^\d{4}-\d{2}-\d{2}$/);
});

test("one user's counts: batch after batch, and after the user is deleted, each counted once", async () => {
  const action = `an-${uid("b").slice(-8)}`;
  const r0 = await mgmt("PUT", `/action-configurations/${action}`, {
    body: { defaultUserActionResult: "ALLOW", verificationMethods: ["AUTHENTICATOR_APP"] },
  });
  assert.ok([200, 201].includes(r0.status), JSON.stringify(r0.body));
  const userId = uid("an-one");
  const today = new Date().toISOString().slice(0, 10);
  const tracks = async () => {
    const r = await mgmt("GET", `/analytics?actionCode=${action}&from=${today}&to=${today}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.days.find((d) => d.actionCode === action)?.tracks ?? 0;
  };
  const waitFor = async (n) => {
    let seen = 0;
    for (let i = 0; i < 100 && seen < n; i++) {
      seen = await tracks();
      if (seen < n) await new Promise((res) => setTimeout(res, 200));
    }
    return seen;
  };
  for (let i = 0; i < 3; i++) await authsignal.track({ userId, action });
  assert.equal(await waitFor(3), 3);
  // A second batch from the same user adds to the first.
  await authsignal.track({ userId, action });
  assert.equal(await waitFor(4), 4);
  // Deleting the user keeps the batch numbering: later counts still land.
  await authsignal.deleteUser({ userId });
  await authsignal.track({ userId, action });
  await authsignal.track({ userId, action });
  assert.equal(await waitFor(6), 6);
  // Nothing is counted twice once delivery has settled.
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(await tracks(), 6);
});
