// Starts the real worker under `wrangler dev --local` (local KV and SQLite
// Durable Objects, no mocks) on a free port with its own state folder, and
// stops it again. Used by run.mjs for the end-to-end suite.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, mkdirSync, createWriteStream, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The secrets the worker runs with: .dev.vars, as scripts/setup.sh made it. */
export function devVars() {
  const vars = {};
  for (const line of readFileSync(join(ROOT, ".dev.vars"), "utf8").split("\n")) {
    const m = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/);
    if (m) vars[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

/** Local dev's allowlist (.dev.vars; wrangler.toml carries no local origins). */
function localAllowlist() {
  return devVars().REDIRECT_URL_ALLOWLIST ?? "";
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Where the browser tests serve their own page (an app using @authsignal/browser). */
export const TEST_APP_PORT = 8799;
/** Where the tests receive the worker's email.created webhooks. */
export const WEBHOOK_PORT = 8798;
/** Where the tests receive action and authenticator webhooks (WEBHOOK_URL). */
export const EVENTS_PORT = 8797;

/**
 * wrangler.toml plus a service binding (ORIGIN_SERVICE) to the stand-in app
 * of tests/e2e/origin-worker, which wrangler dev runs alongside. Written next
 * to wrangler.toml so that its paths resolve the same; not committed.
 */
/**
 * wrangler.toml plus the test origin's service binding. Every test reaches
 * the worker from one address, so the per-IP limits (wrangler.toml's
 * LIMIT_SENDS_PER_IP, LIMIT_CODES_PER_IP and LIMIT_UNAUTHENTICATED) would make the suite's own
 * pace fail it: they are lifted here, except with `realLimits` (the test of
 * those limits starts its own worker so).
 */
function e2eConfig(realLimits = false) {
  const path = join(ROOT, realLimits ? ".wrangler-e2e-limits.toml" : ".wrangler-e2e.toml");
  let toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  if (!realLimits) {
    for (const name of ["LIMIT_SENDS_PER_IP", "LIMIT_CODES_PER_IP", "LIMIT_UNAUTHENTICATED"]) {
      const before = toml;
      toml = toml.replace(new RegExp(`(name = "${name}"\\n[^\\[]*?simple = \\{ limit = )\\d+`), "$1100000");
      if (toml === before) throw new Error(`wrangler.toml has no ${name} limit to lift`);
    }
  }
  writeFileSync(path, `${toml}
[[services]]
binding = "ORIGIN_SERVICE"
service = "actiongate-e2e-origin"
`);
  return path;
}

/**
 * Start `wrangler dev --local`; resolves once /health answers. `state`
 * reuses a storage directory (kept on stop) instead of a fresh one.
 * @returns {Promise<{baseUrl: string, state: string, stop: () => Promise<void>}>}
 */
export async function startWorker(options = {}) {
  // wrangler opens more sockets than the one it is given; right after a
  // restart one of them can still be taken. Try again on a new port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(String(e.message))) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function startOnce({ logFile, extraArgs = [], state: reuse, ready = (r) => r.ok, realLimits = false } = {}) {
  const port = await freePort();
  // A given directory is the caller's (a restart over the same storage);
  // otherwise a fresh one, removed on stop.
  const state = reuse ?? mkdtempSync(join(tmpdir(), "actiongate-e2e-"));
  const wrangler = join(ROOT, "node_modules", ".bin", "wrangler");
  const child = spawn(
    wrangler,
    ["dev", "-c", e2eConfig(realLimits), "-c", join(ROOT, "tests", "e2e", "origin-worker", "wrangler.toml"),
     "--local", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state,
     "--show-interactive-dev-session=false", "--log-level", "warn",
     // wrangler.toml's local allowlist, plus the browser tests' own app page.
     "--var", `REDIRECT_URL_ALLOWLIST:${localAllowlist()} http://127.0.0.1:${TEST_APP_PORT} http://localhost:${TEST_APP_PORT}`,
     // Passkey ceremonies need a domain (not an IP): the browser tests use
     // localhost, and their own app page runs ceremonies too.
     "--var", `PASSKEY_ORIGINS:http://localhost:${TEST_APP_PORT}`,
     "--var", `EMAIL_WEBHOOK_URL:http://127.0.0.1:${WEBHOOK_PORT}/email`,
     "--var", `SMS_WEBHOOK_URL:http://127.0.0.1:${WEBHOOK_PORT}/sms`,
     "--var", `WEBHOOK_URL:http://127.0.0.1:${EVENTS_PORT}/events`,
     "--var", `ACTION_VERIFY_WEBHOOK_URL:http://127.0.0.1:${EVENTS_PORT}/verify`,
     ...extraArgs],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        // wrangler needs Node >= 22.12: the npm-installed Node 22 comes first.
        PATH: `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH}`,
        WRANGLER_SEND_METRICS: "false",
        CI: "true",
        NO_COLOR: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  let output = "";
  const log = logFile ? (mkdirSync(dirname(logFile), { recursive: true }), createWriteStream(logFile)) : null;
  for (const s of [child.stdout, child.stderr]) {
    s.on("data", (d) => {
      output = (output + d).slice(-20000);
      log?.write(d);
    });
  }
  let exited = null;
  child.on("exit", (code) => (exited = code));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 240_000;
  for (;;) {
    if (exited !== null) {
      await groupGone(child.pid);
      log?.end();
      if (!reuse) rmSync(state, { recursive: true, force: true });
      throw new Error(`wrangler dev exited with ${exited}:\n${output}`);
    }
    if (Date.now() > deadline) {
      process.kill(-child.pid, "SIGKILL");
      throw new Error(`wrangler dev did not become ready:\n${output}`);
    }
    try {
      const r = await fetch(`${baseUrl}/health`);
      if (ready(r)) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    baseUrl,
    /** The directory wrangler persists local KV and Durable Objects in. */
    state,
    async stop() {
      if (exited === null) {
        const done = new Promise((r) => child.once("exit", r));
        try { process.kill(-child.pid, "SIGTERM"); } catch { /* gone */ }
        const t = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ } }, 5000);
        await done;
        clearTimeout(t);
      }
      // The runtime wrangler started goes with it: wait until every process
      // of the group is gone, so its sockets are free for a restart.
      await groupGone(child.pid);
      log?.end();
      if (!reuse) rmSync(state, { recursive: true, force: true });
    },
  };
}

/** Wait (up to 5 s, then kill) until no process of the group `pid` leads is left. */
async function groupGone(pid) {
  const alive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive()) {
    try { process.kill(-pid, "SIGKILL"); } catch { /* gone */ }
  }
}
