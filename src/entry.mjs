// The worker's entry (wrangler.toml `main`, copied to build/ by
// scripts/build.sh beside the generated index.js).
//
// Requests for the app's unprotected routes are forwarded from here, the
// way a minimal pass-through worker would: one synchronous call into the
// wasm decides (passThroughTarget, in src/proxy.rs, from the isolate's
// cached configuration), and nothing else of the Rust worker runs.
// Protected routes, and tracks of the Server API, take the same kind of
// path: synchronous calls into the wasm decide, and the awaiting (the
// body, the user object, the origin) happens here. Every other request
// (ActionGate's own paths, a configuration not yet cached, the rarer
// cases those paths leave) goes to the Rust fetch handler, through
// workers-rs's entry and its recovery from a Wasm abort. The user
// object's tracks take a synchronous path the same way (UserObject below).
import { DurableObject } from "cloudflare:workers";
import Worker, { UserObject as RustUserObject } from "./index.js";

export { ReviewQueue, AnalyticsShard, ConfigHistory } from "./index.js";

// worker-build (0.8, pinned by scripts/setup.sh) puts the crate's
// #[wasm_bindgen] functions on its entrypoint class's prototype.
const NEEDED = [
  ...["passThroughTarget", "originUnreachable", "classifyHeaders", "trackCall", "userObjectUnavailable"],
  ...["maxBodyBytes", "protectCall", "protectAnswer", "ourCookies", "ourHeaderPattern"],
];
const missing = NEEDED.filter((name) => typeof Worker.prototype[name] !== "function");
if (missing.length > 0) {
  throw new Error(`build/index.js lacks ${missing.join(", ")}: rebuild with scripts/build.sh`);
}
const { passThroughTarget, originUnreachable, classifyHeaders, trackCall, userObjectUnavailable } = Worker.prototype;
const { maxBodyBytes, protectCall, protectAnswer, ourCookies, ourHeaderPattern } = Worker.prototype;

/** The headers whose values passThroughTarget takes, in its order. */
const CLASSIFY_HEADERS = classifyHeaders();

/** The largest track body read here (larger ones take the Rust handler). */
const MAX_BODY = maxBodyBytes();
/** A quick filter for a track's URL (trackCall decides). */
const TRACK_URL = /^[a-z]+:\/\/[^/]+\/v1\/users\/[^/?#]+\/actions\/[^/?#]+\/?(?:[?#]|$)/;

/** The header that names the user to the user object (src/users/commands.rs, USER_HEADER). */
const USER_HEADER = "X-ActionGate-User";

/**
 * Client-sent headers of this prefix never reach the app, in any spelling
 * a CGI/WSGI server folds onto the same name (`X_ActionGate_User_Id`): the
 * rule of actiongate_core::proxy::is_our_header, as the wasm writes it.
 */
const OURS = new RegExp(ourHeaderPattern());

/** ActionGate's own cookies (the portal session), which never reach the app. */
const OUR_COOKIES = new Set(ourCookies());
const HAS_OUR_COOKIE = new RegExp(`(?:^|;)\\s*(?:${[...OUR_COOKIES].join("|")})\\s*=`);

/** A Cookie header without ActionGate's own cookies (null when none is left). */
function withoutOurCookies(header) {
  const kept = header
    .split(";")
    .map((kv) => kv.trim())
    .filter((kv) => kv !== "" && !OUR_COOKIES.has(kv.split("=", 1)[0].trim()));
  return kept.length === 0 ? null : kept.join("; ");
}

/** The request's headers without any of ActionGate's own (the same object when there is none). */
function stripped(headers) {
  let out = headers;
  for (const name of headers.keys()) {
    if (OURS.test(name)) {
      if (out === headers) out = new Headers(headers);
      out.delete(name);
    }
  }
  const cookie = headers.get("cookie");
  if (cookie !== null && HAS_OUR_COOKIE.test(cookie)) {
    if (out === headers) out = new Headers(headers);
    const kept = withoutOurCookies(cookie);
    if (kept === null) out.delete("cookie");
    else out.set("cookie", kept);
  }
  return out;
}

/**
 * Ask the wasm, and never let its failure decide: an abort marks the
 * module for re-instantiation (the generated entry reads this flag before
 * its next call) and leaves the request to the full path.
 */
function target(request) {
  const headers = request.headers;
  const values = CLASSIFY_HEADERS.map((name) => headers.get(name));
  return ask(() => passThroughTarget(request.method, request.url, values));
}

/** A synchronous question to the wasm; its failure answers `undefined` (the full path). */
function ask(question) {
  try {
    return question();
  } catch (e) {
    markAborted(e);
    return undefined;
  }
}

/** After a wasm abort, have the generated entry re-instantiate the module. */
function markAborted(e) {
  if (e instanceof WebAssembly.RuntimeError || String(e?.message).includes("terminated")) {
    const state = globalThis.__worker_init_state;
    if (state) state.criticalError = true;
  }
}

/** The headers of every JSON answer (as src/http.rs's json_response). */
const JSON_HEADERS = { "Content-Type": "application/json", "Cache-Control": "no-store" };

/**
 * The user object (wrangler.toml `UserObject`): the Rust object, with tracks
 * answered by one synchronous call into it (trackNow, in
 * src/users/object.rs) and the alarm set from here, so a track crosses no
 * futures bridge. The entry and the Rust worker both call it over RPC
 * (`command`). Any other command, or a track whose policy this isolate has
 * not cached, goes to the Rust object's fetch handler, which changes
 * nothing trackNow did not.
 */
export class UserObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.inner = new RustUserObject(ctx, env);
  }

  /**
   * A command, over RPC: from the entry (tracks and protected routes) and
   * from the Rust worker (src/users/client.rs, call_user), the one way in.
   * Answers `[status, body, retryAfter]`, the body JSON (the Rust object's
   * answers are JSON too, src/http.rs), `retryAfter` when it asks to wait.
   */
  async command(user, command) {
    const answer = await this.#tracked(user, command);
    if (answer !== undefined) return answer;
    const response = await this.inner.fetch(
      new Request("https://user-object/", { method: "POST", headers: { [USER_HEADER]: user }, body: command }),
    );
    return [response.status, await response.text(), response.headers.get("Retry-After") ?? undefined];
  }

  /** trackNow's answer (`[status, body]`), with the alarm it asks for set; `undefined` when it declined. */
  async #tracked(user, command) {
    const answer = this.inner.trackNow(user, command);
    if (answer === undefined) return undefined;
    const at = this.inner.alarmWanted();
    if (at !== undefined) {
      const storage = this.ctx.storage;
      try {
        // The wasm decides whether the alarm already set serves.
        const current = await storage.getAlarm();
        if (!this.inner.alarmServes(current ?? undefined, at)) await storage.setAlarm(at);
      } catch (e) {
        this.inner.alarmUnknown();
        console.error(`could not schedule outbox delivery: ${e?.message ?? e}`);
      }
    }
    return answer;
  }

  alarm() {
    return this.inner.alarm();
  }
}

/**
 * A track (POST /v1/users/{userId}/actions/{action}) with a body of known
 * length within MAX_BODY: one synchronous call into the wasm (trackCall, in
 * src/api/server.rs) checks and builds the user object's command, or
 * answers the error the Rust handler would; the object is called from here.
 * `undefined` leaves the request to the Rust handler.
 */
async function track(request, env) {
  const body = await smallBody(request, MAX_BODY);
  if (body === undefined) return undefined;
  const headers = request.headers;
  const call = ask(() => trackCall(request.url, headers.get("authorization"), headers.get("content-type"), body, env));
  // Not a track after all (or the wasm failed): the full path, with the body read.
  if (call === undefined) return rebuilt(request, body);
  if (call instanceof Response) return call;
  let status, text;
  try {
    [status, text] = await callUser(env, call);
  } catch (e) {
    return userObjectUnavailable(String(e?.message ?? e));
  }
  // An answer without a proper status is no answer (never a 200 by default).
  if (!Number.isInteger(status) || status < 100 || status > 599) return userObjectUnavailable("no status in the answer");
  return new Response(text, { status, headers: JSON_HEADERS });
}

/** Send the user object the command of trackCall's or protectCall's `[user, userHeader, command, plan]`: `[status, body]`. */
function callUser(env, [user, userHeader, command]) {
  return env.USERS.get(env.USERS.idFromName(user)).command(userHeader, command);
}

/** Read a request's body if its declared length is within `max` (GET and HEAD without one: empty). */
async function smallBody(request, max) {
  const length = request.headers.get("content-length");
  if (request.method === "GET" || request.method === "HEAD") {
    return length === null || length === "0" ? new Uint8Array(0) : undefined;
  }
  if (length === null || !(Number(length) <= max)) return undefined;
  try {
    return new Uint8Array(await request.arrayBuffer());
  } catch {
    // The Rust handler answers an unreadable body (400).
    return undefined;
  }
}

/** The request again, with the body smallBody read, for the Rust handler. */
function rebuilt(request, body) {
  const method = request.method;
  return new Request(request.url, { method, headers: request.headers, body: method === "GET" || method === "HEAD" ? null : body });
}

/**
 * A protected route of the app (the edge proxy, src/proxy.rs): one
 * synchronous call into the wasm (protectCall) checks the session and
 * builds the track command, the user object is called from here, a second
 * one (protectAnswer) decides from its reply, and an ALLOW is forwarded
 * from here with the signed X-ActionGate-* headers. `undefined` leaves the
 * request to the Rust handler (a Request: the same, body read): a body
 * without a declared length or over `max`, a retry with a token, a JWKS
 * not cached.
 */
async function protect(request, env, max) {
  const body = await smallBody(request, max);
  if (body === undefined) return undefined;
  const call = ask(() => protectCall(request, body, env));
  if (call === undefined) return rebuilt(request, body);
  if (call instanceof Response) return call;
  let status, text;
  try {
    [status, text] = await callUser(env, call);
  } catch (e) {
    status = 0;
    text = String(e?.message ?? e);
  }
  let next;
  try {
    next = protectAnswer(call[3], status, text, env);
  } catch (e) {
    markAborted(e);
    // Tracked, but no decision could be made: nothing is forwarded.
    return userObjectUnavailable(String(e?.message ?? e));
  }
  if (next instanceof Response) return next;
  if (next === undefined) return userObjectUnavailable("no decision");
  const [url, service, signed, cookie] = next;
  const headers = new Headers(stripped(request.headers));
  for (let i = 0; i < signed.length; i += 2) headers.set(signed[i], signed[i + 1]);
  const method = request.method;
  const init = { method, headers, redirect: "manual", body: method === "GET" || method === "HEAD" ? null : body };
  let response;
  try {
    response = await (service === undefined ? fetch(url, init) : env[service].fetch(url, init));
  } catch (e) {
    return originUnreachable(String(e?.message ?? e));
  }
  if (cookie === undefined) return response;
  response = new Response(response.body, response);
  response.headers.append("Set-Cookie", cookie);
  return response;
}

export default {
  async fetch(request, env, ctx) {
    if (request.method === "POST" && TRACK_URL.test(request.url)) {
      const answer = await track(request, env);
      if (answer instanceof Response) return answer;
      if (answer !== undefined) request = answer;
      return new Worker(ctx, env).fetch(request);
    }
    const to = target(request);
    if (to === undefined) return new Worker(ctx, env).fetch(request);
    if (typeof to === "number") {
      const answer = await protect(request, env, to);
      if (answer instanceof Response) return answer;
      if (answer !== undefined) request = answer;
      return new Worker(ctx, env).fetch(request);
    }
    const [url, service] = typeof to === "string" ? [to] : to;
    const method = request.method;
    const init = {
      method,
      headers: stripped(request.headers),
      redirect: "manual",
      body: method === "GET" || method === "HEAD" ? null : request.body,
    };
    try {
      return await (service === undefined ? fetch(url, init) : env[service].fetch(url, init));
    } catch (e) {
      return originUnreachable(String(e?.message ?? e));
    }
  },
};
