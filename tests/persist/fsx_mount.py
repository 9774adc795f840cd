#!/usr/bin/env python3
"""A seeded random-operation differential checker for persist/ (scenario_fsx.sh), in the spirit
of fsx (random reads, writes at random offsets, truncates that grow and shrink, close/reopen,
mmap reads, fsync) widened to the namespace (create, rename, unlink, mkdir, rmdir, listing).

  fsx_mount.py run A B --seed S --ops N [--phase K] [--fsync-permille P] [--full-every K] [--posix]
  fsx_mount.py compare A B [--files-only]

`run` applies the same operation to directory A (under persist/) and to directory B (a local
model on an ordinary filesystem): both must succeed alike or fail with the same errno, reads must
return the same bytes. After every operation the paths it touched are compared (type, size,
content, parent listing); every --full-every operations the whole trees. The first divergence
stops the run and prints the seed, the operation number and the last operations (rerun with
FSX_SEED=S). Phase K uses its own stream of random numbers derived from the seed, so a run split
by a remount is reproducible. A file is closed before a rename/unlink/rmdir touches it (open-
unlinked files are not part of this checker unless --posix). `compare` compares two trees;
--files-only drops directories that hold no file (Git stores none, so a mount from an empty cache
has none).

--posix (tests/posix/test_fsx_posix.sh, issue 11) mixes in what the POSIX suite checks one case
at a time: files unlinked or renamed over while open (their handles keep reading, writing,
ftruncating, fstat'ing, fchmod'ing and futimens'ing the orphaned content, compared with the
model's), renames that keep handles open (a handle follows its file, also below a renamed
directory), renameat2 with RENAME_NOREPLACE (compared) and RENAME_EXCHANGE / RENAME_WHITEOUT
(persist/ refuses them with EINVAL and nothing changes; the model is not asked), fstat through
handles (size, link count), chmod/fchmod (modes compared when the mount keeps them), utimensat/
futimens with explicit times (mtime compared), inode numbers across renames (the same file keeps
its number on both sides) and directory link counts (compared with the model's).
"""
import ctypes
import argparse
import errno
import mmap
import os
import random
import sys
import time

DIRS = ["d0", "d1", "d0/e0", "d0/e1", "d1/e0", "d0/e0/g"]
FILES = ["f0", "f1", "f2"] + ["%s/f%d" % (d, k) for d in DIRS for k in range(3)]
MAX_OFF = 512 * 1024
MAX_LEN = 64 * 1024


class Divergence(Exception):
    pass


_libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4


def renameat2(a, b, flags):
    if _libc.renameat2(-100, a.encode(), -100, b.encode(), ctypes.c_uint(flags)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def outcome(fn, *a):
    try:
        return ("ok", fn(*a))
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, str(e.errno)))


def tree(root, files_only=False):
    """{relpath: ('d', None) | ('f', bytes)} of everything below root."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirs:
            out[os.path.normpath(os.path.join(rel, d))] = ("d", None)
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                out[os.path.normpath(os.path.join(rel, f))] = ("f", fh.read())
    if files_only:
        keep = set()
        for p, (t, _) in out.items():
            if t == "f":
                parts = p.split("/")
                for i in range(1, len(parts)):
                    keep.add("/".join(parts[:i]))
        out = {p: v for p, v in out.items() if v[0] == "f" or p in keep}
    return out


def diff_trees(ta, tb):
    problems = []
    for p in sorted(set(ta) | set(tb)):
        a, b = ta.get(p), tb.get(p)
        if a is None or b is None:
            problems.append("%s only in %s" % (p, "A (persist)" if b is None else "B (model)"))
        elif a[0] != b[0]:
            problems.append("%s is %s in A, %s in B" % (p, a[0], b[0]))
        elif a[0] == "f" and a[1] != b[1]:
            first = next((i for i in range(min(len(a[1]), len(b[1]))) if a[1][i] != b[1][i]), None)
            problems.append("%s differs: sizes %d/%d, first differing byte %s" % (p, len(a[1]), len(b[1]), first))
    return problems


class Checker:
    def __init__(self, a, b, seed, phase, fsync_permille, full_every, posix=False):
        self.root = {"A": a, "B": b}
        self.posix = posix
        self.orphans = []  # {"A": fd, "B": fd, "was": rel}: unlinked or replaced while open
        self.modes = posix and self.probe_modes()
        self.rng = random.Random("%d:%d" % (seed, phase))
        self.seed = seed
        self.fds = {}  # rel -> {"A": fd, "B": fd}
        self.log = []
        self.fsync_permille = fsync_permille
        self.full_every = full_every
        self.counts = {}
        self.fsync_ms = []

    # ---- helpers ---------------------------------------------------------------------------
    def both(self, fn, *rels, extra=()):
        """Runs fn(side, *absolute paths, *extra) on both sides; returns the common outcome."""
        res = {}
        for s in ("A", "B"):
            paths = [os.path.join(self.root[s], r) for r in rels]
            res[s] = outcome(fn, s, *paths, *extra)
        if res["A"] != res["B"]:
            ra = res["A"] if not isinstance(res["A"][1], bytes) else ("ok", "%d bytes" % len(res["A"][1]))
            rb = res["B"] if not isinstance(res["B"][1], bytes) else ("ok", "%d bytes" % len(res["B"][1]))
            raise Divergence("outcome differs: persist %s, model %s" % (ra, rb))
        return res["A"]

    def pick_file(self):
        return self.rng.choice(FILES if self.rng.random() < 0.95 else DIRS)

    def pick_dir(self):
        return self.rng.choice(DIRS if self.rng.random() < 0.95 else FILES)

    def close_under(self, rel):
        for r in list(self.fds):
            if r == rel or r.startswith(rel + "/"):
                self.close_fd(r)

    def probe_modes(self):
        p = os.path.join(self.root["A"], ".fsx-probe")
        with open(p, "wb"):
            pass
        os.chmod(p, 0o600)
        kept = (os.stat(p).st_mode & 0o777) == 0o600
        os.unlink(p)
        return kept

    def orphan_under(self, rel):
        """--posix: the handles of rel (and below it) outlive its name: orphans."""
        for r in list(self.fds):
            if r == rel or r.startswith(rel + "/"):
                fds = self.fds.pop(r)
                fds["was"] = r
                self.orphans.append(fds)

    def follow(self, src, dst):
        """--posix: handles below src follow a rename to dst (orphans' directories too)."""
        for r in list(self.fds):
            if r == src or r.startswith(src + "/"):
                self.fds[dst + r[len(src):]] = self.fds.pop(r)
        for o in self.orphans:
            if o["was"].startswith(src + "/"):
                o["was"] = dst + o["was"][len(src):]

    def close_orphans_under(self, rel):
        """Before a directory goes away: libfuse has no path left for an orphan inside a removed
        directory, so fstat/fchmod/futimens on it fail with ESTALE (docs/filesystem.md)."""
        for i in reversed(range(len(self.orphans))):
            if self.orphans[i]["was"].startswith(rel + "/"):
                self.close_orphan(i)

    def close_orphan(self, i):
        fds = self.orphans.pop(i)
        res = {s: outcome(os.close, fds[s]) for s in ("A", "B")}
        if res["A"] != res["B"]:
            raise Divergence("close(orphan of %s) differs: persist %s, model %s" % (fds["was"], res["A"], res["B"]))

    def same_stat(self, what, sa, sb, nlink=True):
        """Compares what persist/ and the model agree on: type, size, link counts (files: 1 or
        0 when orphaned; directories: 2 + subdirectories), mode bits when kept."""
        if sa[0] != sb[0] or (sa[0] == "err" and sa != sb):
            raise Divergence("%s: persist %s, model %s" % (what, sa, sb))
        if sa[0] == "err":
            return
        a, b = sa[1], sb[1]
        keys = ["st_size"] if not (a.st_mode & 0o170000 == 0o040000) else []
        if nlink:
            keys.append("st_nlink")
        for k in keys:
            if getattr(a, k) != getattr(b, k):
                raise Divergence("%s: %s persist %d, model %d" % (what, k, getattr(a, k), getattr(b, k)))
        if (a.st_mode & 0o170000) != (b.st_mode & 0o170000):
            raise Divergence("%s: type persist %o, model %o" % (what, a.st_mode, b.st_mode))
        if self.modes and (a.st_mode & 0o7777) != (b.st_mode & 0o7777):
            raise Divergence("%s: mode persist %o, model %o" % (what, a.st_mode & 0o7777, b.st_mode & 0o7777))

    def close_fd(self, rel):
        fds = self.fds.pop(rel)
        res = {s: outcome(os.close, fds[s]) for s in ("A", "B")}
        if res["A"] != res["B"]:
            raise Divergence("close(%s) differs: persist %s, model %s" % (rel, res["A"], res["B"]))

    def fd(self, rel, create):
        """The open O_RDWR fds of rel (opened on demand); raises Divergence, returns None on a
        common error."""
        if rel in self.fds:
            return self.fds[rel]
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        got = {}
        for s in ("A", "B"):
            got[s] = outcome(os.open, os.path.join(self.root[s], rel), flags, 0o644)
        if got["A"][0] != got["B"][0] or (got["A"][0] == "err" and got["A"] != got["B"]):
            for s in ("A", "B"):
                if got[s][0] == "ok":
                    os.close(got[s][1])
            raise Divergence("open(%s) differs: persist %s, model %s" % (rel, got["A"], got["B"]))
        if got["A"][0] == "err":
            return None
        self.fds[rel] = {"A": got["A"][1], "B": got["B"][1]}
        return self.fds[rel]

    def check_paths(self, rels):
        for rel in rels:
            for r in {rel, os.path.dirname(rel)}:
                pa, pb = os.path.join(self.root["A"], r), os.path.join(self.root["B"], r)
                sa, sb = outcome(os.stat, pa), outcome(os.stat, pb)
                if sa[0] != sb[0] or (sa[0] == "err" and sa != sb):
                    raise Divergence("stat(%s): persist %s, model %s" % (r or ".", sa, sb))
                if sa[0] == "err":
                    continue
                if self.posix:
                    self.same_stat("stat(%s)" % (r or "."), sa, sb, nlink=bool(r))
                da, db = os.path.isdir(pa), os.path.isdir(pb)
                if da != db:
                    raise Divergence("%s is a directory on one side only" % r)
                if da:
                    la, lb = sorted(os.listdir(pa)), sorted(os.listdir(pb))
                    if la != lb:
                        raise Divergence("listing of %s: persist %s, model %s" % (r or ".", la, lb))
                else:
                    if sa[1].st_size != sb[1].st_size:
                        raise Divergence("size of %s: persist %d, model %d" % (r, sa[1].st_size, sb[1].st_size))
                    with open(pa, "rb") as fa, open(pb, "rb") as fb:
                        ca, cb = fa.read(), fb.read()
                    if ca != cb:
                        raise Divergence(diff_trees({r: ("f", ca)}, {r: ("f", cb)})[0])

    def check_all(self):
        problems = diff_trees(tree(self.root["A"]), tree(self.root["B"]))
        if problems:
            raise Divergence("trees differ: " + "; ".join(problems[:5]))

    # ---- operations ------------------------------------------------------------------------
    def op_write(self):
        rel = self.pick_file()
        off = self.rng.randrange(0, MAX_OFF)
        data = self.rng.randbytes(self.rng.randint(1, MAX_LEN))
        self.log.append("write %s off=%d len=%d" % (rel, off, len(data)))
        fds = self.fd(rel, create=True)
        if fds is not None:
            self.both(lambda s, d: os.pwrite(fds[s], d, off), extra=(data,))
        return [rel]

    def op_read(self):
        rel = self.pick_file()
        off, n = self.rng.randrange(0, MAX_OFF + MAX_LEN), self.rng.randint(1, 2 * MAX_LEN)
        self.log.append("read %s off=%d len=%d" % (rel, off, n))
        fds = self.fd(rel, create=False)
        if fds is not None:
            self.both(lambda s: os.pread(fds[s], n, off))
        return []

    def op_mapread(self):
        rel = self.pick_file()
        self.log.append("mapread %s" % rel)
        if rel in self.fds:
            self.close_fd(rel)  # reads what close() published, through the page cache
        # MAP_PRIVATE: persist/ files are direct_io, and libfuse < 3.16 cannot allow shared
        # mappings of those (scenario_tools.sh checks MAP_SHARED on its own).

        frac = self.rng.random()

        def mapread(s, p):
            with open(p, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    return b""
                with mmap.mmap(f.fileno(), size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ) as m:
                    off = int(frac * size)
                    return m[off : off + MAX_LEN]

        self.both(mapread, rel)
        return []

    def op_truncate(self):
        rel = self.pick_file()
        size = self.rng.choice([0, self.rng.randrange(0, MAX_OFF + MAX_LEN)])
        if rel in self.fds and self.rng.random() < 0.5:
            self.log.append("ftruncate %s %d" % (rel, size))
            fds = self.fds[rel]
            self.both(lambda s: os.ftruncate(fds[s], size))
        else:
            self.log.append("truncate %s %d" % (rel, size))
            self.both(lambda s, p: os.truncate(p, size), rel)
        return [rel]

    def op_create(self):
        rel = self.pick_file()
        data = self.rng.randbytes(self.rng.choice([0, self.rng.randint(1, 4096), self.rng.randint(4096, 300000)]))
        excl = self.rng.random() < 0.2
        self.log.append("create%s %s len=%d" % (" excl" if excl else "", rel, len(data)))
        if rel in self.fds:
            self.close_fd(rel)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if excl else os.O_TRUNC)

        def create(s, p):
            fd = os.open(p, flags, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

        self.both(create, rel)
        return [rel]

    def op_append(self):
        rel = self.pick_file()
        data = self.rng.randbytes(self.rng.randint(1, 8192))
        self.log.append("append %s len=%d" % (rel, len(data)))
        if rel in self.fds:
            self.close_fd(rel)

        def append(s, p):
            fd = os.open(p, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

        self.both(append, rel)
        return [rel]

    def op_close(self):
        if not self.fds:
            return []
        rel = self.rng.choice(sorted(self.fds))
        self.log.append("close %s" % rel)
        self.close_fd(rel)
        return [rel]

    def op_rename(self):
        dirop = self.rng.random() < 0.3
        src = self.pick_dir() if dirop else self.pick_file()
        dst = self.pick_dir() if dirop else self.pick_file()
        self.log.append("rename %s %s" % (src, dst))
        if not self.posix:
            self.close_under(src)
            self.close_under(dst)
            self.both(lambda s, a, b: os.rename(a, b), src, dst)
            return [src, dst]
        # handles stay open: src's follow the file, dst's (a file replaced) become orphans
        self.close_orphans_under(dst)
        ino = {s: outcome(os.stat, os.path.join(self.root[s], src)) for s in ("A", "B")}
        res = self.both(lambda s, a, b: os.rename(a, b), src, dst)
        if res[0] == "ok" and src != dst:
            self.orphan_under(dst)
            self.follow(src, dst)
            for s in ("A", "B"):
                after = os.stat(os.path.join(self.root[s], dst)).st_ino
                if ino[s][0] == "ok" and after != ino[s][1].st_ino:
                    raise Divergence("rename %s %s: the inode number changed on %s" % (src, dst, s))
        return [src, dst]

    def op_rename2(self):
        """--posix: renameat2 with a flag."""
        src, dst = self.pick_file(), self.pick_file()
        flag = self.rng.choice([RENAME_NOREPLACE, RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT])
        self.log.append("renameat2 %s %s flag=%d" % (src, dst, flag))
        if flag == RENAME_NOREPLACE:
            res = self.both(lambda s, a, b: renameat2(a, b, flag), src, dst)
            if res[0] == "ok" and src != dst:
                self.follow(src, dst)
            return [src, dst]
        isfile = lambda r: os.path.isfile(os.path.join(self.root["B"], r))
        isdir = lambda r: os.path.isdir(os.path.join(self.root["B"], r))
        if (not isfile(src) or (flag == RENAME_EXCHANGE and not isfile(dst)) or src == dst or
                not isdir(os.path.dirname(dst) or ".") or isdir(dst)):
            return []  # the kernel answers those before persist/ sees them
        if flag == RENAME_WHITEOUT:
            # libfuse 3.14 hides an open target (renames it to .fuse_hidden*) before it passes
            # the call on, so the refused WHITEOUT still unlinks an open target's name
            # (docs/filesystem.md): not what this checker is after
            self.close_under(dst)
        got = outcome(renameat2, os.path.join(self.root["A"], src), os.path.join(self.root["A"], dst), flag)
        if got != ("err", "EINVAL"):
            raise Divergence("renameat2 flag %d: persist %s, expected EINVAL" % (flag, got))
        return [src, dst]

    def op_unlink_open(self):
        """--posix: unlink a file that is open (opened here if it is not)."""
        rel = self.pick_file()
        self.log.append("unlink-open %s" % rel)
        self.fd(rel, create=False)
        res = self.both(lambda s, p: os.unlink(p), rel)
        if res[0] == "ok":
            self.orphan_under(rel)
        return [rel]

    def op_orphan(self):
        """--posix: an operation through the handle of an unlinked or replaced file."""
        if not self.orphans:
            return []
        i = self.rng.randrange(len(self.orphans))
        fds = self.orphans[i]
        what = self.rng.choice(["write", "read", "ftruncate", "fstat", "fchmod", "futimens", "close"])
        self.log.append("orphan(%s) %s" % (fds["was"], what))
        if what == "close":
            self.close_orphan(i)
        elif what == "write":
            off, data = self.rng.randrange(0, MAX_OFF), self.rng.randbytes(self.rng.randint(1, 8192))
            self.both(lambda s, d: os.pwrite(fds[s], d, off), extra=(data,))
        elif what == "read":
            off, n = self.rng.randrange(0, MAX_OFF), self.rng.randint(1, MAX_LEN)
            self.both(lambda s: os.pread(fds[s], n, off))
        elif what == "ftruncate":
            size = self.rng.randrange(0, MAX_OFF)
            self.both(lambda s: os.ftruncate(fds[s], size))
        elif what == "fchmod":
            mode = self.rng.choice([0o600, 0o644, 0o755])
            self.both(lambda s: os.fchmod(fds[s], mode))
        elif what == "futimens":
            t = self.rng.randrange(1000000000, 1700000000)
            self.both(lambda s: os.utime(fds[s], (t, t)))
            if int(os.fstat(fds["A"]).st_mtime) != t:
                raise Divergence("futimens on an orphan: mtime %d, set %d" % (os.fstat(fds["A"]).st_mtime, t))
        if what != "close":
            self.same_stat("fstat(orphan of %s)" % fds["was"], outcome(os.fstat, fds["A"]), outcome(os.fstat, fds["B"]))
        return []

    def op_fstat(self):
        """--posix: fstat through an open handle."""
        if not self.fds:
            return []
        rel = self.rng.choice(sorted(self.fds))
        self.log.append("fstat %s" % rel)
        fds = self.fds[rel]
        self.same_stat("fstat(%s)" % rel, outcome(os.fstat, fds["A"]), outcome(os.fstat, fds["B"]))
        return []

    def op_meta(self):
        """--posix: chmod or utimensat by path (files and directories)."""
        rel = self.pick_file() if self.rng.random() < 0.7 else self.pick_dir()
        if self.rng.random() < 0.5:
            mode = self.rng.choice([0o600, 0o640, 0o644, 0o700, 0o755])
            if self.rng.random() < 0.2 and rel in self.fds:
                self.log.append("fchmod %s %o" % (rel, mode))
                fds = self.fds[rel]
                self.both(lambda s: os.fchmod(fds[s], mode))
            else:
                if mode & 0o700 != 0o700 and not os.path.isfile(os.path.join(self.root["B"], rel)):
                    mode |= 0o700  # a directory we could not enter any more is not the point
                self.log.append("chmod %s %o" % (rel, mode))
                self.both(lambda s, p: os.chmod(p, mode), rel)
        else:
            t = self.rng.randrange(1000000000, 1700000000)
            self.log.append("utime %s %d" % (rel, t))
            res = self.both(lambda s, p: os.utime(p, (t, t)), rel)
            pa = os.path.join(self.root["A"], rel)
            if res[0] == "ok" and os.path.isfile(pa) and int(os.stat(pa).st_mtime) != t:
                raise Divergence("utime %s: mtime %d, set %d" % (rel, os.stat(pa).st_mtime, t))
        return [rel]

    def op_unlink(self):
        rel = self.pick_file()
        self.log.append("unlink %s" % rel)
        self.close_under(rel)
        self.both(lambda s, p: os.unlink(p), rel)
        return [rel]


    def op_mkdir(self):
        rel = self.pick_dir()
        self.log.append("mkdir %s" % rel)
        self.both(lambda s, p: os.mkdir(p), rel)
        return [rel]

    def op_rmdir(self):
        rel = self.pick_dir()
        self.log.append("rmdir %s" % rel)
        self.close_under(rel)
        self.close_orphans_under(rel)
        self.both(lambda s, p: os.rmdir(p), rel)
        return [rel]

    def op_fsync(self):
        if not self.fds:
            return []
        rel = self.rng.choice(sorted(self.fds))
        self.log.append("fsync %s" % rel)
        fds = self.fds[rel]
        t = time.time()
        self.both(lambda s: os.fsync(fds[s]))
        self.fsync_ms.append((time.time() - t) * 1000)
        return [rel]

    OPS = [("write", 26), ("read", 14), ("mapread", 3), ("truncate", 8), ("create", 8),
           ("append", 4), ("close", 10), ("rename", 8), ("unlink", 5), ("mkdir", 6), ("rmdir", 5)]

    POSIX_OPS = [("rename2", 3), ("unlink_open", 4), ("orphan", 10), ("fstat", 4), ("meta", 6)]

    def run(self, nops):
        names = [n for n, w in self.OPS + (self.POSIX_OPS if self.posix else []) for _ in range(w)]
        i = 0
        try:
            for i in range(nops):
                if self.fds and self.rng.randrange(1000) < self.fsync_permille:
                    name = "fsync"
                else:
                    name = self.rng.choice(names)
                self.counts[name] = self.counts.get(name, 0) + 1
                touched = getattr(self, "op_" + name)()
                self.check_paths(touched)
                if (i + 1) % self.full_every == 0:
                    self.check_all()
            for rel in list(self.fds):
                self.close_fd(rel)
            while self.orphans:
                self.close_orphan(0)
            self.check_all()
        except Divergence as e:
            print("FSX DIVERGENCE at operation %d: %s" % (i, e))
            print("FSX_SEED=%d (rerun with FSX_SEED=%d); last operations:" % (self.seed, self.seed))
            for line in self.log[-15:]:
                print("   " + line)
            return 1
        return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("a")
    r.add_argument("b")
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--ops", type=int, default=2000)
    r.add_argument("--phase", type=int, default=1)
    r.add_argument("--fsync-permille", type=int, default=2)
    r.add_argument("--full-every", type=int, default=50)
    r.add_argument("--posix", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--files-only", action="store_true")
    args = ap.parse_args()
    if args.cmd == "compare":
        problems = diff_trees(tree(args.a, args.files_only), tree(args.b, args.files_only))
        for p in problems[:10]:
            print("  " + p)
        n = len(tree(args.b, args.files_only))
        print("compare: %d entries, %d differences" % (n, len(problems)))
        return 1 if problems else 0
    for d in (args.a, args.b):
        os.makedirs(d, exist_ok=True)
    ck = Checker(args.a, args.b, args.seed, args.phase, args.fsync_permille, args.full_every, args.posix)
    t = time.time()
    rc = ck.run(args.ops)
    fs = ck.fsync_ms
    print("fsx phase %d seed %d: %d operations in %.1f s (%s)%s" % (
        args.phase, args.seed, args.ops, time.time() - t,
        " ".join("%s=%d" % kv for kv in sorted(ck.counts.items())),
        "; fsync max %.0f ms" % max(fs) if fs else ""))
    return rc


if __name__ == "__main__":
    sys.exit(main())
