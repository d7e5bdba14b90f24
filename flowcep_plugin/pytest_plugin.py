"""pytest fixtures for detector authors (registered as the ``flowcep`` pytest11 entry point).

The fixtures are thin wrappers over :mod:`flowcep_plugin.testing` and :func:`flowcep_plugin.api.run`;
they import lazily so that loading this plugin never fails, whatever else is installed.

* ``records_to_batch(rows)`` -> FlowBatch
* ``make_flow(src, dst, dport, ...)`` -> one record dict
* ``run_detector(spec_or_detector, records, config=..., batch_size=...)`` -> events
* ``check_detector(spec, attack=..., benign=...)`` -> events of the attack run (conformance)
* ``flowcep_run(inputs, detectors=..., config=...)`` -> RunResult of the whole pipeline
* ``alert_errors(event)`` -> list of schema violations (empty when valid)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest


@pytest.fixture
def records_to_batch() -> Callable[..., Any]:
    from .records import FlowBatch

    def build(rows: Sequence[Mapping[str, Any]], source: str = "test") -> FlowBatch:
        return FlowBatch.from_rows(rows, source=source)

    return build


@pytest.fixture
def make_flow() -> Callable[..., dict[str, Any]]:
    from .testing import make_flow as mf

    return mf


@pytest.fixture
def run_detector() -> Callable[..., list[dict[str, Any]]]:
    from .testing import run_detector as rd

    return rd


@pytest.fixture
def check_detector() -> Callable[..., list[dict[str, Any]]]:
    from .testing import check_detector as cd

    return cd


@pytest.fixture
def flowcep_run() -> Callable[..., Any]:
    """The in-process pipeline: ``flowcep_run([path], detectors=["portscan"])``."""
    from .api import run

    return run


@pytest.fixture
def alert_errors() -> Callable[[Mapping[str, Any]], list[str]]:
    from .alerts import event_errors

    return event_errors
