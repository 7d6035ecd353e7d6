#!/usr/bin/env node
// Configuration as code: validate a configuration file and upload it to a
// running ActionGate (local or deployed) through the management API.
//
//   node scripts/config.mjs upload config/demo.json --url http://127.0.0.1:8787
//
// The management secret comes from MANAGEMENT_SECRET_KEY, else from .dev.vars.
// The worker validates every configuration; the first refusal stops the upload
// and is printed with the field it names.
import { readFileSync, existsSync } from "node:fs";

function usage(msg) {
  if (msg) console.error(msg);
  console.error("usage: node scripts/config.mjs upload <file.json> --url <worker url>");
  process.exit(2);
}

const [cmd, file, ...rest] = process.argv.slice(2);
if (cmd !== "upload" || !file) usage();
const urlIdx = rest.indexOf("--url");
const base = (urlIdx >= 0 ? rest[urlIdx + 1] : process.env.ACTIONGATE_URL) ?? usage("--url is required");

let secret = process.env.MANAGEMENT_SECRET_KEY;
if (!secret && existsSync(".dev.vars")) {
  const m = readFileSync(".dev.vars", "utf8").match(/^MANAGEMENT_SECRET_KEY=(.*)$/m);
  secret = m?.[1].trim();
}
if (!secret) usage("MANAGEMENT_SECRET_KEY is not set and .dev.vars has none");

let doc;
try {
  doc = JSON.parse(readFileSync(file, "utf8"));
} catch (e) {
  console.error(`${file}: ${e.message}`);
  process.exit(1);
}
const configs = doc.actionConfigurations;
if (!configs || typeof configs !== "object") {
  console.error(`${file}: expected an "actionConfigurations" object`);
  process.exit(1);
}
const auth = "Basic " + Buffer.from(`${secret}:`).toString("base64");
let failed = 0;
for (const [code, config] of Object.entries(configs)) {
  const r = await fetch(`${base}/v1/management/action-configurations/${encodeURIComponent(code)}`, {
    method: "PUT",
    headers: { Authorization: auth, "Content-Type": "application/json" },
    body: JSON.stringify(config),
  });
  const body = await r.json().catch(() => ({}));
  if (r.ok) {
    console.log(`✓ ${code}: ${config.defaultUserActionResult}`);
  } else {
    failed++;
    console.error(`✗ ${code}: ${r.status} ${body.errorDescription ?? body.error ?? ""}`);
  }
}
process.exit(failed ? 1 : 0);
