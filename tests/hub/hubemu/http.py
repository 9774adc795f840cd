# HTTP/1.1 plumbing for the Hub emulator: a threaded server with keep-alive, chunked request
# bodies, streamed responses, a pattern router, per-route counters, injected faults and the
# Hub's rate-limit headers. Route handlers live in the other modules and only see Request/Response.

import http.server
import json
import random
import re
import socket
import socketserver
import struct
import threading
import time
import urllib.parse

from .network import Throttle

MAX_BODY_IN_MEMORY = 64 * 1024 * 1024


class HubError(Exception):
    """Raised by handlers; becomes a JSON error with the Hub's error headers."""

    def __init__(self, status, message, code=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


class Response:
    """What a handler returns.

    body: bytes, str, a dict/list (sent as JSON), an iterator of bytes (sent chunked, flushed
    per item: SSE), or a (fileobj, length) tuple (copied in blocks with Content-Length).
    """

    def __init__(self, status=200, body=b"", headers=None, content_type=None):
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json; charset=utf-8"
        elif isinstance(body, str):
            body = body.encode()
            content_type = content_type or "text/plain; charset=utf-8"
        if content_type:
            self.headers.setdefault("Content-Type", content_type)
        self.body = body


def json_response(obj, status=200, headers=None):
    return Response(status, obj, headers)


def error_response(status, message, code=None, headers=None):
    h = dict(headers or {})
    if code:
        h["X-Error-Code"] = code
    h["X-Error-Message"] = _header_safe(message)
    return Response(status, {"error": message}, h)


def _header_safe(s):
    s = s.replace("\r", " ").replace("\n", " ")
    return s.encode("latin-1", "replace").decode("latin-1")


class BodyReader:
    """Reads a request body framed by Content-Length or chunked transfer coding."""

    def __init__(self, rfile, length, chunked, throttle=None):
        self.rfile = rfile
        self.throttle = throttle
        self.chunked = chunked
        self.left = 0 if chunked else length
        self.done = (not chunked) and length == 0
        self.nread = 0

    def _next_chunk(self):
        line = self.rfile.readline(65537)
        if not line:
            raise ConnectionError("eof in chunked body")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self.done = True
        self.left = size

    def read(self, n=-1):
        """Up to n bytes (all when n < 0); b"" at the end."""
        out = []
        while not self.done and n != 0:
            if self.left == 0:
                if not self.chunked:
                    self.done = True
                    break
                self._next_chunk()
                continue
            want = self.left if n < 0 else min(n, self.left)
            data = self.rfile.read(min(want, self.throttle.block() if self.throttle else 1 << 20))
            if not data:
                raise ConnectionError("eof in body")
            if self.throttle:
                self.throttle.account(len(data), "up")
            self.left -= len(data)
            self.nread += len(data)
            if n > 0:
                n -= len(data)
            out.append(data)
            if self.chunked and self.left == 0:
                self.rfile.readline(3)  # the CRLF that ends a chunk's data
            elif not self.chunked and self.left == 0:
                self.done = True
        return b"".join(out)

    def readinto(self, buf):
        """Read up to len(buf) bytes into buf (bytearray/memoryview) without copies; 0 at the end."""
        mv = memoryview(buf)
        while not self.done and len(mv):
            if self.left == 0:
                if not self.chunked:
                    self.done = True
                    break
                self._next_chunk()
                continue
            cap = self.throttle.block() if self.throttle else len(mv)
            n = self.rfile.readinto(mv[: min(len(mv), self.left, cap)])
            if not n:
                raise ConnectionError("eof in body")
            if self.throttle:
                self.throttle.account(n, "up")
            self.left -= n
            self.nread += n
            if self.left == 0:
                if self.chunked:
                    self.rfile.readline(3)  # the CRLF that ends a chunk's data
                else:
                    self.done = True
            return n
        return 0

    def drain(self):
        while not self.done:
            self.read(1 << 20)


class Request:
    def __init__(self, handler, method, target):
        self.handler = handler
        self.method = method
        split = urllib.parse.urlsplit(target)
        self.raw_path = split.path
        self.path = urllib.parse.unquote(split.path)
        self.query_string = split.query
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.headers = handler.headers
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        self.body_reader = BodyReader(handler.rfile, length, "chunked" in te,
                                      getattr(handler, "throttle", None))
        self._body = None
        self.params = {}
        self.route = None
        self.user = None  # fixture user dict when authenticated
        self.role = None  # "read" | "write"
        self.bad_token = False
        self.client_ip = handler.client_address[0]

    def arg(self, name, default=None):
        v = self.query.get(name)
        return v[-1] if v else default

    def args(self, *names):
        """All values of a repeated query key; several spellings (expand, expand[]) merge."""
        out = []
        for n in names:
            out.extend(self.query.get(n, []))
        return out

    def flag(self, name):
        return (self.arg(name) or "").lower() in ("1", "true", "yes")

    def body(self, limit=MAX_BODY_IN_MEMORY):
        if self._body is None:
            data = self.body_reader.read(limit + 1)
            if len(data) > limit:
                raise HubError(413, "Request body too large")
            self._body = data
        return self._body

    def json(self):
        raw = self.body()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise HubError(400, "Invalid JSON body")

    def base_url(self):
        host = self.headers.get("Host") or "%s:%d" % self.handler.server.server_address[:2]
        return ("https://" if self.handler.server.tls else "http://") + host


class Route:
    def __init__(self, method, pattern, func, name=None):
        self.method = method
        self.pattern = pattern
        self.name = name or "%s %s" % (method, pattern)
        self.func = func
        rx = ""
        for part in re.split(r"(\{[a-z_]+\*?\})", pattern):
            if part.startswith("{"):
                nm = part[1:-1]
                if nm.endswith("*"):
                    rx += "(?P<%s>.*)" % nm[:-1]
                else:
                    rx += "(?P<%s>[^/]+)" % nm
            else:
                rx += re.escape(part)
        self.regex = re.compile("^" + rx + "$")


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, pattern, func, name=None):
        """method may be "GET|HEAD"; pattern uses {name} for a segment, {name*} for the rest."""
        for m in method.split("|"):
            self.routes.append(Route(m, pattern, func, name))

    def match(self, method, path):
        allowed = False
        for r in self.routes:
            mm = r.regex.match(path)
            if mm:
                if r.method == method:
                    # Matched on the raw path so that an encoded "/" (refs%2Fpr%2F1) stays
                    # inside its segment; each parameter is decoded afterwards.
                    return r, {k: urllib.parse.unquote(v) for k, v in mm.groupdict().items()}
                allowed = True
        return None, allowed


class Counters:
    """Per-route request counts and bytes, readable and resettable through the admin routes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.routes = {}

    def add_bytes(self, name, bytes_out):
        with self.lock:
            if name in self.routes:
                self.routes[name]["bytes_out"] += bytes_out

    def add(self, name, status, bytes_in, bytes_out):
        with self.lock:
            c = self.routes.setdefault(name, {"count": 0, "bytes_in": 0, "bytes_out": 0, "statuses": {}})
            c["count"] += 1
            c["bytes_in"] += bytes_in
            c["bytes_out"] += bytes_out
            key = str(status)
            c["statuses"][key] = c["statuses"].get(key, 0) + 1

    def snapshot(self):
        with self.lock:
            total = sum(c["count"] for c in self.routes.values())
            return {"total": total, "routes": json.loads(json.dumps(self.routes))}


class Faults:
    """Fault rules matched on method and a path regex, applied before the handler runs.

    A rule: {"method": "POST"|"*", "path": regex, "action": "status"|"reset"|"truncate"|"stall",
    "status": 503, "count": N (-1 = forever), "probability": 0..1, "latency_ms": ms,
    "retry_after": s, "headers": {...}, "message": str, "stall_seconds": s}.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, rule):
        rule = dict(rule)
        rule.setdefault("method", "*")
        rule.setdefault("path", ".*")
        rule.setdefault("action", "status")
        rule.setdefault("count", 1)
        rule.setdefault("probability", 1.0)
        re.compile(rule["path"])
        with self.lock:
            rule["id"] = self.next_id
            rule["hits"] = 0
            self.next_id += 1
            self.rules.append(rule)
        return rule

    def clear(self):
        with self.lock:
            self.rules = []

    def list(self):
        with self.lock:
            return [dict(r) for r in self.rules]

    def pick(self, method, path):
        with self.lock:
            for r in self.rules:
                if r["method"] not in ("*", method):
                    continue
                if not re.search(r["path"], path):
                    continue
                if r["count"] == 0:
                    continue
                if random.random() >= r["probability"]:
                    continue
                if r["count"] > 0:
                    r["count"] -= 1
                r["hits"] += 1
                return dict(r)
        return None


class RateLimiter:
    """Fixed-window quotas as the Hub announces them (IETF RateLimit draft headers).

    Buckets: "api" for everything, plus per-action quotas ("commit") that handlers charge.
    Keys are the token's user name, else the client address.
    """

    def __init__(self, clock):
        self.clock = clock
        self.lock = threading.Lock()
        self.policies = {"api": {"quota": 100000, "window": 300}}
        self.used = {}  # (bucket, key, window_start) -> n

    def configure(self, bucket, quota, window):
        with self.lock:
            if quota is None:
                self.policies.pop(bucket, None)
            else:
                self.policies[bucket] = {"quota": int(quota), "window": int(window)}
            self.used = {k: v for k, v in self.used.items() if k[0] != bucket}

    def charge(self, bucket, key):
        """Count one request; return (allowed, left, reset_seconds, quota, window) or None."""
        with self.lock:
            p = self.policies.get(bucket)
            if not p:
                return None
            now = self.clock.now()
            start = int(now // p["window"]) * p["window"]
            k = (bucket, key, start)
            n = self.used.get(k, 0)
            reset = max(1, -int(-(start + p["window"] - now) // 1))  # ceil: waiting t s is enough
            if n >= p["quota"]:
                return (False, 0, reset, p["quota"], p["window"])
            self.used[k] = n + 1
            return (True, p["quota"] - n - 1, reset, p["quota"], p["window"])

    @staticmethod
    def headers(bucket, info):
        _, left, reset, quota, window = info
        return {
            "RateLimit": '"%s";r=%d;t=%d' % (bucket, left, reset),
            "RateLimit-Policy": '"fixed window";"%s";q=%d;w=%d' % (bucket, quota, window),
        }


class Clock:
    """Wall time plus an offset that the admin route can advance (simulated time)."""

    def __init__(self):
        self.offset = 0.0
        self.lock = threading.Lock()

    def now(self):
        with self.lock:
            return time.time() + self.offset

    def advance(self, seconds):
        with self.lock:
            self.offset += float(seconds)


class _Reset(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the client's
    # delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "hubd"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.hub.verbose:
            super().log_message(fmt, *args)

    def setup(self):
        """Connection set-up on the main listener: a blackhole holds it unanswered; latency costs
        one round trip for TCP and one more for TLS; then the TLS handshake."""
        srv = self.server
        net = srv.hub.net
        self.throttle = None
        if not srv.is_admin:
            self.throttle = Throttle(net)
            if net.current_outage() == "blackhole":
                net.wait_while("blackhole")
                raise _Reset()
            rtt = net.rtt_seconds()
            if rtt:
                time.sleep(rtt * (2 if srv.tls else 1))
        if srv.tls:
            self.request.settimeout(30)
            self.request = srv.tls.default_ctx.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        srv.track(self.request, True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.request, False)
            if self.server.tls:
                try:
                    self.request.close()
                except OSError:
                    pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, _Reset, socket.timeout, BrokenPipeError, OSError):
            self.close_connection = True

    def __getattr__(self, name):
        if name.startswith("do_"):
            return lambda: self.dispatch(name[3:])
        raise AttributeError(name)

    def dispatch(self, method):
        hub = self.server.hub
        req = Request(self, method, self.path)
        route, params = None, None
        for by_host in hub.host_routes:  # e.g. a Space app addressed as Host: <subdomain>.localhost
            hit = by_host(req)
            if hit:
                route, params = hit
                break
        if route is None:
            route, params = hub.router.match(method, req.raw_path)
        name = route.name if route else "UNMATCHED"
        counted = not req.path.startswith(hub.admin_prefix)  # test plumbing is not traffic
        resp = None
        self._reset_mid_body = False
        try:
            if counted and not self.server.is_admin:
                resp = self.network_weather(hub, req)
            fault = None
            if resp is None and not req.path.startswith(hub.admin_prefix):
                fault = hub.faults.pick(method, req.path)
            if fault:
                resp = self.apply_fault(fault, req)
            if resp is None:
                hub.authenticate(req)
                if route is None:
                    if params:
                        resp = error_response(405, "Method not allowed")
                    else:
                        resp = error_response(404, "Not Found")
                else:
                    req.params = params
                    req.route = route
                    resp = self.ratelimit_then_call(hub, route, req)
        except HubError as e:
            resp = error_response(e.status, e.message, e.code, e.headers)
        except _Reset:
            if counted:
                hub.counters.add(name, "reset", req.body_reader.nread, 0)
            raise
        except Exception as e:  # a handler bug: a 500 the tests will notice
            import traceback

            traceback.print_exc()
            resp = error_response(500, "emulator error: %s" % e)
        try:
            req.body_reader.drain()
        except Exception:
            self.close_connection = True
        # Counted before the answer leaves, so a client that reads the counters right after its
        # request sees it; the body's bytes are added once sent.
        if counted:
            hub.counters.add(name, resp.status, req.body_reader.nread, 0)
        out = self.send(resp, method, getattr(self, "_truncate", False), self._reset_mid_body)
        if counted:
            hub.counters.add_bytes(name, out)

    def network_weather(self, hub, req):
        """Before a request on the main listener: the outage of the moment, then one round trip.
        Returns a response to send instead of calling the handler, or None."""
        net = hub.net
        kind = net.current_outage()
        if kind == "blackhole":  # a request already in flight on a kept-alive connection
            net.wait_while("blackhole")
            raise _Reset()
        if kind == "refused":  # hubd is closing the connections; never answer this one
            raise _Reset()
        rtt = net.rtt_seconds()
        if rtt:
            time.sleep(rtt)
        if kind == "503":
            return Response(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                            content_type="text/html")
        if kind == "reset":
            self._reset_mid_body = True
        return None

    def ratelimit_then_call(self, hub, route, req):
        extra = {}
        if not req.path.startswith(hub.admin_prefix):
            key = req.user["name"] if req.user else req.client_ip
            info = hub.ratelimit.charge("api", key)
            if info:
                extra = RateLimiter.headers("api", info)
                if not info[0]:
                    r = error_response(429, "You have exceeded our rate limit for api requests. "
                                       "Retry after %d seconds." % info[2], headers=extra)
                    r.headers["Retry-After"] = str(info[2])
                    return r
        try:
            resp = route.func(req)
        except HubError as e:  # errors carry the rate-limit headers too
            resp = error_response(e.status, e.message, e.code, e.headers)
        for k, v in extra.items():
            resp.headers.setdefault(k, v)
        return resp

    def apply_fault(self, f, req):
        if f.get("latency_ms"):
            time.sleep(f["latency_ms"] / 1000.0)
        action = f.get("action", "status")
        if action == "latency":
            return None
        if action == "stall":
            time.sleep(float(f.get("stall_seconds", 30)))
            raise _Reset()
        if action == "reset":
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            raise _Reset()
        if action == "truncate":
            self._truncate = True
            return None
        status = int(f.get("status", 503))
        headers = dict(f.get("headers") or {})
        if f.get("retry_after") is not None:
            headers["Retry-After"] = str(f["retry_after"])
        return error_response(status, f.get("message") or "injected fault %d" % status,
                              f.get("code"), headers)

    def _write(self, data):
        """Body bytes, paced by the bandwidth cap."""
        t = self.throttle
        if t is None:
            self.wfile.write(data)
            return
        mv = memoryview(data)
        step = t.block()
        for i in range(0, len(mv), step):
            self.wfile.write(mv[i:i + step])
            if step < len(mv):
                self.wfile.flush()
            t.account(min(step, len(mv) - i))

    def _rst(self):
        """Ends the connection with a TCP reset (SO_LINGER 0), not an orderly close."""
        self.wfile.flush()
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        raise _Reset()

    def send(self, resp, method, truncate=False, reset=False):
        """Write the response; returns bytes of body written. truncate: half the body, then an
        orderly close; reset: half the body (or the first stream chunk), then a TCP reset."""
        self._truncate = False
        if reset:
            truncate = True
        body = resp.body
        self.send_response_only(resp.status)
        self.send_header("Date", self.date_time_string())
        rid = "Root=1-%08x-%s" % (int(time.time()), "%024x" % random.getrandbits(96))
        self.send_header("X-Request-Id", self.headers.get("X-Amzn-Trace-Id") and
                         rid + ";" + self.headers.get("X-Amzn-Trace-Id") or rid)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        written = 0
        if isinstance(body, (bytes, bytearray)):
            if "Content-Length" not in resp.headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if method != "HEAD" and resp.status not in (204, 304):
                if truncate:
                    self._write(body[: len(body) // 2])
                    self.wfile.flush()
                    if reset:
                        self._rst()
                    raise _Reset()
                self._write(body)
                written = len(body)
        elif isinstance(body, tuple):
            fobj, length = body
            if "Content-Length" not in resp.headers:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            try:
                if method != "HEAD":
                    left = length if not truncate else length // 2
                    while left > 0:
                        chunk = fobj.read(min(left, 1 << 20))
                        if not chunk:
                            break
                        self._write(chunk)
                        left -= len(chunk)
                        written += len(chunk)
                    if truncate:
                        self.wfile.flush()
                        if reset:
                            self._rst()
                        raise _Reset()
            finally:
                fobj.close()
        else:  # iterator: chunked, flushed per item
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if method != "HEAD":
                try:
                    for chunk in body:
                        if not chunk:
                            continue
                        self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                        written += len(chunk)
                        if reset:
                            self._rst()
                    self.wfile.write(b"0\r\n\r\n")
                finally:
                    close = getattr(body, "close", None)
                    if close:
                        close()
        self.wfile.flush()
        if resp.headers.get("Connection", "").lower() == "close":
            self.close_connection = True
        return written


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, hub, tls=None, is_admin=False):
        self.hub = hub
        self.tls = tls  # network.Tls or None
        self.is_admin = is_admin  # the admin listener: plain HTTP, no weather
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, Handler)

    def track(self, sock, add):
        with self.conns_lock:
            (self.conns.add if add else self.conns.discard)(sock)

    def cut_connections(self):
        """Resets every open connection (the port is closing: "refused")."""
        with self.conns_lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (_Reset, ConnectionError, OSError)):
            return  # TLS handshakes that failed, blackholed connections: expected
        super().handle_error(request, client_address)
