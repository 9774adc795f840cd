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
check_eq "the dead mount is left behind (ENOTCONN)" ENOTCONN "$(errno_of statfs "$MNT")"
check_eq "nothing was committed before the kill" "$c0" "$(commits_of $DS)"
# A kill in the middle of a git write leaves its lock file behind (git's lockfile protocol:
# write X.lock, rename it over X). The kill above can land anywhere in the first clone; these
# stand for the ones it leaves when it lands in the init, a ref update and a packed-refs write.
GITDIR="$CACHE/$HOSTPORT/alice/chat/datasets/$DS/git"
mkdir -p "$GITDIR/refs/heads"
: >"$GITDIR/config.lock"
: >"$GITDIR/refs/heads/main.lock"
: >"$GITDIR/packed-refs.lock"

t0=$(ms)
# on the dead mount, without a fusermount3 -u first: what a restart after a crash does
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
# no access below $MNT until the data is on the Hub
on_hub() { test "$(api "/datasets/$DS/resolve/main/acked.txt")" = "acked $$"; }
wait_for 30 on_hub
took=$(($(ms) - t0))
check_eq "on the Hub after the remount, untouched" "acked $$" "$(api "/datasets/$DS/resolve/main/acked.txt")"
echo "remount to data on the Hub: $took ms"
check_match "within 10 s of the remount (took $took ms)" '^[0-9]{1,4}$' "$took"
check_match "the remount detached the dead mount itself, saying so" \
  'left mounted by a spacefs that is gone' "$(cat "$WORK/spacefs.err")"
check_eq "... and mounted in its place (one mount there)" 1 "$(grep -c " $MNT fuse.spacefs " /proc/mounts)"
wait_for 10 grep -q '^alice/chat clean ' "$MNT/.spacefs/persist"
check_match ".spacefs/persist: clean afterwards" '^alice/chat clean files 0 bytes 0 dataset alice/chat-persist$' "$(cat "$MNT/.spacefs/persist")"
check_eq "a Space without pending changes is not opened" 1 "$(grep -c . "$MNT/.spacefs/persist")"
# (only the planted ones: the daemon's own fetches, every persist_ttl, take locks of their own)
check_eq "the stale git locks are gone" "" \
  "$(cd "$GITDIR" && ls config.lock refs/heads/main.lock packed-refs.lock 2>/dev/null)"
check_match "their removal is logged" 'stale lock' "$(cat "$WORK/spacefs.err")"

# A second mount on the same cache directory: the Space's cache is this daemon's (a flock on
# its git mirror), so the other one's persist/ answers EBUSY and logs why, rather than both
# writing one journal; everything outside persist/ still works there.
MNT2="$WORK/mnt2"
mkdir -p "$MNT2"
"$SPACEFS" "$MNT2" -f -o "endpoint=$HUB,token_file=$WORK/token,timeout=5,cache_dir=$CACHE,$POPTS" \
  2>>"$WORK/spacefs2.err" &
FS2_PID=$!
at_exit "fusermount3 -u '$MNT2' 2>/dev/null; kill $FS2_PID 2>/dev/null"
wait_for 10 grep -q " $MNT2 fuse.spacefs " /proc/mounts
check_eq "a second mount on the same cache: persist/ is EBUSY" EBUSY "$(errno_of list "$MNT2/alice/chat/persist")"
check_match "... and its log says why" 'in use by another process' "$(cat "$WORK/spacefs2.err")"
check_match "... while its status file works" '^[A-Z_]+$' "$(cat "$MNT2/alice/chat/status")"
check_eq "... and this mount's persist/ is untouched" "acked $$" "$(cat "$P/acked.txt")"
fusermount3 -u "$MNT2"
wait "$FS2_PID"
check "... which exits without a sanitizer report" \
  bash -c '! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"' _ "$WORK/spacefs2.err"
check "... nor the token in its log" bash -c '! grep -qF "$1" "$2"' _ "$TOKEN" "$WORK/spacefs2.err"
finish_fs
