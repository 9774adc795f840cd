#!/usr/bin/env bash
# Restart uploads by itself (issue 10, item 4): a file acknowledged by close(), then kill -9
# before its commit; the next mount must upload it without anyone touching persist/ (before,
# nothing reached the Hub until someone ran `ls persist/`). .spacefs/persist shows the work.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
DS=alice/chat-persist
# a quiet period longer than the test: nothing commits before the kill
mount_fs "$TOKEN" "cache_dir=$CACHE,persist_quiet=600,persist_interval=1"
P="$MNT/alice/chat/persist"
echo "acked $$" >"$P/acked.txt"
check_match ".spacefs/persist lists the pending Space" '^alice/chat pending files 1 ' "$(cat "$MNT/.spacefs/persist")"
c0=$(commits_of $DS)
kill -9 "$FS_PID"; wait "$FS_PID" 2>/dev/null; FS_PID=""
fusermount3 -uz "$MNT"
check_eq "nothing was committed before the kill" "$c0" "$(commits_of $DS)"

t0=$(ms)
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
# no access below $MNT until the data is on the Hub
on_hub() { test "$(api "/datasets/$DS/resolve/main/acked.txt")" = "acked $$"; }
wait_for 30 on_hub
took=$(($(ms) - t0))
check_eq "on the Hub after the remount, untouched" "acked $$" "$(api "/datasets/$DS/resolve/main/acked.txt")"
echo "remount to data on the Hub: $took ms"
check_match "within 10 s of the remount (took $took ms)" '^[0-9]{1,4}$' "$took"
wait_for 10 grep -q '^alice/chat clean ' "$MNT/.spacefs/persist"
check_match ".spacefs/persist: clean afterwards" '^alice/chat clean files 0 bytes 0 dataset alice/chat-persist$' "$(cat "$MNT/.spacefs/persist")"
check_eq "a Space without pending changes is not opened" 1 "$(grep -c . "$MNT/.spacefs/persist")"
finish_fs
