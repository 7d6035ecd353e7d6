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

export async function usersPage(userId) {
  const input = el("input", { type: "text", id: "user-id", value: userId || "", autocomplete: "off" });
  const form = el("form", { class: "card", role: "search" },
    el("label", { for: "user-id" }, "User id"), input, el("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); location.hash = `#/users/${encodeURIComponent(input.value.trim())}`; });
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
