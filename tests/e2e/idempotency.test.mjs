// Idempotency: a repeated track returns the stored action and re-evaluates
// nothing; concurrent identical tracks create exactly one action.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authsignal, call, configure, uid, assertError } from "./lib.mjs";

test("a second track with the same key returns the stored result, even after the configuration changed", async () => {
  const userId = uid();
  await configure("idem-reeval", { defaultUserActionResult: "CHALLENGE" });
  const first = await authsignal.track({ userId, action: "idem-reeval", attributes: { idempotencyKey: "k1", custom: { amount: 5 } } });
  assert.equal(first.state, "CHALLENGE_REQUIRED");
  await configure("idem-reeval", { defaultUserActionResult: "BLOCK" });
  const again = await authsignal.track({ userId, action: "idem-reeval", attributes: { idempotencyKey: "k1", custom: { amount: 5 } } });
  assert.equal(again.idempotencyKey, "k1");
  assert.equal(again.state, "CHALLENGE_REQUIRED", "not re-evaluated");
  const fresh = await authsignal.track({ userId, action: "idem-reeval", attributes: { idempotencyKey: "k2" } });
  assert.equal(fresh.state, "BLOCK", "a new key is evaluated against the new configuration");
  assert.equal((await authsignal.queryUserActions({ userId })).length, 2);
});

test("50 concurrent identical tracks create exactly one action", async () => {
  const userId = uid();
  await configure("idem-race", { defaultUserActionResult: "CHALLENGE" });
  const attributes = { idempotencyKey: "race-1", custom: { amount: 100 } };
  const results = await Promise.all(
    Array.from({ length: 50 }, () => authsignal.track({ userId, action: "idem-race", attributes })),
  );
  assert.equal(results.length, 50);
  for (const r of results) {
    assert.equal(r.idempotencyKey, "race-1");
    assert.equal(r.state, "CHALLENGE_REQUIRED");
  }
  const stored = await authsignal.queryUserActions({ userId });
  assert.equal(stored.length, 1);
  // Every caller was answered about that one action.
  const got = await authsignal.getAction({ userId, action: "idem-race", idempotencyKey: "race-1" });
  assert.equal(got.createdAt, stored[0].createdAt);
});

test("50 concurrent tracks without a key create 50 actions", async () => {
  const userId = uid();
  const results = await Promise.all(Array.from({ length: 50 }, () => authsignal.track({ userId, action: "no-key" })));
  assert.equal(new Set(results.map((r) => r.idempotencyKey)).size, 50);
  assert.equal((await authsignal.queryUserActions({ userId })).length, 50);
});

test("reusing a key with other attributes returns the stored action, as Authsignal does, and changes nothing", async () => {
  const userId = uid();
  const first = await authsignal.track({ userId, action: "idem-conflict", attributes: { idempotencyKey: "k", custom: { amount: 1 } } });
  const r = await call("POST", `/v1/users/${userId}/actions/idem-conflict`, { body: { idempotencyKey: "k", custom: { amount: 1000000 } } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.idempotencyKey, "k");
  assert.equal(r.body.state, first.state);
  const stored = await authsignal.queryUserActions({ userId });
  assert.equal(stored.length, 1);
  const a = await authsignal.getAction({ userId, action: "idem-conflict", idempotencyKey: "k" });
  assert.equal(a.history.length, 1, "decided once");
});