// Schemathesis (the Python package, pinned in scripts/setup.sh) against the
// live worker, from the OpenAPI document: requests generated from every
// operation's schema, valid and invalid, with each scheme's credentials. The
// bar: no 5xx, and every answer as the document says (status, media type,
// headers, body schema); no method the document does not list is answered
// but with 405 and Allow; nothing the document calls invalid is accepted;
// no operation ignores its credentials.
//
// Bounded for CI (SCHEMATHESIS_MAX_EXAMPLES, 25 by default) with a fixed
// seed (SCHEMATHESIS_SEED) so a run can be repeated exactly; give another
// seed to explore further. It writes whatever the document allows (random
// configurations, users, lists), so the runner runs it last and it puts the
// demo configuration back afterwards. The report is in
// test-artifacts/schemathesis/.
//
// Left out, and why:
// - GET /v1/openapi.json is a static asset: the asset layer answers other
//   methods (405 without Allow) before the worker runs; openapi.test.mjs
//   checks the document it serves.
// - positive_data_acceptance: most operations refuse schema-valid input for
//   reasons of state the schema cannot say (no code was sent, the action is
//   not waiting for a challenge, no such user), as they must.
// - ignored_auth for the token-less passkey routes: the local worker has no
//   TENANT_ID, and then any tenant id passes (documented; the id is public).
// - negative_data_rejection for POST /v1/management/configuration/validate,
//   whose answer to an invalid document is 200 with the problems.
// - the stateful phase: the document has no links.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { call, configure, mgmt, uid, API_SECRET, MGMT_SECRET, BASE } from "./lib.mjs";
import { ROOT } from "./harness.mjs";

const OUT = join(ROOT, "test-artifacts", "schemathesis");
const CHECKS = [
  "not_a_server_error",
  "status_code_conformance",
  "content_type_conformance",
  "response_headers_conformance",
  "response_schema_conformance",
  "unsupported_method",
  "allow_header_conformance",
  "negative_data_rejection",
  "ignored_auth",
  "missing_required_header",
];

after(async () => {
  const demo = JSON.parse(readFileSync(join(ROOT, "config", "demo.json"), "utf8"));
  const r = await mgmt("PUT", "/configuration", { body: demo });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

/** Run a command; resolve with its exit code and output. */
function run(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: OUT, env: { ...process.env, ...env } });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    child.on("exit", (code) => resolve({ code, out }));
  });
}

test("schemathesis finds no server error and no answer outside the document", async () => {
  mkdirSync(OUT, { recursive: true });
  // The Client API's operations act for one action waiting for a challenge.
  await configure("schemathesis-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["AUTHENTICATOR_APP", "EMAIL_OTP", "SMS"] });
  const tracked = await call("POST", `/v1/users/${uid("st")}/actions/schemathesis-action`, { body: {} });
  assert.equal(tracked.status, 200, JSON.stringify(tracked.body));
  // Each security scheme of the document with its credential (the values come from the environment).
  writeFileSync(join(OUT, "schemathesis.toml"), `
[checks]
enabled = false
${CHECKS.map((c) => `${c}.enabled = true`).join("\n")}

[auth.openapi.apiSecret]
username = "\${AG_API_SECRET}"
password = ""
[auth.openapi.managementSecret]
username = "\${AG_MGMT_SECRET}"
password = ""
[auth.openapi.actionToken]
bearer = "\${AG_ACTION_TOKEN}"
[auth.openapi.tenant]
username = "actiongate"
password = ""

# Without TENANT_ID (as in local development) the token-less passkey routes
# take any tenant id: it is public, and checked only where it is set.
[[operations]]
include-path-regex = "^/v1/client/(challenge|verify/passkey|user-authenticators/passkey(/authentication-options)?)$"
checks.ignored_auth.enabled = false

# Validation answers every document, valid or not, with 200 and its problems.
[[operations]]
include-path = "/v1/management/configuration/validate"
checks.negative_data_rejection.enabled = false
`);
  const doc = JSON.parse(readFileSync(join(ROOT, "www", "v1", "openapi.json"), "utf8"));
  const operations = Object.entries(doc.paths)
    .filter(([p]) => p !== "/v1/openapi.json")
    .flatMap(([, ops]) => Object.keys(ops).filter((m) => ["get", "head", "post", "put", "patch", "delete"].includes(m))).length;
  const seed = process.env.SCHEMATHESIS_SEED ?? "20261203";
  const { code, out } = await run(join(ROOT, ".venv", "bin", "schemathesis"), [
    "--config-file", "schemathesis.toml",
    "run", join(ROOT, "www", "v1", "openapi.json"),
    "--url", BASE,
    "--exclude-path", "/v1/openapi.json",
    "--phases", "examples,coverage,fuzzing",
    "--max-examples", process.env.SCHEMATHESIS_MAX_EXAMPLES ?? "25",
    "--seed", seed,
    "--workers", "2",
    "--no-color",
    "--report", "junit", "--report-dir", OUT,
  ], { AG_API_SECRET: API_SECRET, AG_MGMT_SECRET: MGMT_SECRET, AG_ACTION_TOKEN: tracked.body.token });
  writeFileSync(join(OUT, "output.txt"), out);
  const summary = out.slice(out.lastIndexOf("SUMMARY"));
  console.log(summary);
  assert.equal(code, 0, `schemathesis failed (seed ${seed}); see test-artifacts/schemathesis/output.txt\n${out.slice(-6000)}`);
  assert.match(out, new RegExp(`Tested: ${operations}\\b`), `every operation was tested\n${summary}`);
});
