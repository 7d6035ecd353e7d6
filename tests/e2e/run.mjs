// End-to-end runner: starts the worker once under `wrangler dev --local`,
// runs every tests/e2e/*.test.mjs against it with node:test, stops it.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startWorker } from "./harness.mjs";

const dir = join(ROOT, "tests", "e2e");
// Schemathesis runs last: it writes whatever the document allows (and then
// puts the demo configuration back).
const last = (f) => (f.startsWith("schemathesis") ? 1 : 0);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".test.mjs"))
  .sort((a, b) => last(a) - last(b) || a.localeCompare(b))
  .map((f) => join(dir, f));
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;

console.log("[e2e] starting wrangler dev --local ...");
const worker = await startWorker({ logFile: join(ROOT, "test-artifacts", "wrangler-dev.log") });
console.log(`[e2e] worker ready at ${worker.baseUrl}`);
let code = 1;
try {
  code = await new Promise((resolve) => {
    const child = spawn(process.execPath, ["--test", "--test-concurrency=1", "--test-timeout=600000", ...selected], {
      cwd: ROOT,
      env: { ...process.env, AG_BASE_URL: worker.baseUrl },
      stdio: "inherit",
    });
    child.on("exit", (c) => resolve(c ?? 1));
  });
} finally {
  await worker.stop();
}
process.exit(code);
