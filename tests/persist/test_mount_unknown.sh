#!/usr/bin/env bash
# A fresh cache whose first fetch fails (fs/persist/view.c, persist_names_known): until a retry
# lands, persist/ does not know what the Dataset holds, so its names, listings and new names fail
# with the fetch's errno (EIO for the Hub's 500) instead of ENOENT. A restore (`cp persist/app.db
# .`, or `[ -e app.db ] || create it`) fails loudly instead of finding no backup and starting a
# new one that the next commit would put over the Dataset's. Once the Hub answers, the retry
# lands and everything reads back, the Dataset untouched.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
P="$MNT/alice/chat/persist"

mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
echo precious >"$P/app.db"
mkdir "$P/uploads" && echo one >"$P/uploads/u1"
check_eq "the backup is on the Hub" OK "$(sync_space "$MNT/alice/chat")"
unmount_fs

# every git endpoint answers 500: the clone into a fresh cache fails, and keeps failing
hub_fault '{"method": "*", "path": "\\.git/|/info/refs|git-upload-pack", "action": "status", "status": 500, "count": -1}'
mount_fs "$TOKEN" "cache_dir=$WORK/cache2,$POPTS"
test -d "$P"
check_eq "reading app.db waits for the clone, which fails: EIO" EIO "$(errno_of read "$P/app.db")"
check_eq "stat of the Dataset's directory: EIO, not ENOENT" EIO "$(errno_of stat "$P/uploads")"
check_eq "a name the Dataset does not have: EIO too (nobody knows)" EIO "$(errno_of stat "$P/nope")"
check_eq "listing persist/: EIO" EIO "$(errno_of list "$P")"
check_eq "a restore creating app.db afresh: EIO" EIO "$(errno_of create "$P/app.db" new)"
check_eq "mkdir: EIO" EIO "$(errno_of mkdir "$P/other")"
cp -r "$P/uploads" "$WORK/restore" 2>"$WORK/cp.err"
rc=$?
check "cp -r out fails, nothing copied ($(head -c 200 "$WORK/cp.err"))" test "$rc" -ne 0 -a ! -e "$WORK/restore"
check "the failed fetch is logged" grep -q "persist: fetch: server error" "$WORK/spacefs.err"
hub_faults_clear
check "the retry lands once the Hub answers" wait_for 40 test -e "$P/uploads/u1"
check_eq "app.db, as the Dataset has it" precious "$(cat "$P/app.db")"
check_eq "cp -r out" one "$(cp -r "$P/uploads" "$WORK/restore" && cat "$WORK/restore/u1")"
check_eq "a new name is ENOENT again" ENOENT "$(errno_of stat "$P/nope")"
check_eq "nothing to upload: sync" OK "$(sync_space "$MNT/alice/chat")"
unmount_fs

mount_fs "$TOKEN" "cache_dir=$WORK/cache3,$POPTS"
check_eq "another empty cache: the Dataset untouched" precious "$(cat "$P/app.db")"
finish_fs
