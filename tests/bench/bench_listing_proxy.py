#!/usr/bin/env python3
"""A reverse proxy in front of hubd for the benchmark's large-namespace row (bench_suite.py).

It forwards every request to hubd unchanged, except `GET /api/spaces?author=NS`, which it answers
itself for a namespace of COUNT public Spaces (NS/space-000000 …): pages of `limit` (hubd's default
and cap 1000), `X-Total-Count`, a `Link: <…&cursor=…>; rel="next"` header as hubd sends. Each entry
is hubd's own answer for one real Space to the same query (same expand fields), with the id, _id and
subdomain changed, so the shape is the emulator's. Why: hubd computes `sha` with one `git rev-parse`
process per Space and page, so 100k Spaces cost it minutes per listing, which would measure the
emulator instead of spacefs. `--page-delay-ms MS` answers each listing page that long after the request (a slow Hub, for
tests/fs/test_listing_big.sh). Usage:
  bench_listing_proxy.py --upstream URL --namespace NS --count N --template-space ns/name --port-file F
                         [--page-delay-ms MS]
"""
import argparse
import http.client
import http.server
import json
import socketserver
import sys
import threading
import time
import urllib.parse

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
       "content-length"}
PAGE_MAX = 1000


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def _send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body):
        up = self.server.upstream
        c = http.client.HTTPConnection(up.hostname, up.port, timeout=600)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheaders(), data

    def _listing(self, q):
        srv = self.server
        if srv.page_delay:
            time.sleep(srv.page_delay)
        key = tuple(sorted((k, tuple(v)) for k, v in q.items() if k not in ("author", "cursor", "limit")))
        with srv.lock:
            tmpl = srv.templates.get(key)
            if tmpl is None:
                tq = [(k, v) for k, vs in q.items() for v in vs if k not in ("cursor", "limit")]
                tq = [(k, srv.template_ns if k == "author" else v) for k, v in tq]
                st, _, data = self._forward_path("/api/spaces?" + urllib.parse.urlencode(tq))
                rows = [r for r in json.loads(data) if r.get("id") == srv.template_space]
                tmpl = srv.templates[key] = rows[0]
        limit = max(1, min(int((q.get("limit") or [PAGE_MAX])[0]), PAGE_MAX))
        off = int((q.get("cursor") or ["0"])[0], 36)
        page = []
        for i in range(off, min(off + limit, srv.count)):
            e = dict(tmpl)
            name = "space-%06d" % i
            e["id"] = "%s/%s" % (srv.ns, name)
            if "_id" in e:
                e["_id"] = "%024x" % (0xBE0000000000000000000000 + i)
            if "subdomain" in e:
                e["subdomain"] = "%s-%s" % (srv.ns, name)
            if "author" in e:
                e["author"] = srv.ns
            page.append(e)
        headers = [("Content-Type", "application/json"), ("X-Total-Count", str(srv.count))]
        if off + limit < srv.count:
            nq = [(k, v) for k, vs in q.items() for v in vs if k != "cursor"] + [("cursor", b36(off + limit))]
            host = self.headers.get("Host", "127.0.0.1")
            headers.append(("Link", '<http://%s/api/spaces?%s>; rel="next"' % (host, urllib.parse.urlencode(nq))))
        self._send(200, headers, json.dumps(page).encode())

    def _forward_path(self, path):
        up = self.server.upstream
        c = http.client.HTTPConnection(up.hostname, up.port, timeout=600)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        c.request("GET", path, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheaders(), data

    def _handle(self):
        body = self._body()
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if self.command == "GET" and u.path == "/api/spaces" and \
                [a.lower() for a in q.get("author", [])] == [self.server.ns]:
            return self._listing(q)
        self._send(*self._forward(body))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


def b36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = digits[r] + s
        if not n:
            return s


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client closing is not an error
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--template-space", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--page-delay-ms", type=float, default=0)
    a = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Proxy)
    srv.upstream = urllib.parse.urlsplit(a.upstream)
    srv.ns = a.namespace.lower()
    srv.count = a.count
    srv.page_delay = a.page_delay_ms / 1000.0
    srv.template_space = a.template_space
    srv.template_ns = a.template_space.split("/")[0]
    srv.templates = {}
    srv.lock = threading.Lock()
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os

    os.replace(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
