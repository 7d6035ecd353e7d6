#!/usr/bin/env bash
# Benchmark (not a test): prints figures, asserts nothing.
#   - the release wasm size, raw and gzipped
#   - track throughput and p50/p99 latency under concurrency, ActionGate on
#     plain workerd (SQLite Durable Objects on local disk, an in-memory KV
#     stand-in), and in the same run a minimal pass-through worker's figures
# Targets: gzipped wasm under 1 MiB; track at least half the pass-through's
# requests per second. Both workers run in one workerd process and wrk shares
# the machine, so compare the ratio, not the absolute numbers.
# Options (env): DURATION=10s CONNECTIONS=16 THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"

bash scripts/setup.sh >/dev/null
bash scripts/build.sh
if ! command -v wrk >/dev/null; then
  echo "[bench] installing wrk (Debian package)"
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

root="$PWD/.bench"
rm -rf "$root"
mkdir -p "$root/do"
cp build/index.js build/index_bg.wasm bench/kv-shim.js bench/passthrough.js bench/do-write.js "$root/"
api=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
mgmt=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
sign=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
ag_port=$(port); pt_port=$(port); dw_port=$(port)
sed -e "s#@ROOT@#$root#g" -e "s#@AG_PORT@#$ag_port#" -e "s#@PT_PORT@#$pt_port#" -e "s#@DW_PORT@#$dw_port#" \
    -e "s#@API_SECRET_KEY@#$api#" -e "s#@MANAGEMENT_SECRET_KEY@#$mgmt#" -e "s#@TOKEN_SIGNING_KEY@#$sign#" \
    bench/config.capnp.tmpl > "$root/config.capnp"

workerd serve "$root/config.capnp" > "$root/workerd.log" 2>&1 &
wpid=$!
trap 'kill $wpid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$ag_port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$ag_port/health" >/dev/null || { cat "$root/workerd.log"; exit 1; }

# A configured action, so track reads (cached) configuration as in production.
curl -fsS -u "$mgmt:" -X PUT -H 'Content-Type: application/json' \
  -d '{"defaultUserActionResult":"CHALLENGE","verificationMethods":["PASSKEY","EMAIL_OTP"]}' \
  "http://127.0.0.1:$ag_port/v1/management/action-configurations/withdraw-funds" >/dev/null
auth="Basic $(printf '%s:' "$api" | base64 -w0)"
check=$(curl -fsS -u "$api:" -X POST -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$ag_port/v1/users/check/actions/withdraw-funds")
echo "$check" | grep -q '"state":"CHALLENGE_REQUIRED"' || { echo "track did not work: $check"; exit 1; }

raw=$(stat -c %s build/index_bg.wasm)
gz=$(gzip -9 -c build/index_bg.wasm | wc -c)

# run NAME URL [wrk args...] -> "rps p50 p99"
run() {
  local url=$1; shift
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$@" "$url" >/dev/null 2>&1 # warm-up
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; echo "non-2xx responses" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  echo "$rps $p50 $p99"
}

read -r pt_rps pt_p50 pt_p99 < <(run "http://127.0.0.1:$pt_port/")
read -r hl_rps hl_p50 hl_p99 < <(run "http://127.0.0.1:$ag_port/health")
read -r dw_rps dw_p50 dw_p99 < <(AG_AUTH="-" run "http://127.0.0.1:$dw_port" -s bench/track.lua)
read -r gu_rps gu_p50 gu_p99 < <(run "http://127.0.0.1:$ag_port/v1/users/bench-user-1" -H "Authorization: $auth")
read -r tr_rps tr_p50 tr_p99 < <(AG_AUTH="$auth" run "http://127.0.0.1:$ag_port" -s bench/track.lua)
actions=$(curl -fsS -u "$api:" "http://127.0.0.1:$ag_port/v1/users/bench-user-1/actions?limit=100" | grep -o '"idempotencyKey"' | wc -l)

printf '\nActionGate benchmark (workerd %s, wrk -t%s -c%s -d%s)\n' "$(workerd --version 2>/dev/null | head -1)" "$THREADS" "$CONNECTIONS" "$DURATION"
printf '  wasm size              %8.1f KiB raw, %7.1f KiB gzipped (target < 1024 KiB gzipped)\n' \
  "$(echo "$raw/1024" | bc -l)" "$(echo "$gz/1024" | bc -l)"
line() { printf '  %-34s %10s req/s   p50 %8s   p99 %8s\n' "$@"; }
line "pass-through worker (JS)" "$pt_rps" "$pt_p50" "$pt_p99"
line "ActionGate GET /health (no I/O)" "$hl_rps" "$hl_p50" "$hl_p99"
line "storage floor: JS worker + DO write" "$dw_rps" "$dw_p50" "$dw_p99"
line "ActionGate getUser (DO read)" "$gu_rps" "$gu_p50" "$gu_p99"
line "ActionGate track (DO write)" "$tr_rps" "$tr_p50" "$tr_p99"
printf '  %-34s %10.2f   (target >= 0.50)\n' "track / pass-through" "$(echo "$tr_rps/$pt_rps" | bc -l)"
printf '  %-34s %10.2f   (what the storage write itself allows)\n' "track / storage floor" "$(echo "$tr_rps/$dw_rps" | bc -l)"
printf '  (bench-user-1 holds %s stored actions: tracks were written)\n' "$actions"
