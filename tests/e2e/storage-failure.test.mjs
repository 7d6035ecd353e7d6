// Fail closed: when a user's Durable Object or the configuration in KV
// cannot be read, a protected route answers 503 and forwards nothing, and
// once storage is back the same request goes through. The failures are real
// ones: a worker of its own is stopped, the SQLite file that wrangler dev
// keeps a Durable Object's (or the KV namespace's) data in is overwritten
// with garbage, and the worker is started again over that storage, so the
// runtime fails to open it. Restoring the file and restarting recovers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker } from "./harness.mjs";
import { VARS, basic, uid } from "./lib.mjs";
import { startBank, sessionToken } from "../../demo/bank.mjs";

let worker;
let bank;
const state = mkdtempSync(join(tmpdir(), "actiongate-failure-"));

const start = () => startWorker({ state });

before(async () => {
  [worker, bank] = await Promise.all([start(), startBank(0)]);
  const r = await fetch(`${worker.baseUrl}/v1/management/configuration`, {
    method: "PUT",
    headers: { Authorization: basic(VARS.MANAGEMENT_SECRET_KEY), "Content-Type": "application/json" },
    body: JSON.stringify({
      actionConfigurations: { "guarded-withdraw": { defaultUserActionResult: "ALLOW" } },
      proxy: {
        originUrl: bank.url,
        identity: { jwt: { cookie: "session", algorithm: "HS256", secretEnv: "APP_SESSION_SECRET" } },
        routes: [{ method: "POST", path: "/api/withdraw", action: "guarded-withdraw", custom: { amount: "body:/amount" } }],
      },
    }),
  });
  assert.equal(r.status, 200, await r.text());
});
after(async () => {
  await worker?.stop();
  await bank?.close();
  rmSync(state, { recursive: true, force: true });
});

async function withdraw(user, { html = false } = {}) {
  const r = await fetch(`${worker.baseUrl}/api/withdraw`, {
    method: "POST",
    headers: {
      Cookie: `session=${sessionToken(user, VARS.APP_SESSION_SECRET)}`,
      "Content-Type": "application/json",
      Accept: html ? "text/html" : "application/json",
    },
    body: JSON.stringify({ amount: 25, to: "NZ-1" }),
    redirect: "manual",
  });
  const text = await r.text();
  return { status: r.status, type: r.headers.get("content-type") ?? "", text };
}

async function executedFor(user) {
  const ledger = await (await fetch(`${bank.url}/api/ledger`)).json();
  return ledger.executed.filter((e) => e.user === user).length;
}

const sqliteFiles = (dir) => readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");

/**
 * Overwrite a stopped worker's SQLite database (and drop its journal) with
 * garbage; returns the undo, which puts the saved copies back.
 */
function corrupt(file) {
  const saved = [];
  for (const suffix of ["", "-wal", "-shm"]) {
    if (existsSync(file + suffix)) {
      copyFileSync(file + suffix, `${file}${suffix}.saved`);
      saved.push(suffix);
      rmSync(file + suffix);
    }
  }
  writeFileSync(file, "this is not a SQLite database\n".repeat(200));
  return () => {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
    for (const suffix of saved) copyFileSync(`${file}${suffix}.saved`, file + suffix);
  };
}

/**
 * Restart the worker over storage whose `file` is corrupt, run `body`, then
 * restart it over the restored file.
 */
async function whileCorrupt(file, body) {
  await worker.stop();
  const restore = corrupt(file);
  worker = await start();
  try {
    await body();
  } finally {
    await worker.stop();
    restore();
    worker = await start();
  }
}

/** The refusal a browser gets: a 503 page that names no internals. */
async function assertUnavailablePage(user) {
  const page = await withdraw(user, { html: true });
  assert.equal(page.status, 503, page.text);
  assert.match(page.type, /text\/html/);
  assert.match(page.text, /nothing was carried out/i);
  assert.doesNotMatch(page.text, /sqlite|not a database|\.wrangler/i);
}

function assertUnavailable(r, what) {
  assert.equal(r.status, 503, `${what}: ${r.text}`);
  assert.match(r.type, /application\/json/, what);
  const body = JSON.parse(r.text);
  assert.equal(body.errorCode, "service_unavailable", what);
  assert.match(body.errorDescription, /nothing was forwarded/i, what);
  assert.doesNotMatch(r.text, /sqlite|ENOENT|ENOTDIR|internal error|\.wrangler|\/tmp\//i, `${what} leaks internals`);
}

test("the route works while storage is healthy", async () => {
  const user = uid("healthy");
  const r = await withdraw(user);
  assert.equal(r.status, 200, r.text);
  assert.equal(await executedFor(user), 1);
});

test("a user's Durable Object that cannot open its storage: 503, nothing forwarded, then recovery", async () => {
  const dir = join(worker.state, "v3", "do", "actiongate-UserObject");
  const before = new Set(sqliteFiles(dir));
  const user = uid("do-down");
  assert.equal((await withdraw(user)).status, 200);
  const created = sqliteFiles(dir).filter((f) => !before.has(f));
  assert.equal(created.length, 1, "the user's object has its own database file");
  await whileCorrupt(join(dir, created[0]), async () => {
    assertUnavailable(await withdraw(user), "API client");
    await assertUnavailablePage(user);
    // Unprotected routes do not touch storage and still pass through.
    const home = await fetch(`${worker.baseUrl}/`, { headers: { Accept: "text/html" } });
    assert.equal(home.status, 200);
    // Another user's object is unaffected.
    assert.equal((await withdraw(uid("other"))).status, 200);
    assert.equal(await executedFor(user), 1, "only the first withdrawal reached the app");
  });
  const again = await withdraw(user);
  assert.equal(again.status, 200, again.text);
  assert.equal(await executedFor(user), 2, "the retry ran exactly once");
});

test("configuration that cannot be read from KV: every app route is refused, then recovery", async () => {
  const dir = join(worker.state, "v3", "kv", "miniflare-KVNamespaceObject");
  const files = sqliteFiles(dir);
  assert.equal(files.length, 1, "one KV namespace (CONFIG)");
  const user = uid("kv-down");
  await whileCorrupt(join(dir, files[0]), async () => {
    assertUnavailable(await withdraw(user), "API client");
    await assertUnavailablePage(user);
    // Without its configuration the worker cannot tell a protected route
    // from an unprotected one, so nothing is forwarded at all.
    const home = await fetch(`${worker.baseUrl}/`, { headers: { Accept: "application/json" } });
    assert.equal(home.status, 503);
    assert.equal(await executedFor(user), 0, "nothing reached the app");
  });
  const again = await withdraw(user);
  assert.equal(again.status, 200, again.text);
  assert.equal(await executedFor(user), 1);
});
