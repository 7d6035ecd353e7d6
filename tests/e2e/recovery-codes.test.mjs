// Recovery codes (RECOVERY_CODE): made with a user's first factor and shown
// that once (the server enrollment's `recoveryCodes`, as Authsignal returns
// them; the hosted page's), stored hashed, each good for one challenge,
// remade only by a client that just proved itself, counted by the per-user
// throttle; and on the hosted page, shown once and usable.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { authsignal, configure, uid, client, call, totpCode, BASE } from "./lib.mjs";
import { useBrowserDemo } from "./browser-kit.mjs";

const demo = useBrowserDemo();

before(async () => {
  await configure("recovery-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP", "RECOVERY_CODE", "AUTHENTICATOR_APP"] });
  await configure("recovery-not-allowed", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP"] });
});

/** A user with a verified email factor; the recovery codes its enrollment returned. */
async function enrolled() {
  const userId = uid("rc");
  const first = await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "EMAIL_OTP", email: `${userId}@example.com` } });
  return { userId, codes: first.recoveryCodes };
}

test("the first factor comes with ten recovery codes, shown once and stored only hashed", async () => {
  const { userId, codes } = await enrolled();
  assert.equal(codes.length, 10);
  for (const c of codes) assert.match(c, /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
  assert.equal(new Set(codes).size, 10);
  const second = await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "SMS", phoneNumber: "+64211234567" } });
  assert.equal(second.recoveryCodes, undefined, "only with the first factor");
  const auths = await authsignal.getAuthenticators({ userId });
  assert.ok(auths.some((a) => a.verificationMethod === "RECOVERY_CODE"));
  assert.ok(!JSON.stringify(auths).includes(codes[0]), "no code in any answer after that");
  const overview = await call("GET", `/v1/management/users/${userId}`, { secret: (await import("./lib.mjs")).MGMT_SECRET });
  assert.ok(!JSON.stringify(overview.body).includes(codes[0].replace("-", "")));
});

test("a recovery code completes a challenge once, and the app sees RECOVERY_CODE", async () => {
  const { userId, codes } = await enrolled();
  const t = await authsignal.track({ userId, action: "recovery-action" });
  assert.equal(t.state, "CHALLENGE_REQUIRED");
  const r = await client("/verify/recovery-code", t.token, { verificationCode: codes[3].toUpperCase() });
  assert.equal(r.body.isVerified, true, JSON.stringify(r.body));
  const v = await authsignal.validateChallenge({ token: t.token });
  assert.equal(v.state, "CHALLENGE_SUCCEEDED");
  assert.equal(v.verificationMethod, "RECOVERY_CODE");

  // The same code again: wrong. Another one: fine.
  const t2 = await authsignal.track({ userId, action: "recovery-action" });
  const again = await client("/verify/recovery-code", t2.token, { verificationCode: codes[3] });
  assert.equal(again.body.isVerified, false);
  assert.equal(again.body.failureReason, "CODE_INVALID_OR_EXPIRED");
  assert.equal((await authsignal.validateChallenge({ token: t2.token })).state, "CHALLENGE_REQUIRED");
  assert.equal((await client("/verify/recovery-code", t2.token, { verificationCode: codes[4] })).body.isVerified, true);

  // Not for an action that does not accept them.
  const t3 = await authsignal.track({ userId, action: "recovery-not-allowed" });
  const refused = await client("/verify/recovery-code", t3.token, { verificationCode: codes[5] });
  assert.equal(refused.status, 400);
  assert.equal((await authsignal.validateChallenge({ token: t3.token })).state, "CHALLENGE_REQUIRED");
});

test("the attacker with the track token: guessing is throttled per user; no new codes without proof", async () => {
  const { userId, codes } = await enrolled();
  const answers = [];
  for (let i = 0; i < 2; i++) {
    const t = await authsignal.track({ userId, action: "recovery-action" });
    const regen = await client("/user-authenticators/recovery-code", t.token);
    assert.equal(regen.status, 403, "a track token makes no codes");
    assert.equal(regen.body.errorCode, "verification_required");
    for (let j = 0; j < 6; j++) answers.push((await client("/verify/recovery-code", t.token, { verificationCode: `aaaaa-${String(i * 6 + j).padStart(5, "0")}` })).status);
  }
  // Ten wrong codes in a row start a wait for every code of this user.
  assert.deepEqual(answers.slice(0, 10), Array(10).fill(200));
  const t = await authsignal.track({ userId, action: "recovery-action" });
  const blocked = await client("/verify/recovery-code", t.token, { verificationCode: codes[0] });
  assert.equal(blocked.status, 429);
  assert.ok(Number(blocked.headers.get("retry-after")) > 0);
  assert.equal((await authsignal.validateChallenge({ token: t.token })).state, "CHALLENGE_REQUIRED", "even the right code waits");
  await call("DELETE", `/v1/users/${userId}/lockout`);

  // Proof by a recovery code makes no new set (one leaked code must not
  // replace the user's own)...
  const t2 = await authsignal.track({ userId, action: "recovery-action" });
  const byCode = await client("/verify/recovery-code", t2.token, { verificationCode: codes[0] });
  assert.equal(byCode.body.isVerified, true);
  assert.equal((await client("/user-authenticators/recovery-code", byCode.body.accessToken)).status, 403);
  // ...proof by another factor does, and the old set stops working.
  const t4 = await authsignal.track({ userId, action: "recovery-action" });
  assert.equal((await client("/challenge/email-otp", t4.token)).status, 200);
  // The browser demo's receiver takes the webhook; the dev outbox keeps the code.
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  const sent = outbox.find((m) => m.data.to === `${userId}@example.com`); // newest first
  const proof = await client("/verify/email-otp", t4.token, { verificationCode: sent.data.code });
  assert.equal(proof.body.isVerified, true, JSON.stringify(proof.body));
  const fresh = await client("/user-authenticators/recovery-code", proof.body.accessToken);
  assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  assert.equal(fresh.body.recoveryCodes.length, 10);
  const t3 = await authsignal.track({ userId, action: "recovery-action" });
  assert.equal((await client("/verify/recovery-code", t3.token, { verificationCode: codes[1] })).body.isVerified, false, "the old set is gone");
  assert.equal((await client("/verify/recovery-code", t3.token, { verificationCode: fresh.body.recoveryCodes[9] })).body.isVerified, true);
});

test("the hosted page shows the codes once with the first factor, and takes one later", async () => {
  const userId = uid("rc-page");
  const t = await authsignal.track({ userId, action: "recovery-action", attributes: { redirectUrl: `${BASE}/__actiongate/admin?back=1` } });
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(t.url);
    await page.click("input[value=AUTHENTICATOR_APP]");
    await page.waitForSelector("#secret:not(:empty)");
    const secret = (await page.textContent("#secret")).replace(/\s/g, "");
    await page.fill("#code", totpCode(secret));
    await page.click("#submit");
    await page.waitForSelector("#recovery:not([hidden])");
    const shown = (await page.locator("#recovery-codes li").allTextContents()).map((s) => s.trim());
    assert.equal(shown.length, 10);
    await Promise.all([page.waitForURL((u) => u.pathname === "/__actiongate/admin"), page.click("#recovery-saved")]);
    assert.equal((await authsignal.validateChallenge({ token: t.token })).state, "CHALLENGE_SUCCEEDED");

    // Later, without the phone: a recovery code on the page.
    const later = await authsignal.track({ userId, action: "recovery-action", attributes: { redirectUrl: `${BASE}/__actiongate/admin?back=1` } });
    await page.goto(later.url);
    await page.click("input[value=RECOVERY_CODE]");
    await page.fill("#code", "not-a-code");
    await page.click("#submit");
    assert.match(await page.textContent("#code-error"), /recovery codes/);
    await page.fill("#code", shown[7]);
    await Promise.all([page.waitForURL((u) => u.pathname === "/__actiongate/admin"), page.click("#submit")]);
    const v = await authsignal.validateChallenge({ token: later.token });
    assert.equal(v.state, "CHALLENGE_SUCCEEDED");
    assert.equal(v.verificationMethod, "RECOVERY_CODE");
  } finally {
    await context.close();
  }
});
