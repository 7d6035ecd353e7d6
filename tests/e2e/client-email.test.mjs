// Email OTP through the Client API: codes handed to the app as signed
// email.created webhooks (verified with @authsignal/node's
// webhook.constructEvent), retried when the receiver fails, and kept in the
// dev outbox under local dev.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { authsignal, configure, uid, client, assertError, BASE } from "./lib.mjs";
import { WEBHOOK_PORT } from "./harness.mjs";

const received = []; // {body, signature}
let failNext = 0;
let server;

before(async () => {
  server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (failNext > 0) {
        failNext--;
        res.writeHead(500);
        res.end("try later");
        return;
      }
      received.push({ path: req.url, body: Buffer.concat(chunks).toString(), signature: req.headers["x-signature-v2"] });
      res.writeHead(200);
      res.end("ok");
    });
  });
  await new Promise((r) => server.listen(WEBHOOK_PORT, "127.0.0.1", r));
  await configure("email-withdraw", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP", "AUTHENTICATOR_APP"] });
  await configure("sms-withdraw", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["SMS"] });
  await configure("link-withdraw", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_MAGIC_LINK"] });
});
after(() => new Promise((r) => server.close(r)));

/** The newest email.created event for `to`, verified as the app would. */
function lastEmailTo(to) {
  const hit = [...received].reverse().find((r) => JSON.parse(r.body).data.to === to);
  assert.ok(hit, `no webhook for ${to}`);
  return authsignal.webhook.constructEvent(hit.body, hit.signature);
}

test("enroll email, receive the code by a signed webhook, verify", async () => {
  const userId = uid("mail");
  const email = `${userId}@example.com`;
  const t = await authsignal.track({ userId, action: "email-withdraw", attributes: { userAgent: "Mozilla/5.0 test" } });
  const enrolled = await client("/user-authenticators/email-otp", t.token, { email });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  assert.ok(enrolled.body.userAuthenticatorId);
  assert.equal(JSON.stringify(enrolled.body).includes("code"), false, "the code is never in a Client API answer");
  const event = lastEmailTo(email);
  assert.equal(event.type, "email.created");
  assert.equal(event.version, 1);
  assert.match(event.data.code, /^\d{6}$/);
  assert.equal(event.data.userId, userId);
  assert.equal(event.data.actionCode, "email-withdraw");
  assert.equal(event.data.idempotencyKey, t.idempotencyKey);
  assert.equal(event.data.userAgent, "Mozilla/5.0 test");

  const wrong = await client("/verify/email-otp", t.token, { verificationCode: event.data.code === "000000" ? "111111" : "000000" });
  assert.equal(wrong.body.isVerified, false);
  const right = await client("/verify/email-otp", t.token, { verificationCode: event.data.code });
  assert.equal(right.body.isVerified, true, JSON.stringify(right.body));
  const v = await authsignal.validateChallenge({ token: right.body.accessToken });
  assert.equal(v.isValid, true);
  assert.equal(v.verificationMethod, "EMAIL_OTP");
  const user = await authsignal.getUser({ userId });
  assert.equal(user.email, email);
  assert.equal(user.emailVerified, true);
  assert.deepEqual(user.enrolledVerificationMethods, ["EMAIL_OTP", "RECOVERY_CODE"]);

  // Next time: a challenge to the enrolled address.
  const t2 = await authsignal.track({ userId, action: "email-withdraw" });
  const ch = await client("/challenge/email-otp", t2.token);
  assert.equal(ch.status, 200);
  assert.ok(ch.body.challengeId);
  const second = lastEmailTo(email);
  assert.notEqual(second.id, event.id);
  const ok = await client("/verify/email-otp", t2.token, { verificationCode: second.data.code });
  assert.equal(ok.body.isVerified, true);
});

test("a failing receiver is retried; the dev outbox keeps what was sent", async () => {
  const userId = uid("mail");
  const email = `${userId}@example.com`;
  const t = await authsignal.track({ userId, action: "email-withdraw" });
  failNext = 2;
  const before = received.length;
  const r = await client("/user-authenticators/email-otp", t.token, { email });
  assert.equal(r.status, 200, "delivered on the third attempt");
  assert.equal(received.length, before + 1);
  assert.equal(failNext, 0);
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  const kept = outbox.find((m) => m.data.to === email);
  assert.equal(kept.data.code, lastEmailTo(email).data.code);
  const page = await (await fetch(`${BASE}/__actiongate/outbox`)).text();
  assert.match(page, new RegExp(email.replace(/[.]/g, "\\.")));

  failNext = 3;
  const t2 = await authsignal.track({ userId: uid("mail"), action: "email-withdraw" });
  const failed = await client("/user-authenticators/email-otp", t2.token, { email: "nobody@example.com" });
  assert.equal(failed.status, 502);
  assert.equal(failed.body.errorCode, "delivery_failed");
});

test("the sixth wrong email code fails the challenge", async () => {
  const userId = uid("mail");
  const t = await authsignal.track({ userId, action: "email-withdraw" });
  await client("/user-authenticators/email-otp", t.token, { email: `${userId}@example.com` });
  const code = lastEmailTo(`${userId}@example.com`).data.code;
  const wrong = code === "000000" ? "111111" : "000000";
  const reasons = [];
  for (let i = 0; i < 6; i++) reasons.push((await client("/verify/email-otp", t.token, { verificationCode: wrong })).body.failureReason);
  assert.deepEqual(reasons, [...Array(5).fill("CODE_INVALID_OR_EXPIRED"), "MAX_ATTEMPTS_EXCEEDED"]);
  const late = await client("/verify/email-otp", t.token, { verificationCode: code });
  assert.equal(late.body.isVerified, false);
  const a = await authsignal.getAction({ userId, action: "email-withdraw", idempotencyKey: t.idempotencyKey });
  assert.equal(a.state, "CHALLENGE_FAILED");
});

test("one action's codes are spaced out: a second send at once is 429 and sends nothing", async () => {
  const userId = uid("mail");
  const email = `${userId}@example.com`;
  const t = await authsignal.track({ userId, action: "email-withdraw" });
  const first = await client("/user-authenticators/email-otp", t.token, { email });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const before = received.length;
  const again = await client("/user-authenticators/email-otp", t.token, { email });
  assertError(again, 429, "code_recently_sent");
  assert.match(again.body.errorDescription, /wait \d+ seconds/);
  assert.equal(received.length, before, "no second email");
  // The code already sent still works.
  const code = lastEmailTo(email).data.code;
  const right = await client("/verify/email-otp", t.token, { verificationCode: code });
  assert.equal(right.body.isVerified, true, JSON.stringify(right.body));
});

test("bad input is refused before anything is sent", async () => {
  const t = await authsignal.track({ userId: uid("mail"), action: "email-withdraw" });
  const before = received.length;
  let r = await client("/user-authenticators/email-otp", t.token, { email: "not-an-email" });
  assert.equal(r.status, 400);
  assert.match(r.body.errorDescription, /^email: /);
  r = await client("/challenge/email-otp", t.token);
  assert.equal(r.status, 400, "no email enrolled");
  assert.equal(received.length, before);
});

test("SMS codes go to the app as signed sms.created webhooks", async () => {
  const userId = uid("sms");
  const phone = `+6421${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
  const t = await authsignal.track({ userId, action: "sms-withdraw" });
  let r = await client("/user-authenticators/sms", t.token, { phoneNumber: "021 555 1234" });
  assert.equal(r.status, 400);
  assert.match(r.body.errorDescription, /^phoneNumber: /);
  r = await client("/user-authenticators/sms", t.token, { phoneNumber: phone });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const hit = [...received].reverse().find((x) => x.path === "/sms" && JSON.parse(x.body).data.to === phone);
  const event = authsignal.webhook.constructEvent(hit.body, hit.signature);
  assert.equal(event.type, "sms.created");
  assert.match(event.data.code, /^\d{6}$/);
  r = await client("/verify/email-otp", t.token, { verificationCode: event.data.code });
  assert.equal(r.status, 400, "an SMS code is not an email code");
  r = await client("/verify/sms", t.token, { verificationCode: event.data.code });
  assert.equal(r.body.isVerified, true, JSON.stringify(r.body));
  const user = await authsignal.getUser({ userId });
  assert.equal(user.phoneNumber, phone);
  assert.equal(user.phoneNumberVerified, true);
  assert.deepEqual(user.enrolledVerificationMethods, ["SMS", "RECOVERY_CODE"]);
});

test("a magic link completes the challenge; the page that asked for it sees that on finalize", async () => {
  const userId = uid("link");
  const email = `${userId}@example.com`;
  const t = await authsignal.track({ userId, action: "link-withdraw" });
  let r = await client("/user-authenticators/email-magic-link", t.token, { email });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  r = await client("/verify/email-magic-link/finalize", t.token);
  assert.equal(r.body.isVerified, false, "not yet clicked");
  const event = lastEmailTo(email);
  assert.equal(event.type, "email.created");
  assert.equal(event.data.code, undefined);
  assert.ok(event.data.url.startsWith(`${BASE}/__actiongate/magic-link?token=`), event.data.url);
  // Fetching the link (as a mail scanner does) only shows a button.
  const fetched = await fetch(event.data.url);
  assert.equal(fetched.status, 200);
  assert.match(fetched.headers.get("content-security-policy"), /frame-ancestors 'none'/);
  assert.match(await fetched.text(), /<button id="confirm"/);
  // In the reader's language when their mail app says which.
  const german = await (await fetch(event.data.url, { headers: { "Accept-Language": "de-AT" } })).text();
  assert.match(german, /<html lang="de">/);
  assert.match(german, /<button id="confirm">Bestätigen<\/button>/);
  r = await client("/verify/email-magic-link/finalize", t.token);
  assert.equal(r.body.isVerified, false, "a GET completes nothing");
  const link = new URL(event.data.url);
  const confirm = (secret) => fetch(`${BASE}/__actiongate/magic-link`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: link.searchParams.get("token"), secret }).toString(),
  });
  assert.equal((await confirm("x".repeat(43))).status, 403, "a wrong secret verifies nothing");
  // The link's token only opens the link: a leaked email cannot be used to
  // act for the user (enroll another method, validate), and the action's
  // own token opens no link.
  const linkToken = link.searchParams.get("token");
  assert.notEqual(linkToken, t.token);
  const asBearer = await client("/user-authenticators/totp", linkToken);
  assert.equal(asBearer.status, 401, JSON.stringify(asBearer.body));
  assert.equal((await authsignal.validateChallenge({ token: linkToken })).isValid, false);
  const withBearer = await fetch(`${BASE}/__actiongate/magic-link`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: t.token, secret: link.searchParams.get("secret") }).toString(),
  });
  assert.equal(withBearer.status, 403, "the action's bearer token opens no link");
  const opened = await confirm(link.searchParams.get("secret"));
  assert.equal(opened.status, 200);
  assert.match(await opened.text(), /you are verified/);
  assert.equal((await confirm(link.searchParams.get("secret"))).status, 403, "a link works once");
  r = await client("/verify/email-magic-link/finalize", t.token);
  assert.equal(r.body.isVerified, true, JSON.stringify(r.body));
  const v = await authsignal.validateChallenge({ token: r.body.accessToken });
  assert.equal(v.isValid, true);
  assert.equal(v.verificationMethod, "EMAIL_MAGIC_LINK");
});
