"""What the host hands to every component it builds."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .stats import Stats

__all__ = ["Context"]


@dataclass
class Context:
    """Per-run services for components: stats, logger, the whole validated config, and the
    information-element registry. One per run; never a module global, so several runs (tests,
    partitions) can live in one process."""

    stats: Stats = field(default_factory=Stats)
    config: Mapping[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("flowcep"))
    elements: Any = None  # flowcep_plugin.elements.Registry, built by the host
    strict: bool = False
