"""Fixtures for the Elasticsearch/Kibana tests.

``es_url`` (tests/conftest.py): a server speaking the Elasticsearch REST API. ``real_es``
tells whether it is a real cluster (data streams and ILM exist only there).
"""

from __future__ import annotations

import os
import uuid

import pytest

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def real_es() -> bool:
    return bool(os.environ.get("FLOWCEP_TEST_ES_URL"))


@pytest.fixture
def namespace() -> str:
    """A data-stream namespace of its own for each test, so tests never see each other."""
    return "t" + uuid.uuid4().hex[:10]
