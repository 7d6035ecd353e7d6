#!/usr/bin/env bash
# Install what is needed (scripts/setup.sh) and run every test:
#   1. cargo fmt --check and clippy -D warnings (core natively, worker for wasm32)
#   2. core unit tests, native (cargo test)
#   3. the same core tests compiled to wasm32 and run in Node (wasm-pack test --node)
#   4. a release build of the worker
#   5. end-to-end tests against the real worker under `wrangler dev --local`
#      (local KV and SQLite Durable Objects) with the official @authsignal/node SDK
#   6. the deploy check: `wrangler deploy --dry-run`, printing the upload size
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false

step() { printf '\n==> %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy -p actiongate-core --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings

step "the code's shape (no import circles; bridge, clock and layers in place)"
node_modules/.bin/node --test scripts/check-shape.test.mjs
node_modules/.bin/node scripts/check-shape.mjs

step "the benchmark's medians over runs (scripts/bench-medians.mjs)"
node_modules/.bin/node --test scripts/bench-medians.test.mjs

step "core unit tests (native)"
cargo test -p actiongate-core

step "core unit tests (wasm32 in Node)"
(cd crates/core && wasm-pack test --node)

step "release build"
bash scripts/build.sh

step "end-to-end tests (wrangler dev --local)"
node_modules/.bin/node tests/e2e/run.mjs

step "deploy check (wrangler deploy --dry-run)"
rm -rf build/dry-run
out=$(PATH="$PWD/node_modules/.bin:$PATH" wrangler deploy --dry-run --outdir build/dry-run 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E "Total Upload"
gzip_kib=$(echo "$out" | sed -nE 's/.*gzip: ([0-9.]+) KiB.*/\1/p')
awk -v g="$gzip_kib" 'BEGIN { if (g == "" || g + 0 >= 1024) { print "gzipped upload is not under 1 MiB: " g " KiB"; exit 1 } }'

printf '\nAll tests passed.\n'
