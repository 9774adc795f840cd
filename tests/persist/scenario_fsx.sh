#!/bin/bash
# Differential fsx-style run on persist/ (tests/persist/fsx_mount.py): the same seeded random
# operations (writes at random offsets, truncates both ways, create/append, close/reopen, mmap
# reads, renames of files and directories, unlink, mkdir/rmdir, some fsyncs) on persist/fsx and on
# a local directory, compared after every step; a remount on the same cache in the middle with a
# compare across it; at the end `echo sync`, a mount from an empty cache and a last compare
# (directories without files are not stored in git, so that compare ignores them).
# FSX_SEED=N reproduces a run; FSX_OPS=N sets the number of operations (both halves together).
. "$(dirname "$0")/scenario_lib.sh"
require_fuse
# The default run uses a fixed seed, so that CI is repeatable; FSX_SEED=random draws a new one.
# FSX_SEED=319898323 used to find a divergence about one run in five (fixed in 528368c; the
# deterministic tests/persist/persist_race.c finds such races far faster).
SEED=${FSX_SEED:-586427706}
[ "$SEED" = random ] && SEED=$((RANDOM * 32768 + RANDOM))
OPS=${FSX_OPS:-6000}
echo "# FSX_SEED=$SEED FSX_OPS=$OPS"
FSX="$PDIR/fsx_mount.py"
MODEL="$WORK/model"
hub_start
mount_persist "$WORK/cache"

run_phase() {
  local phase=$1 n=$2 out rc
  out=$(python3 "$FSX" run "$P/fsx" "$MODEL" --seed "$SEED" --ops "$n" --phase "$phase" 2>&1)
  rc=$?
  echo "$out"
  check_eq "fsx phase $phase ($n operations, FSX_SEED=$SEED): no divergence" 0 "$rc"
  return $rc
}
cmp_trees() {
  local name=$1 out rc
  shift
  out=$(python3 "$FSX" compare "$P/fsx" "$MODEL" "$@" 2>&1)
  rc=$?
  [ $rc -eq 0 ] || echo "$out"
  check_eq "$name ($(tail -1 <<<"$out"), FSX_SEED=$SEED)" 0 "$rc"
}

section "phase 1"
run_phase 1 $((OPS / 2))
cmp_trees "persist/ equals the model before the remount"

section "remount on the same cache"
unmount_fs
mount_persist "$WORK/cache"
cmp_trees "persist/ equals the model across the remount"

section "phase 2"
run_phase 2 $((OPS - OPS / 2))
cmp_trees "persist/ equals the model after phase 2"

section "sync, then a mount from an empty cache"
check_eq "echo sync > control" OK "$(psync 120)"
check_eq "clean" clean "$(pstat state)"
unmount_fs
mount_persist "$WORK/cache-empty"
cmp_trees "the Hub's copy equals the model (files only)" --files-only

scenario_finish
