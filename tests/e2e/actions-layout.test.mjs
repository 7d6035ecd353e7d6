// A user object whose actions are stored in the earlier layout (rows keyed
// by action code and idempotency key, an index by creation time) moves them
// to this version's (time-ordered row ids, the key in a unique index, the
// holds' due times in a column) the first time it wakes, all or nothing.
// The earlier layout is made for real: a worker of its own stores a user's
// tracks and a held withdrawal, is stopped, and the user's SQLite file is
// rewritten to the earlier tables (node:sqlite) before the worker starts
// again over it. Asserted: what the API answers afterwards (the same
// actions, idempotency, listing and its date filter, a new track after
// them), what the file holds (the new layout, the hold's due time, the
// analytics' count mark moved to the new ids), that every track is counted
// in analytics exactly once, that the held withdrawal is still released
// exactly once, and that a move which cannot finish changes nothing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { startWorker } from "./harness.mjs";
import { VARS, callerOf, uid, totpCode } from "./lib.mjs";
import { startBank, sessionToken } from "../../demo/bank.mjs";

let worker;
let bank;
const state = mkdtempSync(join(tmpdir(), "actiongate-layout-"));
const start = () => startWorker({ state });

const call = callerOf(() => worker.baseUrl);
const api = (method, path, body) => call(method, path, { secret: VARS.API_SECRET_KEY, body });
const session = (user) => `session=${sessionToken(user, VARS.APP_SESSION_SECRET, 3600)}`;
/** The tracks of `action` that analytics counted (yesterday and today: a run may cross midnight). */
async function counted(action) {
  const day = (ms) => new Date(ms).toISOString().slice(0, 10);
  const r = await call("GET", `/v1/management/analytics?actionCode=${action}&from=${day(Date.now() - 86_400_000)}&to=${day(Date.now())}`, { secret: VARS.MANAGEMENT_SECRET_KEY });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.days.filter((d) => d.actionCode === action).reduce((n, d) => n + d.tracks, 0);
}

/** Wait until analytics counted `n` tracks of `action` (ANALYTICS_FLUSH_SECONDS is 2 in .dev.vars). */
async function countedReaches(action, n) {
  for (let i = 0; i < 80; i++) {
    const seen = await counted(action);
    assert.ok(seen <= n, `${seen} tracks of ${action} counted, ${n} made`);
    if (seen === n) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`analytics never counted ${n} tracks of ${action}`);
}

const executed = async (user) => (await (await fetch(`${bank.url}/api/ledger`)).json()).executed.filter((e) => e.user === user);

before(async () => {
  [worker, bank] = await Promise.all([start(), startBank(0)]);
  const doc = {
    actionConfigurations: {
      "layout-track": { defaultUserActionResult: "ALLOW" },
      "layout-withdraw": { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP"] },
    },
    proxy: {
      originUrl: bank.url,
      identity: { jwt: { cookie: "session", algorithm: "HS256", secretEnv: "APP_SESSION_SECRET" }, loginUrl: "/login" },
      routes: [{ method: "POST", path: "/api/withdraw", action: "layout-withdraw", custom: { amount: "body:/amount" } }],
    },
  };
  const r = await call("PUT", "/v1/management/configuration", { secret: VARS.MANAGEMENT_SECRET_KEY, body: doc });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await worker?.stop();
  await bank?.close();
  rmSync(state, { recursive: true, force: true });
});

/** The user object's database file that holds the action keyed `key`. */
function databaseWith(key) {
  const dir = join(worker.state, "v3", "do", "actiongate-UserObject");
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")) {
    const db = new DatabaseSync(join(dir, f), { readOnly: true });
    try {
      if (db.prepare("SELECT 1 FROM actions WHERE idempotency_key = ?").get(key)) return join(dir, f);
    } catch {
      // another object's database, without an actions table
    } finally {
      db.close();
    }
  }
  throw new Error(`no database holds the action ${key}`);
}

/**
 * The stopped worker's actions in `file`, in their order, and how many of
 * them the count mark says were counted.
 */
function actionRows(file) {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const rows = db.prepare("SELECT rowid AS id, action_code, idempotency_key, state, created_at, data FROM actions ORDER BY rowid").all();
    const mark = db.prepare("SELECT counted_rowid FROM counting WHERE id = 1").get()?.counted_rowid ?? 0;
    return { rows, countedRows: rows.filter((r) => r.id <= mark).length };
  } finally {
    db.close();
  }
}

/**
 * Rewrite the stopped worker's `file` to the earlier layout holding `rows`
 * in their order (row ids 1, 2, ...), with the count mark at `mark`: as it
 * was, or `loose` (no key, no NOT NULL on created_at), which lets in rows
 * the move cannot take.
 */
function toEarlierLayout(file, rows, { user, mark, loose = false }) {
  const db = new DatabaseSync(file);
  try {
    db.exec(`BEGIN;
      DROP TABLE actions;
      CREATE TABLE actions (
        action_code TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER${loose ? "" : " NOT NULL"},
        data TEXT NOT NULL${loose ? "" : ",\n        PRIMARY KEY (action_code, idempotency_key)"}
      );
      CREATE INDEX actions_by_created ON actions (created_at);
      CREATE INDEX actions_by_code_created ON actions (action_code, created_at);`);
    const insert = db.prepare("INSERT INTO actions (action_code, idempotency_key, state, created_at, data) VALUES (?, ?, ?, ?, ?)");
    for (const r of rows) insert.run(r.action_code, r.idempotency_key, r.state, r.created_at, r.data);
    db.prepare("INSERT INTO counting (id, user_id, counted_rowid) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET counted_rowid = excluded.counted_rowid").run(user, mark);
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

/** What the stopped worker's `file` holds of the actions table. */
function inspect(file) {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return {
      layout: db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'actions'").get().sql,
      leftover: db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'actions_v1'").get().n,
      rows: db.prepare(`SELECT ${/hold_due_at/.test(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'actions'").get().sql) ? "id, hold_due_at," : "rowid AS id,"} action_code, idempotency_key, created_at, data FROM actions ORDER BY 1`).all(),
      mark: db.prepare("SELECT counted_rowid FROM counting WHERE id = 1").get()?.counted_rowid,
      indexes: db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'actions' AND sql IS NOT NULL ORDER BY name").all().map((r) => r.name),
    };
  } finally {
    db.close();
  }
}

test("an object of the earlier layout moves to this one, all or nothing, and loses nothing", async () => {
  const user = uid("layout");
  const track = (body) => api("POST", `/v1/users/${user}/actions/layout-track`, body);
  const first = await track({ idempotencyKey: "layout-k1", custom: { n: 1 } });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal((await track({ idempotencyKey: "layout-k2", custom: { n: 2 } })).status, 200);
  await new Promise((r) => setTimeout(r, 20));
  const third = await track({ custom: { n: 3 } });
  assert.equal(third.status, 200);
  // A withdrawal held back for its challenge.
  const held = await call("POST", "/api/withdraw", { cookie: session(user), body: { amount: 700 } });
  assert.equal(held.status, 401, JSON.stringify(held.body));
  assert.equal(held.body.errorCode, "challenge_required");
  const listed = await api("GET", `/v1/users/${user}/actions`);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.equal(listed.body.length, 4);
  const k1 = await api("GET", `/v1/users/${user}/actions/layout-track/layout-k1`);
  assert.equal(k1.status, 200);
  // Every track so far counted, so the count mark is on the last row.
  await countedReaches("layout-track", 3);
  await countedReaches("layout-withdraw", 1);

  // A move that cannot finish (a row without a creation time, which a
  // loose earlier table lets in): refused, and nothing changed.
  await worker.stop();
  const file = databaseWith("layout-k1");
  const { rows, countedRows } = actionRows(file);
  assert.equal(rows.length, 4);
  assert.equal(countedRows, 4);
  const broken = { ...rows[0], idempotency_key: "layout-broken", created_at: null };
  toEarlierLayout(file, [...rows, broken], { user, mark: countedRows, loose: true });
  worker = await start();
  const refused = await api("GET", `/v1/users/${user}/actions/layout-track/layout-k1`);
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.equal(refused.body.errorCode, "service_unavailable");
  assert.doesNotMatch(JSON.stringify(refused.body), /sqlite|actions_v1|UNIQUE|constraint/i, "no internals");
  await worker.stop();
  let seen = inspect(file);
  assert.doesNotMatch(seen.layout, /hold_due_at/, "still the earlier layout");
  assert.equal(seen.leftover, 0);
  assert.equal(seen.rows.length, 5, "every row of the earlier table is still there");
  assert.deepEqual(seen.indexes, ["actions_by_code_created", "actions_by_created"]);

  // The earlier layout as it really was, plus a held request in review and
  // one released (neither is due), with the count mark on the second row:
  // the rows after it count again, once.
  const heldRow = rows.find((r) => r.action_code === "layout-withdraw");
  const variant = (key, change) => {
    const data = { ...JSON.parse(heldRow.data), idempotencyKey: key, ...change };
    return { ...heldRow, idempotency_key: key, state: data.state, data: JSON.stringify(data) };
  };
  const extras = [
    variant("layout-in-review", { state: "REVIEW_REQUIRED" }),
    variant("layout-released", { replayedAt: heldRow.created_at + 1 }),
  ];
  const extraKeys = new Set(extras.map((r) => r.idempotency_key));
  const ours = (list) => list.filter((a) => !extraKeys.has(a.idempotencyKey));
  toEarlierLayout(file, [...rows, ...extras], { user, mark: 2 });
  worker = await start();
  const again = await api("GET", `/v1/users/${user}/actions/layout-track/layout-k1`);
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.deepEqual(again.body, k1.body, "the action reads as it did");
  await worker.stop();
  seen = inspect(file);
  assert.match(seen.layout, /id INTEGER PRIMARY KEY/);
  assert.match(seen.layout, /hold_due_at/);
  assert.equal(seen.leftover, 0, "the earlier table is gone");
  assert.deepEqual(seen.indexes, ["actions_by_code_created", "actions_by_key", "actions_held"]);
  assert.deepEqual(
    seen.rows.map((r) => [r.action_code, r.idempotency_key]),
    [...rows, ...extras].map((r) => [r.action_code, r.idempotency_key]),
    "the same rows, in the same order",
  );
  let last = 0;
  for (const r of seen.rows) {
    assert.ok(r.id > last && r.id >= r.created_at * 1024, `id ${r.id} after ${last}, not before its time ${r.created_at}`);
    last = r.id;
  }
  // On the second row, or past the rows after it once the alarm counted them.
  assert.ok([seen.rows[1].id, seen.rows.at(-1).id].includes(seen.mark), `count mark ${seen.mark}`);
  const holding = seen.rows.filter((r) => r.hold_due_at !== null);
  assert.equal(holding.length, 1, "one row holds a request that comes due");
  assert.equal(holding[0].idempotency_key, heldRow.idempotency_key);
  assert.equal(holding[0].hold_due_at, JSON.parse(holding[0].data).pendingRequest.expiresAt);

  // The API over the moved rows.
  worker = await start();
  const relisted = await api("GET", `/v1/users/${user}/actions`);
  assert.equal(relisted.body.length, listed.body.length + extras.length);
  assert.deepEqual(ours(relisted.body), listed.body, "the same list, newest first");
  const repeat = await track({ idempotencyKey: "layout-k1", custom: { n: 99 } });
  assert.equal(repeat.status, 200);
  assert.equal(repeat.body.idempotencyKey, "layout-k1");
  assert.equal(repeat.body.state, first.body.state, "a known key returns the stored action");
  const since = seen.rows[1].created_at;
  const from = await api("GET", `/v1/users/${user}/actions?fromDate=${encodeURIComponent(new Date(since).toISOString())}`);
  assert.equal(from.status, 200);
  assert.deepEqual(
    ours(from.body).map((a) => a.idempotencyKey),
    listed.body.filter((a) => Date.parse(a.createdAt) >= since).map((a) => a.idempotencyKey),
  );
  assert.ok(from.body.length >= 3, JSON.stringify(from.body));
  const fourth = await track({ custom: { n: 4 } });
  assert.equal(fourth.status, 200);
  const newest = await api("GET", `/v1/users/${user}/actions?limit=1`);
  assert.equal(newest.body[0].idempotencyKey, fourth.body.idempotencyKey, "a new track lists first");
  // Counted as the mark says: before the move 3 and 1; after it the rows
  // past the second once more (the third track, the withdrawal and the two
  // added), and the new track.
  await countedReaches("layout-track", 5);
  await countedReaches("layout-withdraw", 4);
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(await counted("layout-track"), 5, "no track counted more often");
  assert.equal(await counted("layout-withdraw"), 4, "no withdrawal counted more often");

  // The held withdrawal is still released, once.
  const token = held.body.token;
  const enrolled = await call("POST", "/v1/client/user-authenticators/totp", { token, body: {} });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  const verified = await call("POST", "/v1/client/verify/totp", { token, body: { verificationCode: totpCode(enrolled.body.secret) } });
  assert.equal(verified.body.isVerified, true, JSON.stringify(verified.body));
  const resumed = await call("POST", "/api/withdraw", { cookie: session(user), body: { amount: 700 }, headers: { "X-ActionGate-Token": token } });
  assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
  const twice = await call("POST", "/api/withdraw", { cookie: session(user), body: { amount: 700 }, headers: { "X-ActionGate-Token": token } });
  assert.notEqual(twice.status, 200);
  assert.equal((await executed(user)).length, 1, "the bank ran it exactly once");
  await worker.stop();
  seen = inspect(file);
  assert.equal(seen.rows.filter((r) => r.hold_due_at !== null).length, 0, "a released request is no longer due");
  worker = await start();
});

test("an object stamped by another schema runs this version's schema again; its own stamp spares it", async () => {
  const user = uid("stamp");
  const track = (key) => api("POST", `/v1/users/${user}/actions/layout-track`, { idempotencyKey: key });
  assert.equal((await track("stamp-k1")).status, 200);
  await worker.stop();
  const file = databaseWith("stamp-k1");
  const read = () => {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      return {
        stamp: db.prepare("SELECT value FROM meta WHERE key = 'schema'").get()?.value,
        objects: db.prepare("SELECT name FROM sqlite_master WHERE name IN ('server_challenges', 'actions_held') ORDER BY name").all().map((r) => r.name),
      };
    } finally {
      db.close();
    }
  };
  const stamped = read();
  assert.match(stamped.stamp ?? "", /^[0-9a-f]{16}$/, "the schema's stamp is stored");
  assert.deepEqual(stamped.objects, ["actions_held", "server_challenges"]);

  // Tables made by another schema (one without a table and an index of
  // this one): the object makes what is missing and stamps them anew.
  const db = new DatabaseSync(file);
  db.exec("DROP TABLE server_challenges; DROP INDEX actions_held; UPDATE meta SET value = '0123456789abcdef' WHERE key = 'schema'");
  db.close();
  worker = await start();
  assert.equal((await track("stamp-k2")).status, 200);
  const listed = await api("GET", `/v1/users/${user}/actions`);
  assert.deepEqual(listed.body.map((a) => a.idempotencyKey), ["stamp-k2", "stamp-k1"]);
  await worker.stop();
  assert.deepEqual(read(), stamped, "the schema ran again and stamped the tables as this version's");
  worker = await start();
  assert.equal((await track("stamp-k1")).body.idempotencyKey, "stamp-k1", "and the object reads as before");
});
