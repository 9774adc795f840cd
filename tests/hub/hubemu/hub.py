# The Hub object every route module receives: configuration, clock, counters, faults, rate limits,
# users and tokens, permissions, repositories, and the fixture loader. Route modules are listed in
# MODULES; each has register(hub), which adds its routes and hooks.

import base64
import concurrent.futures
import importlib
import json
import os
import threading

from .network import Network
from .http import Clock, Counters, Faults, HubError, RateLimiter, Router
from .state import RepoStore, decode_fixture_content, put_files

ADMIN_PREFIX = "/_hubd"

# Order matters only for routes whose patterns overlap: earlier modules match first.
MODULES = ["admin", "users", "spaces", "repos", "files", "commits", "lfs", "gitsrv"]


class Hub:
    def __init__(self, state_dir, boot_seconds=1.0, verbose=False):
        self.state_dir = state_dir
        self.boot_seconds = float(boot_seconds)
        self.verbose = verbose
        self.admin_prefix = ADMIN_PREFIX
        self.clock = Clock()
        self.counters = Counters()
        self.faults = Faults()
        self.net = Network()  # latency, bandwidth, outages (network.py)
        self.ratelimit = RateLimiter(self.clock)
        self.router = Router()
        self.lock = threading.RLock()
        self.users = {}  # name -> {"name", "fullname", "orgs": [...], "email", "isPro", ...}
        self.orgs = {}  # name -> {"name", "fullname"}
        self.tokens = {}  # token value -> {"user": name, "role": "read"|"write", "displayName"}
        self.on_repo_created = []  # hooks(repo), e.g. the space runtime initialiser
        self.on_git_push = []  # hooks(repo, ref, old, new) after a push or API commit
        self.host_routes = []  # f(req) -> (Route, params) | None, tried before the path router
        self.log_keepalive_seconds = 15.0  # bare "data:" lines on idle log streams
        self.base_url = None  # "http://127.0.0.1:PORT", set once listening
        os.makedirs(state_dir, exist_ok=True)
        self._load_accounts()
        self.repos = RepoStore(self, state_dir)
        for m in MODULES:
            try:
                mod = importlib.import_module("hubemu." + m)
            except ModuleNotFoundError as e:
                if e.name == "hubemu." + m:
                    continue  # not written yet
                raise
            mod.register(self)

    # --- accounts ---------------------------------------------------------------------------
    def _accounts_path(self):
        return os.path.join(self.state_dir, "accounts.json")

    def _load_accounts(self):
        p = self._accounts_path()
        if os.path.exists(p):
            with open(p) as f:
                a = json.load(f)
            self.users, self.orgs, self.tokens = a["users"], a["orgs"], a["tokens"]

    def _save_accounts(self):
        p = self._accounts_path()
        with open(p + ".tmp", "w") as f:
            json.dump({"users": self.users, "orgs": self.orgs, "tokens": self.tokens}, f, indent=1)
        os.replace(p + ".tmp", p)

    def load_fixture(self, fx):
        """Add the fixture's users, orgs, tokens and repos. Repos that already exist are kept."""
        for o in fx.get("orgs", []):
            self.orgs.setdefault(o["name"], {"name": o["name"], "fullname": o.get("fullname", o["name"])})
        for u in fx.get("users", []):
            user = {k: v for k, v in u.items() if k != "tokens"}
            user.setdefault("fullname", u["name"])
            user.setdefault("orgs", [])
            for org in user["orgs"]:
                self.orgs.setdefault(org, {"name": org, "fullname": org})
            self.users[u["name"]] = user
            for t in u.get("tokens", []):
                self.tokens[t["value"]] = {"user": u["name"], "role": t.get("role", "read"),
                                           "displayName": t.get("displayName", t.get("role", "token"))}
        self._save_accounts()
        todo = []
        for kind, rtype in (("spaces", "space"), ("datasets", "dataset"), ("models", "model")):
            for spec in fx.get(kind, []):
                ns, name = spec["id"].split("/", 1)
                if not self.repos.get(rtype, ns, name):
                    todo.append((rtype, ns, name, spec))
        # Repos are independent and their cost is git processes, so a few at once halve start-up.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(self._load_fixture_repo, *t) for t in todo]:
                f.result()

    def _load_fixture_repo(self, rtype, ns, name, spec):
        extra = {k: v for k, v in spec.items() if k not in ("id", "private", "files")}
        repo = self.repos.create(rtype, ns, name, private=spec.get("private", False), extra=extra)
        files = {p: decode_fixture_content(v) for p, v in (spec.get("files") or {}).items()}
        if files:
            put_files(repo, files, "fixture files")

    # --- authentication and permissions -------------------------------------------------------
    def authenticate(self, req):
        """Set req.user/req.role from a Bearer token or git's basic auth (token as password)."""
        h = req.headers.get("Authorization") or ""
        token = None
        if h[:7].lower() == "bearer ":
            token = h[7:].strip()
        elif h[:6].lower() == "basic ":
            try:
                token = base64.b64decode(h[6:].strip()).decode().split(":", 1)[1]
            except Exception:
                req.bad_token = True
                return
        if not token:
            return
        t = self.tokens.get(token)
        if not t or t["user"] not in self.users:
            req.bad_token = True
            return
        req.user = self.users[t["user"]]
        req.role = t["role"]
        req.token_info = t

    def require_auth(self, req):
        """401 unless a valid token came with the request."""
        if req.bad_token:
            raise HubError(401, "Invalid credentials in Authorization header")
        if not req.user:
            raise HubError(401, "Invalid username or password.")

    def namespaces_of(self, user):
        return [user["name"]] + list(user.get("orgs", []))

    def is_member(self, req, ns):
        return bool(req.user) and ns.lower() in (n.lower() for n in self.namespaces_of(req.user))

    def can_read(self, req, repo):
        return not repo.private or self.is_member(req, repo.ns)

    def can_write(self, req, ns):
        return self.is_member(req, ns) and req.role == "write"

    def charge(self, req, bucket):
        """Count one action against a configured quota (POST /_hubd/ratelimit); 429 when used up."""
        key = req.user["name"] if req.user else req.client_ip
        info = self.ratelimit.charge(bucket, key)
        if info and not info[0]:
            h = RateLimiter.headers(bucket, info)
            h["Retry-After"] = str(info[2])
            raise HubError(429, "You have exceeded our hourly quotas for action: %s. "
                                "Retry after %d seconds." % (bucket, info[2]), headers=h)
        return info

    def repo_or_404(self, req, rtype, ns, name):
        """The repo if this request may see it, else the Hub's RepoNotFound (401 without a token)."""
        if req.bad_token:
            raise HubError(401, "Invalid credentials in Authorization header", "RepoNotFound")
        repo = self.repos.get(rtype, ns, name)
        if repo is None or not self.can_read(req, repo):
            status = 401 if not req.user else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def writable_repo(self, req, rtype, ns, name):
        """The repo if this request may write it: 404 when invisible, 403 when only readable."""
        repo = self.repo_or_404(req, rtype, ns, name)
        if not self.can_write(req, repo.ns):
            raise HubError(403, "You don't have the rights to write to %s" % repo.id)
        return repo
