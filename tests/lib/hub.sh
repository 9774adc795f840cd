# Shell helpers for tests that drive the Hub emulator with real clients (curl, git, node).
# Source it, call hub_start, use check_* assertions, and end with `finish` (prints the
# "N passed, N failed" line and sets the exit status). Cleanup runs on any exit.

set -u
TESTS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HUBD="$TESTS_ROOT/hub/hubd"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/spacefs-test.XXXXXX")
PASSED=0
FAILED=0
HUB_PID=""
_cleanups=()

on_exit() {
  local c
  for c in "${_cleanups[@]}"; do eval "$c" || true; done
  [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap on_exit EXIT
at_exit() { _cleanups+=("$1"); }

# The real world, for any script that starts hubd through hub_start (tests/hub/README.md):
#   HUB_TLS=1          HTTPS with the emulator's own CA; HUB becomes https://localhost:PORT and
#                      the CA is exported where each client looks for it (below)
#   HUB_LATENCY_MS=N   round trip per request (and per TCP/TLS handshake); HUB_JITTER_MS=N +-
#   HUB_REALISTIC=1    the real Hub's edges (hubd --realistic)
HUB_TLS=${HUB_TLS:-0}

# hub_start [hubd args...]: starts hubd on a free port with the default test fixture unless
# --fixture is given; sets HUB (base URL), HUB_ADMIN (plain-HTTP admin listener, reachable in
# every outage), HUB_PID, HUB_STATE, and HUB_CA when HUB_TLS=1.
hub_start() {
  local fixture=(--fixture "$TESTS_ROOT/hub/fixtures/demo.json") a net=()
  for a in "$@"; do [ "$a" = --fixture ] && fixture=(); done
  HUB_STATE=${HUB_STATE:-$WORK/state}
  [ "$HUB_TLS" = 1 ] && net+=(--tls --tls-dir "$WORK/tls")
  [ -n "${HUB_LATENCY_MS:-}" ] && net+=(--latency-ms "$HUB_LATENCY_MS")
  [ -n "${HUB_JITTER_MS:-}" ] && net+=(--jitter-ms "$HUB_JITTER_MS")
  [ "${HUB_REALISTIC:-0}" = 1 ] && net+=(--realistic)
  rm -f "$WORK/port" "$WORK/admin-port"
  "$HUBD" --state "$HUB_STATE" --port-file "$WORK/port" --admin-port-file "$WORK/admin-port" \
    "${fixture[@]}" "${net[@]}" "$@" >"$WORK/hubd.out" 2>"$WORK/hubd.err" &
  HUB_PID=$!
  local i
  for i in $(seq 1 200); do
    [ -s "$WORK/port" ] && break
    kill -0 "$HUB_PID" 2>/dev/null || { cat "$WORK/hubd.err" >&2; echo "hubd died" >&2; exit 1; }
    sleep 0.05
  done
  [ -s "$WORK/port" ] || { echo "hubd did not start" >&2; exit 1; }
  HUB_ADMIN="http://127.0.0.1:$(cat "$WORK/admin-port")"
  if [ "$HUB_TLS" = 1 ]; then
    HUB="https://localhost:$(cat "$WORK/port")"
    HUB_CA=$WORK/tls/ca.pem
    # curl(1), spacefs (docs/filesystem.md, "Trust"), Python, git, node: each reads its own
    export HUB_CA CURL_CA_BUNDLE=$HUB_CA SSL_CERT_FILE=$HUB_CA GIT_SSL_CAINFO=$HUB_CA
    export NODE_EXTRA_CA_CERTS=$HUB_CA
  else
    HUB="http://127.0.0.1:$(cat "$WORK/port")"
  fi
  export HUB HUB_ADMIN
}

# hub_network JSON: network knobs and outages (POST /_hubd/network on the admin listener), e.g.
# hub_network '{"outage":"refused"}', hub_network '{"latency_ms":50,"jitter_ms":10}'
hub_network() {
  curl -sS -X POST "$HUB_ADMIN/_hubd/network" -H 'Content-Type: application/json' -d "$1" >/dev/null
}

hub_stop() {
  [ -n "$HUB_PID" ] || return 0
  kill "$HUB_PID" 2>/dev/null
  wait "$HUB_PID" 2>/dev/null
  HUB_PID=""
}

pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1${2:+: $2}"; }

# check_eq NAME EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected [$2], got [$3]"; fi
}
# check NAME COMMAND...: passes when the command succeeds
check() {
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "command failed: $*"; fi
}
# check_match NAME REGEX ACTUAL
check_match() {
  if [[ $3 =~ $2 ]]; then pass "$1"; else fail "$1" "[$3] does not match /$2/"; fi
}

# hcurl ARGS...: curl that prints the body and never fails the script; use -w for status.
hcurl() { curl -sS "$@"; }
# status METHOD URL [curl args...]: prints only the HTTP status
status() { local m=$1 u=$2; shift 2; curl -sS -o /dev/null -w '%{http_code}' -X "$m" "$u" "$@"; }

# admin helpers (routes documented in tests/hub/README.md)
hub_stats() { curl -sS "$HUB_ADMIN/_hubd/stats"; }
hub_stats_reset() { curl -sS -X DELETE "$HUB_ADMIN/_hubd/stats" >/dev/null; }
# hub_count 'GET /api/spaces': requests counted for that route name since the last reset
hub_count() { hub_stats | jq -r --arg r "$1" '.routes[$r].count // 0'; }
hub_fault() { curl -sS -X POST "$HUB_ADMIN/_hubd/faults" -H 'Content-Type: application/json' -d "$1" >/dev/null; }
hub_faults_clear() { curl -sS -X DELETE "$HUB_ADMIN/_hubd/faults" >/dev/null; }
hub_advance() { curl -sS -X POST "$HUB_ADMIN/_hubd/clock" -H 'Content-Type: application/json' -d "{\"advance\": $1}" >/dev/null; }

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}
