// The history of an action configuration through the management API:
// every change is a numbered version with who, when and what, and the
// configuration before and after; any state can be put back (the rule's
// decisions follow at once), and a restore is a version of its own. And
// every wrong field of a body is told at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authsignal, mgmt, uid, assertError } from "./lib.mjs";

const RULE = { name: "Big", priority: 1, type: "CHALLENGE", conditions: { ">": [{ var: "action.custom.amount" }, 100] } };
const as = (name) => ({ headers: { "X-ActionGate-Actor": name } });

async function track(action, amount) {
  return (await authsignal.track({ userId: uid("v"), action, attributes: { custom: { amount } } })).state;
}

test("every change is a version: who, when, what, before and after; restore and undo put a state back", async () => {
  const code = `hist-${uid("c").slice(-8)}`;
  let r = await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" }, ...as("Rita Risk") });
  assert.equal(r.status, 201);
  r = await mgmt("PUT", `/action-configurations/${code}/rules/big`, { body: RULE, ...as("Rita Risk") });
  assert.equal(r.status, 201);
  r = await mgmt("PUT", `/action-configurations/${code}/rules/big`, { body: { ...RULE, priority: 5 } });
  assert.equal(r.status, 200);
  assert.equal(await track(code, 500), "CHALLENGE_REQUIRED");

  // Delete the rule: the answer names the version, so it can be undone.
  r = await mgmt("DELETE", `/action-configurations/${code}/rules/big`, as("Rita Risk"));
  assert.equal(r.status, 200);
  assert.equal(r.body.deleted, true);
  const deletion = r.body.version;
  assert.ok(Number.isInteger(deletion) && deletion > 0, JSON.stringify(r.body));
  assert.equal(await track(code, 500), "ALLOW", "the deleted rule no longer decides");

  r = await mgmt("GET", `/action-configurations/${code}/versions`);
  assert.equal(r.status, 200);
  const changes = r.body.versions.map((v) => v.change);
  assert.deepEqual(changes, ["deleted rule big", "changed rule big", "added rule big", "created the configuration"]);
  const [del, changed, , created] = r.body.versions;
  assert.equal(del.version, deletion);
  assert.ok(r.body.versions.every((v, i, all) => i === 0 || all[i - 1].version > v.version), "newest first");
  assert.deepEqual(del.actor, { name: "Rita Risk", via: "API" });
  assert.deepEqual(changed.actor, { name: null, via: "API" }, "no name given: none recorded");
  assert.ok(Date.now() - Date.parse(del.at) < 60_000);
  assert.equal(del.before, undefined, "the list carries no configurations");

  // One version: the configuration before and after it, in the API's form.
  r = await mgmt("GET", `/action-configurations/${code}/versions/${deletion}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.before.rules.length, 1);
  assert.equal(r.body.before.rules[0].priority, 5);
  assert.deepEqual(r.body.after.rules, []);
  r = await mgmt("GET", `/action-configurations/${code}/versions/${created.version}`);
  assert.equal(r.body.before, null, "nothing before the configuration was created");
  assert.equal(r.body.after.defaultUserActionResult, "ALLOW");

  // Undo the deletion: the rule is back and decides again.
  r = await mgmt("POST", `/action-configurations/${code}/versions/${deletion}/restore`, { body: { to: "BEFORE" }, ...as("Rita Risk") });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.rules[0].ruleId, "big");
  assert.equal(r.body.rules[0].priority, 5);
  assert.equal(await track(code, 500), "CHALLENGE_REQUIRED", "the restored rule decides at once");

  // Restore the state right after "added rule big" (priority 1).
  const added = (await mgmt("GET", `/action-configurations/${code}/versions`)).body.versions.find((v) => v.change === "added rule big");
  r = await mgmt("POST", `/action-configurations/${code}/versions/${added.version}/restore`);
  assert.equal(r.status, 200);
  assert.equal(r.body.rules[0].priority, 1);
  r = await mgmt("GET", `/action-configurations/${code}/versions?limit=2`);
  assert.equal(r.body.versions.length, 2);
  assert.match(r.body.versions[0].change, new RegExp(`restored the configuration as it was after version ${added.version}`));
  assert.match(r.body.versions[1].change, new RegExp(`as it was before version ${deletion}`));
  assert.equal(typeof r.body.nextBefore, "number", "more pages");
  const older = await mgmt("GET", `/action-configurations/${code}/versions?before=${r.body.nextBefore}&limit=100`);
  assert.equal(older.body.versions.length, 4);
  assert.equal(older.body.nextBefore, undefined);

  // Undo the creation: the configuration is gone (and that, too, is a version).
  r = await mgmt("POST", `/action-configurations/${code}/versions/${created.version}/restore`, { body: { to: "BEFORE" } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { actionCode: code, deleted: true });
  assertError(await mgmt("GET", `/action-configurations/${code}`), 404, "action_configuration_not_found");
  r = await mgmt("GET", `/action-configurations/${code}/versions?limit=1`);
  assert.match(r.body.versions[0].change, /as it was before version/);
});

test("concurrent writes lose nothing: every rule whose write succeeded is in the configuration, the others were told 409", async () => {
  const code = `hist-${uid("c").slice(-8)}`;
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  const ids = ["r1", "r2", "r3", "r4", "r5", "r6"];
  const answers = await Promise.all(ids.map((id, i) =>
    mgmt("PUT", `/action-configurations/${code}/rules/${id}`, { body: { ...RULE, name: id, priority: i } })));
  const kept = (await mgmt("GET", `/action-configurations/${code}`)).body.rules.map((r) => r.ruleId).sort();
  const succeeded = ids.filter((_, i) => answers[i].status === 201).sort();
  for (const [i, a] of answers.entries()) {
    assert.ok(a.status === 201 || a.status === 409, `${ids[i]}: ${a.status} ${JSON.stringify(a.body)}`);
    if (a.status === 409) assertError(a, 409, "configuration_changed");
  }
  assert.deepEqual(kept, succeeded, "no write that succeeded was lost");
  assert.ok(succeeded.length >= 1);
  // The history has exactly the writes that succeeded.
  const versions = (await mgmt("GET", `/action-configurations/${code}/versions`)).body.versions;
  assert.equal(versions.filter((v) => v.change.startsWith("added rule")).length, succeeded.length);
});

test("versions: unknown and malformed numbers, other actions' versions, bad bodies and names are refused", async () => {
  const code = `hist-${uid("c").slice(-8)}`;
  const other = `hist-${uid("o").slice(-8)}`;
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  const mine = (await mgmt("GET", `/action-configurations/${code}/versions`)).body.versions[0].version;
  assertError(await mgmt("GET", `/action-configurations/${other}/versions/${mine}`), 404, "version_not_found");
  assertError(await mgmt("GET", `/action-configurations/${code}/versions/999999999`), 404, "version_not_found");
  assertError(await mgmt("GET", `/action-configurations/${code}/versions/0`), 400, "invalid_request");
  assertError(await mgmt("GET", `/action-configurations/${code}/versions/x1`), 400, "invalid_request");
  assertError(await mgmt("GET", `/action-configurations/${code}/versions?limit=0`), 400, "invalid_request");
  assertError(await mgmt("GET", `/action-configurations/${code}/versions?page=2`), 400, "invalid_request");
  assertError(await mgmt("POST", `/action-configurations/${code}/versions/${mine}/restore`, { body: { to: "SIDEWAYS" } }), 400, "invalid_request");
  assertError(await mgmt("POST", `/action-configurations/${code}/versions/${mine}/restore`, { body: { extra: 1 } }), 400, "invalid_request");
  assertError(await mgmt("POST", `/action-configurations/${code}/versions/${mine}`), 405, "method_not_allowed");
  assertError(await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" }, headers: { "X-ActionGate-Actor": " " } }), 400, "invalid_request");
  assertError(await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" }, headers: { "X-ActionGate-Actor": "x".repeat(201) } }), 400, "invalid_request");
  // Nothing was written by the refused requests.
  assert.equal((await mgmt("GET", `/action-configurations/${code}/versions`)).body.versions.length, 1);
});

test("a restore whose rules name a list that is gone is refused with the problem, and changes nothing", async () => {
  const code = `hist-${uid("c").slice(-8)}`;
  const alias = `hist-list-${uid("l").slice(-6)}`;
  assert.equal((await mgmt("PUT", `/value-lists/${alias}`, { body: { name: "Mules", itemType: "string", items: ["NZ-1"] } })).status, 201);
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  const rule = { name: "Mule", priority: 1, type: "BLOCK", conditions: { inValueList: [{ var: "action.custom.to" }, alias] } };
  assert.equal((await mgmt("PUT", `/action-configurations/${code}/rules/mule`, { body: rule })).status, 201);
  const del = await mgmt("DELETE", `/action-configurations/${code}/rules/mule`);
  assert.equal((await mgmt("DELETE", `/value-lists/${alias}`)).status, 200);
  const r = await mgmt("POST", `/action-configurations/${code}/versions/${del.body.version}/restore`, { body: { to: "BEFORE" } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, new RegExp(alias));
  assert.deepEqual((await mgmt("GET", `/action-configurations/${code}`)).body.rules, []);
});

test("a rule or configuration with several wrong fields is told every one, located", async () => {
  const code = `hist-${uid("c").slice(-8)}`;
  await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "ALLOW" } });
  let r = await mgmt("PUT", `/action-configurations/${code}/rules/bad`, {
    body: { name: 7, priority: "high", type: "CHALENGE", conditions: true, verificationMethods: ["EMAIL_OTP", "CARRIER_PIGEON"], colour: "red" },
  });
  assertError(r, 400, "invalid_request");
  assert.ok(Array.isArray(r.body.problems), JSON.stringify(r.body));
  for (const field of ["name", "priority", "type", "verificationMethods[1]", "colour"]) {
    assert.ok(r.body.problems.some((p) => p.startsWith(`${field}: `)), `${field}: ${JSON.stringify(r.body.problems)}`);
  }
  assert.match(r.body.errorDescription, /CHALENGE/);
  r = await mgmt("PUT", `/action-configurations/${code}`, { body: { defaultUserActionResult: "MAYBE", verificationMethods: "EMAIL_OTP" } });
  assertError(r, 400, "invalid_request");
  assert.equal(r.body.problems.length, 2, JSON.stringify(r.body));
  // One wrong field reads as before.
  r = await mgmt("PUT", `/action-configurations/${code}/rules/bad`, { body: { name: "x", priority: 1, type: "MAYBE", conditions: true } });
  assertError(r, 400, "invalid_request");
  assert.match(r.body.errorDescription, /^type: unknown variant `MAYBE`/);
  assert.deepEqual((await mgmt("GET", `/action-configurations/${code}`)).body.rules, [], "nothing stored");
});
