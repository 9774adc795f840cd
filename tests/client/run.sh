#!/usr/bin/env bash
# Runs a hubclient test program against a fresh Hub emulator. The fixture is the demo one plus a
# random sentinel write token for alice and a user who must pay for Docker Spaces; the program
# gets HF_ENDPOINT and HF_TOKEN=<sentinel>, logs every request at debug level, and this script
# fails if the sentinel token or the sentinel secret value shows up in anything it printed.
# usage: run.sh PROGRAM [hubd args...]
source "$SPACEFS_SOURCE_DIR/tests/lib/hub.sh"
prog=$1
shift

SENTINEL="hf_sentinel_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
jq --arg t "$SENTINEL" '
  (.users[] | select(.name == "alice") | .tokens) += [{"value": $t, "role": "write"}]
  | .users += [{"name": "carol", "paymentRequired": true,
                "tokens": [{"value": "hf_carol_write", "role": "write"}]}]' \
  "$SPACEFS_SOURCE_DIR/tests/hub/fixtures/demo.json" >"$WORK/fixture.json"
hub_start --fixture "$WORK/fixture.json" "$@"

HF_ENDPOINT=$HUB HF_TOKEN=$SENTINEL CLIENT_TEST_WORK=$WORK "$prog" >"$WORK/out" 2>"$WORK/err"
rc=$?
cat "$WORK/out"
echo "--- program stderr (debug log, last 40 lines) ---"
tail -n 40 "$WORK/err"
echo "---"
line=$(tail -n 1 "$WORK/out")
if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  PASSED=$((PASSED + BASH_REMATCH[1]))
  FAILED=$((FAILED + BASH_REMATCH[2]))
else
  fail "program ended without a summary line (exit $rc)"
fi
[ "$rc" -eq 0 ] || [ "$FAILED" -gt 0 ] || fail "program exit status $rc"
check_eq "debug log has request lines" yes "$(grep -q 'hub: GET /api' "$WORK/err" && echo yes || echo no)"
check_eq "sentinel token absent from stdout+stderr" 0 "$(cat "$WORK/out" "$WORK/err" | grep -c -- "$SENTINEL")"
check_eq "sentinel secret value absent from stdout+stderr" 0 \
  "$(cat "$WORK/out" "$WORK/err" | grep -c 's3cr3t-sentinel-value')"
check_eq "no signed query string in the log" 0 "$(grep -c 'hub: .*lfs-storage[^ ]*?[a-z]' "$WORK/err")"
finish
