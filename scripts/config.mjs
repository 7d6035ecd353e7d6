#!/usr/bin/env node
// Configuration as code: validate a configuration document (value lists,
// action configurations and their rules; see config/demo.json) against a
// running ActionGate, or apply it. The worker validates the whole document
// and writes nothing unless all of it is valid.
//
//   node scripts/config.mjs validate config/demo.json --url http://127.0.0.1:8787
//   node scripts/config.mjs apply    config/demo.json --url https://actiongate.example.workers.dev
//
// The management secret comes from MANAGEMENT_SECRET_KEY, else from .dev.vars.
import { readFileSync, existsSync } from "node:fs";

function usage(msg) {
  if (msg) console.error(msg);
  console.error("usage: node scripts/config.mjs validate|apply <file.json> --url <worker url>");
  process.exit(2);
}

const [cmd, file, ...rest] = process.argv.slice(2);
if (!["validate", "apply"].includes(cmd) || !file) usage();
const urlIdx = rest.indexOf("--url");
const base = (urlIdx >= 0 ? rest[urlIdx + 1] : process.env.ACTIONGATE_URL) ?? usage("--url is required");

let secret = process.env.MANAGEMENT_SECRET_KEY;
if (!secret && existsSync(".dev.vars")) {
  const m = readFileSync(".dev.vars", "utf8").match(/^MANAGEMENT_SECRET_KEY=(.*)$/m);
  secret = m?.[1].trim();
}
if (!secret) usage("MANAGEMENT_SECRET_KEY is not set and .dev.vars has none");

let body;
try {
  body = readFileSync(file, "utf8");
  JSON.parse(body);
} catch (e) {
  console.error(`${file}: ${e.message}`);
  process.exit(1);
}

const auth = "Basic " + Buffer.from(`${secret}:`).toString("base64");
const headers = { Authorization: auth, "Content-Type": "application/json" };
const path = cmd === "validate" ? "/v1/management/configuration/validate" : "/v1/management/configuration";
const r = await fetch(`${base}${path}`, { method: cmd === "validate" ? "POST" : "PUT", headers, body });
const out = await r.json().catch(() => ({}));

const problems = out.problems;
if (!r.ok || out.valid === false) {
  console.error(`✗ ${file} was ${cmd === "apply" ? "not applied" : "refused"}:`);
  for (const p of problems ?? [`${r.status} ${out.errorDescription ?? out.error ?? ""}`]) console.error(`  - ${p}`);
  process.exit(1);
}
const s = out.summary;
console.log(`✓ ${file} ${cmd === "apply" ? "applied" : "is valid"}: ${s.valueLists.length} value list(s), ` +
  s.actionConfigurations.map((c) => `${c.actionCode} (${c.rules} rule${c.rules === 1 ? "" : "s"})`).join(", "));
