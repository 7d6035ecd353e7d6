// A person in headless Chromium (Debian's chromium, driven by playwright-core)
// using the demo bank through ActionGate: a challenged withdrawal, the hosted
// challenge page with authenticator-app enrollment, back at the bank with the
// withdrawal done exactly once. Screenshots go to test-artifacts/screenshots/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { uid, BASE, totpCode, authsignal, configure } from "./lib.mjs";
import { SHOTS, useBrowserDemo, startTestApp, executed as executedAt, saveRecoveryCodes } from "./browser-kit.mjs";

const demo = useBrowserDemo();

const executed = (user) => executedAt(demo.bank, user);

test("a challenged withdrawal: enroll an authenticator app on the hosted page, then the bank executes it once", async () => {
  const user = uid("browser");
  const context = await demo.browser.newContext({ viewport: { width: 390, height: 844 } }); // a phone
  const page = await context.newPage();
  const resumes = [];
  page.on("request", (r) => { if (r.url().includes("/__actiongate/resume")) resumes.push(r.url()); });
  await page.goto(`${BASE}/login?user=${user}`);
  assert.match(await page.textContent("body"), new RegExp(`Signed in as ${user}`));
  await page.screenshot({ path: join(SHOTS, "01-bank-home.png"), fullPage: true });

  // 5,000 is over the large-withdrawal threshold: challenged.
  await page.fill("input[name=amount]", "5000");
  await page.fill("input[name=to]", "NZ-0201-7654321-00");
  await Promise.all([page.waitForURL(/\/challenge\?token=/), page.click("form[action='/withdraw'] button")]);
  // Passkey comes first in the demo's methods; this person picks the app.
  await page.waitForSelector("#methods:not([hidden])");
  // The deployment's branding (its variables): name, logo, colour, help.
  assert.equal(await page.textContent("#brand-name"), "Demo Bank");
  assert.equal(await page.getAttribute("#brand-logo", "src"), "/__actiongate/brand/demo-logo.svg");
  assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--accent").trim()), "#0b6e4f");
  assert.equal(await page.getAttribute("#support-link", "href"), "mailto:help@bank.example");
  assert.equal(await page.isChecked("input[value=PASSKEY]"), true);
  await page.check("input[value=AUTHENTICATOR_APP]");
  await page.waitForSelector("#secret:not(:empty)");
  assert.equal(await page.textContent("#message"), "Please confirm your withdrawal of NZD 5,000.00 to NZ-0201-7654321-00");
  assert.ok(await page.isVisible("#qr svg"), "the QR code is drawn without external services");
  await page.screenshot({ path: join(SHOTS, "02-challenge-enroll.png"), fullPage: true });

  // A wrong code: an inline error, focus back on the input.
  // The key is shown in groups of four, with a copy button and an otpauth:// link.
  const secret = (await page.textContent("#secret")).replace(/\s/g, "");
  assert.match(await page.textContent("#secret"), /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/);
  assert.match(await page.getAttribute("#otpauth", "href"), /^otpauth:\/\/totp\/.*secret=/);
  assert.equal(await page.isVisible("#copy-secret"), true);
  const right = totpCode(secret);
  await page.fill("#code", right === "000000" ? "111111" : "000000");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#code-error:not(:empty)");
  assert.match(await page.textContent("#code-error"), /not right/);
  assert.equal(await page.evaluate(() => document.activeElement.id), "code");
  await page.screenshot({ path: join(SHOTS, "03-challenge-wrong-code.png"), fullPage: true });
  assert.equal((await executed(user)).length, 0);

  // The right code, then the demo's offer to add a passkey: "Not now".
  await page.fill("#code", totpCode(secret));
  await page.keyboard.press("Enter");
  // The first factor comes with recovery codes, shown once.
  await page.waitForSelector("#recovery:not([hidden])");
  await page.screenshot({ path: join(SHOTS, "04-recovery-codes.png"), fullPage: true });
  assert.equal((await saveRecoveryCodes(page)).length, 10);
  await page.waitForSelector("#prompt:not([hidden])");
  await page.screenshot({ path: join(SHOTS, "04a-passkey-prompt.png"), fullPage: true });
  // Back at the bank, the withdrawal done.
  await Promise.all([page.waitForURL((u) => u.pathname === "/" && u.searchParams.has("msg")), page.click("#prompt-skip")]);
  assert.match(await page.textContent(".msg"), /Withdrew \$5000 to NZ-0201-7654321-00/);
  assert.match(await page.textContent("#balance"), /\$995,000/);
  await page.screenshot({ path: join(SHOTS, "04-bank-after-withdrawal.png"), fullPage: true });
  const done = await executed(user);
  assert.deepEqual(done.map((d) => [d.amount, d.state]), [[5000, "CHALLENGE_SUCCEEDED"]]);

  // Going back to the return link replays nothing.
  assert.equal(resumes.length, 1);
  const again = await page.goto(resumes[0]);
  assert.equal(again.status(), 403);
  assert.match(await page.textContent("body"), /already completed/);
  await page.screenshot({ path: join(SHOTS, "05-resume-link-reused.png"), fullPage: true });
  assert.equal((await executed(user)).length, 1, "exactly once");
  await context.close();
});

/**
 * Sign in to the demo bank as `user`, withdraw `amount` to `to`, and pass the
 * challenge with an emailed code (read from the dev outbox), up to the
 * passkey offer. Returns the challenge page's URL.
 */
async function withdrawByEmailCode(page, user, amount, to) {
  await page.goto(`${BASE}/login?user=${user}`);
  await page.fill("input[name=amount]", String(amount));
  await page.fill("input[name=to]", to);
  await Promise.all([page.waitForURL(/\/challenge\?token=/), page.click("form[action='/withdraw'] button")]);
  const challengeUrl = page.url();
  await page.waitForSelector("#methods:not([hidden])");
  await page.check("input[value=EMAIL_OTP]");
  await page.waitForSelector("#email-form:not([hidden])");
  await page.fill("#email", `${user}@example.com`);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#code-form:not([hidden])");
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  const code = outbox.find((m) => m.data.to === `${user}@example.com`).data.code;
  await page.fill("#code", code);
  await page.keyboard.press("Enter");
  await saveRecoveryCodes(page);
  await page.waitForSelector("#prompt:not([hidden])");
  return challengeUrl;
}

test("a challenged withdrawal completed with an emailed code from the dev outbox", async () => {
  const user = uid("browser-email");
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await withdrawByEmailCode(page, user, 2500, "NZ-0201-1111111-00");
    await Promise.all([page.waitForURL((u) => u.pathname === "/" && u.searchParams.has("msg")), page.click("#prompt-skip")]);
    assert.match(await page.textContent(".msg"), /Withdrew \$2500/);
    const done = await executed(user);
    assert.deepEqual(done.map((d) => [d.amount, d.state]), [[2500, "CHALLENGE_SUCCEEDED"]]);
  } finally {
    await context.close();
  }
});

test("a verified withdrawal is never lost: reloading at the passkey offer continues to the bank, which runs it once; the link opened again says it is done", async () => {
  const user = uid("browser-reload");
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    // Verified; the page offers a passkey. The person reloads instead of answering.
    const challengeUrl = await withdrawByEmailCode(page, user, 3500, "NZ-0201-2222222-00");
    assert.equal((await executed(user)).length, 0, "nothing runs before the return");
    await Promise.all([page.waitForURL((u) => u.pathname === "/" && u.searchParams.has("msg")), page.reload()]);
    assert.match(await page.textContent(".msg"), /Withdrew \$3500/);
    assert.deepEqual((await executed(user)).map((d) => [d.amount, d.state]), [[3500, "CHALLENGE_SUCCEEDED"]]);
    // The challenge link opened again: it continues, and the bank is told it was done already.
    await page.goto(challengeUrl);
    await page.waitForURL(/\/__actiongate\/resume/);
    await page.waitForSelector("h1");
    assert.equal(await page.textContent("h1"), "Already done");
    assert.match(await page.textContent("body"), /already completed/);
    assert.equal(await page.getAttribute("a[href='/']", "href"), "/", "a way back to the app");
    await page.screenshot({ path: join(SHOTS, "06-challenge-link-reopened.png"), fullPage: true });
    assert.equal((await executed(user)).length, 1, "exactly once");
  } finally {
    await context.close();
  }
});

test("a dead end is said in plain words with a way back, and recorded in the action's history", async () => {
  // Email is all this person has; the action wants a passkey or an
  // authenticator app, which only a client that proved itself could add.
  await configure("dead-end", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["PASSKEY", "AUTHENTICATOR_APP"] });
  const user = uid("dead-end");
  await authsignal.enrollVerifiedAuthenticator({ userId: user, attributes: { verificationMethod: "EMAIL_OTP", email: `${user}@example.com` } });
  const t = await authsignal.track({ userId: user, action: "dead-end" });
  assert.equal(t.state, "CHALLENGE_REQUIRED");
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await page.goto(t.url);
    await page.waitForSelector("#back:not([hidden])");
    assert.match(await page.textContent("#status"), /isn't set up on your account yet/);
    assert.equal(await page.isVisible("#methods"), false, "no method offered that would fail");
    assert.equal(await page.getAttribute("#back-link", "href"), "/");
    await page.screenshot({ path: join(SHOTS, "07-challenge-dead-end.png"), fullPage: true });
    await page.reload();
    await page.waitForSelector("#back:not([hidden])");
    assert.deepEqual(errors, [], "no script error");
  } finally {
    await context.close();
  }
  const a = await authsignal.getAction({ userId: user, action: "dead-end", idempotencyKey: t.idempotencyKey });
  assert.equal(a.state, "CHALLENGE_REQUIRED");
  assert.deepEqual(a.history.filter((h) => h.cause.type === "NO_USABLE_METHOD").map((h) => [h.from, h.to]),
    [["CHALLENGE_REQUIRED", "CHALLENGE_REQUIRED"]], "recorded once, the state unchanged");
});

test("the page works by keyboard alone and says when a link is bad", async () => {
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE}/challenge?token=not-a-token`);
  await page.waitForFunction(() => document.getElementById("status").textContent !== "Loading…");
  assert.match(await page.textContent("#status"), /This link isn't valid\. Start again from the app\./);
  assert.equal(await page.isVisible("#back-link"), true, "a way back");
  await page.goto(`${BASE}/challenge`);
  await page.waitForFunction(() => /incomplete/.test(document.getElementById("status").textContent));
  await page.screenshot({ path: join(SHOTS, "06-challenge-bad-link.png") });
  await context.close();
});

/**
 * From the app page at `app.url`, launch the challenge in popup mode for a
 * new user and complete it with an authenticator app; resolves once the
 * code is entered, with `launched` (launch's promise) and the user.
 */
async function completePopup(page, app, prefix) {
  const { authsignal, configure } = await import("./lib.mjs");
  await configure("popup-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] });
  const userId = uid(prefix);
  const t = await authsignal.track({ userId, action: "popup-action" });
  await page.goto(app.url);
  const launched = page.evaluate(async ({ url, base }) => {
    const a = new AuthsignalSDK.Authsignal({ tenantId: "actiongate", baseUrl: base });
    return a.launch(url, { mode: "popup" });
  }, { url: t.url, base: `${BASE}/v1` });
  const frame = page.frameLocator("iframe");
  const secret = (await frame.locator("#secret:not(:empty)").textContent()).replace(/\s/g, "");
  await page.screenshot({ path: join(SHOTS, `07-${prefix}.png`) });
  await frame.locator("#code").fill(totpCode(secret));
  await frame.locator("#code").press("Enter");
  await saveRecoveryCodes(frame);
  return { authsignal, launched, userId };
}

test("popup mode through @authsignal/browser's launch resolves with a token that validates", async () => {
  const app = await startTestApp();
  const context = await demo.browser.newContext();
  try {
    const { authsignal, launched, userId } = await completePopup(await context.newPage(), app, "popup");
    const { token } = await launched;
    assert.ok(token, "launch resolved with the token");
    const v = await authsignal.validateChallenge({ token, userId, action: "popup-action" });
    assert.equal(v.isValid, true);
    assert.equal(v.state, "CHALLENGE_SUCCEEDED");
  } finally {
    await context.close();
    await app.close();
  }
});

/**
 * A page of another site (a free port: an origin not in the redirect
 * allowlist) that records every message it receives (`window.received`),
 * with a fresh challenged track of "popup-action".
 */
async function foreignSite(prefix) {
  const app = await startTestApp("127.0.0.1", 0);
  const context = await demo.browser.newContext();
  try {
    const { authsignal, configure } = await import("./lib.mjs");
    await configure("popup-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] });
    const userId = uid(prefix);
    const t = await authsignal.track({ userId, action: "popup-action" });
    const page = await context.newPage();
    await page.goto(app.url);
    await page.evaluate(() => {
      window.received = [];
      window.addEventListener("message", (e) => window.received.push(String(e.data)));
    });
    return { app, context, authsignal, userId, t, page };
  } catch (e) {
    await context.close();
    await app.close();
    throw e;
  }
}

test("another site cannot show the challenge in a frame: nothing is shown, posted or completed", async () => {
  const { app, context, authsignal, userId, t, page } = await foreignSite("framed-foreign");
  try {
    // Through the SDK's popup mode, and framed directly without it.
    const launched = page.evaluate(async ({ url, base }) => {
      const a = new AuthsignalSDK.Authsignal({ tenantId: "actiongate", baseUrl: base });
      return a.launch(url, { mode: "popup" });
    }, { url: t.url, base: `${BASE}/v1` });
    await page.evaluate((url) => {
      const f = document.createElement("iframe");
      f.id = "direct";
      f.src = url;
      document.body.append(f);
    }, t.url);
    for (const frame of [page.frameLocator("iframe:not(#direct)"), page.frameLocator("#direct")]) {
      await frame.locator("#status", { hasText: /cannot be shown inside another site/ }).waitFor();
      assert.equal(await frame.locator("#secret").textContent(), "", "no enrollment key is shown");
      assert.equal(await frame.locator("#code-form").isHidden(), true, "no code form");
    }
    await page.screenshot({ path: join(SHOTS, "07-framed-foreign.png") });
    const outcome = await Promise.race([launched.then(() => "resolved"), new Promise((r) => setTimeout(() => r("pending"), 1000))]);
    assert.equal(outcome, "pending", "launch did not resolve");
    const received = await page.evaluate(() => window.received);
    assert.ok(!received.some((m) => /AUTHSIGNAL_READY|token/.test(m)), `nothing reached the page: ${received.join(" | ")}`);
    const action = await authsignal.getAction({ userId, action: "popup-action", idempotencyKey: t.idempotencyKey });
    assert.equal(action.state, "CHALLENGE_REQUIRED");
  } finally {
    await context.close();
    await app.close();
  }
});

test("window mode gives the token only to an allowed site: another site that opens the page gets nothing", async () => {
  const { app, context, authsignal, userId, t, page } = await foreignSite("window-foreign");
  try {
    const opened = page.waitForEvent("popup");
    const launched = page.evaluate(async ({ url, base }) => {
      const a = new AuthsignalSDK.Authsignal({ tenantId: "actiongate", baseUrl: base });
      return a.launch(url, { mode: "window" });
    }, { url: t.url, base: `${BASE}/v1` });
    const win = await opened;
    // Not framed: the user can verify in the window, but the token stays in it.
    const secret = (await win.locator("#secret:not(:empty)").textContent()).replace(/\s/g, "");
    await win.locator("#code").fill(totpCode(secret));
    await win.locator("#code").press("Enter");
    await saveRecoveryCodes(win);
    await win.locator("#done", { hasText: /may not receive the result/ }).waitFor();
    const outcome = await Promise.race([launched.then(() => "resolved"), new Promise((r) => setTimeout(() => r("pending"), 1000))]);
    assert.equal(outcome, "pending", "launch did not resolve with a token");
    const received = await page.evaluate(() => window.received);
    assert.ok(received.some((m) => m.includes("AUTHSIGNAL_READY")), "the page did hear from the window");
    assert.ok(!received.some((m) => m.includes("token")), `no token reached the page: ${received.join(" | ")}`);
    const action = await authsignal.getAction({ userId, action: "popup-action", idempotencyKey: t.idempotencyKey });
    assert.equal(action.state, "CHALLENGE_SUCCEEDED");
  } finally {
    await context.close();
    await app.close();
  }
});

test("a custom page using @authsignal/browser's totp and email clients, across origins", async () => {
  const { authsignal, configure } = await import("./lib.mjs");
  await configure("custom-ui-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] });
  const app = await startTestApp();
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    const userId = uid("custom");
    const t = await authsignal.track({ userId, action: "custom-ui-action" });
    await page.goto(app.url);
    const enrolled = await page.evaluate(async ({ token, base }) => {
      window.sdk = new AuthsignalSDK.Authsignal({ tenantId: "actiongate", baseUrl: base });
      window.sdk.setToken(token);
      return window.sdk.totp.enroll();
    }, { token: t.token, base: `${BASE}/v1` });
    assert.ok(enrolled.data?.secret, JSON.stringify(enrolled));
    const verified = await page.evaluate((code) => window.sdk.totp.verify({ code }), totpCode(enrolled.data.secret));
    assert.equal(verified.data.isVerified, true, JSON.stringify(verified));
    const v = await authsignal.validateChallenge({ token: verified.data.token });
    assert.equal(v.isValid, true);
    assert.equal(v.verificationMethod, "AUTHENTICATOR_APP");

    // The email client: enroll an address, read the code from the dev outbox, verify.
    await configure("custom-ui-email", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP"] });
    const other = uid("custom-email");
    const t2 = await authsignal.track({ userId: other, action: "custom-ui-email" });
    const email = `${other}@example.com`;
    const sent = await page.evaluate(async ({ token, email }) => {
      window.sdk.setToken(token);
      return window.sdk.email.enroll({ email });
    }, { token: t2.token, email });
    assert.ok(sent.data?.userAuthenticatorId, JSON.stringify(sent));
    const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
    const code = outbox.find((m) => m.data.to === email).data.code;
    const ok = await page.evaluate((code) => window.sdk.email.verify({ code }), code);
    assert.equal(ok.data.isVerified, true, JSON.stringify(ok));
    assert.equal((await authsignal.validateChallenge({ token: ok.data.token })).verificationMethod, "EMAIL_OTP");
  } finally {
    await context.close();
    await app.close();
  }
});

test("email OTP on the hosted page, with the code read from the dev outbox", async () => {
  const { authsignal, configure } = await import("./lib.mjs");
  await configure("email-page-action", {
    defaultUserActionResult: "CHALLENGE",
    verificationMethods: ["EMAIL_OTP", "AUTHENTICATOR_APP"],
    defaultVerificationMethod: "EMAIL_OTP",
  });
  const userId = uid("email-page");
  const email = `${userId}@example.com`;
  const t = await authsignal.track({ userId, action: "email-page-action" });
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(t.url);
    await page.waitForSelector("#email-form:not([hidden])");
    assert.equal(await page.isChecked("input[value=EMAIL_OTP]"), true, "the action's default method is preselected");
    // A mistyped address: the code form offers a new code and another address.
    await page.fill("#email", `${userId}@example.nett`);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#code-form:not([hidden])");
    assert.match(await page.textContent("#code-label"), /example\.nett/);
    assert.equal(await page.isVisible("#resend"), true);
    await page.click("#change-destination");
    await page.waitForSelector("#email-form:not([hidden])");
    await page.fill("#email", email);
    await page.keyboard.press("Enter");
    await page.waitForFunction((to) => document.getElementById("code-label").textContent.includes(to), email);
    await page.screenshot({ path: join(SHOTS, "08-email-code-sent.png"), fullPage: true });

    const outbox = await context.newPage();
    await outbox.goto(`${BASE}/__actiongate/outbox`);
    await outbox.screenshot({ path: join(SHOTS, "09-dev-outbox.png"), fullPage: true });
    const row = outbox.locator("tr", { hasText: email });
    const code = (await row.locator(".code").textContent()).trim();
    assert.match(code, /^\d{6}$/);

    await page.fill("#code", code);
    await page.keyboard.press("Enter");
    await saveRecoveryCodes(page);
    await page.waitForSelector("#done:not([hidden])");
    assert.match(await page.textContent("#done"), /Verified/);
    const a = await authsignal.getAction({ userId, action: "email-page-action", idempotencyKey: t.idempotencyKey });
    assert.equal(a.state, "CHALLENGE_SUCCEEDED");
    assert.equal(a.verificationMethod, "EMAIL_OTP");
  } finally {
    await context.close();
  }
});

test("on the hosted page the sixth wrong code fails the challenge", async () => {
  const { authsignal, configure } = await import("./lib.mjs");
  await configure("page-lockout", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] });
  const userId = uid("lockout");
  const t = await authsignal.track({ userId, action: "page-lockout" });
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(t.url);
    const secret = (await page.locator("#secret:not(:empty)").textContent()).replace(/\s/g, "");
    const wrong = totpCode(secret) === "000000" ? "111111" : "000000";
    for (let i = 1; i <= 5; i++) {
      await page.fill("#code", wrong);
      await page.keyboard.press("Enter");
      await page.waitForFunction((n) => {
        const t = document.getElementById("code-error").textContent;
        return n === 5 ? /One more wrong code/.test(t) : n === 4 ? /One attempt left/.test(t) : new RegExp(`${5 - n} attempts left`).test(t);
      }, i);
    }
    await page.fill("#code", wrong);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => /Too many wrong codes/.test(document.getElementById("status").textContent));
    assert.equal(await page.isHidden("#code-form"), true);
    await page.screenshot({ path: join(SHOTS, "10-challenge-failed.png"), fullPage: true });
    const a = await authsignal.getAction({ userId, action: "page-lockout", idempotencyKey: t.idempotencyKey });
    assert.equal(a.state, "CHALLENGE_FAILED");
  } finally {
    await context.close();
  }
});

test("SMS codes on the hosted page", async () => {
  const { authsignal, configure } = await import("./lib.mjs");
  await configure("sms-page-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["SMS"] });
  const userId = uid("sms-page");
  const phone = `+6422${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
  const t = await authsignal.track({ userId, action: "sms-page-action" });
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(t.url);
    await page.waitForSelector("#sms-form:not([hidden])");
    await page.fill("#phone", "021 555");
    await page.keyboard.press("Enter");
    assert.match(await page.textContent("#phone-error"), /country code/);
    await page.fill("#phone", phone.replace(/^(\+\d{2})(\d{2})/, "$1 $2 "));
    await page.keyboard.press("Enter");
    await page.waitForSelector("#code-form:not([hidden])");
    const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
    const msg = outbox.find((m) => m.type === "sms.created" && m.data.to === phone);
    assert.ok(msg, "the text was handed over");
    await page.fill("#code", msg.data.code);
    await page.keyboard.press("Enter");
    await saveRecoveryCodes(page);
    await page.waitForSelector("#done:not([hidden])");
    await page.screenshot({ path: join(SHOTS, "11-sms-verified.png"), fullPage: true });
    const a = await authsignal.getAction({ userId, action: "sms-page-action", idempotencyKey: t.idempotencyKey });
    assert.equal(a.verificationMethod, "SMS");
  } finally {
    await context.close();
  }
});

test("a magic link on the hosted page: the link opened in another tab, the first page continues", async () => {
  const { authsignal, configure } = await import("./lib.mjs");
  await configure("link-page-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_MAGIC_LINK"] });
  const userId = uid("link-page");
  const email = `${userId}@example.com`;
  const t = await authsignal.track({ userId, action: "link-page-action" });
  const context = await demo.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(t.url);
    await page.waitForSelector("#email-form:not([hidden])");
    assert.equal((await page.textContent("#send")).trim(), "Email me a link");
    await page.fill("#email", email);
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => /emailed you a link/.test(document.getElementById("status").textContent));
    await page.screenshot({ path: join(SHOTS, "12-magic-link-sent.png"), fullPage: true });

    const mailbox = await context.newPage();
    await mailbox.goto(`${BASE}/__actiongate/outbox`);
    await Promise.all([mailbox.waitForURL(/magic-link/), mailbox.locator("tr", { hasText: email }).locator("a.link").click()]);
    await mailbox.click("#confirm");
    await mailbox.waitForSelector("#result");
    assert.match(await mailbox.textContent("#result"), /you are verified/);

    await page.waitForSelector("#done:not([hidden])");
    const a = await authsignal.getAction({ userId, action: "link-page-action", idempotencyKey: t.idempotencyKey });
    assert.equal(a.state, "CHALLENGE_SUCCEEDED");
    assert.equal(a.verificationMethod, "EMAIL_MAGIC_LINK");
  } finally {
    await context.close();
  }
});
