// ActionGate's admin portal: a page of this worker that uses the management
// API with the session cookie from signing in, and the CSRF token in a
// header. Nothing is loaded from elsewhere; every value from the API is put
// in the page as text, never as HTML. This module signs in and out, routes
// between pages and holds the actions pages; the others have a module each.
import { $, el, api, table, failure, say, session, actorName, setActorName, METHODS, OUTCOMES } from "./lib.js";
import { rulesSection } from "./rules.js";
import { versionsSection } from "./versions.js";
import { listsPage, listPage } from "./lists.js";
import { reviewsPage } from "./reviews.js";
import { usersPage } from "./users.js";
import { analyticsPage } from "./analytics.js";

function signedOut() {
  session.csrf = null;
  $("nav").hidden = true;
  $("view").textContent = "";
  $("sign-in").hidden = false;
  $("secret").focus();
}
session.onSignedOut = signedOut;

function signedIn(csrf) {
  session.csrf = csrf;
  $("nav").hidden = false;
  $("sign-in").hidden = true;
  $("actor").value = actorName();
}

async function restore() {
  const r = await fetch("/__actiongate/admin/session", { credentials: "same-origin" });
  if (!r.ok) return signedOut();
  signedIn((await r.json()).csrfToken);
  route();
}

$("sign-in").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("sign-in-error").textContent = "";
  const r = await fetch("/__actiongate/admin/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ secret: $("secret").value }),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    $("sign-in-error").textContent = data.errorDescription || "Could not sign in.";
    return;
  }
  $("secret").value = "";
  signedIn(data.csrfToken);
  if (!location.hash) location.hash = "#/actions";
  route();
});

$("sign-out").addEventListener("click", async () => {
  await fetch("/__actiongate/admin/session", {
    method: "DELETE", credentials: "same-origin", headers: { "X-ActionGate-CSRF": session.csrf || "" },
  });
  signedOut();
});

$("actor").addEventListener("change", () => setActorName($("actor").value));

// Pages return their nodes; only the newest navigation is drawn, so a
// slow page never replaces the one asked for after it.
let generation = 0;
let flash = null;

/** Redraw the current page with a message (and maybe an Undo) at its top. */
function rerender(message) {
  flash = message;
  route();
}

function takeFlash() {
  const f = flash;
  flash = null;
  return f;
}

function render(nodes) {
  $("view").replaceChildren(...nodes.flat().filter(Boolean));
  for (const a of document.querySelectorAll("nav a")) {
    const here = location.hash.startsWith(a.getAttribute("href")) || (!location.hash && a.getAttribute("href") === "#/actions");
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

async function route() {
  if (!session.csrf) return;
  const mine = ++generation;
  const [, page, arg] = (location.hash || "#/actions").split("/").map(decodeURIComponent);
  let nodes;
  try {
    if (page === "actions" && arg) nodes = await actionPage(arg);
    else if (page === "lists" && arg) nodes = await listPage(arg);
    else if (page === "lists") nodes = await listsPage();
    else if (page === "reviews") nodes = await reviewsPage();
    else if (page === "users") nodes = await usersPage(arg);
    else if (page === "analytics") nodes = await analyticsPage(arg);
    else nodes = await actionsPage();
  } catch (e) {
    nodes = [failure(e)];
  }
  if (mine === generation) render(nodes);
}
window.addEventListener("hashchange", route);

// ---- Actions ------------------------------------------------------------

async function actionsPage() {
  const configs = await api("GET", "/action-configurations");
  const error = el("p", { class: "error", role: "alert" });
  const code = el("input", { type: "text", id: "new-code", placeholder: "withdraw-funds", required: true });
  const outcome = el("select", { id: "new-outcome" }, OUTCOMES.map((o) => el("option", {}, o)));
  const form = el("form", { class: "card", id: "new-action" },
    el("h2", {}, "New action"),
    el("label", { for: "new-code" }, "Action code"), code,
    el("label", { for: "new-outcome" }, "Default outcome"), outcome,
    error, el("button", { type: "submit" }, "Create"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("PUT", `/action-configurations/${encodeURIComponent(code.value.trim())}`, { defaultUserActionResult: outcome.value });
      location.hash = `#/actions/${encodeURIComponent(code.value.trim())}`;
    } catch (e) {
      error.textContent = e.message;
    }
  });
  return [
    el("h1", {}, "Actions"),
    el("section", {},
      configs.length ? table({ id: "actions" }, ["Action", "Default outcome", "Methods", "Rules"], configs.map((c) => [
        el("a", { href: `#/actions/${encodeURIComponent(c.actionCode)}` }, c.actionCode),
        c.defaultUserActionResult,
        (c.verificationMethods.length ? c.verificationMethods : ["default"]).join(", "),
        String(c.rules.length)]))
        : el("p", { class: "muted" }, "No actions yet: create the first below.")),
    form];
}

/**
 * Render `{{a.b.c}}` (and the `| currency: "NZD"`, `| number`, `| date`
 * filters) from `data` as text, the way the challenge page will; `missing`
 * names a value the data lacks.
 */
function renderTemplate(template, data) {
  let missing = null;
  const re = /\{\{\s*([\w.]+)\s*(?:\|\s*(\w+)\s*(?::\s*"([^"]*)")?\s*)?\}\}/g;
  const text = template.replace(re, (_, path, filter, arg) => {
    const v = path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), data);
    if (v === undefined || v === null) { missing = path; return ""; }
    const n = Number(v);
    try {
      if (filter === "currency" && Number.isFinite(n)) return new Intl.NumberFormat("en", { style: "currency", currency: arg || "USD" }).format(n);
      if (filter === "number" && Number.isFinite(n)) return new Intl.NumberFormat("en").format(n);
      if (filter === "date") return new Date(Number.isFinite(n) ? n : v).toLocaleDateString("en", { dateStyle: "medium" });
    } catch { /* an unknown currency: the value as it is */ }
    return String(v);
  });
  return missing ? { missing } : { text };
}

async function actionPage(code) {
  const c = await api("GET", `/action-configurations/${encodeURIComponent(code)}`);
  const status = el("p", { role: "status" });
  const outcome = el("select", { id: "outcome" }, OUTCOMES.map((o) => el("option", { selected: o === c.defaultUserActionResult }, o)));
  const methods = el("div", { class: "checks", id: "methods" }, METHODS.map((m) =>
    el("label", {}, el("input", { type: "checkbox", value: m, checked: c.verificationMethods.includes(m) }), m)));
  const defaultMethod = el("select", { id: "default-method" }, el("option", { value: "" }, "(the user's own)"),
    METHODS.map((m) => el("option", { selected: m === c.defaultVerificationMethod }, m)));
  const prompt = el("input", { type: "checkbox", id: "prompt", checked: (c.promptToEnrollVerificationMethods || []).includes("PASSKEY") });
  const uv = el("select", { id: "uv" }, ["preferred", "required", "discouraged"].map((v) =>
    el("option", { selected: v === (c.passkeyUserVerification || "preferred") }, v)));
  const veto = el("input", { type: "checkbox", id: "veto", checked: !!c.actionVerifyWebhook });
  const template = el("textarea", { id: "template" }, c.messagingTemplates?.en?.defaultTemplate || "");
  const sample = el("textarea", { id: "sample" }, JSON.stringify({ action: { custom: { amount: 5000, destinationAccount: "NZ-0201-1234567-00" } } }, null, 2));
  const preview = el("p", { class: "preview", id: "preview" });
  const updatePreview = () => {
    let data;
    try { data = JSON.parse(sample.value); } catch { preview.textContent = "(the sample data is not JSON)"; return; }
    if (!template.value.trim()) { preview.textContent = "(no message)"; return; }
    const r = renderTemplate(template.value, data);
    preview.textContent = r.missing ? `(no message: the data has no ${r.missing})` : r.text;
  };
  template.addEventListener("input", updatePreview);
  sample.addEventListener("input", updatePreview);
  updatePreview();
  const form = el("form", { class: "card", id: "config" },
    el("h2", {}, "Configuration"),
    el("label", { for: "outcome" }, "Default outcome (when no rule matches)"), outcome,
    el("label", {}, "Allowed verification methods (none: passkey, authenticator app, email code)"), methods,
    el("label", { for: "default-method" }, "Default method"), defaultMethod,
    el("div", { class: "checks" }, el("label", {}, prompt, "After a challenge, offer to add a passkey")),
    el("label", { for: "uv" }, "Passkey user verification"), uv,
    el("div", { class: "checks" }, el("label", {}, veto, "Ask the app (action.verify) before a challenge succeeds")),
    el("label", { for: "template" }, "Message on the challenge page (English)"), template,
    el("label", { for: "sample" }, "Sample data for the preview"), sample,
    el("label", {}, "Preview"), preview,
    status, el("button", { type: "submit", id: "save" }, "Save"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    // Fields the form does not show (other locales, other methods to
    // offer, …) are sent back as they are.
    const { actionCode, rules, createdAt, updatedAt, ...body } = c;
    const prompted = (c.promptToEnrollVerificationMethods || []).filter((m) => m !== "PASSKEY");
    Object.assign(body, {
      defaultUserActionResult: outcome.value,
      verificationMethods: [...methods.querySelectorAll("input:checked")].map((i) => i.value),
      promptToEnrollVerificationMethods: prompt.checked ? ["PASSKEY", ...prompted] : prompted,
      passkeyUserVerification: uv.value,
      actionVerifyWebhook: veto.checked,
    });
    const templates = { ...(c.messagingTemplates || {}) };
    if (template.value.trim()) templates.en = { ...(templates.en || {}), defaultTemplate: template.value };
    else delete templates.en;
    body.messagingTemplates = templates;
    if (defaultMethod.value) body.defaultVerificationMethod = defaultMethod.value;
    else delete body.defaultVerificationMethod;
    try {
      const saved = await api("PUT", `/action-configurations/${encodeURIComponent(code)}`, body);
      Object.assign(c, saved);
      say(status, "Saved.");
      const fresh = await versionsSection(code, changed);
      document.getElementById("versions")?.replaceWith(fresh);
    } catch (e) {
      say(status, e);
    }
  });
  const changed = (flash) => rerender(flash);
  return [el("p", {}, el("a", { href: "#/actions" }, "← All actions")), el("h1", {}, code), form,
    await rulesSection(code, c.rules, changed, takeFlash()), simulateSection(code), await versionsSection(code, changed)];
}


function simulateSection(code) {
  const user = el("input", { type: "text", id: "sim-user", value: "alice" });
  const attrs = el("textarea", { id: "sim-attrs" }, JSON.stringify({ custom: { amount: 5000 } }, null, 2));
  const out = el("div", { id: "sim-result" });
  const form = el("form", { id: "simulate" },
    el("label", { for: "sim-user" }, "User id"), user,
    el("label", { for: "sim-attrs" }, "Track attributes"), attrs,
    el("button", { type: "submit" }, "Simulate"), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    let attributes;
    try { attributes = JSON.parse(attrs.value); } catch (e) { out.append(el("p", { class: "error" }, `Not JSON: ${e.message}`)); return; }
    try {
      const r = await api("POST", "/simulate", { userId: user.value.trim(), action: code, attributes });
      out.append(
        el("p", {}, "Result: ", el("strong", { id: "sim-state" }, r.state),
          r.priorityRuleId ? ` (rule ${r.priorityRuleId})` : " (default outcome)"),
        el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Rule"), el("th", {}, "Matched"))),
          el("tbody", {}, (r.trace || []).map((t) => el("tr", {}, el("td", {}, t.ruleId || t.name || ""), el("td", {}, String(t.matched ?? t.result ?? "")))))));
    } catch (e) {
      out.append(failure(e));
    }
  });
  return el("section", { id: "simulate-section" }, el("h2", {}, "Simulate a track"), el("p", { class: "muted" }, "Nothing is stored."), form);
}

restore();
