#!/bin/bash
# spacefs mounted against the emulator, driven with real shell tools: every file of a Space,
# request budgets from the emulator's counters, every bad input (errno asserted, nothing sent),
# secrets and variables, logs with cat and tail -f, mkdir/rmdir/delete, other namespaces.
. "$(dirname "$0")/lib.sh"
require_fuse
hub_start --boot-seconds 1
# the request-count checks assume a stretch of commands runs within one cache lifetime: 4 s
# holds on a loaded 2-core machine where 2 s did not (six Python start-ups in a row)
export FS_TTL=${FS_TTL:-4}
mount_fs "$TOKEN" "page_size=2"
M=$MNT
A="$M/alice/chat"

# --- root and .spacefs -------------------------------------------------------------------
check_eq "root lists the token's namespaces" ".spacefs acme alice" "$(ls -A "$M" | sort | xargs)"
check_eq "whoami" "name: alice|orgs: acme|role: write" "$(paste -sd'|' "$M/.spacefs/whoami")"
check_eq "endpoint" "$HUB" "$(cat "$M/.spacefs/endpoint")"
hub_stats_reset
H1=$(cat "$M/.spacefs/health"); H2=$(cat "$M/.spacefs/health")
check_match "health ok, and online" "^ok $HUB alice [0-9]+ ms"$'\n'"state: online"$'\n' "$H1"
check_eq "health makes a fresh call each read" 2 "$(hub_count 'GET /api/whoami-v2')"
check_match "stats count requests" "requests [0-9]+" "$(cat "$M/.spacefs/stats")"
check_match "stats show the rate-limit budget" "ratelimit_remaining [0-9]+" "$(cat "$M/.spacefs/stats")"
check_eq ".spacefs is read-only" "EACCES" "$(errno_of write "$M/.spacefs/whoami" x)"

# --- listing budget: 5 Spaces, page size 2 ------------------------------------------------
for s in s1 s2 s3; do mkdir "$M/alice/$s"; done
check_eq "mkdir made 3 Spaces" 3 "$(curl -s "$HUB/api/spaces?author=alice" -H "Authorization: Bearer $TOKEN" | jq length | xargs expr -2 +)"
sleep "${FS_TTL:-2}.2" # caches expire (ttl, lib.sh)
hub_stats_reset
LS=$(ls -l "$M/alice")
check_eq "ls -l shows 5 Spaces" 5 "$(grep -c '^d' <<<"$LS")"
check_eq "ls -l of 5 Spaces costs ceil(5/2)=3 list requests" 3 "$(hub_count 'GET /api/spaces')"
check_eq "and nothing per Space" 3 "$(hub_stats | jq .total)"
ST=$(cat "$M"/alice/*/status)
check_eq "cat */status right after" 5 "$(wc -l <<<"$ST")"
stat "$A" "$A/status" "$A/hardware" >/dev/null
check_eq "cat */status and warm stats cost nothing" 3 "$(hub_stats | jq .total)"
check_eq "status is one word" "RUNNING" "$(cat "$A/status")"
if [ "$(cat "$A/status")" = RUNNING ]; then pass "status works in a shell if"; else fail "status in if"; fi
check_eq "warm cat status costs nothing" 3 "$(hub_stats | jq .total)"

# --- the files of a Space ------------------------------------------------------------------
check_eq "modes" "0444 0444 0444 0444 0644 0644 0644" \
  "$(cd "$A" && stat -c %04a status runtime.json info.json url hardware sleeptime control | xargs)"
check_eq "runtime.json for jq" "$(cat "$A/status")" "$(jq -r .stage "$A/runtime.json")"
check_eq "runtime.json is pretty-printed" "{" "$(head -1 "$A/runtime.json")"
check_eq "info.json for jq" "alice/chat" "$(jq -r .id "$A/info.json")"
check_eq "url" "${HUB%%://*}://alice-chat.localhost:${HUB##*:}" "$(cat "$A/url")"
check_eq "the url answers" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$(cat "$A/url")")"
check_eq "hardware" "cpu-basic" "$(cat "$A/hardware")"
check_eq "sleeptime" "172800" "$(cat "$A/sleeptime")"
check_eq "control before any action" "none" "$(cat "$A/control")"

# --- control --------------------------------------------------------------------------------
hub_stats_reset
for w in reboot "restart now" $'\n' $'restart\nrestart' "delete alice/notes" "delete"; do
  check_eq "control $(printf %q "$w") is EINVAL" EINVAL "$(errno_of write "$A/control" "$w")"
done
echo reboot >"$A/control" 2>"$WORK/err"
check_match "the shell reports it" "Invalid argument" "$(cat "$WORK/err")"
# nothing but reads: a lookup of the path may relist once the 2 s ttl ran out under load (that is
# the kernel's lookup, not the word), but no action request may go out
check_eq "bad commands send nothing" 0 \
  "$(hub_stats | jq '[.routes | to_entries[] | select(.key | test("^(GET|HEAD) ") | not) | .value.count] | add // 0')"
echo restart >"$A/control"
check_eq "echo restart > control" 0 $?
check_eq "restart sent once" 1 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check_eq "status refreshed by the write" BUILDING "$(cat "$A/status")"
check_match "control shows the last action" "^restart [0-9T:-]+Z ok BUILDING$" "$(cat "$A/control")"
check_eq "no relisting for it" 0 "$(hub_count 'GET /api/spaces')"
hub_fault '{"method":"POST","path":"/restart$","status":403,"message":"You are not allowed to restart this Space","count":1}'
echo restart >"$A/control" 2>"$WORK/err"
check_match "a 403 fails in the shell" "Permission denied" "$(cat "$WORK/err")"
check_match "the log says why" "restart alice/chat: forbidden \(HTTP 403\).*not allowed" "$(cat "$WORK/spacefs.err")"
check_match "control shows the failure" "^restart .* failed: Permission denied" "$(cat "$A/control")"
check_eq "static Space restart: the Hub's 400 is EINVAL" EINVAL "$(errno_of write "$M/acme/dashboard/control" restart)"
check_match "and the log says why" "Cannot restart a static Space" "$(cat "$WORK/spacefs.err")"
sleep 2.5 # the restart above has finished booting: the app answers 200 at once
hub_stats_reset
echo ping >"$A/control"
check_eq "ping visits the app" 1 "$(hub_stats | jq '[.routes | to_entries[] | select(.key|startswith("APP")) | .value.count] | add')"
check_eq "ping never restarts" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
curl -s -X POST "$HUB/_hubd/spaces/alice/chat/sleep" >/dev/null
sleep "${FS_TTL:-2}.2"
check_eq "sleeping Space" STOPPED "$(cat "$A/status")"
echo wakeup >"$A/control"
check_eq "wakeup of a sleeping Space does not restart" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check_match "it visits the app" "^wakeup .* ok HTTP" "$(cat "$A/control")"
check_eq "paused Space" PAUSED "$(cat "$M/alice/notes/status")"
echo wakeup >"$M/alice/notes/control"
check_eq "wakeup of a paused Space restarts it" 1 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check_eq "and status says so" BUILDING "$(cat "$M/alice/notes/status")"

# --- hardware and sleeptime ----------------------------------------------------------------
hub_stats_reset
check_eq "unknown flavor is EINVAL" EINVAL "$(errno_of write "$A/hardware" "h100")"
check_eq "malformed flavor is EINVAL" EINVAL "$(errno_of write "$A/hardware" "T4 Small")"
check_eq "no hardware request sent" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/hardware')"
echo cpu-upgrade >"$A/hardware"
check_eq "echo flavor > hardware" 1 "$(hub_count 'POST /api/spaces/{ns}/{name}/hardware')"
check_eq "requested" cpu-upgrade "$(jq -r .hardware.requested "$A/runtime.json")"
for v in soon -5 0 12x; do
  check_eq "sleeptime '$v' is EINVAL" EINVAL "$(errno_of write "$A/sleeptime" "$v")"
done
check_eq "no sleeptime request sent" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/sleeptime')"
echo 7200 >"$M/alice/notes/sleeptime"
check_eq "sleeptime on paid hardware" 7200 "$(cat "$M/alice/notes/sleeptime")"
echo never >"$M/alice/notes/sleeptime"
check_eq "sleeptime never" never "$(cat "$M/alice/notes/sleeptime")"

# --- secrets -------------------------------------------------------------------------------
S="$A/secrets"
check_eq "secret entries are 0200, size 0" "0200 0" "$(stat -c '%04a %s' "$S/OPENAI_API_KEY")"
check_eq "reading a secret is EACCES" EACCES "$(errno_of read "$S/OPENAI_API_KEY")"
cat "$S/OPENAI_API_KEY" 2>"$WORK/err"
check_match "cat says so" "Permission denied" "$(cat "$WORK/err")"
hub_stats_reset
for k in bad-name 1KEY "A B"; do
  check_eq "secret name '$k' is EINVAL" EINVAL "$(errno_of create "$S/$k" x)"
done
check_eq "invalid names send nothing" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/secrets')"
echo "$SECRET_VALUE" >"$S/NEW_KEY"
check_eq "echo value > secrets/KEY sends it once" 1 "$(hub_count 'POST /api/spaces/{ns}/{name}/secrets')"
SJ="$HUB_STATE/repos/spaces/alice/chat.json"
check_eq "one trailing newline stripped" true "$(jq --arg v "$SECRET_VALUE" '.secrets.NEW_KEY.value == $v' "$SJ")"
printf '%s\n\n' "$SECRET_VALUE" >"$S/NEW_KEY"
check_eq "printf: only one newline stripped" true "$(jq --arg v "$SECRET_VALUE" '.secrets.NEW_KEY.value == $v + "\n"' "$SJ")"
printf '%s' "$SECRET_VALUE" >"$S/NEW_KEY"
check_eq "printf writes the value exactly" true "$(jq --arg v "$SECRET_VALUE" '.secrets.NEW_KEY.value == $v' "$SJ")"
check_eq "listed" "NEW_KEY OPENAI_API_KEY" "$(ls "$S" | xargs)"
rm "$S/NEW_KEY"
check_eq "rm deletes it" 1 "$(hub_count 'DELETE /api/spaces/{ns}/{name}/secrets')"
check_eq "gone" "OPENAI_API_KEY" "$(ls "$S" | xargs)"
check_eq "rm of a missing secret is ENOENT" ENOENT "$(errno_of unlink "$S/NEW_KEY")"

# --- variables ------------------------------------------------------------------------------
V="$A/variables"
check_eq "cat variable" gpt2 "$(cat "$V/MODEL")"
check_eq "variables are 0644" 0644 "$(stat -c %04a "$V/MODEL")"
echo llama3 >"$V/MODEL"
check_eq "echo > variable" llama3 "$(cat "$V/MODEL")"
check_eq "on the Hub" llama3 "$(curl -s -H "Authorization: Bearer $TOKEN" "$HUB/api/spaces/alice/chat/variables" | jq -r .MODEL.value)"
printf 'a b' >"$V/NEWVAR"
check_eq "printf > new variable" "a b" "$(cat "$V/NEWVAR")"
check_eq "invalid variable name is EINVAL" EINVAL "$(errno_of create "$V/no-dash" x)"
rm "$V/NEWVAR"
check_eq "rm variable" MODEL "$(ls "$V" | xargs)"

# --- logs -----------------------------------------------------------------------------------
t0=$(ms)
timeout 10 cat "$A/logs/run" >"$WORK/run.log"
check_eq "cat logs/run ends" 0 $?
check "and prints what is buffered" grep -q "Application Startup" "$WORK/run.log"
check "cat ends promptly" test $(($(ms) - t0)) -lt 5000
timeout 6 tail -f "$A/logs/run" >"$WORK/tail.log" &
TP=$!
sleep 1.5
curl -s -X POST -d '{"lines":["fresh line one","fresh line two"]}' "$HUB/_hubd/spaces/alice/chat/logs/run" >/dev/null
wait $TP
check "tail -f follows new lines" grep -q "fresh line two" "$WORK/tail.log"
check_eq "each new line once" 1 "$(grep -c 'fresh line one' "$WORK/tail.log")"
check "build log" timeout 10 cat "$A/logs/build"

# --- mkdir, rmdir, delete -------------------------------------------------------------------
hub_stats_reset
check_eq "invalid Space name is EINVAL" EINVAL "$(errno_of mkdir "$M/alice/bad--name")"
check_eq "no namespace creation" EPERM "$(errno_of mkdir "$M/newns")"
check_eq "not in other namespaces" EACCES "$(errno_of mkdir "$M/gradio/mine")"
check_eq "bad mkdirs send nothing" 0 "$(hub_count 'POST /api/repos/create')"
curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"racer","organization":"alice","type":"space","sdk":"static"}' "$HUB/api/repos/create" >/dev/null
check_eq "the Hub's 409 is EEXIST" EEXIST "$(errno_of mkdir "$M/alice/racer")"
hub_fault '{"method":"POST","path":"^/api/repos/create$","status":402,"message":"Payment required","count":1}'
check_eq "the Hub's 402 is EDQUOT" EDQUOT "$(errno_of mkdir "$M/alice/paid")"
check_match "the log says a paid plan is needed" "needs a paid plan" "$(cat "$WORK/spacefs.err")"
mkdir "$M/alice/made"
check_eq "mkdir creates a private docker Space" "true docker" \
  "$(curl -s -H "Authorization: Bearer $TOKEN" "$HUB/api/spaces/alice/made" | jq -r '"\(.private) \(.sdk)"')"
check_eq "rmdir does not delete a Space" EPERM "$(errno_of rmdir "$M/alice/made")"
rm -rf "$M/alice/made" 2>/dev/null
check_eq "rm -r does not delete it either" 200 "$(status GET "$HUB/api/spaces/alice/made" -H "Authorization: Bearer $TOKEN")"
check_eq "no delete sent" 0 "$(hub_count 'DELETE /api/repos/delete')"
check_eq "delete needs the full id" EINVAL "$(errno_of write "$M/alice/made/control" "delete alice/other")"
echo "delete alice/made" >"$M/alice/made/control"
check_eq "the deliberate delete" 404 "$(status GET "$HUB/api/spaces/alice/made" -H "Authorization: Bearer $TOKEN")"
check_eq "gone from the mount" ENOENT "$(errno_of read "$M/alice/made/status")"

# --- negative lookups and other namespaces ---------------------------------------------------
ls "$M/alice/nope" 2>/dev/null
hub_stats_reset
ls "$M/alice/nope" 2>/dev/null
check_eq "a negative lookup is cached" 0 "$(hub_stats | jq .total)"
check_eq "impossible names cost nothing" ENOENT "$(errno_of read "$M/.Trash-0/x")"
check_eq "public Spaces of another namespace" hello-world "$(ls "$M/gradio" | xargs)"
check_eq "readable" RUNNING "$(cat "$M/gradio/hello-world/status")"
check_eq "read-only" "0444" "$(stat -c %04a "$M/gradio/hello-world/control")"
hub_stats_reset
check_eq "writing another namespace's control is EACCES" EACCES "$(errno_of write "$M/gradio/hello-world/control" restart)"
check_eq "and sends nothing" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check_eq "no secrets there" "control hardware info.json runtime.json sleeptime status url" "$(ls "$M/gradio/hello-world" | xargs)"
check_eq "private Spaces of others are invisible" ENOENT "$(errno_of read "$M/bob/secret-app/status")"
check_eq "unknown namespace" ENOENT "$(errno_of read "$M/nobody-here/x/status")"

finish_fs
