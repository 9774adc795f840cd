#!/bin/bash
# Test-only /_hubd routes: per-route counters, fault injection as curl sees it (status with count
# and Retry-After, reset, truncate, latency, stall, probability 0), the clock, settings, and
# that a restart with the same --state serves again (start-up time: tests/bench/bench_hub_startup.sh).
. "$(dirname "$0")/../../lib/hub.sh"
hub_start
AW=(-H "Authorization: Bearer hf_alice_write")

# --- counters ---
hub_stats_reset
for i in 1 2 3; do curl -sS -o /dev/null "$HUB/api/spaces/alice/chat"; done
curl -sS -o /dev/null "$HUB/api/spaces/alice/notes"   # 401, anonymous
BODY='{"key":"K","value":"abc"}'
curl -sS -o /dev/null "${AW[@]}" -X POST -H 'Content-Type: application/json' -d "$BODY" "$HUB/api/spaces/alice/chat/variables"
S=$(hub_stats)
check_eq "count by route name" 4 "$(hub_count 'GET /api/spaces/{ns}/{name}')"
check_eq "statuses per route" '{"200":3,"401":1}' "$(jq -c '.routes["GET /api/spaces/{ns}/{name}"].statuses' <<<"$S")"
check "bytes out counted" test "$(jq '.routes["GET /api/spaces/{ns}/{name}"].bytes_out' <<<"$S")" -gt 1000
check_eq "bytes in counted" ${#BODY} "$(jq '.routes["POST /api/spaces/{ns}/{name}/variables"].bytes_in' <<<"$S")"
check_eq "total" 5 "$(jq .total <<<"$S")"
check_eq "admin routes not counted" null "$(hub_stats | jq '.routes | to_entries | map(select(.key | test("_hubd"))) | first')"
hub_stats_reset
check_eq "DELETE stats resets" 0 "$(hub_stats | jq .total)"

# --- faults ---
hub_fault '{"method":"GET","path":"^/api/spaces/alice/chat$","status":503,"count":2,"retry_after":7}'
check_eq "fault listed" "1 2" "$(curl -sS "$HUB/_hubd/faults" | jq -r '.[0] | "\(.id) \(.count)"')"
H=$(curl -sS -D - -o "$WORK/b" "$HUB/api/spaces/alice/chat")
check_match "injected 503" '^HTTP/1.1 503' "$H"
check_match "injected Retry-After" 'Retry-After: 7' "$H"
check_match "injected error body" '^\{"error": "injected fault 503"\}$' "$(cat "$WORK/b")"
check_eq "second 503" 503 "$(status GET "$HUB/api/spaces/alice/chat")"
check_eq "count used up, then 200" 200 "$(status GET "$HUB/api/spaces/alice/chat")"
check_eq "other paths untouched" 200 "$(status GET "$HUB/api/spaces/gradio/hello-world")"
check_eq "admin routes never faulted" 200 "$(hub_fault '{"path":".*","status":500,"count":-1}'; status GET "$HUB/_hubd/stats")"
check_eq "forever rule hits every call" "500 500" "$(status GET "$HUB/api/spaces"; echo -n ' '; status GET "$HUB/api/whoami-v2")"
hub_faults_clear
check_eq "faults cleared" 0 "$(curl -sS "$HUB/_hubd/faults" | jq length)"

hub_fault '{"path":"^/api/spaces$","action":"reset"}'
curl -sS -o /dev/null "$HUB/api/spaces" 2>/dev/null; RC=$?
check_eq "reset: curl sees a connection reset (56) or empty reply (52)" 1 "$([ $RC = 56 ] || [ $RC = 52 ]; echo $((1 - $?)))"
check_eq "after the reset, served again" 200 "$(status GET "$HUB/api/spaces")"

hub_fault '{"path":"^/api/spaces$","action":"truncate"}'
curl -sS -o "$WORK/t" "$HUB/api/spaces" 2>/dev/null; RC=$?
check_eq "truncate: curl reports a partial body (18)" 18 "$RC"
check "truncated body is not valid JSON" bash -c "! jq . '$WORK/t' >/dev/null 2>&1"

hub_fault '{"path":"^/api/spaces$","action":"latency","latency_ms":400}'
T=$(curl -sS -o /dev/null -w '%{time_total}' "$HUB/api/spaces")
check_match "latency added (>= 0.4 s): $T" '^(0\.[4-9]|[1-9])' "$T"
T=$(curl -sS -o /dev/null -w '%{time_total}' "$HUB/api/spaces")
check_match "latency rule used once: $T" '^0\.[0-3]' "$T"

hub_fault '{"path":"^/api/spaces$","action":"stall","stall_seconds":3}'
curl -sS -o /dev/null --max-time 1 "$HUB/api/spaces" 2>/dev/null; RC=$?
check_eq "stall: client times out (28)" 28 "$RC"

hub_fault '{"path":"^/api/spaces$","status":500,"count":-1,"probability":0}'
check_eq "probability 0 never fires" "200 200 200" "$(for i in 1 2 3; do status GET "$HUB/api/spaces"; echo -n ' '; done | sed 's/ $//')"
hub_faults_clear
check_eq "bad fault rule 400" 400 "$(status POST "$HUB/_hubd/faults" -H 'Content-Type: application/json' -d '{"path":"(","status":500}')"

# --- clock and settings ---
N0=$(curl -sS "$HUB/_hubd/clock" | jq '.now|floor')
hub_advance 3600
N1=$(curl -sS "$HUB/_hubd/clock" | jq '.now|floor')
check "clock advanced by an hour" test $((N1 - N0)) -ge 3600 -a $((N1 - N0)) -le 3602
check_eq "negative advance 400" 400 "$(status POST "$HUB/_hubd/clock" -H 'Content-Type: application/json' -d '{"advance":-5}')"
check_eq "config" 2 "$(curl -sS -X POST "$HUB/_hubd/config" -H 'Content-Type: application/json' -d '{"boot_seconds":2}' | jq .boot_seconds)"

# --- restart with existing state ---
hub_stop
hub_start
check_eq "serving after restart" 200 "$(status GET "$HUB/api/spaces/alice/chat")"
finish
