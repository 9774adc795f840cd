# The network between a client and the Hub, as the tests want it: TLS with a CA generated on
# first use, round-trip latency with jitter, a bandwidth cap, and outages (refused, blackhole,
# 503 storm, reset mid-body) switchable at run time. http.py asks this module before and while
# it answers; hubd wires the listener so that "refused" really closes the port.

import os
import random
import re
import ssl
import subprocess
import threading
import time

OUTAGES = ("none", "refused", "blackhole", "503", "reset")
LINK_SLACK_S = 0.05  # bandwidth_mbps: idle time of the link that is caught up (socket buffers)

DEFAULTS = {
    "latency_ms": 0.0,  # one round trip, added before each request is answered
    "jitter_ms": 0.0,  # uniform in [-jitter, +jitter] around latency_ms
    "bandwidth_kib_s": 0.0,  # per connection, each direction; 0 = unlimited
    "bandwidth_mbps": 0.0,  # one link shared by every connection, each direction; 0 = unlimited
    "log_first_byte_ms": 0.0,  # delay before a log stream's first byte (its headers)
    "git_challenge": True,  # False: git's 401 carries no WWW-Authenticate
    "lfs_transfer_field": "auto",  # batch "transfer": auto (multipart if any), basic, omit
    "storage_head_403": False,  # signed LFS storage URLs answer 403 to HEAD
    "compress": False,  # resolve gzips regular files for clients that accept it
    "storage_extra_bytes": 0.0,  # hostile storage: GET sends the object plus this many bytes
}


class Network:
    def __init__(self):
        self.lock = threading.Condition()
        self.knobs = dict(DEFAULTS)
        self.outage = "none"
        self.on_outage = []  # callbacks(old, new), e.g. hubd closing/reopening the port
        self.link_free = {"up": 0.0, "down": 0.0}  # monotonic time each direction is free again

    def get(self, k):
        with self.lock:
            return self.knobs[k]

    def configure(self, changes):
        """Validates then applies; raises ValueError with the reason."""
        new = {}
        for k, v in changes.items():
            if k not in DEFAULTS:
                raise ValueError("unknown setting %s (known: %s)" % (k, ", ".join(sorted(DEFAULTS))))
            d = DEFAULTS[k]
            if isinstance(d, bool):
                if not isinstance(v, bool):
                    raise ValueError("%s must be true or false" % k)
            elif isinstance(d, float):
                if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                    raise ValueError("%s must be a non-negative number" % k)
                v = float(v)
            elif k == "lfs_transfer_field" and v not in ("auto", "basic", "omit"):
                raise ValueError("lfs_transfer_field must be auto, basic or omit")
            new[k] = v
        with self.lock:
            self.knobs.update(new)
            return dict(self.knobs)

    def snapshot(self):
        with self.lock:
            d = dict(self.knobs)
            d["outage"] = self.outage
            return d

    def set_outage(self, kind):
        if kind not in OUTAGES:
            raise ValueError("outage must be one of %s" % ", ".join(OUTAGES))
        with self.lock:
            old, self.outage = self.outage, kind
            self.lock.notify_all()
        if old != kind:
            for cb in self.on_outage:
                cb(old, kind)

    def current_outage(self):
        with self.lock:
            return self.outage

    def wait_while(self, kind):
        """Blocks while the outage is `kind` (a blackhole holds its connections this way)."""
        with self.lock:
            while self.outage == kind:
                self.lock.wait(1.0)

    def rtt_seconds(self):
        with self.lock:
            lat, jit = self.knobs["latency_ms"], self.knobs["jitter_ms"]
        if lat <= 0 and jit <= 0:
            return 0.0
        return max(0.0, lat + random.uniform(-jit, jit)) / 1000.0

    def bandwidth(self):
        """Bytes per second, 0 when unlimited."""
        with self.lock:
            return self.knobs["bandwidth_kib_s"] * 1024.0

    def limited(self):
        with self.lock:
            return self.knobs["bandwidth_kib_s"] > 0 or self.knobs["bandwidth_mbps"] > 0

    def link_reserve(self, direction, n):
        """The shared link (bandwidth_mbps): n bytes take the link for n*8/rate seconds after
        whatever was reserved before them in that direction, so connections side by side share
        it as they would a real one. A link idle for at most LINK_SLACK_S (our own time between
        two blocks: reading the file, hashing) is caught up, as the socket buffers of a real one
        keep it busy meanwhile; a longer idle time stores no credit. Returns the monotonic time
        the bytes have gone through, 0 when the link is unlimited."""
        with self.lock:
            mbps = self.knobs["bandwidth_mbps"]
            if mbps <= 0 or n <= 0:
                return 0.0
            start = max(time.monotonic() - LINK_SLACK_S, self.link_free[direction])
            self.link_free[direction] = start + n * 8.0 / (mbps * 1e6)
            return self.link_free[direction]


class Throttle:
    """Per-connection pacing: after n bytes, sleep until n/rate seconds have passed since the
    first byte of the current burst (bursts restart after a second of silence)."""

    def __init__(self, net):
        self.net = net
        self.t0 = None
        self.sent = 0
        self.last = 0.0

    def block(self):
        """Largest write that keeps pacing smooth."""
        return 16384 if self.net.limited() else 1 << 20

    def account(self, n, direction="down"):
        """n body bytes went "down" (to the client) or "up" (from it): sleep as the per-connection
        cap and the shared link want."""
        if n <= 0:
            return
        link_due = self.net.link_reserve(direction, n)
        rate = self.net.bandwidth()
        due = link_due
        if rate > 0:
            now = time.monotonic()
            if self.t0 is None or now - self.last > 1.0:
                self.t0, self.sent = now, 0
            self.sent += n
            due = max(due, self.t0 + self.sent / rate)
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        self.last = time.monotonic()


# --- TLS: a CA of our own, a server certificate for 127.0.0.1 and localhost, and one per app
# subdomain host (<sub>.localhost) made on first sight through SNI. Files live in a directory that
# survives restarts with the same --state, so a client trusting ca.pem keeps trusting it.
_HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.strip()))


class Tls:
    def __init__(self, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.ctx_by_host = {}
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.ca_pem = os.path.join(directory, "ca.pem")
        if not os.path.exists(self.ca_pem):
            self._make_ca()
        self.default_ctx = self._context("server", ["IP:127.0.0.1", "IP:::1", "DNS:localhost"])
        self.default_ctx.sni_callback = self._sni

    def _make_ca(self):
        d = self.dir
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", "ca.key", "-out", "ca.pem.tmp", "-days", "3650",
                 "-subj", "/CN=hubd test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        os.replace(os.path.join(d, "ca.pem.tmp"), self.ca_pem)

    def _context(self, name, sans):
        d = self.dir
        crt = os.path.join(d, name + ".pem")
        key = os.path.join(d, name + ".key")
        if not os.path.exists(crt):
            with open(os.path.join(d, name + ".ext"), "w") as f:
                f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                        % ",".join(sans))
            _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", name + ".key", "-out", name + ".csr",
                     "-subj", "/CN=%s" % sans[-1].split(":", 1)[1], cwd=d)
            _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                     "-CAcreateserial", "-days", "825", "-extfile", name + ".ext",
                     "-out", name + ".pem.tmp", cwd=d)
            os.replace(crt + ".tmp", crt)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        return ctx

    def _sni(self, sslsock, server_name, ctx):
        if not server_name or server_name in ("localhost",):
            return None
        host = server_name.lower()
        if not host.endswith(".localhost") or not _HOST_RE.match(host):
            return None  # the default certificate; the client will say it does not match
        with self.lock:
            c = self.ctx_by_host.get(host)
            if c is None:
                c = self._context("host-" + host, ["DNS:" + host])
                self.ctx_by_host[host] = c
        sslsock.context = c
        return None
