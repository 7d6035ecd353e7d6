// Shared helpers for the end-to-end tests.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { Authsignal } from "@authsignal/node";
import { devVars } from "./harness.mjs";

export const BASE = process.env.AG_BASE_URL;
if (!BASE) throw new Error("AG_BASE_URL is not set: run the suite with `node tests/e2e/run.mjs`");
export const VARS = devVars();
export const API_SECRET = VARS.API_SECRET_KEY;
export const MGMT_SECRET = VARS.MANAGEMENT_SECRET_KEY;

export const authsignal = new Authsignal({ apiSecretKey: API_SECRET, apiUrl: `${BASE}/v1`, retries: 0 });

export const uid = (prefix = "user") => `${prefix}-${randomUUID()}`;

export function basic(secret) {
  return "Basic " + Buffer.from(`${secret}:`).toString("base64");
}

/** A raw HTTP call; returns {status, headers, body (parsed JSON or text)}. */
export async function call(method, path, { body, secret = API_SECRET, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (secret !== null) h.Authorization = basic(secret);
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    h["Content-Type"] ??= "application/json";
  }
  const r = await fetch(`${BASE}${path}`, { method, headers: h, body: payload });
  const text = await r.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, body: parsed };
}

/**
 * A call to a worker of a test's own (at `base()`): {status, body (parsed
 * JSON or text)}, with Basic `secret`, Bearer `token` or `cookie`, redirects
 * not followed.
 */
export function callerOf(base) {
  return async (method, path, { secret, token, body, cookie, headers = {} } = {}) => {
    const h = { ...headers };
    if (secret) h.Authorization = basic(secret);
    if (token) h.Authorization = `Bearer ${token}`;
    if (cookie) h.Cookie = cookie;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const r = await fetch(`${base()}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), redirect: "manual" });
    const text = await r.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: parsed };
  };
}

export const mgmt = (method, path, opts = {}) => call(method, `/v1/management${path}`, { secret: MGMT_SECRET, ...opts });

export async function configure(actionCode, config) {
  const r = await mgmt("PUT", `/action-configurations/${actionCode}`, { body: config });
  assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body));
  return r.body;
}

/** Assert an error response: status, code in both fields, a description, exact content type. */
export function assertError(r, status, code) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.equal(r.body.error, code, JSON.stringify(r.body));
  assert.equal(r.body.errorCode, code);
  assert.equal(typeof r.body.errorDescription, "string");
  assert.ok(r.body.errorDescription.length > 0);
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** Sign an HS256 JWT by hand (to forge expired, foreign-key and alg:none tokens). */
export function signJwt(header, payload, key) {
  const h = b64url(JSON.stringify(header));
  const p = b64url(JSON.stringify(payload));
  const sig = key === null ? "" : b64url(createHmac("sha256", key).update(`${h}.${p}`).digest());
  return `${h}.${p}.${sig}`;
}

export function decodeJwt(token) {
  const [h, p] = token.split(".");
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString()),
    payload: JSON.parse(Buffer.from(p, "base64url").toString()),
  };
}

/** RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret at `when` (ms). */
export function totpCode(secretB32, when = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secretB32.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(when / 1000 / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const off = mac[mac.length - 1] & 15;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

/** Call the Client API with an action token, as @authsignal/browser does. */
export async function client(path, token, body = {}) {
  const r = await fetch(`${BASE}/v1/client${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

/** Ask until `check` holds (an outbox delivers within seconds), at most 20 s; `what` names it on failure. */
export async function eventually(ask, check, what) {
  let last;
  for (let i = 0; i < 80; i++) {
    last = await ask();
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}: ${JSON.stringify(last?.body ?? last)}`);
}

/** What an official SDK call was refused with ({status, code, description}); a failure if it succeeded. */
export async function refused(promise) {
  try {
    const r = await promise;
    assert.fail(`expected a refusal, got ${JSON.stringify(r)}`);
  } catch (e) {
    if (e.code === "ERR_ASSERTION") throw e;
    return { status: e.statusCode, code: e.errorCode, description: e.errorDescription };
  }
}
