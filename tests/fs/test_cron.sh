#!/bin/bash
# The crontab use case: mount-helpers/spacefs-restart-wait restarts a Space through the mount
# and waits for RUNNING; a refused restart fails at once with the shell's error.
. "$(dirname "$0")/lib.sh"
require_fuse
hub_start --boot-seconds 1
mount_fs
RW="$SPACEFS_SOURCE_DIR/mount-helpers/spacefs-restart-wait"
hub_stats_reset
t0=$(ms)
OUT=$("$RW" "$MNT/alice/chat" 30 2>&1)
check_eq "restart-and-wait succeeds" 0 $?
check_match "it reports RUNNING" "alice/chat RUNNING after [0-9]+s" "$OUT"
check_eq "one restart sent" 1 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check "within the boot time plus polling" test $(($(ms) - t0)) -lt 15000
check_eq "the Hub agrees" RUNNING "$(curl -s -H "Authorization: Bearer $TOKEN" "$HUB/api/spaces/alice/chat/runtime" | jq -r .stage)"
OUT=$("$RW" "$MNT/alice/chat" 30 rebuild 2>&1)
check_eq "rebuild-and-wait succeeds" 0 $?
check_eq "factory restart sent" 2 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
OUT=$("$RW" "$MNT/gradio/hello-world" 5 2>&1)
check_eq "another namespace's Space: refused" 1 $?
check_match "with the shell's error" "Permission denied" "$OUT"
hub_fault '{"method":"POST","path":"/restart$","status":403,"count":1}'
OUT=$("$RW" "$MNT/alice/chat" 5 2>&1)
check_eq "the Hub's refusal: exit 1" 1 $?
check_match "Permission denied" "Permission denied" "$OUT"
curl -s -X POST -d '{"stage":"BUILD_ERROR","errorMessage":"boom"}' "$HUB/_hubd/spaces/alice/chat/stage" >/dev/null
hub_fault '{"method":"POST","path":"/restart$","status":200,"count":0}'
finish_fs
