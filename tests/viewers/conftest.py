"""Headless Chromium (Debian's ``chromium``) for rendering the HTML report, and a recorder that
proves the page makes no network request: Chromium is pointed at a loopback proxy that
records every request it receives (file:// pages never go through a proxy, anything else does).
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
    "--no-pings", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-component-extensions-with-background-pages", "--disable-breakpad",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,"
    "SigninInterceptBubble,DialMediaRouteProvider",
    "--virtual-time-budget=8000",
]


#: Chromium's own services, contacted by the browser process whatever page it shows (component
#: updates, sign-in); flags cannot silence every one of them in current builds. Requests to these
#: hosts are not the page's; any other request is.
BROWSER_HOSTS = ("update.googleapis.com", "accounts.google.com", "clients2.google.com",
                 "optimizationguide-pa.googleapis.com", "content-autofill.googleapis.com",
                 "safebrowsing.googleapis.com", "redirector.gvt1.com")


def page_requests(seen: list[str]) -> list[str]:
    """The recorded requests that did not come from Chromium's own background services."""
    return [r for r in seen if not any(f" {h}" in r or f"//{h}/" in r for h in BROWSER_HOSTS)]


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def _record(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_CONNECT = do_HEAD = do_OPTIONS = _record  # noqa: N815

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def request_recorder() -> Iterator[tuple[str, list[str]]]:
    """(proxy URL on loopback, list of requests it received)."""
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def chromium(require_tool: Callable[[str], str], request_recorder: tuple[str, list[str]],
             tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``chromium(page, "--dump-dom")`` runs headless Chromium on a local file through the
    recording proxy and returns the finished process (stdout holds the DOM for --dump-dom)."""
    exe = require_tool("chromium")
    proxy, _ = request_recorder

    def run(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}",
               f"--proxy-server={proxy}", "--proxy-bypass-list=<-loopback>", *extra, page.as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)

    return run
