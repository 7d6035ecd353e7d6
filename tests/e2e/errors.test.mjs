// Authentication and bad input: every refusal is a JSON error with the
// right status, nothing is stored, and nothing internal leaks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authsignal, call, configure, mgmt, uid, assertError, basic, BASE, API_SECRET, MGMT_SECRET } from "./lib.mjs";

test("server endpoints need the API secret", async () => {
  const userId = uid();
  const path = `/v1/users/${userId}/actions/login`;
  let r = await call("POST", path, { body: {}, secret: null });
  assertError(r, 401, "unauthorized");
  assert.match(r.headers.get("www-authenticate"), /^Basic /);
  // Authsignal's own words (the official SDKs' test suites compare them).
  assert.equal(r.body.errorDescription, "The request is unauthorized. Check that your API key and region base URL are correctly configured.");
  r = await call("POST", path, { body: {}, secret: "wrong-secret" });
  assertError(r, 401, "unauthorized");
  r = await call("POST", path, { body: {}, secret: MGMT_SECRET });
  assertError(r, 401, "unauthorized");
  r = await call("POST", path, { body: {}, headers: { Authorization: "Bearer " + API_SECRET }, secret: null });
  assertError(r, 401, "unauthorized");
  for (const [m, p] of [["GET", `/v1/users/${userId}`], ["GET", `/v1/users/${userId}/actions`], ["POST", "/v1/validate"], ["GET", `/v1/users/${userId}/authenticators`]]) {
    assertError(await call(m, p, { secret: null }), 401, "unauthorized");
  }
  assert.deepEqual(await authsignal.queryUserActions({ userId }), [], "nothing was tracked");
});

test("management endpoints need the management secret, not the API secret", async () => {
  assertError(await mgmt("GET", "/action-configurations", { secret: API_SECRET }), 401, "unauthorized");
  assertError(await mgmt("GET", "/action-configurations", { secret: null }), 401, "unauthorized");
  assert.equal((await mgmt("GET", "/action-configurations")).status, 200);
});

test("unknown routes are 404 and wrong methods 405 with Allow", async () => {
  assertError(await call("GET", "/v1/nope"), 404, "not_found");
  assertError(await call("GET", "/__actiongate/nope"), 404, "not_found"); // reserved, never the app's
  assertError(await call("GET", `/v1/users/${uid()}/actions/a/b/c`), 404, "not_found");
  const r = await call("DELETE", `/v1/users/${uid()}/actions/login`);
  assertError(r, 405, "method_not_allowed");
  assert.equal(r.headers.get("allow"), "POST");
  assertError(await call("GET", "/v1/validate"), 405, "method_not_allowed");
  assertError(await mgmt("POST", "/action-configurations/x"), 405, "method_not_allowed");
});

test("bodies over 64 KiB are 413, declared or streamed", async () => {
  const userId = uid();
  const big = JSON.stringify({ custom: { blob: "x".repeat(70 * 1024) } });
  assertError(await call("POST", `/v1/users/${userId}/actions/login`, { raw: big, headers: { "Content-Type": "application/json" } }), 413, "payload_too_large");
  // Chunked, without Content-Length.
  const stream = new ReadableStream({
    start(c) {
      for (let i = 0; i < 80; i++) c.enqueue(new TextEncoder().encode("x".repeat(1024)));
      c.close();
    },
  });
  const res = await fetch(`${BASE}/v1/users/${userId}/actions/login`, {
    method: "POST", body: stream, duplex: "half",
    headers: { Authorization: basic(API_SECRET), "Content-Type": "application/json" },
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error, "payload_too_large");
  assert.deepEqual(await authsignal.queryUserActions({ userId }), []);
});

test("bad JSON and bad values are 400s that name the field", async () => {
  const userId = uid();
  const path = `/v1/users/${userId}/actions/login`;
  let r = await call("POST", path, { raw: "{not json", headers: { "Content-Type": "application/json" } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /JSON/);
  r = await call("POST", path, { body: { custom: "amount=5" } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^custom: /);
  r = await call("POST", path, { body: { idempotencyKey: 42 } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^idempotencyKey: /);
  r = await call("POST", path, { body: { email: "not-an-email" } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^email: /);
  r = await call("POST", path, { raw: "{}", headers: { "Content-Type": "text/plain" } });
  assertError(r, 415, "unsupported_media_type");
  r = await call("POST", `/v1/users/${userId}/actions/not%20valid`, { body: {} });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^action: /);
  r = await call("GET", `/v1/users/${userId}/actions?state=DONE`);
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^state: /);
  r = await call("GET", `/v1/users/${userId}/actions?fromDate=yesterday`);
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^fromDate: /);
  r = await call("GET", `/v1/users/${userId}/actions?limit=100000`);
  assertError(r, 400, "invalid_request");
  r = await call("PATCH", `/v1/users/${userId}`, { body: { email: 7 } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^email: /);
  // A body that is not an object is refused, not read positionally into the request's fields
  // (the fast track path and the full one alike; a streamed body takes the full one).
  for (const raw of ["[null, null]", "[]", " \"x\"", "7", "null"]) {
    r = await call("POST", path, { raw, headers: { "Content-Type": "application/json" } });
    assertError(r, 400, "invalid_request");
    assert.equal(r.body.errorDescription, "The request body must be a JSON object.", raw);
  }
  r = await fetch(`${BASE}${path}`, {
    method: "POST", headers: { Authorization: basic(API_SECRET), "Content-Type": "application/json" }, duplex: "half",
    body: new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("[null]")); c.close(); } }),
  });
  assert.equal(r.status, 400);
  r = await call("PATCH", `/v1/users/${userId}`, { raw: '["a@example.com"]', headers: { "Content-Type": "application/json" } });
  assertError(r, 400, "invalid_request");
  assert.equal((await authsignal.getUser({ userId })).email, undefined, "the profile is unchanged");
  assert.deepEqual(await authsignal.queryUserActions({ userId }), [], "nothing was stored");
});

test("redirectUrl must be on the allowlist", async () => {
  const userId = uid();
  const path = `/v1/users/${userId}/actions/login`;
  for (const url of ["https://evil.example.com/", "http://localhost:8787.evil.com/", "javascript:alert(1)", "http://user@localhost:8787/"]) {
    const r = await call("POST", path, { body: { redirectUrl: url } });
    assertError(r, 400, "invalid_request");
    assert.match(r.body.errorDescription, /^redirectUrl: /);
  }
  const ok = await call("POST", path, { body: { redirectUrl: "http://localhost:8787/after-challenge?x=1" } });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal((await authsignal.queryUserActions({ userId })).length, 1);
});

test("illegal state changes are 400s naming both states", async () => {
  const userId = uid();
  const t = await authsignal.track({ userId, action: "allowed-thing" });
  const r = await call("PATCH", `/v1/users/${userId}/actions/allowed-thing/${t.idempotencyKey}`, { body: { state: "CHALLENGE_SUCCEEDED" } });
  assertError(r, 400, "invalid_state_transition");
  assert.equal(r.body.errorDescription, "cannot change action state from ALLOW to CHALLENGE_SUCCEEDED");
  const bad = await call("PATCH", `/v1/users/${userId}/actions/allowed-thing/${t.idempotencyKey}`, { body: { state: "MAYBE" } });
  assertError(bad, 400, "invalid_request");
  assert.match(bad.body.errorDescription, /^state: /);
});

test("error bodies carry no internals", async () => {
  const r = await call("POST", `/v1/users/${uid()}/actions/login`, { raw: "[", headers: { "Content-Type": "application/json" } });
  const text = JSON.stringify(r.body);
  for (const needle of ["panicked", "RuntimeError", "wasm", ".rs:", "stack", API_SECRET]) {
    assert.ok(!text.includes(needle), `${needle} leaked: ${text}`);
  }
});

test("a track's URL: an encoded user id, a trailing slash and a query string name the same user and action", async () => {
  const userId = `${uid()}/with slash`;
  const enc = encodeURIComponent(userId);
  for (const path of [`/v1/users/${enc}/actions/login`, `/v1/users/${enc}/actions/login/`, `/v1/users/${enc}/actions/login?x=1`]) {
    const r = await call("POST", path, { body: { custom: { n: 1 } } });
    assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
  }
  const stored = async () => {
    const r = await call("GET", `/v1/users/${enc}/actions`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const actions = await stored();
  assert.equal(actions.length, 3);
  assert.ok(actions.every((a) => a.actionCode === "login"));
  // A segment that is not UTF-8 once decoded is refused, and nothing is stored.
  assertError(await call("POST", `/v1/users/${enc}/actions/%FF`, { body: {} }), 400, "invalid_request");
  assert.equal((await stored()).length, 3);
});

test("unknown request fields are ignored, as Authsignal ignores them; configuration stays strict", async () => {
  await configure("tolerant-amount", { defaultUserActionResult: "ALLOW" });
  const rule = await mgmt("PUT", "/action-configurations/tolerant-amount/rules/big", {
    body: { name: "big amounts", priority: 1, type: "CHALLENGE", conditions: { ">": [{ var: "action.custom.amount" }, 1000] } },
  });
  assert.ok(rule.status === 200 || rule.status === 201, JSON.stringify(rule.body));
  const userId = uid();
  // Fields the API does not know (a newer SDK's, the Python SDK's
  // snake_case) beside the known ones: the known ones decide.
  let r = await call("POST", `/v1/users/${userId}/actions/tolerant-amount`, {
    body: { idempotencyKey: "t-1", custom: { amount: 5000 }, ip_address: "1.2.3.4", newSdkField: { x: 1 } },
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.state, "CHALLENGE_REQUIRED");
  const stored = await authsignal.getAction({ userId, action: "tolerant-amount", idempotencyKey: "t-1" });
  assert.equal(stored.state, "CHALLENGE_REQUIRED");
  assert.equal(stored.output.result, "CHALLENGE");
  assert.equal(stored.rules[0].name, "big amounts");
  // A misspelt `custom` would reach no rule and let the default decide:
  // refused (stricter than Authsignal, for safety), and nothing stored.
  for (const k of ["custon", "costum", "Custom"]) {
    r = await call("POST", `/v1/users/${userId}/actions/tolerant-amount`, { body: { idempotencyKey: `t-${k}`, [k]: { amount: 5000 } } });
    assertError(r, 400, "invalid_request");
    assert.match(r.body.errorDescription, new RegExp(`^${k}: unknown field; did you mean custom\\?`));
  }
  assert.equal((await authsignal.queryUserActions({ userId })).length, 1, "only the first track was stored");
  // The Python SDK's snake_case spellings are read as the fields they name.
  r = await call("POST", `/v1/users/${userId}/actions/tolerant-amount`, { body: { idempotencyKey: "t-snake", custom: { amount: 1 }, device_id: "snake-device" } });
  assert.equal(r.status, 200);
  const sim = await mgmt("POST", "/simulate", { body: { userId, action: "tolerant-amount", attributes: { device_id: "snake-device" } } });
  assert.equal(sim.body.context.device.id, "snake-device", JSON.stringify(sim.body.context.device));
  // Known fields are still checked.
  r = await call("POST", `/v1/users/${userId}/actions/tolerant-amount`, { body: { custom: "amount=5", extra: 1 } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^custom: /);
  // The same on the other wire bodies: a user patch, an update, a validate.
  r = await call("PATCH", `/v1/users/${userId}`, { body: { displayName: "Al", display_name: "ignored" } });
  assert.equal(r.status, 200);
  assert.equal((await authsignal.getUser({ userId })).displayName, "Al");
  r = await call("PATCH", `/v1/users/${userId}/actions/tolerant-amount/t-1`, { body: { state: "BLOCK", reason: "not a field" } });
  assert.equal(r.status, 200);
  assert.equal((await authsignal.getAction({ userId, action: "tolerant-amount", idempotencyKey: "t-1" })).state, "BLOCK");
  // validate is stricter, for safety: userId and action bind the token, so
  // their other spellings are read as them and anything else is refused.
  r = await call("POST", "/v1/validate", { body: { token: "x.y.z", is_valid: true } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /is_valid/);
  const bound = await authsignal.track({ userId, action: "tolerant-amount", attributes: { custom: { amount: 1 } } });
  assert.equal(bound.state, "ALLOW");
  for (const body of [{ token: bound.token, user_id: "someone-else" }, { token: bound.token, actionCode: "withdraw-funds" }, { token: bound.token, action_code: "withdraw-funds" }]) {
    r = await call("POST", "/v1/validate", { body });
    assert.equal(r.status, 200);
    assert.equal(r.body.isValid, false, `${JSON.stringify(body)}: the binding is checked`);
  }
  assert.equal((await call("POST", "/v1/validate", { body: { token: bound.token, user_id: userId, actionCode: "tolerant-amount" } })).body.isValid, true);
  // Configuration documents and management bodies are not wire bodies:
  // an unknown field there is a mistake, refused and named.
  r = await mgmt("PUT", "/action-configurations/tolerant-amount", { body: { defaultUserActionResult: "ALLOW", defaultUserActionResul: "BLOCK" } });
  assertError(r, 400, "invalid_request");
  assert.match(JSON.stringify(r.body), /defaultUserActionResul/);
});
