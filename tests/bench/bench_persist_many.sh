#!/bin/bash
# Benchmark (label bench): many small files through the mount. BENCH_FILES (default 2000) files
# of 1-4 KiB in 50 directories: cp -a into persist/, `echo sync > control` (commits of at most 500
# files, persist_interval=1), rsync -a again (nothing to send: the times were kept), ls -lR, and
# cp -r out of a mount from an empty cache; files/s for each, and the number of commits.
. "$SPACEFS_SOURCE_DIR/tests/persist/scenario_lib.sh"
require_fuse
N=${BENCH_FILES:-2000}
hub_start
S="$WORK/src"
for d in $(seq 0 49); do mkdir -p "$S/d$d"; done
python3 - "$S" "$N" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
r = random.Random(7)
for i in range(n):
    with open(os.path.join(root, "d%d" % (i % 50), "f%d.txt" % i), "wb") as f:
        f.write(os.urandom(r.randint(1024, 4096)).hex().encode()[: r.randint(1024, 4096)])
PY
rate() { awk -v n="$N" -v t="$1" 'BEGIN { printf "%.0f", n / (t / 1000) }'; }

mount_persist "$WORK/cache" "persist_quiet=600,persist_interval=1"
section "cp -a in"
t=$(ms)
cp -a "$S" "$P/many"
check_eq "cp -a into persist/" 0 "$?"
dt=$(($(ms) - t))
echo "# cp -a in: $N files in $dt ms = $(rate "$dt") files/s"

section "sync"
c0=$(pstat commits)
t=$(ms)
check_eq "echo sync > control" OK "$(psync 1200)"
dt=$(($(ms) - t))
echo "# sync: $N files in $dt ms = $(rate "$dt") files/s, $(($(pstat commits) - c0)) commits"

section "rsync -a again, ls -lR"
t=$(ms)
n=$(rsync -a --stats "$S/" "$P/many/" | sed -n 's/^Number of regular files transferred: //p')
dt=$(($(ms) - t))
check_eq "rsync -a transfers nothing" 0 "$n"
echo "# rsync -a (nothing to send): $dt ms"
t=$(ms)
ls -lR "$P/many" >/dev/null
echo "# ls -lR: $(($(ms) - t)) ms"
unmount_fs

section "cp -r out of a mount from an empty cache"
mount_persist "$WORK/cache-empty"
t=$(ms)
cp -r "$P/many" "$WORK/out"
dt=$(($(ms) - t))
echo "# cp -r out, empty cache: $N files in $dt ms = $(rate "$dt") files/s"
check "the same files" diff -r "$S" "$WORK/out"
unmount_fs
scenario_finish
