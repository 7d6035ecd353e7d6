// The demo bank's hints tell the truth: each "try" names the rule of
// config/demo.json that decides it, and simulating that withdrawal against
// the demo configuration gives that rule and that outcome.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mgmt, uid } from "./lib.mjs";
import { ROOT } from "./harness.mjs";
import { TRIES } from "../../demo/bank.mjs";

const OUTCOME = {
  "allowed": "ALLOW", "challenged": "CHALLENGE_REQUIRED", "held for review": "REVIEW_REQUIRED",
  "challenged, then reviewed": "CHALLENGE_REQUIRED", "blocked": "BLOCK",
};

test("every try on the demo bank's page is decided by the rule it names", async () => {
  const doc = JSON.parse(readFileSync(join(ROOT, "config", "demo.json"), "utf8"));
  assert.equal((await mgmt("PUT", "/configuration", { body: doc })).status, 200);
  assert.equal(TRIES.length, 5);
  for (const t of TRIES) {
    const custom = { amount: t.amount, destinationAccount: t.to };
    if (t.payee) custom.destinationAddedAt = Math.floor(Date.now() / 1000);
    const r = await mgmt("POST", "/simulate", { body: { userId: uid("demo"), action: "withdraw-funds", attributes: { custom } } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const named = t.why.match(/^rule ([a-z-]+)/)?.[1];
    if (named) {
      assert.equal(r.body.priorityRuleId, named, `${t.amount} to ${t.to}`);
      assert.equal(r.body.state, OUTCOME[t.what], `${t.amount} to ${t.to}`);
    } else {
      // No rule (a simulation names no device, so none is new).
      assert.deepEqual(r.body.ruleIds, [], `${t.amount} to ${t.to}`);
      assert.equal(r.body.state, OUTCOME[t.what]);
    }
    if (t.what === "challenged, then reviewed") assert.equal(r.body.reviewAfterChallenge, true);
  }
});
