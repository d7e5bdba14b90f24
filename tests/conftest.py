"""Shared fixtures: paths to ../shared data and Debian tools.

Under CI (``CI`` set) a missing data file or tool is a failure, so a green run proves the
tests ran; elsewhere such tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FLOWCEP_SHARED", ROOT.parent / "shared"))
IN_CI = bool(os.environ.get("CI"))


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is missing under CI; it must be present", pytrace=False)
    pytest.skip(f"{what} is not available here")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder (third-party captures, FlowCEP upstream sample and queries)."""
    if not SHARED.is_dir():
        _missing(f"shared data folder {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def shared_file(shared: Path):
    """``shared_file("flowcep-upstream/data.ipfix")`` -> Path, failing under CI if absent."""

    def get(rel: str) -> Path:
        p = shared / rel
        if not p.exists():
            _missing(f"shared data file {p}")
        return p

    return get


@pytest.fixture(scope="session")
def upstream_ipfix(shared_file) -> Path:
    return shared_file("flowcep-upstream/data.ipfix")


@pytest.fixture(scope="session")
def require_tool():
    """``require_tool("tshark")`` -> absolute path, failing under CI if not installed."""

    def get(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            _missing(f"tool {name!r} (apt-get install it; .ci/run does)")
        assert path is not None
        return path

    return get


@pytest.fixture(scope="session")
def kafka_servers() -> Iterator[str]:
    """Kafka bootstrap servers: ``FLOWCEP_KAFKA`` (a real cluster, ``HOST:PORT[,...]``) when
    set, else a loopback noida-db speaking the Kafka protocol, started once per session."""
    real = os.environ.get("FLOWCEP_KAFKA")
    if real:
        yield real
        return
    from flowcep_plugin.es.loopback import noida_binary, start_noida

    if noida_binary() is None:
        _missing("noida-db, the Kafka stand-in (pip install -e .[test])")
    server = start_noida(service="kafka")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """A server speaking the Elasticsearch REST API: ``FLOWCEP_TEST_ES_URL`` (a real cluster)
    when set, else a loopback noida-db stand-in started once per session (missing under CI is
    a failure, elsewhere a skip)."""
    real = os.environ.get("FLOWCEP_TEST_ES_URL")
    if real:
        yield real.rstrip("/")
        return
    from flowcep_plugin.es.loopback import noida_binary, start_noida

    if noida_binary() is None:
        _missing("noida-db, the Elasticsearch stand-in (pip install -e .[test])")
    server = start_noida()
    try:
        yield server.url
    finally:
        server.stop()
