// ANALYTICS=off (docs/operations.md): tracks are answered as ever and
// nothing is counted; the analytics API still answers, with no tracks.
// The variable is read by its own name: the analytics shards' binding is
// named otherwise (ANALYTICS_SHARDS), so setting it takes nothing away.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "./harness.mjs";
import { API_SECRET, MGMT_SECRET, callerOf, uid } from "./lib.mjs";

const FLUSH_SECONDS = 1;
let worker;
before(async () => {
  worker = await startWorker({
    extraArgs: ["--var", "ANALYTICS:off", "--var", `ANALYTICS_FLUSH_SECONDS:${FLUSH_SECONDS}`],
  });
});
after(() => worker?.stop());

const call = callerOf(() => worker.baseUrl);

test("ANALYTICS=off: tracks work, nothing is counted, the analytics API answers", async () => {
  const action = `off-${uid("o").slice(-8)}`;
  const user = uid("off");
  for (let i = 0; i < 3; i++) {
    const t = await call("POST", `/v1/users/${user}/actions/${action}`, { secret: API_SECRET, body: { custom: { i } } });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.state, "ALLOW");
  }
  // Well past the flush delay: a count would have travelled by now.
  await new Promise((r) => setTimeout(r, (FLUSH_SECONDS + 3) * 1000));
  const today = new Date().toISOString().slice(0, 10);
  const r = await call("GET", `/v1/management/analytics?actionCode=${action}&from=${today}&to=${today}`, { secret: MGMT_SECRET });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.days.find((d) => d.actionCode === action)?.tracks ?? 0, 0, JSON.stringify(r.body));
  const listed = await call("GET", `/v1/users/${user}/actions`, { secret: API_SECRET });
  assert.equal(listed.body.length, 3, "the tracks themselves are stored");
});
