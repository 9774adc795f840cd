#!/bin/bash
# Everyday tools into persist/: cp -r, rsync -a (temp files + rename, chmod, utimes) and tar x of
# a small tree (nested directories, an empty file, names with spaces and UTF-8, an LFS-sized
# binary), each checked with diff -r, then `echo sync > control`, and diff -r again through a
# mount from an empty cache (the Hub's copy). Also: a file unlinked while open.
. "$(dirname "$0")/scenario_lib.sh"
require_fuse
hub_start
mount_persist "$WORK/cache"

S="$WORK/src"
mkdir -p "$S/a/b/c" "$S/docs" "$S/with space"
echo "top" >"$S/top.txt"
: >"$S/empty.txt"
seq 1 20000 >"$S/a/numbers.txt"
head -c 1500000 /dev/urandom >"$S/a/b/model.bin"
head -c 70000 /dev/urandom >"$S/a/b/c/blob.dat"
printf 'ünïcödé\n' >"$S/docs/ünïcödé.md"
echo "spaced" >"$S/with space/a file.txt"
for i in $(seq 1 30); do echo "small $i" >"$S/docs/n$i.txt"; done

# run_tool NAME DEST COMMAND...: runs the tool, checks its status, elapsed time and diff -r.
run_tool() {
  local name=$1 dest=$2 t rc
  shift 2
  t=$(ms)
  "$@" >"$LOGS/$name.out" 2>&1
  rc=$?
  [ $rc -eq 0 ] || head -5 "$LOGS/$name.out"
  check_eq "$name exits 0 ($(($(ms) - t)) ms)" 0 "$rc"
  check "diff -r after $name" diff -r "$S" "$dest"
}

section "rsync -a, cp -r, tar x"
run_tool "rsync -a" "$P/rsync" rsync -a "$S/" "$P/rsync/"
run_tool "rsync -a again (nothing changed)" "$P/rsync" rsync -a "$S/" "$P/rsync/"
# Modification times are kept (locally: the Hub stores none), also once committed: a later
# rsync -a transfers nothing (it used to transfer every file after each sync).
check_eq "echo sync > control" OK "$(psync 120)"
n=$(rsync -a --stats "$S/" "$P/rsync/" | sed -n 's/^Number of regular files transferred: //p')
check_eq "rsync -a after the sync transfers no file" 0 "$n"
check_eq "mtime kept through the commit" "$(stat -c %Y "$S/a/numbers.txt")" \
  "$(stat -c %Y "$P/rsync/a/numbers.txt")"
echo "changed" >"$S/top.txt"
touch -d '2020-01-01 00:00' "$S/top.txt"
run_tool "rsync -a of a changed file" "$P/rsync" rsync -a "$S/" "$P/rsync/"
check_eq "no rsync temp file left" "" "$(find "$P/rsync" -name '.*' | head -3)"
chmod 700 "$S/a"
check "rsync -a of a 0700 tree into persist/ itself (it chmods persist/)" rsync -a "$S/a/" "$P/"
check "... the same files" diff -r "$S/a/b" "$P/b"
check "... the same file" cmp "$S/a/numbers.txt" "$P/numbers.txt"
check_eq "... modes are accepted and not stored" 755 "$(stat -c %a "$P")"
rm -r "$P"/numbers.txt "$P"/b
chmod 755 "$S/a"
run_tool "cp -r" "$P/cp" cp -r "$S" "$P/cp"
tar -C "$S" -cf "$WORK/src.tar" .
mkdir -p "$P/tar"
run_tool "tar x" "$P/tar" tar -C "$P/tar" -xf "$WORK/src.tar"

section "a file unlinked while open"
R=$(python3 - "$P/cp/unlinked.txt" <<'PY'
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"still here")
os.unlink(p)
os.write(fd, b" and more")
data = os.pread(fd, 100, 0)
os.close(fd)
print(data.decode(), os.path.exists(p))
PY
)
check_eq "reads through the fd after unlink" "still here and more False" "$R"
check_eq "nothing left behind (.fuse_hidden*)" "" "$(ls -A "$P/cp" | grep -v -x -F -f <(ls -A "$S"))"

section "sync, then a mount from an empty cache"
t=$(ms)
check_eq "echo sync > control" OK "$(psync 120)"
echo "# sync: $(($(ms) - t)) ms"
check_eq "clean" clean "$(pstat state)"
unmount_fs
mount_persist "$WORK/cache-empty"
check "diff -r rsync copy from the Hub" diff -r "$S" "$P/rsync"
check "diff -r cp copy from the Hub" diff -r "$S" "$P/cp"
check "diff -r tar copy from the Hub" diff -r "$S" "$P/tar"
check_eq "no stray files on the Hub" "" "$(find "$P" -name '.*' ! -name .gitattributes | head -3)"

scenario_finish
