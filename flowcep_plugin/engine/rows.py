"""The rows statements output: shared by the runtime and the operators that produce rows."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Row"]


class Row(NamedTuple):
    """One output row of a statement; ``stream`` is the INSERT INTO name, else the @Name."""

    statement: str
    stream: str
    time_ms: int
    values: dict[str, Any]
