"""The rows statements output: shared by the runtime and the operators that produce rows."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Row"]


class Row(NamedTuple):
    """One output row of a statement; ``stream`` is the INSERT INTO name, else the @Name.

    ``removed`` marks a row of the remove stream (``select irstream``/``rstream``): computed
    from events that left a window, or an aggregation's value before an update. Rows of the
    insert stream, the only ones most statements output, leave it False.
    """

    statement: str
    stream: str
    time_ms: int
    values: dict[str, Any]
    removed: bool = False
