#!/usr/bin/env python3
"""Writer and verifier of the persist/ crash scenario (scenario_crash.sh).

  crash_writer.py write ROOT SUBDIR MANIFEST --mode fsync|close [--seed S] [--count N]
                        [--big-every K] [--rewrite-every K] [--pause-ms MS]
  crash_writer.py verify ROOT MANIFEST... [--only-done] [--no-extra SUBDIR]

The writer creates files under ROOT/SUBDIR (random sizes; every K-th a 1-3 MiB binary `.bin`,
which the Hub stores with LFS) and now and then rewrites an earlier file with O_TRUNC. Before
opening it appends "BEGIN path sha256" to the manifest, and "DONE path sha256" once close()
(mode close) or fsync() + close() (mode fsync) returned, so DONE means acknowledged. Each manifest
line is fsynced on the local disk before the next step. It stops at the first error (the mount
was killed) and prints how far it got.

The verifier checks, for every path, that ROOT holds the content of its last DONE line; a
BEGIN after it (the write the kill interrupted) may have left that version or the old one, a
path never DONE may be absent, empty, or its full new content, and nothing else. --no-extra:
files under ROOT/SUBDIR that no manifest names are failures. Prints ok/bad/missing counts and
the first problems; exit 0 when all is well.
"""
import argparse
import hashlib
import os
import random
import sys
import time

EMPTY = hashlib.sha256(b"").hexdigest()


def content(rng, i, big_every):
    if big_every and i % big_every == big_every - 1:
        n = rng.randint(1 << 20, 3 << 20)
        return ".bin", rng.randbytes(n)
    n = rng.choice([0, rng.randint(1, 200), rng.randint(200, 8000), rng.randint(8000, 300000)])
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 \n"
    unit = bytes(rng.choice(alphabet) for _ in range(min(n, 2000)))
    return ".txt", (unit * (n // 2000 + 1))[:n]


def log_line(mf, line):
    mf.write(line + "\n")
    mf.flush()
    os.fsync(mf.fileno())


def write(args):
    rng = random.Random(args.seed)
    base = os.path.join(args.root, args.subdir)
    os.makedirs(base, exist_ok=True)
    done, n_done, t0 = [], 0, time.time()
    with open(args.manifest, "a") as mf:
        for i in range(args.count):
            if args.rewrite_every and done and i % args.rewrite_every == args.rewrite_every - 1:
                rel = rng.choice(done)
                _, data = content(rng, i, 0)
            else:
                ext, data = content(rng, i, args.big_every)
                rel = "%s/%s-%04d%s" % (args.subdir, args.mode, i, ext)
            sha = hashlib.sha256(data).hexdigest()
            log_line(mf, "BEGIN %s %s" % (rel, sha))
            try:
                fd = os.open(os.path.join(args.root, rel), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    for off in range(0, len(data), 128 * 1024):
                        os.write(fd, data[off : off + 128 * 1024])
                    if args.mode == "fsync":
                        os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                print("writer %s stopped at file %d: %s" % (args.mode, i, e.strerror), flush=True)
                break
            log_line(mf, "DONE %s %s" % (rel, sha))
            n_done += 1
            if rel not in done:
                done.append(rel)
            if args.pause_ms:
                time.sleep(args.pause_ms / 1000.0)
    print("writer %s: %d acknowledged in %.1f s" % (args.mode, n_done, time.time() - t0), flush=True)
    return 0


def sha_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(args):
    expect = {}  # path -> (done sha or None, set of shas of writes begun after it)
    for m in args.manifests:
        with open(m) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 3:
                    continue  # a torn last line of a killed writer
                kind, rel, sha = parts
                done, begun = expect.get(rel, (None, set()))
                if kind == "BEGIN":
                    begun = begun | {sha}
                else:
                    done, begun = sha, set()
                expect[rel] = (done, begun)
    ok, bad, missing, problems = 0, 0, 0, []
    for rel, (done, begun) in sorted(expect.items()):
        if args.only_done and done is None:
            continue
        path = os.path.join(args.root, rel)
        try:
            got = sha_of(path)
        except FileNotFoundError:
            got = None
        except OSError as e:
            got = "error:" + (e.strerror or str(e))
        allowed = ({done} if done else {None, EMPTY}) | begun
        if got in allowed:
            ok += 1
        elif got is None:
            missing += 1
            problems.append("missing %s (expected %s)" % (rel, (done or "?")[:12]))
        else:
            bad += 1
            problems.append("bad %s: got %s expected %s" % (rel, (got or "")[:16], (done or "?")[:12]))
    if args.no_extra:
        base = os.path.join(args.root, args.no_extra)
        for dirpath, _, files in os.walk(base):
            for name in files:
                rel = os.path.relpath(os.path.join(dirpath, name), args.root)
                if rel not in expect:
                    bad += 1
                    problems.append("extra %s" % rel)
    print("ok=%d bad=%d missing=%d" % (ok, bad, missing))
    for p in problems[:8]:
        print("  " + p)
    return 0 if bad == 0 and missing == 0 else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("root")
    w.add_argument("subdir")
    w.add_argument("manifest")
    w.add_argument("--mode", choices=["fsync", "close"], required=True)
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--count", type=int, default=100000)
    w.add_argument("--big-every", type=int, default=4)
    w.add_argument("--rewrite-every", type=int, default=0)
    w.add_argument("--pause-ms", type=int, default=0)
    v = sub.add_parser("verify")
    v.add_argument("root")
    v.add_argument("manifests", nargs="+")
    v.add_argument("--only-done", action="store_true")
    v.add_argument("--no-extra", default="")
    args = ap.parse_args()
    return write(args) if args.cmd == "write" else verify(args)


if __name__ == "__main__":
    sys.exit(main())
