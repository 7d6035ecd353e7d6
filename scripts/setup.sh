#!/usr/bin/env bash
# Install everything ActionGate's build, local run and tests need.
# Idempotent: each step is skipped when what it installs is already there at
# the right version. Safe to run on every `scripts/dev.sh` / `scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

WORKER_BUILD_VERSION=0.8.7
WASM_PACK_VERSION=0.15.1

say() { printf '[setup] %s\n' "$*"; }

# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "cannot read the wasm-bindgen version from Cargo.lock" >&2; exit 1; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# have BIN VERSION: is BIN on PATH and does its --version mention VERSION?
have() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qF "$2"; }

if ! have worker-build "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi
if ! have wasm-bindgen "$WASM_BINDGEN_VERSION" || ! have wasm-bindgen-test-runner "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: its lockfile names a crate version the registry here lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
if ! have wasm-pack "$WASM_PACK_VERSION"; then
  say "installing wasm-pack $WASM_PACK_VERSION (a few minutes, once)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION"
fi

# npm: wrangler, a Node 22 binary (wrangler needs Node >= 22.12; the system's
# may be older), esbuild, binaryen's wasm-opt, and the test dependencies.
# `npm install`, not `npm ci`: the lockfile written on Linux lacks other
# platforms' optional packages, which npm ci refuses.
stamp=node_modules/.actiongate-setup
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ] \
   || [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/node ]; then
  say "installing npm dependencies"
  npm install --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
node_modules/.bin/node --version | grep -q '^v22\.' || { echo "node_modules/.bin/node is not Node 22" >&2; exit 1; }

# Headless Chromium for the browser tests (Debian's package; Playwright's own
# browser download does not work here).
if ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium (Debian package, for the browser tests)"
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; }
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null
  fi
fi

# Python, for the official Python SDK as a client in the end-to-end tests
# (pinned: the version whose behaviour the tests describe), in a virtual
# environment of the project's own (.venv, not committed).
AUTHSIGNAL_PY_VERSION=4.1.0
if ! .venv/bin/python -c "import authsignal.version as v, sys; sys.exit(v.VERSION != '$AUTHSIGNAL_PY_VERSION')" >/dev/null 2>&1; then
  say "installing the Python SDK authsignal $AUTHSIGNAL_PY_VERSION (.venv)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "authsignal==$AUTHSIGNAL_PY_VERSION"
fi
# Schemathesis, which tests the live worker against its OpenAPI document.
SCHEMATHESIS_VERSION=4.32.5
if [ "$(.venv/bin/schemathesis --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION (.venv)"
  .venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ ! -f .dev.vars ]; then
  say "creating .dev.vars from .dev.vars.example (local secrets)"
  cp .dev.vars.example .dev.vars
else
  # Add secrets that appeared in the example since .dev.vars was made.
  while IFS= read -r line; do
    name=${line%%=*}
    if [ -n "$name" ] && [ "$name" != "$line" ] && ! grep -q "^$name=" .dev.vars; then
      say "adding $name to .dev.vars"
      printf '%s\n' "$line" >> .dev.vars
    fi
  done < <(grep -E '^[A-Z0-9_]+=' .dev.vars.example)
fi
say "ready"
