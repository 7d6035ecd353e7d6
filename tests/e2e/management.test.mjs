// Action configurations through the management API, stored in local KV.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authsignal, mgmt, uid, assertError } from "./lib.mjs";

test("PUT creates (201) then replaces (200); GET, list and DELETE", async () => {
  const code = `cfg-${Date.now()}`;
  const body = {
    defaultUserActionResult: "CHALLENGE",
    verificationMethods: ["PASSKEY", "EMAIL_OTP"],
    defaultVerificationMethod: "PASSKEY",
    promptToEnrollVerificationMethods: ["PASSKEY"],
    messagingTemplates: { en: { defaultTemplate: "Please confirm your withdrawal of {{action.custom.amount}}" } },
  };
  let r = await mgmt("PUT", `/action-configurations/${code}`, { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.equal(r.body.actionCode, code);
  assert.equal(r.body.defaultVerificationMethod, "PASSKEY");
  const createdAt = r.body.createdAt;

  r = await mgmt("PUT", `/action-configurations/${code}`, { body: { ...body, defaultUserActionResult: "REVIEW" } });
  assert.equal(r.status, 200);
  assert.equal(r.body.createdAt, createdAt);

  r = await mgmt("GET", `/action-configurations/${code}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.defaultUserActionResult, "REVIEW");
  assert.deepEqual(r.body.messagingTemplates, body.messagingTemplates);

  r = await mgmt("GET", "/action-configurations");
  assert.ok(r.body.some((c) => c.actionCode === code));

  const tracked = await authsignal.track({ userId: uid(), action: code });
  assert.equal(tracked.state, "REVIEW_REQUIRED");
  assert.deepEqual(tracked.allowedVerificationMethods, ["PASSKEY", "EMAIL_OTP"]);

  r = await mgmt("DELETE", `/action-configurations/${code}`);
  assert.equal(r.status, 200);
  assertError(await mgmt("GET", `/action-configurations/${code}`), 404, "action_configuration_not_found");
  assertError(await mgmt("DELETE", `/action-configurations/${code}`), 404, "action_configuration_not_found");
  const after = await authsignal.track({ userId: uid(), action: code });
  assert.equal(after.state, "ALLOW", "no configuration means ALLOW");
});

test("unknown fields and bad values are refused naming the field; nothing is stored", async () => {
  const code = `cfg-bad-${Date.now()}`;
  const cases = [
    [{ defaultUserActionResult: "ALLOW", defaultOutcome: "BLOCK" }, /defaultOutcome/],
    [{ defaultUserActionResult: "MAYBE" }, /^defaultUserActionResult: /],
    [{ defaultUserActionResult: "ALLOW", verificationMethods: ["EMAIL_OTP", "PIGEON"] }, /^verificationMethods\[1\]: /],
    [{}, /defaultUserActionResult/],
    [{ defaultUserActionResult: "ALLOW", verificationMethods: ["SMS"], defaultVerificationMethod: "PASSKEY" }, /defaultVerificationMethod: PASSKEY is not among/],
    [{ defaultUserActionResult: "ALLOW", promptToEnrollVerificationMethods: ["SMS"] }, /promptToEnrollVerificationMethods\[0\]/],
  ];
  for (const [body, re] of cases) {
    const r = await mgmt("PUT", `/action-configurations/${code}`, { body });
    assertError(r, 400, "invalid_request");
    assert.match(r.body.errorDescription, re, JSON.stringify(body));
  }
  assertError(await mgmt("GET", `/action-configurations/${code}`), 404, "action_configuration_not_found");
  const r = await mgmt("PUT", "/action-configurations/bad%20code", { body: { defaultUserActionResult: "ALLOW" } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^actionCode: /);
});
