"""The client factory: REST compatibility header, auth, several hosts, TLS with a CA file."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flowcep_plugin.errors import ConfigError
from flowcep_plugin.es.client import make_client, split_hosts
from flowcep_plugin.es.loopback import free_port

INFO = {"version": {"number": "8.15.0"}, "tagline": "You Know, for Search"}


class Recorder:
    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    def __call__(self, request: Request) -> Response:
        self.headers.append(dict(request.headers))
        return Response(json.dumps(INFO), headers={"X-Elastic-Product": "Elasticsearch",
                                                   "Content-Type": "application/json"})


def test_asks_for_version_8_compatibility_and_api_key(httpserver: HTTPServer) -> None:
    rec = Recorder()
    httpserver.expect_request("/").respond_with_handler(rec)
    client = make_client(httpserver.url_for("/"), {"api_key": "c2VjcmV0"})
    assert client.info()["version"]["number"] == "8.15.0"
    (h,) = rec.headers
    # an 8.x server refuses compatible-with=9, which the 9.x client would send
    assert h["Accept"] == "application/vnd.elasticsearch+json; compatible-with=8"
    assert h["Authorization"] == "ApiKey c2VjcmV0"


def test_basic_auth_from_environment(httpserver: HTTPServer, monkeypatch: Any) -> None:
    rec = Recorder()
    httpserver.expect_request("/").respond_with_handler(rec)
    monkeypatch.setenv("FLOWCEP_ES_PASSWORD", "pw")
    make_client(httpserver.url_for("/"), {"username": "flowcep"}).info()
    assert rec.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"flowcep:pw").decode()


def test_several_hosts_fail_over(httpserver: HTTPServer) -> None:
    rec = Recorder()
    httpserver.expect_request("/").respond_with_handler(rec)
    dead = f"http://127.0.0.1:{free_port()}"
    live = httpserver.url_for("/").rstrip("/")
    client = make_client(f"{dead},{live}", {"request_timeout": 2})
    for _ in range(3):  # whichever node the pool picks first, the request lands
        assert client.info()["version"]["number"] == "8.15.0"
    assert len(rec.headers) == 3


def test_host_parsing_and_errors(tmp_path: Path) -> None:
    assert split_hosts("a:9200, https://b:9243") == ["http://a:9200", "https://b:9243"]
    with pytest.raises(ConfigError, match="no host"):
        make_client("")
    with pytest.raises(ConfigError, match="CA file"):
        make_client("https://x:9200", {"ca_file": str(tmp_path / "missing.pem")})


def _make_ca_and_cert(d: Path, openssl: str) -> tuple[Path, Path, Path]:
    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True, timeout=30)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=FlowCEP test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.cnf")
    return d / "ca.pem", d / "server.pem", d / "server.key"


def test_tls_with_ca_file(tmp_path: Path, require_tool: Any) -> None:
    ca, cert, key = _make_ca_and_cert(tmp_path, require_tool("openssl"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=free_port(), ssl_context=ctx)
    rec = Recorder()
    server.expect_request("/").respond_with_handler(rec)
    server.start()
    try:
        url = server.url_for("/")
        assert url.startswith("https://")
        assert make_client(url, {"ca_file": str(ca)}).info()["version"]["number"] == "8.15.0"
        # without the CA the certificate is refused, and the error says it cannot connect
        from flowcep_plugin.es.setup import server_version

        with pytest.raises(ConfigError, match="cannot connect"):
            server_version(make_client(url, {"request_timeout": 5}))
    finally:
        server.clear()
        server.stop()
