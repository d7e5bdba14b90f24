"""The one face FlowCEP shows plugin authors: import everything from here.

Everything a plugin needs — the hook marker, the spec records and component protocols, the
batch type, the alert builders and windows for Python detectors, durations, errors, the
in-process runner and the conformance suite — is re-exported here, and the shipped plugins
import nothing else (``flowcep_plugin.testing`` is the other face, for tests). Internal
modules may move; names exported here only gain arguments, and removing one is a breaking
change of the plugin contract.

docs/plugins.md's API reference is generated from this module's ``__all__`` and the
docstrings of what it exports (``python -m flowcep_plugin.docgen``).
"""

from __future__ import annotations

from .alerts import (
    SEVERITY,
    TACTICS,
    TECHNIQUES,
    TRANSPORT,
    TumblingWindows,
    address_column,
    alert_from_row,
    event_errors,
    int_column,
    iso_ms,
    make_alert,
    make_metric,
    ms_from_iso,
    validate_event,
    validate_technique,
)
from .config import DURATION_SCHEMA, parse_duration
from .context import Context
from .errors import ConfigError, EPLError, FlowcepError, InputError, PluginError
from .hookspecs import hookimpl
from .inprocess import RunResult, run
from .records import FlowBatch
from .specs import (
    Address,
    Detector,
    DetectorSpec,
    ElementSpec,
    Enricher,
    EnricherSpec,
    Event,
    InputSpec,
    Output,
    OutputSpec,
    RuleSpec,
    Source,
)
from .stats import Stats
from .testing import ConformanceError, check_detector

__all__ = [
    # hooks
    "hookimpl",
    # specs and the protocols of what factories build
    "Address",
    "InputSpec",
    "EnricherSpec",
    "DetectorSpec",
    "OutputSpec",
    "RuleSpec",
    "ElementSpec",
    "Source",
    "Enricher",
    "Detector",
    "Output",
    "Event",
    # what components receive
    "FlowBatch",
    "Context",
    "Stats",
    # building alerts and windows in Python detectors
    "make_alert",
    "make_metric",
    "alert_from_row",
    "TumblingWindows",
    "address_column",
    "int_column",
    "iso_ms",
    "ms_from_iso",
    "SEVERITY",
    "TECHNIQUES",
    "TACTICS",
    "TRANSPORT",
    "validate_technique",
    "event_errors",
    "validate_event",
    # configuration
    "parse_duration",
    "DURATION_SCHEMA",
    # errors a plugin raises (one line, exit 2) or meets
    "FlowcepError",
    "ConfigError",
    "InputError",
    "PluginError",
    "EPLError",
    # running and checking
    "run",
    "RunResult",
    "check_detector",
    "ConformanceError",
]
