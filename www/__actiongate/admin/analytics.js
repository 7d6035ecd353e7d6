// Analytics of one action over the last 30 days (the busiest action when
// none is chosen): tracks by outcome, the challenge success rate (of the
// challenges issued, so abandoned ones count against it) and the median
// time to complete, each on a day axis with every day of the period.
import { el, api, table, OUTCOMES, COLORS } from "./lib.js";

const DAY_MS = 86_400_000;

/** Every day from `from` to `to` (YYYY-MM-DD, UTC), with the API's entry or zeros. */
export function allDays(from, to, days) {
  const byDay = new Map(days.map((d) => [d.day, d]));
  const out = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`) && out.length < 400; t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push(byDay.get(day) ?? { day, tracks: 0, byOutcome: { ALLOW: 0, CHALLENGE: 0, REVIEW: 0, BLOCK: 0 },
      challengesSucceeded: 0, challengesFailed: 0, challengesAbandoned: 0, challengeSuccessRate: null, medianChallengeSeconds: null });
  }
  return out;
}

/** A bar chart, one (stacked) bar per day, with a value axis and a day axis, drawn as SVG. */
function chart(days, { id, label, series, max, unit = "" }) {
  const W = 720, H = 220, left = 44, right = 12, top = 22, bottom = 40;
  const total = (d) => series.reduce((sum, x) => sum + (x.value(d) || 0), 0);
  const peak = max ?? Math.max(1, ...days.map(total));
  const step = (W - left - right) / Math.max(days.length, 1);
  const bw = Math.max(2, Math.min(40, step - 2));
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
  const y = (v) => H - bottom - ((H - top - bottom) * v) / peak;
  add("text", { x: left, y: 14, class: "title" }, label);
  for (const f of [0, 0.5, 1]) {
    const v = Math.round(peak * f * 10) / 10;
    add("line", { x1: left, y1: y(peak * f), x2: W - right, y2: y(peak * f), class: "grid" });
    add("text", { x: left - 4, y: y(peak * f) + 4, "text-anchor": "end" }, `${v}${unit}`);
  }
  const every = Math.max(1, Math.ceil(days.length / 8));
  days.forEach((d, i) => {
    const x = left + i * step + (step - bw) / 2;
    let base = 0;
    for (const s of series) {
      const v = s.value(d) || 0;
      if (v > 0) {
        const r = add("rect", { x, y: y(base + v), width: bw, height: y(base) - y(base + v), fill: s.color, class: `bar ${s.name}` });
        const t = document.createElementNS(ns, "title");
        t.textContent = `${d.day}: ${v}${unit} ${s.name}`;
        r.append(t);
        base += v;
      }
    }
    if (i % every === 0 || i === days.length - 1) {
      add("line", { x1: x + bw / 2, y1: H - bottom, x2: x + bw / 2, y2: H - bottom + 4, class: "tick" });
      add("text", { x: x + bw / 2, y: H - bottom + 16, "text-anchor": "middle", class: "day" },
        new Date(`${d.day}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" }));
    }
  });
  add("line", { x1: left, y1: H - bottom, x2: W - right, y2: H - bottom, class: "axis" });
  add("text", { x: (left + W - right) / 2, y: H - 6, "text-anchor": "middle", class: "axis-title" }, "Day (UTC)");
  return svg;
}

/** The configured action with the most tracks in the period (the first when none has any). */
async function busiest(configs) {
  const all = await api("GET", "/analytics");
  const configured = new Set(configs.map((c) => c.actionCode));
  const sums = new Map();
  for (const d of all.days) {
    if (configured.has(d.actionCode)) sums.set(d.actionCode, (sums.get(d.actionCode) || 0) + d.tracks);
  }
  const best = [...sums].sort((a, b) => b[1] - a[1])[0];
  return best ? best[0] : configs[0]?.actionCode;
}

export async function analyticsPage(code) {
  const configs = await api("GET", "/action-configurations");
  const action = code || await busiest(configs);
  const select = el("select", { id: "analytics-action" }, configs.map((c) => el("option", { selected: c.actionCode === action }, c.actionCode)));
  select.addEventListener("change", () => { location.hash = `#/analytics/${encodeURIComponent(select.value)}`; });
  const nodes = [el("h1", {}, "Analytics"), el("section", {}, el("label", { for: "analytics-action" }, "Action"), select)];
  if (!action) return [...nodes, el("p", { class: "muted" }, "No actions configured yet.")];
  const a = await api("GET", `/analytics?actionCode=${encodeURIComponent(action)}`);
  const days = allDays(a.from, a.to, a.days);
  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`);
  const any = a.days.length > 0;
  nodes.push(el("section", { id: "analytics" },
    el("h2", {}, `${action}, ${a.from} to ${a.to}`),
    any ? [
      chart(days, { id: "chart", label: "Tracks per day by outcome",
        series: OUTCOMES.map((o) => ({ name: o, color: COLORS[o], value: (d) => d.byOutcome[o] })) }),
      el("p", { class: "legend" }, OUTCOMES.map((o) => el("span", {}, el("i", { class: o }), o))),
      chart(days, { id: "chart-success", label: "Challenge success rate (of challenges issued)", max: 100, unit: "%",
        series: [{ name: "success", color: "#12b76a", value: (d) => (d.challengeSuccessRate === null ? 0 : Math.round(d.challengeSuccessRate * 100)) }] }),
      chart(days, { id: "chart-median", label: "Median time to complete a challenge", unit: " s",
        series: [{ name: "median", color: "#2e90fa", value: (d) => d.medianChallengeSeconds ?? 0 }] }),
    ] : el("p", { class: "muted" }, "Nothing tracked in this period."),
    any ? table({ id: "analytics-table" }, ["Day", "Tracks", "Allow", "Challenge", "Review", "Block", "Succeeded", "Failed", "Not completed", "Success", "Median time"],
      a.days.map((d) => [d.day, String(d.tracks), ...OUTCOMES.map((o) => String(d.byOutcome[o])),
        String(d.challengesSucceeded ?? 0), String(d.challengesFailed ?? 0), String(d.challengesAbandoned ?? 0),
        pct(d.challengeSuccessRate), d.medianChallengeSeconds === null ? "–" : `${d.medianChallengeSeconds} s`])) : null));
  return nodes;
}
