// The app behind ActionGate as a Worker service binding (proxy.originService)
// instead of a URL: unprotected routes pass through it, protected ones reach
// it with the signed X-ActionGate-* headers. The stand-in app runs next to the
// worker (tests/e2e/origin-worker) and answers with what it received.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mgmt, uid, BASE, VARS, assertError } from "./lib.mjs";

test("the app as a service binding: pass-through and protected routes reach it; the document is checked", async () => {
  const r0 = await mgmt("PUT", "/configuration", {
    body: {
      actionConfigurations: { "svc-action": { defaultUserActionResult: "ALLOW" } },
      proxy: {
        originService: "ORIGIN_SERVICE",
        identity: { trustedHeader: { header: "X-User-Id", secretHeader: "X-Upstream-Secret", secretEnv: "API_SECRET_KEY" } },
        routes: [{ method: "POST", path: "/svc/act", action: "svc-action", custom: { amount: "body:/amount" } }],
      },
    },
  });
  assert.equal(r0.status, 200, JSON.stringify(r0.body));

  let r = await fetch(`${BASE}/svc/ping?x=1`);
  assert.equal(r.status, 200);
  let body = await r.json();
  assert.equal(body.via, "service-binding");
  assert.equal(body.path, "/svc/ping?x=1");
  assert.deepEqual(body.headers, {}, "nothing added to unprotected routes");
  // Once the configuration is cached, unprotected requests are forwarded by
  // the worker's JavaScript entry: method, path, query and body unchanged,
  // client X-ActionGate-* headers dropped.
  for (let i = 0; i < 2; i++) {
    r = await fetch(`${BASE}/svc/echo?y=2&z=%20`, { method: "PUT", headers: { "X-ActionGate-State": "ALLOW" }, body: "raw body" });
    assert.equal(r.status, 200);
    body = await r.json();
    assert.deepEqual([body.via, body.method, body.path, body.body], ["service-binding", "PUT", "/svc/echo?y=2&z=%20", "raw body"]);
    assert.deepEqual(body.headers, {});
  }

  const user = uid("svc");
  r = await fetch(`${BASE}/svc/act`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-User-Id": user, "X-Upstream-Secret": VARS.API_SECRET_KEY, "X-ActionGate-State": "forged" },
    body: JSON.stringify({ amount: 5 }),
  });
  assert.equal(r.status, 200);
  body = await r.json();
  assert.equal(body.via, "service-binding");
  assert.equal(body.body, JSON.stringify({ amount: 5 }));
  assert.equal(body.headers["x-actiongate-user-id"], user);
  assert.equal(body.headers["x-actiongate-action"], "svc-action");
  assert.equal(body.headers["x-actiongate-state"], "ALLOW", "the client's copy was replaced");
  assert.match(body.headers["x-actiongate-signature"], /^v2=/);
  assert.equal(body.headers["x-actiongate-body-sha256"], createHash("sha256").update(JSON.stringify({ amount: 5 })).digest("hex"));

  // Both, or a binding name that is not one, is refused.
  const bad = await mgmt("POST", "/configuration/validate", {
    body: { proxy: { originService: "ORIGIN_SERVICE", originUrl: "https://app.example", identity: { trustedHeader: { header: "X-User-Id", secretHeader: "X-S", secretEnv: "API_SECRET_KEY" } } } },
  });
  assert.equal(bad.body.valid, false);
  assert.ok(bad.body.problems.some((p) => p.includes("not both")), JSON.stringify(bad.body));
  assertError(await mgmt("PUT", "/configuration", {
    body: { proxy: { originService: "lower-case", identity: { trustedHeader: { header: "X-User-Id", secretHeader: "X-S", secretEnv: "API_SECRET_KEY" } } } },
  }), 400, "invalid_request");
  // Leave no proxy behind for other tests.
  await mgmt("PUT", "/configuration", { body: {} });
});
