// An action's rules: the list, and one editor with two views of the same
// rule — a form whose conditions are rows (data point, operator, value or
// list) and the rule's JSON beside it for everything the form does not
// show. Editing either updates the other; what is saved is the JSON.
// Deleting asks first and can be undone from the history.
import { el, api, table, say, confirmInPlace, OUTCOMES } from "./lib.js";

/** The data points rules may read (crates/core/src/policy/rules/input.rs, FIXED_VARIABLES). */
export const DATA_POINTS = [
  "action.code", "user.email", "user.emailVerified", "user.phoneNumber", "user.phoneNumberVerified",
  "user.username", "user.displayName", "user.locale", "user.isEnrolled", "device.id", "device.isNew",
  "device.isSeen", "device.firstSeenAt", "device.count", "ip.address", "ip.countryCode", "ip.asn",
  "ip.isNewCountry", "ip.isSeenCountry", "ip.impossibleTravel", "request.userAgent", "ua.isBot",
  "velocity.actionsLastHour", "velocity.actionsLastDay", "now",
];
const BOOLEAN = new Set(["user.emailVerified", "user.phoneNumberVerified", "user.isEnrolled", "device.isNew",
  "device.isSeen", "ip.isNewCountry", "ip.isSeenCountry", "ip.impossibleTravel", "ua.isBot"]);
const NUMERIC = new Set(["device.firstSeenAt", "device.count", "ip.asn", "velocity.actionsLastHour",
  "velocity.actionsLastDay", "now"]);
const CUSTOM = "custom";
const OPERATORS = [
  ["==", "is"], ["!=", "is not"], [">", "is more than"], [">=", "is at least"], ["<", "is less than"],
  ["<=", "is at most"], ["in-list", "is in the list"], ["not-in-list", "is not in the list"],
];
const COMPARE = ["==", "!=", ">", ">=", "<", "<="];

const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);

/** One condition row from JSON Logic, or null when the form cannot show it. */
function parseRow(x) {
  if (!isObject(x) || Object.keys(x).length !== 1) return null;
  const [op] = Object.keys(x);
  const args = x[op];
  if (op === "!") {
    const inner = parseRow(Array.isArray(args) && args.length === 1 ? args[0] : args);
    return inner && inner.op === "in-list" ? { ...inner, op: "not-in-list" } : null;
  }
  if (!Array.isArray(args) || args.length !== 2) return null;
  const v = args[0];
  if (!isObject(v) || Object.keys(v).length !== 1 || typeof v.var !== "string" || !v.var) return null;
  if (op === "inValueList") return typeof args[1] === "string" ? { path: v.var, op: "in-list", value: args[1] } : null;
  const literal = args[1] === null || ["string", "number", "boolean"].includes(typeof args[1]);
  return COMPARE.includes(op) && literal ? { path: v.var, op, value: args[1] } : null;
}

/** Conditions as {join, rows}, or null when they are more than rows joined by all/any. */
export function toRows(c) {
  if (c === true) return { join: "and", rows: [] };
  if (isObject(c) && Object.keys(c).length === 1 && ("and" in c || "or" in c)) {
    const join = "and" in c ? "and" : "or";
    if (!Array.isArray(c[join]) || c[join].length === 0) return null;
    const rows = c[join].map(parseRow);
    return rows.every(Boolean) ? { join, rows } : null;
  }
  const row = parseRow(c);
  return row ? { join: "and", rows: [row] } : null;
}

function rowLogic(r) {
  const v = { var: r.path };
  if (r.op === "in-list") return { inValueList: [v, r.value] };
  if (r.op === "not-in-list") return { "!": { inValueList: [v, r.value] } };
  return { [r.op]: [v, r.value] };
}

/** JSON Logic from {join, rows}: `true` (always) for no rows. */
export function fromRows({ join, rows }) {
  if (rows.length === 0) return true;
  if (rows.length === 1) return rowLogic(rows[0]);
  return { [join]: rows.map(rowLogic) };
}

/** What a typed value means for a data point: a number, true/false, or text. */
function typed(path, text) {
  const t = text.trim();
  if (BOOLEAN.has(path) || (!DATA_POINTS.includes(path) && (t === "true" || t === "false"))) return t === "true";
  if ((NUMERIC.has(path) || !DATA_POINTS.includes(path)) && /^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  return text;
}

let rowCount = 0;

/** The conditions builder: rows in a fieldset, `onChange` after every edit. */
function conditionsBuilder(lists, onChange) {
  const join = el("select", { id: "rule-join", "aria-label": "How the conditions combine" },
    el("option", { value: "and" }, "all of these are true"), el("option", { value: "or" }, "any of these is true"));
  const rows = el("ol", { class: "conditions", id: "rule-conditions" });
  const note = el("p", { class: "muted", id: "rule-builder-note" });
  const add = el("button", { type: "button", class: "secondary", id: "add-condition" }, "Add a condition");
  const box = el("fieldset", { class: "builder" }, el("legend", {}, "When"), el("div", {}, "Match when ", join), rows, add, note);

  function addRow(r = { path: "action.custom.amount", op: ">", value: "" }) {
    const n = ++rowCount;
    const custom = !DATA_POINTS.includes(r.path);
    const point = el("select", { "aria-label": "Data point", class: "cond-point", id: `cond-point-${n}` },
      DATA_POINTS.map((p) => el("option", { value: p, selected: !custom && p === r.path }, p)),
      el("option", { value: CUSTOM, selected: custom }, "a custom attribute…"));
    const path = el("input", { type: "text", "aria-label": "Custom attribute", class: "cond-path", value: custom ? r.path : "action.custom.", hidden: !custom });
    const op = el("select", { "aria-label": "Operator", class: "cond-op" },
      OPERATORS.map(([v, label]) => el("option", { value: v, selected: v === r.op }, label)));
    const value = el("input", { type: "text", "aria-label": "Value", class: "cond-value",
      value: r.op.includes("list") || r.value === "" ? "" : String(r.value) });
    const list = el("select", { "aria-label": "Value list", class: "cond-list" },
      lists.length ? lists.map((l) => el("option", { value: l.alias, selected: l.alias === r.value }, `${l.name} (${l.alias})`))
        : el("option", { value: "" }, "(no value lists yet)"));
    if (r.op.includes("list") && r.value && !lists.some((l) => l.alias === r.value)) {
      list.append(el("option", { value: r.value, selected: true }, `${r.value} (missing)`));
    }
    const remove = el("button", { type: "button", class: "link remove-condition", "aria-label": "Remove this condition" }, "Remove");
    const li = el("li", { class: "condition" }, point, path, op, value, list, remove);
    const shape = () => {
      path.hidden = point.value !== CUSTOM;
      const listOp = op.value.includes("list");
      value.hidden = listOp;
      list.hidden = !listOp;
    };
    li.read = () => {
      const p = point.value === CUSTOM ? path.value.trim() : point.value;
      return { path: p, op: op.value, value: op.value.includes("list") ? list.value : typed(p, value.value) };
    };
    for (const c of [point, path, op, value, list]) c.addEventListener("input", () => { shape(); onChange(); });
    remove.addEventListener("click", () => { li.remove(); onChange(); add.focus(); });
    shape();
    rows.append(li);
    return li;
  }
  add.addEventListener("click", () => { addRow().querySelector("select").focus(); onChange(); });
  join.addEventListener("input", onChange);

  return {
    box,
    /** Show conditions; false when the form cannot (they stay JSON only). */
    show(conditions) {
      const parsed = toRows(conditions);
      rows.replaceChildren();
      const can = parsed !== null;
      for (const c of box.querySelectorAll("select, input, button")) c.disabled = !can;
      note.textContent = can ? (parsed.rows.length ? "" : "No conditions: the rule always matches.")
        : "These conditions are more than the form shows: edit them in the JSON.";
      if (can) {
        join.value = parsed.join;
        parsed.rows.forEach((r) => addRow(r));
      }
      return can;
    },
    read() {
      return fromRows({ join: join.value, rows: [...rows.children].map((li) => li.read()) });
    },
    usable: () => !join.disabled,
  };
}

const BLANK = { name: "", priority: 10, type: "CHALLENGE", isActive: true, conditions: { ">": [{ var: "action.custom.amount" }, 1000] } };

/** The rules of action `code`; `changed(flash)` redraws the page after a change. */
export async function rulesSection(code, rules, changed, flash) {
  const lists = await api("GET", "/value-lists").catch(() => []);
  const status = el("p", { role: "status", id: "rules-status" });
  const id = el("input", { type: "text", id: "rule-id", placeholder: "large-withdrawal", autocomplete: "off" });
  const name = el("input", { type: "text", id: "rule-name", placeholder: "Large withdrawal" });
  const description = el("input", { type: "text", id: "rule-description", placeholder: "Why it exists (optional)" });
  const priority = el("input", { type: "number", id: "rule-priority", min: "0", step: "1" });
  const type = el("select", { id: "rule-type" }, OUTCOMES.map((o) => el("option", {}, o)));
  const active = el("input", { type: "checkbox", id: "rule-active" });
  const reviewAfter = el("input", { type: "checkbox", id: "rule-review-after" });
  // Why the customer is asked, in English here; other languages in the JSON (customerReason.de, …).
  const reason = el("input", { type: "text", id: "rule-reason", maxlength: "500", placeholder: "e.g. {{action.custom.amount | number}} is more than you usually send." });
  const json = el("textarea", { id: "rule-json", rows: 14, spellcheck: "false", "aria-describedby": "rule-json-note" });
  const jsonNote = el("p", { class: "muted", id: "rule-json-note" }, "The rule as the API takes it. Fields the form does not show (methods, …) are kept.");

  let syncing = false;
  const builder = conditionsBuilder(lists, () => formToJson());
  const fields = [name, description, priority, type, active, reviewAfter, reason];

  function current() {
    try { const v = JSON.parse(json.value); return isObject(v) ? v : {}; } catch { return null; }
  }
  function formToJson() {
    if (syncing) return;
    const r = current() ?? {};
    r.name = name.value;
    if (description.value.trim()) r.description = description.value; else delete r.description;
    if (priority.value === "") delete r.priority; else r.priority = Number(priority.value);
    r.type = type.value;
    r.isActive = active.checked;
    if (type.value === "CHALLENGE" && reviewAfter.checked) r.reviewAfterChallenge = true; else delete r.reviewAfterChallenge;
    const asks = type.value === "CHALLENGE" || type.value === "REVIEW";
    const reasons = isObject(r.customerReason) ? { ...r.customerReason } : {};
    if (asks && reason.value.trim()) reasons.en = reason.value; else delete reasons.en;
    if (asks && Object.keys(reasons).length) r.customerReason = reasons; else delete r.customerReason;
    reason.disabled = !asks;
    if (builder.usable()) r.conditions = builder.read();
    reviewAfter.disabled = type.value !== "CHALLENGE";
    json.value = JSON.stringify(r, null, 2);
  }
  function jsonToForm() {
    const r = current();
    if (r === null) { jsonNote.textContent = "Not JSON yet: the form shows the last rule that was."; return; }
    jsonNote.textContent = "The rule as the API takes it. Fields the form does not show (methods, …) are kept.";
    syncing = true;
    name.value = r.name ?? "";
    description.value = r.description ?? "";
    priority.value = r.priority ?? "";
    type.value = OUTCOMES.includes(r.type) ? r.type : "CHALLENGE";
    active.checked = r.isActive !== false;
    reviewAfter.checked = r.reviewAfterChallenge === true;
    reviewAfter.disabled = type.value !== "CHALLENGE";
    reason.value = (isObject(r.customerReason) && r.customerReason.en) || "";
    reason.disabled = !(type.value === "CHALLENGE" || type.value === "REVIEW");
    builder.show(r.conditions ?? true);
    syncing = false;
  }
  function load(ruleId, rule) {
    status.className = "";
    status.textContent = "";
    id.value = ruleId;
    const { ruleId: _, actionCode, createdAt, updatedAt, ...rest } = rule;
    json.value = JSON.stringify(rest, null, 2);
    jsonToForm();
    heading.textContent = ruleId ? `Edit rule ${ruleId}` : "New rule";
  }
  for (const f of fields) f.addEventListener("input", formToJson);
  json.addEventListener("input", jsonToForm);

  const rows = rules.map((r) => {
    const edit = el("button", { type: "button", class: "secondary edit-rule", onclick: () => { load(r.ruleId, r); name.focus(); } }, "Edit");
    const del = el("button", { type: "button", class: "danger delete-rule" }, "Delete");
    del.addEventListener("click", async () => {
      if (!(await confirmInPlace(del, `Delete rule ${r.ruleId}?`))) return;
      try {
        const done = await api("DELETE", `/action-configurations/${encodeURIComponent(code)}/rules/${encodeURIComponent(r.ruleId)}`);
        changed({ nodes: [`Deleted rule ${r.ruleId}. `, undoButton(code, done.version, `Rule ${r.ruleId} is back.`, changed)] });
      } catch (e) { say(status, e); }
    });
    return [r.ruleId, r.name, String(r.priority), r.type, r.isActive === false ? "off" : "on", el("span", { class: "row-actions" }, edit, del)];
  });
  const heading = el("h3", { id: "rule-heading" }, "New rule");
  const form = el("form", { id: "rule-form", class: "rule-editor" },
    heading,
    el("div", { class: "two" },
      el("div", { class: "rule-fields" },
        el("label", { for: "rule-id" }, "Rule id"), id,
        el("label", { for: "rule-name" }, "Name"), name,
        el("label", { for: "rule-description" }, "Description"), description,
        el("label", { for: "rule-priority" }, "Priority (0 runs first and wins)"), priority,
        el("label", { for: "rule-type" }, "Then"), type,
        el("div", { class: "checks" }, el("label", {}, active, "Active"), el("label", {}, reviewAfter, "Review after the challenge")),
        el("label", { for: "rule-reason" }, "Why the customer is asked (shown on the challenge page; English, other languages in the JSON)"), reason,
        builder.box),
      el("div", { class: "rule-json" }, el("label", { for: "rule-json" }, "JSON"), json, jsonNote)),
    status,
    el("button", { type: "submit", id: "save-rule" }, "Save rule"),
    el("button", { type: "button", class: "secondary", id: "new-rule", onclick: () => load("", BLANK) }, "Start a new rule"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let body;
    try { body = JSON.parse(json.value); } catch (e) { say(status, `The JSON is not valid: ${e.message}`, false); return; }
    if (!id.value.trim()) { say(status, "Give the rule an id.", false); id.focus(); return; }
    try {
      await api("PUT", `/action-configurations/${encodeURIComponent(code)}/rules/${encodeURIComponent(id.value.trim())}`, body);
      changed({ nodes: [`Saved rule ${id.value.trim()}.`] });
    } catch (e) {
      say(status, e);
    }
  });
  load("", BLANK);
  if (flash) say(status, flash.nodes);
  return el("section", { id: "rules" }, el("h2", {}, "Rules"),
    rules.length ? table({}, ["Id", "Name", "Priority", "Then", "Active", ""], rows)
      : el("p", { class: "muted" }, "No rules: every track gets the default outcome."),
    form);
}

/** A button that puts the configuration back as it was before `version`. */
export function undoButton(code, version, doneText, changed) {
  const b = el("button", { type: "button", class: "secondary undo" }, "Undo");
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await api("POST", `/action-configurations/${encodeURIComponent(code)}/versions/${version}/restore`, { to: "BEFORE" });
      changed({ nodes: [doneText] });
    } catch (e) {
      b.disabled = false;
      b.replaceWith(el("span", { class: "error" }, e.message));
    }
  });
  return b;
}
