#!/bin/bash
# The simulated runtime: restart stages on simulated time, factory rebuild, pause vs traffic,
# hardware requested -> current, sleep times, sleeping and waking through the app URL (path and
# Host forms), static Spaces, admin sleep/stage, new Spaces, pushes, state across a restart.
. "$(dirname "$0")/../../lib/hub.sh"
hub_start --boot-seconds 30   # stages only move when the test advances the clock
AW=(-H "Authorization: Bearer hf_alice_write")
J=(-H 'Content-Type: application/json')
SP="$HUB/api/spaces"
stage() { curl -sS "${AW[@]}" "$SP/$1/runtime" | jq -r .stage; }

# restart: BUILDING -> APP_STARTING -> RUNNING, one boot period each
check_eq "restart replies BUILDING" BUILDING "$(curl -sS "${AW[@]}" -X POST "$SP/alice/chat/restart" | jq -r .stage)"
check_eq "still BUILDING before boot time" BUILDING "$(stage alice/chat)"
hub_advance 31
check_eq "then APP_STARTING" APP_STARTING "$(stage alice/chat)"
hub_advance 30
check_eq "then RUNNING" RUNNING "$(stage alice/chat)"
check_eq "build log records the restart" 1 "$(curl -s -N --max-time 2 "${AW[@]}" "$SP/alice/chat/logs/build" | grep -c 'reusing cached layers')"

# factory restart: fresh build log
curl -sS "${AW[@]}" -X POST "$SP/alice/chat/restart?factory=true" >/dev/null
BL=$(curl -s -N --max-time 2 "${AW[@]}" "$SP/alice/chat/logs/build")
check_eq "factory: old build lines gone" 0 "$(grep -c 'reusing cached layers' <<<"$BL")"
check_eq "factory: rebuild line" 1 "$(grep -c 'without cache' <<<"$BL")"
hub_advance 61
check_eq "factory restart ends RUNNING" RUNNING "$(stage alice/chat)"

# pause; traffic does not resume it; restart does
check_eq "pause replies PAUSED" "PAUSED null" "$(curl -sS "${AW[@]}" -X POST "$SP/alice/chat/pause" | jq -r '"\(.stage) \(.hardware.current)"')"
check_eq "app URL of paused space 503" 503 "$(status GET "$HUB/-/apps/alice-chat/")"
hub_advance 100
check_eq "still PAUSED after traffic" PAUSED "$(stage alice/chat)"
check_eq "restart from PAUSED says BUILDING" BUILDING "$(curl -sS "${AW[@]}" -X POST "$SP/alice/chat/restart" | jq -r .stage)"
hub_advance 61
check_eq "resumed" RUNNING "$(stage alice/chat)"

# hardware: requested now, current after the reboot it triggers
R=$(curl -sS "${AW[@]}" "${J[@]}" -X POST -d '{"flavor":"t4-medium"}' "$SP/alice/chat/hardware")
check_eq "hardware request" "BUILDING cpu-basic t4-medium" "$(jq -r '"\(.stage) \(.hardware.current) \(.hardware.requested)"' <<<"$R")"
check_eq "paid hardware never sleeps by default" null "$(jq -r .gcTimeout <<<"$R")"
hub_advance 61
check_eq "hardware current after reboot" "RUNNING t4-medium" "$(curl -sS "${AW[@]}" "$SP/alice/chat/runtime" | jq -r '"\(.stage) \(.hardware.current)"')"
H=$(curl -sS -D - -o "$WORK/b" "${AW[@]}" "${J[@]}" -X POST -d '{"flavor":"h100-giant"}' "$SP/alice/chat/hardware")
check_match "bad flavor 400" '^HTTP/1.1 400' "$H"
check_match "bad flavor message" '^"flavor" must be one of \[cpu-basic, ' "$(jq -r .error "$WORK/b")"
check_eq "sleeptime on paid hardware" 600 "$(curl -sS "${AW[@]}" "${J[@]}" -X POST -d '{"seconds":600}' "$SP/alice/chat/sleeptime" | jq -r .gcTimeout)"
# sleep after gcTimeout without traffic, app URL wakes it
hub_advance 601
check_eq "asleep after gcTimeout" STOPPED "$(stage alice/chat)"
check_eq "run log says it slept" 1 "$(curl -s -N --max-time 2 "${AW[@]}" "$SP/alice/chat/logs/run?tail=1" | grep -c 'went to sleep after 600 s')"
check_eq "app URL while asleep 503" 503 "$(status GET "$HUB/-/apps/alice-chat/")"
check_eq "the visit woke it" APP_STARTING "$(stage alice/chat)"
hub_advance 31
check_eq "awake" RUNNING "$(stage alice/chat)"
check_eq "app URL serves" "Space alice/chat is running" "$(curl -sS "$HUB/-/apps/alice-chat/")"
check_eq "sleeptime -1 = never" null "$(curl -sS "${AW[@]}" "${J[@]}" -X POST -d '{"seconds":-1}' "$SP/alice/chat/sleeptime" | jq -r .gcTimeout)"

# cpu-basic: gcTimeout 172800, sleep time not configurable
curl -sS "${AW[@]}" "${J[@]}" -X POST -d '{"flavor":"cpu-basic"}' "$SP/alice/chat/hardware" >/dev/null
hub_advance 61
check_eq "cpu-basic gcTimeout" 172800 "$(curl -sS "${AW[@]}" "$SP/alice/chat/runtime" | jq -r .gcTimeout)"
H=$(curl -sS -D - -o "$WORK/b" "${AW[@]}" "${J[@]}" -X POST -d '{"seconds":3600}' "$SP/alice/chat/sleeptime")
check_match "cpu-basic sleeptime 400" '^HTTP/1.1 400' "$H"
check_eq "cpu-basic sleeptime message" "Cannot change the sleep time for cpu-basic Spaces." "$(jq -r .error "$WORK/b")"
hub_advance 172000
check_eq "awake before 48 h" RUNNING "$(stage alice/chat)"
curl -sS -o /dev/null "$HUB/-/apps/alice-chat/"   # traffic resets the countdown
hub_advance 1000
check_eq "traffic postponed sleep" RUNNING "$(stage alice/chat)"
hub_advance 172800
check_eq "asleep after 48 h idle" STOPPED "$(stage alice/chat)"
check_eq "Host header wakes it" 503 "$(status GET "http://127.0.0.1:${HUB##*:}/" -H "Host: alice-chat.hf.space")"
hub_advance 31
check_eq "Host header form serves" "Space alice/chat is running" "$(curl -sS "http://alice-chat.localhost:${HUB##*:}/")"

# admin: sleep now, force a stage, logs line
check_eq "admin sleep" STOPPED "$(curl -sS -X POST "$HUB/_hubd/spaces/alice/chat/sleep" | jq -r .stage)"
R=$(curl -sS "${J[@]}" -X POST -d '{"stage":"RUNTIME_ERROR","errorMessage":"Exit code: 1. Reason: boom"}' "$HUB/_hubd/spaces/alice/chat/stage")
check_eq "forced RUNTIME_ERROR" "RUNTIME_ERROR Exit code: 1. Reason: boom" "$(jq -r '"\(.stage) \(.errorMessage)"' <<<"$R")"
check_eq "bad forced stage 400" 400 "$(status POST "$HUB/_hubd/spaces/alice/chat/stage" "${J[@]}" -d '{"stage":"DANCING"}')"
check_eq "restart recovers" BUILDING "$(curl -sS "${AW[@]}" -X POST "$SP/alice/chat/restart" | jq -r .stage)"

# static Spaces: lifecycle calls answer 400, app serves index.html
for c in restart pause; do
  check_eq "static $c 400" 400 "$(status POST "$SP/acme/dashboard/$c" "${AW[@]}")"
done
check_eq "static hardware 400" 400 "$(status POST "$SP/acme/dashboard/hardware" "${AW[@]}" "${J[@]}" -d '{"flavor":"t4-small"}')"
check_eq "static sleeptime 400" 400 "$(status POST "$SP/acme/dashboard/sleeptime" "${AW[@]}" "${J[@]}" -d '{"seconds":60}')"
check_eq "static app serves index.html" "<h1>ACME</h1>" "$(curl -sS "$HUB/-/apps/acme-dashboard/")"

# new Space through /api/repos/create (repos.py) gets a runtime via on_repo_created; an API
# commit (commits.py) fires on_git_push and rebuilds
if [ "$(status POST "$HUB/api/repos/create" "${AW[@]}" "${J[@]}" -d '{"name":"fresh","organization":null,"type":"space","sdk":"gradio"}')" = 200 ]; then
  check_eq "new space BUILDING" "BUILDING null cpu-basic" "$(curl -sS "${AW[@]}" "$SP/alice/fresh/runtime" | jq -r '"\(.stage) \(.hardware.current) \(.hardware.requested)"')"
  hub_advance 31
  check_eq "no app file" NO_APP_FILE "$(stage alice/fresh)"
  printf '%s\n' '{"key":"header","value":{"summary":"add app","description":""}}' \
    "{\"key\":\"file\",\"value\":{\"path\":\"app.py\",\"content\":\"$(printf 'import gradio\n' | base64 -w0)\",\"encoding\":\"base64\"}}" >"$WORK/commit.ndjson"
  check_eq "commit app.py" 200 "$(status POST "$SP/alice/fresh/commit/main" "${AW[@]}" -H 'Content-Type: application/x-ndjson' --data-binary @"$WORK/commit.ndjson")"
  check_eq "commit triggers rebuild" BUILDING "$(stage alice/fresh)"
  hub_advance 61
  check_eq "new space runs" "RUNNING cpu-basic 172800" "$(curl -sS "${AW[@]}" "$SP/alice/fresh/runtime" | jq -r '"\(.stage) \(.hardware.current) \(.gcTimeout)"')"
else
  echo "skip - /api/repos/create not available in this checkout"
fi

# state survives a hubd restart with the same --state
curl -sS "${AW[@]}" -X POST "$SP/alice/chat/pause" >/dev/null
curl -sS "${AW[@]}" "${J[@]}" -X POST -d '{"key":"KEEP","value":"yes"}' "$SP/alice/chat/variables" >/dev/null
OFFSET=$(curl -sS "$HUB/_hubd/clock" | jq -r '.offset|floor')
hub_stop
hub_start --boot-seconds 30
SP="$HUB/api/spaces"
check_eq "stage kept across restart" PAUSED "$(stage alice/chat)"
check_eq "variable kept across restart" yes "$(curl -sS "${AW[@]}" "$SP/alice/chat/variables" | jq -r .KEEP.value)"
check_eq "hardware kept across restart" cpu-basic "$(curl -sS "${AW[@]}" "$SP/alice/chat/runtime" | jq -r .hardware.requested)"
check_eq "simulated clock kept across restart" "$OFFSET" "$(curl -sS "$HUB/_hubd/clock" | jq -r '.offset|floor')"
curl -sS "${AW[@]}" -X POST "$SP/alice/chat/restart" >/dev/null
hub_advance 61
check_eq "runtime continues after restart" RUNNING "$(stage alice/chat)"
finish
