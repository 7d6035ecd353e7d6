// ActionGate's admin portal: a page of this worker that uses the management
// API with the session cookie from signing in, and the CSRF token in a
// header. Nothing is loaded from elsewhere; every value from the API is put
// in the page as text, never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const METHODS = ["PASSKEY", "SECURITY_KEY", "AUTHENTICATOR_APP", "EMAIL_OTP", "EMAIL_MAGIC_LINK", "SMS"];
  const OUTCOMES = ["ALLOW", "CHALLENGE", "REVIEW", "BLOCK"];
  const COLORS = { ALLOW: "#12b76a", CHALLENGE: "#f79009", REVIEW: "#2e90fa", BLOCK: "#d92d20" };
  let csrf = null;

  /** Build an element: el("td", {class: "x"}, "text", child…). Strings become text. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, "");
      else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  async function api(method, path, body) {
    const r = await fetch("/v1/management" + path, {
      method,
      credentials: "same-origin",
      headers: { "X-ActionGate-CSRF": csrf || "", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (r.status === 401) {
      signedOut();
      throw new Error("Your session ended. Sign in again.");
    }
    if (!r.ok) {
      const e = new Error(data.errorDescription || `Request failed (${r.status})`);
      e.status = r.status;
      throw e;
    }
    return data;
  }

  function signedOut() {
    csrf = null;
    $("nav").hidden = true;
    $("view").textContent = "";
    $("sign-in").hidden = false;
    $("secret").focus();
  }

  async function restore() {
    const r = await fetch("/__actiongate/admin/session", { credentials: "same-origin" });
    if (!r.ok) return signedOut();
    csrf = (await r.json()).csrfToken;
    $("nav").hidden = false;
    $("sign-in").hidden = true;
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
    csrf = data.csrfToken;
    $("nav").hidden = false;
    $("sign-in").hidden = true;
    if (!location.hash) location.hash = "#/actions";
    route();
  });

  $("sign-out").addEventListener("click", async () => {
    await fetch("/__actiongate/admin/session", {
      method: "DELETE", credentials: "same-origin", headers: { "X-ActionGate-CSRF": csrf || "" },
    });
    signedOut();
  });

  // Pages return their nodes; only the newest navigation is drawn, so a
  // slow page never replaces the one asked for after it.
  const show = (...nodes) => nodes;
  let generation = 0;

  function render(nodes) {
    $("view").replaceChildren(...nodes);
    for (const a of document.querySelectorAll("nav a")) {
      a.toggleAttribute("aria-current", location.hash.startsWith(a.getAttribute("href")));
      if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
    }
  }

  function failure(e) {
    return el("p", { class: "error", role: "alert" }, e.message);
  }

  async function route() {
    if (!csrf) return;
    const mine = ++generation;
    const [, page, arg] = (location.hash || "#/actions").split("/").map(decodeURIComponent);
    let nodes;
    try {
      if (page === "actions" && arg) nodes = await actionPage(arg);
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
    return show(
      el("h1", {}, "Actions"),
      el("section", {},
        el("table", { id: "actions" },
          el("thead", {}, el("tr", {}, el("th", {}, "Action"), el("th", {}, "Default outcome"), el("th", {}, "Methods"), el("th", {}, "Rules"))),
          el("tbody", {}, configs.map((c) => el("tr", {},
            el("td", {}, el("a", { href: `#/actions/${encodeURIComponent(c.actionCode)}` }, c.actionCode)),
            el("td", {}, c.defaultUserActionResult),
            el("td", {}, (c.verificationMethods.length ? c.verificationMethods : ["default"]).join(", ")),
            el("td", {}, String(c.rules.length))))))),
      form);
  }

  /** Render `{{a.b.c}}` from `data` as text; null when a value is missing. */
  function renderTemplate(template, data) {
    let missing = null;
    const text = template.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, path) => {
      const v = path.split(".").reduce((o, k) => (o && typeof o === "object" ? o[k] : undefined), data);
      if (v === undefined || v === null) missing = path;
      return v === undefined || v === null ? "" : String(v);
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
      status.className = "";
      const body = {
        defaultUserActionResult: outcome.value,
        verificationMethods: [...methods.querySelectorAll("input:checked")].map((i) => i.value),
        promptToEnrollVerificationMethods: prompt.checked ? ["PASSKEY"] : [],
        passkeyUserVerification: uv.value,
        actionVerifyWebhook: veto.checked,
        messagingTemplates: template.value.trim() ? { en: { defaultTemplate: template.value } } : {},
      };
      if (defaultMethod.value) body.defaultVerificationMethod = defaultMethod.value;
      try {
        await api("PUT", `/action-configurations/${encodeURIComponent(code)}`, body);
        status.className = "ok";
        status.textContent = "Saved.";
      } catch (e) {
        status.className = "error";
        status.textContent = e.message;
      }
    });
    return show(el("h1", {}, code), form, await rulesSection(code, c.rules), simulateSection(code));
  }

  async function rulesSection(code, rules) {
    const status = el("p", { role: "status" });
    const id = el("input", { type: "text", id: "rule-id", placeholder: "large-withdrawal" });
    const editor = el("textarea", { id: "rule-json", rows: 10 }, JSON.stringify({
      name: "Large withdrawal", priority: 10, type: "CHALLENGE", isActive: true,
      conditions: { ">": [{ var: "action.custom.amount" }, 1000] },
    }, null, 2));
    const rows = rules.map((r) => el("tr", {},
      el("td", {}, r.ruleId), el("td", {}, r.name), el("td", {}, String(r.priority)), el("td", {}, r.type),
      el("td", {}, r.isActive === false ? "off" : "on"),
      el("td", {},
        el("button", { type: "button", class: "secondary", onclick: () => {
          id.value = r.ruleId;
          const { ruleId, actionCode, createdAt, updatedAt, ...rest } = r;
          editor.value = JSON.stringify(rest, null, 2);
          id.focus();
        } }, "Edit"),
        el("button", { type: "button", class: "danger", onclick: async () => {
          try { await api("DELETE", `/action-configurations/${encodeURIComponent(code)}/rules/${encodeURIComponent(r.ruleId)}`); route(); }
          catch (e) { status.className = "error"; status.textContent = e.message; }
        } }, "Delete"))));
    const form = el("form", { id: "rule-form" },
      el("label", { for: "rule-id" }, "Rule id"), id,
      el("label", { for: "rule-json" }, "Rule (JSON Logic in conditions)"), editor,
      status, el("button", { type: "submit", id: "save-rule" }, "Save rule"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      let body;
      try { body = JSON.parse(editor.value); } catch (e) { status.className = "error"; status.textContent = `Not JSON: ${e.message}`; return; }
      try {
        await api("PUT", `/action-configurations/${encodeURIComponent(code)}/rules/${encodeURIComponent(id.value.trim())}`, body);
        route();
      } catch (e) {
        status.className = "error";
        status.textContent = e.message;
      }
    });
    return el("section", { id: "rules" }, el("h2", {}, "Rules"),
      rules.length ? el("table", {}, el("thead", {}, el("tr", {}, ["Id", "Name", "Priority", "Type", "Active", ""].map((h) => el("th", {}, h)))), el("tbody", {}, rows))
        : el("p", { class: "muted" }, "No rules: every track gets the default outcome."),
      form);
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

  // ---- Value lists ----------------------------------------------------------

  /** The first column of each CSV line (quotes handled), blank lines and a header skipped. */
  function csvColumn(text, skipHeader) {
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
    const first = (line) => {
      const m = line.match(/^\s*"((?:[^"]|"")*)"|^([^,]*)/);
      return (m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]).trim();
    };
    return lines.slice(skipHeader ? 1 : 0).map(first).filter(Boolean);
  }

  async function listsPage() {
    const lists = await api("GET", "/value-lists");
    const status = el("p", { role: "status" });
    const alias = el("input", { type: "text", id: "list-alias", placeholder: "blocked-accounts" });
    const name = el("input", { type: "text", id: "list-name", placeholder: "Blocked accounts" });
    const type = el("select", { id: "list-type" }, el("option", {}, "string"), el("option", {}, "number"));
    const file = el("input", { type: "file", id: "list-file", accept: ".csv,text/csv,text/plain" });
    const csv = el("textarea", { id: "list-csv", placeholder: "one value per line (the first column of a CSV)" });
    const header = el("input", { type: "checkbox", id: "list-header" });
    file.addEventListener("change", async () => { if (file.files[0]) csv.value = await file.files[0].text(); });
    const form = el("form", { class: "card", id: "list-form" },
      el("h2", {}, "Import a list from CSV"),
      el("label", { for: "list-alias" }, "Alias (what rules use)"), alias,
      el("label", { for: "list-name" }, "Name"), name,
      el("label", { for: "list-type" }, "Item type"), type,
      el("label", { for: "list-file" }, "CSV file"), file,
      el("label", { for: "list-csv" }, "Or paste"), csv,
      el("div", { class: "checks" }, el("label", {}, header, "The first line is a header")),
      status, el("button", { type: "submit" }, "Import (replaces the list)"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      let items = csvColumn(csv.value, header.checked);
      if (type.value === "number") items = items.map(Number);
      try {
        await api("PUT", `/value-lists/${encodeURIComponent(alias.value.trim())}`, { name: name.value.trim() || alias.value.trim(), itemType: type.value, items });
        route();
      } catch (e) {
        status.className = "error";
        status.textContent = e.message;
      }
    });
    return show(el("h1", {}, "Value lists"),
      el("section", {}, el("table", { id: "lists" },
        el("thead", {}, el("tr", {}, ["Alias", "Name", "Type", "Matched after", "Items"].map((h) => el("th", {}, h)))),
        el("tbody", {}, lists.map((l) => el("tr", {}, el("td", {}, l.alias), el("td", {}, l.name), el("td", {}, l.itemType),
          el("td", { class: "normalize" }, (l.normalize ?? []).length ? l.normalize.join(", ") : "exact"),
          el("td", {}, String(l.itemCount ?? l.items?.length ?? ""))))))),
      form);
  }

  // ---- Reviews ----------------------------------------------------------------

  async function reviewsPage() {
    const page = await api("GET", "/reviews");
    const reviewer = el("input", { type: "text", id: "reviewer", value: localStorage.getItem("ag-reviewer") || "" });
    reviewer.addEventListener("change", () => localStorage.setItem("ag-reviewer", reviewer.value));
    const status = el("p", { role: "status" });
    const rows = page.reviews.map((r) => {
      const note = el("input", { type: "text", placeholder: "note", "aria-label": `note for ${r.userId}` });
      const decide = async (decision) => {
        if (!reviewer.value.trim()) { status.className = "error"; status.textContent = "Say who you are first."; reviewer.focus(); return; }
        try {
          const path = `/reviews/${encodeURIComponent(r.userId)}/${encodeURIComponent(r.actionCode)}/${encodeURIComponent(r.idempotencyKey)}`;
          const a = await api("POST", path, { decision, reviewer: reviewer.value.trim(), note: note.value.trim() || undefined });
          status.className = "ok";
          status.textContent = `${r.actionCode} of ${r.userId}: ${a.state}`;
          row.remove();
        } catch (e) {
          status.className = "error";
          status.textContent = e.message;
        }
      };
      const row = el("tr", { "data-user": r.userId },
        el("td", {}, el("a", { href: `#/users/${encodeURIComponent(r.userId)}` }, r.userId)),
        el("td", {}, r.actionCode),
        el("td", {}, new Date(r.enteredReviewAt).toLocaleString()),
        el("td", {}, el("code", {}, JSON.stringify(r.custom ?? {}))),
        el("td", {}, r.ruleIds.join(", ")),
        el("td", {}, note,
          el("button", { type: "button", class: "approve", onclick: () => decide("APPROVE") }, "Approve"),
          el("button", { type: "button", class: "danger reject", onclick: () => decide("REJECT") }, "Reject")));
      return row;
    });
    return show(el("h1", {}, "Reviews"),
      el("section", {}, el("label", { for: "reviewer" }, "Your name (recorded with each decision)"), reviewer, status,
        page.reviews.length ? el("table", { id: "reviews" },
          el("thead", {}, el("tr", {}, ["User", "Action", "Waiting since", "Attributes", "Rules", "Decision"].map((h) => el("th", {}, h)))),
          el("tbody", {}, rows))
          : el("p", { class: "muted" }, "Nothing waits for review."),
        page.nextCursor ? el("p", { class: "muted" }, "More are waiting; decide these first.") : null));
  }

  // ---- Users ----------------------------------------------------------------------

  async function usersPage(userId) {
    const input = el("input", { type: "text", id: "user-id", value: userId || "" });
    const form = el("form", { class: "card" }, el("label", { for: "user-id" }, "User id"), input, el("button", { type: "submit" }, "Show"));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); location.hash = `#/users/${encodeURIComponent(input.value.trim())}`; });
    if (!userId) return show(el("h1", {}, "Users"), form);
    const o = await api("GET", `/users/${encodeURIComponent(userId)}`);
    const u = o.user;
    return show(el("h1", {}, "Users"), form,
      el("section", { id: "profile" }, el("h2", {}, userId),
        el("table", {}, el("tbody", {}, [["Email", u.email], ["Phone", u.phoneNumber], ["Username", u.username], ["Enrolled", u.enrolledVerificationMethods.join(", ") || "nothing"]]
          .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v ?? "")))))),
      el("section", { id: "authenticators" }, el("h2", {}, "Authenticators"),
        o.authenticators.length ? el("table", {}, el("tbody", {}, o.authenticators.map((a) => el("tr", {},
          el("td", {}, a.verificationMethod), el("td", {}, a.email || a.phoneNumber || a.webauthnCredential?.credentialId || ""),
          el("td", {}, a.verifiedAt ? `verified ${new Date(a.verifiedAt).toLocaleString()}` : "not verified"),
          el("td", {}, a.lastVerifiedAt ? `last used ${new Date(a.lastVerifiedAt).toLocaleString()}` : "")))))
          : el("p", { class: "muted" }, "None.")),
      el("section", { id: "authenticator-changes" }, el("h2", {}, "Authenticator changes"),
        (o.authenticatorChanges || []).length ? el("table", {},
          el("thead", {}, el("tr", {}, ["When", "Change", "Method", "Authenticator", "By"].map((h) => el("th", {}, h)))),
          el("tbody", {}, o.authenticatorChanges.map((c) => el("tr", {},
            el("td", {}, new Date(c.at).toLocaleString()),
            el("td", {}, c.change === "ADDED" ? "added" : "removed"),
            el("td", {}, c.verificationMethod),
            el("td", {}, c.userAuthenticatorId),
            el("td", {}, c.by.type === "ACTION" ? `the user, during ${c.by.actionCode} (${c.by.idempotencyKey})` : "the app's server")))))
          : el("p", { class: "muted" }, "None recorded.")),
      el("section", { id: "user-actions" }, el("h2", {}, "Recent actions"),
        o.actions.length ? o.actions.map((a) => el("div", {},
          el("p", {}, el("strong", {}, a.actionCode), ` ${a.state} · ${new Date(a.createdAt).toLocaleString()}`),
          el("ol", { class: "history" }, a.history.map((h) => el("li", {},
            `${h.from ? h.from + " → " : ""}${h.to} · ${new Date(h.at).toLocaleString()} · ${describe(h.cause)}`)))))
          : el("p", { class: "muted" }, "None.")));
  }

  function describe(c) {
    switch (c.type) {
      case "TRACK": return c.ruleId ? `rule ${c.ruleId}` : "default outcome";
      case "CHALLENGE": return `challenge (${c.method})`;
      case "REVIEW": return `reviewed by ${c.reviewer}${c.note ? `: ${c.note}` : ""}`;
      case "VETOED": return `vetoed by the app${c.reason ? `: ${c.reason}` : ""}`;
      case "SIGN_IN": return `sign-in (${c.method})`;
      case "TOO_MANY_ATTEMPTS": return "too many wrong codes";
      case "ENROLLED": return `authenticator added (${c.method}, ${c.userAuthenticatorId})`;
      case "NO_USABLE_METHOD": return "no usable method: the person could not complete the challenge";
      default: return "server API";
    }
  }

  // ---- Analytics ------------------------------------------------------------------

  /** A bar chart, one (stacked) bar per day, drawn as SVG in the page. */
  function chart(days, { id, label, series, max, unit = "" }) {
    const W = 720, H = 200, pad = 34;
    const total = (d) => series.reduce((sum, x) => sum + (x.value(d) || 0), 0);
    const top = max ?? Math.max(1, ...days.map(total));
    const bw = Math.min(48, Math.max(4, Math.floor((W - pad * 2) / Math.max(days.length, 1)) - 4));
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    svg.id = id;
    const add = (tag, attrs, text) => {
      const e = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    add("text", { x: pad, y: 12 }, label);
    add("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: "#999" });
    add("text", { x: 2, y: pad }, `${Math.round(top * 10) / 10}${unit}`);
    days.forEach((d, i) => {
      const x = pad + i * (bw + 4) + 2;
      let y = H - pad;
      for (const s of series) {
        const v = s.value(d) || 0;
        const h = ((H - pad * 2) * v) / top;
        if (h > 0) {
          const r = add("rect", { x, y: y - h, width: bw, height: h, fill: s.color, class: `bar ${s.name}` });
          const t = document.createElementNS(ns, "title");
          t.textContent = `${d.day}: ${v}${unit} ${s.name}`;
          r.append(t);
          y -= h;
        }
      }
      add("text", { x, y: H - pad + 14 }, d.day.slice(5));
    });
    return svg;
  }

  async function analyticsPage(code) {
    const configs = await api("GET", "/action-configurations");
    const select = el("select", { id: "analytics-action" }, configs.map((c) => el("option", { selected: c.actionCode === code }, c.actionCode)));
    select.addEventListener("change", () => { location.hash = `#/analytics/${encodeURIComponent(select.value)}`; });
    const action = code || configs[0]?.actionCode;
    const nodes = [el("h1", {}, "Analytics"), el("section", {}, el("label", { for: "analytics-action" }, "Action"), select)];
    if (action) {
      const a = await api("GET", `/analytics?actionCode=${encodeURIComponent(action)}`);
      const days = a.days;
      const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`);
      nodes.push(el("section", { id: "analytics" },
        el("h2", {}, `${action}, ${a.from} to ${a.to}`),
        days.length ? [
          chart(days, { id: "chart", label: "Tracks per day by outcome",
            series: OUTCOMES.map((o) => ({ name: o, color: COLORS[o], value: (d) => d.byOutcome[o] })) }),
          chart(days, { id: "chart-success", label: "Challenge success rate", max: 100, unit: "%",
            series: [{ name: "success", color: "#12b76a", value: (d) => (d.challengeSuccessRate === null ? 0 : Math.round(d.challengeSuccessRate * 100)) }] }),
          chart(days, { id: "chart-median", label: "Median time to complete a challenge", unit: " s",
            series: [{ name: "median", color: "#2e90fa", value: (d) => d.medianChallengeSeconds ?? 0 }] }),
        ] : el("p", { class: "muted" }, "Nothing tracked in this period."),
        el("p", { class: "legend" }, OUTCOMES.map((o) => el("span", {}, el("i", { class: o }), o))),
        el("table", {}, el("thead", {}, el("tr", {}, ["Day", "Tracks", "Allow", "Challenge", "Review", "Block", "Challenge success", "Median time to complete"].map((h) => el("th", {}, h)))),
          el("tbody", {}, days.map((d) => el("tr", {}, el("td", {}, d.day), el("td", {}, String(d.tracks)),
            OUTCOMES.map((o) => el("td", {}, String(d.byOutcome[o]))),
            el("td", {}, pct(d.challengeSuccessRate)),
            el("td", {}, d.medianChallengeSeconds === null ? "–" : `${d.medianChallengeSeconds} s`)))))));
    }
    return show(...nodes);
  }

  restore();
})();
