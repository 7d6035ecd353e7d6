// A worker started without its secrets refuses to serve the API rather than
// fall back to any default, and says so without naming the secret.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker, devVars } from "./harness.mjs";

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
  for (const [method, path, secret] of calls) {
    const r = await fetch(`${worker.baseUrl}${path}`, {
      method,
      headers: { Authorization: "Basic " + Buffer.from(`${secret}:`).toString("base64"), "Content-Type": "application/json" },
      body: method === "POST" ? "{}" : undefined,
    });
    assert.equal(r.status, 500, `${method} ${path}`);
    const body = await r.json();
    assert.equal(body.error, "server_misconfigured");
    assert.ok(!/API_SECRET_KEY|MANAGEMENT_SECRET_KEY|TOKEN_SIGNING_KEY/.test(body.errorDescription));
  }
});
