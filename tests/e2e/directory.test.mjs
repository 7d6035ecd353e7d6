// The user directory (D1): queryUsers through the official Node SDK, the
// portal's search, and what keeps it in step: profile changes, deletion,
// a first track, a verified enrollment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authsignal, mgmt, call, uid, assertError, eventually } from "./lib.mjs";


test("queryUsers finds a profile as soon as it is changed, and no longer once it changes again or is deleted", async () => {
  const userId = uid("dir");
  const email = `${userId}@example.com`;
  await authsignal.updateUser({ userId, attributes: { email, username: `name-${userId}` } });
  // Read-your-writes: no waiting after the PATCH.
  let found = await authsignal.queryUsers({ email });
  assert.deepEqual(found.users.map((u) => u.userId), [userId]);
  assert.equal(found.users[0].email, email);
  assert.equal(found.users[0].emailVerified, false);
  assert.equal(found.users[0].username, `name-${userId}`);
  assert.equal(found.lastEvaluatedUserId, undefined);
  assert.equal((await authsignal.queryUsers({ username: `name-${userId}`, email })).users.length, 1, "every filter given must match");
  assert.equal((await authsignal.queryUsers({ username: `name-${userId}`, email: "other@example.com" })).users.length, 0);

  const moved = `moved-${email}`;
  await authsignal.updateUser({ userId, attributes: { email: moved } });
  assert.deepEqual((await authsignal.queryUsers({ email })).users, []);
  assert.deepEqual((await authsignal.queryUsers({ email: moved })).users.map((u) => u.userId), [userId]);

  await authsignal.deleteUser({ userId });
  assert.deepEqual((await authsignal.queryUsers({ email: moved })).users, []);
  // A late delivery of an older change (the outbox still holds them) does
  // not bring the user back.
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual((await authsignal.queryUsers({ email: moved })).users, []);
});

test("queryUsers pages in user id order", async () => {
  const username = uid("shared");
  const ids = [uid("page-a"), uid("page-b"), uid("page-c")].sort();
  for (const userId of ids) await authsignal.updateUser({ userId, attributes: { username } });
  const first = await authsignal.queryUsers({ username, limit: 2 });
  assert.deepEqual(first.users.map((u) => u.userId), ids.slice(0, 2));
  assert.equal(first.lastEvaluatedUserId, ids[1]);
  const second = await authsignal.queryUsers({ username, limit: 2, lastEvaluatedUserId: first.lastEvaluatedUserId });
  assert.deepEqual(second.users.map((u) => u.userId), ids.slice(2));
  assert.equal(second.lastEvaluatedUserId, undefined);
});

test("the directory follows a first track and a verified enrollment through the outbox", async () => {
  const userId = uid("dir-track");
  const email = `${userId}@example.com`;
  await authsignal.track({ userId, action: "dir-login", attributes: { email } });
  let found = await eventually(() => authsignal.queryUsers({ email }), (r) => r.users.length === 1, "the tracked user");
  assert.equal(found.users[0].userId, userId);
  assert.equal(found.users[0].emailVerified, false);
  await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "EMAIL_OTP", email } });
  found = await eventually(() => authsignal.queryUsers({ email }), (r) => r.users[0]?.emailVerified === true, "the verified address");
  assert.equal(found.users[0].userId, userId);
  // And the phone number of an SMS enrollment.
  const phoneNumber = `+6421${String(Date.now()).slice(-7)}`;
  await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "SMS", phoneNumber } });
  found = await eventually(() => authsignal.queryUsers({ phoneNumber }), (r) => r.users.length === 1, "the phone number");
  assert.equal(found.users[0].phoneNumberVerified, true);
});

test("queryUsers refuses a query without a filter and a bad page size", async () => {
  assertError(await call("GET", "/v1/users"), 400, "invalid_request");
  assertError(await call("GET", "/v1/users?email=a@b.example&limit=0"), 400, "invalid_request");
  assertError(await call("GET", "/v1/users?email=a@b.example&limit=101"), 400, "invalid_request");
  assertError(await call("GET", "/v1/users?email=a@b.example", { secret: null }), 401, "unauthorized");
  assertError(await call("POST", "/v1/users", { body: {} }), 405, "method_not_allowed");
});

test("the portal searches users by the start of their id, email or phone number", async () => {
  const stem = uid("findme");
  for (const suffix of ["-1", "-2"]) await authsignal.updateUser({ userId: stem + suffix, attributes: { email: `${stem}${suffix}@example.com`, phoneNumber: "+64211110000" } });
  let r = await mgmt("GET", `/users?q=${encodeURIComponent(stem)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.users.map((u) => u.userId), [`${stem}-1`, `${stem}-2`]);
  r = await mgmt("GET", `/users?q=${encodeURIComponent(`${stem}-2@example.com`)}`);
  assert.deepEqual(r.body.users.map((u) => u.userId), [`${stem}-2`]);
  r = await mgmt("GET", `/users?q=${encodeURIComponent("+64211110000")}`);
  assert.ok(r.body.users.some((u) => u.userId === `${stem}-1`));
  // Wildcards are text, not patterns.
  r = await mgmt("GET", `/users?q=${encodeURIComponent("findme%")}`);
  assert.deepEqual(r.body.users, []);
  assertError(await mgmt("GET", "/users"), 400, "invalid_request");
  assertError(await mgmt("GET", "/users?q=x", { secret: null }), 401, "unauthorized");
});
