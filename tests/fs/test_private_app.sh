#!/bin/bash
# ping and wakeup of a private Space through the mounted filesystem: the emulator's app route, like
# the Hub's app proxy, answers an anonymous visitor of a private Space with 404 and leaves it
# asleep. Mounted without app_domain the visit to http://alice-notes.localhost:PORT/ is anonymous
# (the app host is not the endpoint's origin); with -o app_domain=localhost it carries the token.
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

# --- a bad app_domain fails the mount on the terminal --------------------------------------
mkdir -p "$MNT"
printf '%s' "$TOKEN" >"$WORK/token"
chmod 600 "$WORK/token"
OUT=$(timeout 10 "$SPACEFS" "$MNT" -f -o "endpoint=$HUB,token_file=$WORK/token,app_domain=https://x.example" 2>&1)
check_eq "app_domain with a scheme: the mount fails" 1 $?
check_match "and says why" "app_domain must be a host name" "$OUT"

# --- without app_domain: the visit is anonymous, the private Space stays asleep ------------
mount_fs "$TOKEN"
check_eq "alice/notes is private" true "$(jq -r .private "$N/info.json")"
check_match "its app URL is not on the endpoint's origin" "^http://alice-notes\.localhost:[0-9]+$" "$(cat "$N/url")"
echo restart >"$N/control"
wait_stage RUNNING
check_eq "restarted: RUNNING" RUNNING "$(cat "$N/status")"
curl -s -X POST "$HUB/_hubd/spaces/alice/notes/sleep" >/dev/null
sleep 2.2 # cache expires
check_eq "put to sleep" STOPPED "$(cat "$N/status")"
hub_stats_reset
check_eq "wakeup without app_domain fails: ENOENT (the app answers 404 to an anonymous visit)" \
  ENOENT "$(errno_of write "$N/control" wakeup)"
check_eq "one app request, answered 404" "0 0 1 1" "$(app_stats)"
check_match "control shows the failure" "^wakeup .* failed: No such file or directory" "$(cat "$N/control")"
check_eq "no restart sent" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
sleep 2.2
check_eq "the private Space is still asleep" STOPPED "$(cat "$N/status")"
unmount_fs

# --- with app_domain=localhost: the visit authenticates and wakes it ----------------------------
mount_fs "$TOKEN" "app_domain=localhost"
check_eq "still asleep after the remount" STOPPED "$(cat "$N/status")"
hub_stats_reset
echo wakeup >"$N/control"
check_eq "echo wakeup > control succeeds" 0 $?
check_match "control: ok HTTP 200" "^wakeup .* ok HTTP 200$" "$(cat "$N/control")"
read -r ok200 wait503 nf total <<<"$(app_stats)"
check_eq "one visit: exactly one 200 from the app, no 404" "1 0" "$ok200 $nf"
check_eq "  and every other app request was a 503 Retry-After of that visit" "$total" "$((ok200 + wait503))"
check_eq "no restart sent (woken by the visit, not rebuilt)" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check_eq "status RUNNING right after (the visit invalidated the runtime)" RUNNING "$(cat "$N/status")"

hub_stats_reset
echo ping >"$N/control"
check_eq "echo ping > control on the running private Space succeeds" 0 $?
check_eq "one app request, answered 200" "1 0 0 1" "$(app_stats)"
check_match "control: ping ok HTTP 200" "^ping .* ok HTTP 200$" "$(cat "$N/control")"
check_eq "ping never restarts" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"

# a public Space's app is visited as before
hub_stats_reset
echo ping >"$MNT/alice/chat/control"
check_match "ping of a public Space still works" "^ping .* ok HTTP 200$" "$(cat "$MNT/alice/chat/control")"
finish_fs
