// The shape the code keeps (CONTRIBUTING.md, "Rules we keep"), checked from
// the sources on every test run:
//   - no import circles between the modules of src/ or of crates/core/src/;
//   - `#[wasm_bindgen]` only in src/bridge.rs;
//   - the clock (`Date::now`, `js_sys::Date`) read only in src/clock.rs;
//   - the core never imports `worker`, `wasm_bindgen` or `js_sys`;
//   - the layers: nothing below src/api/ imports it; src/users/ never imports
//     src/proxy/ or src/api/; the core's policy/ and auth/ never import
//     service/ or store/;
//   - JSON is read through one reader, serde_json's byte reader: no
//     `serde_json::from_str`, `from_value` or `Deserializer::from_str`
//     outside `encoding.rs` (use `encoding::from_json`/`from_value`). Each
//     other reader compiles every type's deserializer once more into the
//     upload (docs/benchmark.md, "Upload size");
//   - no derived `Deserialize` that buffers: on a type deriving it, no
//     `#[serde(tag = …)]`, `untagged` or `flatten` (serde reads those into an
//     intermediate tree first; read a flat form and build the enum, as
//     `actions::model::Cause` does).
// A module is a file (`x.rs`, whose children live in `x/`). Test code
// (`tests.rs`, a trailing `#[cfg(test)] mod tests`) and comments are left out.
// Usage: node scripts/check-shape.mjs [ROOT]   (exit 1 with every problem
// listed; ROOT defaults to this checkout, scripts/check-shape.test.mjs gives
// it trees that break each rule)
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, relative, dirname, basename } from "node:path";

const root = process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), "..");
const problems = [];

function rustFiles(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...rustFiles(p));
    else if (name.endsWith(".rs") && name !== "tests.rs") out.push(p);
  }
  return out;
}

/** The code of a file without comments, string contents and its test module. */
function code(file) {
  let s = readFileSync(file, "utf8");
  const t = s.search(/#\[cfg\(test\)\]\s*mod tests\s*\{/);
  if (t >= 0) s = s.slice(0, t);
  s = s.replace(/\/\*[\s\S]*?\*\//g, "");
  s = s.replace(/"(?:[^"\\\n]|\\.)*"/g, '""');
  return s.split("\n").map((l) => l.replace(/\/\/.*$/, "")).join("\n");
}

/** Module path segments of a file under `src` ("lib.rs" is the root). */
function modulePath(src, file) {
  const rel = relative(src, file).replace(/\.rs$/, "");
  return rel === "lib" ? [] : rel.split("/");
}

function fileOf(src, segs) {
  if (segs.length === 0) return join(src, "lib.rs");
  const f = join(src, ...segs) + ".rs";
  return existsSync(f) ? f : null;
}

/** The deepest module file a path (after `crate::`) names. */
function resolve(src, segs) {
  for (let n = segs.length; n > 0; n--) {
    const f = fileOf(src, segs.slice(0, n));
    if (f) return f;
  }
  return null;
}

/** Expand `a::{b, c::{d}}` into paths. */
function expand(tree) {
  tree = tree.replace(/\s+/g, "");
  const open = tree.indexOf("{");
  if (open < 0) return [tree];
  const head = tree.slice(0, open);
  const inner = tree.slice(open + 1, tree.lastIndexOf("}"));
  const parts = [];
  let depth = 0, start = 0;
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === "{") depth++;
    else if (inner[i] === "}") depth--;
    else if (inner[i] === "," && depth === 0) { parts.push(inner.slice(start, i)); start = i + 1; }
  }
  parts.push(inner.slice(start));
  return parts.filter(Boolean).flatMap((p) => expand(p).map((x) => head + x));
}

/** file -> Set(file) of the modules it uses, within one crate. */
function graph(src) {
  const files = rustFiles(src);
  const edges = new Map();
  for (const file of files) {
    const here = modulePath(src, file);
    const text = code(file);
    const deps = new Set();
    const add = (segs) => {
      const f = resolve(src, segs);
      if (f && f !== file) deps.add(f);
    };
    const paths = [];
    for (const m of text.matchAll(/\buse\s+([^;]+);/g)) paths.push(...expand(m[1]));
    for (const m of text.matchAll(/(?<![\w:])(?:crate|super)(?:::\w+)+/g)) paths.push(m[0]);
    for (const p of paths) {
      const segs = p.split(/\s+as\s+/)[0].split("::").filter(Boolean);
      if (segs[0] === "crate") add(segs.slice(1));
      else if (segs[0] === "super") {
        let base = here.slice(0, -1);
        let rest = segs.slice(1);
        while (rest[0] === "super") { base = base.slice(0, -1); rest = rest.slice(1); }
        add([...base, ...rest]);
      } else if (segs[0] === "self") add([...here, ...segs.slice(1)]);
      else if (fileOf(src, [...here, segs[0]])) add([...here, ...segs]);
    }
    edges.set(file, deps);
  }
  return edges;
}

/** Strongly connected components of more than one file (Tarjan). */
function circles(edges) {
  let index = 0;
  const idx = new Map(), low = new Map(), on = new Set(), stack = [], out = [];
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do { w = stack.pop(); on.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) out.push(scc);
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const rel = (f) => relative(root, f);

for (const src of [join(root, "src"), join(root, "crates/core/src")]) {
  const edges = graph(src);
  for (const scc of circles(edges)) {
    const inside = new Set(scc);
    const ties = scc.flatMap((f) => [...edges.get(f)].filter((g) => inside.has(g)).map((g) => `${rel(f)} -> ${rel(g)}`));
    problems.push(`import circle: ${ties.join(", ")}`);
  }
  const layers = src.endsWith("core/src")
    ? [
        [/^(policy|auth)(\/|\.rs$)/, /^(service|store)(\/|\.rs$)/, "policy/ and auth/ never import service/ or store/"],
      ]
    : [
        [/^(?!api(\/|\.rs$)).*/, /^api(\/|\.rs$)/, "nothing below api/ imports it (the bridge is the entry, above it)"],
        [/^users(\/|\.rs$)/, /^(proxy|api)(\/|\.rs$)/, "users/ never imports proxy/ or api/"],
      ];
  for (const [from, to, rule] of layers) {
    for (const [f, deps] of edges) {
      const a = relative(src, f);
      if (!from.test(a) || a === "lib.rs" || a === "bridge.rs") continue;
      for (const d of deps) {
        if (to.test(relative(src, d))) problems.push(`${rule}: ${rel(f)} imports ${rel(d)}`);
      }
    }
  }
}

for (const file of rustFiles(join(root, "src"))) {
  const text = code(file);
  const name = relative(join(root, "src"), file);
  if (name !== "bridge.rs" && /#\[\s*(wasm_bindgen::prelude::)?wasm_bindgen\b/.test(text)) {
    problems.push(`#[wasm_bindgen] outside src/bridge.rs: ${rel(file)}`);
  }
  if (name !== "clock.rs" && /\bDate::now\b|js_sys::Date\b/.test(text)) {
    problems.push(`the clock read outside src/clock.rs: ${rel(file)}`);
  }
}
for (const file of [...rustFiles(join(root, "src")), ...rustFiles(join(root, "crates/core/src"))]) {
  if (basename(file) === "encoding.rs") continue;
  const m = code(file).match(/serde_json::(?:from_str|from_value|Deserializer::from_str)\b/);
  if (m) problems.push(`a second JSON reader (${m[0]}; use encoding::from_json or from_value): ${rel(file)}`);
}
for (const file of [...rustFiles(join(root, "src")), ...rustFiles(join(root, "crates/core/src"))]) {
  const text = code(file);
  const item = /((?:#\[[^\]]*\]\s*)+)(?:pub(?:\([^)]*\))?\s+)?(?:struct|enum)\s+(\w+)[^{;]*\{/g;
  for (const m of text.matchAll(item)) {
    const attrs = m[1];
    if (!/#\[derive\([^\]]*\bDeserialize\b/.test(attrs)) continue;
    let depth = 1, i = m.index + m[0].length;
    while (depth > 0 && i < text.length) depth += text[i] === "{" ? 1 : text[i] === "}" ? -1 : 0, i++;
    const body = text.slice(m.index + m[0].length, i);
    const how = /#\[serde\([^\]]*\buntagged\b/.test(attrs) ? "untagged"
      : /#\[serde\([^\]]*\btag\s*=/.test(attrs) ? "tag"
      : /#\[serde\([^\]]*\bflatten\b/.test(body) ? "flatten" : null;
    if (how) problems.push(`a derived Deserialize that buffers (${how}; read a flat form instead): ${m[2]} in ${rel(file)}`);
  }
}
for (const file of rustFiles(join(root, "crates/core/src"))) {
  const text = code(file);
  for (const m of text.matchAll(/\b(worker|wasm_bindgen|js_sys|web_sys)::/g)) {
    problems.push(`the core imports ${m[1]}: ${rel(file)}`);
    break;
  }
}

if (problems.length) {
  console.error(`The code's shape (CONTRIBUTING.md, "Rules we keep"):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("shape: no import circles, bridge and clock in their places, layers kept, one JSON reader, no buffering Deserialize");
