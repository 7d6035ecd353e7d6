// Server-side challenges through @authsignal/node: a code sent to a bare
// address (verification before sign-up) or to a user, verified, claimed
// once for a user (passwordless sign-in, then a session), and looked up.
// The attacker's moves: guessing, claiming twice, claiming someone else's
// address for an account, skipping verification.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { authsignal, configure, uid, call, refused } from "./lib.mjs";
import { WEBHOOK_PORT } from "./harness.mjs";

// The app's receiver: every code webhook, checked as the app would check it.
const received = [];
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    received.push(authsignal.webhook.constructEvent(Buffer.concat(chunks).toString(), req.headers["x-signature-v2"]));
    res.writeHead(200);
    res.end("ok");
  });
});
after(() => new Promise((r) => receiver.close(r)));

before(async () => {
  await new Promise((r) => receiver.listen(WEBHOOK_PORT, "127.0.0.1", r));
  await configure("server-sign-in", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP", "SMS", "WHATSAPP"] });
});

/** The newest code the app's webhook received for `to`, its signature checked. */
async function codeFor(to, type = "email.created") {
  const hit = received.filter((m) => m.type === type && m.data.to === to).at(-1);
  assert.ok(hit, `no ${type} for ${to}`);
  return hit.data;
}

const wrong = (code) => String((Number(code) + 1) % 1000000).padStart(6, "0");

test("passwordless sign-up: verify an address before the account exists, claim it, get a session", async () => {
  const email = `${uid("signup")}@example.com`;
  const c = await authsignal.challenge({ verificationMethod: "EMAIL_OTP", action: "server-sign-in", email, locale: "en" });
  assert.ok(c.challengeId && c.idempotencyKey);
  assert.ok(c.expiresAt > Date.now() / 1000 && c.expiresAt <= Date.now() / 1000 + 600);
  assert.equal(JSON.stringify(c).includes("code"), false, "the code is never in the answer");
  const sent = await codeFor(email);
  assert.match(sent.code, /^\d{6}$/);
  assert.equal(sent.challengeId, c.challengeId);
  assert.equal(sent.actionCode, "server-sign-in");

  const got = await authsignal.getChallenge({ challengeId: c.challengeId });
  assert.equal(got.email, email);
  assert.equal(got.verificationMethod, "EMAIL_OTP");
  assert.equal(got.action, "server-sign-in");

  const no = await authsignal.verify({ challengeId: c.challengeId, verificationCode: wrong(sent.code) });
  assert.equal(no.isVerified, false);
  assert.equal(no.failureReason, "CODE_INVALID_OR_EXPIRED");
  const yes = await authsignal.verify({ challengeId: c.challengeId, verificationCode: sent.code });
  assert.equal(yes.isVerified, true);
  assert.equal(yes.email, email);
  assert.equal(yes.verificationMethod, "EMAIL_OTP");
  const again = await authsignal.verify({ challengeId: c.challengeId, verificationCode: sent.code });
  assert.equal(again.isVerified, false, "a code works once");

  // The app creates the account, then claims the verified address for it.
  const userId = uid("new");
  const claimed = await authsignal.claimChallenge({ challengeId: c.challengeId, userId });
  assert.equal(claimed.verificationMethod, "EMAIL_OTP");
  const v = await authsignal.validateChallenge({ token: claimed.token });
  assert.equal(v.isValid, true);
  assert.equal(v.state, "CHALLENGE_SUCCEEDED");
  assert.equal(v.userId, userId);
  const auths = await authsignal.getAuthenticators({ userId });
  assert.deepEqual(auths.map((a) => [a.verificationMethod, a.email]).sort(), [["EMAIL_OTP", email], ["RECOVERY_CODE", undefined]], "the address is the new user's first factor, with recovery codes");
  assert.equal(claimed.recoveryCodes.length, 10, "shown once, in the claim's answer");
  const s = await authsignal.createSession({ clientId: "demo-web", token: claimed.token });
  const session = await authsignal.validateSession({ accessToken: s.accessToken });
  assert.equal(session.user.userId, userId);
  assert.equal(session.verificationMethod, "EMAIL_OTP");

  const twice = await refused(authsignal.claimChallenge({ challengeId: c.challengeId, userId }));
  assert.equal(twice.status, 403);
  assert.equal(twice.code, "challenge_not_claimable");
});

test("an existing user's challenge by SMS, and getChallenge by user", async () => {
  const userId = uid("sms");
  const phoneNumber = "+6427" + String(Math.floor(Math.random() * 1e7)).padStart(7, "0");
  await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "SMS", phoneNumber } });
  const c = await authsignal.challenge({ verificationMethod: "SMS", action: "server-sign-in", userId, phoneNumber });
  const got = await authsignal.getChallenge({ userId, action: "server-sign-in", verificationMethod: "SMS" });
  assert.equal(got.challengeId, c.challengeId);
  assert.equal(got.phoneNumber, phoneNumber);
  const sent = await codeFor(phoneNumber, "sms.created");
  assert.equal(sent.userId, userId);
  assert.equal((await authsignal.verify({ challengeId: c.challengeId, verificationCode: sent.code })).isVerified, true);
  // Started for this user: it cannot be claimed for another.
  const other = await refused(authsignal.claimChallenge({ challengeId: c.challengeId, userId: uid("other") }));
  assert.equal(other.code, "challenge_not_claimable");
  const claimed = await authsignal.claimChallenge({ challengeId: c.challengeId, userId });
  assert.equal(claimed.verificationMethod, "SMS");
  assert.equal(claimed.recoveryCodes, undefined, "a claim that enrolls nothing makes no codes");
  assert.deepEqual((await authsignal.getAuthenticators({ userId })).map((a) => a.verificationMethod).sort(), ["RECOVERY_CODE", "SMS"], "nothing added");
  assert.equal((await refused(authsignal.getChallenge({ userId, action: "server-sign-in" }))).status, 404, "no pending challenge left");

  // WhatsApp through smsChannel.
  const w = await authsignal.challenge({ verificationMethod: "SMS", smsChannel: "WHATSAPP", action: "server-sign-in", userId, phoneNumber });
  const code = await codeFor(phoneNumber, "whatsapp.created");
  assert.equal(code.challengeId, w.challengeId);
});

test("the attacker: guessing fails the challenge, another person's address claims no account, skipping verification is refused", async () => {
  // Someone who knows a victim's account tries to sign in as them with an
  // address they control.
  const victim = uid("victim");
  await authsignal.enrollVerifiedAuthenticator({ userId: victim, attributes: { verificationMethod: "EMAIL_OTP", email: `${victim}@example.com` } });
  const mine = `${uid("mallory")}@example.com`;
  const c = await authsignal.challenge({ verificationMethod: "EMAIL_OTP", action: "server-sign-in", email: mine });
  const { code } = await codeFor(mine);
  assert.equal((await authsignal.verify({ challengeId: c.challengeId, verificationCode: code })).isVerified, true);
  const r = await refused(authsignal.claimChallenge({ challengeId: c.challengeId, userId: victim }));
  assert.equal(r.status, 403);
  assert.equal(r.code, "challenge_not_claimable");
  assert.match(r.description, /not one of this user's/);
  const auths = await authsignal.getAuthenticators({ userId: victim });
  assert.deepEqual(auths.filter((a) => a.verificationMethod !== "RECOVERY_CODE").map((a) => a.email), [`${victim}@example.com`], "no factor was added to the victim");
  assert.equal(auths.length, 2, "the email and its recovery codes, nothing else");
  const actions = await call("GET", `/v1/users/${victim}/actions`);
  assert.ok(Array.isArray(actions.body), JSON.stringify(actions.body));
  assert.equal(actions.body.length, 0, "no action was tracked, let alone approved, for the victim");

  // Guessing a victim's code: the sixth wrong one fails the challenge for good.
  const target = `${victim}@example.com`;
  const g = await authsignal.challenge({ verificationMethod: "EMAIL_OTP", action: "server-sign-in", email: target });
  const real = (await codeFor(target)).code;
  const answers = [];
  for (let i = 0; i < 6; i++) answers.push((await authsignal.verify({ challengeId: g.challengeId, verificationCode: wrong(real) })).failureReason);
  assert.deepEqual(answers, [...Array(5).fill("CODE_INVALID_OR_EXPIRED"), "MAX_ATTEMPTS_EXCEEDED"]);
  const late = await authsignal.verify({ challengeId: g.challengeId, verificationCode: real });
  assert.equal(late.isVerified, false, "the right code after that proves nothing");
  assert.equal((await refused(authsignal.claimChallenge({ challengeId: g.challengeId, userId: victim }))).code, "challenge_not_claimable");

  // An unverified challenge cannot be claimed, with or without the SDK's skip flag.
  const u = await authsignal.challenge({ verificationMethod: "EMAIL_OTP", email: mine });
  assert.equal((await refused(authsignal.claimChallenge({ challengeId: u.challengeId, userId: uid("x") }))).code, "challenge_not_claimable");
  const skip = await refused(authsignal.claimChallenge({ challengeId: u.challengeId, userId: uid("x"), skipVerificationCheck: true }));
  assert.equal(skip.status, 400);
  assert.match(skip.description, /skipVerificationCheck/);
});

test("bad challenge requests get clear errors", async () => {
  for (const [body, status, text] of [
    [{ verificationMethod: "EMAIL_OTP" }, 400, /email: required/],
    [{ verificationMethod: "SMS", phoneNumber: "12345" }, 400, /phoneNumber/],
    [{ verificationMethod: "PASSKEY", email: "a@example.com" }, 400, /verificationMethod/],
    [{ verificationMethod: "EMAIL_OTP", email: "a@example.com", challengeId: "forged.YWxpY2U" }, 400, /challengeId/],
  ]) {
    const r = await call("POST", "/v1/challenge", { body });
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.match(r.body.errorDescription, text);
  }
  const v = await call("POST", "/v1/verify", { body: { challengeId: "nope", verificationCode: "123456" } });
  assert.equal(v.status, 404);
  assert.equal(v.body.errorCode, "not_found");
  const g = await call("GET", "/v1/challenges");
  assert.equal(g.status, 400);
});
