// The official @authsignal/node SDK, pointed at the local worker, drives
// every Server API call it has for actions and users.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authsignal, configure, uid, BASE, decodeJwt } from "./lib.mjs";

/** A time-ordered UUID (version 7): what a track without a key gets. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The milliseconds since the epoch a version 7 UUID starts with. */
const uuidTime = (u) => parseInt(u.replace(/-/g, "").slice(0, 12), 16);

test("track an unconfigured action: ALLOW, fresh time-ordered UUID key, bound token, challenge url", async () => {
  const userId = uid();
  const before = Date.now();
  const r = await authsignal.track({ userId, action: "unconfigured-action", attributes: { custom: { amount: 10 } } });
  assert.equal(r.state, "ALLOW");
  assert.match(r.idempotencyKey, UUID);
  const at = uuidTime(r.idempotencyKey);
  assert.ok(at >= before - 1000 && at <= Date.now() + 1000, `the key's time ${at} is the track's`);
  const second = await authsignal.track({ userId, action: "unconfigured-action", attributes: { custom: { amount: 11 } } });
  assert.notEqual(second.idempotencyKey, r.idempotencyKey);
  assert.ok(second.idempotencyKey > r.idempotencyKey || uuidTime(second.idempotencyKey) === at, "keys sort in time order");
  assert.equal(r.isEnrolled, false);
  assert.deepEqual(r.enrolledVerificationMethods, []);
  assert.deepEqual(r.ruleIds, []);
  assert.ok(r.allowedVerificationMethods.includes("PASSKEY"));
  assert.equal(r.url, `${BASE}/challenge?token=${r.token}`);
  const { header, payload } = decodeJwt(r.token);
  assert.equal(header.alg, "HS256");
  assert.ok(header.kid);
  assert.equal(payload.sub, userId);
  assert.equal(payload.actionCode, "unconfigured-action");
  assert.equal(payload.idempotencyKey, r.idempotencyKey);
  assert.ok(payload.exp > payload.iat && payload.exp - payload.iat <= 3600, "short-lived");
});

test("the configured default outcome decides the state", async () => {
  for (const [result, state] of [["ALLOW", "ALLOW"], ["CHALLENGE", "CHALLENGE_REQUIRED"], ["REVIEW", "REVIEW_REQUIRED"], ["BLOCK", "BLOCK"]]) {
    const action = `outcome-${result.toLowerCase()}`;
    await configure(action, { defaultUserActionResult: result, verificationMethods: ["EMAIL_OTP", "AUTHENTICATOR_APP"], defaultVerificationMethod: "AUTHENTICATOR_APP" });
    const r = await authsignal.track({ userId: uid(), action });
    assert.equal(r.state, state, action);
    assert.deepEqual(r.allowedVerificationMethods, ["EMAIL_OTP", "AUTHENTICATOR_APP"]);
    assert.equal(r.defaultVerificationMethod, "AUTHENTICATOR_APP");
  }
});

test("getAction, queryUserActions, updateAction and validateChallenge through the SDK", async () => {
  const userId = uid();
  await configure("sdk-review", { defaultUserActionResult: "REVIEW" });
  await configure("sdk-challenge", { defaultUserActionResult: "CHALLENGE" });
  const reviewed = await authsignal.track({ userId, action: "sdk-review", attributes: { idempotencyKey: "rev-1" } });
  const challenged = await authsignal.track({ userId, action: "sdk-challenge", attributes: { idempotencyKey: "chal-1" } });
  const allowed = await authsignal.track({ userId, action: "sdk-allowed" });

  const got = await authsignal.getAction({ userId, action: "sdk-review", idempotencyKey: "rev-1" });
  assert.equal(got.state, "REVIEW_REQUIRED");
  assert.ok(!Number.isNaN(Date.parse(got.createdAt)));
  assert.ok(!Number.isNaN(Date.parse(got.stateUpdatedAt)));
  assert.deepEqual(got.rules, []);

  const all = await authsignal.queryUserActions({ userId });
  assert.deepEqual(all.map((a) => a.actionCode), ["sdk-allowed", "sdk-challenge", "sdk-review"], "newest first");
  const onlyReview = await authsignal.queryUserActions({ userId, actionCodes: ["sdk-review"] });
  assert.deepEqual(onlyReview.map((a) => a.idempotencyKey), ["rev-1"]);
  const pending = await authsignal.queryUserActions({ userId, state: "CHALLENGE_REQUIRED" });
  assert.deepEqual(pending.map((a) => a.idempotencyKey), ["chal-1"]);
  const future = await authsignal.queryUserActions({ userId, fromDate: new Date(Date.now() + 3600_000).toISOString() });
  assert.deepEqual(future, []);

  // Pending actions are not valid; allowed ones are.
  let v = await authsignal.validateChallenge({ token: reviewed.token });
  assert.equal(v.isValid, false);
  assert.equal(v.state, "REVIEW_REQUIRED");
  v = await authsignal.validateChallenge({ token: allowed.token, userId, action: "sdk-allowed" });
  assert.equal(v.isValid, true);
  assert.equal(v.state, "ALLOW");
  assert.equal(v.userId, userId);
  assert.equal(v.action, "sdk-allowed");
  assert.equal(v.idempotencyKey, allowed.idempotencyKey);

  // A reviewer approves through updateAction: now the token validates.
  const updated = await authsignal.updateAction({ userId, action: "sdk-review", idempotencyKey: "rev-1", attributes: { state: "REVIEW_SUCCEEDED" } });
  assert.equal(updated.state, "REVIEW_SUCCEEDED");
  // The audit trail: tracked by the default outcome, then settled through the API.
  const trail = (await authsignal.getAction({ userId, action: "sdk-review", idempotencyKey: "rev-1" })).history;
  assert.deepEqual(trail.map((h) => [h.from, h.to, h.cause.type]), [
    [undefined, "REVIEW_REQUIRED", "TRACK"],
    ["REVIEW_REQUIRED", "REVIEW_SUCCEEDED", "API"],
  ]);
  assert.ok(Date.parse(trail[1].at) >= Date.parse(trail[0].at));
  v = await authsignal.validateChallenge({ token: reviewed.token });
  assert.equal(v.isValid, true);
  assert.equal(v.state, "REVIEW_SUCCEEDED");

  // A settled action cannot become pending again.
  await assert.rejects(
    authsignal.updateAction({ userId, action: "sdk-review", idempotencyKey: "rev-1", attributes: { state: "CHALLENGE_REQUIRED" } }),
    (e) => e.statusCode === 400 && e.errorCode === "invalid_state_transition"
      && /REVIEW_SUCCEEDED/.test(e.errorDescription) && /CHALLENGE_REQUIRED/.test(e.errorDescription),
  );
  // The app may send a pending challenge to review (Authsignal's own suite
  // does); the history says the API did it.
  await authsignal.track({ userId, action: "sdk-challenge", attributes: { idempotencyKey: "chal-2" } });
  const toReview = await authsignal.updateAction({ userId, action: "sdk-challenge", idempotencyKey: "chal-2", attributes: { state: "REVIEW_REQUIRED" } });
  assert.equal(toReview.state, "REVIEW_REQUIRED");
  const moved = await authsignal.getAction({ userId, action: "sdk-challenge", idempotencyKey: "chal-2" });
  assert.deepEqual(moved.history.map((h) => [h.from ?? null, h.to, h.cause.type]).at(-1), ["CHALLENGE_REQUIRED", "REVIEW_REQUIRED", "API"]);
  // Block the pending challenge.
  const blocked = await authsignal.updateAction({ userId, action: "sdk-challenge", idempotencyKey: "chal-1", attributes: { state: "BLOCK" } });
  assert.equal(blocked.state, "BLOCK");
  v = await authsignal.validateChallenge({ token: challenged.token });
  assert.equal(v.isValid, false);
  assert.equal(v.state, "BLOCK");
  // Sending an allowed action to review (the documented example).
  const sent = await authsignal.updateAction({ userId, action: "sdk-allowed", idempotencyKey: allowed.idempotencyKey, attributes: { state: "REVIEW_REQUIRED" } });
  assert.equal(sent.state, "REVIEW_REQUIRED");

  await assert.rejects(
    authsignal.getAction({ userId, action: "sdk-review", idempotencyKey: "no-such-key" }),
    (e) => e.statusCode === 404 && e.errorCode === "action_not_found",
  );
});

test("getUser, updateUser, authenticators and deleteUser through the SDK", async () => {
  const userId = uid();
  let user = await authsignal.getUser({ userId });
  assert.equal(user.isEnrolled, false);
  assert.equal(user.email, undefined);

  const patched = await authsignal.updateUser({
    userId,
    attributes: { email: "alice@example.com", phoneNumber: "+64211234567", username: "alice", displayName: "Alice", custom: { tier: "gold" } },
  });
  assert.equal(patched.displayName, "Alice");
  user = await authsignal.getUser({ userId });
  assert.equal(user.email, "alice@example.com");
  assert.equal(user.emailVerified, false);
  assert.equal(user.phoneNumber, "+64211234567");
  assert.equal(user.username, "alice");
  assert.deepEqual(user.custom, { tier: "gold" });

  // Only the fields sent change; null clears one.
  await authsignal.updateUser({ userId, attributes: { displayName: null } });
  user = await authsignal.getUser({ userId });
  assert.equal(user.displayName, undefined);
  assert.equal(user.username, "alice");

  const enrolled = await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "EMAIL_OTP", email: "alice@example.com" } });
  assert.equal(enrolled.authenticator.verificationMethod, "EMAIL_OTP");
  assert.equal(enrolled.recoveryCodes.length, 10, "the first factor comes with recovery codes");
  const list = await authsignal.getAuthenticators({ userId });
  assert.deepEqual(list.map((a) => a.verificationMethod).sort(), ["EMAIL_OTP", "RECOVERY_CODE"]);
  assert.equal(list.find((a) => a.verificationMethod === "EMAIL_OTP").userAuthenticatorId, enrolled.authenticator.userAuthenticatorId);
  user = await authsignal.getUser({ userId });
  assert.equal(user.isEnrolled, true);
  assert.equal(user.emailVerified, true);
  assert.deepEqual(user.enrolledVerificationMethods, ["EMAIL_OTP", "RECOVERY_CODE"]);
  const tracked = await authsignal.track({ userId, action: "sdk-enrolled" });
  assert.equal(tracked.isEnrolled, true);
  assert.deepEqual(tracked.enrolledVerificationMethods, ["EMAIL_OTP", "RECOVERY_CODE"]);
  await authsignal.deleteAuthenticator({ userId, userAuthenticatorId: enrolled.authenticator.userAuthenticatorId });
  assert.deepEqual(await authsignal.getAuthenticators({ userId }), [], "the recovery codes went with the last other factor");

  // Deleting the user removes its actions too.
  await authsignal.deleteUser({ userId });
  user = await authsignal.getUser({ userId });
  assert.equal(user.email, undefined);
  assert.deepEqual(await authsignal.queryUserActions({ userId }), []);
  await assert.rejects(
    authsignal.getAction({ userId, action: "sdk-enrolled", idempotencyKey: tracked.idempotencyKey }),
    (e) => e.statusCode === 404,
  );
});

test("track fills the user's email and username when none is known", async () => {
  const userId = uid();
  await authsignal.track({ userId, action: "signup", attributes: { email: "new@example.com", username: "newbie" } });
  const user = await authsignal.getUser({ userId });
  assert.equal(user.email, "new@example.com");
  assert.equal(user.username, "newbie");
});

test("user ids with reserved characters are one user, not a different route", async () => {
  const userId = `a/b ${uid()}@example.com`;
  const r = await authsignal.track({ userId: encodeURIComponent(userId), action: "login" });
  assert.equal(r.state, "ALLOW");
  assert.equal(decodeJwt(r.token).payload.sub, userId);
  const list = await authsignal.queryUserActions({ userId: encodeURIComponent(userId) });
  assert.equal(list.length, 1);
});
