// An action configuration's history: every change with who, when and what,
// a diff of one version against the state before it, and putting either
// state back (a restore is itself a new version, so it can be undone too).
import { el, api, table, say, when, readable, confirmInPlace } from "./lib.js";

const SKIP = new Set(["rules", "createdAt", "updatedAt", "actionCode"]);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function who(actor) {
  if (!actor) return "";
  const via = actor.via === "PORTAL" ? "portal" : "management API";
  return actor.name ? `${actor.name} (${via})` : `unnamed (${via})`;
}

/** What changed between two configurations (null: none), as lines for people. */
export function differences(before, after) {
  if (!before && !after) return [];
  if (!before) return [["added", "The configuration was created", `${(after.rules || []).length} rules`]];
  if (!after) return [["removed", "The configuration was deleted", `it had ${(before.rules || []).length} rules`]];
  const out = [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const k of keys) {
    if (SKIP.has(k) || same(before[k], after[k])) continue;
    out.push(["changed", k, `${readable(before[k])} → ${readable(after[k])}`]);
  }
  const byId = (c) => new Map((c.rules || []).map((r) => [r.ruleId, r]));
  const b = byId(before), a = byId(after);
  for (const [id, r] of a) {
    const old = b.get(id);
    if (!old) { out.push(["added", `rule ${id}`, `${r.name}: ${r.type}, priority ${r.priority}`]); continue; }
    const fields = [...new Set([...Object.keys(old), ...Object.keys(r)])].filter((f) => !same(old[f], r[f]));
    for (const f of fields) out.push(["changed", `rule ${id}: ${f}`, `${readable(old[f])} → ${readable(r[f])}`]);
  }
  for (const [id, r] of b) if (!a.has(id)) out.push(["removed", `rule ${id}`, `${r.name}: ${r.type}, priority ${r.priority}`]);
  return out;
}

/** The history section of action `code`; `changed(flash)` redraws the page. */
export async function versionsSection(code, changed) {
  const status = el("p", { role: "status", id: "versions-status" });
  const detail = el("div", { id: "version-detail", "aria-live": "polite" });
  let page;
  try {
    page = await api("GET", `/action-configurations/${encodeURIComponent(code)}/versions?limit=20`);
  } catch (e) {
    return el("section", { id: "versions" }, el("h2", {}, "History"), el("p", { class: "error" }, e.message));
  }

  async function show(v) {
    let full;
    try { full = await api("GET", `/action-configurations/${encodeURIComponent(code)}/versions/${v.version}`); }
    catch (e) { say(status, e); return; }
    const lines = differences(full.before, full.after);
    const restore = el("button", { type: "button", class: "secondary", id: "restore-after" }, "Restore this version");
    const undo = el("button", { type: "button", class: "secondary", id: "restore-before" }, "Undo this change");
    const put = async (button, to, question, done) => {
      if (!(await confirmInPlace(button, question, "Yes, put it back"))) return;
      try {
        await api("POST", `/action-configurations/${encodeURIComponent(code)}/versions/${v.version}/restore`, { to });
        changed({ nodes: [done] });
      } catch (e) { say(status, e); }
    };
    const later = page.versions[0] && page.versions[0].version !== v.version
      ? " Every change made after it is undone too." : "";
    restore.addEventListener("click", () => put(restore, "AFTER",
      `Make the configuration what version ${v.version} left?${later}`, `Restored the configuration as version ${v.version} left it.`));
    undo.addEventListener("click", () => put(undo, "BEFORE",
      `Make the configuration what it was before version ${v.version}?${later}`, `Undid version ${v.version}.`));
    detail.replaceChildren(el("div", { class: "card-inner", id: "version-diff" },
      el("h3", {}, `Version ${v.version}: ${v.change}`),
      el("p", { class: "muted" }, `${when(v.at)} · ${who(v.actor)}`),
      lines.length ? el("ul", { class: "diff" }, lines.map(([kind, what, how]) =>
        el("li", { class: kind }, el("strong", {}, kind === "added" ? "+ " : kind === "removed" ? "− " : "~ ", what), how ? `: ${how}` : "")))
        : el("p", { class: "muted" }, "Nothing the configuration shows changed."),
      el("div", {}, restore, undo)));
    detail.querySelector("h3").focus?.();
  }

  const rows = page.versions.map((v) => [
    String(v.version), when(v.at), who(v.actor), v.change,
    el("button", { type: "button", class: "secondary show-version", "data-version": String(v.version), onclick: () => show(v) }, "Show"),
  ]);
  return el("section", { id: "versions" }, el("h2", {}, "History"),
    el("p", { class: "muted" }, "Every change, newest first. Show one to see what it changed and to put the configuration back."),
    rows.length ? table({ id: "versions-table" }, ["Version", "When", "Who", "Change", ""], rows)
      : el("p", { class: "muted" }, "No changes recorded yet."),
    page.nextBefore ? el("p", { class: "muted" }, "Older versions are kept; the API lists them (versions?before=).") : null,
    status, detail);
}
