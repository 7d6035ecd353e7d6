// A worker started without its secrets refuses to serve the API rather than
// fall back to any default, and says so without naming the secret. One
// deployed with the example's development secrets refuses too, naming them.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker, devVars } from "./harness.mjs";
import { startBank, sessionToken } from "../../demo/bank.mjs";

let worker;
let dir;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "actiongate-nosecrets-"));
  const envFile = join(dir, "empty.env");
  writeFileSync(envFile, "# no secrets\n");
  // --env-file replaces .dev.vars: the worker gets no secrets at all.
  worker = await startWorker({ extraArgs: ["--env-file", envFile] });
});
after(async () => {
  await worker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("without secrets every API call is refused with a generic 500", async () => {
  const { API_SECRET_KEY, MANAGEMENT_SECRET_KEY } = devVars();
  const calls = [
    ["POST", "/v1/users/alice/actions/withdraw-funds", API_SECRET_KEY],
    ["GET", "/v1/users/alice", API_SECRET_KEY],
    ["POST", "/v1/validate", API_SECRET_KEY],
    ["GET", "/v1/management/action-configurations", MANAGEMENT_SECRET_KEY],
    // An empty user name must not match an empty (missing) secret.
    ["GET", "/v1/users/alice", ""],
  ];
  for (const body of await refusals(worker.baseUrl, calls)) {
    assert.ok(!/API_SECRET_KEY|MANAGEMENT_SECRET_KEY|TOKEN_SIGNING_KEY/.test(body.errorDescription));
  }
});

/** Make each call (`[method, path, Basic secret]`); each must be a 500 `server_misconfigured`. */
async function refusals(baseUrl, calls) {
  const bodies = [];
  for (const [method, path, secret] of calls) {
    const r = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { Authorization: "Basic " + Buffer.from(`${secret}:`).toString("base64"), "Content-Type": "application/json" },
      body: method === "POST" ? "{}" : undefined,
    });
    assert.equal(r.status, 500, `${method} ${path}`);
    const body = await r.json();
    assert.equal(body.error, "server_misconfigured");
    bodies.push(body);
  }
  return bodies;
}

test("the example's development secrets on a deployed host: every API call is refused, naming the secret", async () => {
  // --local-upstream makes requests arrive for a deployed host name (not
  // localhost), with .dev.vars' development secrets.
  const deployed = await startWorker({
    extraArgs: ["--local-upstream", "actiongate.example.com"],
    ready: (r) => r.status === 500,
  });
  try {
    const { API_SECRET_KEY, MANAGEMENT_SECRET_KEY } = devVars();
    const calls = [
      ["POST", "/v1/users/alice/actions/withdraw-funds", API_SECRET_KEY],
      ["POST", "/v1/validate", API_SECRET_KEY],
      ["GET", "/v1/management/action-configurations", MANAGEMENT_SECRET_KEY],
      ["POST", "/v1/client/challenge", "actiongate"],
      ["GET", "/__actiongate/outbox.json", ""],
    ];
    for (const body of await refusals(deployed.baseUrl, calls)) {
      assert.match(body.errorDescription, /API_SECRET_KEY is the example's development value/);
      assert.ok(!body.errorDescription.includes(API_SECRET_KEY), "never the value");
    }
  } finally {
    await deployed.stop();
  }
});

test("deployed with real secrets: the dev outbox stays shut and sign-ins without a token need TENANT_ID", async () => {
  const strong = () => randomBytes(32).toString("base64url");
  const envFile = join(dir, "deployed.env");
  const secrets = { API_SECRET_KEY: strong(), MANAGEMENT_SECRET_KEY: strong(), TOKEN_SIGNING_KEY: strong(), ORIGIN_SIGNING_KEY: strong() };
  // The app's session key left at the example's value: anyone could sign sessions with it.
  const appSession = devVars().APP_SESSION_SECRET;
  writeFileSync(envFile, Object.entries({ ...secrets, APP_SESSION_SECRET: appSession, DEV_OUTBOX: "true" }).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  const deployed = await startWorker({ extraArgs: ["--env-file", envFile, "--local-upstream", "actiongate.example.com"] });
  try {
    const basic = (s) => "Basic " + Buffer.from(`${s}:`).toString("base64");
    // The API serves.
    const user = await fetch(`${deployed.baseUrl}/v1/users/alice`, { headers: { Authorization: basic(secrets.API_SECRET_KEY) } });
    assert.equal(user.status, 200);
    // DEV_OUTBOX set by mistake: still no outbox on a deployed host.
    assert.equal((await fetch(`${deployed.baseUrl}/__actiongate/outbox.json`)).status, 404);
    assert.equal((await fetch(`${deployed.baseUrl}/__actiongate/outbox`)).status, 404);
    // No TENANT_ID: token-less passkey requests are refused, naming it.
    const r = await fetch(`${deployed.baseUrl}/v1/client/challenge`, {
      method: "POST", headers: { Authorization: basic("actiongate"), "Content-Type": "application/json" }, body: "{}",
    });
    assert.equal(r.status, 500);
    const body = await r.json();
    assert.equal(body.error, "server_misconfigured");
    assert.match(body.errorDescription, /TENANT_ID/);

    // A session signed with the example's key is not believed at the edge.
    const bank = await startBank(0);
    try {
      const put = await fetch(`${deployed.baseUrl}/v1/management/configuration`, {
        method: "PUT",
        headers: { Authorization: basic(secrets.MANAGEMENT_SECRET_KEY), "Content-Type": "application/json" },
        body: JSON.stringify({
          actionConfigurations: { "dep-withdraw": { defaultUserActionResult: "ALLOW" } },
          proxy: {
            originUrl: bank.url,
            identity: { jwt: { cookie: "session", algorithm: "HS256", secretEnv: "APP_SESSION_SECRET" } },
            routes: [{ method: "POST", path: "/api/withdraw", action: "dep-withdraw", custom: { amount: { from: "body:/amount", type: "number" }, to: "body:/to" } }],
          },
        }),
      });
      assert.equal(put.status, 200, await put.text());
      const forged = await fetch(`${deployed.baseUrl}/api/withdraw`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Cookie: `session=${sessionToken("victim", appSession)}` },
        body: JSON.stringify({ amount: 10, to: "NZ-1" }),
      });
      // Refused by the worker itself (the bank never saw it: it would answer not_verified).
      assert.equal(forged.status, 401);
      assert.equal((await forged.json()).error, "unauthenticated");
      const ledger = await (await fetch(`${bank.url}/api/ledger`)).json();
      assert.deepEqual(ledger.executed, [], "the bank ran nothing");
    } finally {
      bank.close();
    }
  } finally {
    await deployed.stop();
  }
});
