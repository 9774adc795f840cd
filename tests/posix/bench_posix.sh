#!/usr/bin/env bash
# Cost of issue 11 items 2 and 4 (inode map, link counts, hidden names) on everyday tree work in
# persist/: wall time and the daemon's CPU (utime+stime, less sensitive to a shared machine's
# load) for cp -a of 2000 1 KiB files in 80 directories, find x5, ls -lR x5, du -s x5, 100
# directory renames, rm -rf. Label bench (never in ./dev test). Compare builds with
# SPACEFS_SOURCE_DIR=$PWD SPACEFS_BUILD_DIR=<a build> bash tests/posix/bench_posix.sh.
. "$SPACEFS_SOURCE_DIR/tests/persist/scenario_lib.sh"
require_fuse
hub_start
mount_persist "$WORK/cache"
mkdir -p "$WORK/src"
python3 - "$WORK/src" <<'PY'
import os, sys
r = sys.argv[1]
for d in range(40):
    os.makedirs("%s/d%02d/sub" % (r, d))
    for f in range(50):
        with open("%s/d%02d/%s/f%02d" % (r, d, "sub" if f % 2 else "", f), "wb") as fh:
            fh.write(os.urandom(1024))
PY
cpu() { awk '{print ($14+$15)*10}' /proc/$FS_PID/stat; }
c=$(cpu); t=$(ms); cp -a "$WORK/src" "$P/tree"; echo "cp -a 2000 files: $(($(ms)-t)) ms, daemon CPU $(($(cpu)-c)) ms"
c=$(cpu); t=$(ms); for i in 1 2 3 4 5; do find "$P/tree" >/dev/null; done; echo "find x5: $(($(ms)-t)) ms, daemon CPU $(($(cpu)-c)) ms"
t=$(ms); for i in 1 2 3 4 5; do ls -lR "$P/tree" >/dev/null; done; echo "ls -lR x5: $(($(ms)-t)) ms"
t=$(ms); for i in 1 2 3 4 5; do du -s "$P/tree" >/dev/null; done; echo "du -s x5: $(($(ms)-t)) ms"
c=$(cpu); t=$(ms); for i in $(seq 1 50); do mv "$P/tree/d00" "$P/tree/dx"; mv "$P/tree/dx" "$P/tree/d00"; done; echo "100 directory renames: $(($(ms)-t)) ms, daemon CPU $(($(cpu)-c)) ms"
c=$(cpu); t=$(ms); rm -rf "$P/tree"; echo "rm -rf: $(($(ms)-t)) ms, daemon CPU $(($(cpu)-c)) ms"
echo "RSS of spacefs: $(ps -o rss= -p $FS_PID) KiB"
finish_fs
