# Repository routes: create, delete, settings, refs, commit history, dataset/model info and
# listings. Also the helpers the other repo modules share: per-type route registration, web
# URLs, revision resolution and Link pagination.

import base64
import html
import re
import urllib.parse

from .http import HubError, Response, json_response
from .state import REPO_TYPES, iso

PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
SDKS = ("gradio", "docker", "static", "streamlit")
PAID_SDKS = ("gradio", "docker")
_NAME_RX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_BAD_REV = re.compile(r"(^-)|[:~^\\\s]|\.\.|@\{")


# --- helpers shared by the repo modules ---------------------------------------------------------
def api_routes(hub, method, suffix, func, types=REPO_TYPES):
    """Register /api/{type}s/{ns}/{name}<suffix> for each type; func(req, rtype)."""
    for t in types:
        hub.router.add(method, "/api/%ss/{ns}/{name}%s" % (t, suffix),
                       lambda req, t=t: func(req, t), "%s /api/%ss/{ns}/{name}%s" % (method, t, suffix))


def web_routes(hub, method, suffix, func, types=REPO_TYPES):
    """Register /{prefix}{ns}/{name}<suffix> (git, resolve URLs); func(req, rtype)."""
    for t in ("dataset", "space", "model"):  # prefixed ones first
        if t in types:
            hub.router.add(method, "/%s{ns}/{name}%s" % (PREFIX[t], suffix),
                           lambda req, t=t: func(req, t), "%s /%s{ns}/{name}%s" % (method, PREFIX[t], suffix))


def base_url(hub, req):
    return hub.base_url or req.base_url()


def web_url(hub, req, repo):
    return "%s/%s%s" % (base_url(hub, req), PREFIX[repo.type], repo.id)


def resolve_rev(repo, rev):
    """(commit sha) of a revision or the Hub's 404 RevisionNotFound."""
    rev = rev or "main"
    sha = None
    if not _BAD_REV.search(rev):
        sha = repo.resolve(rev)
    if not sha:
        raise HubError(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
    return sha


def page_bounds(req, default_size, max_size=1000):
    """(start, size) from ?cursor= (opaque) and ?limit=; bad cursors are a 400."""
    try:
        size = int(req.arg("limit") or default_size)
    except ValueError:
        raise HubError(400, "Invalid limit")
    size = max(1, min(size, max_size))
    start = 0
    cur = req.arg("cursor")
    if cur:
        try:
            start = int(base64.urlsafe_b64decode(cur + "=" * (-len(cur) % 4)).decode().split(":", 1)[1])
        except Exception:
            raise HubError(400, "Invalid cursor")
    return start, size


def paginated(hub, req, items, default_size, max_size=1000, total=False):
    """A JSON array page of items with the Hub's Link: <absolute>; rel="next" when more remain."""
    start, size = page_bounds(req, default_size, max_size)
    page = items[start:start + size]
    headers = {}
    if start + size < len(items):
        q = [(k, v) for k, v in urllib.parse.parse_qsl(req.query_string, keep_blank_values=True)
             if k != "cursor"]
        cur = base64.urlsafe_b64encode(("o:%d" % (start + size)).encode()).decode().rstrip("=")
        q.append(("cursor", cur))
        headers["Link"] = '<%s%s?%s>; rel="next"' % (base_url(hub, req), req.raw_path,
                                                    urllib.parse.urlencode(q))
    if total:
        headers["X-Total-Count"] = str(len(items))
    return json_response(page, headers=headers)


def fire_push(hub, repo, ref, old, new):
    for hook in hub.on_git_push:
        hook(repo, ref, old, new)


def bool_arg(v):
    if isinstance(v, bool):
        return v
    return str(v).lower() in ("1", "true", "yes")


# --- siblings / info ----------------------------------------------------------------------------
def siblings(repo, sha, blobs=False):
    """[{rfilename}] for every file at sha; with blobs, size, blobId and lfs{size, sha256, pointerSize}."""
    from .files import tree_entries

    out = []
    for e in tree_entries(repo, sha, "", recursive=True):
        if e["type"] != "file":
            continue
        s = {"rfilename": e["path"]}
        if blobs:
            s["size"] = e["size"]
            s["blobId"] = e["oid"]
            if "lfs" in e:
                s["lfs"] = {"size": e["lfs"]["size"], "sha256": e["lfs"]["oid"],
                            "pointerSize": e["lfs"]["pointerSize"]}
        out.append(s)
    return out


_INFO_KEYS = ("author", "sha", "lastModified", "createdAt", "private", "gated", "disabled", "downloads",
              "likes", "tags", "siblings", "usedStorage", "cardData")


def repo_info(hub, req, repo, sha=None, with_siblings=True, blobs=False):
    sha = sha or repo.branch_sha("main")
    m = repo.meta
    info = {"_id": m.get("_id"), "id": repo.id, "author": repo.ns, "sha": sha,
            "lastModified": m.get("lastModified"), "createdAt": m.get("createdAt"),
            "private": repo.private, "gated": m.get("gated", False), "disabled": False,
            "downloads": 0, "likes": 0, "tags": list(m.get("tags", []))}
    if with_siblings:
        info["siblings"] = siblings(repo, sha, blobs)
        if blobs:
            info["usedStorage"] = sum(s.get("size", 0) for s in info["siblings"])
    expand = req.args("expand", "expand[]")
    if expand:
        bad = [e for e in expand if e not in _INFO_KEYS + ("xetEnabled",)]
        if bad:
            raise HubError(400, '"expand" must be one of [%s]' % ", ".join(_INFO_KEYS))
        if "siblings" in expand and "siblings" not in info:
            info["siblings"] = siblings(repo, sha, blobs)
        if "usedStorage" in expand:
            info["usedStorage"] = sum(s.get("size", 0) for s in siblings(repo, sha, True))
        keep = {"_id", "id"} | set(expand)
        info = {k: v for k, v in info.items() if k in keep}
        if "xetEnabled" in expand:
            info["xetEnabled"] = False
    return info


# --- routes ------------------------------------------------------------------------------------
def register(hub):
    def namespace_of(req, body):
        org = body.get("organization")
        return org if org else req.user["name"]

    def create(req):
        hub.require_auth(req)
        body = req.json()
        name = body.get("name") or ""
        rtype = body.get("type") or "model"
        if rtype not in REPO_TYPES:
            raise HubError(400, "Invalid repo type: %s" % rtype)
        if "/" in name and not body.get("organization"):  # "ns/name" in name (old clients)
            body["organization"], name = name.split("/", 1)
        ns = namespace_of(req, body)
        if not _NAME_RX.match(name) or "--" in name or ".." in name or name.endswith(".git"):
            raise HubError(400, "Invalid repo name: %s. Repo names may contain letters, digits, '-', '_' "
                                "and '.', must not contain '--' or '..', and are at most 96 characters." % name)
        if ns not in hub.users and ns not in hub.orgs:
            raise HubError(404, "Namespace not found: %s" % ns)
        if not hub.can_write(req, ns):
            raise HubError(403, "You don't have the rights to create a %s under the namespace \"%s\""
                           % (rtype, ns))
        vis = body.get("visibility")
        if vis is not None and vis not in ("public", "private", "protected"):
            raise HubError(400, "visibility must be one of public, private, protected")
        private = vis in ("private", "protected") if vis is not None else bool(body.get("private"))
        extra = {}
        if vis == "protected":
            extra["protected"] = True
        if rtype == "space":
            sdk = body.get("sdk")
            if not sdk:
                raise HubError(400, "Missing sdk: a Space needs one of %s" % ", ".join(SDKS))
            if sdk not in SDKS:
                raise HubError(400, "Invalid sdk: %s, expected one of %s" % (sdk, ", ".join(SDKS)))
            owner = hub.users.get(ns) or hub.orgs.get(ns) or {}
            if sdk in PAID_SDKS and owner.get("paymentRequired"):
                raise HubError(402, "Static Spaces are free for everyone, but hosting Gradio and Docker "
                                    "Spaces on free cpu-basic requires a PRO subscription. "
                                    "Subscribe at https://huggingface.co/pro")
            extra["sdk"] = sdk
            for k_in, k_out in (("hardware", "hardware"), ("sleepTimeSeconds", "sleepTime"),
                                ("storageTier", "storage")):
                if body.get(k_in) is not None:
                    extra[k_out] = body[k_in]
            for k in ("secrets", "variables"):
                if body.get(k):
                    extra[k] = {x["key"]: x.get("value", "") for x in body[k]}
        existing = hub.repos.get(rtype, ns, name)
        url = "%s/%s%s/%s" % (base_url(hub, req), PREFIX[rtype], ns, name)
        if existing:
            if not hub.can_read(req, existing):
                raise HubError(409, "You already created this %s repo" % rtype)
            r = json_response({"error": "You already created this %s repo" % rtype, "url": url}, 409)
            r.headers["X-Error-Message"] = "You already created this %s repo" % rtype
            return r
        repo = hub.repos.create(rtype, ns, name, private=private, extra=extra)
        files = body.get("files") or []
        if files:
            from .state import put_files

            data = {}
            for f in files:
                c = f.get("content", "")
                data[f["path"]] = base64.b64decode(c) if f.get("encoding") == "base64" else c.encode()
            old = repo.branch_sha()
            new = put_files(repo, data, "Upload files", author=req.user["name"])
            fire_push(hub, repo, "refs/heads/main", old, new)
        return json_response({"url": url, "name": repo.id, "id": repo.meta["_id"]})

    def delete(req):
        hub.require_auth(req)
        body = req.json()
        rtype = body.get("type") or "model"
        if rtype not in REPO_TYPES:
            raise HubError(400, "Invalid repo type: %s" % rtype)
        name = body.get("name") or ""
        if "/" in name and not body.get("organization"):
            body["organization"], name = name.split("/", 1)
        ns = namespace_of(req, body)
        repo = hub.writable_repo(req, rtype, ns, name)
        hub.repos.delete(repo)
        return Response(200, "OK")

    def settings(req, rtype):
        repo = hub.writable_repo(req, rtype, req.params["ns"], req.params["name"])
        body = req.json()
        with repo.lock:
            if "gated" in body:
                if body["gated"] not in (False, "auto", "manual"):
                    raise HubError(400, '"gated" must be one of "auto", "manual", false')
                repo.meta["gated"] = body["gated"]
            if "visibility" in body:
                if body["visibility"] not in ("public", "private", "protected"):
                    raise HubError(400, "visibility must be one of public, private, protected")
                repo.meta["private"] = body["visibility"] != "public"
                repo.meta["protected"] = body["visibility"] == "protected"
            elif "private" in body:
                repo.meta["private"] = bool(body["private"])
            repo.save()
        return json_response({"private": repo.private, "gated": repo.meta.get("gated", False)})

    def refs(req, rtype):
        repo = hub.repo_or_404(req, rtype, req.params["ns"], req.params["name"])
        out = {"branches": [], "converts": [], "tags": []}
        if req.flag("include_prs"):
            out["pullRequests"] = []
        lines = repo.git("for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)").decode()
        for line in lines.splitlines():
            ref, obj, peeled = line.split("\0")
            target = peeled or obj
            for prefix, key in (("refs/heads/", "branches"), ("refs/tags/", "tags"),
                                ("refs/convert/", "converts"), ("refs/pr/", "pullRequests")):
                if ref.startswith(prefix) and key in out:
                    out[key].append({"name": ref[len(prefix):], "ref": ref, "targetCommit": target})
        return json_response(out)

    def commits(req, rtype):
        repo = hub.repo_or_404(req, rtype, req.params["ns"], req.params["name"])
        sha = resolve_rev(repo, req.params["rev"])
        formatted = "formatted" in req.args("expand", "expand[]")
        raw = repo.git("log", "--format=%H%x00%an%x00%ct%x00%B%x1e", sha).decode("utf-8", "replace")
        items = []
        for rec in raw.split("\x1e"):
            rec = rec.strip("\n")
            if not rec:
                continue
            cid, author, ts, msg = rec.split("\0", 3)
            title, _, body = msg.partition("\n")
            body = body.strip("\n")
            c = {"id": cid, "title": title, "message": body, "date": iso(int(ts)),
                 "authors": [{"user": author, "avatar": "%s/avatars/%s.svg" % (base_url(hub, req), author)}]}
            if formatted:
                c["formatted"] = {"title": html.escape(title),
                                  "message": "<p>%s</p>" % html.escape(body) if body else ""}
            items.append(c)
        return paginated(hub, req, items, 50, 1000, total=True)

    def info(req, rtype):
        repo = hub.repo_or_404(req, rtype, req.params["ns"], req.params["name"])
        rev = req.params.get("rev")
        sha = resolve_rev(repo, rev) if rev else None
        return json_response(repo_info(hub, req, repo, sha, blobs=req.flag("blobs")))

    def listing(req, rtype):
        author = req.arg("author")
        search = (req.arg("search") or "").lower()
        items = []
        for repo in hub.repos.all(rtype):
            if author and repo.ns.lower() != author.lower():
                continue
            if search and search not in repo.id.lower():
                continue
            if not hub.can_read(req, repo):
                continue
            items.append(repo_info(hub, req, repo, with_siblings=req.flag("full")))
        items.sort(key=lambda i: i.get("lastModified") or "", reverse=True)
        return paginated(hub, req, items, 1000, 1000)

    hub.router.add("POST", "/api/repos/create", create)
    hub.router.add("DELETE", "/api/repos/delete", delete)
    api_routes(hub, "PUT", "/settings", settings)
    api_routes(hub, "GET", "/refs", refs)
    api_routes(hub, "GET", "/commits/{rev}", commits)
    for t in ("model", "dataset"):  # space info comes from spaces.py
        api_routes(hub, "GET", "", info, types=(t,))
        api_routes(hub, "GET", "/revision/{rev}", info, types=(t,))
        hub.router.add("GET", "/api/%ss" % t, lambda req, t=t: listing(req, t))
