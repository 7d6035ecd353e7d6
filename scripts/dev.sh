#!/usr/bin/env bash
# Set up, build and run ActionGate locally: `wrangler dev --local` on
# http://127.0.0.1:8787 with local KV and Durable Objects (state under
# .wrangler/state), loaded with the demo configuration in config/demo.json.
# Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
PORT="${PORT:-8787}"

bash scripts/setup.sh
bash scripts/build.sh

wrangler dev --local --ip 127.0.0.1 --port "$PORT" --show-interactive-dev-session=false &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 240); do
  if curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "wrangler dev stopped" >&2; exit 1; }
  sleep 0.5
done
node scripts/config.mjs apply config/demo.json --url "http://127.0.0.1:$PORT"

api_key=$(sed -n 's/^API_SECRET_KEY=//p' .dev.vars)
cat <<MSG

ActionGate is running on http://127.0.0.1:$PORT with the demo configuration.
Try:
  curl -s -u '$api_key:' -H 'Content-Type: application/json' \\
       -d '{"custom":{"amount":250}}' http://127.0.0.1:$PORT/v1/users/alice/actions/withdraw-funds
MSG
wait "$pid"
