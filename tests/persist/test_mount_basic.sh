#!/usr/bin/env bash
# persist/ through the mounted binary on the emulator: cp of a text file and a 3 MiB binary
# (LFS), `echo sync > control`, then git clone + git lfs pull of the Dataset; mkdir, rmdir,
# rename, unlink, truncate; persist.status pending -> clean; fsync(2); snapshots/ with a
# restore by cp; a git push showing up after persist_ttl; EXDEV; remount from the same and from
# an empty cache.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
S="$MNT/alice/chat"
P="$S/persist"
DS=alice/chat-persist

check_eq "a Space lists persist/, snapshots/, persist.status, persist.repo" \
  "persist persist.repo persist.status snapshots" "$(ls "$S" | grep -E '^(persist|snapshots)' | sort | xargs)"
check_eq "persist/ is 0755 with a write token" 755 "$(stat -c %a "$P")"
check_eq "snapshots/ is read-only" 555 "$(stat -c %a "$S/snapshots")"
check_eq "no persist/ in another namespace" "No such file or directory" \
  "$(ls "$MNT/gradio/hello-world/persist" 2>&1 | sed 's/.*: //')"
check_eq "the Dataset's files are there" hello "$(cat "$P/notes.txt")"
check_eq "persist.repo names the Dataset" "$DS" "$(cat "$S/persist.repo")"
check_eq "engine cache dir is 0700" 700 "$(stat -c %a "$CACHE/$HOSTPORT/alice/chat")"

# ---- cp, sync, git clone ------------------------------------------------------------------
echo "small text $$" >"$WORK/small.txt"
head -c 3145728 /dev/urandom >"$WORK/big.bin"
commits0=$(commits_of $DS)
t0=$(ms)
cp "$WORK/small.txt" "$P/small.txt" && cp "$WORK/big.bin" "$P/big.bin"
check_eq "cp into persist/ works" 0 $?
check_match "persist.status: pending right after close" '^(pending|uploading)$' "$(state_of "$S")"
check_match "persist.status counts the files" $'files: 2\nbytes: 3145[0-9]+' "$(grep -E '^(files|bytes):' "$S/persist.status")"
check_eq "echo sync > control succeeds" OK "$(sync_space "$S")"
echo "cp + sync of 3 MiB: $(($(ms) - t0)) ms"
check_eq "persist.status: clean after sync" clean "$(state_of "$S")"
check_match "persist.status: last_commit, repo" "last_commit: [0-9a-f]{40}.*repo: $DS" "$(tr '\n' ' ' <"$S/persist.status")"
check_eq "one commit for both files (coalesced)" $((commits0 + 1)) "$(commits_of $DS)"
CL="$WORK/clone"
check "git clone + git lfs pull" clone $DS "$CL"
check_eq "small file sha256 in git" "$(sha "$WORK/small.txt")" "$(sha "$CL/small.txt")"
check_eq "binary sha256 after git lfs pull" "$(sha "$WORK/big.bin")" "$(sha "$CL/big.bin")"
check_eq "the binary is an LFS pointer in git" big.bin "$(cd "$CL" && git lfs ls-files -n | grep -x big.bin)"
check_match "the pointer's blob is small" '^1[0-9][0-9]$' "$(cd "$CL" && git cat-file -s HEAD:big.bin)"
check_eq "reading back through the mount" "$(sha "$WORK/big.bin")" "$(sha "$P/big.bin")"

# ---- namespace operations round trip -------------------------------------------------------
mkdir "$P/d" && mkdir "$P/d/e" && echo one >"$P/d/e/f.txt" && echo gone >"$P/gone.txt"
check_eq "mkdir -p and write below" one "$(cat "$P/d/e/f.txt")"
mv "$P/d/e/f.txt" "$P/d/g.txt"
check_eq "rename within persist/" "one|no" "$(cat "$P/d/g.txt")|$([ -e "$P/d/e/f.txt" ] && echo yes || echo no)"
check "rmdir of the emptied directory" rmdir "$P/d/e"
check_eq "rmdir of a non-empty directory" ENOTEMPTY "$(errno_of rmdir "$P/d")"
check "unlink" rm "$P/gone.txt"
printf 'abcdefghij' >"$P/trunc.txt" && truncate -s 4 "$P/trunc.txt"
check_eq "truncate shrinks" abcd "$(cat "$P/trunc.txt")"
truncate -s 6 "$P/trunc.txt"
check_eq "truncate grows with zeros" "61626364 0000" "$(od -An -tx1 "$P/trunc.txt" | tr -d ' \n' | sed 's/^\(.\{8\}\)/\1 /')"
python3 - "$P/rand.bin" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"A" * 100, 0)
os.pwrite(fd, b"B" * 10, 50)   # random write in the middle
os.pwrite(fd, b"C" * 5, 200)   # past the end: a hole
os.close(fd)
PY
check_eq "random writes" "$(python3 -c 'import sys; sys.stdout.buffer.write(b"A"*50+b"B"*10+b"A"*40+b"\0"*100+b"C"*5)' | sha256sum | cut -d' ' -f1)" "$(sha "$P/rand.bin")"
check_eq "rename persist/ -> elsewhere is EXDEV" EXDEV \
  "$(python3 -c 'import os,sys,errno
try: os.rename(sys.argv[1], sys.argv[2]); print("OK")
except OSError as e: print(errno.errorcode[e.errno])' "$P/d/g.txt" "$S/g.txt")"
# fsync(2) makes the file durable locally (as close) and returns without waiting for a commit:
# a commit slowed to 5 s must not hold it up; `echo sync` then puts it on the Hub
hub_fault '{"method":"POST","path":"/commit/","action":"latency","latency_ms":5000,"count":1}'
t0=$(ms)
python3 - "$P/fsynced.txt" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"durable\n"); os.fsync(fd); os.close(fd)
PY
dt=$(($(ms) - t0))
check "fsync returned at local speed while a commit was in flight (${dt} ms)" test "$dt" -lt 2000
check_eq "fsync: the content is there" durable "$(cat "$P/fsynced.txt")"
check_eq "echo sync > control" OK "$(sync_space "$S")"
hub_faults_clear
check_eq "fsync + sync: on the Hub" durable "$(api /datasets/$DS/resolve/main/fsynced.txt)"
check_eq "sync after the round trip" OK "$(sync_space "$S")"
git -C "$CL" pull -q >>"$WORK/git.log" 2>&1
check_eq "the Hub has the renames and deletes" "d/g.txt|no|abcd" \
  "$(cd "$CL" && git ls-files d | xargs)|$([ -e "$CL/gone.txt" ] && echo yes || echo no)|$(head -c4 "$CL/trunc.txt")"
check_eq "and the random writes" "$(sha "$P/rand.bin")" "$(sha "$CL/rand.bin")"

# ---- snapshots -----------------------------------------------------------------------------
ncommits=$(git -C "$CL" rev-list --count HEAD)
check_eq "snapshots/: one directory per commit" "$ncommits" "$(ls "$S/snapshots" | wc -l)"
check_match "named by UTC time and short id" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}Z-[0-9a-f]{7}$' "$(ls "$S/snapshots" | head -1)"
old_id=$(git -C "$CL" log --format=%h --abbrev=7 -1 -- big.bin)
OLD=$(ls -d "$S"/snapshots/*-"$old_id")
check_eq "the snapshot of the first upload has the binary" "$(sha "$WORK/big.bin")" "$(sha "$OLD/big.bin")"
echo "overwritten" >"$P/small.txt"
check_eq "sync the overwrite" OK "$(sync_space "$S")"
check "cp snapshots/<older>/small.txt persist/ restores it" cp "$OLD/small.txt" "$P/small.txt"
check_eq "restored content" "$(cat "$WORK/small.txt")" "$(cat "$P/small.txt")"
check_eq "snapshots are read-only" EROFS "$(errno_of create "$OLD/new.txt" x)"
check_eq "sync the restore" OK "$(sync_space "$S")"
check_eq "restored on the Hub" "$(cat "$WORK/small.txt")" "$(api /datasets/$DS/resolve/main/small.txt)"

# ---- another writer ------------------------------------------------------------------------
git -C "$CL" pull -q >>"$WORK/git.log" 2>&1
(cd "$CL" && echo theirs >theirs.txt && git add theirs.txt && git commit -qm theirs &&
  git push -q origin main >>"$WORK/git.log" 2>&1)
t0=$(ms)
check "a file pushed with git appears after persist_ttl" wait_for 15 test -e "$P/theirs.txt"
echo "remote change visible after $(($(ms) - t0)) ms (persist_ttl=2)"
check_eq "with its content" theirs "$(cat "$P/theirs.txt")"

# ---- remount ------------------------------------------------------------------------------
echo "last words" >"$P/last.txt"
unmount_fs
check_eq "unmount waited for the upload" "last words" "$(api /datasets/$DS/resolve/main/last.txt)"
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
check_eq "remount (same cache): binary" "$(sha "$WORK/big.bin")" "$(sha "$P/big.bin")"
check_eq "remount (same cache): text files" "$(cat "$WORK/small.txt")|abcd|last words" "$(cat "$P/small.txt")|$(head -c4 "$P/trunc.txt")|$(cat "$P/last.txt")"
check_eq "remount: clean" clean "$(state_of "$S")"
unmount_fs
mount_fs "$TOKEN" "cache_dir=$WORK/empty-cache,$POPTS"
check_eq "remount (empty cache): binary fetched lazily" "$(sha "$WORK/big.bin")" "$(sha "$P/big.bin")"
check_eq "remount (empty cache): everything listed" "big.bin d fsynced.txt last.txt notes.txt rand.bin small.txt theirs.txt trunc.txt" \
  "$(ls "$P" | grep -v '^db$' | xargs)"
check_eq "remount (empty cache): a snapshot per commit" "$(commits_of $DS)" "$(ls "$S/snapshots" | wc -l)"
unmount_fs

# ---- unmount while the Hub is down: bounded by unmount_wait, the rest waits for the next mount --
mount_fs "$TOKEN" "cache_dir=$CACHE,persist_quiet=1,persist_interval=1,persist_ttl=2,persist_sync_timeout=60,unmount_wait=3"
ls "$P" >/dev/null
PORT=${HUB##*:}
hub_stop
echo "written offline" >"$P/offline.txt"
t0=$(ms)
unmount_fs
el=$(($(ms) - t0))
echo "unmount with the Hub down took $el ms (unmount_wait=3)"
check "unmount with the Hub down returns within unmount_wait plus slack ($el ms)" test "$el" -lt 15000
hub_start --port "$PORT"
check_eq "not uploaded while the Hub was down" "" "$(api /datasets/$DS/resolve/main/offline.txt | grep -x 'written offline')"
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
check_eq "the next mount still has it" "written offline" "$(cat "$P/offline.txt")"
check_eq "and uploads it" OK "$(sync_space "$S")"
check_eq "on the Hub" "written offline" "$(api /datasets/$DS/resolve/main/offline.txt)"
finish_fs
