# File routes: the tree listing, paths-info, and resolve/raw downloads under the three URL
# prefixes. Entries come straight from the bare git repo; LFS pointer blobs are recognised and
# their content is served by a redirect to a signed URL (lfs.py serves that URL).

import gzip
import os
import re
import subprocess

from .http import HubError, Response, json_response
from .repos import api_routes, paginated, resolve_rev, web_routes

POINTER_MAX = 1024
_POINTER_RX = re.compile(rb"^version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\n"
                         rb"size (\d+)\n$")
MAX_PATHS = 1000


def parse_pointer(data):
    """(oid, size) if data is a git-lfs pointer file, else None."""
    if len(data) > POINTER_MAX:
        return None
    m = _POINTER_RX.match(data)
    return (m.group(1).decode(), int(m.group(2))) if m else None


def read_blobs(repo, shas):
    """{sha: bytes} for small blobs, through one `git cat-file --batch`."""
    shas = list(dict.fromkeys(shas))
    if not shas:
        return {}
    out = repo.git("cat-file", "--batch", input=("\n".join(shas) + "\n").encode())
    res, pos = {}, 0
    for sha in shas:
        nl = out.index(b"\n", pos)
        head = out[pos:nl].split()
        size = int(head[2])
        res[sha] = out[nl + 1:nl + 1 + size]
        pos = nl + 1 + size + 1
    return res


def _ls_tree(repo, sha, args, paths):
    env = {"GIT_LITERAL_PATHSPECS": "1"}
    out = repo.git("ls-tree", "-l", "-z", *args, sha, "--", *paths, env=env)
    rows = []
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, kind, oid, size = meta.split()
        rows.append((kind.decode(), oid.decode(), 0 if size == b"-" else int(size),
                     path.decode("utf-8", "surrogateescape")))
    return rows


def _entries(repo, rows):
    small = [oid for kind, oid, size, _ in rows if kind == "blob" and size <= POINTER_MAX]
    blobs = read_blobs(repo, small)
    out = []
    for kind, oid, size, path in rows:
        if kind == "tree":
            out.append({"type": "directory", "oid": oid, "size": 0, "path": path})
        elif kind == "blob":
            e = {"type": "file", "oid": oid, "size": size, "path": path}
            ptr = parse_pointer(blobs.get(oid, b""))
            if ptr:
                e["size"] = ptr[1]
                e["lfs"] = {"oid": ptr[0], "size": ptr[1], "pointerSize": size}
            out.append(e)
    return out


def tree_entries(repo, sha, path, recursive=False):
    """Tree entries under folder `path` ("" = root) at commit sha, in git's order."""
    args = ["-r", "-t"] if recursive else []
    rows = _ls_tree(repo, sha, args, [path.rstrip("/") + "/"] if path else [])
    if recursive and path:
        prefix = path.rstrip("/") + "/"
        rows = [r for r in rows if r[3].startswith(prefix)]
    return _entries(repo, rows)


def path_entries(repo, sha, paths):
    """Entries for exactly these paths (files or folders); missing ones are left out."""
    paths = [p.strip("/") for p in paths if p.strip("/")]
    if not paths:
        return []
    rows = []
    for i in range(0, len(paths), 200):
        rows.extend(_ls_tree(repo, sha, [], paths[i:i + 200]))
    wanted = set(paths)
    return _entries(repo, [r for r in rows if r[3] in wanted])


def entry(repo, sha, path):
    e = path_entries(repo, sha, [path])
    return e[0] if e else None


def add_last_commits(repo, sha, entries):
    for e in entries:
        out = repo.git("log", "-1", "--format=%H%x00%s%x00%ct", sha, "--", e["path"],
                       env={"GIT_LITERAL_PATHSPECS": "1"}).decode("utf-8", "replace").strip()
        if out:
            cid, title, ts = out.split("\0")
            from .state import iso

            e["lastCommit"] = {"id": cid, "title": title, "date": iso(int(ts))}
        e["securityFileStatus"] = {"status": "safe"} if e["type"] == "file" else None
        if e["securityFileStatus"] is None:
            del e["securityFileStatus"]
    return entries


def parse_range(h, size):
    """(start, end) inclusive for a single `bytes=` range, None to ignore it, or 'bad' for 416."""
    m = re.match(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", h or "")
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if m.group(1):
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
    else:
        n = int(m.group(2))
        if n == 0:
            return "bad"
        start, end = max(0, size - n), size - 1
    if start >= size or end < start:
        return "bad"
    return start, min(end, size - 1)


COMPRESS_MAX = 10 << 20


def ranged(req, status_headers, size, open_at):
    """A 200/206/416 response for a body of `size` bytes; open_at(start, length) -> body."""
    h = dict(status_headers)
    h["Accept-Ranges"] = "bytes"
    r = parse_range(req.headers.get("Range"), size) if req.headers.get("Range") else None
    if r == "bad":
        h["Content-Range"] = "bytes */%d" % size
        h["X-Error-Message"] = "Requested range not satisfiable"
        return Response(416, b"", h)
    if r is None:
        h["Content-Length"] = str(size)
        return Response(200, open_at(0, size), h)
    start, end = r
    h["Content-Range"] = "bytes %d-%d/%d" % (start, end, size)
    h["Content-Length"] = str(end - start + 1)
    return Response(206, open_at(start, end - start + 1), h)


class BlobReader:
    """A git blob as a file-like object (streamed from `git cat-file`), for Response bodies."""

    def __init__(self, repo, oid, start, length):
        env = dict(os.environ, GIT_DIR=repo.git_dir)
        self.p = subprocess.Popen(["git", "cat-file", "blob", oid], stdout=subprocess.PIPE, env=env)
        self.skip = start
        self.left = length

    def read(self, n):
        while self.skip:
            d = self.p.stdout.read(min(self.skip, 1 << 20))
            if not d:
                break
            self.skip -= len(d)
        d = self.p.stdout.read(min(n, self.left)) if self.left > 0 else b""
        self.left -= len(d)
        return d

    def close(self):
        self.p.stdout.close()
        self.p.kill()
        self.p.wait()


def register(hub):
    from . import lfs

    def tree(req, rtype):
        repo = hub.repo_or_404(req, rtype, req.params["ns"], req.params["name"])
        sha = resolve_rev(repo, req.params["rev"])
        path = req.params.get("path", "").strip("/")
        if path:
            e = entry(repo, sha, path)
            if not e or e["type"] != "directory":
                raise HubError(404, "Entry not found: %s does not exist at %s" % (path, req.params["rev"]),
                               "EntryNotFound", {"X-Repo-Commit": sha})
        expand = req.flag("expand")
        items = tree_entries(repo, sha, path, recursive=req.flag("recursive"))
        resp = paginated(hub, req, items, 50 if expand else 1000, 50 if expand else 1000)
        if expand:  # only the page's entries, it is the slow part
            import json as _json

            page = _json.loads(resp.body)
            resp.body = _json.dumps(add_last_commits(repo, sha, page)).encode()
        resp.headers["X-Repo-Commit"] = sha
        return resp

    def paths_info(req, rtype):
        repo = hub.repo_or_404(req, rtype, req.params["ns"], req.params["name"])
        sha = resolve_rev(repo, req.params["rev"])
        ctype = (req.headers.get("Content-Type") or "").lower()
        if "json" in ctype:
            body = req.json()
            paths = body.get("paths") or []
            expand = bool(body.get("expand"))
        else:
            import urllib.parse

            form = urllib.parse.parse_qs(req.body().decode("utf-8", "replace"), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = (form.get("expand", ["false"])[-1]).lower() in ("1", "true")
        if isinstance(paths, str):
            paths = [paths]
        if len(paths) > MAX_PATHS:
            raise HubError(413, "too many parameters: at most %d paths per request" % MAX_PATHS)
        items = path_entries(repo, sha, paths)
        if expand:
            add_last_commits(repo, sha, items)
        return json_response(items, headers={"X-Repo-Commit": sha})

    def resolve(req, rtype, raw=False):
        repo = hub.repo_or_404(req, rtype, req.params["ns"], req.params["name"])
        sha = resolve_rev(repo, req.params["rev"])
        path = req.params["path"]
        e = entry(repo, sha, path) if path else None
        base = {"X-Repo-Commit": sha}
        if not e or e["type"] != "file":
            raise HubError(404, "Entry not found", "EntryNotFound", base)
        ptr_size = e["lfs"]["pointerSize"] if "lfs" in e else e["size"]
        if "lfs" in e and not raw and hub.repos.lfs_has(e["lfs"]["oid"]):
            oid, size = e["lfs"]["oid"], e["lfs"]["size"]
            h = dict(base)
            h.update({"ETag": '"%s"' % oid, "X-Linked-Etag": '"%s"' % oid, "X-Linked-Size": str(size),
                      "Location": lfs.signed_url(hub, req, "GET", oid, name=path.rsplit("/", 1)[-1]),
                      "Content-Type": "text/plain; charset=utf-8"})
            return Response(302, b"Found. Redirecting to the LFS object", h)
        h = dict(base)
        h["ETag"] = '"%s"' % e["oid"]
        h["Content-Type"] = "application/octet-stream"
        if "lfs" in e:
            h["X-Linked-Size"] = str(e["lfs"]["size"])
            h["X-Linked-Etag"] = '"%s"' % e["lfs"]["oid"]
        if not req.arg("noContentDisposition"):
            h["Content-Disposition"] = 'inline; filename="%s"' % path.rsplit("/", 1)[-1].replace('"', "")
        size = ptr_size
        if (hub.net.get("compress") and not req.headers.get("Range") and size <= COMPRESS_MAX
                and "gzip" in (req.headers.get("Accept-Encoding") or "").lower()):
            # a CDN in front of the Hub compresses when asked: Content-Length is then the
            # compressed size, which is why huggingface_hub's HEAD asks for identity (network.py)
            r = BlobReader(repo, e["oid"], 0, size)
            try:
                gz = gzip.compress(r.read(size), mtime=0)
            finally:
                r.close()
            h.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding",
                      "Content-Length": str(len(gz))})
            return Response(200, b"" if req.method == "HEAD" else gz, h)

        def open_at(start, length):
            if req.method == "HEAD":
                return b""
            return (BlobReader(repo, e["oid"], start, length), length)

        return ranged(req, h, size, open_at)

    api_routes(hub, "GET", "/tree/{rev}", tree)
    api_routes(hub, "GET", "/tree/{rev}/{path*}", tree)
    api_routes(hub, "POST", "/paths-info/{rev}", paths_info)
    web_routes(hub, "GET|HEAD", "/resolve/{rev}/{path*}", resolve)
    web_routes(hub, "GET|HEAD", "/raw/{rev}/{path*}", lambda req, t: resolve(req, t, raw=True))
