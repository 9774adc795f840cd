# Spaces: listing and info (/api/spaces...), the simulated runtime (stages, hardware, sleep,
# pause), secrets, variables, SSE logs, and the app URL that wakes a sleeping Space.
#
# The runtime is a lazy state machine kept in repo.meta["runtime"]: each stage records when it
# began on the simulated clock (hub.clock), and `advance` replays every transition that is due
# (BUILDING -> APP_STARTING -> RUNNING -> STOPPED after gcTimeout without traffic) whenever a
# request or a log follower looks at the Space. No timer threads; a hubd restart resumes it.

import base64
import hashlib
import hmac
import json
import os
import re
import threading
import time

from .http import HubError, Response, Route, json_response
from .state import iso
from .users import stable_id

FLAVORS = [  # name, prettyName, cpu, ram, accelerator, unit cost in micro-USD per minute
    ("cpu-basic", "CPU basic", "2 vCPU", "16 GB", None, 0),
    ("cpu-upgrade", "CPU upgrade", "8 vCPU", "32 GB", None, 500),
    ("zero-a10g", "ZeroGPU", "dynamic", "dynamic", "Nvidia A100", 0),
    ("t4-small", "Nvidia T4 - small", "4 vCPU", "15 GB", "1x Nvidia T4", 6667),
    ("t4-medium", "Nvidia T4 - medium", "8 vCPU", "30 GB", "1x Nvidia T4", 10000),
    ("l4x1", "1x Nvidia L4", "8 vCPU", "30 GB", "1x Nvidia L4", 13333),
    ("l4x4", "4x Nvidia L4", "48 vCPU", "186 GB", "4x Nvidia L4", 63333),
    ("l40sx1", "1x Nvidia L40S", "8 vCPU", "62 GB", "1x Nvidia L40S", 30000),
    ("l40sx4", "4x Nvidia L40S", "48 vCPU", "382 GB", "4x Nvidia L40S", 138333),
    ("l40sx8", "8x Nvidia L40S", "192 vCPU", "1534 GB", "8x Nvidia L40S", 390000),
    ("a10g-small", "Nvidia A10G - small", "4 vCPU", "15 GB", "1x Nvidia A10G", 16667),
    ("a10g-large", "Nvidia A10G - large", "12 vCPU", "46 GB", "1x Nvidia A10G", 25000),
    ("a10g-largex2", "2x Nvidia A10G - large", "24 vCPU", "92 GB", "2x Nvidia A10G", 50000),
    ("a10g-largex4", "4x Nvidia A10G - large", "48 vCPU", "184 GB", "4x Nvidia A10G", 83333),
    ("a100-large", "Nvidia A100 - large", "12 vCPU", "142 GB", "1x Nvidia A100", 41667),
    ("a100x4", "4x Nvidia A100", "48 vCPU", "568 GB", "4x Nvidia A100", 166667),
    ("a100x8", "8x Nvidia A100", "96 vCPU", "1136 GB", "8x Nvidia A100", 333333),
]
FLAVOR_NAMES = [f[0] for f in FLAVORS]
FREE_FLAVORS = ("cpu-basic", "zero-a10g")  # fixed 48 h sleep time, not configurable
FREE_GC_TIMEOUT = 172800

# Accepted `expand` values (HH ExpandSpaceProperty_T, plus gitalyUid and xetEnabled which the
# Hub's own 400 message lists); order as the message prints them.
EXPAND_KEYS = ["author", "cardData", "createdAt", "datasets", "disabled", "gitalyUid", "lastModified",
               "likes", "models", "private", "region", "resourceGroup", "runtime", "sdk", "sha",
               "siblings", "subdomain", "tags", "trendingScore", "usedStorage", "xetEnabled"]
LIST_DEFAULT = ["_id", "id", "likes", "trendingScore", "private", "sdk", "tags", "createdAt"]
INFO_DEFAULT = ["_id", "id", "author", "sha", "lastModified", "createdAt", "private", "gated", "disabled",
                "likes", "tags", "sdk", "subdomain", "host", "runtime", "cardData", "siblings", "models",
                "datasets", "trendingScore", "usedStorage"]
STAGES = ["NO_APP_FILE", "CONFIG_ERROR", "BUILDING", "BUILD_ERROR", "APP_STARTING", "RUNNING",
          "RUNNING_BUILDING", "RUNNING_APP_STARTING", "RUNTIME_ERROR", "DELETING", "STOPPED", "PAUSED",
          "SLEEPING"]
LIST_PAGE_MAX = 1000
LOG_KEEP = 2000  # lines kept per log
JWT_SECONDS = 300  # lifetime of a Space JWT (GET /api/spaces/{ns}/{name}/jwt), simulated clock


def subdomain_of(repo_id):
    """`user/tmp_test_space` -> `user-tmp-test-space` (hub-api.md section 9)."""
    return re.sub(r"[^a-z0-9]+", "-", repo_id.lower().replace("/", "-")).strip("-")


# --- README front matter (a small YAML subset: scalars, inline and block lists, one level of maps)
def _scalar(v):
    v = v.strip()
    if not v:
        return None
    if v[0] in "\"'" and v[-1] == v[0] and len(v) >= 2:
        return v[1:-1]
    if v.startswith("[") and v.endswith("]"):
        return [_scalar(x) for x in v[1:-1].split(",") if x.strip()]
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "~"):
        return None
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    if re.fullmatch(r"-?\d+\.\d*", v):
        return float(v)
    return v


def parse_front_matter(text):
    if not text.startswith("---"):
        return None
    lines = text.splitlines()[1:]
    out, key = {}, None
    for line in lines:
        if line.strip() == "---":
            return out
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t" or line.startswith("- "):
            s = line.strip()
            if key is None:
                continue
            if s.startswith("- "):
                if not isinstance(out.get(key), list):
                    out[key] = []
                out[key].append(_scalar(s[2:]))
            elif ":" in s:
                if not isinstance(out.get(key), dict):
                    out[key] = {}
                k, v = s.split(":", 1)
                out[key][k.strip()] = _scalar(v)
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            key = k.strip()
            out[key] = _scalar(v)
    return None  # unterminated: the Hub ignores it


# --- git helpers ---------------------------------------------------------------------------
def tree_entries(repo, sha):
    """[(path, blob_sha, size)] of every file at commit sha."""
    if not sha:
        return []
    out = repo.git("ls-tree", "-r", "-l", "-z", sha).split(b"\0")
    ents = []
    for rec in out:
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        parts = meta.split()
        if parts[1] != b"blob":
            continue
        size = int(parts[3]) if parts[3] != b"-" else 0
        ents.append((path.decode(), parts[2].decode(), size))
    return ents


def read_blob(repo, sha, path):
    if not sha:
        return None
    p = repo.git("cat-file", "-p", "%s:%s" % (sha, path), check=False)
    return p if p else None


def lfs_info(repo, blob_sha, size):
    if size > 1024:
        return None
    data = repo.git("cat-file", "-p", blob_sha, check=False)
    m = re.match(rb"version https://git-lfs.github.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n", data)
    if not m:
        return None
    return {"size": int(m.group(2)), "sha256": m.group(1).decode(), "pointerSize": size}


class Runtime:
    """The simulated Space runtimes. Lock order: repo.lock, then self.cond."""

    def __init__(self, hub):
        self.hub = hub
        self.cond = threading.Condition()
        self.jwt_secret = os.urandom(32)  # per hubd: Space JWTs (space_jwt) are signed with it

    # --- state --------------------------------------------------------------------------
    def sdk(self, repo):
        return repo.meta.get("sdk") or "gradio"

    def is_static(self, repo):
        return self.sdk(repo) == "static"

    def init(self, repo):
        """on_repo_created: the runtime of a new Space, from the fixture or the create request."""
        if repo.type != "space":
            return
        with repo.lock:
            m = repo.meta
            now = self.hub.clock.now()
            hw = m.get("hardware")
            if isinstance(hw, dict):
                hw = hw.get("requested") or hw.get("current")
            if hw not in FLAVOR_NAMES:
                hw = "cpu-basic"
            sleep = m.pop("sleepTime", None)
            if sleep is None:
                sleep = m.pop("sleepTimeSeconds", None)
            stage = m.pop("stage", None) or "BUILDING"
            rt = {"stage": stage, "since": now, "requested": hw,
                  "current": hw if stage not in ("BUILDING", "PAUSED") else None,
                  "sleepTime": None if sleep in (None, -1) else int(sleep),
                  "lastTraffic": now, "errorMessage": None, "seq": 0, "logs": {"build": [], "run": []}}
            m["runtime"] = rt
            m["hardware"] = hw
            m["secrets"] = self._kv(m.get("secrets"), keep_value=True)
            m["variables"] = self._kv(m.get("variables"), keep_value=True)
            self._log(repo, "build", "===== Build Queued at %s / Commit SHA: %s =====" %
                      (iso(now), (repo.branch_sha() or "")[:7]), now)
            if stage in ("RUNNING", "PAUSED", "STOPPED"):
                self._log(repo, "build", "Build complete (restored from fixture)", now)
            if stage == "RUNNING":
                self._run_banner(repo, now)
            repo.save()

    def _kv(self, v, keep_value):
        """Fixture dict {K: V} or request list [{key, value, description}] -> stored map."""
        now = iso(self.hub.clock.now())
        out = {}
        if isinstance(v, dict):
            for k, val in v.items():
                if isinstance(val, dict) and "value" in val:
                    out[k] = dict(val)
                    out[k].setdefault("updatedAt", now)
                else:
                    out[k] = {"value": str(val), "updatedAt": now}
        elif isinstance(v, list):
            for e in v:
                if isinstance(e, dict) and e.get("key"):
                    out[e["key"]] = {"value": str(e.get("value", "")), "updatedAt": now}
                    if e.get("description"):
                        out[e["key"]]["description"] = e["description"]
        return out

    def rt(self, repo):
        if "runtime" not in repo.meta:  # a Space created before this module existed
            self.init(repo)
        return repo.meta["runtime"]

    def _log(self, repo, kind, text, ts):
        rt = repo.meta["runtime"]
        with self.cond:
            rt["seq"] += 1
            lines = rt["logs"][kind]
            lines.append({"seq": rt["seq"], "data": text if text.endswith("\n") else text + "\n",
                          "timestamp": iso(ts)})
            del lines[:-LOG_KEEP]
            self.cond.notify_all()

    def _set(self, repo, stage, ts, error=None):
        rt = repo.meta["runtime"]
        rt["stage"] = stage
        rt["since"] = ts
        rt["errorMessage"] = error

    def _run_banner(self, repo, ts):
        self._log(repo, "run", "===== Application Startup at %s =====" % time.strftime(
            "%Y-%m-%d %H:%M:%S", time.gmtime(ts)), ts)

    def app_file(self, repo):
        sha = repo.branch_sha()
        files = {p for p, _, _ in tree_entries(repo, sha)}
        sdk = self.sdk(repo)
        if sdk == "docker":
            return "Dockerfile" if "Dockerfile" in files else None
        if sdk == "static":
            return "index.html" if "index.html" in files else None
        card = parse_front_matter((read_blob(repo, sha, "README.md") or b"").decode(errors="replace")) or {}
        want = card.get("app_file") or "app.py"
        return want if want in files else None

    def gc_timeout(self, repo):
        rt = repo.meta["runtime"]
        hw = rt["requested"] or rt["current"]
        if hw in FREE_FLAVORS:
            return FREE_GC_TIMEOUT
        return rt["sleepTime"]

    def advance(self, repo, now=None):
        """Apply every transition that is due by `now`; saves when something changed."""
        if self.is_static(repo):
            return
        now = self.hub.clock.now() if now is None else now
        boot = self.hub.boot_seconds
        with repo.lock:
            rt = self.rt(repo)
            changed = False
            while True:
                st, t0 = rt["stage"], rt["since"]
                if st == "BUILDING" and now >= t0 + boot:
                    t = t0 + boot
                    app = self.app_file(repo)
                    if not app:
                        self._log(repo, "build", "No application file found: nothing to run", t)
                        self._set(repo, "NO_APP_FILE", t)
                    else:
                        self._log(repo, "build", "Build complete (%s)" % app, t)
                        self._set(repo, "APP_STARTING", t)
                        self._run_banner(repo, t)
                elif st == "APP_STARTING" and now >= t0 + boot:
                    t = t0 + boot
                    rt["current"] = rt["requested"]
                    rt["lastTraffic"] = max(rt["lastTraffic"], t)
                    self._set(repo, "RUNNING", t)
                    self._log(repo, "run", "Running on %s (hardware %s)" % (self.host(repo), rt["current"]), t)
                elif st == "RUNNING" and self.gc_timeout(repo) is not None and \
                        now >= rt["lastTraffic"] + self.gc_timeout(repo):
                    t = rt["lastTraffic"] + self.gc_timeout(repo)
                    self._set(repo, "STOPPED", t)
                    self._log(repo, "run", "Space went to sleep after %d s without traffic" %
                              self.gc_timeout(repo), t)
                else:
                    break
                changed = True
            if changed:
                repo.save()

    # --- actions (callers hold no lock) ----------------------------------------------------
    def restart(self, repo, factory=False, reason=None):
        with repo.lock:
            self.advance(repo)
            rt = self.rt(repo)
            now = self.hub.clock.now()
            if rt["stage"] in ("RUNNING", "APP_STARTING", "RUNTIME_ERROR"):
                self._log(repo, "run", "Shutting down for %s" % (reason or "restart"), now)
            if factory:
                with self.cond:
                    rt["logs"]["build"] = []
            self._log(repo, "build", "===== Build Queued at %s / Commit SHA: %s =====" %
                      (iso(now), (repo.branch_sha() or "")[:7]), now)
            self._log(repo, "build", "--> Factory rebuild: building without cache" if factory else
                      "--> Restart (%s): reusing cached layers" % (reason or "restart"), now)
            self._set(repo, "BUILDING", now)
            repo.save()

    def pause(self, repo):
        with repo.lock:
            self.advance(repo)
            rt = self.rt(repo)
            now = self.hub.clock.now()
            self._set(repo, "PAUSED", now)
            rt["current"] = None
            self._log(repo, "run", "Space paused by its owner", now)
            repo.save()

    def sleep(self, repo):
        with repo.lock:
            self.advance(repo)
            rt = self.rt(repo)
            if rt["stage"] == "PAUSED":
                raise HubError(400, "Space is paused; only a restart resumes it")
            now = self.hub.clock.now()
            self._set(repo, "STOPPED", now)
            self._log(repo, "run", "Space went to sleep (admin request)", now)
            repo.save()

    def force(self, repo, stage, error=None):
        with repo.lock:
            self.advance(repo)
            now = self.hub.clock.now()
            self._set(repo, stage, now, error)
            if error:
                self._log(repo, "run" if stage != "BUILD_ERROR" else "build", error, now)
            repo.save()

    def traffic(self, repo):
        """A visit to the app URL: wakes a sleeping Space; returns the stage afterwards."""
        with repo.lock:
            self.advance(repo)
            rt = self.rt(repo)
            now = self.hub.clock.now()
            if rt["stage"] == "PAUSED":
                return "PAUSED"
            rt["lastTraffic"] = now
            if rt["stage"] in ("STOPPED", "SLEEPING"):
                self._log(repo, "run", "Waking up on a visit", now)
                self._set(repo, "APP_STARTING", now)
                self._run_banner(repo, now)
            repo.save()
            return rt["stage"]

    def append_logs(self, repo, kind, lines):
        with repo.lock:
            self.rt(repo)
            now = self.hub.clock.now()
            for line in lines:
                self._log(repo, kind, str(line), now)
            repo.save()

    # --- views --------------------------------------------------------------------------
    def host(self, repo):
        return "%s/-/apps/%s" % (self.hub.base_url or "", subdomain_of(repo.id))

    def domain(self, repo):
        port = (self.hub.base_url or ":0").rsplit(":", 1)[-1]
        return "%s.localhost:%s" % (subdomain_of(repo.id), port)

    def view(self, repo):
        if self.is_static(repo):
            return {"stage": "RUNNING", "hardware": {"current": None, "requested": None}, "storage": None,
                    "replicas": {"requested": 1, "current": 1}}
        self.advance(repo)
        with repo.lock:
            rt = self.rt(repo)
            out = {"stage": rt["stage"], "hardware": {"current": rt["current"], "requested": rt["requested"]},
                   "storage": None, "gcTimeout": self.gc_timeout(repo), "replicas": {"requested": 1},
                   "devMode": False, "domains": [{"domain": self.domain(repo), "stage": "READY"}],
                   "sdk": self.sdk(repo)}
            if rt["stage"] == "RUNNING":
                out["replicas"]["current"] = 1
            if rt.get("errorMessage"):
                out["errorMessage"] = rt["errorMessage"]
            return out


# --- request helpers -------------------------------------------------------------------------
def _space(hub, req):
    return hub.repo_or_404(req, "space", req.params["ns"], req.params["name"])


def _owned(hub, req):
    """Owner with a write token (403 otherwise; 404 when the Space is invisible)."""
    hub.require_auth(req)
    return hub.writable_repo(req, "space", req.params["ns"], req.params["name"])


def _not_static(hub, repo, what):
    if hub.space_runtime.is_static(repo):
        raise HubError(400, "Cannot %s a static Space: static Spaces have no runtime" % what)


def _expand(req):
    vals = req.args("expand", "expand[]")
    bad = [v for v in vals if v not in EXPAND_KEYS]
    if bad:
        raise HubError(400, '"expand" must be one of [%s]' % ", ".join(EXPAND_KEYS))
    if vals and req.flag("full"):
        raise HubError(400, '"expand" cannot be used with "full"')
    return vals


def space_fields(hub, req, repo, keys, rev=None, blobs=False):
    """The requested fields of a Space, computed only when asked for (runtime, siblings...)."""
    sha = repo.resolve(rev) if rev else repo.branch_sha()
    m = repo.meta
    out = {}
    card = None

    def card_data():
        nonlocal card
        if card is None:
            card = parse_front_matter((read_blob(repo, sha, "README.md") or b"").decode(errors="replace")) or {}
        return card

    for k in ["_id", "id"] + [k for k in keys if k not in ("_id", "id")]:
        if k == "_id":
            out[k] = m.get("_id")
        elif k == "id":
            out[k] = repo.id
        elif k == "author":
            out[k] = repo.ns
        elif k == "sha":
            out[k] = sha
        elif k in ("lastModified", "createdAt"):
            out[k] = m.get(k)
        elif k == "private":
            out[k] = repo.private
        elif k == "gated":
            out[k] = m.get("gated", False)
        elif k == "disabled":
            out[k] = bool(m.get("disabled", False))
        elif k in ("likes", "trendingScore"):
            out[k] = m.get(k, 0)
        elif k == "tags":
            out[k] = [hub.space_runtime.sdk(repo)] + [t for t in (card_data().get("tags") or [])
                                                      if isinstance(t, str)] + ["region:us"]
        elif k == "sdk":
            out[k] = hub.space_runtime.sdk(repo)
        elif k == "subdomain":
            out[k] = subdomain_of(repo.id)
        elif k == "host":
            out[k] = hub.space_runtime.host(repo)
        elif k == "runtime":
            out[k] = hub.space_runtime.view(repo)
        elif k == "cardData":
            if card_data():
                out[k] = card_data()
        elif k == "siblings":
            sib = []
            for path, blob, size in tree_entries(repo, sha):
                e = {"rfilename": path}
                if blobs:
                    lfs = lfs_info(repo, blob, size)
                    e.update({"size": lfs["size"] if lfs else size, "blobId": blob})
                    if lfs:
                        e["lfs"] = lfs
                sib.append(e)
            out[k] = sib
        elif k in ("models", "datasets"):
            v = card_data().get(k)
            out[k] = [v] if isinstance(v, str) else (v or [])
        elif k == "region":
            out[k] = "us"
        elif k == "resourceGroup":
            out[k] = None
        elif k == "usedStorage":
            out[k] = sum(s for _, _, s in tree_entries(repo, sha))
        elif k == "xetEnabled":
            out[k] = False
        elif k == "gitalyUid":
            out[k] = stable_id("gitaly", repo.id)
    return out


# --- routes: list and info -----------------------------------------------------------------
def list_spaces(hub, req):
    if req.bad_token:
        raise HubError(401, "Invalid credentials in Authorization header")
    expand = _expand(req)
    if expand:
        keys = expand
    elif req.flag("full"):
        keys = [k for k in INFO_DEFAULT if k not in ("runtime", "host")] + ["lastModified"]
    else:
        keys = LIST_DEFAULT
    author = (req.arg("author") or "").lower()
    search = (req.arg("search") or "").lower()
    filters = req.args("filter")
    spaces = [r for r in hub.repos.all("space") if hub.can_read(req, r)]
    if author:
        spaces = [r for r in spaces if r.ns.lower() == author]
    if search:
        spaces = [r for r in spaces if search in r.id.lower()]
    if filters:
        spaces = [r for r in spaces if all(f in space_fields(hub, req, r, ["tags"])["tags"] for f in filters)]
    sort = req.arg("sort")
    if sort:
        if sort not in ("createdAt", "lastModified", "likes", "trendingScore", "id", "likes30d"):
            raise HubError(400, '"sort" must be one of [createdAt, id, lastModified, likes, likes30d, '
                                'trendingScore]')
        field = "likes" if sort == "likes30d" else sort
        desc = req.arg("direction", "-1") == "-1"
        spaces.sort(key=lambda r: r.id.lower())
        spaces.sort(key=lambda r: r.id.lower() if field == "id" else (r.meta.get(field) or 0), reverse=desc)
    else:
        spaces.sort(key=lambda r: r.id.lower())
    try:
        limit = int(req.arg("limit") or LIST_PAGE_MAX)
        offset = int(req.arg("cursor") or "0", 36) if req.arg("cursor") else 0
    except ValueError:
        raise HubError(400, "Invalid limit or cursor")
    limit = max(1, min(limit, LIST_PAGE_MAX))
    page = spaces[offset:offset + limit]
    headers = {"X-Total-Count": str(len(spaces))}
    if offset + limit < len(spaces):
        q = [(k, v) for k, vs in req.query.items() for v in vs if k != "cursor"]
        q.append(("cursor", _b36(offset + limit)))
        import urllib.parse

        headers["Link"] = '<%s/api/spaces?%s>; rel="next"' % (req.base_url(), urllib.parse.urlencode(q))
    body = [space_fields(hub, req, r, keys) for r in page]
    return json_response(body, headers=headers)


def _b36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = digits[r] + s
        if n == 0:
            return s


def space_info(hub, req):
    repo = _space(hub, req)
    rev = req.params.get("rev")
    if rev is not None and repo.resolve(rev) is None:
        raise HubError(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
    keys = _expand(req) or INFO_DEFAULT
    return json_response(space_fields(hub, req, repo, keys, rev=rev, blobs=req.flag("blobs")))


def space_by_subdomain(hub, req):
    sub = req.params["sub"].lower()
    for r in hub.repos.all("space"):
        if subdomain_of(r.id) == sub and hub.can_read(req, r):
            return json_response(space_fields(hub, req, r, INFO_DEFAULT))
    raise HubError(404, "Space not found", "RepoNotFound")


def space_host(hub, req):
    repo = _space(hub, req)
    return json_response({"subdomain": subdomain_of(repo.id), "host": hub.space_runtime.host(repo)})


def hardware_list(hub, req):
    out = []
    for name, pretty, cpu, ram, acc, micro in FLAVORS:
        e = {"name": name, "prettyName": pretty, "cpu": cpu, "ram": ram, "unitCostMicroUSD": micro,
             "unitCostUSD": micro / 1e6, "unitLabel": "minute"}
        if acc:
            e["accelerator"] = {"model": acc, "quantity": acc.split("x")[0] if "x " in acc else "1"}
        out.append(e)
    return json_response(out)


# --- routes: runtime and lifecycle ---------------------------------------------------------
def get_runtime(hub, req):
    return json_response(hub.space_runtime.view(_space(hub, req)))


def restart(hub, req):
    repo = _owned(hub, req)
    _not_static(hub, repo, "restart")
    hub.space_runtime.restart(repo, factory=req.flag("factory"), reason="factory reboot"
                              if req.flag("factory") else "restart")
    return json_response(hub.space_runtime.view(repo))


def pause(hub, req):
    repo = _owned(hub, req)
    _not_static(hub, repo, "pause")
    hub.space_runtime.pause(repo)
    return json_response(hub.space_runtime.view(repo))


def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, int):
        raise HubError(400, '"%s" must be an integer' % what)
    return v


def request_hardware(hub, req):
    repo = _owned(hub, req)
    _not_static(hub, repo, "change the hardware of")
    body = req.json()
    flavor = body.get("flavor")
    if flavor not in FLAVOR_NAMES:
        raise HubError(400, '"flavor" must be one of [%s]' % ", ".join(FLAVOR_NAMES))
    sleep = body.get("sleepTimeSeconds")
    rtm = hub.space_runtime
    with repo.lock:
        rtm.advance(repo)
        rt = rtm.rt(repo)
        if sleep is not None and flavor not in FREE_FLAVORS:
            sleep = _int(sleep, "sleepTimeSeconds")
            rt["sleepTime"] = None if sleep == -1 else sleep
        old = rt["requested"]
        rt["requested"] = flavor
        repo.meta["hardware"] = flavor
        repo.save()
        if rt["stage"] != "PAUSED":
            rtm.restart(repo, reason="hardware change %s -> %s" % (old, flavor))
    return json_response(rtm.view(repo))


def set_sleeptime(hub, req):
    repo = _owned(hub, req)
    _not_static(hub, repo, "set the sleep time of")
    seconds = _int(req.json().get("seconds"), "seconds")
    rtm = hub.space_runtime
    with repo.lock:
        rtm.advance(repo)
        rt = rtm.rt(repo)
        hw = rt["requested"] or rt["current"]
        if hw in FREE_FLAVORS:
            raise HubError(400, "Cannot change the sleep time for %s Spaces." % hw)
        if seconds != -1 and seconds <= 0:
            raise HubError(400, '"seconds" must be a positive number of seconds or -1')
        rt["sleepTime"] = None if seconds == -1 else seconds
        repo.save()
    return json_response(rtm.view(repo))


# --- routes: secrets and variables ---------------------------------------------------------
def _member(hub, req):
    """Reading secrets' names or variables: a member of the Space's namespace, any role."""
    hub.require_auth(req)
    repo = _space(hub, req)
    if not hub.is_member(req, repo.ns):
        raise HubError(403, "You don't have the rights to read the settings of %s" % repo.id)
    return repo


def _key_body(req, need_value):
    b = req.json()
    key = b.get("key")
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise HubError(400, '"key" must be a valid environment variable name')
    if need_value and not isinstance(b.get("value", ""), str):
        raise HubError(400, '"value" must be a string')
    return b


def secrets_get(hub, req):
    repo = _member(hub, req)
    out = {}
    for k, v in sorted(repo.meta.get("secrets", {}).items()):
        out[k] = {kk: vv for kk, vv in v.items() if kk != "value"}  # values are write-only
    return json_response(out)


def secrets_post(hub, req):
    repo = _owned(hub, req)
    b = _key_body(req, True)
    with repo.lock:
        e = {"value": b.get("value", ""), "updatedAt": iso(hub.clock.now())}
        if b.get("description"):
            e["description"] = b["description"]
        repo.meta.setdefault("secrets", {})[b["key"]] = e
        repo.save()
    return json_response({})


def secrets_delete(hub, req):
    repo = _owned(hub, req)
    b = _key_body(req, False)
    with repo.lock:
        repo.meta.setdefault("secrets", {}).pop(b["key"], None)
        repo.save()
    return json_response({})


def _variables(repo):
    return {k: dict(v) for k, v in sorted(repo.meta.get("variables", {}).items())}


def variables_get(hub, req):
    return json_response(_variables(_member(hub, req)))


def variables_post(hub, req):
    repo = _owned(hub, req)
    b = _key_body(req, True)
    with repo.lock:
        e = {"value": b.get("value", ""), "updatedAt": iso(hub.clock.now())}
        if b.get("description"):
            e["description"] = b["description"]
        repo.meta.setdefault("variables", {})[b["key"]] = e
        repo.save()
        return json_response(_variables(repo))


def variables_delete(hub, req):
    repo = _owned(hub, req)
    b = _key_body(req, False)
    with repo.lock:
        repo.meta.setdefault("variables", {}).pop(b["key"], None)
        repo.save()
        return json_response(_variables(repo))


# --- routes: logs (SSE) --------------------------------------------------------------------
def logs(hub, req):
    hub.require_auth(req)
    repo = _space(hub, req)
    kind = req.params["kind"]
    if kind not in ("build", "run"):
        raise HubError(404, "Not Found")
    tail = req.arg("tail")
    try:
        tail = int(tail) if tail not in (None, "") else None
    except ValueError:
        raise HubError(400, '"tail" must be an integer')
    rtm = hub.space_runtime
    if rtm.is_static(repo):
        raise HubError(400, "Static Spaces have no logs")
    rtm.advance(repo)
    with repo.lock:
        lines = list(rtm.rt(repo)["logs"][kind])
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    slow = hub.net.get("log_first_byte_ms")
    if slow:  # the real Hub's log streams can take seconds to answer (network.py, README)
        time.sleep(slow / 1000.0)
    return Response(200, _follow(hub, repo, kind, lines), headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}, content_type="text/event-stream")


def _event(e):
    return b"data: " + json.dumps({"data": e["data"], "timestamp": e["timestamp"]}).encode() + b"\n\n"


def _follow(hub, repo, kind, first):
    """Existing lines, then new ones as the runtime produces them. A build log closes once no build
    is in progress; a run log stays open (keep-alives) until the client goes away."""
    rtm = hub.space_runtime
    last = first[-1]["seq"] if first else None
    if last is None:
        with repo.lock:
            cur = rtm.rt(repo)["logs"][kind]
            last = cur[-1]["seq"] if cur else 0
    for e in first:
        yield _event(e)
    idle_since = time.monotonic()
    while True:
        rtm.advance(repo)
        with repo.lock:
            rt = rtm.rt(repo)
            new = [e for e in rt["logs"][kind] if e["seq"] > last]
            stage = rt["stage"]
        for e in new:
            last = e["seq"]
            yield _event(e)
        if new:
            idle_since = time.monotonic()
        if kind == "build" and stage not in ("BUILDING", "RUNNING_BUILDING"):
            return
        if time.monotonic() - idle_since >= hub.log_keepalive_seconds:
            idle_since = time.monotonic()
            yield b"data:\n\n"
        with rtm.cond:
            rtm.cond.wait(0.1)


# --- Space JWTs: what gradio's clients use to reach a private Space's app ------------------------
# GET /api/spaces/{ns}/{name}/jwt (Bearer token) -> {"token": <HS256 JWT>}; the app URL accepts
# it as the query parameter __sign (gradio-app/gradio client/js/src/helpers/init_helpers.ts
# get_jwt; its stream code sets url.searchParams "__sign"). Signed with a per-hubd secret.
def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_sign(hub, payload):
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(hub.space_runtime.jwt_secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256)
    return "%s.%s.%s" % (head, body, _b64url(sig.digest()))


def jwt_payload(hub, token):
    """The payload of a JWT this hubd signed, or None (malformed, wrong alg or signature)."""
    try:
        head, body, sig = token.split(".")
        if json.loads(_b64url_dec(head)).get("alg") != "HS256":
            return None
        want = hmac.new(hub.space_runtime.jwt_secret, ("%s.%s" % (head, body)).encode(),
                        hashlib.sha256).digest()
        if not hmac.compare_digest(want, _b64url_dec(sig)):
            return None
        p = json.loads(_b64url_dec(body))
        return p if isinstance(p, dict) else None
    except (ValueError, TypeError):
        return None


def space_jwt(hub, req):
    repo = _space(hub, req)  # 401 anonymous / 404 invisible, like the other private routes
    now = int(hub.clock.now())
    payload = {"sub": "/spaces/%s" % repo.id, "iat": now, "exp": now + JWT_SECONDS}
    if req.user:
        payload["onBehalfOf"] = {"user": req.user["name"]}
    return json_response({"token": jwt_sign(hub, payload), "accessToken": None})


def _sign_ok(hub, req, repo):
    """A valid, unexpired __sign JWT for this very Space."""
    tok = req.arg("__sign")
    p = jwt_payload(hub, tok) if tok else None
    return (p is not None and p.get("sub") == "/spaces/%s" % repo.id
            and isinstance(p.get("exp"), (int, float)) and p["exp"] > hub.clock.now())


# --- the app URL ---------------------------------------------------------------------------
def _space_by_sub(hub, sub):
    for r in hub.repos.all("space"):
        if subdomain_of(r.id) == sub.lower():
            return r
    return None


def app(hub, req):
    if req.headers.get("Authorization"):
        # tests assert that clients keep the Hub token away from app hosts (they use __sign)
        hub.counters.add("AUTH header at an app host", 200, 0, 0)
    repo = _space_by_sub(hub, req.params["sub"])
    if repo is None or (repo.private and not hub.is_member(req, repo.ns) and
                        not _sign_ok(hub, req, repo)):
        return Response(404, "404: Space not found\n")
    rtm = hub.space_runtime
    if rtm.is_static(repo):
        path = (req.params.get("rest") or "").lstrip("/") or "index.html"
        data = read_blob(repo, repo.branch_sha(), path)
        if data is None:
            return Response(404, "404: %s not found\n" % path)
        ctype = "text/html; charset=utf-8" if path.endswith(".html") else "application/octet-stream"
        return Response(200, data, content_type=ctype)
    stage = rtm.traffic(repo)
    if stage == "RUNNING":
        return Response(200, "Space %s is running\n" % repo.id, headers={"X-Space-Stage": stage})
    if stage == "PAUSED":
        return Response(503, "This Space has been paused by its owner.\n", headers={"X-Space-Stage": stage})
    return Response(503, "Space %s is %s, retry shortly.\n" % (repo.id, stage),
                    headers={"Retry-After": "1", "X-Space-Stage": stage})


def register(hub):
    rtm = Runtime(hub)
    hub.space_runtime = rtm
    hub.on_repo_created.append(rtm.init)

    def on_push(repo, ref, old, new):
        if repo.type == "space" and ref in ("refs/heads/main", "main") and not rtm.is_static(repo):
            rtm.restart(repo, reason="new commit %s" % (new or "")[:7])

    hub.on_git_push.append(on_push)

    def h(f):
        return lambda req: f(hub, req)

    r = hub.router
    sp = "/api/spaces/{ns}/{name}"
    r.add("GET", "/api/spaces", h(list_spaces))
    r.add("GET", "/api/spaces/hardware", h(hardware_list))
    r.add("GET", "/api/spaces/by-subdomain/{sub}", h(space_by_subdomain))
    r.add("GET", sp, h(space_info))
    r.add("GET", sp + "/revision/{rev}", h(space_info))
    r.add("GET", sp + "/host", h(space_host))
    r.add("GET", sp + "/runtime", h(get_runtime))
    r.add("GET", sp + "/jwt", h(space_jwt))
    r.add("POST", sp + "/restart", h(restart))
    r.add("POST", sp + "/pause", h(pause))
    r.add("POST", sp + "/hardware", h(request_hardware))
    r.add("POST", sp + "/sleeptime", h(set_sleeptime))
    r.add("GET", sp + "/secrets", h(secrets_get))
    r.add("POST", sp + "/secrets", h(secrets_post))
    r.add("DELETE", sp + "/secrets", h(secrets_delete))
    r.add("GET", sp + "/variables", h(variables_get))
    r.add("POST", sp + "/variables", h(variables_post))
    r.add("DELETE", sp + "/variables", h(variables_delete))
    r.add("GET", sp + "/logs/{kind}", h(logs))
    r.add("GET|HEAD|POST", "/-/apps/{sub}", h(app), name="APP /-/apps/{sub}")
    r.add("GET|HEAD|POST", "/-/apps/{sub}/{rest*}", h(app), name="APP /-/apps/{sub}/{rest*}")

    host_route = Route("GET", "Host: {sub}.*", h(app), name="APP Host: {sub}.*")

    def by_host(req):
        host = (req.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        label = host.split(".", 1)[0]
        if "." not in host or not label or label[0].isdigit() and re.fullmatch(r"[\d.]+", host):
            return None
        if _space_by_sub(hub, label) is None:
            return None
        return host_route, {"sub": label, "rest": req.path}

    hub.host_routes.append(by_host)
