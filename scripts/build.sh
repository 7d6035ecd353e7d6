#!/usr/bin/env bash
# Build the worker (release wasm + JS shim under build/). wrangler.toml's
# [build] command runs this too, so `wrangler dev` and `wrangler deploy`
# build exactly as the README's commands do. Run scripts/setup.sh first.
#
# The build is skipped when build/ is newer than every Rust source, manifest
# and the OpenAPI document it embeds (wrangler runs this on each start);
# FORCE_BUILD=1 rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

out=build/index_bg.wasm
if [ "${FORCE_BUILD:-0}" != 1 ] && [ -f "$out" ] && [ -f build/index.js ] \
   && [ -z "$(find src crates Cargo.toml Cargo.lock -newer "$out" -type f ! -name entry.mjs -print -quit)" ]; then
  # The JavaScript entry (wrangler.toml's main) beside the generated module,
  # written only when it changed: a running `wrangler dev` reloads on any
  # write to build/, and could read a half-copied file (tests start workers
  # of their own while the suite's worker runs).
  cmp -s src/entry.mjs build/entry.mjs || { cp src/entry.mjs build/entry.mjs.tmp && mv build/entry.mjs.tmp build/entry.mjs; }
  echo "[build] build/ is up to date"
  exit 0
fi

WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export WASM_BINDGEN_BIN
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
worker-build --release "$@"
# Drop the name section (about 75 KiB gzipped): request paths do not panic,
# so function names would only label stack traces. And optimise for size
# once more: after worker-build's own pass this takes another ~10 KiB
# gzipped off the upload, whose limit is 1 MiB.
wasm-opt --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  --strip-debug -Oz "$out" -o "$out"
cmp -s src/entry.mjs build/entry.mjs || { cp src/entry.mjs build/entry.mjs.tmp && mv build/entry.mjs.tmp build/entry.mjs; }
