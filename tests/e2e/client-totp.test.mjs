// The authenticator-app challenge through the Client API, driven by the
// official @authsignal/browser SDK's TOTP client (run in Node with a minimal
// document shim; the hosted page's browser tests come with it), and checked
// with @authsignal/node's validateChallenge.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { authsignal, configure, uid, totpCode, client, BASE } from "./lib.mjs";

let browser;
before(async () => {
  // What @authsignal/browser touches when constructed: cookies and location.
  globalThis.window ??= globalThis;
  globalThis.document ??= {
    cookie: "",
    location: { protocol: "http:", hostname: "127.0.0.1" },
    querySelectorAll: () => [],
    querySelector: () => null,
    addEventListener: () => {},
  };
  globalThis.window.addEventListener ??= () => {};
  globalThis.location ??= { hostname: "127.0.0.1", protocol: "http:" };
  const { Authsignal } = await import("@authsignal/browser");
  browser = new Authsignal({ tenantId: "actiongate", baseUrl: `${BASE}/v1` });
  await configure("totp-withdraw", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP", "EMAIL_OTP"] });
});

async function challenge(userId) {
  const t = await authsignal.track({ userId, action: "totp-withdraw" });
  assert.equal(t.state, "CHALLENGE_REQUIRED");
  browser.setToken(t.token);
  return t;
}

/** A code for a later step than `used`, waiting for the next step if needed. */
async function freshCode(secret, usedStep) {
  for (;;) {
    const step = Math.floor(Date.now() / 30000);
    if (usedStep === undefined || step > usedStep) return { code: totpCode(secret), step };
    await new Promise((r) => setTimeout(r, 500));
  }
}

test("enroll an authenticator app and complete the challenge with its first code", async () => {
  const userId = uid("totp");
  const t = await challenge(userId);
  const enrolled = await browser.totp.enroll();
  assert.ok(enrolled.data, JSON.stringify(enrolled));
  assert.match(enrolled.data.uri, /^otpauth:\/\/totp\/ActionGate:/);
  assert.match(enrolled.data.secret, /^[A-Z2-7]{32}$/);
  assert.equal(enrolled.data.userId, userId);
  assert.equal((await authsignal.getUser({ userId })).isEnrolled, false, "not enrolled until a code proves the app");

  const wrong = await browser.totp.verify({ code: totpCode(enrolled.data.secret) === "000000" ? "111111" : "000000" });
  assert.equal(wrong.data.isVerified, false);
  assert.equal(wrong.data.failureReason, "CODE_INVALID_OR_EXPIRED");

  const right = await browser.totp.verify({ code: totpCode(enrolled.data.secret) });
  assert.equal(right.data.isVerified, true, JSON.stringify(right));
  assert.ok(right.data.token, "the SDK surfaces the access token as token");
  assert.equal(right.data.userAuthenticator.verificationMethod, "AUTHENTICATOR_APP");

  const v = await authsignal.validateChallenge({ token: right.data.token, userId, action: "totp-withdraw" });
  assert.equal(v.isValid, true);
  assert.equal(v.state, "CHALLENGE_SUCCEEDED");
  assert.equal(v.verificationMethod, "AUTHENTICATOR_APP");
  assert.equal(v.idempotencyKey, t.idempotencyKey);
  const user = await authsignal.getUser({ userId });
  assert.deepEqual(user.enrolledVerificationMethods, ["AUTHENTICATOR_APP", "RECOVERY_CODE"]);
  const auths = await authsignal.getAuthenticators({ userId });
  assert.deepEqual(auths.map((a) => a.verificationMethod).sort(), ["AUTHENTICATOR_APP", "RECOVERY_CODE"]);
  assert.ok(!JSON.stringify(auths).includes(enrolled.data.secret), "the secret is never returned again");
});

test("five wrong codes are tolerated, the sixth fails the challenge; a used code is refused", async () => {
  const userId = uid("totp");
  await challenge(userId);
  const { data } = await browser.totp.enroll();
  const first = await freshCode(data.secret);
  assert.equal((await browser.totp.verify({ code: first.code })).data.isVerified, true);

  // The same code on another challenge in the same step: refused.
  await challenge(userId);
  const reused = await browser.totp.verify({ code: first.code });
  assert.equal(reused.data.isVerified, false);

  const t = await challenge(userId);
  const wrongCode = first.code === "000000" ? "111111" : "000000";
  const results = [];
  for (let i = 0; i < 6; i++) results.push((await browser.totp.verify({ code: wrongCode })).data);
  assert.deepEqual(results.slice(0, 5).map((r) => r.failureReason), Array(5).fill("CODE_INVALID_OR_EXPIRED"));
  assert.deepEqual(results.slice(0, 5).map((r) => r.remainingAttempts), [4, 3, 2, 1, 0]);
  assert.equal(results[5].failureReason, "MAX_ATTEMPTS_EXCEEDED");
  const next = await freshCode(data.secret, first.step);
  const late = await browser.totp.verify({ code: next.code });
  assert.equal(late.data.isVerified, false, "even a right code cannot revive a failed challenge");
  const action = await authsignal.getAction({ userId, action: "totp-withdraw", idempotencyKey: t.idempotencyKey });
  assert.equal(action.state, "CHALLENGE_FAILED");
});

test("a user with an app must pass the challenge before enrolling another", async () => {
  const userId = uid("totp");
  await challenge(userId);
  const { data } = await browser.totp.enroll();
  assert.equal((await browser.totp.verify({ code: totpCode(data.secret) })).data.isVerified, true);
  await challenge(userId);
  const again = await browser.totp.enroll();
  assert.equal(again.errorCode, "invalid_request");
  assert.match(again.errorDescription, /complete the challenge/);
});

test("bad, expired and missing tokens are refused with the SDK's error codes", async () => {
  let expiredSeen = false;
  const { Authsignal } = await import("@authsignal/browser");
  const b = new Authsignal({ tenantId: "actiongate", baseUrl: `${BASE}/v1`, onTokenExpired: () => { expiredSeen = true; } });
  b.setToken("not-a-token");
  const bad = await b.totp.enroll();
  assert.equal(bad.errorCode, "invalid_token");
  let r = await client("/verify/totp", "", { verificationCode: "123456" });
  assert.equal(r.status, 401);
  const { signJwt, decodeJwt, VARS } = await import("./lib.mjs");
  const t = await authsignal.track({ userId: uid("totp"), action: "totp-withdraw" });
  const { header, payload } = decodeJwt(t.token);
  const now = Math.floor(Date.now() / 1000);
  b.setToken(signJwt(header, { ...payload, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }, VARS.TOKEN_SIGNING_KEY));
  const expired = await b.totp.enroll();
  assert.equal(expired.errorCode, "expired_token");
  assert.equal(expiredSeen, true, "the SDK's onTokenExpired fired");
  r = await client("/verify/totp", t.token, { code: "123456" });
  assert.equal(r.status, 400, "the body names verificationCode");
  assert.equal(r.body.errorDescription, "verificationCode: required");
});

test("the Client API answers CORS preflights for allowlisted origins only", async () => {
  const pre = await fetch(`${BASE}/v1/client/verify/totp`, { method: "OPTIONS", headers: { Origin: "http://localhost:8788", "Access-Control-Request-Method": "POST" } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "http://localhost:8788");
  assert.match(pre.headers.get("access-control-allow-headers"), /Authorization/);
  const evil = await fetch(`${BASE}/v1/client/verify/totp`, { method: "OPTIONS", headers: { Origin: "https://evil.example" } });
  assert.equal(evil.headers.get("access-control-allow-origin"), null);
});
