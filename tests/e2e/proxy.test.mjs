// The edge proxy in front of the demo bank (demo/bank.mjs), running for
// real: pass-through, identity, every outcome for browsers and API clients,
// signed headers, and a held-back request released exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { authsignal, mgmt, uid, BASE, VARS, assertError, client, totpCode } from "./lib.mjs";
import { startBank, sessionToken, es256SessionToken } from "../../demo/bank.mjs";

let bank;
let bankPort;

function doc(originUrl) {
  return {
    actionConfigurations: {
      "proxy-withdraw": {
        defaultUserActionResult: "ALLOW",
        rules: [
          { ruleId: "blocked-payee", name: "Blocked payee", priority: 0, type: "BLOCK", conditions: { "==": [{ var: "action.custom.to" }, "BLOCKED"] } },
          { ruleId: "review-large", name: "Review", priority: 1, type: "REVIEW", conditions: { ">": [{ var: "action.custom.amount" }, 10000] } },
          { ruleId: "challenge-medium", name: "Challenge", priority: 2, type: "CHALLENGE", conditions: { ">": [{ var: "action.custom.amount" }, 1000] } },
        ],
      },
    },
    proxy: {
      originUrl,
      identity: {
        jwt: { cookie: "session", algorithm: "HS256", secretEnv: "APP_SESSION_SECRET" },
        trustedHeader: { header: "X-User-Id", secretHeader: "X-Upstream-Secret", secretEnv: "API_SECRET_KEY" },
        loginUrl: "/login",
      },
      maxBodyBytes: 4096,
      routes: [
        { method: "POST", path: "/api/withdraw", action: "proxy-withdraw", custom: { amount: "body:/amount", to: "body:/to" } },
        { method: "POST", path: "/withdraw", action: "proxy-withdraw", custom: { amount: { from: "form:amount", type: "number" }, to: "form:to" } },
      ],
    },
  };
}

before(async () => {
  bank = await startBank(0);
  bankPort = new URL(bank.url).port;
  const r = await mgmt("PUT", "/configuration", { body: doc(bank.url) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});
after(() => bank?.close());

const session = (user, key = VARS.APP_SESSION_SECRET, ttl = 3600) => sessionToken(user, key, ttl);

async function post(path, { user, body, form, headers = {}, html = false, cookie = "" } = {}) {
  const h = { ...headers };
  const cookies = [cookie, user ? `session=${session(user)}` : ""].filter(Boolean).join("; ");
  if (cookies) h.Cookie = cookies;
  if (html) h.Accept = "text/html,application/xhtml+xml";
  let payload;
  if (form) {
    payload = new URLSearchParams(form).toString();
    h["Content-Type"] = "application/x-www-form-urlencoded";
  } else if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    h["Content-Type"] ??= "application/json";
  }
  const r = await fetch(`${BASE}${path}`, { method: "POST", headers: h, body: payload, redirect: "manual" });
  const text = await r.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* html */ }
  return { status: r.status, headers: r.headers, body: parsed, text };
}

async function ledger() {
  return (await fetch(`${bank.url}/api/ledger`)).json();
}

async function executedFor(user) {
  return (await ledger()).executed.filter((e) => e.user === user);
}

test("unprotected routes pass straight through, without client X-ActionGate headers", async () => {
  const home = await fetch(`${BASE}/`, { headers: { Accept: "text/html" } });
  assert.equal(home.status, 200);
  assert.match(await home.text(), /Demo Bank/);
  const echo = await fetch(`${BASE}/api/echo-headers`, { headers: { "X-ActionGate-State": "ALLOW", "X-ActionGate-Signature": "v1=forged", "X-Other": "kept" } });
  const seen = await echo.json();
  assert.equal(seen["x-other"], "kept");
  assert.ok(!Object.keys(seen).some((k) => k.startsWith("x-actiongate-")), JSON.stringify(seen));
  const login = await fetch(`${BASE}/login?user=alice`, { redirect: "manual" });
  assert.equal(login.status, 303);
  assert.match(login.headers.get("set-cookie"), /^session=/);
  // Method, path, query and body reach the app as sent, whichever of the
  // worker's paths forwards them (the first request after a configuration
  // change goes through the Rust handler, later ones through the entry).
  for (const method of ["POST", "PUT", "PATCH", "DELETE", "POST"]) {
    const r = await fetch(`${BASE}/api/echo?a=1&b=%20x&_method=${method}`, {
      method,
      headers: { "Content-Type": "text/plain", "X-ActionGate-User-Id": "mallory" },
      body: `body of ${method}`,
    });
    assert.equal(r.status, 200, method);
    const got = await r.json();
    assert.deepEqual([got.method, got.path, got.body], [method, `/api/echo?a=1&b=%20x&_method=${method}`, `body of ${method}`]);
    assert.ok(!Object.keys(got.headers).some((k) => k.startsWith("x-actiongate-")), method);
  }
  const head = await fetch(`${BASE}/api/echo`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
});

test("a protected route without a valid identity is refused, never forwarded", async () => {
  const before = (await ledger()).attempts.length;
  let r = await post("/api/withdraw", { body: { amount: 10, to: "NZ-1" } });
  assertError(r, 401, "unauthenticated");
  r = await post("/withdraw", { form: { amount: 10, to: "NZ-1" }, html: true });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get("location"), "/login");
  // Expired and wrong-key sessions.
  r = await post("/api/withdraw", { body: { amount: 10 }, cookie: `session=${session("alice", VARS.APP_SESSION_SECRET, -120)}` });
  assertError(r, 401, "unauthenticated");
  assert.match(r.body.errorDescription, /expired/);
  r = await post("/api/withdraw", { body: { amount: 10 }, cookie: `session=${session("alice", "wrong-key-0123456789abcdef0123456789")}` });
  assertError(r, 401, "unauthenticated");
  // A trusted upstream header needs the shared secret.
  r = await post("/api/withdraw", { body: { amount: 10 }, headers: { "X-User-Id": "mallory", "X-Upstream-Secret": "guess" } });
  assertError(r, 401, "unauthenticated");
  assert.equal((await ledger()).attempts.length, before, "nothing reached the bank");
});

test("ALLOW forwards once with a signature the origin verifies, and sets a device cookie", async () => {
  const user = uid("p");
  const r = await post("/api/withdraw", { user, body: { amount: 250, to: "NZ-1" }, headers: { "X-ActionGate-State": "CHALLENGE_SUCCEEDED" } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.ok, true, "the bank verified ActionGate's signature");
  assert.match(r.headers.get("set-cookie"), /__as_aid=[0-9a-f-]{36}; Path=\/; Max-Age=31536000; HttpOnly; SameSite=Lax/);
  const done = await executedFor(user);
  assert.equal(done.length, 1);
  assert.equal(done[0].state, "ALLOW", "the client's forged state header was replaced");
  // The action was tracked with the request's attributes and the edge's device id.
  const [action] = await authsignal.queryUserActions({ userId: user });
  assert.equal(action.actionCode, "proxy-withdraw");
  assert.equal(action.state, "ALLOW");
  // A trusted upstream with the right secret works too.
  const viaGateway = await post("/api/withdraw", { body: { amount: 5, to: "NZ-1" }, headers: { "X-User-Id": user, "X-Upstream-Secret": VARS.API_SECRET_KEY } });
  assert.equal(viaGateway.status, 200);
  assert.equal((await executedFor(user)).length, 2);
});

test("a body of undeclared length takes the full path and the same rules; a returning device keeps its cookie", async () => {
  const user = uid("chunked");
  // A streamed body: no Content-Length, so the entry leaves the request to
  // the Rust handler, which reads it in chunks under the same limit.
  const streamed = (text) =>
    new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(text.slice(0, 5)));
        c.enqueue(new TextEncoder().encode(text.slice(5)));
        c.close();
      },
    });
  const send = (amount, extra = {}) =>
    fetch(`${BASE}/api/withdraw`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Cookie: `session=${session(user)}`, ...extra },
      body: streamed(JSON.stringify({ amount, to: "NZ-7" })),
      duplex: "half",
      redirect: "manual",
    });
  let r = await send(75);
  assert.equal(r.status, 200, await r.clone().text());
  const cookie = r.headers.get("set-cookie").split(";")[0];
  assert.match(cookie, /^__as_aid=[0-9a-f-]{36}$/);
  // The rules read the streamed body: a medium amount is challenged.
  r = await send(5000);
  assertError({ status: r.status, headers: r.headers, body: await r.json() }, 401, "challenge_required");
  // A returning device (its cookie sent back) gets no new cookie, on either path.
  r = await post("/api/withdraw", { user, body: { amount: 80, to: "NZ-7" }, cookie });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.headers.get("set-cookie"), null);
  r = await send(5000, { Cookie: `session=${session(user)}; ${cookie}` });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("set-cookie"), null);
  // A new device is told its cookie on a challenge too.
  r = await send(5000);
  assert.equal(r.status, 401);
  assert.match(r.headers.get("set-cookie"), /^__as_aid=[0-9a-f-]{36};/);
  const done = await executedFor(user);
  assert.deepEqual(done.map((e) => [e.amount, e.to, e.state]), [[75, "NZ-7", "ALLOW"], [80, "NZ-7", "ALLOW"]]);
  assert.equal((await authsignal.queryUserActions({ userId: user })).length, 5);
});

test("the origin rejects a forged signature", async () => {
  const r = await fetch(`${bank.url}/api/withdraw`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-ActionGate-State": "ALLOW", "X-ActionGate-Signature": "v1=" + createHmac("sha256", "guess").update("x").digest("base64url") },
    body: "{}",
  });
  assert.equal(r.status, 401);
});

test("CHALLENGE: API clients get 401 with the token, browsers a 303 to the challenge page", async () => {
  const user = uid("p");
  let r = await post("/api/withdraw", { user, body: { amount: 5000, to: "NZ-1" } });
  assertError(r, 401, "challenge_required");
  assert.equal(r.body.state, "CHALLENGE_REQUIRED");
  assert.ok(r.body.token && r.body.idempotencyKey);
  assert.equal(r.body.url, `${BASE}/challenge?token=${r.body.token}`);
  r = await post("/withdraw", { user, form: { amount: 5000, to: "NZ-1" }, html: true });
  assert.equal(r.status, 303);
  assert.match(r.headers.get("location"), new RegExp(`^${BASE}/challenge\\?token=`));
  // Retrying with the token before the challenge is done releases nothing.
  const again = await post("/api/withdraw", { user, body: { amount: 5000, to: "NZ-1" } });
  const retry = await post("/api/withdraw", { user, body: { amount: 5000, to: "NZ-1" }, headers: { "X-ActionGate-Token": again.body.token } });
  assertError(retry, 403, "challenge_not_completed");
  assert.equal((await executedFor(user)).length, 0);
});

test("other spellings of a protected path are protected too, and unknown methods are refused", async () => {
  const user = uid("spelling");
  const attemptsBefore = (await ledger()).attempts.length;
  // An app that routes case-insensitively, decodes the path or ignores a
  // trailing slash would run its withdraw handler for each of these.
  for (const path of ["/API/Withdraw", "/api/withdraw/", "//api//withdraw", "/%61pi/withdraw", "/x/%2e%2e/api/withdraw", "/api/withdraw;v=1", "/api;x/withdraw", "/api/withdraw.json"]) {
    const r = await post(path, { user, body: { amount: 5000, to: "NZ-1" } });
    assertError(r, 401, "challenge_required");
  }
  // A segment that decodes to a separator could be split either way by the app.
  for (const path of ["/api%2Fwithdraw", "/api%5Cwithdraw", "/api/withdraw%00", "/api%252Fwithdraw"]) {
    const r = await post(path, { user, body: { amount: 5000, to: "NZ-1" } });
    assertError(r, 400, "invalid_request");
  }
  // Method overrides are read as the app reads them: a GET that says it is
  // a POST belongs to the protected route (no session here: 401, not the app).
  for (const [path, headers] of [["/api/withdraw?_method=POST", {}], ["/api/withdraw", { "X-HTTP-Method-Override": "POST" }]]) {
    const r = await fetch(`${BASE}${path}`, { headers });
    assert.equal(r.status, 401, path);
    assert.equal((await r.json()).errorCode, "unauthenticated");
  }
  // Methods the routes cannot name never reach the app.
  for (const method of ["PROPFIND", "patch", "PURGE"]) {
    const r = await fetch(`${BASE}/api/withdraw`, {
      method,
      headers: { Cookie: `session=${session(user)}`, "Content-Type": "application/json" },
      body: JSON.stringify({ amount: 5000, to: "NZ-1" }),
    });
    if (method === "patch") {
      // The runtime itself may refuse a lower-case PATCH (501) before ActionGate sees it.
      assert.ok([405, 501].includes(r.status), `${method}: ${r.status}`);
      continue;
    }
    assert.equal(r.status, 405, method);
    assert.match(r.headers.get("allow"), /POST/);
    assert.equal((await r.json()).errorCode, "method_not_allowed");
  }
  assert.equal((await executedFor(user)).length, 0);
  assert.equal((await ledger()).attempts.length, attemptsBefore, "nothing reached the app");
});

test("BLOCK is 403 and REVIEW 202, as JSON or as a page", async () => {
  const user = uid("p");
  let r = await post("/api/withdraw", { user, body: { amount: 1, to: "BLOCKED" } });
  assertError(r, 403, "blocked");
  // A browser's form post gets a 303 to a page of its own (Post/Redirect/Get).
  r = await post("/withdraw", { user, form: { amount: 1, to: "BLOCKED" }, html: true });
  assert.equal(r.status, 303);
  const blockedPage = r.headers.get("location");
  assert.match(blockedPage, /^\/__actiongate\/outcome\?token=/);
  let page = await outcomePage(blockedPage);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /^text\/html/);
  // Every page the worker renders carries the hosted page's policy, and no frame may show it.
  assert.match(page.headers.get("content-security-policy"), /default-src 'none'; script-src 'self'; style-src 'self'.*frame-ancestors 'none'/);
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  assert.match(page.text, /<h1>Not allowed<\/h1>/);
  assert.match(page.text, /nothing was carried out/);
  assert.match(page.text, /Reference: <strong id="reference">[0-9A-F]{8}<\/strong>/);
  assert.match(page.text, /<a href="\/">Back to the app<\/a>/);
  assert.doesNotMatch(page.text, /blocked-payee|rule/i, "no rule internals");
  r = await post("/api/withdraw", { user, body: { amount: 20000, to: "NZ-1" } });
  assert.equal(r.status, 202);
  assert.equal(r.body.state, "REVIEW_REQUIRED");
  r = await post("/withdraw", { user, form: { amount: 20000, to: "NZ-1" }, html: true });
  assert.equal(r.status, 303);
  page = await outcomePage(r.headers.get("location"));
  assert.equal(page.status, 200);
  assert.match(page.text, /<h1>Under review<\/h1>/);
  // Reloading either page (twice) shows it again and submits nothing.
  for (const again of [blockedPage, r.headers.get("location"), r.headers.get("location")]) {
    assert.equal((await outcomePage(again)).status, 200);
  }
  const actions = await authsignal.queryUserActions({ userId: user });
  assert.equal(actions.length, 4, "one action per request sent, none per page shown");
  assert.equal((await executedFor(user)).length, 0);
  // A page without a valid token says so in plain words.
  page = await outcomePage("/__actiongate/outcome?token=nope");
  assert.equal(page.status, 403);
  assert.match(page.text, /This link no longer works/);
});

async function outcomePage(path, language) {
  const headers = { Accept: "text/html" };
  if (language) headers["Accept-Language"] = language;
  const r = await fetch(`${BASE}${path}`, { headers });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

test("the worker's own pages speak the browser's language: German outcome and refusal pages", async () => {
  const user = uid("p");
  const german = "de-DE,de;q=0.9,en;q=0.5";
  let r = await post("/withdraw", { user, form: { amount: 1, to: "BLOCKED" }, html: true, headers: { "Accept-Language": german } });
  assert.equal(r.status, 303);
  let page = await outcomePage(r.headers.get("location"), german);
  assert.match(page.text, /<html lang="de">/);
  assert.match(page.text, /<h1>Nicht erlaubt<\/h1>/);
  assert.match(page.text, /Referenz: <strong id="reference">[0-9A-F]{8}<\/strong>/);
  assert.match(page.text, /<a href="\/">Zurück zur App<\/a>/);
  // The same page for an English browser, and for one that prefers neither.
  page = await outcomePage(r.headers.get("location"), "en-NZ");
  assert.match(page.text, /<html lang="en">.*<h1>Not allowed<\/h1>/s);
  page = await outcomePage(r.headers.get("location"), "fr-FR, it;q=0.8");
  assert.match(page.text, /<h1>Not allowed<\/h1>/);
  r = await post("/withdraw", { user, form: { amount: 20000, to: "NZ-1" }, html: true, headers: { "Accept-Language": german } });
  page = await outcomePage(r.headers.get("location"), german);
  assert.match(page.text, /<h1>Wird geprüft<\/h1>/);
  // A refusal as a page, in German: the resume link without its token.
  const refused = await fetch(`${BASE}/__actiongate/resume`, { headers: { Accept: "text/html", "Accept-Language": "de", Cookie: `session=${session(user)}` } });
  assert.equal(refused.status, 400);
  const text = await refused.text();
  assert.match(text, /<html lang="de">/);
  assert.match(text, /<h1>Anfrage nicht angenommen<\/h1>/);
  page = await outcomePage("/__actiongate/outcome?token=nope", "de");
  assert.equal(page.status, 403);
  assert.match(page.text, /Dieser Link funktioniert nicht mehr/);
  assert.equal((await executedFor(user)).length, 0);
});

test("an approved API request executes exactly once on retry; tampering and reuse release nothing", async () => {
  const user = uid("p");
  const body = { amount: 20000, to: "NZ-9" };
  const held = await post("/api/withdraw", { user, body });
  assert.equal(held.status, 202);
  const { token, idempotencyKey } = held.body;
  await authsignal.updateAction({ userId: user, action: "proxy-withdraw", idempotencyKey, attributes: { state: "REVIEW_SUCCEEDED" } });

  let r = await post("/api/withdraw", { user, body: { amount: 99999, to: "NZ-9" }, headers: { "X-ActionGate-Token": token } });
  assertError(r, 403, "request_mismatch");
  r = await post("/api/withdraw", { user: uid("other"), body, headers: { "X-ActionGate-Token": token } });
  assertError(r, 403, "invalid_token");
  assert.equal((await executedFor(user)).length, 0);

  r = await post("/api/withdraw", { user, body, headers: { "X-ActionGate-Token": token } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  let done = await executedFor(user);
  assert.equal(done.length, 1);
  assert.equal(done[0].state, "REVIEW_SUCCEEDED");
  assert.equal(done[0].idempotencyKey, idempotencyKey);

  r = await post("/api/withdraw", { user, body, headers: { "X-ActionGate-Token": token } });
  assertError(r, 403, "token_already_used");
  done = await executedFor(user);
  assert.equal(done.length, 1, "exactly once");
});

test("returning with the token replays the stored request exactly once", async () => {
  const user = uid("p");
  const resume = (t, who = user) => fetch(`${BASE}/__actiongate/resume?token=${encodeURIComponent(t)}`, {
    headers: { Cookie: `session=${session(who)}`, Accept: "text/html" }, redirect: "manual",
  });
  // A challenged browser form post: the 303 carries the token; before the
  // challenge is completed, returning with it replays nothing.
  const challenged = await post("/withdraw", { user, form: { amount: 5000, to: "NZ-7" }, html: true });
  const challengeToken = new URL(challenged.headers.get("location")).searchParams.get("token");
  let r = await resume(challengeToken);
  assert.equal(r.status, 403);
  assert.match(await r.text(), /Not verified yet/, "in the customer's words");

  // A held request, approved: the stored request (method, body, content type) is replayed.
  const held = await post("/api/withdraw", { user, body: { amount: 30000, to: "NZ-8" } });
  assert.equal(held.status, 202);
  r = await resume(held.body.token);
  // Not approved yet: a browser is shown where the request stands, nothing is sent.
  assert.equal(r.status, 303, "not approved yet");
  assert.match(r.headers.get("location"), /^\/__actiongate\/outcome\?token=/);
  const standing = await fetch(`${BASE}${r.headers.get("location")}`, { headers: { Accept: "text/html" } });
  assert.match(await standing.text(), /<h1>Under review<\/h1>/);
  assert.equal((await executedFor(user)).length, 0);
  await authsignal.updateAction({ userId: user, action: "proxy-withdraw", idempotencyKey: held.body.idempotencyKey, attributes: { state: "REVIEW_SUCCEEDED" } });
  r = await resume(held.body.token, uid("someone-else"));
  assert.equal(r.status, 403, "another user's session");
  r = await resume(held.body.token);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).ok, true);
  let done = await executedFor(user);
  assert.deepEqual(done.map((d) => [d.amount, d.to]), [[30000, "NZ-8"]]);
  r = await resume(held.body.token);
  assert.equal(r.status, 403, "a replayed token replays nothing");
  assert.match(await r.text(), /already completed/);
  done = await executedFor(user);
  assert.equal(done.length, 1);
  // A tampered token is refused.
  r = await resume(held.body.token.slice(0, -3) + "AAA");
  assert.equal(r.status, 403);
});

test("origin down: 502, and the approved request stays claimable", async () => {
  const user = uid("p");
  const body = { amount: 12000, to: "NZ-5" };
  const held = await post("/api/withdraw", { user, body });
  await authsignal.updateAction({ userId: user, action: "proxy-withdraw", idempotencyKey: held.body.idempotencyKey, attributes: { state: "REVIEW_SUCCEEDED" } });
  await bank.close();
  let r = await post("/api/withdraw", { user, body, headers: { "X-ActionGate-Token": held.body.token } });
  assertError(r, 502, "origin_unreachable");
  // Unprotected routes too, with the same error.
  for (const path of ["/", "/api/echo?x=1"]) {
    const down = await fetch(`${BASE}${path}`);
    assert.equal(down.status, 502, path);
    const e = await down.json();
    assert.equal(e.errorCode, "origin_unreachable", path);
    assert.ok(!JSON.stringify(e).includes("127.0.0.1"), "no internal address leaks");
  }
  bank = await startBank(Number(bankPort));
  r = await post("/api/withdraw", { user, body, headers: { "X-ActionGate-Token": held.body.token } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal((await executedFor(user)).length, 1);
});

test("a body over the route's limit is 413 and reaches nobody", async () => {
  const user = uid("p");
  const r = await post("/api/withdraw", { user, body: { amount: 1, to: "x".repeat(5000) } });
  assertError(r, 413, "payload_too_large");
  assert.deepEqual(await authsignal.queryUserActions({ userId: user }), []);
});

test("ES256 sessions verify against the app's JWKS", async () => {
  const d = doc(bank.url);
  d.proxy.identity.jwt = { cookie: "session", algorithm: "ES256", jwksUrl: `${bank.url}/.well-known/jwks.json` };
  let r = await mgmt("PUT", "/configuration", { body: d });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  try {
    const user = uid("es");
    r = await post("/api/withdraw", { body: { amount: 5, to: "NZ-1" }, cookie: `session=${es256SessionToken(user)}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await executedFor(user)).length, 1);
    // An HS256 token is no longer accepted, nor an expired ES256 one.
    r = await post("/api/withdraw", { user, body: { amount: 5, to: "NZ-1" } });
    assertError(r, 401, "unauthenticated");
    r = await post("/api/withdraw", { body: { amount: 5 }, cookie: `session=${es256SessionToken(user, -120)}` });
    assertError(r, 401, "unauthenticated");
    assert.match(r.body.errorDescription, /expired/);
  } finally {
    assert.equal((await mgmt("PUT", "/configuration", { body: doc(bank.url) })).status, 200);
  }
});

test("an invalid proxy configuration is refused with located problems", async () => {
  const d = doc("ftp://nowhere/x");
  d.proxy.identity.jwt = { algorithm: "RS256", secretEnv: "X" };
  d.proxy.routes.push({ method: "POST", path: "nope", action: "bad action" });
  const r = await mgmt("POST", "/configuration/validate", { body: d });
  assert.equal(r.body.valid, false);
  const all = r.body.problems.join("\n");
  for (const needle of ["proxy.originUrl", "proxy.identity.jwt.jwksUrl", "proxy.identity.jwt.secretEnv: only for HS256", "proxy.routes[2].path", "proxy.routes[2].action"]) {
    assert.ok(all.includes(needle), `${needle} in ${all}`);
  }
});

/** Pass the challenge of `token` by enrolling an authenticator app (a first-time user). */
async function passChallenge(token) {
  const enrolled = await client("/user-authenticators/totp", token);
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const verified = await client("/verify/totp", token, { verificationCode: totpCode(enrolled.body.secret) });
  assert.equal(verified.body.isVerified, true, JSON.stringify(verified.body));
  return verified.body.accessToken;
}

test("a challenged API withdrawal executes exactly once after the challenge, never on reuse or tampering", async () => {
  const user = uid("p");
  const body = { amount: 5000, to: "NZ-3" };
  const challenged = await post("/api/withdraw", { user, body });
  assertError(challenged, 401, "challenge_required");
  const { token } = challenged.body;
  await passChallenge(token);
  let r = await post("/api/withdraw", { user, body: { ...body, amount: 9999 }, headers: { "X-ActionGate-Token": token } });
  assertError(r, 403, "request_mismatch");
  assert.equal((await executedFor(user)).length, 0);
  r = await post("/api/withdraw", { user, body, headers: { "X-ActionGate-Token": token } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  let done = await executedFor(user);
  assert.equal(done.length, 1);
  assert.equal(done[0].state, "CHALLENGE_SUCCEEDED");
  r = await post("/api/withdraw", { user, body, headers: { "X-ActionGate-Token": token } });
  assertError(r, 403, "token_already_used");
  done = await executedFor(user);
  assert.equal(done.length, 1, "exactly once");
});

test("a challenged browser form post is replayed exactly once when the user returns with the token", async () => {
  const user = uid("p");
  const challenged = await post("/withdraw", { user, form: { amount: 5000, to: "NZ-4" }, html: true });
  assert.equal(challenged.status, 303);
  const token = new URL(challenged.headers.get("location")).searchParams.get("token");
  await passChallenge(token);
  const resume = () => fetch(`${BASE}/__actiongate/resume?token=${encodeURIComponent(token)}`, {
    headers: { Cookie: `session=${session(user)}`, Accept: "text/html" }, redirect: "manual",
  });
  let r = await resume();
  assert.equal(r.status, 303, "the bank's answer to the replayed form post");
  assert.match(r.headers.get("location"), /Withdrew/);
  let done = await executedFor(user);
  assert.deepEqual(done.map((d) => [d.amount, d.to, d.state]), [[5000, "NZ-4", "CHALLENGE_SUCCEEDED"]]);
  r = await resume();
  assert.equal(r.status, 403, "a second return replays nothing");
  done = await executedFor(user);
  assert.equal(done.length, 1);
});
