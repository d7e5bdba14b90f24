"""Options and set-up shared by the verbs that run a pipeline."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from ..config import load_config
from ..errors import ConfigError
from ..manager import make_plugin_manager
from ..registry import Registry

__all__ = ["add_plugin_options", "load_registry", "load_file_config", "handle_signals"]


def add_plugin_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true",
                   help="fail when any plugin cannot load or raises (default: skip it with a warning)")


def load_registry(args: argparse.Namespace) -> Registry:
    strict = bool(getattr(args, "strict", False))
    pm = make_plugin_manager(strict=strict)
    return Registry.build(pm, strict=strict)


def load_file_config(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    path = getattr(args, "config", None)
    return load_config(path), (path or "<command line>")


@contextmanager
def handle_signals(stop: threading.Event, print_stats: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM stop the inputs and drain the pipeline; a second SIGINT aborts.
    SIGUSR1 prints the stats so far. Only installable from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[Any, Any] = {}

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        print(f"flowcep: {signal.Signals(signum).name} received: draining and flushing "
              "(Ctrl-C again to abort)", file=sys.stderr)

    def on_usr1(signum: int, frame: FrameType | None) -> None:
        print_stats.set()

    for sig, handler in ((signal.SIGINT, on_stop), (signal.SIGTERM, on_stop)):
        previous[sig] = signal.signal(sig, handler)
    if hasattr(signal, "SIGUSR1"):
        previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_usr1)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def report_stats(stats: dict[str, Any], path: str | None, quiet: bool, rendered: str) -> None:
    """The end of every run-like command: the stats as JSON to ``--stats-json`` (one-line
    error when it cannot be written) and, unless ``-q``, the summary on stderr."""
    if path:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(stats, fh, indent=2, sort_keys=True)
        except OSError as exc:
            raise ConfigError(f"--stats-json {path}: cannot write: {exc.strerror}") from None
    if not quiet:
        print(rendered, file=sys.stderr)
