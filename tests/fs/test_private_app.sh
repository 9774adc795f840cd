#!/bin/bash
# ping and wakeup of a private Space through the mounted filesystem: the emulator's app route, like
# the Hub's app proxy, answers an anonymous visitor of a private Space with 404 and leaves it
# asleep. spacefs fetches the Space's JWT from the Hub (GET /api/spaces/{ns}/{name}/jwt) and
# visits http://alice-notes.localhost:PORT/?__sign=<jwt>; the token never goes to the app host.
. "$(dirname "$0")/lib.sh"
require_fuse
hub_start --boot-seconds 1
N="$MNT/alice/notes" # private in the fixture (and paused)

# app_stats: "<200s> <503s> <404s> <total>" answered by the app routes since the last reset
app_stats() {
  hub_stats | jq -r '[.routes | to_entries[] | select(.key | startswith("APP")) | .value] as $a
    | [([$a[].statuses["200"] // 0] | add // 0), ([$a[].statuses["503"] // 0] | add // 0),
       ([$a[].statuses["404"] // 0] | add // 0), ([$a[].count] | add // 0)] | map(tostring) | join(" ")'
}
# wait_stage STAGE: polls status (cached for ttl=2 s) for up to 10 s
wait_stage() {
  local i
  for i in $(seq 1 50); do
    [ "$(cat "$N/status")" = "$1" ] && return 0
    sleep 0.2
  done
  return 1
}

# --- the visit reaches the private app with a Space JWT, never with the token ------------------
mount_fs "$TOKEN"
check_eq "alice/notes is private" true "$(jq -r .private "$N/info.json")"
check_match "its app URL is not on the endpoint's origin" "^http://alice-notes\.localhost:[0-9]+$" "$(cat "$N/url")"
echo restart >"$N/control"
wait_stage RUNNING
check_eq "restarted: RUNNING" RUNNING "$(cat "$N/status")"
curl -s -X POST "$HUB/_hubd/spaces/alice/notes/sleep" >/dev/null
sleep 2.2 # cache expires
check_eq "put to sleep" STOPPED "$(cat "$N/status")"
curl -s "$HUB/-/apps/alice-notes/" -o /dev/null -w '%{http_code}' >"$WORK/anon_code"
check_eq "an anonymous visit of the app gets 404 (the emulator is as strict as the Hub)" 404 "$(cat "$WORK/anon_code")"
hub_stats_reset
echo wakeup >"$N/control"
check_eq "echo wakeup > control succeeds" 0 $?
check_match "control: ok HTTP 200" "^wakeup .* ok HTTP 200$" "$(cat "$N/control")"
read -r ok200 wait503 nf total <<<"$(app_stats)"
check_eq "one visit: exactly one 200 from the app, no 404" "1 0" "$ok200 $nf"
check_eq "  and every other app request was a 503 Retry-After of that visit" "$total" "$((ok200 + wait503))"
check_eq "the Space JWT was asked for once" 1 "$(hub_count 'GET /api/spaces/{ns}/{name}/jwt')"
check_eq "no Authorization header reached the app host" 0 "$(hub_count 'AUTH header at an app host')"
check_eq "no restart sent (woken by the visit, not rebuilt)" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check_eq "status RUNNING right after (the visit invalidated the runtime)" RUNNING "$(cat "$N/status")"

hub_stats_reset
echo ping >"$N/control"
check_eq "echo ping > control on the running private Space succeeds" 0 $?
check_eq "one app request, answered 200" "1 0 0 1" "$(app_stats)"
check_match "control: ping ok HTTP 200" "^ping .* ok HTTP 200$" "$(cat "$N/control")"
check_eq "ping never restarts" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check_eq "ping: no Authorization header at the app host either" 0 "$(hub_count 'AUTH header at an app host')"

# a public Space's app is visited as before
hub_stats_reset
echo ping >"$MNT/alice/chat/control"
check_match "ping of a public Space still works" "^ping .* ok HTTP 200$" "$(cat "$MNT/alice/chat/control")"
check_eq "no Authorization header at any app host" 0 "$(hub_count 'AUTH header at an app host')"
check_eq "the spacefs log never shows a JWT or its __sign value" 0 \
  "$(grep -cE '__sign=[A-Za-z0-9]|eyJ[A-Za-z0-9_-]{8,}' "$WORK/spacefs.err")"
finish_fs
