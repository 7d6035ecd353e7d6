// POST /v1/validate: only a correctly signed, unexpired token for an
// approved action is valid; every forgery is isValid:false, never a 500.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authsignal, call, configure, uid, signJwt, decodeJwt, VARS, assertError } from "./lib.mjs";

async function validate(body) {
  const r = await call("POST", "/v1/validate", { body });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.headers.get("content-type"), "application/json");
  return r.body;
}

test("tampered, expired, foreign-key and alg:none tokens are invalid with an error code", async () => {
  const userId = uid();
  const t = await authsignal.track({ userId, action: "validate-me" });
  assert.equal((await validate({ token: t.token })).isValid, true);
  const { header, payload } = decodeJwt(t.token);
  const now = Math.floor(Date.now() / 1000);
  const key = VARS.TOKEN_SIGNING_KEY;

  const cases = {
    tampered: (() => {
      const [h, , s] = t.token.split(".");
      const p = Buffer.from(JSON.stringify({ ...payload, sub: "someone-else" })).toString("base64url");
      return `${h}.${p}.${s}`;
    })(),
    expired: signJwt(header, { ...payload, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }, key),
    foreignKey: signJwt(header, payload, "another-deployment-key-0123456789abcdef"),
    foreignKid: signJwt({ ...header, kid: "0000000000000000" }, payload, "another-deployment-key-0123456789abcdef"),
    algNone: signJwt({ alg: "none", typ: "JWT", kid: header.kid }, payload, null),
    algNoneWithSig: `${Buffer.from(JSON.stringify({ alg: "none", kid: header.kid })).toString("base64url")}.${t.token.split(".")[1]}.${t.token.split(".")[2]}`,
    hs512: (() => {
      const s = signJwt({ ...header, alg: "HS512" }, payload, key);
      return s;
    })(),
    garbage: "not-a-token",
    empty: "",
  };
  for (const [name, token] of Object.entries(cases)) {
    const v = await validate({ token });
    assert.equal(v.isValid, false, name);
    assert.ok(["invalid_token", "expired_token"].includes(v.error), `${name}: ${JSON.stringify(v)}`);
    assert.equal(v.state, undefined, `${name} reveals no state`);
  }
  assert.equal((await validate({ token: cases.expired })).error, "expired_token");
});

test("a token for another user or action is invalid when those are given", async () => {
  const userId = uid();
  const t = await authsignal.track({ userId, action: "validate-bound" });
  assert.equal((await validate({ token: t.token, userId, action: "validate-bound" })).isValid, true);
  assert.equal((await validate({ token: t.token, userId: "someone-else" })).isValid, false);
  assert.equal((await validate({ token: t.token, action: "withdraw-funds" })).isValid, false);
});

test("a token validates only in ALLOW, CHALLENGE_SUCCEEDED or REVIEW_SUCCEEDED", async () => {
  const userId = uid();
  await configure("validate-review", { defaultUserActionResult: "REVIEW" });
  const t = await authsignal.track({ userId, action: "validate-review", attributes: { idempotencyKey: "v1" } });
  let v = await validate({ token: t.token });
  assert.deepEqual([v.isValid, v.state], [false, "REVIEW_REQUIRED"]);
  await authsignal.updateAction({ userId, action: "validate-review", idempotencyKey: "v1", attributes: { state: "REVIEW_FAILED" } });
  v = await validate({ token: t.token });
  assert.deepEqual([v.isValid, v.state], [false, "REVIEW_FAILED"]);
});

test("a token whose action was deleted is invalid", async () => {
  const userId = uid();
  const t = await authsignal.track({ userId, action: "validate-deleted" });
  await authsignal.deleteUser({ userId });
  const v = await validate({ token: t.token });
  assert.equal(v.isValid, false);
  assert.equal(v.error, "invalid_token");
});

test("validate refuses a body without a token", async () => {
  const r = await call("POST", "/v1/validate", { body: { userId: "x" } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /token/);
});
