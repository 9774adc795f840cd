#!/usr/bin/env bash
# The posix label: our conformance suite (posix_suite.py, cases modelled on pjdfstest) on
# persist/ of a real mount, then issue 11 item 4's repro: `rm -rf` of deep trees must never fail
# with "fts_read failed" (inode numbers changed when the kernel forgot and looked up a directory
# again). The kernel is made to forget during each rm (drop_caches, as memory pressure would).
# DEEP_RUNS (default 20) trees of DEEP_PATH_LEN (default 1024) bytes; --deep-only skips the
# suite (posix.deep_soak: 20 trees at PATH_MAX).
. "$SPACEFS_SOURCE_DIR/tests/persist/scenario_lib.sh"
require_fuse
RUNS=${DEEP_RUNS:-20}
PATH_LEN=${DEEP_PATH_LEN:-1024}
hub_start
mount_persist "$WORK/cache"
before=$(ls -A "$P" | xargs)

if [ "${1:-}" != --deep-only ]; then
  section "conformance suite"
  mkdir "$P/posix"
  python3 "$SPACEFS_SOURCE_DIR/tests/posix/posix_suite.py" "$P/posix" \
    --expected "$SPACEFS_SOURCE_DIR/tests/persist/posix_expected_failures.txt"
  check_eq "posix_suite.py: no failure" 0 $?
  rm -rf "$P/posix"
fi

if [ "${1:-}" != --deep-only ]; then
  section "find, du, tar, rsync -H see distinct, stable inodes (issue 11 item 4)"
  T="$P/tools"
  mkdir -p "$T/a/b/c" "$T/d"
  for i in $(seq 1 30); do echo "file $i" >"$T/a/f$i"; echo "x$i" >"$T/a/b/c/g$i"; done
  echo 2 >/proc/sys/vm/drop_caches 2>/dev/null
  check_eq "find lists every entry once" 65 "$(find "$T" | wc -l)"
  check_eq "find -links 1 -type f: 60 files, no hard links" 60 "$(find "$T" -type f -links 1 | wc -l)"
  check_eq "inode numbers are distinct" 65 "$(find "$T" -printf '%i\n' | sort -u | wc -l)"
  check_eq "du counts each file (no duplicate inode skipped)" 60 "$(du -a "$T" | grep -c '/[fg][0-9]*$')"
  tar -C "$P" -cf "$WORK/t.tar" tools 2>"$WORK/tar.err"
  check_eq "tar: no warning" "" "$(cat "$WORK/tar.err")"
  check_eq "tar: no hard link entries" 0 "$(tar -tvf "$WORK/t.tar" | grep -c '^h')"
  rsync -aH "$T/" "$WORK/rs/" 2>&1
  check_eq "rsync -aH: no hard links made" 60 "$(find "$WORK/rs" -type f -links 1 | wc -l)"
  check_eq "a's link count: 2 + 1 subdirectory" 3 "$(stat -c %h "$T/a")"
  check_eq "tools' link count: 2 + 2" 4 "$(stat -c %h "$T")"
  i1=$(stat -c %i "$T/a/f1"); mv "$T/a/f1" "$T/d/moved"; echo 2 >/proc/sys/vm/drop_caches 2>/dev/null
  check_eq "an inode number survives mv and the kernel forgetting it" "$i1" "$(stat -c %i "$T/d/moved")"
  rm -rf "$T"
fi

section "rm -rf of $RUNS trees $PATH_LEN bytes deep"
dropper() { # the kernel forgets dentries and inodes every 50 ms while rm runs
  while :; do echo 2 >/proc/sys/vm/drop_caches 2>/dev/null || return; sleep 0.05; done
}
failed=0 left=0
for i in $(seq 1 "$RUNS"); do
  levels=$(python3 "$SPACEFS_SOURCE_DIR/tests/posix/deep_tree.py" "$P" "deep$i" --path-len "$PATH_LEN")
  ino1=$(stat -c %i "$P/deep$i")
  dropper &
  dpid=$!
  out=$(rm -rf "$P/deep$i" 2>&1) || { failed=$((failed + 1)); echo "# run $i ($levels levels): $out" | head -3; }
  kill "$dpid" 2>/dev/null
  wait "$dpid" 2>/dev/null
  [ -e "$P/deep$i" ] && left=$((left + 1))
  [ "$i" = 1 ] && echo "# $levels levels per tree"
done
check_eq "rm -rf of a deep tree failed in 0 of $RUNS runs" 0 "$failed"
check_eq "no tree left behind" 0 "$left"
check_eq "persist/ holds what it held before" "$before" "$(ls -A "$P" | xargs)"
section ""
finish_fs
