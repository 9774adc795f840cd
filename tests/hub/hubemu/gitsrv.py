# Git smart HTTP for models, datasets and Spaces through `git http-backend` (CGI). The request
# body streams into the CGI (git sends chunked bodies, so CONTENT_LENGTH may be absent) while its
# output streams back chunked. Basic auth with the token as password; private repos look absent.
# A pre-receive hook in every bare repo applies the Hub's size rules; refs that moved fire
# hub.on_git_push once the push is done.

import os
import queue
import subprocess
import sys
import threading

from .http import HubError, Response
from .repos import fire_push, web_routes

HOOK_MARK = "# hubd pre-receive hook"
MAX_NON_LFS = 10 * 1024 * 1024
MAX_BINARY = 1024 * 1024

# Runs inside git receive-pack with the pushed objects in quarantine. Keep it standalone.
HOOK = r'''#!%(python)s
%(mark)s: the Hub's rules for pushed blobs (non-LFS files above 10 MiB, binaries above 1 MiB).
import subprocess, sys
ZERO = "0" * 40
big, binary = [], []
for line in sys.stdin:
    old, new, ref = line.split()
    if new == ZERO:
        continue
    objs = subprocess.run(["git", "rev-list", "--objects", new, "--not", "--all"],
                          capture_output=True, check=True).stdout.decode("utf-8", "replace")
    paths = {}
    for l in objs.splitlines():
        sha, _, path = l.partition(" ")
        if path:
            paths.setdefault(sha, path)
    if not paths:
        continue
    out = subprocess.run(["git", "cat-file", "--batch-check=%%(objectname) %%(objecttype) %%(objectsize)"],
                         input="\n".join(paths).encode() + b"\n", capture_output=True, check=True).stdout
    for l in out.decode().splitlines():
        sha, kind, size = l.split()
        if kind != "blob":
            continue
        size = int(size)
        if size > %(max_non_lfs)d:
            big.append((paths[sha], ref))
        elif size > %(max_binary)d:
            p = subprocess.Popen(["git", "cat-file", "blob", sha], stdout=subprocess.PIPE)
            head = p.stdout.read(8000)
            p.kill(); p.wait()
            if b"\0" in head:
                binary.append((paths[sha], ref))
rule = "-" * 73
if big or binary:
    what = "files larger than 10 MiB" if big else "binary files"
    sys.stderr.write(rule + "\n")
    sys.stderr.write("Your push was rejected because it contains %%s.\n" %% what)
    sys.stderr.write("Please use https://git-lfs.github.com/ to store large files.\n"
                     if big else "Please use https://git-lfs.github.com/ to store binary files.\n")
    sys.stderr.write("See also: https://hf.co/docs/hub/repositories-getting-started#terminal\n\n")
    sys.stderr.write("Offending files:\n")
    for path, ref in big or binary:
        sys.stderr.write("  - %%s (ref: %%s)\n" %% (path, ref))
    sys.stderr.write(rule + "\n")
    sys.exit(1)
'''


def hook_text():
    return HOOK % {"python": sys.executable, "mark": HOOK_MARK, "max_non_lfs": MAX_NON_LFS,
                   "max_binary": MAX_BINARY}


def ensure_hook(repo):
    path = os.path.join(repo.git_dir, "hooks", "pre-receive")
    text = hook_text()
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.chmod(path + ".tmp", 0o755)
    os.replace(path + ".tmp", path)


def refs_of(repo):
    out = repo.git("for-each-ref", "--format=%(refname) %(objectname)").decode()
    return dict(line.split(" ", 1) for line in out.splitlines())


class _BodyProxy:
    """Stands in for req.body_reader while a thread pumps the body into the CGI."""

    def __init__(self, reader, thread):
        self.reader = reader
        self.thread = thread

    @property
    def nread(self):
        return self.reader.nread

    def drain(self):
        self.thread.join()
        self.reader.drain()


def register(hub):
    for r in hub.repos.all():
        ensure_hook(r)
    hub.on_repo_created.append(ensure_hook)

    def git_repo(req, rtype, write):
        # git_challenge false: a 401 without WWW-Authenticate, as clients met it (README)
        challenge = {"WWW-Authenticate": 'Basic realm="Hugging Face"'} if hub.net.get("git_challenge") else {}
        name = req.params["name"]
        if name.endswith(".git"):
            name = name[:-4]
        if req.bad_token:
            raise HubError(401, "Invalid credentials in Authorization header", headers=challenge)
        repo = hub.repos.get(rtype, req.params["ns"], name)
        visible = repo is not None and hub.can_read(req, repo)
        if visible and (not write or hub.can_write(req, repo.ns)):
            return repo
        if not req.user:
            raise HubError(401, "Authentication required", headers=challenge)
        if not visible:
            raise HubError(404, "Repository not found", "RepoNotFound")
        raise HubError(403, "You don't have the rights to push to %s" % repo.id)

    def cgi(req, rtype, tail):
        service = req.arg("service") if tail == "info/refs" else tail
        if service not in ("git-upload-pack", "git-receive-pack"):
            raise HubError(403, "Only the smart HTTP protocol is supported")
        push = service == "git-receive-pack"
        repo = git_repo(req, rtype, push)
        if push:
            ensure_hook(repo)
            before = refs_of(repo)
        env = dict(os.environ)
        for k in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"):
            env.pop(k, None)
        env.update({
            "GIT_PROJECT_ROOT": os.path.dirname(repo.git_dir),
            "PATH_INFO": "/%s/%s" % (os.path.basename(repo.git_dir), tail),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": req.method,
            "QUERY_STRING": req.query_string,
            "CONTENT_TYPE": req.headers.get("Content-Type") or "",
            "REMOTE_USER": req.user["name"] if req.user else "",
            "REMOTE_ADDR": req.client_ip,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        })
        if req.headers.get("Content-Length") and not req.body_reader.chunked:
            env["CONTENT_LENGTH"] = req.headers["Content-Length"]
        else:
            env.pop("CONTENT_LENGTH", None)
        for h, e in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            if req.headers.get(h):
                env[e] = req.headers[h]
        p = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        reader = req.body_reader
        out_q = queue.Queue()
        errs = []

        def pump_in():
            try:
                while True:
                    d = reader.read(1 << 20)
                    if not d:
                        break
                    p.stdin.write(d)
            except (BrokenPipeError, OSError, ConnectionError):
                pass
            finally:
                try:
                    p.stdin.close()
                except OSError:
                    pass

        def pump_out():
            fd = p.stdout.fileno()
            while True:
                d = os.read(fd, 1 << 16)
                out_q.put(d)
                if not d:
                    break

        def pump_err():
            errs.append(p.stderr.read())

        tin = threading.Thread(target=pump_in, daemon=True)
        for t in (tin, threading.Thread(target=pump_out, daemon=True),
                  threading.Thread(target=pump_err, daemon=True)):
            t.start()
        req.body_reader = _BodyProxy(reader, tin)

        buf = b""
        while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
            d = out_q.get()
            if not d:
                break
            buf += d
        sep = b"\r\n\r\n" if b"\r\n\r\n" in buf else b"\n\n"
        head, _, rest = buf.partition(sep)
        status, headers = 200, {}
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k.strip():
                headers[k.strip()] = v.strip()

        def body():
            try:
                if rest:
                    yield rest
                while True:
                    d = out_q.get()
                    if not d:
                        break
                    yield d
            finally:
                p.wait()
                if hub.verbose and errs and errs[0]:
                    sys.stderr.write(errs[0].decode("utf-8", "replace"))
                if push:
                    after = refs_of(repo)
                    for ref in sorted(set(before) | set(after)):
                        if before.get(ref) != after.get(ref):
                            fire_push(hub, repo, ref, before.get(ref), after.get(ref))

        return Response(status, body(), headers)

    web_routes(hub, "GET", "/info/refs", lambda req, t: cgi(req, t, "info/refs"))
    web_routes(hub, "POST", "/git-upload-pack", lambda req, t: cgi(req, t, "git-upload-pack"))
    web_routes(hub, "POST", "/git-receive-pack", lambda req, t: cgi(req, t, "git-receive-pack"))
