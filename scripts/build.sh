#!/usr/bin/env bash
# Build the worker (release wasm + JS shim under build/). wrangler.toml's
# [build] command runs this too, so `wrangler dev` and `wrangler deploy`
# build exactly as the README's commands do. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export WASM_BINDGEN_BIN
export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
exec worker-build --release "$@"
