# Git LFS on the emulated Hub: the batch API (basic and the Hub's multipart transfer), signed
# upload/download URLs that need no token (HMAC with expiry, like S3/CDN URLs), multipart parts
# and completion, and verify. Objects are hashed while they stream in and land in the shared
# content-addressed store only when sha256 and size match.

import hashlib
import hmac
import json
import os
import queue
import secrets
import shutil
import tempfile
import threading
import urllib.parse

from .http import HubError, Response
from .repos import base_url, web_routes

LFS_CT = "application/vnd.git-lfs+json"
URL_TTL = 3600
BLOCK = 4 << 20
DEFAULT_MULTIPART_THRESHOLD = 64 << 20
DEFAULT_CHUNK_SIZE = 16 << 20
MAX_BATCH = 1000


def _secret(hub):
    if not getattr(hub, "_url_secret", None):
        hub._url_secret = secrets.token_bytes(32)
    return hub._url_secret


def _sig(hub, method, path, exp):
    msg = ("%s\n%s\n%d" % (method, path, exp)).encode()
    return hmac.new(_secret(hub), msg, hashlib.sha256).hexdigest()


def signed_url(hub, req, method, oid, kind="objects", name=None, extra=""):
    """An absolute URL under /lfs-storage/ valid for URL_TTL seconds, no token needed."""
    path = "/lfs-storage/%s/%s%s" % (kind, oid, extra)
    exp = int(hub.clock.now()) + URL_TTL
    q = {"X-Expires": str(exp), "X-Signature": _sig(hub, method, path, exp)}
    if name:
        q["response-content-disposition"] = 'inline; filename="%s"' % name.replace('"', "")
    return "%s%s?%s" % (base_url(hub, req), path, urllib.parse.urlencode(q))


def check_signature(hub, req, method):
    try:
        exp = int(req.arg("X-Expires") or "")
    except ValueError:
        raise HubError(403, "Missing or invalid signature")
    sig = req.arg("X-Signature") or ""
    if not hmac.compare_digest(sig, _sig(hub, method, req.path, exp)):
        raise HubError(403, "The request signature we calculated does not match the signature you provided")
    if exp < hub.clock.now():
        raise HubError(403, "Request has expired")


def _tmp_dir(hub):
    d = os.path.join(hub.repos.lfs_root, "tmp")
    os.makedirs(d, exist_ok=True)
    return d


def _pipelined_copy(readinto, f, digests):
    """Copy readinto() into file f with the digests updated on the way; returns the byte count.

    Reading+hashing and writing overlap in two threads (both release the GIL), over a small pool
    of big buffers, so a PUT runs at about the speed of the slower of the two."""
    free, full = queue.Queue(), queue.Queue()
    for _ in range(4):
        free.put(memoryview(bytearray(BLOCK)))
    err = []

    def writer():
        while True:
            item = full.get()
            if item is None:
                return
            buf, n = item
            try:
                if not err:
                    f.write(buf[:n])
            except OSError as e:
                err.append(e)
            free.put(buf)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    total = 0
    try:
        while True:
            buf = free.get()
            n = readinto(buf)
            if not n:
                break
            for d in digests:
                d.update(buf[:n])
            full.put((buf, n))
            total += n
    finally:
        full.put(None)
        t.join()
    if err:
        raise err[0]
    return total


def receive_object(hub, readinto, oid, size):
    """Stream readinto(buf) into the store, hashing on the way; 400 when sha256 or size differ."""
    store = hub.repos
    fd, tmp = tempfile.mkstemp(dir=_tmp_dir(hub))
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb", buffering=0) as f:
            n = _pipelined_copy(readinto, f, [h])
        if size is not None and n != size:
            raise HubError(400, "Size mismatch: expected %d bytes, received %d" % (size, n))
        if h.hexdigest() != oid:
            raise HubError(400, "sha256 mismatch: the content does not hash to %s" % oid)
        dest = store.lfs_path(oid)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(tmp, dest)
        tmp = None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


class _Padded:
    """A file followed by `extra` zero bytes (the storage_extra_bytes knob)."""

    def __init__(self, f, extra):
        self.f, self.extra = f, extra

    def read(self, n):
        d = self.f.read(n)
        if d:
            return d
        d = b"\0" * min(n, self.extra)
        self.extra -= len(d)
        return d

    def close(self):
        self.f.close()


def register(hub):
    def threshold():
        return getattr(hub, "lfs_multipart_threshold", DEFAULT_MULTIPART_THRESHOLD)

    def chunk_size():
        return getattr(hub, "lfs_chunk_size", DEFAULT_CHUNK_SIZE)

    def lfs_auth(req, rtype, write):
        """The repo, or an error git-lfs understands (401 with a Basic challenge so it asks)."""
        challenge = {"LFS-Authenticate": 'Basic realm="Hugging Face"',
                     "WWW-Authenticate": 'Basic realm="Hugging Face"'}
        name = req.params["name"]
        if name.endswith(".git"):
            name = name[:-4]
        if req.bad_token:
            raise HubError(401, "Invalid credentials in Authorization header", headers=challenge)
        repo = hub.repos.get(rtype, req.params["ns"], name)
        visible = repo is not None and hub.can_read(req, repo)
        if not visible or (write and not hub.can_write(req, repo.ns)):
            if not req.user:
                raise HubError(401, "Authentication required", headers=challenge)
            if not visible:
                raise HubError(404, "Repository not found", "RepoNotFound")
            raise HubError(403, "You don't have the rights to write to %s" % repo.id)
        return repo

    def batch(req, rtype):
        body = req.json()
        op = body.get("operation")
        if op not in ("upload", "download"):
            raise HubError(422, "operation must be upload or download")
        repo = lfs_auth(req, rtype, write=(op == "upload"))
        algo = body.get("hash_algo", "sha256")
        if algo not in ("sha256", "sha_256"):
            raise HubError(409, "Unsupported hash algorithm: %s" % algo)
        objects = body.get("objects") or []
        if len(objects) > MAX_BATCH:
            raise HubError(413, "Too many objects in one batch (max %d)" % MAX_BATCH)
        transfers = body.get("transfers") or ["basic"]
        can_multipart = "multipart" in transfers
        out = []
        used_multipart = False
        verify_href = "%s/%s%s.git/info/lfs/objects/verify" % (base_url(hub, req),
                                                               {"model": "", "dataset": "datasets/",
                                                                "space": "spaces/"}[rtype], repo.id)
        for o in objects:
            oid, size = o.get("oid"), o.get("size")
            ent = {"oid": oid, "size": size}
            if not isinstance(oid, str) or len(oid) != 64 or any(c not in "0123456789abcdef" for c in oid):
                ent["error"] = {"code": 422, "message": "Invalid object id"}
                out.append(ent)
                continue
            if not isinstance(size, int) or size < 0:
                ent["error"] = {"code": 422, "message": "Invalid size"}
                out.append(ent)
                continue
            have = hub.repos.lfs_has(oid)
            if op == "download":
                if not have:
                    ent["error"] = {"code": 404, "message": "Object does not exist"}
                else:
                    ent["authenticated"] = True
                    ent["actions"] = {"download": {"href": signed_url(hub, req, "GET", oid),
                                                   "expires_in": URL_TTL}}
            elif have and os.path.getsize(hub.repos.lfs_path(oid)) == size:
                pass  # already stored: no actions
            elif can_multipart and size > threshold():
                used_multipart = True
                cs = chunk_size()
                nparts = max(1, -(-size // cs))
                hdr = {"chunk_size": str(cs)}
                for i in range(1, nparts + 1):
                    hdr["%05d" % i] = signed_url(hub, req, "PUT", oid, "multipart",
                                                 extra="/%d" % i) + "&size=%d" % size
                ent["actions"] = {
                    "upload": {"href": signed_url(hub, req, "POST", oid, "multipart") + "&size=%d" % size,
                               "header": hdr, "expires_in": URL_TTL},
                    "verify": {"href": verify_href, "expires_in": URL_TTL}}
            else:
                ent["actions"] = {
                    "upload": {"href": signed_url(hub, req, "PUT", oid) + "&size=%d" % size,
                               "expires_in": URL_TTL},
                    "verify": {"href": verify_href, "expires_in": URL_TTL}}
            out.append(ent)
        field = hub.net.get("lfs_transfer_field")  # multipart is per object, by chunk_size
        reply = {"objects": out}
        if field == "auto":
            reply["transfer"] = "multipart" if used_multipart else "basic"
        elif field == "basic":
            reply["transfer"] = "basic"
        return Response(200, json.dumps(reply).encode(), content_type=LFS_CT)

    def _size_arg(req):
        try:
            return int(req.arg("size"))
        except (TypeError, ValueError):
            return None

    def put_object(req):
        check_signature(hub, req, "PUT")
        oid = req.params["oid"]
        receive_object(hub, req.body_reader.readinto, oid, _size_arg(req))
        return Response(200, b"", {"ETag": '"%s"' % oid})

    def put_part(req):
        check_signature(hub, req, "PUT")
        oid, part = req.params["oid"], req.params["part"]
        if not part.isdigit() or int(part) < 1:
            raise HubError(400, "Invalid part number")
        d = os.path.join(_tmp_dir(hub), "mp-" + oid)
        os.makedirs(d, exist_ok=True)
        md5 = hashlib.md5()
        fd, tmp = tempfile.mkstemp(dir=d)
        with os.fdopen(fd, "wb", buffering=0) as f:
            _pipelined_copy(req.body_reader.readinto, f, [md5])
        etag = '"%s"' % md5.hexdigest()
        os.replace(tmp, os.path.join(d, "%d" % int(part)))
        with open(os.path.join(d, "%d.etag" % int(part)), "w") as f:
            f.write(etag)
        return Response(200, b"", {"ETag": etag})

    def complete(req):
        check_signature(hub, req, "POST")
        oid = req.params["oid"]
        body = req.json()
        if body.get("oid") != oid:
            raise HubError(400, "oid in the body does not match the upload")
        parts = sorted(body.get("parts") or [], key=lambda p: int(p.get("partNumber", 0)))
        d = os.path.join(_tmp_dir(hub), "mp-" + oid)
        files = []
        for i, p in enumerate(parts, 1):
            n = int(p.get("partNumber", 0))
            if n != i:
                raise HubError(400, "Parts must be numbered 1..N without gaps")
            try:
                with open(os.path.join(d, "%d.etag" % n)) as f:
                    stored = f.read()
            except FileNotFoundError:
                raise HubError(400, "Part %d was not uploaded" % n)
            if p.get("etag", "").strip('"') != stored.strip('"'):
                raise HubError(400, "ETag of part %d does not match" % n)
            files.append(os.path.join(d, "%d" % n))
        if not files:
            raise HubError(400, "No parts")
        it = iter(files)
        cur = [open(next(it), "rb", buffering=0)]

        def readinto(buf):
            while cur:
                n = cur[0].readinto(buf)
                if n:
                    return n
                cur[0].close()
                nxt = next(it, None)
                if nxt is None:
                    cur.clear()
                    return 0
                cur[0] = open(nxt, "rb", buffering=0)
            return 0

        try:
            receive_object(hub, readinto, oid, _size_arg(req))
        finally:
            for f in cur:
                f.close()
        shutil.rmtree(d, ignore_errors=True)
        return Response(200, json.dumps({"success": True}).encode(), content_type=LFS_CT)

    def verify(req, rtype):
        lfs_auth(req, rtype, write=True)
        body = req.json()
        oid, size = body.get("oid"), body.get("size")
        if not isinstance(oid, str) or not hub.repos.lfs_has(oid):
            raise HubError(404, "Object %s was not uploaded" % oid)
        if size is not None and os.path.getsize(hub.repos.lfs_path(oid)) != size:
            raise HubError(422, "Size of object %s does not match" % oid)
        return Response(200, json.dumps({"success": True}).encode(), content_type=LFS_CT)

    def get_object(req):
        check_signature(hub, req, "GET")
        if req.method == "HEAD" and hub.net.get("storage_head_403"):
            # a URL presigned for GET, as S3/CloudFront serve LFS objects, refuses HEAD
            return Response(403, b"", {"Content-Type": "application/xml"})
        extra = int(hub.net.get("storage_extra_bytes"))
        if extra and req.method == "GET":
            # hostile storage: Range ignored, the object then `extra` more bytes, all announced
            p = hub.repos.lfs_path(req.params["oid"])
            if os.path.exists(p):
                size = os.path.getsize(p)
                return Response(200, (_Padded(open(p, "rb"), extra), size + extra),
                                {"Content-Type": "application/octet-stream"})
        from .files import ranged

        oid = req.params["oid"]
        p = hub.repos.lfs_path(oid)
        if not os.path.exists(p):
            raise HubError(404, "NoSuchKey")
        size = os.path.getsize(p)
        h = {"ETag": '"%s"' % oid, "Content-Type": "application/octet-stream",
             "Cache-Control": "public, max-age=%d" % URL_TTL}
        cd = req.arg("response-content-disposition")
        if cd:
            h["Content-Disposition"] = cd

        def open_at(start, length):
            if req.method == "HEAD":
                return b""
            f = open(p, "rb")
            f.seek(start)
            return (f, length)

        return ranged(req, h, size, open_at)

    web_routes(hub, "POST", "/info/lfs/objects/batch", batch)
    web_routes(hub, "POST", "/info/lfs/objects/verify", verify)
    hub.router.add("GET|HEAD", "/lfs-storage/objects/{oid}", get_object)
    hub.router.add("PUT", "/lfs-storage/objects/{oid}", put_object)
    hub.router.add("PUT", "/lfs-storage/multipart/{oid}/{part}", put_part)
    hub.router.add("POST", "/lfs-storage/multipart/{oid}", complete)
