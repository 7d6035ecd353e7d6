#!/usr/bin/env node
// The demo origin: a toy bank that knows nothing of ActionGate beyond
// verifying the X-ActionGate-* headers on the requests it forwards.
// ActionGate runs in front of it (config/demo.json, `proxy`).
//
//   PORT=8788 ORIGIN_SIGNING_KEY=… APP_SESSION_SECRET=… node demo/bank.mjs
//
// Pages: GET / (balance, forms), GET /login?user=alice (sets the session
// cookie: an HS256 JWT, as many apps have), POST /withdraw (form),
// POST /api/withdraw (JSON), POST /account/email (form), POST /account/close.
// GET /api/ledger lists what was executed (the end-to-end tests count it).
import { createServer } from "node:http";
import { createHash, createHmac, randomUUID, timingSafeEqual, generateKeyPairSync, sign } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";

function devVar(name) {
  if (process.env[name]) return process.env[name];
  if (existsSync(".dev.vars")) {
    const m = readFileSync(".dev.vars", "utf8").match(new RegExp(`^${name}=(.*)$`, "m"));
    if (m) return m[1].trim();
  }
  throw new Error(`${name} is not set (environment or .dev.vars)`);
}

const PORT = Number(process.env.PORT ?? 8788);
const ORIGIN_KEY = devVar("ORIGIN_SIGNING_KEY");
const SESSION_KEY = devVar("APP_SESSION_SECRET");
const PROTECTED = new Set(["/withdraw", "/api/withdraw", "/account", "/account/email", "/account/close"]);
const APPROVED = new Set(["ALLOW", "CHALLENGE_SUCCEEDED", "REVIEW_SUCCEEDED"]);

const accounts = new Map(); // user -> {balance, email}
const ledger = []; // executed operations
const attempts = []; // every verified request to a protected endpoint
const seenKeys = new Set(); // idempotency keys already executed

const b64url = (b) => Buffer.from(b).toString("base64url");

export function sessionToken(user, key = SESSION_KEY, ttl = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const h = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const p = b64url(JSON.stringify({ sub: user, iat: now, exp: now + ttl }));
  return `${h}.${p}.${b64url(createHmac("sha256", key).update(`${h}.${p}`).digest())}`;
}

// An ES256 signing key, published as a JWKS: ActionGate can verify sessions
// signed with it (proxy.identity.jwt.algorithm "ES256" with jwksUrl).
const ecKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const EC_KID = `bank-${randomUUID().slice(0, 8)}`;
const jwks = { keys: [{ ...ecKeys.publicKey.export({ format: "jwk" }), kid: EC_KID, alg: "ES256", use: "sig" }] };

/** An ES256 session token, verifiable with the bank's JWKS. */
export function es256SessionToken(user, ttl = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const h = b64url(JSON.stringify({ alg: "ES256", typ: "JWT", kid: EC_KID }));
  const p = b64url(JSON.stringify({ sub: user, iat: now, exp: now + ttl }));
  const sig = sign("sha256", Buffer.from(`${h}.${p}`), { key: ecKeys.privateKey, dsaEncoding: "ieee-p1363" });
  return `${h}.${p}.${b64url(sig)}`;
}

function sessionUser(req) {
  const m = (req.headers.cookie ?? "").match(/(?:^|;\s*)session=([^;]+)/);
  if (!m) return null;
  const [h, p, s] = m[1].split(".");
  const expected = b64url(createHmac("sha256", SESSION_KEY).update(`${h}.${p}`).digest());
  if (!s || s.length !== expected.length || !timingSafeEqual(Buffer.from(s), Buffer.from(expected))) return null;
  const claims = JSON.parse(Buffer.from(p, "base64url").toString());
  return claims.exp > Date.now() / 1000 ? claims.sub : null;
}

/**
 * Verify ActionGate's signature over what this request is: its method, the
 * Host it arrived with, its path and query, and the SHA-256 of the body as
 * received (so signed headers cannot be moved onto another body or host).
 * `headers` are Node's lower-cased request headers. Returns the facts or a reason.
 */
export function verifySignature(headers, method, pathAndQuery, body, key = ORIGIN_KEY) {
  const g = (n) => headers[`x-actiongate-${n}`];
  const sig = g("signature");
  if (!sig) return { ok: false, reason: "no ActionGate signature" };
  const facts = {
    timestamp: g("timestamp"), userId: g("user-id"), action: g("action"),
    state: g("state"), idempotencyKey: g("idempotency-key"),
  };
  const bodySha256 = createHash("sha256").update(body).digest("hex");
  const canonical = ["v2", facts.timestamp, method, headers.host, pathAndQuery, bodySha256,
    facts.userId, facts.action, facts.state, facts.idempotencyKey].join("\n");
  const expected = `v2=${b64url(createHmac("sha256", key).update(canonical).digest())}`;
  if (sig.length !== expected.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(expected))) {
    return { ok: false, reason: "bad ActionGate signature" };
  }
  if (Math.abs(Date.now() / 1000 - Number(facts.timestamp)) > 300) return { ok: false, reason: "stale ActionGate signature" };
  if (!APPROVED.has(facts.state)) return { ok: false, reason: `action is ${facts.state}` };
  return { ok: true, ...facts };
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/** What each try does, and the rule in config/demo.json that decides it. */
export const TRIES = [
  { amount: 250, to: "NZ-0201-1234567-00", what: "allowed", why: "no rule matches (on a device that verified before; a new browser is challenged first: new-device)" },
  { amount: 5000, to: "NZ-0201-1234567-00", what: "challenged", why: "rule large-withdrawal (over 1,000)" },
  { amount: 20000, to: "NZ-0201-1234567-00", what: "held for review", why: "rule very-large-withdrawal (over 10,000); approved in the portal, it runs here once" },
  { amount: 250000, to: "NZ-0201-7654321-00", payee: true, what: "challenged, then reviewed", why: "rule large-transfer-to-new-payee (over 100,000 to a payee added today)" },
  { amount: 250, to: "GB-1234-999", what: "blocked", why: "rule sanctioned-destination (the sanctioned-accounts list)" },
];

const FAVICON = "data:image/svg+xml," + encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0b6e4f"/><path d="M6 13 16 6l10 7v2H6zM8 17h3v8H8zm6.5 0h3v8h-3zM21 17h3v8h-3zM6 26h20v2H6z" fill="#fff"/></svg>');

const STYLE = `:root{--brand:#0b6e4f;color-scheme:light}*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2939;background:#f4f7f6}
header{background:var(--brand);color:#fff;padding:.9rem 1.25rem;display:flex;align-items:center;gap:.6rem}
header strong{font-size:1.2rem}header img{height:1.8rem;width:1.8rem}
main{max-width:42rem;margin:1.5rem auto;padding:0 1rem}
section{background:#fff;border:1px solid #dde5e2;border-radius:.6rem;padding:1rem 1.2rem;margin-bottom:1rem}
h2{font-size:1.1rem;margin:0 0 .6rem}label{display:block;margin:.5rem 0;font-weight:500}
input[type=number],input[type=email],input:not([type]){display:block;width:100%;padding:.5rem;border:1px solid #b7c4bf;border-radius:.35rem;font:inherit;margin-top:.2rem}
button{padding:.55rem 1.1rem;border:0;border-radius:.35rem;background:var(--brand);color:#fff;font:inherit;cursor:pointer;margin-top:.4rem}
.danger{background:#b42318}.bal b{font-size:1.4rem}.msg{background:#e8f5e9;border-left:4px solid var(--brand);padding:.6rem .8rem}
ul.tries{padding-left:1.1rem}ul.tries li{margin:.35rem 0}.muted{color:#5b6472;font-size:.92rem}a{color:#0b5cad}`;

function page(body) {
  return `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Demo Bank</title><link rel="icon" href="${FAVICON}"><style>${STYLE}</style>
<header><img src="${FAVICON}" alt=""><strong>Demo Bank</strong></header><main>${body}</main></html>`;
}

function home(user, msg, fill = {}) {
  const acct = user && account(user);
  const amount = Number(fill.amount) > 0 ? Number(fill.amount) : 250;
  const to = fill.to || "NZ-0201-1234567-00";
  const tryLink = (t) => `/?amount=${t.amount}&to=${encodeURIComponent(t.to)}${t.payee ? "&payee=1" : ""}`;
  const body = user
    ? `<p>Signed in as <b>${esc(user)}</b> · <a href="/logout">sign out</a></p>
       <p class="bal">Balance: <b id="balance">$${acct.balance.toLocaleString("en-US")}</b></p>
       ${msg ? `<p class="msg" role="status">${esc(msg)}</p>` : ""}
       <section><h2>Withdraw</h2>
       <form method="post" action="/withdraw">
         <label>Amount <input name="amount" type="number" min="1" value="${esc(amount)}" required></label>
         <label>To account <input name="to" value="${esc(to)}" required></label>
         <label><input type="checkbox" name="payeeAddedAt" value="${Math.floor(Date.now() / 1000)}"${fill.payee ? " checked" : ""}> payee added today</label>
         <button>Withdraw</button>
       </form>
       <p class="muted">Try one (it fills the form; ActionGate decides when you press Withdraw):</p>
       <ul class="tries">${TRIES.map((t) => `<li><a href="${tryLink(t)}">$${t.amount.toLocaleString("en-US")} to ${esc(t.to)}${t.payee ? ", payee added today" : ""}</a>: <b>${t.what}</b> — ${esc(t.why)}</li>`).join("")}</ul>
       </section>
       <section><h2>Change email</h2>
       <form method="post" action="/account/email"><label>New email <input name="email" type="email" value="${esc(acct.email)}" required></label><button>Change</button></form>
       <p class="muted">Challenged: the change-email action asks everyone to verify (its default outcome).</p></section>
       <section><h2>Close account</h2>
       <form method="post" action="/account/close"><button class="danger">Close my account</button></form>
       <p class="muted">Blocked: the close-account action is never allowed online (its default outcome).</p></section>`
    : `<section><h2>Welcome</h2><p>Sign in as <a href="/login?user=alice">alice</a> or <a href="/login?user=bob">bob</a>.</p>
       <p class="muted">A toy bank behind ActionGate: every withdrawal, email change and account closure is
       checked by the rules in config/demo.json before the bank sees it.</p></section>`;
  return page(body);
}

function account(user) {
  if (!accounts.has(user)) accounts.set(user, { balance: 1_000_000, email: `${user}@example.com` });
  return accounts.get(user);
}

function readRaw(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

const readBody = async (req) => (await readRaw(req)).toString();

/**
 * The method the bank runs, read as Rails-style apps do: a POST may name
 * another in `_method`, in the query or the body (form or JSON, whatever the
 * Content-Type). Override headers are not read.
 */
function effectiveMethod(req, url, raw) {
  if (req.method !== "POST") return req.method;
  let named = url.searchParams.get("_method") ?? new URLSearchParams(raw).get("_method");
  try {
    named = JSON.parse(raw)._method ?? named;
  } catch { /* not JSON */ }
  return typeof named === "string" && named !== "" ? named.toUpperCase() : "POST";
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, headers);
  res.end(body);
}
const json = (res, status, obj) => send(res, status, JSON.stringify(obj), { "Content-Type": "application/json" });

async function handle(req, res) {
  const url = new URL(req.url, "http://bank.local");
  const pq = url.pathname + url.search;
  if (req.method === "GET" && url.pathname === "/api/health") return json(res, 200, { ok: true });
  if (req.method === "GET" && url.pathname === "/api/ledger") return json(res, 200, { executed: ledger, attempts });
  if (req.method === "GET" && url.pathname === "/api/echo-headers") return json(res, 200, req.headers);
  // What reached the bank, for trying (and testing) what the worker forwards.
  if (url.pathname === "/api/echo") {
    return json(res, 200, { method: req.method, path: pq, headers: req.headers, body: await readBody(req) });
  }
  if (req.method === "GET" && url.pathname === "/.well-known/jwks.json") return json(res, 200, jwks);
  if (req.method === "GET" && url.pathname === "/login") {
    const user = url.searchParams.get("user") ?? "alice";
    return send(res, 303, "", { Location: "/", "Set-Cookie": `session=${sessionToken(user)}; Path=/; HttpOnly; SameSite=Lax` });
  }
  if (req.method === "GET" && url.pathname === "/logout") {
    return send(res, 303, "", { Location: "/", "Set-Cookie": "session=; Path=/; Max-Age=0" });
  }
  if (req.method === "GET" && url.pathname === "/") {
    const q = (k) => url.searchParams.get(k) ?? undefined;
    return send(res, 200, home(sessionUser(req), q("msg"), { amount: q("amount"), to: q("to"), payee: q("payee") === "1" }),
      { "Content-Type": "text/html; charset=utf-8" });
  }
  if (req.method === "POST" && PROTECTED.has(url.pathname)) {
    // Defence in depth: the bank only acts on requests ActionGate approved,
    // signed over this very body, and runs each idempotency key once.
    const bytes = await readRaw(req);
    const raw = bytes.toString();
    const gate = verifySignature(req.headers, req.method, pq, bytes);
    if (!gate.ok) return json(res, 401, { error: "not_verified", reason: gate.reason });
    const user = gate.userId;
    attempts.push({ path: url.pathname, action: gate.action, state: gate.state, idempotencyKey: gate.idempotencyKey });
    if (seenKeys.has(`${gate.action}:${gate.idempotencyKey}`)) return json(res, 409, { error: "already_executed" });
    seenKeys.add(`${gate.action}:${gate.idempotencyKey}`);
    // Read leniently, as many apps do: JSON whatever the Content-Type on the
    // API, the last of repeated form fields, Number() for amounts. ActionGate
    // refuses every request such a reading could see differently.
    const form = url.pathname === "/api/withdraw" ? JSON.parse(raw || "{}") : Object.fromEntries(new URLSearchParams(raw));
    const acct = account(user);
    const id = randomUUID();
    if (url.pathname === "/withdraw" || url.pathname === "/api/withdraw") {
      const amount = Number(form.amount);
      acct.balance -= amount;
      ledger.push({ id, user, op: "withdraw", amount, to: form.to, state: gate.state, idempotencyKey: gate.idempotencyKey });
      // For trying a failure after the bank committed (an end-to-end test).
      if (form.failAfterCommit === true) return json(res, 500, { error: "failed_after_commit" });
      if (url.pathname === "/api/withdraw") return json(res, 200, { ok: true, id, balance: acct.balance });
      return send(res, 303, "", { Location: `/?msg=${encodeURIComponent(`Withdrew $${amount} to ${form.to}`)}` });
    }
    if (url.pathname === "/account") {
      // POST /account updates the display name; DELETE (as `_method`) closes it.
      if (effectiveMethod(req, url, raw) === "DELETE") {
        ledger.push({ id, user, op: "close-account", state: gate.state, via: "_method" });
        return json(res, 200, { ok: true, closed: true });
      }
      ledger.push({ id, user, op: "rename", name: String(form.name), state: gate.state });
      return json(res, 200, { ok: true });
    }
    if (url.pathname === "/account/email") {
      acct.email = form.email;
      ledger.push({ id, user, op: "change-email", email: form.email, state: gate.state });
      return send(res, 303, "", { Location: `/?msg=${encodeURIComponent(`Email changed to ${form.email}`)}` });
    }
    ledger.push({ id, user, op: "close-account", state: gate.state });
    return send(res, 303, "", { Location: "/?msg=Account%20closed" });
  }
  if (req.method === "POST" && url.pathname === "/api/fail") return json(res, 500, { error: "boom" });
  return send(res, 404, "not found", { "Content-Type": "text/plain" });
}

/** Start the bank; resolves with its URL and a close function. */
export function startBank(port = PORT) {
  const server = createServer((req, res) => handle(req, res).catch((e) => json(res, 500, { error: String(e) })));
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const { port: p } = server.address();
      resolve({ url: `http://127.0.0.1:${p}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await startBank();
  console.log(`demo bank on ${url}`);
}
