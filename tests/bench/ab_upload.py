#!/usr/bin/env python3
"""A/B of the upload rows between builds, alternating run by run in the same minutes (the host is
shared and noisy; a ratio within one pair means more than either figure). For each run and each
build: a fresh cache and mount (product defaults but fsync=hub), persist/ listed first (the engine
open), `cp` of a MIB file into persist/ (64 bytes changed per run: never an object the Hub has),
then fsync on it, which returns once the commit is on the Hub. After each round, curl PUTs the same
bytes to the same emulator (bench_suite.curl_put_lfs). Prints the medians and every run. Not a
ctest; by hand, after building each tree:
  python3 tests/bench/ab_upload.py MIB RUNS BUILD_DIR [BUILD_DIR...]
"""
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_suite as B  # noqa: E402


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    mib, runs, builds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    B.write_token_files()
    hub = B.Hub("hub")
    src = os.path.join(B.WORK, "src.bin")
    B.make_random(src, mib * B.MIB)
    res = {b: {"cp": [], "fsync": []} for b in builds}
    curl = []
    try:
        for i in range(runs):
            for b in builds:
                B.SPACEFS = os.path.join(b, "fs", "spacefs")
                with open(src, "r+b") as f:
                    f.write(os.urandom(64))
                m = B.Mount(hub, B.fresh_cache(), opts="fsync=hub")
                os.listdir(m.p)
                subprocess.run(["sync"])
                dst = os.path.join(m.p, "ab%d.bin" % i)
                t0 = time.time()
                subprocess.run(["cp", src, dst], check=True)
                t1 = time.time()
                f = os.open(dst, os.O_RDONLY)
                os.fsync(f)
                os.close(f)
                t2 = time.time()
                res[b]["cp"].append(t1 - t0)
                res[b]["fsync"].append(t2 - t1)
                m.close()
            with open(src, "r+b") as f:
                f.write(os.urandom(64))
            curl.append(B.curl_put_lfs(hub, "alice/chat-persist", src))
    finally:
        hub.stop()
        shutil.rmtree(B.WORK, ignore_errors=True)
    mb = mib * B.MIB / 1e6
    put = statistics.median(curl)
    print("curl PUT: median %.3f s [%s]" % (put, " ".join("%.3f" % x for x in curl)))
    for b in builds:
        cp, fs = statistics.median(res[b]["cp"]), statistics.median(res[b]["fsync"])
        print("%s: cp %.3f s (%.0f MB/s) [%s]; fsync %.3f s (%.2fx curl) [%s]; cp + fsync %.3f s, "
              "%.2fx curl's PUT" % (b, cp, mb / cp, " ".join("%.3f" % x for x in res[b]["cp"]), fs, fs / put,
                                   " ".join("%.3f" % x for x in res[b]["fsync"]), cp + fs, put / (cp + fs)))


if __name__ == "__main__":
    main()
