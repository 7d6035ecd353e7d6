// The shape check fails on each thing it guards against: small trees that
// break one rule each, and a clean one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { spawnSync } from "node:child_process";

const script = join(dirname(new URL(import.meta.url).pathname), "check-shape.mjs");

function check(files) {
  const root = mkdtempSync(join(tmpdir(), "shape-"));
  const all = {
    "src/lib.rs": "mod a;\nmod b;\nmod bridge;\nmod clock;\n",
    "src/bridge.rs": "#[wasm_bindgen]\npub fn f() {}\n",
    "src/clock.rs": "pub fn now() -> f64 { worker::js_sys::Date::now() }\n",
    "src/a.rs": "use crate::b::B;\n",
    "src/b.rs": "pub struct B;\n",
    "crates/core/src/lib.rs": "pub mod x;\n",
    "crates/core/src/x.rs": "pub fn x() {}\n",
    ...files,
  };
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const r = spawnSync(process.execPath, [script, root], { encoding: "utf8" });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

test("a clean tree passes", () => {
  const r = check({});
  assert.ok(r.ok, r.out);
});

test("an import circle fails, named with what ties it", () => {
  const r = check({ "src/b.rs": "use crate::a;\npub struct B;\n" });
  assert.equal(r.ok, false);
  assert.match(r.out, /import circle: .*src\/a\.rs -> .*src\/b\.rs|import circle: .*src\/b\.rs -> .*src\/a\.rs/);
});

test("a circle through a parent and its child fails too", () => {
  const r = check({
    "crates/core/src/x.rs": "pub mod y;\nuse y::Y;\npub struct X;\n",
    "crates/core/src/x/y.rs": "use crate::x::X;\npub struct Y;\n",
  });
  assert.equal(r.ok, false);
  assert.match(r.out, /import circle/);
});

test("code in a test module does not count", () => {
  const r = check({ "src/b.rs": "pub struct B;\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n" });
  assert.ok(r.ok, r.out);
});

test("#[wasm_bindgen] outside the bridge fails", () => {
  const r = check({ "src/a.rs": "use crate::b::B;\n#[wasm_bindgen::prelude::wasm_bindgen(js_name = x)]\npub fn x() {}\n" });
  assert.equal(r.ok, false);
  assert.match(r.out, /#\[wasm_bindgen\] outside src\/bridge\.rs: src\/a\.rs/);
});

test("the clock read outside clock.rs fails", () => {
  for (const read of ["worker::Date::now()", "js_sys::Date::now()"]) {
    const r = check({ "src/a.rs": `use crate::b::B;\nfn t() { let _ = ${read}; }\n` });
    assert.equal(r.ok, false, read);
    assert.match(r.out, /the clock read outside src\/clock\.rs: src\/a\.rs/);
  }
});

test("the core importing the runtime fails", () => {
  const r = check({ "crates/core/src/x.rs": "pub fn x() { worker::console_log!(\"\"); }\n" });
  assert.equal(r.ok, false);
  assert.match(r.out, /the core imports worker/);
});

test("layers: users/ importing api/, policy/ importing store", () => {
  const users = check({
    "src/lib.rs": "mod api;\nmod users;\nmod bridge;\nmod clock;\n",
    "src/api.rs": "pub mod router;\n",
    "src/api/router.rs": "pub fn route() {}\n",
    "src/users.rs": "pub mod object;\n",
    "src/users/object.rs": "use crate::api::router::route;\n",
  });
  assert.equal(users.ok, false);
  assert.match(users.out, /users\/ never imports proxy\/ or api\/: src\/users\/object\.rs imports src\/api\/router\.rs/);
  const policy = check({
    "crates/core/src/lib.rs": "pub mod policy;\npub mod store;\n",
    "crates/core/src/policy.rs": "use crate::store::S;\n",
    "crates/core/src/store.rs": "pub struct S;\n",
  });
  assert.equal(policy.ok, false);
  assert.match(policy.out, /policy\/ and auth\/ never import service\/ or store\//);
});

test("a JSON reader other than the byte reader fails, outside encoding.rs", () => {
  for (const read of ["serde_json::from_str::<B>(t)", "serde_json::from_value(v)", "serde_json::Deserializer::from_str(t)"]) {
    const r = check({ "src/a.rs": `use crate::b::B;\nfn t() { let _ = ${read}; }\n` });
    assert.equal(r.ok, false, read);
    assert.match(r.out, /a second JSON reader .*: src\/a\.rs/);
  }
  const r = check({
    "crates/core/src/lib.rs": "pub mod x;\npub mod encoding;\n",
    "crates/core/src/encoding.rs": "pub fn from_json(t: &str) { serde_json::from_str::<u8>(t); }\n",
    "src/b.rs": "pub struct B;\n#[cfg(test)]\nmod tests {\n    fn t() { serde_json::from_str::<u8>(\"1\"); }\n}\n",
  });
  assert.ok(r.ok, r.out);
});

test("a derived Deserialize that buffers fails: tag, untagged, flatten", () => {
  for (const [text, how] of [
    ["#[derive(Debug, Deserialize)]\n#[serde(tag = \"type\")]\npub enum E { A }\n", "tag"],
    ["#[derive(Serialize, serde::Deserialize)]\n#[serde(untagged)]\nenum E { A(String) }\n", "untagged"],
    ["#[derive(Deserialize)]\nstruct S {\n    #[serde(flatten)]\n    rest: Inner,\n}\n", "flatten"],
  ]) {
    const r = check({ "crates/core/src/x.rs": text });
    assert.equal(r.ok, false, text);
    assert.match(r.out, new RegExp(`buffers \\(${how};.*in crates/core/src/x\\.rs`));
  }
});

test("serialize-only tagged and flattened types pass", () => {
  const r = check({
    "src/b.rs": "#[derive(Serialize)]\n#[serde(tag = \"type\")]\npub enum B { A }\n#[derive(Serialize)]\nstruct W<'a> {\n    #[serde(flatten)]\n    input: &'a B,\n}\n#[derive(Deserialize)]\nstruct F { kind: String }\n",
  });
  assert.ok(r.ok, r.out);
});
