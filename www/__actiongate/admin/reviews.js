// The review queue: each held action with the rule that decided it, its
// attributes as a person reads them, a flag on requests that look the same
// (the same user, action and attributes: often one request sent twice), and
// Approve / Reject with the reviewer's name, remembered in this browser.
import { el, api, table, say, when, readable, actorName, setActorName } from "./lib.js";

/** Attributes as "name: value" lines (nested objects one level down, dotted). */
function attributes(custom) {
  const lines = [];
  for (const [k, v] of Object.entries(custom ?? {})) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) lines.push([`${k}.${k2}`, readable(v2)]);
    } else lines.push([k, readable(v)]);
  }
  return lines.length ? el("dl", { class: "attrs" }, lines.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))
    : el("span", { class: "muted" }, "none");
}

export async function reviewsPage() {
  const page = await api("GET", "/reviews");
  const reviewer = el("input", { type: "text", id: "reviewer", value: actorName(), autocomplete: "name" });
  reviewer.addEventListener("change", () => setActorName(reviewer.value));
  const status = el("p", { role: "status" });
  const same = new Map();
  const key = (r) => JSON.stringify([r.userId, r.actionCode, r.custom ?? {}]);
  for (const r of page.reviews) same.set(key(r), (same.get(key(r)) || 0) + 1);
  const rows = page.reviews.map((r) => {
    const note = el("input", { type: "text", placeholder: "note", "aria-label": `note for ${r.userId}` });
    const decide = async (decision) => {
      if (!reviewer.value.trim()) { say(status, "Say who you are first.", false); reviewer.focus(); return; }
      setActorName(reviewer.value);
      try {
        const path = `/reviews/${encodeURIComponent(r.userId)}/${encodeURIComponent(r.actionCode)}/${encodeURIComponent(r.idempotencyKey)}`;
        const a = await api("POST", path, { decision, reviewer: reviewer.value.trim(), note: note.value.trim() || undefined });
        say(status, `${r.actionCode} of ${r.userId}: ${a.state}`);
        row.remove();
      } catch (e) {
        say(status, e);
      }
    };
    const [deciding, ...others] = r.ruleIds;
    const twins = same.get(key(r));
    const row = el("tr", { "data-user": r.userId },
      el("td", {}, el("a", { href: `#/users/${encodeURIComponent(r.userId)}` }, r.userId),
        twins > 1 ? el("span", { class: "badge duplicate", title: "Same user, action and attributes" }, `looks like ${twins - 1} other${twins > 2 ? "s" : ""}`) : null),
      el("td", {}, r.actionCode, el("br"), el("span", { class: "muted" }, `ref ${r.idempotencyKey.slice(0, 8)}`)),
      el("td", {}, when(r.enteredReviewAt)),
      el("td", {}, attributes(r.custom)),
      el("td", { class: "deciding" }, deciding ? el("strong", {}, deciding) : el("span", { class: "muted" }, "the default outcome"),
        others.length ? el("span", { class: "muted" }, ` (also matched: ${others.join(", ")})`) : null),
      el("td", {}, note,
        el("span", { class: "row-actions" },
          el("button", { type: "button", class: "approve", onclick: () => decide("APPROVE") }, "Approve"),
          el("button", { type: "button", class: "danger reject", onclick: () => decide("REJECT") }, "Reject"))));
    return row;
  });
  return [el("h1", {}, "Reviews"),
    el("section", {}, el("label", { for: "reviewer" }, "Your name (recorded with each decision and change)"), reviewer, status,
      page.reviews.length ? table({ id: "reviews" }, ["User", "Action", "Waiting since", "Attributes", "Decided by", "Decision"], rows)
        : el("p", { class: "muted" }, "Nothing waits for review."),
      page.nextCursor ? el("p", { class: "muted" }, "More are waiting; decide these first.") : null)];
}
