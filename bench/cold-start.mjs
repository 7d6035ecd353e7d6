// Cold start: the time from spawning a fresh workerd process to a worker's
// first answer, for each of the given targets, alternated over ROUNDS
// rounds; prints "name median min" per target, in ms.
// Usage: node bench/cold-start.mjs CONFIG ROUNDS 'name=CONST|URL[|POST|AUTHORIZATION]' …
// A target's request is a GET, or a POST with a small JSON track body and an
// Authorization header. Every answer must be a 200.
import { spawn } from "node:child_process";

const [config, rounds, ...specs] = process.argv.slice(2);
const targets = specs.map((s) => {
  const at = s.indexOf("=");
  const [name, rest] = [s.slice(0, at), s.slice(at + 1)];
  const [konst, ...tail] = rest.split("|");
  const [url, method = "GET", auth] = tail;
  return { name, konst, url, method, auth, times: [] };
});
const body = '{"custom":{"amount":250,"currency":"USD"},"ipAddress":"203.0.113.7","userAgent":"bench"}';

async function once(t) {
  const started = process.hrtime.bigint();
  const child = spawn("workerd", ["serve", config, t.konst], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((ok) => child.on("exit", ok));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${t.name}: workerd exited: ${stderr}`);
      try {
        const init = { method: t.method };
        if (t.method === "POST") init.body = body, init.headers = { "Content-Type": "application/json", Authorization: t.auth };
        const r = await fetch(t.url, init);
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`${t.name}: status ${r.status}`);
        return Number(process.hrtime.bigint() - started) / 1e6;
      } catch (e) {
        if (String(e.message).startsWith(t.name)) throw e;
        await new Promise((ok) => setTimeout(ok, 2));
      }
      if (Number(process.hrtime.bigint() - started) > 30e9) throw new Error(`${t.name}: no answer in 30 s: ${stderr}`);
    }
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
}

for (let i = 0; i < Number(rounds); i++) for (const t of targets) t.times.push(await once(t));
for (const t of targets) {
  const s = [...t.times].sort((a, b) => a - b);
  console.log(`${t.name} ${s[Math.floor(s.length / 2)].toFixed(1)} ${s[0].toFixed(1)}`);
}
