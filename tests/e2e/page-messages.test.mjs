// Every error code the worker can answer with has plain words on the hosted
// challenge page (www/__actiongate/messages.js): the codes are read from the
// Rust sources (ApiError::new, the error types' code(), the status-and-code
// pairs), so a new code without a message fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./harness.mjs";

function rustFiles(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return rustFiles(p);
    return n.endsWith(".rs") && n !== "tests.rs" ? [p] : [];
  });
}

function workerCodes() {
  const codes = new Set();
  for (const f of [...rustFiles(join(ROOT, "src")), ...rustFiles(join(ROOT, "crates/core/src"))]) {
    let s = readFileSync(f, "utf8");
    const t = s.search(/#\[cfg\(test\)\]\s*mod tests\s*\{/);
    if (t >= 0) s = s.slice(0, t);
    for (const m of s.matchAll(/(?:ApiError|Self)::new\(\s*\d+,\s*"([a-z_]+)"/g)) codes.add(m[1]);
    for (const m of s.matchAll(/"errorCode":\s*"([a-z_]+)"/g)) codes.add(m[1]);
    for (const m of s.matchAll(/\(\d{3}, "([a-z_]+)"\)/g)) codes.add(m[1]);
    for (const m of s.matchAll(/\bcode: "([a-z_]+)"/g)) codes.add(m[1]);
    for (const m of s.matchAll(/fn code\(&?self\) -> &'static str \{([\s\S]*?)\n    \}/g)) {
      for (const c of m[1].matchAll(/"([a-z_]+)"/g)) codes.add(c[1]);
    }
  }
  return codes;
}

function pageMessages() {
  const text = readFileSync(join(ROOT, "www/__actiongate/messages.js"), "utf8");
  return JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1));
}

test("every error code the worker can return has a message for people on the challenge page", () => {
  const codes = workerCodes();
  assert.ok(codes.size >= 30, `the codes were found (${codes.size})`);
  for (const known of ["invalid_token", "too_many_requests", "credential_exists", "token_already_used", "server_misconfigured"]) {
    assert.ok(codes.has(known), known);
  }
  const messages = pageMessages();
  const missing = [...codes].filter((c) => !(c in messages));
  assert.deepEqual(missing, [], "codes without a message on the page");
});

test("the messages speak to people: sentences, no codes, no developer words", () => {
  for (const [code, text] of Object.entries(pageMessages())) {
    assert.match(text, /^[A-Z].*[.!]$/, code);
    assert.doesNotMatch(text, /_|token|header|JSON|API|\bnull\b|undefined/i, `${code}: ${text}`);
  }
});
