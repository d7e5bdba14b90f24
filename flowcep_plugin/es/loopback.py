"""Start and stop a loopback server that speaks the Elasticsearch REST API (or Kafka's
protocol), for tests and benchmarks on machines where Elasticsearch or Kafka cannot run.

It uses the ``noida-db`` package (``noida-db start --only elasticsearch``), which accepts
index templates, bulk (with 409 conflicts and mapping errors), search and aggregations, but
has no data-stream or ILM endpoints; ``--only kafka`` speaks the Kafka protocol (produce,
fetch, consumer groups). Bound to 127.0.0.1 on a free port, with its own data directory;
stopped by the process id this module started.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LoopbackServer", "noida_binary", "free_port", "start_noida"]


def noida_binary() -> str | None:
    """The ``noida-db`` server binary shipped in the ``noida_db`` package (run directly: its
    console-script wrapper does not pass signals on, so stopping the wrapper would leave the
    server running), else a ``noida-db`` on PATH."""
    try:
        from importlib.resources import files

        path = Path(str(files("noida_db").joinpath("noida-db")))
    except (ImportError, ModuleNotFoundError, TypeError):
        path = None
    if path is not None and path.is_file():
        if not os.access(path, os.X_OK):
            try:
                path.chmod(0o755)
            except OSError:
                return shutil.which("noida-db")
        return str(path)
    here = Path(sys.executable).parent / "noida-db"
    if here.exists():
        return str(here)
    return shutil.which("noida-db")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LoopbackServer:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: str
    log_path: str

    def stop(self) -> None:
        """Stop the server and anything it started (its own process group), then remove its
        data directory."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=5)
        else:
            self._signal(signal.SIGKILL)  # a wrapper that exited may have left its child
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)  # the group this module created for it
        except (ProcessLookupError, PermissionError):
            pass


def _die_with_parent() -> Any:
    """On Linux, ask the kernel to SIGTERM the server when the process that started it dies
    (a test run killed by a timeout cannot run its fixture teardown)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def child() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return child


def server_stop_quietly(proc: subprocess.Popen[bytes]) -> None:
    """atexit safety net: end the server's process group if the fixture did not."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def start_noida(timeout: float = 20.0, service: str = "elasticsearch") -> LoopbackServer:
    """Start ``noida-db`` with only ``service`` (``elasticsearch`` or ``kafka``) on a free
    loopback port; wait until it answers (``GET /``, or a Kafka metadata request). Its ``url``
    is ``http://127.0.0.1:PORT`` for Elasticsearch, ``127.0.0.1:PORT`` (bootstrap servers) for
    Kafka. Raises RuntimeError (with the server's log) when it does not come up."""
    if service not in ("elasticsearch", "kafka"):
        raise ValueError(f"noida-db service {service!r}: elasticsearch or kafka")
    binary = noida_binary()
    if binary is None:
        raise RuntimeError("noida-db is not installed (pip install noida-db)")
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="flowcep-noida-")
    log_path = os.path.join(data_dir, "server.log")
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [binary, "start", "--only", service, "--host", "127.0.0.1",
         f"--{service}-port", str(port), "--data-dir", os.path.join(data_dir, "data")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=data_dir,
        start_new_session=True,  # its own process group, so stop() reaches every process
        preexec_fn=_die_with_parent(),
    )
    atexit.register(server_stop_quietly, proc)
    url = f"http://127.0.0.1:{port}" if service == "elasticsearch" else f"127.0.0.1:{port}"
    server = LoopbackServer(url, proc, data_dir, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if service == "kafka":
            if _kafka_answers(url):
                return server
            time.sleep(0.1)
            continue
        try:
            with urllib.request.urlopen(url + "/", timeout=1) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    text = Path(log_path).read_text(errors="replace")[-2000:]
    server.stop()
    raise RuntimeError(f"noida-db did not start on {url}: {text}")


def _kafka_answers(servers: str) -> bool:
    """Whether a Kafka broker answers a metadata request (the port may accept connections
    before the protocol is ready)."""
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:
        host, _, port = servers.rpartition(":")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((host, int(port))) == 0
    try:
        AdminClient({"bootstrap.servers": servers}).list_topics(timeout=1)
        return True
    except Exception:
        return False
