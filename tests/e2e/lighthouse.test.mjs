// Lighthouse's accessibility audit of the hosted challenge page (in its
// first state, choosing how to confirm) scores at least 95, run with
// Debian's Chromium as every browser test here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import lighthouse from "lighthouse";
import * as chromeLauncher from "chrome-launcher";
import { authsignal, uid, configure } from "./lib.mjs";
import { ROOT } from "./harness.mjs";

test("Lighthouse accessibility of the challenge page is at least 95", async () => {
  await configure("lighthouse-action", { defaultUserActionResult: "CHALLENGE", verificationMethods: ["EMAIL_OTP", "AUTHENTICATOR_APP"] });
  const t = await authsignal.track({ userId: uid("lh"), action: "lighthouse-action", attributes: { custom: { amount: 5000 } } });
  const chrome = await chromeLauncher.launch({
    chromePath: "/usr/bin/chromium",
    chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  try {
    const result = await lighthouse(t.url, { port: chrome.port, onlyCategories: ["accessibility"], output: "html", logLevel: "error" });
    const dir = join(ROOT, "test-artifacts");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "lighthouse-challenge.html"), result.report);
    const score = result.lhr.categories.accessibility.score;
    const failing = Object.values(result.lhr.audits)
      .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode === "binary")
      .map((a) => a.id);
    assert.ok(score >= 0.95, `accessibility ${Math.round(score * 100)}: ${failing.join(", ")}`);
  } finally {
    await chrome.kill();
  }
});
