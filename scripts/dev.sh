#!/usr/bin/env bash
# Set up, build and run ActionGate locally in front of the demo bank:
#   - the demo bank (demo/bank.mjs) on http://127.0.0.1:8788, the origin
#   - ActionGate under `wrangler dev --local` on http://127.0.0.1:8787, with
#     local KV and Durable Objects (state under .wrangler/state), loaded with
#     config/demo.json (rules, value lists, and the proxy in front of the bank)
# Open http://localhost:8787/ in a browser (passkeys need a host name, not an
# IP address). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
PORT="${PORT:-8787}"
BANK_PORT=8788

bash scripts/setup.sh
bash scripts/build.sh

wait_for_health() { # PORT PID
  for _ in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$1/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "wrangler dev stopped" >&2; exit 1; }
    sleep 0.5
  done
  echo "wrangler dev did not answer on port $1" >&2
  exit 1
}

# The demo configuration first, on a port nobody browses, so that the first
# request the demo serves already has it (it stays in .wrangler/state).
SETUP_PORT=$((PORT + 20))
wrangler dev --local --ip 127.0.0.1 --port "$SETUP_PORT" --show-interactive-dev-session=false --log-level warn &
setup=$!
trap 'kill "$setup" 2>/dev/null || true' EXIT INT TERM
wait_for_health "$SETUP_PORT" "$setup"
node scripts/config.mjs apply config/demo.json --url "http://127.0.0.1:$SETUP_PORT"
kill "$setup" 2>/dev/null || true
wait "$setup" 2>/dev/null || true

PORT=$BANK_PORT node demo/bank.mjs &
bank=$!
wrangler dev --local --ip 127.0.0.1 --port "$PORT" --show-interactive-dev-session=false &
pid=$!
trap 'kill "$pid" "$bank" 2>/dev/null || true' EXIT INT TERM
wait_for_health "$PORT" "$pid"

api_key=$(sed -n 's/^API_SECRET_KEY=//p' .dev.vars)
mgmt_key=$(sed -n 's/^MANAGEMENT_SECRET_KEY=//p' .dev.vars)
cat <<MSG

ActionGate is running on http://127.0.0.1:$PORT in front of the demo bank (http://127.0.0.1:$BANK_PORT).

In a browser: open http://localhost:$PORT/ (passkeys need a host name, not an IP
address), sign in as alice, and withdraw:
  250 on a known device is allowed; 5,000 is challenged; 20,000 is held for review;
  to GB-1234-999 (sanctioned) it is blocked. The first withdrawal from a new
  browser is challenged (new device). On the challenge page, create a passkey,
  or use an authenticator app or an emailed code (codes: /__actiongate/outbox).
The review queue (a held 20,000 withdrawal runs at the bank once approved):
  curl -s -u '$mgmt_key:' http://127.0.0.1:$PORT/v1/management/reviews
  curl -s -u '$mgmt_key:' -H 'Content-Type: application/json' \\
       -d '{"decision":"APPROVE","reviewer":"you"}' \\
       http://127.0.0.1:$PORT/v1/management/reviews/<userId>/<actionCode>/<idempotencyKey>
The Server API, as the SDKs use it:
  curl -s -u '$api_key:' -H 'Content-Type: application/json' \\
       -d '{"custom":{"amount":250}}' http://127.0.0.1:$PORT/v1/users/alice/actions/withdraw-funds
MSG
wait "$pid"
