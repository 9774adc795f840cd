#!/usr/bin/env bash
# The cache's disk is full. A write that does not fit fails with ENOSPC where it happens (cp
# says "No space left on device"), nothing the Dataset holds is touched, the upload waits and
# says why, and everything goes on once space is freed. A fresh cache on a full disk cannot
# clone: persist/ answers EIO and the status says "No space left on device", not a network
# error, until space is back. The cache lives on a 16 MiB tmpfs of its own.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
[ "$(id -u)" = 0 ] || skip "mounting a small tmpfs for the cache needs root"
SMALL="$WORK/small"
mkdir -p "$SMALL"
mount -t tmpfs -o size=16m,mode=0700 tmpfs "$SMALL" 2>/dev/null ||
  skip "cannot mount a tmpfs here (no CAP_SYS_ADMIN in this container)"
at_exit "umount -l '$SMALL'"
DS=alice/chat-persist
S="$MNT/alice/chat"
P="$S/persist"

# -- a fresh cache on a full disk: the clone cannot land --------------------------------------
mkdir -p "$SMALL/cache"
head -c 20M /dev/zero >"$SMALL/filler" 2>/dev/null
check_eq "the disk is full" 0 "$(df --output=avail "$SMALL" | tail -1 | tr -d ' ')"
mount_fs "$TOKEN" "cache_dir=$SMALL/cache,$POPTS"
check_eq "reading persist/ on a full disk: EIO (the Dataset is not known)" EIO \
  "$(errno_of read "$P/notes.txt")"
wait_for 10 grep -q 'No space left on device' "$S/persist.status"
check_match "persist.status says the disk is full, not the network" \
  '^last_error: fetch: local I/O error: .*No space left on device' "$(grep last_error "$S/persist.status")"
check "the log says so too" grep -q 'persist: fetch: local I/O error: .*No space left on device' "$WORK/spacefs.err"
check "... and never calls it a network error" bash -c '! grep -q "network error" "$1"' _ "$WORK/spacefs.err"
rm "$SMALL/filler"
wait_for 30 test "$(cat "$P/notes.txt" 2>/dev/null)" = hello
check_eq "space freed: the clone lands by itself and persist/ reads" hello "$(cat "$P/notes.txt")"
c0=$(commits_of $DS)

# -- the disk fills up under a write ------------------------------------------------------------
head -c 40M /dev/urandom >"$WORK/big"
out=$(cp "$WORK/big" "$P/big.bin" 2>&1); rc=$?
check_eq "cp of 40 MiB into 16 MiB fails" 1 "$rc"
check_match "... with ENOSPC" 'No space left on device' "$out"
check_eq "a small write while full: ENOSPC" ENOSPC "$(errno_of create "$P/small.txt" small)"
check_eq "reads go on while full" hello "$(cat "$P/notes.txt")"
# (the check is the wait: a periodic fetch failing on the full disk may replace last_error after)
check "the upload waits and says why (last_error: snapshot: No space left on device)" \
  wait_for 15 grep -q '^last_error: snapshot: No space left on device' "$S/persist.status"
check_eq "nothing was committed while the disk was full" "$c0" "$(commits_of $DS)"
check_eq "the Dataset's files are untouched" hello "$(api "/datasets/$DS/resolve/main/notes.txt")"

# -- space is freed: everything goes on --------------------------------------------------------
check "rm of the partial copy" rm "$P/big.bin"
check "a write works again" bash -c 'echo small >"$1"' _ "$P/small.txt"
check_eq "echo sync > control" OK "$(sync_space "$S")"
check_eq "small.txt is on the Hub" small "$(api "/datasets/$DS/resolve/main/small.txt")"
check_eq "the partial copy never reached the Hub" 404 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$WORK/token")" "$HUB/datasets/$DS/resolve/main/big.bin")"
check_eq "clean, the error cleared" "clean -" "$(state_of "$S") $(sed -n 's/^last_error: //p' "$S/persist.status")"

# -- and after a remount, all of it is there ---------------------------------------------------
unmount_fs
mount_fs "$TOKEN" "cache_dir=$SMALL/cache,$POPTS"
check_eq "remount: small.txt" small "$(cat "$P/small.txt")"
check_eq "remount: notes.txt" hello "$(cat "$P/notes.txt")"
check_eq "remount: no big.bin" ENOENT "$(errno_of stat "$P/big.bin")"
check_match "remount: nothing pending" '^alice/chat clean files 0 ' "$(cat "$MNT/.spacefs/persist")"
finish_fs
