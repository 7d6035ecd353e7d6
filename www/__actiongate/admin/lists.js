// Value lists: all of them, one list's items (searchable, editable), a CSV
// import, and deleting a list (asked first; the API refuses while a rule
// uses it and says which).
import { el, api, table, say, when, readable, confirmInPlace } from "./lib.js";

/** The first column of each CSV line (quotes handled), blank lines and a header skipped. */
export function csvColumn(text, skipHeader) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const first = (line) => {
    const m = line.match(/^\s*"((?:[^"]|"")*)"|^([^,]*)/);
    return (m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]).trim();
  };
  return lines.slice(skipHeader ? 1 : 0).map(first).filter(Boolean);
}

const matching = (l) => ((l.normalize ?? []).length ? l.normalize.join(", ") : "exact");

export async function listsPage() {
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
      location.hash = "#/lists";
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (e) {
      say(status, e);
    }
  });
  const link = (l) => el("a", { href: `#/lists/${encodeURIComponent(l.alias)}` }, l.alias);
  return [el("h1", {}, "Value lists"),
    el("section", {}, lists.length
      ? table({ id: "lists" }, ["Alias", "Name", "Type", "Matched after", "Items"],
        lists.map((l) => el("tr", {}, el("td", {}, link(l)), el("td", {}, l.name), el("td", {}, l.itemType),
          el("td", { class: "normalize" }, matching(l)), el("td", {}, String(l.itemCount ?? l.items?.length ?? "")))))
      : el("p", { class: "muted" }, "No value lists yet. Import one below; rules use it with “is in the list”.")),
    form];
}

export async function listPage(alias) {
  const l = await api("GET", `/value-lists/${encodeURIComponent(alias)}`);
  const status = el("p", { role: "status", id: "list-status" });
  const search = el("input", { type: "search", id: "list-search", placeholder: "Find an item", "aria-controls": "list-items" });
  const count = el("p", { class: "muted", id: "list-count", "aria-live": "polite" });
  const items = el("ul", { class: "items", id: "list-items" });
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = l.items.filter((i) => String(i).toLowerCase().includes(q));
    items.replaceChildren(...shown.slice(0, 500).map((i) => el("li", {}, readable(i))));
    count.textContent = q ? `${shown.length} of ${l.items.length} items match` : `${l.items.length} items`;
    if (shown.length > 500) count.textContent += " (the first 500 shown)";
  };
  search.addEventListener("input", draw);
  draw();

  const name = el("input", { type: "text", id: "list-edit-name", value: l.name });
  const text = el("textarea", { id: "list-edit-items", rows: 10 }, l.items.join("\n"));
  const edit = el("form", { class: "card", id: "list-edit" },
    el("h2", {}, "Edit"),
    el("label", { for: "list-edit-name" }, "Name"), name,
    el("label", { for: "list-edit-items" }, "Items, one per line"), text,
    el("button", { type: "submit", id: "list-save" }, "Save the list"));
  edit.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let values = text.value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
    if (l.itemType === "number") values = values.map(Number);
    const body = { name: name.value.trim() || alias, itemType: l.itemType, items: values };
    if (l.normalize !== undefined) body.normalize = l.normalize;
    try {
      const saved = await api("PUT", `/value-lists/${encodeURIComponent(alias)}`, body);
      l.items = saved.items ?? values;
      l.name = saved.name ?? body.name;
      draw();
      say(status, `Saved: ${l.items.length} items.`);
    } catch (e) { say(status, e); }
  });
  const del = el("button", { type: "button", class: "danger", id: "list-delete" }, "Delete this list");
  del.addEventListener("click", async () => {
    if (!(await confirmInPlace(del, `Delete the list ${alias} and its ${l.items.length} items?`))) return;
    try {
      await api("DELETE", `/value-lists/${encodeURIComponent(alias)}`);
      location.hash = "#/lists";
    } catch (e) { say(status, e); }
  });
  return [el("p", {}, el("a", { href: "#/lists" }, "← All value lists")),
    el("h1", {}, l.name),
    el("section", { id: "list-view" },
      el("p", { class: "muted" }, `Alias ${l.alias} · ${l.itemType} · matched after ${matching(l)} · changed ${when(l.updatedAt)}`),
      el("label", { for: "list-search" }, "Search"), search, count, items, status, del),
    edit];
}
