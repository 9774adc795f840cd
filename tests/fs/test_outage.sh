#!/bin/bash
# A Hub outage: with the emulator stalled or stopped, every call ends in bounded time (never a
# hung shell): a stalled listing serves the last known data after the deadline, a stopped Hub is
# offline (the cache answers at once, the rest is EHOSTUNREACH); the mount recovers when the Hub
# returns. Also a read token. (The outage kinds at run time: tests/realworld/test_offline.sh.)
. "$(dirname "$0")/lib.sh"
require_fuse
hub_start
PORT=${HUB##*:}
mount_fs "$TOKEN" "timeout=3,ttl=1"
A="$MNT/alice/chat"
check_eq "warm" RUNNING "$(cat "$A/status")"

# a stalled listing (the Hub answers its probe: slow, not gone): the call's deadline ends it and
# the last known data is served
hub_fault '{"method":"GET","path":"^/api/spaces$","action":"stall","stall_seconds":20,"count":-1}'
sleep 1.2
t0=$(ms)
S=$(cat "$A/status")
el=$(($(ms) - t0))
check_eq "a stalled listing: the last known status" RUNNING "$S"
check "within the deadline (${el} ms)" test "$el" -lt 8000
check_match "health: still online" $'\nstate: online\n' "$(cat "$MNT/.spacefs/health")"
hub_faults_clear

# the Hub is gone (refused): offline is a state; what is known is served, the rest fails at once
hub_stop
sleep 1.2
for f in status hardware; do
  t0=$(ms)
  E=$(errno_of read "$A/$f")
  el=$(($(ms) - t0))
  check_eq "$f during the outage: from the cache" OK "$E"
  check "at once (${el} ms)" test "$el" -lt 2000
done
t0=$(ms)
E=$(errno_of read "$A/runtime.json")
el=$(($(ms) - t0))
check_eq "runtime.json, never fetched: EHOSTUNREACH" EHOSTUNREACH "$E"
check "at once (${el} ms)" test "$el" -lt 2000
t0=$(ms)
check_eq "ls answers from the cache" "$(printf 'chat\nnotes')" "$(timeout 20 ls "$MNT/alice")"
check_eq "control: the writer gets EHOSTUNREACH" EHOSTUNREACH "$(errno_of write "$A/control" restart)"
H=$(cat "$MNT/.spacefs/health")
check_match "health says so" "^error $HUB Hub unreachable " "$H"
check_match "and offline" $'\nstate: offline\n' "$H"
check "everything within bounds" test $(($(ms) - t0)) -lt 5000

# the Hub returns on the same port with the same state
hub_start --port "$PORT"
sleep 1.5
check_eq "the mount recovers" RUNNING "$(cat "$A/status")"
check_match "health ok again" "^ok " "$(cat "$MNT/.spacefs/health")"
unmount_fs

# a read token: what it cannot do is read-only, and refused without a request
mount_fs hf_alice_read
check_eq "role shown" "role: read" "$(grep role "$MNT/.spacefs/whoami")"
check_eq "control is 0444 for a read token" 0444 "$(stat -c %04a "$A/control")"
hub_stats_reset
check_eq "writing it is EACCES" EACCES "$(errno_of write "$A/control" restart)"
{ echo restart >"$A/control"; } 2>"$WORK/err"
check_match "in the shell too" "Permission denied" "$(cat "$WORK/err")"
check_eq "mkdir is EACCES" EACCES "$(errno_of mkdir "$MNT/alice/new")"
check_eq "nothing sent" 0 "$(($(hub_count 'POST /api/spaces/{ns}/{name}/restart') + $(hub_count 'POST /api/repos/create')))"
unmount_fs

# a rejected token fails the mount on the terminal, and a token on the command line is refused
printf 'hf_not_a_token' >"$WORK/bad"; chmod 600 "$WORK/bad"
OUT=$("$SPACEFS" "$WORK/mnt" -f -o "endpoint=$HUB,token_file=$WORK/bad" 2>&1)
check_eq "a rejected token: exit 1" 1 $?
check_match "and says so" "rejected the token" "$OUT"
OUT=$("$SPACEFS" "$WORK/mnt" -o "token=hf_x" 2>&1)
check_eq "-o token= is refused" 1 $?
check_match "with the reason" "token_file" "$OUT"
finish_fs
