#!/usr/bin/env bash
# A writer that never pauses is still backed up (persist_max_delay): an app saving its state
# every 0.5 s keeps persist_quiet from ever passing; before persist_max_delay, 40 s of this made
# 0 commits. Here quiet is 2 s and the maximum delay 3 s: commits must land while it writes.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
mount_fs "$TOKEN" "cache_dir=$CACHE,persist_quiet=2,persist_interval=1,persist_max_delay=3,persist_ttl=30,unmount_wait=10"
S="$MNT/alice/chat"
P="$S/persist"
DS=alice/chat-persist
c0=$(commits_of $DS)
for i in $(seq 1 20); do # 10 s of saves, 0.5 s apart
  echo "state $i" >"$P/state.txt"
  sleep 0.5
done
during=$(($(commits_of $DS) - c0))
check_match "commits while the writer never paused (got $during in 10 s)" '^[2-9]$' "$during"
on_hub=$(api "/datasets/$DS/resolve/main/state.txt")
check_match "the Hub has a recent state (at most 3 s + an upload old)" '^state (1[2-9]|20)$' "$on_hub"
check_eq "echo sync > control succeeds" OK "$(sync_space "$S")"
check_eq "the last state on the Hub" "state 20" "$(api "/datasets/$DS/resolve/main/state.txt")"
check_eq "a bad persist_max_delay is refused" 1 \
  "$("$SPACEFS" "$WORK/nomnt" -f -o "endpoint=$HUB,token_file=$WORK/token,persist_max_delay=soon" 2>/dev/null; echo $?)"
check_match "a bad persist_flush is refused, saying why" "bad persist_flush 'later'" \
  "$("$SPACEFS" "$WORK/nomnt" -f -o "endpoint=$HUB,token_file=$WORK/token,persist_flush=later" 2>&1)"
finish_fs
