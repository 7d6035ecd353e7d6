// What every page of the portal shares: building elements (values are
// always text, never HTML), calling the management API with the session's
// CSRF token and the analyst's name, and showing problems and values.

export const METHODS = ["PASSKEY", "SECURITY_KEY", "AUTHENTICATOR_APP", "EMAIL_OTP", "EMAIL_MAGIC_LINK", "SMS"];
export const OUTCOMES = ["ALLOW", "CHALLENGE", "REVIEW", "BLOCK"];
export const COLORS = { ALLOW: "#12b76a", CHALLENGE: "#f79009", REVIEW: "#2e90fa", BLOCK: "#d92d20" };

export const $ = (id) => document.getElementById(id);

/** Build an element: el("td", {class: "x"}, "text", child…). Strings become text. */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/**
 * A table whose rows become labelled blocks on a narrow screen (each cell
 * carries its column's name), so nothing spills out of its card.
 * `rows` are arrays of cells (nodes or text) or ready <tr> elements.
 */
export function table(attrs, headers, rows) {
  const body = rows.map((r) => {
    if (r instanceof Node) {
      [...r.children].forEach((td, i) => headers[i] && td.setAttribute("data-label", headers[i]));
      return r;
    }
    return el("tr", {}, r.map((c, i) => el("td", { "data-label": headers[i] || "" }, c)));
  });
  return el("table", { ...attrs, class: `stack ${attrs?.class || ""}`.trim() },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, body));
}

export const session = { csrf: null, onSignedOut: () => {} };

/** The analyst's name, recorded with their changes and review decisions. */
export function actorName() {
  return (localStorage.getItem("ag-reviewer") || "").trim();
}

export function setActorName(name) {
  localStorage.setItem("ag-reviewer", name.trim());
}

export async function api(method, path, body) {
  const headers = { "X-ActionGate-CSRF": session.csrf || "", "Content-Type": "application/json" };
  const name = actorName();
  if (name) headers["X-ActionGate-Actor"] = name;
  const r = await fetch("/v1/management" + path, {
    method,
    credentials: "same-origin",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) {
    session.onSignedOut();
    throw new Error("Your session ended. Sign in again.");
  }
  if (!r.ok) {
    const e = new Error(data.errorDescription || `Request failed (${r.status})`);
    e.status = r.status;
    e.problems = Array.isArray(data.problems) ? data.problems : null;
    throw e;
  }
  return data;
}

/** An error as a paragraph, or as a list when the API named several problems. */
export function failure(e) {
  if (e.problems && e.problems.length > 1) {
    return el("div", { class: "error", role: "alert" },
      el("p", {}, `${e.problems.length} problems:`),
      el("ul", { class: "problems" }, e.problems.map((p) => el("li", {}, p))));
  }
  return el("p", { class: "error", role: "alert" }, e.message);
}

/** Show an outcome in a status element: text, or an error with its problems. */
export function say(status, what, ok = true) {
  status.className = ok ? "ok" : "error";
  if (what instanceof Error) {
    status.className = "error";
    status.replaceChildren(...(what.problems && what.problems.length > 1 ? failure(what).childNodes : [what.message]));
  } else {
    status.replaceChildren(...[what].flat());
  }
}

const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });

/** A value as a person reads it: grouped numbers, plain text, compact JSON. */
export function readable(v) {
  if (typeof v === "number") return NUMBER.format(v);
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return JSON.stringify(v);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

/** Inline "are you sure?" in place of a button: resolves true when confirmed. */
export function confirmInPlace(button, question, yesLabel = "Delete") {
  return new Promise((resolve) => {
    const holder = button.parentNode;
    const box = el("span", { class: "confirm", role: "group", "aria-label": question },
      el("span", {}, question, " "));
    const yes = el("button", { type: "button", class: "danger confirm-yes" }, yesLabel);
    const no = el("button", { type: "button", class: "secondary confirm-no" }, "Cancel");
    box.append(yes, no);
    button.hidden = true;
    holder.insertBefore(box, button.nextSibling);
    const done = (answer) => { box.remove(); button.hidden = false; if (!answer) button.focus(); resolve(answer); };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    no.focus();
  });
}
