// The OpenAPI document (www/v1/openapi.json, a static asset served at /v1/openapi.json)
// against live responses: every answer below must match the schema the
// document gives for its operation and status, so the document cannot drift
// from the code.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { call, mgmt, uid, configure, client, totpCode, BASE, MGMT_SECRET } from "./lib.mjs";
import { ROOT } from "./harness.mjs";
import { SoftKey } from "./softkey.mjs";

const doc = JSON.parse(readFileSync(join(ROOT, "www", "v1", "openapi.json"), "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, "openapi");
const checked = new Set();

/** Validate a response against the document's schema for path template + method + status. */
function conforms(template, method, r) {
  const op = doc.paths[template]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${template} is not in the document`);
  const resp = op.responses[String(r.status)];
  assert.ok(resp, `${method} ${template} answered ${r.status}, which the document does not list: ${JSON.stringify(r.body)}`);
  assert.equal(r.headers.get("content-type"), "application/json");
  const pointer = `/paths/${template.replaceAll("~", "~0").replaceAll("/", "~1")}/${method.toLowerCase()}/responses/${r.status}/content/application~1json/schema`;
  const validate = ajv.getSchema(`openapi#${pointer}`) ?? ajv.compile({ $ref: `openapi#${pointer}` });
  assert.ok(validate(r.body), `${method} ${template} ${r.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(r.body)}`);
  checked.add(`${method.toUpperCase()} ${template}`);
}

/** A page (HTML) or a body-less answer: its status must be listed, its media type be the one documented. */
function conformsPage(template, method, r) {
  const op = doc.paths[template]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${template} is not in the document`);
  const resp = op.responses[String(r.status)];
  assert.ok(resp, `${method} ${template} answered ${r.status}, which the document does not list`);
  const types = Object.keys(resp.content ?? {});
  if (method !== "HEAD") assert.ok(types.some((t) => r.headers.get("content-type")?.startsWith(t)), `${method} ${template} ${r.status}: ${r.headers.get("content-type")} is not among ${types}`);
  checked.add(`${method.toUpperCase()} ${template}`);
}

const send = async (method, path, { headers = {}, body } = {}) => {
  const r = await fetch(`${BASE}${path}`, { method, headers, body });
  const text = await r.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* a page */ }
  return { status: r.status, headers: r.headers, body: parsed };
};

before(async () => {
  await configure("openapi-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP", "EMAIL_OTP"] });
});

test("the served document is the repository's", async () => {
  const r = await call("GET", "/v1/openapi.json", { secret: null });
  conforms("/v1/openapi.json", "GET", r);
  assert.deepEqual(r.body, doc);
  assert.equal(doc.openapi, "3.1.0");
  assert.match(r.headers.get("content-type"), /^application\/json/);
  // A static asset: other methods are refused (by the asset layer).
  const post = await call("POST", "/v1/openapi.json", { body: {}, secret: null });
  assert.equal(post.status, 405);
});

test("Server API responses match the document", async () => {
  const u = uid("oa");
  let r = await call("POST", `/v1/users/${u}/actions/openapi-action`, { body: { idempotencyKey: "k1", custom: { amount: 5 } } });
  conforms("/v1/users/{userId}/actions/{action}", "POST", r);
  const token = r.body.token;
  conforms("/v1/users/{userId}/actions/{action}", "POST", await call("POST", `/v1/users/${u}/actions/openapi-action`, { body: { idempotencyKey: "k1", custom: { amount: 6 } } }));
  conforms("/v1/users/{userId}/actions/{action}", "POST", await call("POST", `/v1/users/${u}/actions/openapi-action`, { body: { custon: 1 } }));
  conforms("/v1/users/{userId}/actions/{action}", "POST", await call("POST", `/v1/users/${u}/actions/openapi-action`, { body: {}, secret: "wrong" }));
  conforms("/v1/users/{userId}/actions/{action}", "POST", await call("POST", `/v1/users/${u}/actions/openapi-action`, { raw: "x".repeat(70000), headers: { "Content-Type": "application/json" } }));
  conforms("/v1/users/{userId}/actions/{action}", "POST", await call("POST", `/v1/users/${u}/actions/openapi-action`, { raw: "{}", headers: { "Content-Type": "text/plain" } }));
  conforms("/v1/users/{userId}/actions/{action}/{idempotencyKey}", "GET", await call("GET", `/v1/users/${u}/actions/openapi-action/k1`));
  conforms("/v1/users/{userId}/actions/{action}/{idempotencyKey}", "GET", await call("GET", `/v1/users/${u}/actions/openapi-action/none`));
  conforms("/v1/users/{userId}/actions/{action}/{idempotencyKey}", "PATCH", await call("PATCH", `/v1/users/${u}/actions/openapi-action/k1`, { body: { state: "BLOCK" } }));
  conforms("/v1/users/{userId}/actions/{action}/{idempotencyKey}", "PATCH", await call("PATCH", `/v1/users/${u}/actions/openapi-action/k1`, { body: { state: "CHALLENGE_REQUIRED" } }));
  conforms("/v1/users/{userId}/actions", "GET", await call("GET", `/v1/users/${u}/actions?codes=openapi-action`));
  conforms("/v1/validate", "POST", await call("POST", "/v1/validate", { body: { token } }));
  conforms("/v1/validate", "POST", await call("POST", "/v1/validate", { body: { token: "garbage" } }));
  const allowed = await call("POST", `/v1/users/${u}/actions/openapi-allowed`, { body: {} });
  conforms("/v1/validate", "POST", await call("POST", "/v1/validate", { body: { token: allowed.body.token } }));
  conforms("/v1/validate", "POST", await call("GET", "/v1/validate"));
  conforms("/v1/users/{userId}", "PATCH", await call("PATCH", `/v1/users/${u}`, { body: { displayName: "O A", custom: { tier: "gold" } } }));
  conforms("/v1/users/{userId}", "GET", await call("GET", `/v1/users/${u}`));
  r = await call("POST", `/v1/users/${u}/authenticators`, { body: { verificationMethod: "EMAIL_OTP", email: `${u}@example.com` } });
  conforms("/v1/users/{userId}/authenticators", "POST", r);
  conforms("/v1/users/{userId}/authenticators", "GET", await call("GET", `/v1/users/${u}/authenticators`));
  conforms("/v1/users/{userId}/authenticators/{userAuthenticatorId}", "DELETE", await call("DELETE", `/v1/users/${u}/authenticators/${r.body.authenticator.userAuthenticatorId}`));
  conforms("/v1/users/{userId}/authenticators/{userAuthenticatorId}", "DELETE", await call("DELETE", `/v1/users/${u}/authenticators/nope`));
  conforms("/v1/users/{userId}/lockout", "DELETE", await call("DELETE", `/v1/users/${u}/lockout`));
  conforms("/v1/users/{userId}/lockout", "DELETE", await call("GET", `/v1/users/${u}/lockout`));
  conforms("/v1/users/{userId}", "DELETE", await call("DELETE", `/v1/users/${u}`));
  conforms("/health", "GET", await call("GET", "/health", { secret: null }));
});

test("management API responses match the document", async () => {
  const code = `oa-${Date.now()}`;
  conforms("/v1/management/action-configurations/{actionCode}", "PUT", await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } }));
  conforms("/v1/management/action-configurations/{actionCode}", "PUT", await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "MAYBE" } }));
  conforms("/v1/management/action-configurations/{actionCode}", "GET", await mgmt("GET", `/action-configurations/${code}`));
  conforms("/v1/management/action-configurations", "GET", await mgmt("GET", "/action-configurations"));
  conforms("/v1/management/value-lists/{alias}", "PUT", await mgmt("PUT", `/value-lists/${code}-l`, { body: { name: "L", itemType: "string", items: ["a"] } }));
  conforms("/v1/management/value-lists/{alias}", "GET", await mgmt("GET", `/value-lists/${code}-l`));
  conforms("/v1/management/action-configurations/{actionCode}/rules/{ruleId}", "PUT", await mgmt("PUT", `/action-configurations/${code}/rules/r1`, { body: { name: "R", priority: 0, type: "BLOCK", conditions: { inValueList: [{ var: "action.custom.x" }, `${code}-l`] } } }));
  conforms("/v1/management/action-configurations/{actionCode}/rules", "POST", await mgmt("POST", `/action-configurations/${code}/rules`, { body: { name: "R2", priority: 1, type: "REVIEW", conditions: true } }));
  conforms("/v1/management/action-configurations/{actionCode}/rules", "GET", await mgmt("GET", `/action-configurations/${code}/rules`));
  conforms("/v1/management/action-configurations/{actionCode}/rules/{ruleId}", "GET", await mgmt("GET", `/action-configurations/${code}/rules/r1`));
  conforms("/v1/management/value-lists/{alias}", "DELETE", await mgmt("DELETE", `/value-lists/${code}-l`));
  conforms("/v1/management/simulate", "POST", await mgmt("POST", "/simulate", { body: { userId: uid("oa"), action: code, attributes: { custom: { x: "a" } } } }));
  const deleted = await mgmt("DELETE", `/action-configurations/${code}/rules/r1`);
  conforms("/v1/management/action-configurations/{actionCode}/rules/{ruleId}", "DELETE", deleted);
  // The history, and putting a state back.
  const versions = await mgmt("GET", `/action-configurations/${code}/versions?limit=2`);
  conforms("/v1/management/action-configurations/{actionCode}/versions", "GET", versions);
  conforms("/v1/management/action-configurations/{actionCode}/versions", "GET", await mgmt("GET", `/action-configurations/${code}/versions?limit=x`));
  const v = `/action-configurations/${code}/versions/${deleted.body.version}`;
  conforms("/v1/management/action-configurations/{actionCode}/versions/{version}", "GET", await mgmt("GET", v));
  conforms("/v1/management/action-configurations/{actionCode}/versions/{version}", "GET", await mgmt("GET", `/action-configurations/${code}/versions/999999999`));
  conforms("/v1/management/action-configurations/{actionCode}/versions/{version}/restore", "POST", await mgmt("POST", `${v}/restore`, { body: { to: "BEFORE" } }));
  conforms("/v1/management/action-configurations/{actionCode}/versions/{version}/restore", "POST", await mgmt("POST", `${v}/restore`, { body: { to: "NOW" } }));
  const first = (await mgmt("GET", `/action-configurations/${code}/versions?limit=100`)).body.versions.at(-1).version;
  conforms("/v1/management/action-configurations/{actionCode}/versions/{version}/restore", "POST", await mgmt("POST", `/action-configurations/${code}/versions/${first}/restore`, { body: { to: "BEFORE" } }));
  await configure(code, { defaultUserActionResult: "ALLOW" });
  conforms("/v1/management/action-configurations/{actionCode}", "DELETE", await mgmt("DELETE", `/action-configurations/${code}`));
});

test("Client API responses match the document", async () => {
  const t = await call("POST", `/v1/users/${uid("oa")}/actions/openapi-action`, { body: {} });
  const token = t.body.token;
  const info = async (query) => {
    const r = await fetch(`${BASE}/v1/client/action${query}`, { headers: { Authorization: `Bearer ${token}` } });
    return { status: r.status, headers: r.headers, body: await r.json() };
  };
  const plain = await info("");
  conforms("/v1/client/action", "GET", plain);
  assert.equal(plain.body.embedderAllowed, undefined);
  const allowed = await info(`?embedder=${encodeURIComponent(BASE)}`);
  conforms("/v1/client/action", "GET", allowed);
  assert.equal(allowed.body.embedderAllowed, true, "the worker's own origin");
  const foreign = await info(`?embedder=${encodeURIComponent("https://attacker.example")}`);
  assert.equal(foreign.body.embedderAllowed, false);
  const e = await client("/user-authenticators/totp", token);
  conforms("/v1/client/user-authenticators/totp", "POST", e);
  conforms("/v1/client/verify/totp", "POST", await client("/verify/totp", token, { verificationCode: "000000" === totpCode(e.body.secret) ? "111111" : "000000" }));
  conforms("/v1/client/verify/totp", "POST", await client("/verify/totp", token, { verificationCode: totpCode(e.body.secret) }));
  conforms("/v1/client/verify/totp", "POST", await client("/verify/totp", "expired-or-bad", { verificationCode: "1" }));
  // Cancelling: a challenged action, then one with nothing left to cancel.
  const cancelled = await call("POST", `/v1/users/${uid("oa")}/actions/openapi-action`, { body: {} });
  conforms("/v1/client/action/cancel", "POST", await client("/action/cancel", cancelled.body.token));
  conforms("/v1/client/action/cancel", "POST", await client("/action/cancel", token));

  // Email, SMS and magic links (their webhooks land on a receiver that says 200).
  const { createServer } = await import("node:http");
  const { WEBHOOK_PORT } = await import("./harness.mjs");
  const sent = [];
  const receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => { sent.push(JSON.parse(Buffer.concat(chunks).toString())); res.writeHead(200); res.end(); });
  });
  await new Promise((r) => receiver.listen(WEBHOOK_PORT, "127.0.0.1", r));
  try {
    await configure("openapi-codes", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP", "SMS", "WHATSAPP", "EMAIL_MAGIC_LINK"] });
    const fresh = async () => (await call("POST", `/v1/users/${uid("oa")}/actions/openapi-codes`, { body: {} })).body.token;
    let tk = await fresh();
    conforms("/v1/client/user-authenticators/email-otp", "POST", await client("/user-authenticators/email-otp", tk, { email: "oa@example.com" }));
    conforms("/v1/client/verify/email-otp", "POST", await client("/verify/email-otp", tk, { verificationCode: sent.at(-1).data.code }));
    conforms("/v1/client/challenge/email-otp", "POST", await client("/challenge/email-otp", await fresh()));
    tk = await fresh();
    conforms("/v1/client/user-authenticators/sms", "POST", await client("/user-authenticators/sms", tk, { phoneNumber: "+6421000111" }));
    conforms("/v1/client/verify/sms", "POST", await client("/verify/sms", tk, { verificationCode: "000000" === sent.at(-1).data.code ? "111111" : "000000" }));
    conforms("/v1/client/challenge/sms", "POST", await client("/challenge/sms", tk));
    tk = await fresh();
    conforms("/v1/client/user-authenticators/whatsapp", "POST", await client("/user-authenticators/whatsapp", tk, { phoneNumber: "+6421000222" }));
    conforms("/v1/client/verify/whatsapp", "POST", await client("/verify/whatsapp", tk, { verificationCode: "000000" === sent.at(-1).data.code ? "111111" : "000000" }));
    conforms("/v1/client/challenge/whatsapp", "POST", await client("/challenge/whatsapp", tk));
    tk = await fresh();
    conforms("/v1/client/user-authenticators/email-magic-link", "POST", await client("/user-authenticators/email-magic-link", tk, { email: "oa-link@example.com" }));
    conforms("/v1/client/verify/email-magic-link/finalize", "POST", await client("/verify/email-magic-link/finalize", tk));
    const link = new URL(sent.at(-1).data.url);
    await fetch(`${BASE}/__actiongate/magic-link`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: link.searchParams.get("token"), secret: link.searchParams.get("secret") }).toString(),
    });
    conforms("/v1/client/verify/email-magic-link/finalize", "POST", await client("/verify/email-magic-link/finalize", tk));
    conforms("/v1/client/challenge/email-magic-link", "POST", await client("/challenge/email-magic-link", await fresh()));

    // Server-side challenges.
    const to = `${uid("oa-sc")}@example.com`;
    const started = await call("POST", "/v1/challenge", { body: { verificationMethod: "EMAIL_OTP", email: to, action: "openapi-codes" } });
    conforms("/v1/challenge", "POST", started);
    conforms("/v1/challenge", "POST", await call("POST", "/v1/challenge", { body: { verificationMethod: "EMAIL_OTP" } }));
    const id = started.body.challengeId;
    conforms("/v1/challenges", "GET", await call("GET", `/v1/challenges?challengeId=${encodeURIComponent(id)}`));
    conforms("/v1/challenges", "GET", await call("GET", `/v1/challenges?userId=${uid("none")}`));
    conforms("/v1/challenges", "GET", await call("GET", "/v1/challenges"));
    const code = sent.filter((e) => e.data.to === to).at(-1).data.code;
    conforms("/v1/verify", "POST", await call("POST", "/v1/verify", { body: { challengeId: id, verificationCode: code === "000000" ? "111111" : "000000" } }));
    conforms("/v1/verify", "POST", await call("POST", "/v1/verify", { body: { challengeId: id, verificationCode: code } }));
    conforms("/v1/verify", "POST", await call("POST", "/v1/verify", { body: { challengeId: "nope", verificationCode: code } }));
    conforms("/v1/claim", "POST", await call("POST", "/v1/claim", { body: { challengeId: id, userId: uid("oa-new") } }));
    conforms("/v1/claim", "POST", await call("POST", "/v1/claim", { body: { challengeId: id, userId: uid("oa-new") } }));
    conforms("/v1/claim", "POST", await call("POST", "/v1/claim", { body: { challengeId: id, userId: "u", skipVerificationCheck: true } }));
  } finally {
    await new Promise((r) => receiver.close(r));
  }
});

test("passkey and security key operations conform", async () => {
  await configure("openapi-passkey", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["PASSKEY"], promptToEnrollVerificationMethods: ["PASSKEY"], passkeyUserVerification: "required" });
  await configure("openapi-seckey", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["SECURITY_KEY"] });
  const tenant = (path, body) => call("POST", `/v1/client${path}`, { secret: null, body, headers: { Authorization: `Basic ${Buffer.from("actiongate").toString("base64")}` } });
  const track = async (userId, action) => (await call("POST", `/v1/users/${userId}/actions/${action}`, { body: {} })).body.token;
  const user = uid("oa-pk");
  const key = new SoftKey({ rpId: "127.0.0.1", origin: BASE });

  // Register: options, then the credential (the first method completes the challenge).
  let tk = await track(user, "openapi-passkey");
  const reg = await client("/user-authenticators/passkey/registration-options", tk, { username: "oa" });
  conforms("/v1/client/user-authenticators/passkey/registration-options", "POST", reg);
  assert.equal(reg.body.options.authenticatorSelection.userVerification, "required");
  conforms("/v1/client/user-authenticators/passkey/registration-options", "POST", await client("/user-authenticators/passkey/registration-options", tk, { nope: 1 }));
  const added = await client("/user-authenticators/passkey", tk, { registrationCredential: key.register(reg.body.options), challengeId: reg.body.challengeId });
  conforms("/v1/client/user-authenticators/passkey", "POST", added);
  assert.equal(added.body.state, "CHALLENGE_SUCCEEDED");
  // Replayed by the client that registered (its access token may add the passkey the action prompts for).
  const again = await client("/user-authenticators/passkey", added.body.accessToken, { registrationCredential: key.register(reg.body.options), challengeId: reg.body.challengeId });
  conforms("/v1/client/user-authenticators/passkey", "POST", again);
  assert.equal(again.body.errorCode, "invalid_challenge");
  conforms("/v1/client/user-authenticators/passkey/skip-prompt", "POST", await client("/user-authenticators/passkey/skip-prompt", tk));
  // Whether the browser's remembered credential is a passkey here (the directory follows within seconds).
  const device = (ids) => call("GET", `/v1/client/user-authenticators/passkey?credentialIds=${ids}`, { secret: null, headers: { Authorization: `Basic ${Buffer.from("actiongate").toString("base64")}` } });
  let avail;
  for (let i = 0; i < 80; i++) {
    avail = await device(key.credentialId);
    if (avail.status === 200) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  conforms("/v1/client/user-authenticators/passkey", "GET", avail);
  conforms("/v1/client/user-authenticators/passkey", "GET", await device("unknown-credential"));
  conforms("/v1/client/user-authenticators/passkey", "GET", await device(""));

  // Sign in for a tracked action with its token.
  tk = await track(user, "openapi-passkey");
  const opts = await client("/user-authenticators/passkey/authentication-options", tk);
  conforms("/v1/client/user-authenticators/passkey/authentication-options", "POST", opts);
  assert.deepEqual(opts.body.options.allowCredentials.map((c) => c.id), [key.credentialId]);
  const signed = await client("/verify/passkey", tk, { authenticationCredential: key.assert(opts.body.options), challengeId: opts.body.challengeId });
  conforms("/v1/client/verify/passkey", "POST", signed);
  assert.equal(signed.body.state, "CHALLENGE_SUCCEEDED");
  // The same answer again: the challenge was used.
  const replayed = await client("/verify/passkey", tk, { authenticationCredential: key.assert(opts.body.options), challengeId: opts.body.challengeId });
  conforms("/v1/client/verify/passkey", "POST", replayed);
  assert.equal(replayed.status, 400);

  // Sign in naming no user: the user handle says whose passkey it is.
  const ch = await tenant("/challenge", { action: "openapi-login" });
  conforms("/v1/client/challenge", "POST", ch);
  conforms("/v1/client/challenge", "POST", await call("POST", "/v1/client/challenge", { secret: null, body: {} }));
  const o2 = await tenant("/user-authenticators/passkey/authentication-options", { challengeId: ch.body.challengeId });
  conforms("/v1/client/user-authenticators/passkey/authentication-options", "POST", o2);
  const v2 = await tenant("/verify/passkey", { authenticationCredential: key.assert(o2.body.options), challengeId: ch.body.challengeId });
  conforms("/v1/client/verify/passkey", "POST", v2);
  assert.equal(v2.body.userId, user);
  const valid = await call("POST", "/v1/validate", { body: { token: v2.body.accessToken, action: "openapi-login" } });
  assert.equal(valid.body.isValid, true);
  assert.equal(valid.body.verificationMethod, "PASSKEY");

  // A security key: the SDK's client takes and sends bare options and credentials.
  const other = uid("oa-sk");
  const usb = new SoftKey({ rpId: "127.0.0.1", origin: BASE });
  tk = await track(other, "openapi-seckey");
  const so = await client("/user-authenticators/security-key/registration-options", tk);
  conforms("/v1/client/user-authenticators/security-key/registration-options", "POST", so);
  assert.equal(so.body.authenticatorSelection.authenticatorAttachment, "cross-platform");
  const sadd = await client("/user-authenticators/security-key", tk, usb.register(so.body));
  conforms("/v1/client/user-authenticators/security-key", "POST", sadd);
  assert.equal(sadd.body.userAuthenticator.verificationMethod, "SECURITY_KEY");
  tk = await track(other, "openapi-seckey");
  const sa = await client("/user-authenticators/security-key/authentication-options", tk);
  conforms("/v1/client/user-authenticators/security-key/authentication-options", "POST", sa);
  const sv = await client("/verify/security-key", tk, usb.assert(sa.body));
  conforms("/v1/client/verify/security-key", "POST", sv);
  assert.equal(sv.body.state, "CHALLENGE_SUCCEEDED");
  const twice = await client("/verify/security-key", tk, usb.assert(sa.body));
  conforms("/v1/client/verify/security-key", "POST", twice);
  assert.equal(twice.status, 400);

  // The authenticators list shows both credentials' details.
  const list = await call("GET", `/v1/users/${user}/authenticators`);
  conforms("/v1/users/{userId}/authenticators", "GET", list);
  const listed = list.body.find((a) => a.verificationMethod === "PASSKEY");
  assert.equal(listed.webauthnCredential.credentialId, key.credentialId);
  assert.equal(listed.webauthnCredential.signCount, key.counter);
});

test("review operations conform", async () => {
  await configure("openapi-review", { defaultUserActionResult: "REVIEW" });
  const user = uid("oa-rv");
  const t = (await call("POST", `/v1/users/${user}/actions/openapi-review`, { body: { custom: { amount: 1 } } })).body;
  let page;
  for (let i = 0; i < 100; i++) {
    page = await mgmt("GET", "/reviews?actionCode=openapi-review&limit=100");
    if (page.body.reviews?.some((r) => r.userId === user)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  conforms("/v1/management/reviews", "GET", page);
  assert.ok(page.body.reviews.some((r) => r.userId === user));
  conforms("/v1/management/reviews", "GET", await mgmt("GET", "/reviews?limit=1000"));
  const path = "/v1/management/reviews/{userId}/{actionCode}/{idempotencyKey}";
  conforms(path, "POST", await mgmt("POST", `/reviews/${user}/openapi-review/${t.idempotencyKey}`, { body: { decision: "APPROVE", reviewer: "oa", note: "ok" } }));
  conforms(path, "POST", await mgmt("POST", `/reviews/${user}/openapi-review/${t.idempotencyKey}`, { body: { decision: "REJECT", reviewer: "oa" } }));
  conforms(path, "POST", await mgmt("POST", `/reviews/${user}/openapi-review/none`, { body: { decision: "REJECT", reviewer: "oa" } }));
});

test("the user overview conforms", async () => {
  const user = uid("oa-ov");
  await call("POST", `/v1/users/${user}/actions/openapi-action`, { body: {} });
  // An authenticator added and removed, so the audit trail of factors has entries.
  const added = await call("POST", `/v1/users/${user}/authenticators`, { body: { verificationMethod: "SMS", phoneNumber: "+64211234567" } });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.equal((await call("DELETE", `/v1/users/${user}/authenticators/${added.body.authenticator.userAuthenticatorId}`)).status, 200);
  const overview = await mgmt("GET", `/users/${user}`);
  assert.deepEqual(overview.body.authenticatorChanges.map((c) => c.change), ["REMOVED", "ADDED"]);
  conforms("/v1/management/users/{userId}", "GET", overview);
  conforms("/v1/management/users/{userId}", "GET", await mgmt("GET", "/users/u", { headers: { Origin: "https://evil.example" } }));
});

test("the user directory's queries conform", async () => {
  const user = uid("oa-dir");
  await call("PATCH", `/v1/users/${user}`, { body: { email: `${user}@example.com`, username: user } });
  conforms("/v1/users", "GET", await call("GET", `/v1/users?email=${encodeURIComponent(`${user}@example.com`)}`));
  conforms("/v1/users", "GET", await call("GET", `/v1/users?username=${encodeURIComponent(user)}&limit=1`));
  conforms("/v1/users", "GET", await call("GET", "/v1/users"));
  conforms("/v1/users", "GET", await call("GET", "/v1/users?email=x", { secret: null }));
  conforms("/v1/management/users", "GET", await mgmt("GET", `/users?q=${encodeURIComponent(user)}`));
  conforms("/v1/management/users", "GET", await mgmt("GET", "/users"));
});

test("analytics conform", async () => {
  conforms("/v1/management/analytics", "GET", await mgmt("GET", "/analytics"));
  conforms("/v1/management/analytics", "GET", await mgmt("GET", "/analytics?from=soon"));
});

test("session operations conform", async () => {
  const u = uid("oa-sess");
  const t = await call("POST", `/v1/users/${u}/actions/openapi-action`, { body: {} });
  const enrolled = await client("/user-authenticators/totp", t.body.token);
  await client("/verify/totp", t.body.token, { verificationCode: totpCode(enrolled.body.secret) });
  const created = await call("POST", "/v1/sessions", { body: { clientId: "demo-web", token: t.body.token } });
  conforms("/v1/sessions", "POST", created);
  conforms("/v1/sessions", "POST", await call("POST", "/v1/sessions", { body: { clientId: "demo-web", token: t.body.token } }));
  conforms("/v1/sessions", "POST", await call("POST", "/v1/sessions", { body: { clientId: "unknown", token: t.body.token } }));
  conforms("/v1/sessions", "POST", await call("POST", "/v1/sessions", { body: { clientId: "demo-web", token: "x" } }));
  const { accessToken, refreshToken } = created.body;
  conforms("/v1/sessions/validate", "POST", await call("POST", "/v1/sessions/validate", { body: { accessToken, clientIds: ["demo-web"] } }));
  conforms("/v1/sessions/validate", "POST", await call("POST", "/v1/sessions/validate", { body: { accessToken: "x" } }));
  const refreshed = await call("POST", "/v1/sessions/refresh", { body: { refreshToken } });
  conforms("/v1/sessions/refresh", "POST", refreshed);
  conforms("/v1/sessions/refresh", "POST", await call("POST", "/v1/sessions/refresh", { body: { refreshToken } }));
  conforms("/v1/sessions/revoke", "POST", await call("POST", "/v1/sessions/revoke", { body: { accessToken: refreshed.body.accessToken } }));
  conforms("/v1/sessions/revoke", "POST", await call("POST", "/v1/sessions/revoke", { body: {} }));
  conforms("/v1/sessions/user/revoke", "POST", await call("POST", "/v1/sessions/user/revoke", { body: { userId: u } }));
  conforms("/v1/sessions/user/revoke", "POST", await call("GET", "/v1/sessions/user/revoke"));
  conforms("/v1/.well-known/jwks", "GET", await call("GET", "/v1/.well-known/jwks", { secret: null }));
  conforms("/v1/.well-known/jwks", "GET", await call("POST", "/v1/.well-known/jwks", { body: {}, secret: null }));
});

test("recovery code operations conform", async () => {
  await configure("openapi-recovery", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["RECOVERY_CODE", "EMAIL_OTP"] });
  const u = uid("oa-rc");
  const enrolled = await call("POST", `/v1/users/${u}/authenticators`, { body: { verificationMethod: "EMAIL_OTP", email: `${u}@example.com` } });
  conforms("/v1/users/{userId}/authenticators", "POST", enrolled);
  const codes = enrolled.body.recoveryCodes;
  assert.equal(codes.length, 10);
  const t = await call("POST", `/v1/users/${u}/actions/openapi-recovery`, { body: {} });
  conforms("/v1/client/user-authenticators/recovery-code", "POST", await client("/user-authenticators/recovery-code", t.body.token));
  conforms("/v1/client/verify/recovery-code", "POST", await client("/verify/recovery-code", t.body.token, { verificationCode: "aaaaa-aaaaa" }));
  const ok = await client("/verify/recovery-code", t.body.token, { verificationCode: codes[0] });
  conforms("/v1/client/verify/recovery-code", "POST", ok);
  conforms("/v1/client/user-authenticators/recovery-code", "POST", await client("/user-authenticators/recovery-code", ok.body.accessToken));
});

test("the worker's own pages, the portal's session and the dev outbox match the document", async () => {
  // The magic-link page: incomplete, then the confirmation it asks for, then a link that is not one.
  conformsPage("/__actiongate/magic-link", "GET", await send("GET", "/__actiongate/magic-link"));
  conformsPage("/__actiongate/magic-link", "GET", await send("GET", "/__actiongate/magic-link?token=t&secret=s"));
  const form = { "Content-Type": "application/x-www-form-urlencoded" };
  conformsPage("/__actiongate/magic-link", "POST", await send("POST", "/__actiongate/magic-link", { headers: form, body: "token=t&secret=s" }));
  conformsPage("/__actiongate/magic-link", "POST", await send("POST", "/__actiongate/magic-link", { headers: form, body: "token=t" }));
  // The outcome page: no token, a forged one, and a real action's.
  conformsPage("/__actiongate/outcome", "GET", await send("GET", "/__actiongate/outcome"));
  conformsPage("/__actiongate/outcome", "GET", await send("GET", "/__actiongate/outcome?token=forged"));
  const t = await call("POST", `/v1/users/${uid("oa-out")}/actions/openapi-action`, { body: {} });
  conformsPage("/__actiongate/outcome", "GET", await send("GET", `/__actiongate/outcome?token=${t.body.token}`));
  conformsPage("/__actiongate/outcome", "HEAD", await send("HEAD", `/__actiongate/outcome?token=${t.body.token}`));
  // The portal's session: none, a wrong secret, signed in, asked, signed out.
  const json = { "Content-Type": "application/json" };
  conforms("/__actiongate/admin/session", "GET", await send("GET", "/__actiongate/admin/session"));
  conforms("/__actiongate/admin/session", "POST", await send("POST", "/__actiongate/admin/session", { headers: json, body: JSON.stringify({ secret: "guess" }) }));
  const signedIn = await send("POST", "/__actiongate/admin/session", { headers: json, body: JSON.stringify({ secret: MGMT_SECRET }) });
  conforms("/__actiongate/admin/session", "POST", signedIn);
  const cookie = signedIn.headers.get("set-cookie").split(";")[0];
  conforms("/__actiongate/admin/session", "GET", await send("GET", "/__actiongate/admin/session", { headers: { Cookie: cookie } }));
  conforms("/__actiongate/admin/session", "DELETE", await send("DELETE", "/__actiongate/admin/session", { headers: { Cookie: cookie, "X-ActionGate-CSRF": signedIn.body.csrfToken } }));
  // The local worker's outbox, as a page and as JSON.
  conformsPage("/__actiongate/outbox", "GET", await send("GET", "/__actiongate/outbox"));
  conforms("/__actiongate/outbox.json", "GET", await send("GET", "/__actiongate/outbox.json"));
});

test("the value lists and whole configuration documents match the document", async () => {
  conforms("/v1/management/value-lists", "GET", await mgmt("GET", "/value-lists"));
  const code = `oa-doc-${uid("c").slice(-6)}`;
  const good = {
    valueLists: { "oa-doc-accounts": { name: "OpenAPI accounts", itemType: "string", items: ["NZ-1"] } },
    actionConfigurations: { [code]: { defaultUserActionResult: "ALLOW", rules: [] } },
  };
  const bad = { actionConfigurations: { [code]: { defaultUserActionResult: "MAYBE" } }, extra: 1 };
  let r = await mgmt("POST", "/configuration/validate", { body: good });
  assert.equal(r.body.valid, true, JSON.stringify(r.body));
  conforms("/v1/management/configuration/validate", "POST", r);
  r = await mgmt("POST", "/configuration/validate", { body: bad });
  assert.equal(r.body.valid, false);
  conforms("/v1/management/configuration/validate", "POST", r);
  conforms("/v1/management/configuration/validate", "POST", await mgmt("POST", "/configuration/validate", { raw: "{", headers: { "Content-Type": "application/json" } }));
  r = await mgmt("PUT", "/configuration", { body: bad });
  assert.equal(r.status, 400);
  conforms("/v1/management/configuration", "PUT", r);
  r = await mgmt("PUT", "/configuration", { body: good });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  conforms("/v1/management/configuration", "PUT", r);
  assert.ok((await mgmt("GET", "/value-lists")).body.some((l) => l.alias === "oa-doc-accounts"));
  conforms("/v1/management/configuration", "PUT", await mgmt("PUT", "/configuration", { body: good, secret: "wrong" }));
});

test("a method the route does not list is 405 with Allow, whatever its spelling; a path no route has is 404", async () => {
  for (const [method, path, allow] of [
    ["QUERY", "/health", "GET"],
    ["QUERY", "/v1/users/someone", "GET, PATCH, DELETE"],
    ["PUT", "/v1/users/someone", "GET, PATCH, DELETE"],
    // The Client API also answers its CORS preflight.
    ["QUERY", "/v1/client/action", "GET, OPTIONS"],
    ["PROPFIND", "/v1/management/analytics", "GET"],
  ]) {
    const r = await call(method, path);
    assert.equal(r.status, 405, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.headers.get("allow"), allow, `${method} ${path}`);
    assert.equal(r.body.errorCode, "method_not_allowed");
  }
  for (const path of ["/v1/nothing", "/v1/users/someone/nothing", "/v1/client/nothing", "/v1/management/nothing", "/__actiongate/nothing"]) {
    const r = await call("GET", path);
    assert.equal(r.status, 404, path);
    assert.equal(r.body.errorCode, "not_found", path);
  }
});

test("every operation in the document was checked", () => {
  const all = [];
  for (const [path, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) all.push(`${m.toUpperCase()} ${path}`);
  assert.deepEqual(all.filter((o) => !checked.has(o)), []);
});
