"""Errors the CLI turns into one line and an exit code (never a traceback).

Messages name the place (file, key path, input address and byte offset) and what to do.
"""

from __future__ import annotations

__all__ = ["FlowcepError", "ConfigError", "InputError", "PluginError", "EPLError"]


class FlowcepError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class ConfigError(FlowcepError):
    """Bad configuration or command line: exit code 2."""

    exit_code = 2


class InputError(FlowcepError):
    """An input cannot be opened or read (missing file, port in use, bad address)."""

    exit_code = 2


class PluginError(FlowcepError):
    """A plugin failed to load or to register (duplicate names, bad specs)."""

    exit_code = 2


class EPLError(FlowcepError):
    """An EPL module cannot be compiled: syntax, unknown stream/property, unsupported construct.

    ``line``/``column`` are 1-based positions in ``filename``.
    """

    exit_code = 2

    def __init__(self, message: str, filename: str = "<epl>", line: int | None = None,
                 column: int | None = None) -> None:
        self.filename = filename
        self.line = line
        self.column = column
        self.reason = message
        where = filename
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")
