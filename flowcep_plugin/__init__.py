"""FlowCEP: complex event processing over network flow records.

The public API for plugin authors: the hook markers, the spec records and the batch type.
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
