// passkey.isAvailableOnDevice: the browser remembers a user's credential ids
// and asks whether one is still a passkey here. Answered from the user
// directory's credential index, across users, kept in step by each user
// object's outbox (a passkey added, removed, its user deleted).
import { test } from "node:test";
import assert from "node:assert/strict";
import { call, uid, configure, client, BASE, authsignal, assertError, eventually } from "./lib.mjs";
import { SoftKey } from "./softkey.mjs";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./harness.mjs";

const TENANT = { Authorization: `Basic ${Buffer.from("actiongate").toString("base64")}` };
const available = (ids) => call("GET", `/v1/client/user-authenticators/passkey${ids === undefined ? "" : `?credentialIds=${ids}`}`, { secret: null, headers: TENANT });


/** A user with a passkey registered through the Client API, as the hosted page does (`id`: the credential id to claim). */
async function userWithPasskey(id) {
  const user = uid("dev-pk");
  const key = new SoftKey({ rpId: "127.0.0.1", origin: BASE });
  if (id) key.id = id;
  const tk = (await call("POST", `/v1/users/${user}/actions/device-passkey`, { body: {} })).body.token;
  const reg = await client("/user-authenticators/passkey/registration-options", tk, { username: "dev" });
  const added = await client("/user-authenticators/passkey", tk, { registrationCredential: key.register(reg.body.options), challengeId: reg.body.challengeId });
  assert.equal(added.body.state, "CHALLENGE_SUCCEEDED", JSON.stringify(added.body));
  return { user, key };
}

test.before(() => configure("device-passkey", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["PASSKEY"] }));

test("a passkey some user has is available on the device that remembers it; removed, it is not", async () => {
  const { user, key } = await userWithPasskey();
  const unknown = "A".repeat(43);
  const r = await eventually(() => available(`${unknown},${key.credentialId}`), (x) => x.status === 200, "the new passkey");
  assert.deepEqual(r.body, { verificationMethod: "PASSKEY" }, "no user, no authenticator named");
  assertError(await available(unknown), 404, "not_found");
  const [passkey] = (await authsignal.getAuthenticators({ userId: user })).filter((a) => a.verificationMethod === "PASSKEY");
  // The names it was created with, as Authsignal shows them.
  assert.deepEqual([passkey.username, passkey.displayName], ["dev", "dev"]);
  assert.equal(passkey.webauthnCredential.credentialId, key.credentialId);
  await authsignal.deleteAuthenticator({ userId: user, userAuthenticatorId: passkey.userAuthenticatorId });
  await eventually(() => available(key.credentialId), (x) => x.status === 404, "the removed passkey");
});

test("a deleted user's passkeys are no longer available", async () => {
  const { user, key } = await userWithPasskey();
  await eventually(() => available(key.credentialId), (x) => x.status === 200, "the new passkey");
  await authsignal.deleteUser({ userId: user });
  await eventually(() => available(key.credentialId), (x) => x.status === 404, "the deleted user's passkey");
});

test("another user who registers the same credential id does not take over, nor remove, the victim's entry", async () => {
  const victim = await userWithPasskey();
  await eventually(() => available(victim.key.credentialId), (x) => x.status === 200, "the victim's passkey");
  // A software key can choose its credential id: the attacker registers the victim's, then removes it.
  const attacker = await userWithPasskey(victim.key.id);
  assert.equal(attacker.key.credentialId, victim.key.credentialId);
  const [theirs] = (await authsignal.getAuthenticators({ userId: attacker.user })).filter((a) => a.verificationMethod === "PASSKEY");
  await authsignal.deleteAuthenticator({ userId: attacker.user, userAuthenticatorId: theirs.userAuthenticatorId });
  // Let the outbox deliver the removal (it would have, within seconds), then ask again.
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal((await available(victim.key.credentialId)).status, 200, "the victim's passkey is still found");
});

test("a passkey is listed as Authsignal lists it: its provider named from the AAGUID list, the browser that made it read", async () => {
  // Google Password Manager's AAGUID, as the shipped list names it.
  const gpm = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4";
  const list = JSON.parse(readFileSync(join(ROOT, "www", "__actiongate", "aaguid.json"), "utf8"));
  const ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36";
  const user = uid("dev-aaguid");
  const key = new SoftKey({ rpId: "127.0.0.1", origin: BASE, aaguid: gpm });
  const tk = (await call("POST", `/v1/users/${user}/actions/device-passkey`, { body: {} })).body.token;
  const reg = await client("/user-authenticators/passkey/registration-options", tk, { username: "dev" });
  const added = await call("POST", "/v1/client/user-authenticators/passkey", {
    secret: null,
    headers: { Authorization: `Bearer ${tk}`, "User-Agent": ua },
    body: { registrationCredential: key.register(reg.body.options), challengeId: reg.body.challengeId },
  });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  const [passkey] = (await authsignal.getAuthenticators({ userId: user })).filter((a) => a.verificationMethod === "PASSKEY");
  const wc = passkey.webauthnCredential;
  assert.equal(wc.aaguid, gpm);
  assert.deepEqual(wc.aaguidMapping, { name: "Google Password Manager", svgIconLight: list[gpm].icon_light, svgIconDark: list[gpm].icon_dark });
  assert.match(wc.aaguidMapping.svgIconLight, /^data:image\/svg\+xml;base64,/);
  assert.equal(wc.name, "Google Password Manager");
  assert.deepEqual(wc.parsedUserAgent, {
    ua,
    browser: { name: "Mobile Chrome", version: "131.0.6778.135", major: "131" },
    device: { model: "Pixel 8", type: "mobile", vendor: "Google" },
    engine: { name: "Blink", version: "131.0.6778.135" },
    os: { name: "Android", version: "14" },
  });
  // getUser: what the user may enroll, and the passkey as their default method.
  const u = await authsignal.getUser({ userId: user });
  assert.equal(u.defaultVerificationMethod, "PASSKEY");
  assert.deepEqual([...u.allowedVerificationMethods].sort(), ["AUTHENTICATOR_APP", "EMAIL_MAGIC_LINK", "EMAIL_OTP", "PASSKEY", "SECURITY_KEY", "SMS", "WHATSAPP"]);

  // A passkey whose model the list does not know keeps its generic name, and no mapping.
  const other = await userWithPasskey();
  const [plain] = (await authsignal.getAuthenticators({ userId: other.user })).filter((a) => a.verificationMethod === "PASSKEY");
  assert.equal(plain.webauthnCredential.aaguid, "00000000-0000-0000-0000-000000000000");
  assert.equal(plain.webauthnCredential.name, "Passkey");
  assert.equal("aaguidMapping" in plain.webauthnCredential, false);
});

test("isAvailableOnDevice refuses what it must", async () => {
  assertError(await available(), 400, "invalid_request");
  assertError(await available(""), 400, "invalid_request");
  assertError(await available(Array.from({ length: 21 }, (_, i) => `id${i}`).join(",")), 400, "invalid_request");
  const r = await call("GET", "/v1/client/user-authenticators/passkey?credentialIds=x", { secret: null });
  assert.equal(r.status, 401);
});
