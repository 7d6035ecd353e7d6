// Sessions through @authsignal/node: a client token from a verified
// challenge is exchanged once for an ES256 access token (checked here
// against the published JWKS with Node's own crypto) and a rotating refresh
// token; refresh-token reuse ends the session for every holder; revocation
// per session and per user; the attacker's moves fail.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, verify as verifySignature } from "node:crypto";
import { authsignal, configure, uid, totpCode, client, call, decodeJwt, signJwt, BASE, VARS, refused } from "./lib.mjs";

const CLIENT = "demo-web";

before(async () => {
  assert.match(VARS.SESSION_CLIENT_IDS ?? "", /demo-web/, ".dev.vars names the demo app client");
  await configure("session-sign-in", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] });
});

/** A sign-in challenged and passed with an authenticator app: the track token and the verified client's token. */
async function signedIn(userId = uid("sess")) {
  const t = await authsignal.track({ userId, action: "session-sign-in" });
  assert.equal(t.state, "CHALLENGE_REQUIRED");
  const enrolled = await client("/user-authenticators/totp", t.token);
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const v = await client("/verify/totp", t.token, { verificationCode: totpCode(enrolled.body.secret) });
  assert.equal(v.body.isVerified, true, JSON.stringify(v.body));
  return { userId, trackToken: t.token, token: v.body.accessToken };
}

test("a verified challenge becomes a session whose token verifies with the published keys", async () => {
  const { userId, token } = await signedIn();
  await authsignal.updateUser({ userId, attributes: { email: `${userId}@example.com` } });
  const s = await authsignal.createSession({ clientId: CLIENT, token });
  assert.ok(s.accessToken && s.refreshToken);

  const jwt = decodeJwt(s.accessToken);
  assert.equal(jwt.header.alg, "ES256");
  assert.equal(jwt.payload.sub, userId);
  assert.equal(jwt.payload.aud, CLIENT);
  assert.ok(jwt.payload.exp - jwt.payload.iat <= 900, "short-lived");
  const jwks = await (await fetch(`${BASE}/v1/.well-known/jwks`)).json();
  const jwk = jwks.keys.find((k) => k.kid === jwt.header.kid);
  assert.ok(jwk, "the token's kid is published");
  assert.equal(jwk.d, undefined, "no private part");
  const [h, p, sig] = s.accessToken.split(".");
  const ok = verifySignature("sha256", Buffer.from(`${h}.${p}`), { key: createPublicKey({ key: jwk, format: "jwk" }), dsaEncoding: "ieee-p1363" }, Buffer.from(sig, "base64url"));
  assert.equal(ok, true, "the app can check the signature itself");

  const v = await authsignal.validateSession({ accessToken: s.accessToken, clientIds: [CLIENT] });
  assert.equal(v.user.userId, userId);
  assert.equal(v.user.email, `${userId}@example.com`);
  assert.equal(v.verificationMethod, "AUTHENTICATOR_APP");
  assert.equal(v.expiresAt, jwt.payload.exp);
  const other = await refused(authsignal.validateSession({ accessToken: s.accessToken, clientIds: ["another-app"] }));
  assert.equal(other.status, 401);
  assert.equal(other.code, "invalid_token");
});

test("a token is exchanged once, only when its challenge succeeded, only for a known app client", async () => {
  const { userId, trackToken, token } = await signedIn();
  const unknown = await refused(authsignal.createSession({ clientId: "not-a-client", token }));
  assert.equal(unknown.status, 400);
  assert.match(unknown.description, /clientId/);
  const wrongAction = await refused(authsignal.createSession({ clientId: CLIENT, token, action: "withdraw-funds" }));
  assert.equal(wrongAction.status, 401);

  await authsignal.createSession({ clientId: CLIENT, token });
  // The same proof again, by either of its tokens: one session per challenge.
  for (const t of [token, trackToken]) {
    const again = await refused(authsignal.createSession({ clientId: CLIENT, token: t }));
    assert.equal(again.status, 403);
    assert.equal(again.code, "token_already_used");
  }

  // A challenge not (yet) passed gives nothing, whoever holds its token.
  const pending = await authsignal.track({ userId: uid("sess"), action: "session-sign-in" });
  const notYet = await refused(authsignal.createSession({ clientId: CLIENT, token: pending.token }));
  assert.equal(notYet.status, 403);
  assert.equal(notYet.code, "challenge_not_completed");
  const forged = signJwt({ alg: "HS256", typ: "JWT", kid: "x" }, { sub: userId, actionCode: "session-sign-in", idempotencyKey: "k" }, "not-the-key-0123456789abcdef012345");
  assert.equal((await refused(authsignal.createSession({ clientId: CLIENT, token: forged }))).status, 401);
});

test("a refresh replaces both tokens; a refresh token used twice ends the session for everyone", async () => {
  const { token } = await signedIn();
  const first = await authsignal.createSession({ clientId: CLIENT, token });
  const second = await authsignal.refreshSession({ refreshToken: first.refreshToken });
  assert.notEqual(second.refreshToken, first.refreshToken);
  assert.equal(decodeJwt(second.accessToken).payload.sid, decodeJwt(first.accessToken).payload.sid);
  const old = await refused(authsignal.validateSession({ accessToken: first.accessToken }));
  assert.equal(old.code, "session_revoked", "the replaced access token no longer validates");
  await authsignal.validateSession({ accessToken: second.accessToken });

  // A made-up secret for the session (its id is in every access token)
  // changes nothing.
  const [user, sid] = first.refreshToken.split(".");
  const guess = await refused(authsignal.refreshSession({ refreshToken: `${user}.${sid}.${"A".repeat(43)}` }));
  assert.equal(guess.code, "invalid_token");
  await authsignal.validateSession({ accessToken: second.accessToken });

  // Someone replays the first refresh token (a stolen copy): refused, and
  // the session ends, so the thief's and the owner's newest tokens both stop.
  const reuse = await refused(authsignal.refreshSession({ refreshToken: first.refreshToken }));
  assert.equal(reuse.status, 401);
  assert.equal(reuse.code, "refresh_token_reused");
  assert.equal((await refused(authsignal.validateSession({ accessToken: second.accessToken }))).code, "session_revoked");
  assert.equal((await refused(authsignal.refreshSession({ refreshToken: second.refreshToken }))).code, "session_revoked");
});

test("revoking one session, all of a user's, and deleting the user", async () => {
  const a = await signedIn();
  const s1 = await authsignal.createSession({ clientId: CLIENT, token: a.token });
  await authsignal.revokeSession({ accessToken: s1.accessToken });
  assert.equal((await refused(authsignal.validateSession({ accessToken: s1.accessToken }))).code, "session_revoked");
  assert.equal((await refused(authsignal.refreshSession({ refreshToken: s1.refreshToken }))).code, "session_revoked");

  // One user's session and another's: revokeUserSessions ends only the first.
  const b1 = await signedIn();
  const s2 = await authsignal.createSession({ clientId: CLIENT, token: b1.token });
  const other = await signedIn();
  const s4 = await authsignal.createSession({ clientId: CLIENT, token: other.token });
  await authsignal.revokeUserSessions({ userId: b1.userId });
  assert.equal((await refused(authsignal.validateSession({ accessToken: s2.accessToken }))).code, "session_revoked");
  await authsignal.validateSession({ accessToken: s4.accessToken });

  await authsignal.deleteUser({ userId: other.userId });
  assert.equal((await refused(authsignal.validateSession({ accessToken: s4.accessToken }))).code, "invalid_token");
});

test("bad session requests get clear errors and leak nothing", async () => {
  for (const [path, body] of [
    ["/v1/sessions", { clientId: CLIENT }],
    ["/v1/sessions/validate", { accessToken: "not.a.jwt" }],
    ["/v1/sessions/refresh", { refreshToken: "nope" }],
    ["/v1/sessions/user/revoke", { userId: "" }],
  ]) {
    const r = await call("POST", path, { body });
    assert.ok([400, 401].includes(r.status), `${path}: ${r.status}`);
    assert.ok(r.body.error && r.body.errorCode && r.body.errorDescription, JSON.stringify(r.body));
  }
  const noKey = await call("POST", "/v1/sessions/validate", { body: { accessToken: "x" }, secret: "wrong" });
  assert.equal(noKey.status, 401);
  assert.equal(noKey.body.errorCode, "unauthorized");
  const jwks = await fetch(`${BASE}/v1/.well-known/jwks`, { method: "POST" });
  assert.equal(jwks.status, 405);
});
