#!/bin/bash
# A Hub outage: with the emulator stopped or stalled, every call ends in bounded time with EIO or
# ETIMEDOUT (never a hung shell); the mount recovers when the Hub returns. Also a read token.
. "$(dirname "$0")/lib.sh"
require_fuse
hub_start
PORT=${HUB##*:}
mount_fs "$TOKEN" "timeout=3,ttl=1"
A="$MNT/alice/chat"
check_eq "warm" RUNNING "$(cat "$A/status")"

# a stalled Hub: the call's deadline ends it
hub_fault '{"method":"GET","path":"^/api/spaces$","action":"stall","stall_seconds":20,"count":-1}'
sleep 1.2
t0=$(ms)
E=$(errno_of read "$A/status")
el=$(($(ms) - t0))
check_eq "a stalled listing is ETIMEDOUT" ETIMEDOUT "$E"
check "within the deadline (${el} ms)" test "$el" -lt 8000
hub_faults_clear

# the Hub is gone
hub_stop
sleep 1.2
for f in status hardware runtime.json; do
  t0=$(ms)
  E=$(errno_of read "$A/$f")
  el=$(($(ms) - t0))
  check_match "$f during the outage: $E" "^(EIO|ETIMEDOUT)$" "$E"
  check "in bounded time (${el} ms)" test "$el" -lt 8000
done
t0=$(ms)
timeout 20 ls "$MNT/alice" >/dev/null 2>"$WORK/err"
check_eq "ls fails, does not hang" 2 $?
check_match "with an I/O error" "(Input/output error|timed out)" "$(cat "$WORK/err")"
check_match "control: the writer gets the error" "^(EIO|ETIMEDOUT)$" "$(errno_of write "$A/control" restart)"
check_match "health says so" "^error $HUB network error" "$(cat "$MNT/.spacefs/health")"
check "everything within bounds" test $(($(ms) - t0)) -lt 20000

# the Hub returns on the same port with the same state
hub_start --port "$PORT"
sleep 0.5
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
