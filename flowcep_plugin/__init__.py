"""FlowCEP: complex event processing over network flow records.

The most used names for plugin authors: the hook marker, the spec records and the batch type.
Everything a plugin needs is in :mod:`flowcep_plugin.api` (plus :mod:`flowcep_plugin.testing`
for tests); the shipped plugins import from there and nowhere else.
"""

from .context import Context
from .hookspecs import hookimpl
from .records import FlowBatch
from .specs import (
    Address,
    DetectorSpec,
    ElementSpec,
    EnricherSpec,
    Event,
    InputSpec,
    OutputSpec,
    RuleSpec,
)
from .stats import Stats

__version__ = "0.1.0"

__all__ = [
    "Address",
    "Context",
    "DetectorSpec",
    "ElementSpec",
    "EnricherSpec",
    "Event",
    "FlowBatch",
    "InputSpec",
    "OutputSpec",
    "RuleSpec",
    "Stats",
    "hookimpl",
    "__version__",
]
