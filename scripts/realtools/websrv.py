#!/usr/bin/env python3
"""Victim web server for scripts/capture-realtools.sh: a few pages, a form login and basic auth.

Run inside a network namespace only (it binds 0.0.0.0:80 there, or [::]:80 with a second
argument "::"). /login takes a POST form
(user, pass) and answers "invalid" until the pair is alice/correct-horse; /admin wants HTTP
basic auth with the same pair. Everything else under / is a small static page or a 404, so
dirb's misses look as they do on a real server. The home page links the site's pages and
/docs/, a small manual (/docs/1.html .. /docs/40.html, each linking the next two), so a
crawler (wget -r) has something to follow. /files/big.bin is 16 MB of fixed bytes served with
byte ranges (Range: bytes=A-B, answered 206), so a segmented downloader (aria2c -x16) opens
its parallel connections.
"""

from __future__ import annotations

import base64
import re
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

USER, PASSWORD = "alice", "correct-horse"
PAGES = {"/": "home", "/index.html": "home", "/news": "news", "/about": "about",
         "/products": "products", "/contact": "contact", "/images/logo.png": "png",
         "/login": "login"}
HOME_LINKS = "".join(f'<a href="{p}">{p}</a> ' for p in ("/news", "/about", "/products", "/contact", "/docs/"))
BIG = bytes(range(256)) * 65536  # 16 MB: aria2c splits into pieces of at least 1 MB
FORM = (b"<html><body><form method=post action=/login><input name=user>"
        b"<input name=pass type=password><input type=submit></form></body></html>")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache/2.4.57"
    sys_version = ""

    def log_message(self, fmt: str, *args: object) -> None:  # quiet: the pcap is the record
        pass

    def _send(self, code: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _ranged(self, body: bytes) -> None:
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not m:
            self._send(200, body, {"Accept-Ranges": "bytes"})
            return
        a = int(m.group(1))
        b = min(int(m.group(2)) if m.group(2) else len(body) - 1, len(body) - 1)
        self._send(206, body[a:b + 1], {"Accept-Ranges": "bytes", "Content-Range": f"bytes {a}-{b}/{len(body)}"})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/files/big.bin":
            self._ranged(BIG)
            return
        if path == "/admin" or path.startswith("/admin/"):
            auth = self.headers.get("Authorization", "")
            ok = False
            if auth.startswith("Basic "):
                try:
                    ok = base64.b64decode(auth[6:]).decode() == f"{USER}:{PASSWORD}"
                except ValueError:
                    ok = False
            if ok:
                self._send(200, b"<html>admin panel</html>")
            else:
                self._send(401, b"<html>401 Unauthorized</html>",
                           {"WWW-Authenticate": 'Basic realm="admin"'})
            return
        if path == "/login":
            self._send(200, FORM)
            return
        if path == "/docs/" or re.fullmatch(r"/docs/([1-9]|[1-3][0-9]|40)\.html", path):
            n = 0 if path == "/docs/" else int(path[6:-5])
            links = range(1, 41) if n == 0 else [k for k in (n + 1, n + 2) if k <= 40]
            body = "".join(f'<a href="/docs/{k}.html">part {k}</a> ' for k in links)
            self._send(200, (f"<html><body><h1>manual {n}</h1>{body}" + "lorem ipsum " * 60
                             + "</body></html>").encode())
            return
        name = PAGES.get(path)
        if name is None:
            self._send(404, b"<html>404 Not Found</html>")
            return
        links = HOME_LINKS if name == "home" else ""
        self._send(200, (f"<html><body><h1>{name}</h1>{links}" + "lorem ipsum " * 200 + "</body></html>").encode())

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(n).decode(errors="replace"))
        if self.path.split("?", 1)[0] != "/login":
            self._send(404, b"<html>404 Not Found</html>")
        elif form.get("user") == [USER] and form.get("pass") == [PASSWORD]:
            self._send(302, b"", {"Location": "/account"})
        else:
            self._send(200, b"<html>invalid user or password</html>")


class Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 80
    bind = sys.argv[2] if len(sys.argv) > 2 else "0.0.0.0"
    cls = Server6 if ":" in bind else ThreadingHTTPServer
    cls.daemon_threads = True
    if cls is Server6:  # IPv6 only: the IPv4 listener is another process
        srv = Server6((bind, port), Handler, bind_and_activate=False)
        srv.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        srv.server_bind()
        srv.server_activate()
        srv.serve_forever()
    else:
        cls((bind, port), Handler).serve_forever()
