"""Fixtures for the Elasticsearch/Kibana tests.

``es_url``: a server speaking the Elasticsearch REST API. ``FLOWCEP_TEST_ES_URL`` points the
tests at a real cluster; otherwise a loopback ``noida-db`` is started once per session (it
fails under CI when noida-db is missing, skips elsewhere). ``real_es`` tells whether the
server is a real cluster (data streams and ILM exist only there).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from flowcep_plugin.es.loopback import noida_binary, start_noida

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    real = os.environ.get("FLOWCEP_TEST_ES_URL")
    if real:
        yield real
        return
    if noida_binary() is None:
        if IN_CI:
            pytest.fail("noida-db is missing under CI (pip install -e .[test])", pytrace=False)
        pytest.skip("noida-db is not installed")
    server = start_noida()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def real_es() -> bool:
    return bool(os.environ.get("FLOWCEP_TEST_ES_URL"))


@pytest.fixture
def namespace() -> str:
    """A data-stream namespace of its own for each test, so tests never see each other."""
    return "t" + uuid.uuid4().hex[:10]
