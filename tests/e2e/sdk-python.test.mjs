// The official Python SDK (authsignal 4.1.0, installed by scripts/setup.sh
// into .venv) as a client: the scenarios of its own test suite, in our
// words (tests/e2e/python/sdk_scenarios.py), then what ActionGate stored,
// read back through the Node SDK.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { authsignal, configure, uid, BASE, API_SECRET } from "./lib.mjs";

const PYTHON = fileURLToPath(new URL("../../.venv/bin/python", import.meta.url));
const SCRIPT = fileURLToPath(new URL("./python/sdk_scenarios.py", import.meta.url));
const ACTION = "py-sdk-challenge";

function python(scenario, user) {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, scenario], {
      env: { ...process.env, AG_API_URL: `${BASE}/v1`, AG_API_SECRET: API_SECRET, AG_USER: user, AG_ACTION: ACTION },
      timeout: 60_000,
    }, (err, stdout, stderr) => {
      if (err) reject(new Error(`python ${scenario} failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

test.before(async () => {
  await configure(ACTION, { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP", "PASSKEY"] });
});

test("Python: track with the SDK's snake_case attributes, read the action and its output, block it", async () => {
  const user = uid("py");
  const seen = await python("track-get-update", user);
  // What the rules engine decided, as get action reports it.
  assert.equal(seen.output.result, "CHALLENGE");
  assert.deepEqual(seen.output.rule_ids, []);
  assert.deepEqual(seen.output.allowed_verification_methods, ["EMAIL_OTP", "PASSKEY"]);
  // Stored: blocked through the API; the SDK's snake_case keys read as the
  // fields they name (Authsignal ignores them; ActionGate reads them, so
  // that device and network rules see them): the phone number filled in.
  const action = await authsignal.getAction({ userId: user, action: ACTION, idempotencyKey: seen.idempotencyKey });
  assert.equal(action.state, "BLOCK");
  assert.deepEqual(action.history.map((h) => [h.to, h.cause.type]), [["CHALLENGE_REQUIRED", "TRACK"], ["BLOCK", "API"]]);
  assert.equal(action.output.result, "CHALLENGE");
  const profile = await authsignal.getUser({ userId: user });
  assert.equal(profile.phoneNumber, "1234567890");
  assert.equal(profile.email, "py-sdk@example.com");
});

test("Python: a pending challenge's token validates as not (yet) valid, naming user, action and key", async () => {
  const user = uid("py");
  const seen = await python("validate", user);
  const action = await authsignal.getAction({ userId: user, action: ACTION, idempotencyKey: seen.idempotencyKey });
  assert.equal(action.state, "CHALLENGE_REQUIRED", "validating changed nothing");
});

test("Python: enroll a verified email authenticator, list it, delete it", async () => {
  const user = uid("py");
  const seen = await python("authenticators", user);
  const left = await authsignal.getAuthenticators({ userId: user });
  assert.ok(left.every((a) => a.userAuthenticatorId !== seen.deleted));
});

test("Python: a wrong secret is Authsignal's 401, word for word", async () => {
  assert.equal((await python("unauthorized", uid("py"))).status, 401);
});
