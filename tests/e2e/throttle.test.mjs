// Guessing stops per user and per network: wrong codes count per user
// across challenges (a new track is no new set of guesses), and code sends
// are limited per destination and per client IP. Each test asserts what was
// judged, sent and stored, not only the status.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { authsignal, configure, uid, client, call, totpCode, BASE, API_SECRET, MGMT_SECRET } from "./lib.mjs";
import { WEBHOOK_PORT, startWorker } from "./harness.mjs";

// The app's receiver for code emails; codes are read from the dev outbox.
const mail = createServer((req, res) => { req.resume(); req.on("end", () => { res.writeHead(200); res.end("ok"); }); });

before(async () => {
  await new Promise((r) => mail.listen(WEBHOOK_PORT, "127.0.0.1", r));
  await configure("th-totp", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] });
  await configure("th-email", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP"] });
});
after(() => new Promise((r) => mail.close(r)));

/** A code that is none of the three an authenticator app accepts now. */
function wrongCode(secret) {
  const now = Date.now();
  const valid = new Set([-30_000, 0, 30_000].map((d) => totpCode(secret, now + d)));
  return ["000000", "111111", "222222", "333333"].find((c) => !valid.has(c));
}

/**
 * Wait, if need be, for a fresh rate-limit window: Workers Rate Limiting
 * counts per period aligned to the clock (here 60 s), so a burst that
 * straddled two windows would be counted in halves.
 */
async function freshWindow() {
  const into = Date.now() % 60_000;
  if (into > 40_000) await new Promise((r) => setTimeout(r, 60_000 - into + 200));
}

/** The Client API from one client IP (each test its own network). */
async function from(ip, path, token, body = {}) {
  const r = await fetch(`${BASE}/v1/client${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "CF-Connecting-IP": ip },
    body: JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

test("150 wrong codes across challenges: ten are judged, the rest wait, even the right code", async () => {
  const user = uid("guess");
  const first = await authsignal.track({ userId: user, action: "th-totp" });
  const enrolled = await client("/user-authenticators/totp", first.token);
  const secret = enrolled.body.secret;
  assert.equal((await client("/verify/totp", first.token, { verificationCode: totpCode(secret) })).body.isVerified, true);

  let token = null;
  let onThisAction = 5;
  let judged = 0;
  const refusals = [];
  for (let i = 0; i < 150; i++) {
    if (onThisAction === 5) {
      // The attacker tracks a new action: a fresh challenge with five tries.
      token = (await authsignal.track({ userId: user, action: "th-totp" })).token;
      onThisAction = 0;
    }
    const r = await client("/verify/totp", token, { verificationCode: wrongCode(secret) });
    if (r.status === 200) {
      assert.equal(r.body.isVerified, false);
      judged++;
      onThisAction++;
    } else {
      refusals.push(r);
    }
  }
  assert.equal(judged, 10, "ten wrong codes were judged, far from 100");
  assert.equal(refusals.length, 140);
  for (const r of refusals) {
    assert.equal(r.status, 429);
    assert.equal(r.body.errorCode, "too_many_requests");
    const wait = Number(r.headers.get("retry-after"));
    assert.ok(wait > 14 * 60 && wait <= 15 * 60, `Retry-After ${wait}`);
  }
  assert.match(refusals[0].body.errorDescription, /Try again in 15 minutes/);
  // The right code waits too, and the action it was for is untouched.
  const right = await client("/verify/totp", token, { verificationCode: totpCode(secret, Date.now() + 30_000) });
  assert.equal(right.status, 429);
  const actions = await authsignal.queryUserActions({ userId: user });
  // Two challenges took five wrong codes each (one more would have failed them); the third judged none.
  assert.deepEqual(actions.map((a) => a.state).sort(), ["CHALLENGE_REQUIRED", "CHALLENGE_REQUIRED", "CHALLENGE_REQUIRED", "CHALLENGE_SUCCEEDED"]);

  // The app's server lifts the wait (as it would a lock).
  const lifted = await call("DELETE", `/v1/users/${encodeURIComponent(user)}/lockout`);
  assert.equal(lifted.status, 200, JSON.stringify(lifted.body));
  assert.equal(lifted.body.wrongCodes, 10);
  assert.equal(lifted.body.wasLocked, false);
  const now = await client("/verify/totp", token, { verificationCode: totpCode(secret, Date.now() + 30_000) });
  assert.equal(now.body.isVerified, true, JSON.stringify(now.body));
});

test("codes to one address through many accounts stop at the destination limit", async () => {
  const email = `${uid("flood")}@example.com`;
  const results = [];
  await freshWindow();
  for (let i = 0; i < 7; i++) {
    // A fresh account each time enrolls the victim's address, from a fresh network.
    const t = await authsignal.track({ userId: uid("pump"), action: "th-email" });
    results.push(await from(`198.51.100.${i + 1}`, "/user-authenticators/email-otp", t.token, { email }));
  }
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429]);
  assert.equal(results[5].body.errorCode, "too_many_requests");
  assert.equal(results[5].headers.get("retry-after"), "60");
  assert.match(results[5].body.errorDescription, /sent to this address/);
  const outbox = await (await fetch(`${BASE}/__actiongate/outbox.json`)).json();
  assert.equal(outbox.filter((m) => m.data.to === email).length, 5, "the sixth and seventh were never sent");
});

test("per-IP limits as deployed: codes sent from one network, and requests without a token", async () => {
  // The shared test worker lifts the per-IP limits (every test comes from one
  // address); this worker has wrangler.toml's own.
  const w = await startWorker({ realLimits: true });
  try {
    const api = (path, body, headers = {}) => fetch(`${w.baseUrl}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const basic = (s) => "Basic " + Buffer.from(`${s}:`).toString("base64");
    const cfg = await fetch(`${w.baseUrl}/v1/management/action-configurations/th-email`, {
      method: "PUT",
      headers: { "Content-Type": "application/json", Authorization: basic(MGMT_SECRET) },
      body: JSON.stringify({ defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP"] }),
    });
    assert.ok(cfg.ok, await cfg.text());
    const sendFrom = async (ip) => {
      const user = uid("ip");
      const t = await (await api(`/v1/users/${user}/actions/th-email`, {}, { Authorization: basic(API_SECRET) })).json();
      const r = await api("/v1/client/user-authenticators/email-otp", { email: `${user}@example.com` }, { Authorization: `Bearer ${t.token}`, "CF-Connecting-IP": ip });
      return { status: r.status, retryAfter: r.headers.get("retry-after"), email: `${user}@example.com`, body: await r.json() };
    };
    const ip = "192.0.2.77";
    const results = [];
    await freshWindow();
    for (let i = 0; i < 22; i++) results.push(await sendFrom(ip));
    assert.deepEqual(results.map((r) => r.status), [...Array(20).fill(200), 429, 429]);
    assert.equal(results[20].retryAfter, "60");
    assert.match(results[20].body.errorDescription, /sent from this network/);
    const outbox = await (await fetch(`${w.baseUrl}/__actiongate/outbox.json`)).json();
    const sent = new Set(outbox.map((m) => m.data.to));
    assert.deepEqual(results.map((r) => sent.has(r.email)), [...Array(20).fill(true), false, false], "nothing sent past the limit");
    assert.equal((await sendFrom("192.0.2.78")).status, 200, "another network is not affected");

    // Codes tried from one network: thirty a minute, whoever the users.
    const tries = [];
    await freshWindow();
    for (let i = 0; i < 32; i++) {
      const user = uid("guesser");
      const t = await (await api(`/v1/users/${user}/actions/th-email`, {}, { Authorization: basic(API_SECRET) })).json();
      const r = await api("/v1/client/verify/email-otp", { verificationCode: "123456" }, { Authorization: `Bearer ${t.token}`, "CF-Connecting-IP": "2001:db8:77::1" });
      tries.push(r.status);
    }
    assert.deepEqual(tries.slice(30), [429, 429]);
    assert.ok(tries.slice(0, 30).every((s) => s !== 429), tries.join(","));
    // Another address of the same IPv6 /64 is the same network.
    const t = await (await api(`/v1/users/${uid("guesser")}/actions/th-email`, {}, { Authorization: basic(API_SECRET) })).json();
    const sameNet = await api("/v1/client/verify/email-otp", { verificationCode: "123456" }, { Authorization: `Bearer ${t.token}`, "CF-Connecting-IP": "2001:db8:77::9:1" });
    assert.equal(sameNet.status, 429);

    // The token-less passkey routes: sixty a minute from one network.
    const statuses = [];
    await freshWindow();
    for (let i = 0; i < 62; i++) {
      const r = await api("/v1/client/challenge", {}, { Authorization: basic("actiongate"), "CF-Connecting-IP": "198.51.100.200" });
      statuses.push(r.status);
      if (r.status === 429) assert.equal(r.headers.get("retry-after"), "60");
    }
    assert.deepEqual(statuses, [...Array(60).fill(200), 429, 429]);
    // The portal's sign-in shares that limit: a guesser from that network is stopped too.
    const signIn = await fetch(`${w.baseUrl}/__actiongate/admin/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: w.baseUrl, "CF-Connecting-IP": "198.51.100.200" },
      body: JSON.stringify({ secret: "guess" }),
    });
    assert.equal(signIn.status, 429);
  } finally {
    await w.stop();
  }
});
