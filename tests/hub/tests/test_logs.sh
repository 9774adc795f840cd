#!/bin/bash
# Space logs as SSE: event shape, ?tail=N, keep-alives, a follower that receives lines produced
# after it connected (admin-appended and produced by the runtime itself), build log closing.
. "$(dirname "$0")/../../lib/hub.sh"
hub_start --boot-seconds 1
AW=(-H "Authorization: Bearer hf_alice_write")
SP="$HUB/api/spaces"
curl -sS -X POST "$HUB/_hubd/config" -H 'Content-Type: application/json' -d '{"log_keepalive_seconds": 0.3}' >/dev/null
applog() { curl -sS -X POST "$HUB/_hubd/spaces/alice/chat/logs/$1" -H 'Content-Type: application/json' -d "$2" >/dev/null; }

applog run '{"lines":["line one","line two","line three"]}'
H=$(curl -s -N --max-time 1 -D "$WORK/h" "${AW[@]}" "$SP/alice/chat/logs/run?tail=2")
check_match "content type SSE" 'text/event-stream' "$(cat "$WORK/h")"
EV=$(grep '^data: {' <<<"$H")
check_eq "tail=2 gives 2 events" 2 "$(wc -l <<<"$EV")"
check_eq "event data with newline" '"line two\n"' "$(head -1 <<<"$EV" | cut -c7- | jq -c .data)"
check_match "event timestamp ISO" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$' "$(head -1 <<<"$EV" | cut -c7- | jq -r .timestamp)"
check "bare data: keep-alives" grep -qx 'data:' <<<"$H"
check_eq "tail=0" 0 "$(curl -s -N --max-time 0.5 "${AW[@]}" "$SP/alice/chat/logs/run?tail=0" | grep -c '^data: {')"
check_eq "logs need a token 401" 401 "$(status GET "$SP/alice/chat/logs/run")"
check_eq "private logs hidden 404" 404 "$(status GET "$SP/alice/notes/logs/run" -H "Authorization: Bearer hf_bob_write")"
check_eq "static logs 400" 400 "$(status GET "$SP/acme/dashboard/logs/build" "${AW[@]}")"

# a follower (curl -N in the background) receives what is produced after it started
curl -s -N --max-time 6 "${AW[@]}" "$SP/alice/chat/logs/run?tail=0" >"$WORK/follow" &
FPID=$!
sleep 0.5
applog run '{"lines":["produced later"]}'
curl -sS "${AW[@]}" -X POST "$SP/alice/chat/restart" >/dev/null   # runtime lines follow in ~2 s
for i in $(seq 1 40); do grep -q 'Running on' "$WORK/follow" && break; sleep 0.1; done
check_eq "follower got the appended line" 1 "$(grep -c 'produced later' "$WORK/follow")"
check_eq "follower got the startup banner" 1 "$(grep -c 'Application Startup' "$WORK/follow")"
check_eq "follower got RUNNING line" 1 "$(grep -c 'Running on' "$WORK/follow")"
check "stream still open while following" kill -0 $FPID
kill $FPID 2>/dev/null; wait $FPID 2>/dev/null

# build log: streams during a build and closes when the build is over
curl -sS "${AW[@]}" -X POST "$SP/alice/chat/restart" >/dev/null
T0=$(date +%s.%N)
B=$(curl -s -N --max-time 8 "${AW[@]}" "$SP/alice/chat/logs/build")
RC=$?
T=$(echo "$(date +%s.%N) - $T0" | bc)
check_eq "build log closed by server" 0 "$RC"
check_match "closed after the ~1 s build" '^0*\.[0-9]+|^1\.[0-9]+|^2\.' "$T"
check_eq "build log ends with Build complete" 1 "$(grep '^data: {' <<<"$B" | tail -1 | grep -c 'Build complete')"
check_eq "finished build log closes at once" 0 "$(curl -s -N --max-time 3 -o /dev/null -w '' "${AW[@]}" "$SP/alice/chat/logs/build"; echo $?)"
finish
