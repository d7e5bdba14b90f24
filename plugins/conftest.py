"""Fixtures for the detector distributions' tests: the same ../shared fixtures as tests/.

The detector tests live beside their distributions (``plugins/<dist>/tests``), outside
``tests/``, so they reuse the project's shared-data fixtures (missing data fails under CI,
skips elsewhere) by loading ``tests/conftest.py`` rather than copying it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_flowcep_tests_conftest", Path(__file__).resolve().parents[1] / "tests" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)

shared = _conftest.shared
shared_file = _conftest.shared_file
upstream_ipfix = _conftest.upstream_ipfix
require_tool = _conftest.require_tool
