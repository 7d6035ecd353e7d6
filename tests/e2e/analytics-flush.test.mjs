// Analytics counts with no webhook configured: nothing else wakes the
// user's object, so its counts travel to their shard only when
// ANALYTICS_FLUSH_SECONDS has passed since the first one, all together.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { API_SECRET, MGMT_SECRET, basic, uid } from "./lib.mjs";

const FLUSH_SECONDS = 6;
let worker;
before(async () => {
  // Later --var flags win: no webhook of any kind, a short flush delay.
  worker = await startWorker({
    extraArgs: [
      ...["--var", "WEBHOOK_URL:", "--var", "EMAIL_WEBHOOK_URL:", "--var", "SMS_WEBHOOK_URL:"],
      ...["--var", `ANALYTICS_FLUSH_SECONDS:${FLUSH_SECONDS}`],
    ],
  });
});
after(() => worker?.stop());

async function call(method, path, secret, body) {
  const r = await fetch(`${worker.baseUrl}${path}`, {
    method,
    headers: { Authorization: basic(secret), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

test("a user's counts wait ANALYTICS_FLUSH_SECONDS, then arrive together", async () => {
  const action = `fl-${uid("f").slice(-8)}`;
  const r0 = await call("PUT", `/v1/management/action-configurations/${action}`, MGMT_SECRET, {
    defaultUserActionResult: "ALLOW",
    verificationMethods: ["AUTHENTICATOR_APP"],
  });
  assert.ok([200, 201].includes(r0.status), JSON.stringify(r0.body));
  const user = uid("flush");
  const started = Date.now();
  for (let i = 0; i < 3; i++) {
    const t = await call("POST", `/v1/users/${user}/actions/${action}`, API_SECRET, { custom: { i } });
    assert.equal(t.body.state, "ALLOW", JSON.stringify(t.body));
  }
  const today = new Date().toISOString().slice(0, 10);
  const tracks = async () => {
    const r = await call("GET", `/v1/management/analytics?actionCode=${action}&from=${today}&to=${today}`, MGMT_SECRET);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.days.find((d) => d.actionCode === action)?.tracks ?? 0;
  };
  // Well inside the delay nothing has travelled yet.
  assert.equal(await tracks(), 0);
  assert.ok(Date.now() - started < (FLUSH_SECONDS - 1) * 1000, "the first check ran inside the delay");
  let seen = 0;
  for (let i = 0; i < 80 && seen < 3; i++) {
    await new Promise((res) => setTimeout(res, 250));
    seen = await tracks();
    // Counts travel as one batch: never part of them.
    assert.ok(seen === 0 || seen === 3, `${seen} tracks counted`);
  }
  assert.equal(seen, 3);
  const waited = Date.now() - started;
  assert.ok(waited >= (FLUSH_SECONDS - 1) * 1000, `counted after ${waited} ms`);
});
