#!/usr/bin/env python3
"""The benchmark suite of issue 12 (label bench; `./dev bench`): spacefs through a real FUSE mount on
the Hub emulator, each figure next to its ceilings measured in the same run (curl PUT/GET of the same
size to the same emulator, @huggingface/hub, the client's own sha256, a local copy with fsync), the
median of BENCH_REPEAT runs, the daemon's peak RSS per row. Prints ONE table and writes a JSON file.

Environment (all optional):
  BENCH_QUICK=1          64 MiB only, 500 small files, 2000-file tree, 20k Spaces, 100 SQLite tx
  BENCH_SIZES_MIB        sizes of the large-file rows (default "64,1024"; quick "64")
  BENCH_REPEAT           runs per figure, the median is reported (default 3)
  BENCH_FILES            small files copied in and out (default 2000)
  BENCH_TREE_FILES       files under `ls -lR` / `find` (default 10000)
  BENCH_LATENCY_MS       injected per-request latency of the latency rows (default 50)
  BENCH_SPACES           Spaces in the namespace listed by `ls` (default 100000)
  BENCH_SQLITE_TX        SQLite transactions (default 500), BENCH_SQLITE_SECONDS time cap (120; quick 25),
                         BENCH_SQLITE_REPEAT runs (BENCH_REPEAT; quick 1)
  BENCH_RANDOM_READS     random 4 KiB reads of the cold file (default 64)
  BENCH_LINK_MBPS        links of the "link" rows, Mbit/s (default "1000,100"): the emulator's
                         bandwidth_mbps, one link every connection shares, for every contender
  BENCH_LINK_MIB         file size of the "link" rows (default: the smallest of BENCH_SIZES_MIB)
  BENCH_ROWS / BENCH_SKIP  comma lists of row groups to run / leave out:
                         large, random, small, tree, latency, spaces, sqlite, link
  BENCH_JSON             where the JSON goes (default $SPACEFS_BUILD_DIR/bench/results.json)
Exit status: 0, 1 when a result was wrong (content mismatch, a step failed), 77 without FUSE.
Targets not met are reported, never a failure: this is a measuring instrument.
"""
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SRC = os.environ.get("SPACEFS_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("SPACEFS_BUILD_DIR") or os.path.join(SRC, "build")
QUICK = os.environ.get("BENCH_QUICK") == "1"
MIB = 1 << 20


def env_int(name, full, quick):
    return int(os.environ.get(name) or (quick if QUICK else full))


SIZES = [int(s) for s in (os.environ.get("BENCH_SIZES_MIB") or ("64" if QUICK else "64,1024")).split(",") if s]
REPEAT = env_int("BENCH_REPEAT", 3, 3)
NFILES = env_int("BENCH_FILES", 2000, 500)
NTREE = env_int("BENCH_TREE_FILES", 10000, 2000)
LAT_MS = env_int("BENCH_LATENCY_MS", 50, 50)
NSPACES = env_int("BENCH_SPACES", 100000, 20000)
SQL_TX = env_int("BENCH_SQLITE_TX", 500, 100)
SQL_SECS = env_int("BENCH_SQLITE_SECONDS", 120, 25)
SQL_REPEAT = env_int("BENCH_SQLITE_REPEAT", REPEAT, 1)
NRANDOM = env_int("BENCH_RANDOM_READS", 64, 64)
LINKS = [float(x) for x in (os.environ.get("BENCH_LINK_MBPS") or "1000,100").split(",") if x]
LINK_MIB = env_int("BENCH_LINK_MIB", min(SIZES), min(SIZES))
GROUPS = ["large", "random", "small", "tree", "latency", "spaces", "sqlite", "link"]
_rows = os.environ.get("BENCH_ROWS")
RUN = [g for g in GROUPS if (not _rows or g in _rows.split(",")) and g not in (os.environ.get("BENCH_SKIP") or "").split(",")]
OUT_JSON = os.environ.get("BENCH_JSON") or os.path.join(BUILD, "bench", "results.json")

TOKEN = "hf_alice_write"  # the emulator's sentinel token: never printed, only in a 0600 file
SPACEFS = os.path.join(BUILD, "fs", "spacefs")
SHA_TOOL = os.path.join(BUILD, "tests", "bench", "bench_sha256")
HFJS = os.path.join(SRC, "tests", "bench", "bench_hfjs.mjs")
HUBD = os.path.join(SRC, "tests", "hub", "hubd")
FIXTURE = os.path.join(SRC, "tests", "hub", "fixtures", "demo.json")

WORK = tempfile.mkdtemp(prefix="spacefs-bench.")
ERRORS = []
ROWS = []  # {"row", "size", "figure", "unit", "runs", "rss_kb", "ceilings": [{"name","figure","unit","runs"}], "target"}
_procs = []


def log(msg):
    print("# " + msg, flush=True)


def skip(why):
    print("SKIP: " + why, flush=True)
    sys.exit(77)


def error(msg):
    ERRORS.append(msg)
    print("FAIL - " + msg, flush=True)


def now():
    return time.monotonic()


def run(cmd, check=True, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    p = subprocess.run(cmd, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s: rc=%d %s" % (" ".join(map(str, cmd))[:200], p.returncode, str(p.stderr)[-500:]))
    return p


def timed(cmd, **kw):
    t = now()
    p = run(cmd, **kw)
    return now() - t, p


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --- the emulator ------------------------------------------------------------------------------
class Hub:
    def __init__(self, name, state=None, prepare=None):
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir, exist_ok=True)
        self.state = state or os.path.join(self.dir, "state")
        if prepare:
            prepare(self)
        self.start()

    def start(self):
        pf = os.path.join(self.dir, "port")
        if os.path.exists(pf):
            os.unlink(pf)
        self.out = open(os.path.join(self.dir, "hubd.err"), "ab")
        self.proc = subprocess.Popen([HUBD, "--state", self.state, "--port-file", pf, "--fixture", FIXTURE],
                                     stdout=self.out, stderr=self.out)
        _procs.append(self.proc)
        for _ in range(6000):
            if os.path.exists(pf) and os.path.getsize(pf) > 0:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("hubd died")
            time.sleep(0.05)
        self.url = "http://127.0.0.1:%s" % open(pf).read().strip()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)

    def req(self, method, path, body=None, auth=True, ctype="application/json"):
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        r = urllib.request.Request(self.url + path, data=data, method=method)
        if auth:
            r.add_header("Authorization", "Bearer " + TOKEN)
        if data is not None:
            r.add_header("Content-Type", ctype)
        with urllib.request.urlopen(r, timeout=600) as resp:
            raw = resp.read()
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def stats_reset(self):
        self.req("DELETE", "/_hubd/stats", auth=False)

    def stats(self):
        return self.req("GET", "/_hubd/stats", auth=False)

    def bytes_out(self, route_prefix=""):
        return sum(c["bytes_out"] for r, c in self.stats()["routes"].items() if route_prefix in r)

    def latency(self, ms):
        self.req("DELETE", "/_hubd/faults", auth=False)
        if ms:
            self.req("POST", "/_hubd/faults", {"method": "*", "path": ".*", "action": "latency",
                                               "latency_ms": ms, "count": -1}, auth=False)

    def link(self, mbps):
        """The emulator's shared link (bandwidth_mbps), 0 = unlimited: every body to and from it,
        whoever sends it (spacefs, curl, @huggingface/hub), goes through the same limit."""
        self.req("POST", "/_hubd/network", {"bandwidth_mbps": mbps}, auth=False)

    def create_dataset(self, name):
        self.req("POST", "/api/repos/create", {"name": name, "organization": None, "type": "dataset",
                                               "private": True})


# --- the mount ---------------------------------------------------------------------------------
class Mount:
    """spacefs in the foreground on WORK/mnt with a cache of its own; product defaults unless opts."""

    def __init__(self, hub, cache, opts="", space="alice/chat"):
        self.mnt = os.path.join(WORK, "mnt")
        os.makedirs(self.mnt, exist_ok=True)
        os.makedirs(cache, exist_ok=True)
        self.cache = cache
        self.err = os.path.join(WORK, "spacefs.err")
        o = "endpoint=%s,token_file=%s,cache_dir=%s,persist_sync_timeout=1200" % (hub.url, TOKEN_FILE, cache)
        if opts:
            o += "," + opts
        with open(self.err, "a") as ef:
            ef.write("=== mount %s %s\n" % (time.strftime("%H:%M:%S"), opts))
            ef.flush()
            self.proc = subprocess.Popen([SPACEFS, self.mnt, "-f", "-o", o], stderr=ef, stdout=ef)
        _procs.append(self.proc)
        for _ in range(200):
            if (" %s fuse.spacefs " % self.mnt) in open("/proc/mounts").read():
                break
            if self.proc.poll() is not None:
                raise RuntimeError("spacefs died: " + open(self.err).read()[-800:])
            time.sleep(0.05)
        else:
            raise RuntimeError("the mount did not appear")
        self.spc = os.path.join(self.mnt, space)
        self.p = os.path.join(self.spc, "persist")
        if space:
            for _ in range(600):
                if os.path.isdir(self.p) and os.access(os.path.join(self.spc, "persist.status"), os.R_OK):
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("persist/ does not answer")
        self.rss_reset()

    def rss_reset(self):
        """Resets VmHWM (Linux clear_refs 5), so each row reports its own peak."""
        try:
            with open("/proc/%d/clear_refs" % self.proc.pid, "w") as f:
                f.write("5")
        except OSError:
            pass

    def rss_kb(self):
        try:
            for line in open("/proc/%d/status" % self.proc.pid):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def sync(self):
        """`echo sync > control`: returns once every earlier change is committed on the Hub."""
        with open(os.path.join(self.spc, "control"), "w") as f:
            f.write("sync\n")

    def close(self):
        if self.proc.poll() is None:
            subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)
        if self.proc.returncode not in (0, None):
            error("spacefs exited with %s" % self.proc.returncode)
        shutil.rmtree(self.cache, ignore_errors=True)  # every mount starts from its own cache


_cache_n = [0]


def fresh_cache():
    _cache_n[0] += 1
    return os.path.join(WORK, "cache-%d" % _cache_n[0])


# --- helpers -----------------------------------------------------------------------------------
def make_random(path, size, seed=None):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MIB)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())


def make_variant(src, dst, tag):
    """A copy of src whose first 64 bytes differ: the same size, a new LFS object (the Hub dedups)."""
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.write(hashlib.sha256(tag.encode()).digest() * 2)
        os.fsync(f.fileno())


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MIB)
            if not b:
                return h.hexdigest()
            h.update(b)


def hfjs(hub, *args):
    p = run(["node", HFJS, *args], env=dict(os.environ, HUB=hub.url, HF_TOKEN_FILE=TOKEN_FILE))
    return json.loads(p.stdout.strip().splitlines()[-1])


def curl_put_lfs(hub, repo, path):
    """batch (basic) + the timed PUT of the bytes to the signed LFS URL; seconds of the PUT."""
    size = os.path.getsize(path)
    oid = sha256_file(path)
    b = hub.req("POST", "/datasets/%s.git/info/lfs/objects/batch" % repo,
                {"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}]},
                ctype="application/vnd.git-lfs+json")
    href = b["objects"][0]["actions"]["upload"]["href"]
    dt, p = timed(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:", "-T", path, href])
    if p.stdout != "200":
        error("curl PUT answered %s" % p.stdout)
    return dt


def multipart_put_lfs(hub, repo, path):
    """The wire of a multipart LFS upload as the emulator offers it above its threshold (the path
    spacefs takes): batch (untimed), then the part PUTs one after the other and the completion POST,
    timed, with http.client. Seconds, or None when the Hub offers a basic upload for that size."""
    import http.client
    import urllib.parse

    size = os.path.getsize(path)
    oid = sha256_file(path)
    b = hub.req("POST", "/datasets/%s.git/info/lfs/objects/batch" % repo,
                {"operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
                 "objects": [{"oid": oid, "size": size}]}, ctype="application/vnd.git-lfs+json")
    up = b["objects"][0]["actions"]["upload"]
    hdr = up.get("header") or {}
    if "chunk_size" not in hdr:
        return None
    cs = int(hdr["chunk_size"])
    keys = sorted(k for k in hdr if k.isdigit())
    t0 = now()
    parts = []
    with open(path, "rb") as f:
        for i, k in enumerate(keys):
            u = urllib.parse.urlsplit(hdr[k])
            n = min(cs, size - i * cs)
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
            c.putrequest("PUT", u.path + "?" + u.query)
            c.putheader("Content-Length", str(n))
            c.endheaders()
            f.seek(i * cs)
            left = n
            while left:
                chunk = f.read(min(left, MIB))
                c.send(chunk)
                left -= len(chunk)
            r = c.getresponse()
            r.read()
            parts.append({"partNumber": i + 1, "etag": r.getheader("ETag")})
            c.close()
    u = urllib.parse.urlsplit(up["href"])
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    c.request("POST", u.path + "?" + u.query, body=json.dumps({"oid": oid, "parts": parts}),
              headers={"Content-Type": "application/vnd.git-lfs+json"})
    r = c.getresponse()
    r.read()
    c.close()
    dt = now() - t0
    if r.status != 200:
        error("multipart completion answered %d" % r.status)
    return dt


def curl_get(hub, repo, path, rng=None, out="/dev/null"):
    """GET through resolve (redirect followed), to /dev/null or a file; (seconds, bytes)."""
    cmd = ["curl", "-sSL", "-o", out, "-w", "%{http_code} %{size_download}", "-K", CURL_AUTH]
    if rng:
        cmd += ["-r", rng]
    dt, p = timed(cmd + ["%s/datasets/%s/resolve/main/%s" % (hub.url, repo, path)])
    code, got = p.stdout.split()
    if code not in ("200", "206"):
        error("curl GET %s answered %s" % (path, code))
    return dt, int(got)


def add_row(row, size, unit, runs, rss, ceilings, target=None, note=None, figure=None):
    r = {"row": row, "size": size, "unit": unit, "runs": runs,
         "figure": figure if figure is not None else med(runs), "rss_kb": rss,
         "ceilings": [dict(c, figure=c.get("figure", med(c.get("runs", [])))) for c in ceilings],
         "target": target, "note": note}
    ROWS.append(r)
    fig = r["figure"]
    log("%s [%s]: %s %s, ceilings: %s" % (row, size, fmt(fig), unit,
        "; ".join("%s %s %s" % (c["name"], fmt(c["figure"]), c["unit"]) for c in r["ceilings"])))


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    if abs(x) >= 0.1:
        return "%.2f" % x
    return "%.3f" % x


def mbs(nbytes, secs):
    return nbytes / 1e6 / secs if secs else None


# --- rows: large files -------------------------------------------------------------------------
def group_large(hub):
    REPO = "alice/chat-persist"
    for mib in SIZES:
        size = mib * MIB
        tag = "%d MiB" % mib
        base = os.path.join(WORK, "base.bin")
        make_random(base, size)
        r = {k: [] for k in ("up", "fsync", "ack", "curlput", "mp", "hfup", "sha", "local", "cold", "curlget", "hfdown",
                             "ttfb", "ttfb_open", "curlttfb", "curlfile", "warm", "warm1m")}
        rss = {k: [] for k in ("up", "cold", "ttfb")}
        for i in range(REPEAT):
            a = os.path.join(WORK, "a.bin")
            make_variant(base, a, "a%d-%d" % (mib, i))
            name = "big-%d-%d.bin" % (mib, i)
            # spacefs: cp (acknowledged locally) then fsync (committed on the Hub: fsync=hub, the
            # one option changed; by default fsync is local, docs/filesystem.md "Durability").
            m = Mount(hub, fresh_cache(), opts="fsync=hub")
            t0 = now()
            run(["cp", a, os.path.join(m.p, name)])
            t1 = now()
            fd = os.open(os.path.join(m.p, name), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            t2 = now()
            rss["up"].append(m.rss_kb())
            r["ack"].append(mbs(size, t1 - t0))
            r["up"].append(mbs(size, t2 - t0))
            r["fsync"].append(t2 - t1)
            log("%s run %d: cp %.2f s, fsync %.2f s more" % (tag, i, t1 - t0, t2 - t1))
            m.close()
            # ceilings of the upload: the wire (curl PUT), the official client, our sha256, local copy
            v = os.path.join(WORK, "v.bin")
            make_variant(base, v, "curl%d-%d" % (mib, i))
            r["curlput"].append(mbs(size, curl_put_lfs(hub, REPO, v)))
            make_variant(base, v, "mp%d-%d" % (mib, i))
            mp = multipart_put_lfs(hub, REPO, v)
            r["mp"].append(mbs(size, mp) if mp else None)
            d = os.path.join(WORK, "hfjsup")
            os.makedirs(d, exist_ok=True)
            make_variant(base, os.path.join(d, "f.bin"), "hfjs%d-%d" % (mib, i))
            r["hfup"].append(mbs(size, hfjs(hub, REPO, "upload", d, "hfjs-%d-%d" % (mib, i))["seconds"]))
            shutil.rmtree(d)
            os.unlink(v)
            out = run([SHA_TOOL, a]).stdout.split()
            r["sha"].append(mbs(size, float(out[1])))
            dst = os.path.join(WORK, "local-copy.bin")
            dt, _ = timed(["sh", "-c", 'cp "$1" "$2" && sync "$2"', "_", a, dst])
            os.unlink(dst)
            r["local"].append(mbs(size, dt))
            digest = out[0]
            os.unlink(a)
            # cold sequential read, empty cache
            m = Mount(hub, fresh_cache())
            dt, _ = timed(["cat", os.path.join(m.p, name)], stdout=subprocess.DEVNULL)
            rss["cold"].append(m.rss_kb())
            r["cold"].append(mbs(size, dt))
            if i == 0 and sha256_file(os.path.join(m.p, name)) != digest:
                error("%s: content read back differs" % name)
            # the ceiling FUSE sets: the same file read again through the mount, now cached (cat:
            # 128 KiB requests; dd: 1 MiB, the largest the kernel sends, max_write's 256 pages)
            dt, _ = timed(["cat", os.path.join(m.p, name)], stdout=subprocess.DEVNULL)
            r["warm"].append(mbs(size, dt))
            dt, _ = timed(["dd", "if=" + os.path.join(m.p, name), "of=/dev/null", "bs=1M"])
            r["warm1m"].append(mbs(size, dt))
            m.close()
            # cold time to first byte, empty cache
            m = Mount(hub, fresh_cache())
            dt, p = timed(["head", "-c", "1", os.path.join(m.p, name)], stdout=subprocess.PIPE, text=False)
            rss["ttfb"].append(m.rss_kb())
            r["ttfb"].append(dt)
            if p.stdout != hashlib.sha256(("a%d-%d" % (mib, i)).encode()).digest()[:1]:
                error("%s: head -c 1 read the wrong byte" % name)
            m.close()
            # the same with the persist engine already open (`ls` first: the Dataset's listing is
            # fetched), so only the object is cold: the data path's own time to first byte
            m = Mount(hub, fresh_cache())
            run(["ls", m.p], stdout=subprocess.DEVNULL)
            dt, p = timed(["head", "-c", "1", os.path.join(m.p, name)], stdout=subprocess.PIPE, text=False)
            r["ttfb_open"].append(dt)
            if p.stdout != hashlib.sha256(("a%d-%d" % (mib, i)).encode()).digest()[:1]:
                error("%s: head -c 1 read the wrong byte" % name)
            m.close()
            # the same bytes from the same emulator: curl, @huggingface/hub
            dt, got = curl_get(hub, "alice/chat-persist", name)
            if got != size:
                error("curl GET got %d bytes" % got)
            r["curlget"].append(mbs(size, dt))
            # what a cold read also does: the bytes written to a file on the cache's disk (the
            # part file; not synced, as the part file is not)
            dst = os.path.join(WORK, "curl-get.bin")
            dt, got = curl_get(hub, "alice/chat-persist", name, out=dst)
            os.unlink(dst)
            r["curlfile"].append(mbs(size, dt))
            r["curlttfb"].append(curl_get(hub, "alice/chat-persist", name, "0-0")[0])
            j = hfjs(hub, REPO, "download", name, "/dev/null")
            if j["sha256"] != digest:
                error("hfjs download of %s differs" % name)
            r["hfdown"].append(mbs(size, j["seconds"]))
        os.unlink(base)
        add_row("cp into persist/ + fsync until on the Hub", tag, "MB/s", r["up"], max(rss["up"]), [
            {"name": "curl PUT (LFS URL)", "unit": "MB/s", "runs": r["curlput"]}] + ([
                {"name": "multipart PUTs + completion, sequential (http.client)", "unit": "MB/s", "runs": r["mp"]}]
                if any(r["mp"]) else []) + [
            {"name": "@huggingface/hub uploadFiles", "unit": "MB/s", "runs": r["hfup"]},
            {"name": "sha256 (hub_sha256_fd)", "unit": "MB/s", "runs": r["sha"]}],
            target=">= 0.8x curl PUT")
        add_row("the fsync alone (from cp returning to the commit on the Hub)", tag, "s", r["fsync"],
                max(rss["up"]), [{"name": "curl PUT (LFS URL)", "unit": "s", "runs": [size / 1e6 / x for x in r["curlput"]]}])
        add_row("cp into persist/, acknowledged locally", tag, "MB/s", r["ack"], max(rss["up"]), [
            {"name": "cp + fsync, same disk", "unit": "MB/s", "runs": r["local"]},
            {"name": "sha256 (hub_sha256_fd)", "unit": "MB/s", "runs": r["sha"]}])
        add_row("cold sequential read (cat, empty cache)", tag, "MB/s", r["cold"], max(rss["cold"]), [
            {"name": "curl GET (resolve)", "unit": "MB/s", "runs": r["curlget"]},
            {"name": "curl GET to a file on the same disk", "unit": "MB/s", "runs": r["curlfile"]},
            {"name": "warm read through the mount (cat, the object cached)", "unit": "MB/s", "runs": r["warm"]},
            {"name": "the same, dd bs=1M", "unit": "MB/s", "runs": r["warm1m"]},
            {"name": "sha256 (hub_sha256_fd)", "unit": "MB/s", "runs": r["sha"]},
            {"name": "@huggingface/hub downloadFile + sha256", "unit": "MB/s", "runs": r["hfdown"]}],
            target=">= 0.8x curl GET")
        add_row("cold time to first byte (head -c 1)", tag, "s", r["ttfb"], max(rss["ttfb"]), [
            {"name": "curl one-byte Range (resolve)", "unit": "s", "runs": r["curlttfb"]}],
            target="<= 2x curl")
        add_row("cold time to first byte, persist/ listed first (only the object cold)", tag, "s",
                r["ttfb_open"], max(rss["ttfb"]), [
                    {"name": "curl one-byte Range (resolve)", "unit": "s", "runs": r["curlttfb"]}],
                target="<= 2x curl")


def group_link(hub):
    """The upload rows through a finite link (the emulator's bandwidth_mbps): on loopback the
    emulator takes a PUT faster than this disk copies the file, so the ratio to curl there says
    little about a real link; here spacefs, curl and @huggingface/hub share the same limit."""
    REPO = "alice/chat-persist"
    size = LINK_MIB * MIB
    base = os.path.join(WORK, "link-base.bin")
    make_random(base, size)
    try:
        for mbps in LINKS:
            tag = "%d MiB, %g Mbit/s link" % (LINK_MIB, mbps)
            r = {k: [] for k in ("up", "fsync", "curlput", "mp", "hfup")}
            rss = []
            for i in range(REPEAT):
                hub.link(mbps)
                a = os.path.join(WORK, "a.bin")
                make_variant(base, a, "link%g-%d" % (mbps, i))
                name = "link-%g-%d.bin" % (mbps, i)
                m = Mount(hub, fresh_cache(), opts="fsync=hub")
                # persist/ listed first: the engine's open (a clone of the Dataset's git mirror,
                # thousands of files by now) is a mount's one-time cost, not the upload's
                run(["ls", m.p], stdout=subprocess.DEVNULL)
                t0 = now()
                run(["cp", a, os.path.join(m.p, name)])
                t1 = now()
                fd = os.open(os.path.join(m.p, name), os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
                t2 = now()
                rss.append(m.rss_kb())
                r["up"].append(mbs(size, t2 - t0))
                r["fsync"].append(t2 - t1)
                log("%s run %d: cp %.2f s, fsync %.2f s more" % (tag, i, t1 - t0, t2 - t1))
                m.close()
                os.unlink(a)
                v = os.path.join(WORK, "v.bin")
                make_variant(base, v, "linkcurl%g-%d" % (mbps, i))
                r["curlput"].append(mbs(size, curl_put_lfs(hub, REPO, v)))
                make_variant(base, v, "linkmp%g-%d" % (mbps, i))
                mp = multipart_put_lfs(hub, REPO, v)
                r["mp"].append(mbs(size, mp) if mp else None)
                os.unlink(v)
                d = os.path.join(WORK, "hfjsup")
                os.makedirs(d, exist_ok=True)
                make_variant(base, os.path.join(d, "f.bin"), "linkhfjs%g-%d" % (mbps, i))
                r["hfup"].append(mbs(size, hfjs(hub, REPO, "upload", d, "hfjs-link-%g-%d" % (mbps, i))["seconds"]))
                shutil.rmtree(d)
            add_row("cp into persist/ (listed first) + fsync until on the Hub, through a link", tag, "MB/s", r["up"], max(rss), [
                {"name": "curl PUT (LFS URL), same link", "unit": "MB/s", "runs": r["curlput"]}] + ([
                    {"name": "multipart PUTs + completion, sequential, same link", "unit": "MB/s", "runs": r["mp"]}]
                    if any(r["mp"]) else []) + [
                {"name": "@huggingface/hub uploadFiles, same link", "unit": "MB/s", "runs": r["hfup"]}],
                target=">= 0.8x curl PUT")
            add_row("the fsync alone, through a link", tag, "s", r["fsync"], max(rss), [
                {"name": "curl PUT (LFS URL), same link", "unit": "s", "runs": [size / 1e6 / x for x in r["curlput"]]}])
    finally:
        hub.link(0)
        os.unlink(base)


def group_random(hub):
    mib = max(SIZES)
    size = mib * MIB
    name = "big-%d-0.bin" % mib
    REPO = "alice/chat-persist"
    if not any(x["row"].startswith("cp into persist/ +") and x["size"] == "%d MiB" % mib for x in ROWS):
        a = os.path.join(WORK, "a.bin")
        make_random(a, size)
        m = Mount(hub, fresh_cache())
        run(["cp", a, os.path.join(m.p, name)])
        m.sync()
        m.close()
        os.unlink(a)
    rnd = random.Random(12)
    offsets = [rnd.randrange(size // 4096) * 4096 for _ in range(NRANDOM)]
    ratio, secs, first, rssl, cr, csec = [], [], [], [], [], []
    for i in range(REPEAT):
        m = Mount(hub, fresh_cache())
        hub.stats_reset()
        fd = os.open(os.path.join(m.p, name), os.O_RDONLY)
        t0 = now()
        for k, off in enumerate(offsets):
            if len(os.pread(fd, 4096, off)) != 4096:
                error("short random read")
            if k == 0:
                first.append(now() - t0)
        secs.append(now() - t0)
        os.close(fd)
        fetched = hub.bytes_out("lfs-storage") + hub.bytes_out("resolve")
        ratio.append(fetched / (4096.0 * NRANDOM))
        rssl.append(m.rss_kb())
        m.close()
        hub.stats_reset()
        t0 = now()
        for off in offsets:
            curl_get(hub, REPO, name, "%d-%d" % (off, off + 4095))
        csec.append(now() - t0)
        cr.append(hub.bytes_out("lfs-storage") / (4096.0 * NRANDOM))
    whole = med(ratio) * 4096 * NRANDOM >= size
    add_row("random 4 KiB reads, cold file: bytes fetched per byte read", "%d MiB, %d reads" % (mib, NRANDOM),
            "x", ratio, max(rssl), note="the whole file was fetched" if whole else None, ceilings=[
                {"name": "curl ranged GETs: bytes per byte", "unit": "x", "runs": cr}],
            target="<= 64x, never the whole file")
    add_row("random 4 KiB reads, cold file: total time", "%d MiB, %d reads" % (mib, NRANDOM), "s", secs,
            max(rssl), [{"name": "first read", "unit": "s", "runs": first},
                        {"name": "curl, one ranged GET per read", "unit": "s", "runs": csec}])


# --- rows: many small files --------------------------------------------------------------------
def make_small_tree(root, n, ndirs=50, seed=7):
    r = random.Random(seed)
    for d in range(ndirs):
        os.makedirs(os.path.join(root, "d%d" % d), exist_ok=True)
    for i in range(n):
        with open(os.path.join(root, "d%d" % (i % ndirs), "f%d.txt" % i), "wb") as f:
            f.write(os.urandom(2048).hex().encode()[: r.randint(1024, 4096)])


def group_small(hub):
    REPO = "alice/chat-persist"
    src = os.path.join(WORK, "small")
    make_small_tree(src, NFILES)
    rin, rout, hin, hout, rss_in, rss_out = [], [], [], [], [], []
    for i in range(REPEAT):
        m = Mount(hub, fresh_cache())
        t0 = now()
        run(["cp", "-a", src, os.path.join(m.p, "many-%d" % i)])
        t1 = now()
        m.sync()
        t2 = now()
        rin.append(NFILES / (t2 - t0))
        rss_in.append(m.rss_kb())
        log("small run %d: cp -a %.2f s, sync %.2f s more" % (i, t1 - t0, t2 - t1))
        m.close()
        m = Mount(hub, fresh_cache())
        out = os.path.join(WORK, "small-out")
        dt, _ = timed(["cp", "-r", os.path.join(m.p, "many-%d" % i), out])
        rout.append(NFILES / dt)
        rss_out.append(m.rss_kb())
        m.close()
        # every run's copy is compared: a partial read-back (a directory skipped) is a wrong result
        if run(["diff", "-r", src, out], check=False).returncode != 0:
            error("small files read back differ")
        shutil.rmtree(out)
        j = hfjs(hub, REPO, "upload", src, "hfjs-many-%d" % i)
        if j["files"] != NFILES:
            error("hfjs uploaded %d files" % j["files"])
        hin.append(NFILES / j["seconds"])
        j = hfjs(hub, REPO, "download-tree", "hfjs-many-%d" % i, out, "8")
        if j["files"] != NFILES:
            error("hfjs downloaded %d files" % j["files"])
        hout.append(NFILES / j["seconds"])
        shutil.rmtree(out)
    add_row("small files: cp -a in + echo sync", "%d files" % NFILES, "files/s", rin, max(rss_in), [
        {"name": "@huggingface/hub uploadFiles (one call)", "unit": "files/s", "runs": hin}],
        target="ahead of @huggingface/hub")
    add_row("small files: cp -r out, empty cache", "%d files" % NFILES, "files/s", rout, max(rss_out), [
        {"name": "@huggingface/hub listFiles + downloadFile x8", "unit": "files/s", "runs": hout}],
        target="ahead of @huggingface/hub")


# --- rows: a tree of many files, with and without latency --------------------------------------
TREE_SPACE = "alice/notes"  # its persist/ is alice/notes-persist, which holds the tree


def prepare_tree(hub):
    src = os.path.join(WORK, "tree")
    make_small_tree(src, NTREE, ndirs=100, seed=9)
    hub.create_dataset("notes-persist")
    hfjs(hub, "alice/notes-persist", "upload", src, "tree")  # src stays: the local-disk ceiling


def git_env():
    """git reaching the emulator through a credential helper that reads the 0600 token file."""
    return dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="credential.helper",
                GIT_CONFIG_VALUE_0="!f() { echo username=hf_user; echo \"password=$(cat '%s')\"; }; f" % TOKEN_FILE)


def tree_rows(hub, lat):
    sfx = " (+%d ms per request)" % lat if lat else ""
    ls_cold, ls_warm, find_cold, rss, git_c, ls_local, find_local = [], [], [], [], [], [], []
    local = os.path.join(WORK, "tree")
    req = {"ls": [], "warm": [], "find": []}
    hub.latency(lat)
    try:
        for i in range(REPEAT):
            m = Mount(hub, fresh_cache(), space=TREE_SPACE)
            hub.stats_reset()
            dt, p = timed(["ls", "-lR", os.path.join(m.p, "tree")])
            req["ls"].append(hub.stats()["total"])
            n = sum(1 for line in p.stdout.splitlines() if line.startswith("-"))
            if n != NTREE:
                error("ls -lR saw %d files, not %d" % (n, NTREE))
            ls_cold.append(dt)
            hub.stats_reset()
            ls_warm.append(timed(["ls", "-lR", os.path.join(m.p, "tree")])[0])
            req["warm"].append(hub.stats()["total"])
            rss.append(m.rss_kb())
            m.close()
            m = Mount(hub, fresh_cache(), space=TREE_SPACE)
            hub.stats_reset()
            dt, p = timed(["find", os.path.join(m.p, "tree"), "-type", "f"])
            req["find"].append(hub.stats()["total"])
            if len(p.stdout.splitlines()) != NTREE:
                error("find saw %d files" % len(p.stdout.splitlines()))
            find_cold.append(dt)
            rss.append(m.rss_kb())
            m.close()
            bare = os.path.join(WORK, "tree-clone.git")
            dt, _ = timed(["sh", "-c", 'git clone -q --bare "$1" "$2" && git -C "$2" ls-tree -r -l HEAD >/dev/null',
                           "_", "%s/datasets/alice/notes-persist" % hub.url, bare], env=git_env())
            git_c.append(dt)
            shutil.rmtree(bare)
            ls_local.append(timed(["ls", "-lR", local])[0])
            find_local.append(timed(["find", local, "-type", "f"])[0])
    finally:
        hub.latency(0)
    rq = lambda k: "%d Hub requests" % med(req[k])
    gitc = {"name": "git clone --bare + ls-tree -r -l (what the mirror fetches)", "unit": "s", "runs": git_c}
    lsl = {"name": "ls -lR of the same tree on local disk", "unit": "s", "runs": ls_local}
    add_row("ls -lR, empty cache" + sfx, "%d files" % NTREE, "s", ls_cold, max(rss), [gitc, lsl], note=rq("ls"))
    add_row("ls -lR, warm" + sfx, "%d files" % NTREE, "s", ls_warm, max(rss), [lsl], note=rq("warm"))
    add_row("find -type f, empty cache" + sfx, "%d files" % NTREE, "s", find_cold, max(rss), [
        gitc, {"name": "find on local disk", "unit": "s", "runs": find_local}], note=rq("find"))


# --- rows: a namespace of many Spaces ----------------------------------------------------------
BIG_NS = "bigns"
PROXY = os.path.join(SRC, "tests", "bench", "bench_listing_proxy.py")
SPACES_QUERY = "expand=sdk&expand=private&expand=lastModified&expand=runtime&expand=subdomain&expand=sha"


class ListingProxy:
    """bench_listing_proxy.py in front of hub: serves the listing of BIG_NS (NSPACES Spaces shaped
    like hubd's answer for gradio/hello-world), forwards everything else."""

    def __init__(self, hub):
        pf = os.path.join(WORK, "proxy-port")
        self.proc = subprocess.Popen([sys.executable, PROXY, "--upstream", hub.url, "--namespace", BIG_NS,
                                      "--count", str(NSPACES), "--template-space", "gradio/hello-world",
                                      "--port-file", pf])
        _procs.append(self.proc)
        while not os.path.exists(pf):
            if self.proc.poll() is not None:
                raise RuntimeError("the listing proxy died")
            time.sleep(0.05)
        self.url = "http://127.0.0.1:%s" % open(pf).read()

    def list_all(self):
        """Every page of the listing, the query spacefs sends (client/src/spaces.c); (s, entries)."""
        t0 = now()
        url = "%s/api/spaces?author=%s&%s" % (self.url, BIG_NS, SPACES_QUERY)
        n = 0
        while url:
            r = urllib.request.Request(url)
            r.add_header("Authorization", "Bearer " + TOKEN)
            with urllib.request.urlopen(r, timeout=600) as resp:
                n += len(json.loads(resp.read()))
                link = resp.headers.get("Link") or ""
            url = link[1:link.index(">")] if 'rel="next"' in link else None
        return now() - t0, n

    def stop(self):
        self.proc.kill()
        self.proc.wait()


SPACES_READ_SPACE = "acme/dashboard"


def group_spaces(hub):
    px = ListingProxy(hub)
    h = type("H", (), {"url": px.url})()
    lsr, rss = [], []
    lat_max, lat_med, st_max, ceil = [], [], [], []
    try:
        for i in range(REPEAT):
            dt, n = px.list_all()
            if n != NSPACES:
                error("the proxy listed %d Spaces" % n)
            ceil.append(dt)
            # The read's persist/ is a Space of its own (acme/dashboard, whose Dataset holds only
            # cached.txt): alice/chat's holds what the earlier rows left (6000+ small files after
            # `small`), and its clone added 8-17 MiB to this row's peak RSS depending on which rows
            # ran before (60 MiB alone, 68 after one `small` run, 77 after the full suite).
            m = Mount(h, fresh_cache(), opts="ttl=3600", space=SPACES_READ_SPACE)
            cached = os.path.join(m.p, "cached.txt")
            with open(cached, "w") as f:
                f.write("a cached file\n")
            status = os.path.join(m.spc, "status")
            open(status).read()
            open(cached).read()
            stop = threading.Event()
            lats = {"persist": [], "status": []}

            def reader(path, key):
                while not stop.is_set():
                    t0 = now()
                    with open(path) as f:
                        f.read()
                    lats[key].append(now() - t0)
                    time.sleep(0.01)

            ths = [threading.Thread(target=reader, args=(cached, "persist")),
                   threading.Thread(target=reader, args=(status, "status"))]
            for th in ths:
                th.start()
            try:
                dt, p = timed(["ls", os.path.join(m.mnt, BIG_NS)], timeout=3600)
            finally:
                stop.set()
                for th in ths:
                    th.join()
            n = len(p.stdout.split())
            if n != NSPACES:
                error("ls listed %d Spaces, not %d" % (n, NSPACES))
            lsr.append(dt)
            lat_max.append(max(lats["persist"]))
            lat_med.append(med(lats["persist"]))
            st_max.append(max(lats["status"]))
            rss.append(m.rss_kb())
            m.close()
    finally:
        px.stop()
    add_row("ls of a namespace, empty cache", "%d Spaces" % NSPACES, "s", lsr, max(rss), [
        {"name": "every page fetched by urllib, same query", "unit": "s", "runs": ceil}],
            target="linear, bounded memory, no blocking")
    add_row("cached read of a persist/ file during that ls: slowest", "%d Spaces" % NSPACES, "s", lat_max,
            max(rss), [{"name": "median read", "unit": "s", "runs": lat_med}])
    add_row("cached read of <space>/status during that ls: slowest", "%d Spaces" % NSPACES, "s", st_max,
            max(rss), [])


# --- rows: SQLite ------------------------------------------------------------------------------
def sqlite_run(path, ntx, secs):
    """ntx small transactions (python3's sqlite3, defaults: rollback journal, synchronous=FULL),
    stopping early after secs; (transactions done, seconds)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)")
    t0 = now()
    n = 0
    while n < ntx and now() - t0 < secs:
        db.execute("BEGIN")
        db.execute("INSERT INTO t (v) VALUES (?)", ("row %d %s" % (n, "x" * 100),))
        db.execute("COMMIT")
        n += 1
    dt = now() - t0
    db.close()
    return n, dt


def group_sqlite(hub):
    tps, local, rss, done = [], [], [], []
    for i in range(SQL_REPEAT):
        m = Mount(hub, fresh_cache())
        n, dt = sqlite_run(os.path.join(m.p, "db-%d.sqlite" % i), SQL_TX, SQL_SECS)
        tps.append(n / dt)
        done.append(n)
        rss.append(m.rss_kb())
        log("sqlite run %d: %d transactions in %.1f s" % (i, n, dt))
        m.close()
        ln, ldt = sqlite_run(os.path.join(WORK, "local-%d.sqlite" % i), SQL_TX, SQL_SECS)
        local.append(ln / ldt)
    note = None
    if min(done) < SQL_TX:
        note = "stopped after %d s: %s of %d transactions done" % (SQL_SECS, "/".join(map(str, done)), SQL_TX)
    add_row("SQLite transactions through the mount (defaults)", "%d tx" % SQL_TX, "tx/s", tps, max(rss), [
        {"name": "the same on local disk", "unit": "tx/s", "runs": local}], target=">= 50 tx/s", note=note)


# --- the table ---------------------------------------------------------------------------------
def print_table():
    """Markdown; a ratio in brackets is the figure divided by that ceiling (for seconds, >1 = slower)."""
    lines = ["| row | size | figure | ceilings (same run) | peak RSS | target |", "|---|---|---|---|---|---|"]
    for r in ROWS:
        cs = []
        for c in r["ceilings"]:
            ratio = ""
            if r["unit"] == c["unit"] and r["figure"] and c["figure"] and r["unit"] != "x" and \
                    not c["name"].startswith(("median", "first")):
                ratio = " (%sx)" % fmt(r["figure"] / c["figure"])
            cs.append("%s: %s %s%s" % (c["name"], fmt(c["figure"]), c["unit"], ratio))
        rss = "%.0f MiB" % (r["rss_kb"] / 1024) if r["rss_kb"] else "-"
        fig = "%s %s" % (fmt(r["figure"]), r["unit"]) + (" (%s)" % r["note"] if r["note"] else "")
        lines.append("| %s | %s | %s | %s | %s | %s |" % (r["row"], r["size"], fig, "; ".join(cs) or "-", rss,
                                                          r["target"] or ""))
    print("\n".join(lines), flush=True)
    return lines


def write_token_files():
    """The token for spacefs and @huggingface/hub, and curl's Authorization header, in 0600 files
    under WORK (never in argv). The trace and A/B scripts call this too."""
    global TOKEN_FILE, CURL_AUTH
    TOKEN_FILE = os.path.join(WORK, "token")
    CURL_AUTH = os.path.join(WORK, "curl-auth")
    for path, text in ((TOKEN_FILE, TOKEN), (CURL_AUTH, 'header = "Authorization: Bearer %s"\n' % TOKEN)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, text.encode())
        os.close(fd)


def main():
    if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
        skip("/dev/fuse or fusermount3 missing")
    if not os.access(SPACEFS, os.X_OK) or not os.access(SHA_TOOL, os.X_OK):
        skip("spacefs or bench_sha256 not built in %s" % BUILD)
    if not shutil.which("node") or not os.path.isdir(os.path.join(SRC, "tests/js/node_modules/@huggingface/hub")):
        skip("node or tests/js/node_modules missing (./dev setup)")
    write_token_files()
    sanitized = "SPACEFS_SANITIZE:BOOL=ON" in open(os.path.join(BUILD, "CMakeCache.txt")).read()
    log("groups %s, sizes %s MiB, repeat %d, %s run%s" % (",".join(RUN), SIZES, REPEAT,
        "quick" if QUICK else "full", ", SANITIZER BUILD (figures not representative)" if sanitized else ""))
    t_start = now()
    hub = Hub("hub")
    try:
        for g in RUN:
            t = now()
            log("--- %s" % g)
            try:
                if g == "large":
                    group_large(hub)
                elif g == "random":
                    group_random(hub)
                elif g == "small":
                    group_small(hub)
                elif g == "tree":
                    prepare_tree(hub)
                    tree_rows(hub, 0)
                elif g == "latency":
                    if "tree" not in RUN:
                        prepare_tree(hub)
                    tree_rows(hub, LAT_MS)
                elif g == "spaces":
                    group_spaces(hub)
                elif g == "sqlite":
                    group_sqlite(hub)
                elif g == "link":
                    group_link(hub)
            except Exception as e:  # one broken row must not hide the others
                error("%s: %s" % (g, e))
            log("%s took %.0f s" % (g, now() - t))
    finally:
        hub.stop()
    lines = print_table()
    err = open(os.path.join(WORK, "spacefs.err")).read() if os.path.exists(os.path.join(WORK, "spacefs.err")) else ""
    for pat in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        if pat in err:
            error("sanitizer report in spacefs's output")
    if TOKEN in err:
        error("the token appears in spacefs's output")
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": QUICK, "repeat": REPEAT,
              "sizes_mib": SIZES, "groups": RUN, "sanitized": sanitized, "seconds": round(now() - t_start),
              "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                          "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                                       if l.startswith("model name")), "?")},
              "rows": ROWS, "table": lines, "errors": ERRORS}
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    with open(OUT_JSON, "w") as f:
        json.dump(result, f, indent=1)
    log("JSON: %s (%.0f s in all)" % (OUT_JSON, now() - t_start))
    print("%d passed, %d failed" % (0 if ERRORS else 1, 1 if ERRORS else 0))
    return 1 if ERRORS else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        for p in _procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["fusermount3", "-uz", os.path.join(WORK, "mnt")], capture_output=True)
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(rc)
