// A user: profile, authenticators, the trail of authenticator changes and
// recent actions with their history.
import { el, api, table, when } from "./lib.js";

export function describe(c) {
  switch (c.type) {
    case "TRACK": return c.ruleId ? `rule ${c.ruleId}` : "default outcome";
    case "CHALLENGE": return `challenge (${c.method})`;
    case "REVIEW": return `reviewed by ${c.reviewer}${c.note ? `: ${c.note}` : ""}`;
    case "VETOED": return `vetoed by the app${c.reason ? `: ${c.reason}` : ""}`;
    case "SIGN_IN": return `sign-in (${c.method})`;
    case "TOO_MANY_ATTEMPTS": return "too many wrong codes";
    case "ENROLLED": return `authenticator added (${c.method}, ${c.userAuthenticatorId})`;
    case "NO_USABLE_METHOD": return "no usable method: the person could not complete the challenge";
    case "ABANDONED": return "cancelled by the person on the challenge page";
    case "HELD_REQUEST_EXPIRED": return "the held request expired: nobody came back for it, and the app never received it";
    default: return "server API";
  }
}

/** What became of the request the edge proxy held back for an action. */
function held(h) {
  if (h.expiredAt) return `Held request: expired ${when(h.expiredAt)} without being released; the app never received it.`;
  const what = `Held request ${h.method} ${h.path}: `;
  if (h.releasedAt) return `${what}released to the app ${when(h.releasedAt)}.`;
  if (h.waitsForReview) return `${what}waits for a reviewer's decision.`;
  return `${what}waiting for the person to verify and come back, until ${when(h.expiresAt)}.`;
}

/** Users whose email or phone number is `q`, or whose id starts with it, from the user directory. */
async function found(q) {
  const list = el("div", { id: "found" });
  let after = null;
  const more = el("button", { type: "button", id: "more-users" }, "Show more");
  async function page() {
    const r = await api("GET", `/users?q=${encodeURIComponent(q)}${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    if (!after && !r.users.length) list.append(el("p", { class: "muted" }, `No user found for "${q}". Users are found by the start of their id, their exact email or their phone number (+ and digits).`));
    if (r.users.length) {
      list.append(table({}, ["User", "Email", "Phone", "Username"], r.users.map((u) => [
        el("a", { href: `#/users/${encodeURIComponent(u.userId)}` }, u.userId),
        u.email ? `${u.email}${u.emailVerified ? " (verified)" : ""}` : "",
        u.phoneNumber ? `${u.phoneNumber}${u.phoneNumberVerified ? " (verified)" : ""}` : "",
        u.username || ""])));
    }
    after = r.lastEvaluatedUserId || null;
    more.hidden = !after;
  }
  more.addEventListener("click", () => page());
  await page();
  return el("section", { id: "search-results" }, el("h2", {}, "Found"), list, more);
}

export async function usersPage(arg) {
  // #/users/<id> shows a user; #/users/?<text> searches.
  const searching = arg && arg.startsWith("?");
  const userId = searching ? "" : arg;
  const input = el("input", { type: "search", id: "user-id", value: searching ? arg.slice(1) : userId || "", autocomplete: "off" });
  const form = el("form", { class: "card", role: "search" },
    el("label", { for: "user-id" }, "User id (or its start), email or phone number"), input,
    el("button", { type: "submit", id: "find-user" }, "Find"),
    el("button", { type: "button", id: "open-user" }, "Open this id"));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); location.hash = `#/users/${encodeURIComponent("?" + input.value.trim())}`; });
  form.querySelector("#open-user").addEventListener("click", () => { location.hash = `#/users/${encodeURIComponent(input.value.trim())}`; });
  if (searching && arg.slice(1).trim()) return [el("h1", {}, "Users"), form, await found(arg.slice(1).trim())];
  if (searching) return [el("h1", {}, "Users"), form];
  if (!userId) return [el("h1", {}, "Users"), form];
  const o = await api("GET", `/users/${encodeURIComponent(userId)}`);
  const u = o.user;
  return [el("h1", {}, "Users"), form,
    el("section", { id: "profile" }, el("h2", {}, userId),
      el("table", {}, el("tbody", {}, [["Email", u.email], ["Phone", u.phoneNumber], ["Username", u.username],
        ["Enrolled", u.enrolledVerificationMethods.join(", ") || "nothing"]]
        .map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v ?? "")))))),
    el("section", { id: "authenticators" }, el("h2", {}, "Authenticators"),
      o.authenticators.length ? table({}, ["Method", "Which", "Verified", "Last used"], o.authenticators.map((a) => [
        a.verificationMethod, a.email || a.phoneNumber || a.webauthnCredential?.credentialId || "",
        a.verifiedAt ? `verified ${when(a.verifiedAt)}` : "not verified",
        a.lastVerifiedAt ? `last used ${when(a.lastVerifiedAt)}` : ""]))
        : el("p", { class: "muted" }, "None.")),
    el("section", { id: "authenticator-changes" }, el("h2", {}, "Authenticator changes"),
      (o.authenticatorChanges || []).length ? table({}, ["When", "Change", "Method", "Authenticator", "By"],
        o.authenticatorChanges.map((c) => [when(c.at), c.change === "ADDED" ? "added" : "removed", c.verificationMethod,
          c.userAuthenticatorId,
          c.by.type === "ACTION" ? `the user, during ${c.by.actionCode} (${c.by.idempotencyKey})` : "the app's server"]))
        : el("p", { class: "muted" }, "None recorded.")),
    el("section", { id: "user-actions" }, el("h2", {}, "Recent actions"),
      o.actions.length ? o.actions.map((a) => el("div", { class: "user-action" },
        el("p", {}, el("strong", {}, a.actionCode), ` ${a.state} · ${when(a.createdAt)}`),
        a.heldRequest ? el("p", { class: "held" }, held(a.heldRequest)) : null,
        el("ol", { class: "history" }, a.history.map((h) => el("li", {},
          `${h.from ? h.from + " → " : ""}${h.to} · ${when(h.at)} · ${describe(h.cause)}`)))))
        : el("p", { class: "muted" }, "None."))];
}
