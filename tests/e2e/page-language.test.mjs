// The hosted page speaks the action's language: English, and German as the
// proof that it is localisable. Every sentence the page can show (its own
// words in challenge.html and challenge.js, and the message of every error
// code) has a German translation, and a challenge tracked with locale
// de-DE shows a German page, its German message, and German errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import vm from "node:vm";
import { authsignal, uid, configure, mgmt } from "./lib.mjs";
import { ROOT } from "./harness.mjs";
import { SHOTS, useBrowserDemo } from "./browser-kit.mjs";

const demo = useBrowserDemo();
const read = (f) => readFileSync(join(ROOT, f), "utf8");

function load(file, name) {
  const context = { window: {} };
  vm.runInNewContext(read(file), context);
  return context.window[name];
}

/** Every English sentence the page can show: t("…") in the script, the text and labels of the HTML. */
function pageSentences() {
  const js = read("www/__actiongate/challenge.js");
  const out = new Set();
  for (const m of js.matchAll(/\bt\(\s*"((?:[^"\\]|\\.)*)"/g)) out.add(JSON.parse(`"${m[1]}"`));
  // t(cond ? "a" : "b") and t(x ? (y ? "a" : "b") : …): every literal inside a t( … ) call.
  for (const m of js.matchAll(/\bt\(([^()]*(?:\([^()]*\)[^()]*)*)\)/g)) {
    for (const lit of m[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)) if (/[a-z] /i.test(lit[1])) out.add(JSON.parse(`"${lit[1]}"`));
  }
  const names = js.match(/const METHOD_NAMES = \{([\s\S]*?)\};/)[1];
  for (const m of names.matchAll(/: "([^"]+)"/g)) out.add(m[1]);
  const html = read("www/challenge.html").replace(/<script[\s\S]*?<\/script>/g, "");
  for (const m of html.matchAll(/>([^<>]*[A-Za-z][^<>]*)</g)) if (m[1].trim() && m[1].trim() !== ".") out.add(m[1].trim());
  for (const m of html.matchAll(/(?:aria-label|placeholder|alt)="([^"]+)"/g)) out.add(m[1]);
  return out;
}

test("every sentence and every error message of the page has a German translation", () => {
  const de = load("www/__actiongate/i18n.js", "ACTIONGATE_I18N").de;
  const missing = [...pageSentences()].filter((s) => !de.strings[s]);
  assert.deepEqual(missing, [], "untranslated sentences");
  const messages = load("www/__actiongate/messages.js", "ACTIONGATE_MESSAGES");
  assert.deepEqual(Object.keys(messages).filter((c) => !de.messages[c]), [], "untranslated error messages");
  for (const [en, text] of Object.entries(de.strings)) {
    for (const p of en.match(/\{\w+\}/g) ?? []) assert.ok(text.includes(p), `${en}: ${p} kept`);
    assert.notEqual(text.trim(), "", en);
  }
});

test("a challenge tracked in German is shown in German, message and errors too", async () => {
  await configure("page-language", {
    defaultUserActionResult: "CHALLENGE",
    verificationMethods: ["EMAIL_OTP"],
    messagingTemplates: {
      en: { defaultTemplate: "Confirm your withdrawal of {{action.custom.amount | currency: \"EUR\"}}" },
      de: { defaultTemplate: "Bestätigen Sie Ihre Auszahlung von {{action.custom.amount | currency: \"EUR\"}}" },
    },
  });
  // The deciding rule says why it asks, in the customer's language.
  const rule = await mgmt("PUT", "/action-configurations/page-language/rules/large", {
    body: {
      name: "large amounts (internal words)", priority: 1, type: "CHALLENGE",
      conditions: { ">": [{ var: "action.custom.amount" }, 1000] },
      customerReason: { en: "{{action.custom.amount | number}} is more than you usually withdraw.", de: "{{action.custom.amount | number}} ist mehr, als Sie sonst abheben." },
    },
  });
  assert.ok([200, 201].includes(rule.status), JSON.stringify(rule.body));
  const user = uid("de");
  const t = await authsignal.track({ userId: user, action: "page-language", attributes: { locale: "de-DE", custom: { amount: 1500 } } });
  const context = await demo.browser.newContext({ locale: "en-US" });
  const page = await context.newPage();
  try {
    await page.goto(t.url);
    await page.waitForSelector("#email-form:not([hidden])");
    assert.equal(await page.getAttribute("html", "lang"), "de");
    const de = load("www/__actiongate/i18n.js", "ACTIONGATE_I18N").de.strings;
    assert.equal(await page.textContent("h1"), de["Confirm it's you"]);
    assert.match(await page.textContent("#message"), /^Bestätigen Sie Ihre Auszahlung von/);
    assert.equal(await page.textContent("#reason"), `${de["Why we ask:"]} 1,500 ist mehr, als Sie sonst abheben.`);
    assert.doesNotMatch(await page.textContent("main"), /internal words|large/, "never the rule's name or id");
    assert.equal((await page.textContent("label[for=email]")).trim(), de["Your email address"]);
    assert.equal((await page.textContent("#cancel")).trim(), de["Cancel this request"]);
    // A mistake is told in German too.
    await page.fill("#email", "not-an-address");
    await page.click("#send");
    assert.equal(await page.textContent("#email-error"), de["Enter your email address."]);
    await page.screenshot({ path: join(SHOTS, "10-challenge-german.png"), fullPage: true });
  } finally {
    await context.close();
  }
  // Without a locale (or one the page does not speak) the page is English.
  const en = await authsignal.track({ userId: uid("en"), action: "page-language", attributes: { locale: "fr-FR", custom: { amount: 1500 } } });
  const c2 = await demo.browser.newContext({ locale: "de-DE" });
  const p2 = await c2.newPage();
  try {
    await p2.goto(en.url);
    await p2.waitForSelector("#email-form:not([hidden])");
    assert.equal(await p2.getAttribute("html", "lang"), "en");
    assert.equal(await p2.textContent("h1"), "Confirm it's you");
    assert.equal(await p2.textContent("#reason"), "Why we ask: 1,500 is more than you usually withdraw.");
  } finally {
    await c2.close();
  }
});
