#!/bin/bash
# Per-operation latency while the Hub cannot be reached (issue 10, item 3): a real mount, the
# cache warmed, then a "refused" and a "blackhole" outage switched at run time; OPS operations
# (a mix of ls, stat and cat outside persist/) are timed in one process, each after the cache
# went stale (ttl 0.2 s, so every one asks the Hub), and the median and maximum are printed per
# outage. SPACEFS=path measures another build (the "before" column: today's main); OPS (100) and
# OP_TIMEOUT (seconds an operation may take before it is counted as that and abandoned, 120).
# Run with the realworld environment for TLS and 50 ms round trips:
#   HUB_TLS=1 HUB_LATENCY_MS=50 HUB_JITTER_MS=10 SPACEFS_BUILD_DIR=build \
#     SPACEFS_SOURCE_DIR=. bash tests/realworld/bench_offline.sh
. "$(dirname "$0")/../fs/lib.sh"
[ -n "${SPACEFS_BIN:-}" ] && SPACEFS=$SPACEFS_BIN
require_fuse
OPS=${OPS:-100}
hub_start
mount_fs "$TOKEN" "ttl=0.2,timeout=30"
S="$MNT/alice/chat"
ls -R "$MNT/alice" >/dev/null
cat "$S/status" "$S/url" "$S/hardware" "$S/runtime.json" "$S/info.json" >/dev/null

measure() {
  python3 - "$1" "$OPS" "$MNT" "${OP_TIMEOUT:-120}" <<'PY'
import os, statistics, sys, threading, time
kind, n, mnt, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = mnt + "/alice/chat"
def cat(p):
    with open(p, "rb") as f:
        f.read()
ops = [("ls", lambda: os.listdir(mnt + "/alice")), ("ls", lambda: os.listdir(s)),
       ("stat", lambda: os.stat(s + "/status")), ("cat", lambda: cat(s + "/status")),
       ("cat", lambda: cat(s + "/url")), ("stat", lambda: os.stat(s)),
       ("cat", lambda: cat(s + "/hardware")), ("cat", lambda: cat(s + "/runtime.json"))]
times, errors = [], 0
for i in range(n):
    time.sleep(0.25)  # past the ttl: the fs asks the Hub again
    name, fn = ops[i % len(ops)]
    res = {}
    def run():
        try:
            fn()
        except OSError as e:
            res["err"] = e
    t0 = time.monotonic()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(limit)
    el = (time.monotonic() - t0) * 1000
    if th.is_alive() or "err" in res:
        errors += 1
    times.append(el)
p90 = sorted(times)[int(len(times) * 0.9) - 1] if times else 0
print("%-9s ops %3d  median %8.1f ms  p90 %8.1f ms  max %8.1f ms  failed %d" %
      (kind, len(times), statistics.median(times), p90, max(times), errors))
sys.stdout.flush()
os._exit(0)  # an abandoned operation may still hang in the kernel
PY
}

echo "spacefs: $SPACEFS; Hub: $HUB (latency ${HUB_LATENCY_MS:-0} ms); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in refused blackhole; do
  hub_network "{\"outage\":\"$kind\"}"
  measure "$kind"
  hub_network '{"outage":"none"}'
  # until the mount answers freshly again
  for i in $(seq 1 100); do
    grep -q '^ok ' "$MNT/.spacefs/health" 2>/dev/null && cat "$S/status" >/dev/null 2>&1 && break
    sleep 0.5
  done
done
unmount_fs
echo "0 passed, 0 failed"
