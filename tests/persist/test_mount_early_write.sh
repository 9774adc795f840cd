#!/usr/bin/env bash
# Writes before the clone (issue 12, fs/persist/provisional.c): from a fresh mount whose clone of
# the Dataset's git mirror is held (every git endpoint answers 5 s late), `mkdir new; cp -a src/.
# new/` into persist/ returns before any upload-pack was answered and asks the Hub one paths-info
# (the new name; none below it); `echo sync` puts the files on the Hub once the clone landed, and a
# mount from another empty cache reads them back with their modes and times, the Dataset's empty
# directory still there. Then the daemon is killed (-9) in the middle of a copy made before the
# clone: the remount on the same cache has every acknowledged file and nothing else, and after
# `echo sync` a mount from an empty cache has each of them once.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
P="$MNT/alice/chat/persist"
SRC="$WORK/src"
for d in 0 1 2; do
  mkdir -p "$SRC/d$d"
  for i in $(seq 1 40); do head -c $((100 + i * 37)) /dev/urandom | base64 >"$SRC/d$d/f$i.txt"; done
done
chmod 640 "$SRC"/d1/*
touch -d '2020-01-02 03:04:05.5' "$SRC"/d2/* "$SRC/d2"
ln -s d0/f1.txt "$SRC/link"

mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
echo hello >"$P/notes.txt"
mkdir "$P/emptydir"
check_eq "fixture uploaded" OK "$(sync_space "$MNT/alice/chat")"
unmount_fs

git_slow() { # every request to a .git endpoint answers 5 s late: the clone is held
  hub_fault '{"method": "*", "path": "\\.git/|/info/refs|git-upload-pack", "action": "latency", "latency_ms": 5000, "count": -1}'
}
pack_count() { hub_stats | jq -r '[.routes | to_entries[] | select(.key|test("upload-pack")) | .value.count] | add // 0'; }
# tree_sig DIR: type, path, mode, size (files), mtime in seconds and target of everything below
tree_sig() { (cd "$1" && find . -printf '%y %p %m %s %T@ %l\n' | awk '$1 == "d" { $4 = "-" } { sub(/\.[0-9]*$/, "", $5) } 1' | sort); }

# --- cp -a into a fresh mount while the clone is held
git_slow
mount_fs "$TOKEN" "cache_dir=$WORK/cache2,$POPTS"
test -d "$P" # the Space's directories (the API), not persist/'s clone
hub_stats_reset
t0=$(ms)
mkdir "$P/new" && cp -a "$SRC/." "$P/new/"
rc=$? t1=$(ms) packs=$(pack_count)
check_eq "mkdir + cp -a of 121 files into persist/ before the clone" 0 "$rc"
check_eq "the clone had not answered when cp returned ($((t1 - t0)) ms)" 0 "$packs"
check_eq "one paths-info: the new name, none below it" 1 "$(hub_count 'POST /api/datasets/{ns}/{name}/paths-info/{rev}')"
check_eq "the copy reads back before the clone" "" "$(diff -r "$SRC" "$P/new" 2>&1)"
check_eq "echo sync: on the Hub once the clone landed" OK "$(sync_space "$MNT/alice/chat")"
check "the clone had landed by then" test "$(pack_count)" -ge 1
check_eq "the mount shows the fixture too" hello "$(cat "$P/notes.txt")"
check_eq "modes, times and the symlink, after the clone" "" "$(diff <(tree_sig "$SRC") <(tree_sig "$P/new"))"
unmount_fs
hub_faults_clear

mount_fs "$TOKEN" "cache_dir=$WORK/cache3,$POPTS"
check_eq "another empty cache: the same files" "" "$(diff -r "$SRC" "$P/new" 2>&1)"
check_eq "there: their modes, times and the symlink" "" "$(diff <(tree_sig "$SRC") <(tree_sig "$P/new"))"
check "there: the Dataset's empty directory" test -d "$P/emptydir"
unmount_fs

# --- kill -9 in the middle of a copy made before the clone
MC="$WORK/manifest.close"
git_slow
hub_stats_reset
mount_fs "$TOKEN" "cache_dir=$WORK/cache4,$POPTS"
test -d "$P"
python3 "$SPACEFS_SOURCE_DIR/tests/persist/crash_writer.py" write "$P" crash "$MC" --mode close \
  --seed 11 --big-every 0 --rewrite-every 7 --count 100000 >"$WORK/writer.log" 2>&1 &
WP=$!
for i in $(seq 1 50); do [ -f "$MC" ] && [ "$(grep -c '^DONE' "$MC")" -ge 60 ] && break; sleep 0.1; done
packs=$(pack_count)
kill -9 "$FS_PID"
wait "$FS_PID" 2>/dev/null
fusermount3 -u -z "$MNT" 2>/dev/null
FS_PID=""
wait $WP
cat "$WORK/writer.log"
NC=$(grep -c '^DONE' "$MC")
check "killed after 60 acknowledged files ($NC)" test "$NC" -ge 60
check_eq "the clone had not answered at the kill" 0 "$packs"
check "the writer was stopped by the kill" grep -q "stopped at file" "$WORK/writer.log"
hub_faults_clear
mount_fs "$TOKEN" "cache_dir=$WORK/cache4,$POPTS"
R=$(python3 "$SPACEFS_SOURCE_DIR/tests/persist/crash_writer.py" verify "$P" "$MC" --no-extra crash)
check_match "the remount on the same cache: every acknowledged file, nothing else ($(head -1 <<<"$R"))" "^ok=[0-9]* bad=0 missing=0$" "$(head -1 <<<"$R")"
check_eq "echo sync" OK "$(sync_space "$MNT/alice/chat")"
unmount_fs
mount_fs "$TOKEN" "cache_dir=$WORK/cache5,$POPTS"
R=$(python3 "$SPACEFS_SOURCE_DIR/tests/persist/crash_writer.py" verify "$P" "$MC" --no-extra crash)
check_match "an empty cache after the sync: the same ($(head -1 <<<"$R"))" "^ok=[0-9]* bad=0 missing=0$" "$(head -1 <<<"$R")"
n=$(find "$P/crash" -type f | wc -l)
check "each once: the files in crash/ are the acknowledged ones and perhaps the one the kill cut ($n)" \
  test "$(grep '^DONE' "$MC" | cut -d' ' -f2 | sort -u | wc -l)" -le "$n" -a "$n" -le "$(cut -d' ' -f2 "$MC" | sort -u | wc -l)"
check_eq "the copy of the first part is still there" "" "$(diff -r "$SRC" "$P/new" 2>&1)"
finish_fs
