# The emulator's state: users, orgs and tokens from the fixture, and repositories kept as real bare
# git repositories under the state directory (metadata beside each one as JSON), so the REST API
# and git smart HTTP always agree. Everything here is shared by the route modules.

import base64
import hashlib
import json
import os
import secrets as pysecrets
import subprocess
import tempfile
import threading
import time

from .http import HubError

REPO_TYPES = ("model", "dataset", "space")
ZERO_SHA = "0" * 40

# The Hub's default .gitattributes for new repos (hub-api.md section 6); datasets add media.
_LFS_PATTERNS = (
    "*.7z *.arrow *.bin *.bz2 *.ckpt *.ftz *.gz *.h5 *.joblib *.lfs.* *.lz4 *.mds *.mlmodel *.model "
    "*.msgpack *.npy *.npz *.onnx *.ot *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar *.safetensors "
    "saved_model/**/* *.tar.* *.tar *.tflite *.tgz *.wasm *.xz *.zip *.zst *tfevents*"
).split()
_DATASET_PATTERNS = (
    "*.pcm *.sam *.raw *.aac *.flac *.mp3 *.ogg *.wav *.bmp *.gif *.png *.tiff *.jpg *.jpeg *.webp "
    "*.mp4 *.webm"
).split()


def default_gitattributes(repo_type):
    pats = _LFS_PATTERNS + (_DATASET_PATTERNS if repo_type == "dataset" else [])
    return "".join("%s filter=lfs diff=lfs merge=lfs -text\n" % p for p in pats)


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % int((ts % 1) * 1000)


def new_object_id():
    return pysecrets.token_hex(12)


class Repo:
    """One repository: a bare git dir plus a JSON metadata file. Hold .lock while changing either."""

    def __init__(self, store, rtype, ns, name):
        self.store = store
        self.type = rtype
        self.ns = ns
        self.name = name
        self.id = "%s/%s" % (ns, name)
        base = os.path.join(store.root, rtype + "s", ns)
        self.git_dir = os.path.join(base, name + ".git")
        self.meta_path = os.path.join(base, name + ".json")
        self.lock = threading.RLock()
        self.meta = {}

    # --- metadata -------------------------------------------------------------------------
    def load(self):
        with open(self.meta_path) as f:
            self.meta = json.load(f)

    def save(self):
        tmp = self.meta_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.meta, f, indent=1, sort_keys=True)
        os.replace(tmp, self.meta_path)

    @property
    def private(self):
        return bool(self.meta.get("private"))

    # --- git ------------------------------------------------------------------------------
    def git(self, *args, input=None, env=None, check=True):
        e = dict(os.environ)
        e.update({"GIT_DIR": self.git_dir, "GIT_AUTHOR_NAME": "hubd", "GIT_AUTHOR_EMAIL": "hubd@localhost",
                  "GIT_COMMITTER_NAME": "hubd", "GIT_COMMITTER_EMAIL": "hubd@localhost"})
        if env:
            e.update(env)
        p = subprocess.run(["git"] + list(args), input=input, capture_output=True, env=e)
        if check and p.returncode != 0:
            raise RuntimeError("git %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
        return p.stdout

    def resolve(self, rev):
        """Commit sha of a branch, tag, refs/... name or (prefix of a) sha; None if unknown."""
        if rev in (None, "", "HEAD"):
            rev = "main"
        for cand in (rev, "refs/heads/" + rev, "refs/tags/" + rev):
            out = self.git("rev-parse", "--verify", "-q", cand + "^{commit}", check=False).strip()
            if out:
                return out.decode()
        return None

    def branch_sha(self, branch="main"):
        out = self.git("rev-parse", "--verify", "-q", "refs/heads/" + branch, check=False).strip()
        return out.decode() if out else None

    def commit_changes(self, changes, message, branch="main", parent=None, description="",
                       author=None):
        """Write a commit on `branch` from a list of changes and move the branch atomically.

        changes: ("put", path, blob_sha) after `hash_blob`, ("delete", path), ("delete_folder", path).
        parent: expected current sha (None = whatever the branch points at). Returns the new sha.
        Raises HubError 412 when the branch moved since `parent`.
        """
        with self.lock:
            current = self.branch_sha(branch)
            if parent is not None and current != parent:
                raise HubError(412, "The branch was updated since you opened this page. "
                                    "Please refresh and try again.")
            fd, index = tempfile.mkstemp(prefix="hubd-index-")
            os.close(fd)
            os.unlink(index)
            env = {"GIT_INDEX_FILE": index}
            try:
                if current:
                    self.git("read-tree", current, env=env)
                lines = []
                for ch in changes:
                    if ch[0] == "put":
                        lines.append("100644 %s\t%s" % (ch[2], ch[1]))
                    elif ch[0] == "delete":
                        lines.append("0 %s\t%s" % (ZERO_SHA, ch[1]))
                    elif ch[0] == "delete_folder":
                        prefix = ch[1].rstrip("/") + "/"
                        listed = self.git("ls-files", "-z", "--", prefix, env=env).split(b"\0")
                        for p in listed:
                            if p:
                                lines.append("0 %s\t%s" % (ZERO_SHA, p.decode()))
                if lines:
                    self.git("update-index", "--index-info",
                             input=("\n".join(lines) + "\n").encode(), env=env)
                tree = self.git("write-tree", env=env).strip().decode()
                msg = message + ("\n\n" + description if description else "")
                cenv = {}
                if author:
                    cenv = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": author + "@users.noreply.localhost"}
                args = ["commit-tree", tree] + (["-p", current] if current else [])
                sha = self.git(*args, input=msg.encode(), env=cenv).strip().decode()
                self.git("update-ref", "refs/heads/" + branch, sha, current or ZERO_SHA)
            finally:
                if os.path.exists(index):
                    os.unlink(index)
            self.meta["lastModified"] = iso(self.store.hub.clock.now())
            self.save()
            return sha

    def hash_blob(self, data):
        """Store data as a loose git blob and return its sha1 (what `git hash-object -w` does,
        without a process per blob: the fixture and API commits write many)."""
        import zlib

        header = b"blob %d\0" % len(data)
        h = hashlib.sha1(header)
        h.update(data)
        sha = h.hexdigest()
        path = os.path.join(self.git_dir, "objects", sha[:2], sha[2:])
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            z = zlib.compressobj(1)
            tmp = "%s.tmp%d.%d" % (path, os.getpid(), threading.get_ident())
            with open(tmp, "wb") as f:
                f.write(z.compress(header))
                f.write(z.compress(data))
                f.write(z.flush())
            os.replace(tmp, path)
        return sha


def lfs_pointer(oid, size):
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (oid, size)).encode()


class RepoStore:
    """All repositories, keyed by (type, ns, name); created, found and deleted under one lock."""

    def __init__(self, hub, root):
        self.hub = hub
        self.root = os.path.join(root, "repos")
        self.lfs_root = os.path.join(root, "lfs")
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(self.lfs_root, exist_ok=True)
        self.lock = threading.RLock()
        self.repos = {}
        for rtype in REPO_TYPES:
            tdir = os.path.join(self.root, rtype + "s")
            if not os.path.isdir(tdir):
                continue
            for ns in os.listdir(tdir):
                for f in os.listdir(os.path.join(tdir, ns)):
                    if f.endswith(".json") and not f.endswith(".tmp"):
                        r = Repo(self, rtype, ns, f[:-5])
                        r.load()
                        self.repos[(rtype, ns.lower(), r.name.lower())] = r

    def get(self, rtype, ns, name):
        with self.lock:
            return self.repos.get((rtype, ns.lower(), name.lower()))

    def all(self, rtype=None):
        with self.lock:
            return [r for (t, _, _), r in sorted(self.repos.items()) if rtype in (None, t)]

    def create(self, rtype, ns, name, private=False, extra=None):
        """Create a repo with the default .gitattributes commit. Raises 409 when it exists."""
        with self.lock:
            if self.get(rtype, ns, name):
                raise HubError(409, "You already created this %s repo" % rtype,
                               headers={})
            r = Repo(self, rtype, ns, name)
            os.makedirs(os.path.dirname(r.git_dir), exist_ok=True)
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", r.git_dir], check=True,
                           capture_output=True)
            with open(os.path.join(r.git_dir, "config"), "a") as f:
                f.write("[http]\n\treceivepack = true\n")
            now = iso(self.hub.clock.now())
            r.meta = {"_id": new_object_id(), "id": r.id, "type": rtype, "private": bool(private),
                      "createdAt": now, "lastModified": now}
            r.meta.update(extra or {})
            r.save()
            self.repos[(rtype, ns.lower(), name.lower())] = r
        blob = r.hash_blob(default_gitattributes(rtype).encode())
        r.commit_changes([("put", ".gitattributes", blob)], "initial commit")
        for hook in self.hub.on_repo_created:
            hook(r)
        return r

    def delete(self, repo):
        import shutil

        with self.lock:
            self.repos.pop((repo.type, repo.ns.lower(), repo.name.lower()), None)
        shutil.rmtree(repo.git_dir, ignore_errors=True)
        try:
            os.unlink(repo.meta_path)
        except FileNotFoundError:
            pass

    # --- LFS objects (content-addressed, shared by all repos) -------------------------------
    def lfs_path(self, oid):
        return os.path.join(self.lfs_root, oid[:2], oid[2:4], oid)

    def lfs_has(self, oid):
        return os.path.exists(self.lfs_path(oid))

    def lfs_put_bytes(self, data):
        oid = hashlib.sha256(data).hexdigest()
        p = self.lfs_path(oid)
        if not os.path.exists(p):
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p + ".tmp", "wb") as f:
                f.write(data)
            os.replace(p + ".tmp", p)
        return oid


def decode_fixture_content(v):
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, dict) and "base64" in v:
        return base64.b64decode(v["base64"])
    if isinstance(v, dict) and "text" in v:
        return v["text"].encode()
    raise ValueError("fixture file content must be a string or {\"base64\": ...}")


def _gitattributes_lfs_patterns(text):
    pats = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and "filter=lfs" in parts[1:]:
            pats.append(parts[0])
    return pats


def _pattern_matches(pat, path):
    import fnmatch

    pat = pat.replace("[[:space:]]", "[ \t]")  # how the Hub writes spaces in generated lines
    if pat.endswith("/**/*"):
        return path.startswith(pat[:-4])
    if "/" in pat:
        return fnmatch.fnmatchcase(path, pat)
    return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pat)


def upload_mode(repo, path, size, sample, gitattributes=None):
    """"lfs" or "regular", the way the Hub decides (approximation in hub-api.md section 5):
    a filter=lfs pattern in .gitattributes, more than 10 MiB, or a binary sample above 1 MiB."""
    if size == 0:
        return "regular"
    if gitattributes is None:
        sha = repo.branch_sha("main")
        gitattributes = ""
        if sha:
            gitattributes = repo.git("show", sha + ":.gitattributes", check=False).decode(errors="replace")
    for pat in _gitattributes_lfs_patterns(gitattributes):
        if _pattern_matches(pat, path):
            return "lfs"
    if size > 10 * 1024 * 1024:
        return "lfs"
    if b"\0" in (sample or b"") and size > 1024 * 1024:
        return "lfs"
    return "regular"


def put_files(repo, files, message, parent=None, author=None):
    """Commit {path: bytes}: LFS-eligible content is stored as an object plus a pointer file."""
    changes = []
    sha = repo.branch_sha("main")
    attrs = repo.git("show", sha + ":.gitattributes", check=False).decode(errors="replace") if sha else ""
    for path, data in files.items():
        if upload_mode(repo, path, len(data), data[:512], attrs) == "lfs":
            oid = repo.store.lfs_put_bytes(data)
            blob = repo.hash_blob(lfs_pointer(oid, len(data)))
        else:
            blob = repo.hash_blob(data)
        changes.append(("put", path, blob))
    return repo.commit_changes(changes, message, parent=parent, author=author)
