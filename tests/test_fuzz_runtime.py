"""A short round of benchmarks/fuzz_runtime.py: hostile batches through sanitize, enrichers
and the clock raise nothing, and every record is either released or counted as dropped."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_fuzzer():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fuzz_runtime", ROOT / "benchmarks" / "fuzz_runtime.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_runtime"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hostile_batches_are_isolated_and_accounted(seed: int) -> None:
    fuzz = load_fuzzer().fuzz
    result = fuzz(seconds=60, seed=seed, max_batches=150)
    assert result["batches"] == 150
    assert result["released"] > 0  # good records still get through
    assert result["drops"].get("bad-value", 0) > 0
