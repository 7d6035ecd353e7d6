// WhatsApp as a code channel, like SMS: the code goes to the app in a signed
// `whatsapp.created` webhook (here the dev outbox), for an enrolled number
// (server or Client API enrollment); @authsignal/browser's whatsapp client
// challenges and verifies in Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { uid, BASE, authsignal, configure, client, assertError } from "./lib.mjs";
import { useBrowserDemo, startTestApp } from "./browser-kit.mjs";

const demo = useBrowserDemo();
const number = () => `+6421${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;

async function lastMessageTo(to) {
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  return outbox.find((m) => m.data.to === to);
}

test.before(() => configure("whatsapp-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["WHATSAPP"] }));

test("@authsignal/browser's whatsapp client: a code to the enrolled number, verified, and the token validates", async () => {
  const userId = uid("wa");
  const phoneNumber = number();
  await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "WHATSAPP", phoneNumber } });
  const t = await authsignal.track({ userId, action: "whatsapp-action" });
  assert.deepEqual(t.allowedVerificationMethods, ["WHATSAPP"]);
  const app = await startTestApp();
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(app.url);
    const sent = await page.evaluate(async ({ token, base }) => {
      window.sdk = new AuthsignalSDK.Authsignal({ tenantId: "actiongate", baseUrl: base });
      window.sdk.setToken(token);
      return window.sdk.whatsapp.challenge();
    }, { token: t.token, base: `${BASE}/v1` });
    assert.ok(sent.data?.challengeId, JSON.stringify(sent));
    const message = await lastMessageTo(phoneNumber);
    assert.equal(message.type, "whatsapp.created");
    assert.match(message.data.code, /^\d{6}$/);
    const wrong = await page.evaluate(() => window.sdk.whatsapp.verify({ code: "000000" }));
    assert.equal(wrong.data?.isVerified ?? false, false, JSON.stringify(wrong));
    const ok = await page.evaluate((code) => window.sdk.whatsapp.verify({ code }), message.data.code);
    assert.equal(ok.data.isVerified, true, JSON.stringify(ok));
    const v = await authsignal.validateChallenge({ token: ok.data.token });
    assert.equal(v.isValid, true);
    assert.equal(v.verificationMethod, "WHATSAPP");
    assert.equal(v.state, "CHALLENGE_SUCCEEDED");
  } finally {
    await context.close();
    await app.close();
  }
});

test("WhatsApp enrolled through the Client API: the number must be E.164, the first code enrolls and completes the challenge", async () => {
  const userId = uid("wa-enroll");
  const t = await authsignal.track({ userId, action: "whatsapp-action" });
  assertError(await client("/user-authenticators/whatsapp", t.token, { phoneNumber: "021 555" }), 400, "invalid_request");
  const phoneNumber = number();
  const r = await client("/user-authenticators/whatsapp", t.token, { phoneNumber });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const message = await lastMessageTo(phoneNumber);
  assert.equal(message.type, "whatsapp.created");
  const ok = await client("/verify/whatsapp", t.token, { verificationCode: message.data.code });
  assert.equal(ok.body.isVerified, true, JSON.stringify(ok.body));
  const auths = await authsignal.getAuthenticators({ userId });
  assert.deepEqual(auths.map((a) => [a.verificationMethod, a.phoneNumber]).sort(), [["RECOVERY_CODE", undefined], ["WHATSAPP", phoneNumber]]);
  assert.equal(ok.body.recoveryCodes.length, 10, "the first factor came with recovery codes");
  assert.equal((await authsignal.getAction({ userId, action: "whatsapp-action", idempotencyKey: t.idempotencyKey })).state, "CHALLENGE_SUCCEEDED");
});

test("the hosted page offers WhatsApp: the code to the enrolled number, entered, and back to the app verified", async () => {
  const userId = uid("wa-page");
  const phoneNumber = number();
  await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "WHATSAPP", phoneNumber } });
  const t = await authsignal.track({ userId, action: "whatsapp-action", attributes: { redirectUrl: `${BASE}/health` } });
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(t.url);
    await page.waitForSelector("#code-form:not([hidden])");
    assert.match(await page.textContent("#code-form"), /WhatsApp/);
    const message = await lastMessageTo(phoneNumber);
    assert.equal(message.type, "whatsapp.created");
    await page.fill("#code", message.data.code);
    await Promise.all([page.waitForURL((u) => u.pathname === "/health"), page.keyboard.press("Enter")]);
    const token = new URL(page.url()).searchParams.get("token");
    const v = await authsignal.validateChallenge({ token });
    assert.equal(v.isValid, true);
    assert.equal(v.verificationMethod, "WHATSAPP");
  } finally {
    await context.close();
  }
});
