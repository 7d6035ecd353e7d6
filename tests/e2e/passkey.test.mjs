// Passkeys for real: headless Chromium with a CDP virtual authenticator
// (ctap2, internal transport, resident keys, user verification) against
// the worker, which verifies every ceremony in Rust. A challenged demo-bank
// withdrawal completed with a passkey, enrollment through the prompt after
// another method, sign-in through @authsignal/browser's passkey client from
// the app's own page, and the security key client.
//
// WebAuthn needs a domain, not an IP address: the browser uses localhost.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { uid, BASE, authsignal, configure, assertError } from "./lib.mjs";
import { SHOTS, useBrowserDemo, startTestApp as startApp, executed as executedAt, saveRecoveryCodes } from "./browser-kit.mjs";

const LBASE = BASE.replace("127.0.0.1", "localhost");
const demo = useBrowserDemo();

/** A page with a virtual authenticator attached (CDP WebAuthn domain). */
async function pageWithAuthenticator(options = {}) {
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
      ...options,
    },
  });
  const credentials = async () =>
    (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials.map((c) => ({
      ...c,
      // CDP speaks base64; the API speaks base64url.
      id: Buffer.from(c.credentialId, "base64").toString("base64url"),
    }));
  return { context, page, credentials };
}

const executed = (user) => executedAt(demo.bank, user);

const backAtBank = (u) => u.pathname === "/" && u.searchParams.has("msg");

async function withdraw(page, amount, to) {
  await page.fill("input[name=amount]", String(amount));
  await page.fill("input[name=to]", to);
  await Promise.all([page.waitForURL(/\/challenge\?token=/), page.click("form[action='/withdraw'] button")]);
}

test("a challenged withdrawal completed by creating a passkey, the next one by signing in with it", async () => {
  const user = uid("passkey");
  const { context, page, credentials } = await pageWithAuthenticator();
  try {
    await page.goto(`${LBASE}/login?user=${user}`);
    await withdraw(page, 5000, "NZ-0201-2222222-00");
    // Passkey is the demo's first method: preselected, nothing enrolled yet.
    await page.waitForSelector("#passkey:not([hidden])");
    assert.equal(await page.textContent("#passkey-go"), "Create passkey");
    await page.screenshot({ path: join(SHOTS, "20-passkey-create.png"), fullPage: true });
    // A first factor: its recovery codes, shown once, then back to the bank.
    await page.click("#passkey-go");
    await Promise.all([page.waitForURL(backAtBank), saveRecoveryCodes(page)]);
    assert.match(await page.textContent(".msg"), /Withdrew \$5000/);
    assert.deepEqual((await executed(user)).map((d) => [d.amount, d.state]), [[5000, "CHALLENGE_SUCCEEDED"]]);

    // The credential the authenticator holds is the one the worker stored.
    const [held] = await credentials();
    assert.ok(held.isResidentCredential);
    const auths = await authsignal.getAuthenticators({ userId: user });
    const pk = auths.find((a) => a.verificationMethod === "PASSKEY");
    assert.ok(pk, JSON.stringify(auths));
    assert.equal(pk.webauthnCredential.credentialId, held.id);
    assert.equal(pk.webauthnCredential.authenticatorAttachment, "platform");
    assert.equal(pk.webauthnCredential.userVerified, true);
    assert.deepEqual(pk.webauthnCredential.transports, ["internal"]);
    // The browser that created it, as Authsignal's parsedUserAgent reads it.
    const parsed = pk.webauthnCredential.parsedUserAgent;
    assert.equal(parsed.ua, await page.evaluate(() => navigator.userAgent));
    assert.match(parsed.browser.name, /Chrome/);
    assert.equal(parsed.engine.name, "Blink");
    assert.equal(JSON.stringify(pk).includes("publicKey"), false, "no key material in answers");

    // The next challenged withdrawal: sign in with the passkey.
    await withdraw(page, 2500, "NZ-0201-3333333-00");
    await page.waitForSelector("#passkey:not([hidden])");
    assert.equal(await page.textContent("#passkey-go"), "Use passkey");
    await page.screenshot({ path: join(SHOTS, "21-passkey-sign-in.png"), fullPage: true });
    await Promise.all([page.waitForURL(backAtBank), page.click("#passkey-go")]);
    assert.match(await page.textContent(".msg"), /Withdrew \$2500/);
    const done = await executed(user);
    assert.deepEqual(done.map((d) => [d.amount, d.state]), [[5000, "CHALLENGE_SUCCEEDED"], [2500, "CHALLENGE_SUCCEEDED"]]);
    await page.screenshot({ path: join(SHOTS, "22-bank-after-passkey.png"), fullPage: true });

    // The counter the worker recorded follows the authenticator's.
    const [after] = await credentials();
    const again = (await authsignal.getAuthenticators({ userId: user })).find((a) => a.verificationMethod === "PASSKEY");
    assert.equal(again.webauthnCredential.signCount, after.signCount);
    assert.ok(after.signCount >= 2, `signCount ${after.signCount}`);
    assert.ok(again.lastVerifiedAt);

    // Removed through the Server API: the next challenge offers to create one again.
    await authsignal.deleteAuthenticator({ userId: user, userAuthenticatorId: again.userAuthenticatorId });
    assert.deepEqual((await authsignal.getAuthenticators({ userId: user })).map((a) => a.verificationMethod), []);
    await withdraw(page, 2400, "NZ-0201-3333333-00");
    await page.waitForSelector("#passkey:not([hidden])");
    assert.equal(await page.textContent("#passkey-go"), "Create passkey");
  } finally {
    await context.close();
  }
});

/** Pass an email challenge; `first`: the person's first factor, so its recovery codes are saved on the way. */
async function emailChallenge(page, user, { firstFactor = false } = {}) {
  // A list when more than one method is usable; an enrolled email alone
  // goes straight to its code.
  const first = await page.waitForSelector("#methods:not([hidden]), #code-form:not([hidden])");
  if ((await first.getAttribute("id")) === "methods") await page.check("input[value=EMAIL_OTP]");
  const email = `${user}@example.com`;
  // Enrolled users get a code at once; others enter their address first.
  const form = await page.waitForSelector("#email-form:not([hidden]), #code-form:not([hidden])");
  if ((await form.getAttribute("id")) === "email-form") {
    await page.fill("#email", email);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#code-form:not([hidden])");
  }
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  const code = outbox.find((m) => m.data.to === email).data.code; // newest first
  await page.fill("#code", code);
  await page.keyboard.press("Enter");
  if (firstFactor) await saveRecoveryCodes(page);
}

test("after a challenge passed by email, the page offers a passkey: added once, or 'not now' keeps it away", async () => {
  const user = uid("prompt");
  const { context, page, credentials } = await pageWithAuthenticator();
  try {
    await page.goto(`${LBASE}/login?user=${user}`);
    await withdraw(page, 2500, "NZ-0201-4444444-00");
    await emailChallenge(page, user, { firstFactor: true });
    await page.waitForSelector("#prompt:not([hidden])");
    await page.screenshot({ path: join(SHOTS, "23-passkey-prompt.png"), fullPage: true });
    await Promise.all([page.waitForURL(backAtBank), page.click("#prompt-add")]);
    assert.deepEqual((await executed(user)).map((d) => d.state), ["CHALLENGE_SUCCEEDED"]);
    const auths = await authsignal.getAuthenticators({ userId: user });
    assert.deepEqual(auths.map((a) => a.verificationMethod).sort(), ["EMAIL_OTP", "PASSKEY", "RECOVERY_CODE"]);
    assert.equal((await credentials()).length, 1);
  } finally {
    await context.close();
  }

  // Another person says "Not now": the next challenge does not ask again.
  const other = uid("prompt-skip");
  const second = await pageWithAuthenticator();
  try {
    const p = second.page;
    await p.goto(`${LBASE}/login?user=${other}`);
    await withdraw(p, 2500, "NZ-0201-5555555-00");
    await emailChallenge(p, other, { firstFactor: true });
    await p.waitForSelector("#prompt:not([hidden])");
    await Promise.all([p.waitForURL(backAtBank), p.click("#prompt-skip")]);
    await withdraw(p, 2600, "NZ-0201-5555555-00");
    await emailChallenge(p, other);
    await p.waitForURL(backAtBank);
    assert.equal(await p.isVisible("#prompt"), false);
    assert.equal((await executed(other)).length, 2);
    assert.deepEqual((await authsignal.getAuthenticators({ userId: other })).map((a) => a.verificationMethod).sort(), ["EMAIL_OTP", "RECOVERY_CODE"]);
    assert.equal((await second.credentials()).length, 0);
  } finally {
    await second.context.close();
  }
});

test("a passkey-only action: a user with only an email address proves it, then creates and uses the passkey", async () => {
  await configure("pk-only", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["PASSKEY"] });
  const userId = uid("pk-only");
  const email = `${userId}@example.com`;
  await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "EMAIL_OTP", email } });
  const t = await authsignal.track({ userId, action: "pk-only" });
  assert.deepEqual(t.allowedVerificationMethods, ["PASSKEY"]);
  const { context, page, credentials } = await pageWithAuthenticator();
  try {
    await page.goto(`${LBASE}/challenge?token=${t.token}`);
    // The page explains, and offers the email the user has.
    await page.waitForSelector("#note:not([hidden])");
    assert.match(await page.textContent("#note"), /needs a passkey/);
    await page.waitForSelector("#code-form:not([hidden])");
    await page.screenshot({ path: join(SHOTS, "25-passkey-only-prove-email.png"), fullPage: true });
    // Creating the passkey before that is refused by the worker.
    const early = await fetch(`${BASE}/v1/client/user-authenticators/passkey/registration-options`, {
      method: "POST", headers: { Authorization: `Bearer ${t.token}`, "Content-Type": "application/json" }, body: "{}",
    });
    assert.equal(early.status, 400);
    const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
    await page.fill("#code", outbox.find((m) => m.data.to === email).data.code);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#passkey:not([hidden])");
    assert.match(await page.textContent("#note"), /Now create the passkey/);
    assert.equal(await page.textContent("#passkey-go"), "Create passkey");
    // The email proved the user but did not complete the challenge.
    const pending = await authsignal.getAction({ userId, action: "pk-only", idempotencyKey: t.idempotencyKey });
    assert.equal(pending.state, "CHALLENGE_REQUIRED");
    await page.click("#passkey-go");
    // Created; confirming with it is a second tap.
    await page.waitForFunction(() => document.getElementById("passkey-go").textContent === "Use passkey");
    assert.match(await page.textContent("#note"), /Now confirm with your new passkey/);
    await page.click("#passkey-go");
    await page.waitForSelector("#done:not([hidden])");
    const done = await authsignal.getAction({ userId, action: "pk-only", idempotencyKey: t.idempotencyKey });
    assert.equal(done.state, "CHALLENGE_SUCCEEDED");
    assert.equal(done.verificationMethod, "PASSKEY");
    assert.equal((await credentials()).length, 1);
    await page.screenshot({ path: join(SHOTS, "26-passkey-only-done.png"), fullPage: true });
  } finally {
    await context.close();
  }
});

/** The app's own page, on localhost so that it can run WebAuthn ceremonies. */
const startTestApp = () => startApp("localhost");

test("a security key on the hosted page: created for the first challenge, used for the next", async () => {
  await configure("sk-page", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["SECURITY_KEY"] });
  const userId = uid("sk-page");
  const { context, page } = await pageWithAuthenticator({ transport: "usb", hasResidentKey: false });
  try {
    for (const [i, label] of [[1, "Create security key"], [2, "Use security key"]]) {
      const t = await authsignal.track({ userId, action: "sk-page" });
      await page.goto(`${LBASE}/challenge?token=${t.token}`);
      await page.waitForSelector("#passkey:not([hidden])");
      assert.equal(await page.textContent("#passkey-go"), label);
      if (i === 1) await page.screenshot({ path: join(SHOTS, "27-security-key.png"), fullPage: true });
      await page.click("#passkey-go");
      if (i === 1) await saveRecoveryCodes(page);
      await page.waitForSelector("#done:not([hidden])");
      const a = await authsignal.getAction({ userId, action: "sk-page", idempotencyKey: t.idempotencyKey });
      assert.equal(a.state, "CHALLENGE_SUCCEEDED");
      assert.equal(a.verificationMethod, "SECURITY_KEY");
    }
  } finally {
    await context.close();
  }
});

test("the app's own page: passkey.signUp with a track token, then passkey.signIn({ action }) with no token", async () => {
  await configure("pk-enroll", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["PASSKEY"] });
  const app = await startTestApp();
  const { context, page } = await pageWithAuthenticator();
  const verifyBodies = [];
  page.on("request", (r) => { if (r.url().endsWith("/v1/client/verify/passkey")) verifyBodies.push(r.postData()); });
  try {
    const userId = uid("signin");
    const t = await authsignal.track({ userId, action: "pk-enroll", attributes: { username: `${userId}@example.com` } });
    assert.equal(t.state, "CHALLENGE_REQUIRED");
    await page.goto(app.url);
    const up = await page.evaluate(async ({ token, base }) => {
      window.sdk = new AuthsignalSDK.Authsignal({ tenantId: "actiongate", baseUrl: base });
      return window.sdk.passkey.signUp({ token, username: "signin-user" });
    }, { token: t.token, base: `${LBASE}/v1` });
    assert.ok(up.data?.token, JSON.stringify(up));
    assert.equal(up.data.userAuthenticator.verificationMethod, "PASSKEY");
    const enrolled = await authsignal.validateChallenge({ token: up.data.token });
    assert.equal(enrolled.isValid, true);
    assert.equal(enrolled.state, "CHALLENGE_SUCCEEDED");
    assert.equal(enrolled.verificationMethod, "PASSKEY");

    // Sign in naming only an action: the passkey says who the user is.
    const signedIn = await page.evaluate(() => window.sdk.passkey.signIn({ action: "passkey-login" }));
    assert.equal(signedIn.data?.isVerified, true, JSON.stringify(signedIn));
    assert.equal(signedIn.data.userId, userId);
    const v = await authsignal.validateChallenge({ token: signedIn.data.token, action: "passkey-login" });
    assert.equal(v.isValid, true);
    assert.equal(v.userId, userId);
    assert.equal(v.action, "passkey-login");
    assert.equal(v.verificationMethod, "PASSKEY");
    // Decided as a track of passkey-login, which has no configuration: ALLOW.
    assert.equal(v.state, "ALLOW");

    // The same signed answer sent again verifies nothing.
    assert.equal(verifyBodies.length, 1);
    const replay = await fetch(`${LBASE}/v1/client/verify/passkey`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Basic ${Buffer.from("actiongate").toString("base64")}` },
      body: verifyBodies[0],
    });
    assertError({ status: replay.status, headers: replay.headers, body: await replay.json() }, 400, "invalid_challenge");

    // Sign in for a tracked action, with its token.
    const t2 = await authsignal.track({ userId, action: "pk-enroll" });
    const withToken = await page.evaluate((token) => window.sdk.passkey.signIn({ token }), t2.token);
    assert.equal(withToken.data?.isVerified, true, JSON.stringify(withToken));
    const v2 = await authsignal.validateChallenge({ token: withToken.data.token, userId, action: "pk-enroll" });
    assert.equal(v2.isValid, true);
    assert.equal(v2.idempotencyKey, t2.idempotencyKey);
    await page.screenshot({ path: join(SHOTS, "24-custom-page-passkey.png") });
  } finally {
    await context.close();
    await app.close();
  }
});

test("a security key through @authsignal/browser's securityKey client", async () => {
  await configure("sk-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["SECURITY_KEY"] });
  const app = await startTestApp();
  const { context, page, credentials } = await pageWithAuthenticator({ transport: "usb", hasResidentKey: false });
  try {
    const userId = uid("seckey");
    const t = await authsignal.track({ userId, action: "sk-action" });
    await page.goto(app.url);
    const enrolled = await page.evaluate(async ({ token, base }) => {
      window.sdk = new AuthsignalSDK.Authsignal({ tenantId: "actiongate", baseUrl: base });
      window.sdk.setToken(token);
      return window.sdk.securityKey.enroll();
    }, { token: t.token, base: `${LBASE}/v1` });
    assert.ok(enrolled.data?.token, JSON.stringify(enrolled));
    assert.equal((await authsignal.validateChallenge({ token: enrolled.data.token })).verificationMethod, "SECURITY_KEY");
    assert.equal((await credentials()).length, 1);
    const auths = await authsignal.getAuthenticators({ userId });
    const key = auths.find((a) => a.verificationMethod === "SECURITY_KEY");
    assert.equal(key.webauthnCredential.authenticatorAttachment, "cross-platform");

    const t2 = await authsignal.track({ userId, action: "sk-action" });
    const verified = await page.evaluate((token) => {
      window.sdk.setToken(token);
      return window.sdk.securityKey.verify();
    }, t2.token);
    assert.equal(verified.data?.isVerified, true, JSON.stringify(verified));
    const v = await authsignal.validateChallenge({ token: verified.data.token, userId, action: "sk-action" });
    assert.equal(v.isValid, true);
    assert.equal(v.verificationMethod, "SECURITY_KEY");
  } finally {
    await context.close();
    await app.close();
  }
});

test("passkey routes refuse what they must, with clear errors", async () => {
  const tenant = { Authorization: `Basic ${Buffer.from("actiongate").toString("base64")}`, "Content-Type": "application/json" };
  const post = async (path, body, headers = tenant) => {
    const r = await fetch(`${BASE}/v1/client${path}`, { method: "POST", headers, body: JSON.stringify(body) });
    return { status: r.status, headers: r.headers, body: await r.json() };
  };
  // No credentials at all.
  assertError(await post("/challenge", {}, { "Content-Type": "application/json" }), 401, "unauthorized");
  // A sign-in ceremony naming no user: a challengeId, then options for it.
  const c = await post("/challenge", { action: "passkey-login" });
  assert.equal(c.status, 200);
  assert.match(c.body.challengeId, /^[\w-]+\.[\w-]+$/);
  const o = await post("/user-authenticators/passkey/authentication-options", { challengeId: c.body.challengeId });
  assert.equal(o.status, 200);
  assert.equal(o.body.challengeId, c.body.challengeId);
  assert.deepEqual(o.body.options.allowCredentials, []);
  assert.equal(o.body.options.rpId, "127.0.0.1");
  // A damaged challengeId, or none.
  const forged = c.body.challengeId.replace(/.$/, (x) => (x === "A" ? "B" : "A"));
  assertError(await post("/user-authenticators/passkey/authentication-options", { challengeId: forged }), 400, "invalid_challenge");
  const credential = { id: "AQID", rawId: "AQID", type: "public-key", response: { clientDataJSON: "e30", authenticatorData: "AA", signature: "AA", userHandle: "dXNlcg" } };
  assertError(await post("/verify/passkey", { authenticationCredential: credential, challengeId: forged }), 400, "invalid_challenge");
  assertError(await post("/verify/passkey", { authenticationCredential: credential }), 400, "invalid_request");
  // A user who has no such passkey.
  assertError(await post("/verify/passkey", { authenticationCredential: credential, challengeId: c.body.challengeId }), 400, "unknown_credential");
  // Registration needs a token, and an action that allows passkeys.
  assertError(await post("/user-authenticators/passkey/registration-options", {}), 401, "unauthorized");
  await configure("pk-not-allowed", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP"] });
  const t = await authsignal.track({ userId: uid("pk-no"), action: "pk-not-allowed" });
  const bearer = { Authorization: `Bearer ${t.token}`, "Content-Type": "application/json" };
  const r = await post("/user-authenticators/passkey/registration-options", {}, bearer);
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /PASSKEY is not allowed/);
  // Unknown fields are ignored (a tolerant reader, as Authsignal's): the
  // refusal is the same one, for the same reason.
  const u = await post("/user-authenticators/passkey/registration-options", { user: "x", idempotencyKey: "k" }, bearer);
  assertError(u, 400, "invalid_request");
  assert.match(u.body.errorDescription, /PASSKEY is not allowed/);
});
