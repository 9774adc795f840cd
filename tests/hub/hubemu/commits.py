# Commit routes: preupload (which files go to LFS, which are ignored, what is already there) and
# the NDJSON commit (header, file, lfsFile, deletedFile, deletedFolder), with the Hub's checks:
# stale parent 412, regular files above 10 MiB 400, bad paths 422, missing entries 404, the
# per-action commit quota 429. A commit fires hub.on_git_push like a push does.

import base64
import fnmatch
import json
import re

from .http import HubError, json_response
from .repos import PREFIX, api_routes, base_url, fire_push, resolve_rev
from .state import _gitattributes_lfs_patterns, lfs_pointer, upload_mode

MAX_REGULAR = 10 * 1024 * 1024
MAX_PREUPLOAD_FILES = 256
_HEX = re.compile(r"^[0-9a-fA-F]{5,40}$")


def too_large_message(paths, ref):
    return ("Your push was rejected because it contains files larger than 10 MiB. Please use "
            "https://git-lfs.github.com/ to store large files. See also: "
            "https://hf.co/docs/hub/repositories-getting-started#terminal\n\nOffending files:\n"
            + "".join("  - %s (ref: %s)\n" % (p, ref) for p in paths))


def check_path(path):
    """422 unless path is a clean relative repo path."""
    bad = (not isinstance(path, str) or not path or path.startswith("/") or "\\" in path
           or any(ord(c) < 32 for c in path) or len(path.encode()) > 4096)
    if not bad:
        segs = path.rstrip("/").split("/")
        bad = any(s in ("", ".", "..", ".git") for s in segs)
    if bad:
        raise HubError(422, "Invalid path: %r. Paths must be relative, without '.', '..', '.git' or "
                            "empty segments, and without backslashes." % path)
    return path


def _pattern_hit(pat, path):
    pat = pat.replace("[[:space:]]", "[ \t]")
    if pat.endswith("/**/*"):
        return path.startswith(pat[:-4])
    if "/" in pat.strip("/"):
        return fnmatch.fnmatchcase(path, pat.lstrip("/"))
    return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pat.strip("/"))


def lfs_tracked(gitattributes, path):
    return any(_pattern_hit(p, path) for p in _gitattributes_lfs_patterns(gitattributes))


def attr_pattern(path):
    """A .gitattributes pattern for exactly this path (spaces as [[:space:]], as the Hub writes)."""
    return re.sub(r"([*?\[\]\\!#])", r"\\\1", path).replace(" ", "[[:space:]]")


def ignored(gitignore, path):
    hit = False
    for line in gitignore.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = line[1:] if neg else line
        if pat.endswith("/"):
            m = any(fnmatch.fnmatchcase(d, pat.strip("/")) for d in path.split("/")[:-1])
        else:
            m = _pattern_hit(pat, path)
        if m:
            hit = not neg
    return hit


def file_at(repo, sha, path):
    out = repo.git("show", "%s:%s" % (sha, path), check=False)
    return out.decode("utf-8", "replace")


def register(hub):
    from .files import path_entries

    def preupload(req, rtype):
        ns, name = req.params["ns"], req.params["name"]
        if req.flag("create_pr"):
            repo = hub.repo_or_404(req, rtype, ns, name)
        else:
            repo = hub.writable_repo(req, rtype, ns, name)
        sha = resolve_rev(repo, req.params["rev"])
        body = req.json()
        files = body.get("files")
        if not isinstance(files, list):
            raise HubError(400, '"files" must be an array')
        if len(files) > MAX_PREUPLOAD_FILES:
            raise HubError(400, "Too many files: at most %d per preupload call" % MAX_PREUPLOAD_FILES)
        attrs = body.get("gitAttributes")
        if attrs is None:
            attrs = file_at(repo, sha, ".gitattributes")
        gitignore = body.get("gitIgnore")
        if gitignore is None:
            gitignore = file_at(repo, sha, ".gitignore")
        paths = [f.get("path") for f in files]
        for p in paths:
            check_path(p)
        existing = {e["path"]: e for e in path_entries(repo, sha, paths)}
        out = []
        for f in files:
            try:
                sample = base64.b64decode(f.get("sample") or "")
                size = int(f.get("size", len(sample)))
            except (ValueError, TypeError):
                raise HubError(400, "Invalid sample or size for %s" % f.get("path"))
            item = {"path": f["path"], "uploadMode": upload_mode(repo, f["path"], size, sample, attrs),
                    "shouldIgnore": ignored(gitignore, f["path"])}
            e = existing.get(f["path"])
            if e and e["type"] == "file":
                item["oid"] = e["lfs"]["oid"] if "lfs" in e else e["oid"]
            out.append(item)
        return json_response({"files": out, "commitOid": sha})

    def parse_ndjson(raw):
        ops = []
        for n, line in enumerate(raw.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise HubError(400, "Invalid JSON on line %d of the commit payload" % n)
            if not isinstance(obj, dict) or "key" not in obj or not isinstance(obj.get("value"), dict):
                raise HubError(400, "Line %d must be an object with \"key\" and \"value\"" % n)
            ops.append((obj["key"], obj["value"]))
        if not ops or ops[0][0] != "header":
            raise HubError(400, "The first line of the commit payload must be the header")
        return ops

    def commit(req, rtype):
        repo = hub.writable_repo(req, rtype, req.params["ns"], req.params["name"])
        if req.flag("create_pr"):
            raise HubError(400, "create_pr is not supported by this emulator")
        branch = req.params["rev"]
        if branch.startswith("refs/heads/"):
            branch = branch[len("refs/heads/"):]
        current = repo.branch_sha(branch)
        if not current:
            raise HubError(404, "Invalid rev id: %s" % req.params["rev"], "RevisionNotFound")
        hub.charge(req, "commit")  # 429 "You have exceeded our hourly quotas for action: commit"
        ops = parse_ndjson(req.body())
        header = ops[0][1]
        summary = header.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise HubError(400, "The commit summary must be a non-empty string")
        description = header.get("description") or ""
        parent = header.get("parentCommit")
        if parent:
            if not isinstance(parent, str) or not _HEX.match(parent):
                raise HubError(400, "parentCommit must be a commit sha (at least 5 hex characters)")
            if not current.startswith(parent.lower()):
                raise HubError(412, "The branch was updated since you opened this page. "
                                    "Please refresh and try again.")
        ref = "refs/heads/" + branch
        changes, added, attrs_new, too_big, lfs_paths = [], set(), None, [], []
        for key, v in ops[1:]:
            if key in ("file", "lfsFile", "deletedFile", "deletedFolder"):
                check_path(v.get("path"))
            path = v.get("path")
            if key == "file":
                try:
                    if v.get("encoding", "base64") == "base64":
                        data = base64.b64decode(v.get("content") or "", validate=True)
                    else:
                        data = (v.get("content") or "").encode()
                except ValueError:
                    raise HubError(400, "Invalid base64 content for %s" % path)
                if len(data) > MAX_REGULAR:
                    too_big.append(path)
                    continue
                if path == ".gitattributes":
                    attrs_new = data.decode("utf-8", "replace")
                changes.append(("put", path, repo.hash_blob(data)))
                added.add(path)
            elif key == "lfsFile":
                oid = str(v.get("oid") or "").lower()
                if v.get("algo", "sha256") != "sha256" or not re.match(r"^[0-9a-f]{64}$", oid):
                    raise HubError(400, "lfsFile %s needs algo sha256 and a 64-hex oid" % path)
                if not hub.repos.lfs_has(oid):
                    raise HubError(400, "The LFS object %s for %s has not been uploaded: upload it through "
                                        "the LFS batch API before committing" % (oid, path))
                import os

                size = os.path.getsize(hub.repos.lfs_path(oid))
                if v.get("size") is not None and int(v["size"]) != size:
                    raise HubError(400, "Size of %s (%s) does not match the uploaded LFS object (%d)"
                                   % (path, v["size"], size))
                changes.append(("put", path, repo.hash_blob(lfs_pointer(oid, size))))
                added.add(path)
                lfs_paths.append(path)
            elif key == "deletedFile":
                e = path_entries(repo, current, [path])
                if path not in added and (not e or e[0]["type"] != "file"):
                    raise HubError(404, "A file with this name doesn't exist: %s" % path, "EntryNotFound")
                changes.append(("delete", path))
            elif key == "deletedFolder":
                e = path_entries(repo, current, [path.rstrip("/")])
                if not e or e[0]["type"] != "directory":
                    raise HubError(404, "A folder with this name doesn't exist: %s" % path, "EntryNotFound")
                changes.append(("delete_folder", path))
            elif key == "header":
                raise HubError(400, "Only one header line is allowed")
            else:
                raise HubError(400, "Unknown commit operation: %s" % key)
        if too_big:
            raise HubError(400, too_large_message(too_big, ref))
        if lfs_paths:
            attrs = attrs_new if attrs_new is not None else file_at(repo, current, ".gitattributes")
            extra = "".join("%s filter=lfs diff=lfs merge=lfs -text\n" % attr_pattern(p)
                            for p in lfs_paths if not lfs_tracked(attrs, p))
            if extra:
                if attrs and not attrs.endswith("\n"):
                    attrs += "\n"
                changes.append(("put", ".gitattributes", repo.hash_blob((attrs + extra).encode())))
        sha = repo.commit_changes(changes, summary.strip(), branch=branch, parent=current if parent else None,
                                  description=description, author=req.user["name"])
        old = repo.git("rev-parse", "-q", "--verify", sha + "^", check=False).decode().strip() or None
        fire_push(hub, repo, ref, old, sha)
        return json_response({"success": True, "commitOid": sha,
                              "commitUrl": "%s/%s%s/commit/%s" % (base_url(hub, req), PREFIX[rtype], repo.id, sha),
                              "hookOutput": ""})

    api_routes(hub, "POST", "/preupload/{rev}", preupload)
    api_routes(hub, "POST", "/commit/{rev}", commit)
