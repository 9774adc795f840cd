#!/usr/bin/env python3
"""Where the time goes between `cp` returning and fsync(2) returning (the commit on the Hub), for
docs/performance.md: mounts spacefs (product defaults but fsync=hub) on the emulator, attaches strace to the
daemon, copies one file of BENCH_MIB (512) MiB into persist/ and fsyncs it, then prints a
timeline of the daemon's syscalls relative to the moment cp returned: each HTTP request line it
sent (libcurl and libgit2 write them in one send), fsyncs with their duration, renames and links,
and how many bytes it pread from each file during the upload. Not a ctest; run by hand:
  SPACEFS_BUILD_DIR=build python3 tests/bench/trace_upload.py
BENCH_TRACE=small counts the daemon's syscalls for many small files instead (main_small);
BENCH_TRACE_LINK_MBPS=1000 sends everything through the emulator's shared link (bandwidth_mbps).
strace stops the daemon at every traced syscall, so absolute times are somewhat inflated; the
order and the relative sizes of the phases are what this is for.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_suite as B  # noqa: E402

MIB = int(os.environ.get("BENCH_MIB") or 512)
CALLS = "connect,sendto,sendmsg,write,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlinkat,pread64"


def hms(t):
    lt = time.localtime(t)
    return lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (t % 1)


def main():
    B.write_token_files()
    hub = B.Hub("hub")
    if os.environ.get("BENCH_TRACE_LINK_MBPS"):  # the upload through the emulator's shared link
        hub.link(float(os.environ["BENCH_TRACE_LINK_MBPS"]))
    src = os.path.join(B.WORK, "src.bin")
    B.make_random(src, MIB * B.MIB)
    m = B.Mount(hub, B.fresh_cache(), opts="fsync=hub")  # fsync waits for the commit
    trace = os.path.join(B.WORK, "strace.txt")
    st = subprocess.Popen(["strace", "-f", "-tt", "-T", "-s", "90", "-e", "trace=" + CALLS, "-o", trace,
                           "-p", str(m.proc.pid)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # strace attaches to every thread
    t_start = time.time()
    subprocess.run(["cp", src, os.path.join(m.p, "big.bin")], check=True)
    t_cp = time.time()
    f = os.open(os.path.join(m.p, "big.bin"), os.O_RDONLY)
    os.fsync(f)
    os.close(f)
    t_fsync = time.time()
    time.sleep(1.0)
    st.terminate()
    st.wait()
    m.close()
    hub.stop()
    base = hms(t_cp)
    print("# %d MiB: cp %.2f s, then fsync %.2f s (under strace)" % (MIB, t_cp - t_start, t_fsync - t_cp))
    print("# t (s after cp returned)  event")
    fds_path = {}
    pread = {}
    events = []
    for line in open(trace):
        mt = re.match(r"(\d+)\s+(\d+):(\d+):(\d+\.\d+) (\w+)\((.*)", line)
        if not mt:
            continue
        tid, h, mi, s, call, rest = mt.groups()
        t = int(h) * 3600 + int(mi) * 60 + float(s) - base
        dur = re.search(r"<([\d.]+)>\s*$", line)
        dur = float(dur.group(1)) if dur else 0.0
        if call in ("sendto", "write", "sendmsg"):
            req = re.search(r'"((?:GET|POST|PUT|HEAD|DELETE) [^ ?]+)', rest)
            if req:
                events.append((t, "%-6s %s" % (tid, req.group(1))))
        elif call in ("fsync", "fdatasync"):
            events.append((t, "%-6s %s(fd %s) %.3f s" % (tid, call, rest.split(")")[0].split(",")[0], dur)))
        elif call in ("rename", "renameat", "renameat2", "link", "linkat"):
            names = re.findall(r'"([^"]+)"', rest)
            events.append((t, "%-6s %s %s" % (tid, call, " -> ".join(os.path.basename(n) for n in names))))
        elif call == "pread64" and t > 0:
            fdn = rest.split(",")[0]
            n = re.search(r"= (\d+)", line)
            if n:
                pread.setdefault(fdn, [t, t, 0])
                pread[fdn][1] = t
                pread[fdn][2] += int(n.group(1))
    for fdn, (a, b, n) in pread.items():
        if n > 1 << 20:
            events.append((a, "pread64 fd %s: %d MiB between %.2f and %.2f s" % (fdn, n >> 20, a, b)))
    for t, e in sorted(events):
        if t > -0.5:
            print("%8.3f  %s" % (t, e))
    print("%8.3f  fsync returned to the caller" % (t_fsync - t_cp))


def main_small():
    """BENCH_TRACE=small: syscall counts of the daemon (strace -c) for cp -a of BENCH_FILES (500)
    small files into persist/ (until cp returns), then for `echo sync` (the commits)."""
    n = int(os.environ.get("BENCH_FILES") or 500)
    B.write_token_files()
    hub = B.Hub("hub")
    src = os.path.join(B.WORK, "small")
    B.make_small_tree(src, n)
    m = B.Mount(hub, B.fresh_cache(), opts="fsync=hub")  # fsync waits for the commit
    for phase in ("cp -a", "echo sync"):
        out = os.path.join(B.WORK, "strace-c.txt")
        st = subprocess.Popen(["strace", "-f", "-c", "-w", "-o", out, "-e",
                               "trace=fsync,fdatasync,rename,renameat2,openat,write,pwrite64,unlink,unlinkat,link,linkat",
                               "-p", str(m.proc.pid)], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        t0 = time.time()
        if phase == "cp -a":
            subprocess.run(["cp", "-a", src, os.path.join(m.p, "many")], check=True)
        else:
            m.sync()
        dt = time.time() - t0
        time.sleep(0.5)
        st.terminate()
        st.wait()
        print("# %s of %d files: %.2f s under strace; daemon syscalls:" % (phase, n, dt))
        print(open(out).read())
    m.close()
    hub.stop()


if __name__ == "__main__":
    try:
        main_small() if os.environ.get("BENCH_TRACE") == "small" else main()
    finally:
        for p in B._procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(["fusermount3", "-uz", os.path.join(B.WORK, "mnt")], capture_output=True)
        if os.environ.get("BENCH_KEEP") != "1":
            import shutil

            shutil.rmtree(B.WORK, ignore_errors=True)
