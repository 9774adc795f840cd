#!/usr/bin/env bash
# The cache removed under a mount (`rm -rf ~/.cache/spacefs` to free space, a cleaner that empties
# ~/.cache): the next use of persist/ starts a new cache from the Hub, with one log line, instead
# of answering ENOENT for files the Dataset has and losing writes in a directory that no longer
# exists. A file open across the removal says EIO at close (what was written to it went with
# the cache), never a success for data that cannot be uploaded.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
DS=alice/chat-persist
S="$MNT/alice/chat"
P="$S/persist"
# The removals wait for the fetch that follows each commit (`echo sync` returns before it): a
# fetch whose pack cannot be written makes libgit2 1.5 leak its indexer (40 bytes, in
# git_indexer_new's error path), which the sanitizer build reports. persist.status shows the
# mirror caught up when its base is the last commit.
settled() { [ "$(sed -n 's/^base: //p' "$S/persist.status")" = "$(sed -n 's/^last_commit: //p' "$S/persist.status")" ]; }
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
echo one >"$P/one.txt"
check_eq "echo sync > control" OK "$(sync_space "$S")"
wait_for 10 settled

rm -rf "$CACHE"
check_eq "after rm -rf of the cache: a file of the Dataset reads" one "$(cat "$P/one.txt")"
check_eq "... so does the Space's fixture file" hello "$(cat "$P/notes.txt")"
check "... and the log says what happened" grep -q 'was removed while mounted; starting a new one' "$WORK/spacefs.err"
check "a new cache directory is there" test -d "$CACHE/$HOSTPORT/alice/chat/datasets/$DS/git"
echo two >"$P/two.txt"
check_eq "a write, then echo sync > control" OK "$(sync_space "$S")"
check_eq "... is on the Hub" two "$(api "/datasets/$DS/resolve/main/two.txt")"
wait_for 10 settled

# a file open while the cache goes: its close says EIO, nothing is acknowledged
out=$(python3 - "$P/held.txt" "$CACHE" <<'PY'
import errno, os, shutil, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"held\n")
shutil.rmtree(sys.argv[2])
try:
    os.close(fd)
    print("close OK")
except OSError as e:
    print("close " + errno.errorcode[e.errno])
PY
)
check_eq "close of a file open across the removal fails with EIO" "close EIO" "$out"
check "... with a line saying why" grep -q 'the cache was removed while the file was open' "$WORK/spacefs.err"
check_eq "after it: persist/ reads again" one "$(cat "$P/one.txt")"
check_eq "... and writes again" OK "$(errno_of create "$P/three.txt" three)"
check_eq "echo sync > control" OK "$(sync_space "$S")"
check_eq "three.txt is on the Hub" three "$(api "/datasets/$DS/resolve/main/three.txt")"
check_match "held.txt is not (it was never acknowledged)" 'not found' "$(api "/datasets/$DS/resolve/main/held.txt")"

# persist.repo (an override, stored in the cache directory) is the user's choice: it survives
wait_for 10 settled
echo alice/kept-persist >"$S/persist.repo"
check_eq "persist.repo set to another Dataset" alice/kept-persist "$(cat "$S/persist.repo")"
echo k >"$P/k.txt"
check_eq "echo sync > control" OK "$(sync_space "$S")"
wait_for 10 settled
rm -rf "$CACHE"
check_eq "after rm -rf: k.txt reads" k "$(cat "$P/k.txt")"
check_eq "... and persist.repo is still the override" alice/kept-persist "$(cat "$S/persist.repo")"
echo k2 >"$P/k2.txt"
check_eq "echo sync > control" OK "$(sync_space "$S")"
check_eq "... k2.txt went to the override's Dataset" k2 "$(api /datasets/alice/kept-persist/resolve/main/k2.txt)"
finish_fs
