// getUser's allowedVerificationMethods names what this deployment can
// complete: a method that needs a code sent is listed only when there is
// somewhere to send it (a webhook, or locally the dev outbox). This worker
// has texts and nothing else: no email webhook and no dev outbox.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { API_SECRET, callerOf, uid } from "./lib.mjs";

let worker;
before(async () => {
  // Later --var flags win over the harness's and .dev.vars'.
  worker = await startWorker({
    extraArgs: ["--var", "EMAIL_WEBHOOK_URL:", "--var", "WHATSAPP_WEBHOOK_URL:", "--var", "DEV_OUTBOX:false"],
  });
});
after(() => worker?.stop());

const caller = callerOf(() => worker.baseUrl);
const call = (method, path, body) => caller(method, path, { secret: API_SECRET, body });

test("a deployment without email lists no email methods for a user; texts and WhatsApp go where texts go", async () => {
  const user = uid("deliverable");
  const want = ["SMS", "AUTHENTICATOR_APP", "PASSKEY", "SECURITY_KEY", "WHATSAPP"];
  const got = await call("GET", `/v1/users/${user}`);
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.deepEqual(got.body.allowedVerificationMethods, want);
  const patched = await call("PATCH", `/v1/users/${user}`, { email: "someone@example.com" });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.deepEqual(patched.body.allowedVerificationMethods, want);
  // And indeed no email code can be sent here, where a text can.
  const email = await call("POST", "/v1/challenge", { verificationMethod: "EMAIL_OTP", email: "someone@example.com", userId: user });
  assert.equal(email.status, 503, JSON.stringify(email.body));
  assert.equal(email.body.errorCode, "delivery_not_configured");
  // (Nothing listens at the harness's text webhook in this file: the send
  // is tried, and fails, rather than refused for want of configuration.)
  const text = await call("POST", "/v1/challenge", { verificationMethod: "SMS", phoneNumber: "+64211234567", userId: user });
  assert.equal(text.status, 502, JSON.stringify(text.body));
  assert.notEqual(text.body.errorCode, "delivery_not_configured", JSON.stringify(text.body));
});
