#!/bin/bash
# A namespace of many Spaces on a slow Hub (tests/bench/bench_listing_proxy.py in front of the
# emulator: 30,000 Spaces in pages of 1000, each page answered 150 ms late): `ls` lists every
# one once; a cached read elsewhere in the mount answers within 1 s all along (the listing is
# fetched and sorted without the filesystem's lock, and installed by a merge); a directory read a
# page at a time while it changes shows no name twice and every name that stayed (the adapter's
# snapshot per opendir); SIGTERM during a listing of 200,000 Spaces unmounts within seconds
# instead of waiting for the last page.
. "$(dirname "$0")/lib.sh"
require_fuse
hub_start
PROXY="$SPACEFS_SOURCE_DIR/tests/bench/bench_listing_proxy.py"
UPSTREAM=$HUB

# proxy COUNT DELAY_MS: starts a listing proxy for namespace bigns, sets HUB to it
proxy() {
  rm -f "$WORK/pport"
  python3 "$PROXY" --upstream "$UPSTREAM" --namespace bigns --count "$1" \
    --template-space gradio/hello-world --port-file "$WORK/pport" --page-delay-ms "$2" &
  local pid=$! i
  at_exit "kill $pid 2>/dev/null"
  for i in $(seq 1 100); do
    [ -s "$WORK/pport" ] && break
    sleep 0.1
  done
  HUB="http://127.0.0.1:$(cat "$WORK/pport")"
}

# --- a cached read during a slow listing of 30,000 Spaces ------------------------------------
proxy 30000 150
FS_TTL=3600 mount_fs "$TOKEN"
check_eq "warm: alice/chat/status is cached" RUNNING "$(cat "$MNT/alice/chat/status")"
python3 - "$MNT" "$WORK/ls.out" >"$WORK/lat" <<'PY'
import os, subprocess, sys, time
mnt = sys.argv[1]
out = open(sys.argv[2], "w+")
ls = subprocess.Popen(["timeout", "120", "ls", os.path.join(mnt, "bigns")], stdout=out)
lats = []
while ls.poll() is None:
    t0 = time.monotonic()
    with open(os.path.join(mnt, "alice/chat/status")) as f:
        f.read()
    lats.append(time.monotonic() - t0)
    time.sleep(0.02)
out.seek(0)
names = out.read().split()
print(len(names), len(set(names)), len(lats), int(max(lats or [0]) * 1000), ls.returncode)
PY
read -r n uniq reads max_ms lsrc <"$WORK/lat"
check_eq "ls lists every Space" "30000 30000 0" "$n $uniq $lsrc"
check "reads happened during the listing ($reads)" test "$reads" -ge 5
check "the slowest cached read took under 1 s (${max_ms} ms)" test "$max_ms" -lt 1000
check_eq "stat of a listed Space answers from the cache" 0 "$(
  stat "$MNT/bigns/space-029999" >/dev/null
  echo $?
)"
# a directory read a page at a time (getdents64 of 4 KiB) while files are removed and added:
# nothing twice, and every file there all along is listed (one snapshot per opendir)
P="$MNT/alice/chat/persist/many"
mkdir -p "$P"
for i in $(seq -w 1 600); do : >"$P/file-$i"; done
python3 - "$P" >"$WORK/getdents" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1]
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
buf = ctypes.create_string_buffer(4096)
names, calls = [], 0
while True:
    n = libc.syscall(217, fd, buf, 4096)  # SYS_getdents64
    if n <= 0:
        break
    calls += 1
    if calls == 2:  # the listing changes under the reader
        for i in range(1, 301):
            os.unlink(os.path.join(d, "file-%03d" % i))
        for i in range(1, 101):
            open(os.path.join(d, "added-%03d" % i), "w").close()
    i = 0
    while i < n:
        reclen = int.from_bytes(buf.raw[i + 16:i + 18], "little")
        names.append(buf.raw[i + 19:i + reclen].split(b"\0", 1)[0].decode())
        i += reclen
kept = sum(1 for x in set(names) if x.startswith("file-") and int(x[5:]) > 300)
print(len(names), len(set(names)), kept, calls)
PY
read -r n uniq kept calls <"$WORK/getdents"
check_eq "a listing that changes between getdents calls: no name twice ($calls calls)" "$n" "$uniq"
check_eq "and every file there all along is listed" 300 "$kept"
unmount_fs

# --- SIGTERM during a listing of 200,000 Spaces (200 pages, 200 ms each: 40 s) ---------------
proxy 200000 200
FS_TTL=3600 mount_fs "$TOKEN"
ls "$MNT/bigns" >/dev/null 2>&1 &
LS=$!
sleep 2
t0=$(ms)
kill -TERM "$FS_PID"
for i in $(seq 1 300); do
  kill -0 "$FS_PID" 2>/dev/null || break
  sleep 0.1
done
el=$(($(ms) - t0))
check "spacefs exited within 5 s of SIGTERM (${el} ms)" test "$el" -lt 5000
wait "$FS_PID" 2>/dev/null
FS_PID=""
wait "$LS" 2>/dev/null
fusermount3 -uz "$MNT" 2>/dev/null
finish_fs
