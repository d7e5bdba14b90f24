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
    icmp_type_code_column,
    int_column,
    iso_ms,
    make_alert,
    make_metric,
    ms_from_iso,
    sampling_column,
    sampling_rate,
    validate_event,
    validate_technique,
)
from .config import DURATION_SCHEMA, parse_duration
from .context import Context
from .errors import ConfigError, EPLError, FlowcepError, InputError, PluginError
from .hookspecs import hookimpl
from .inprocess import RunResult, run
from .manager import PluginInfo, make_plugin_manager
from .memo import BoundedMemo, weakest_keys
from .records import ALERT_STREAM, METRIC_STREAM, FlowBatch
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

#: the reference in docs/plugins.md follows these groups (and ``__all__`` is their union)
API_GROUPS: dict[str, list[str]] = {
    "Hooks": ["hookimpl"],
    "Specs and the objects factories build": [
        "Address", "InputSpec", "EnricherSpec", "DetectorSpec", "OutputSpec", "RuleSpec",
        "ElementSpec", "Source", "Enricher", "Detector", "Output", "Event"],
    "What components receive": ["FlowBatch", "Context", "Stats", "ALERT_STREAM", "METRIC_STREAM"],
    "Alerts and windows for Python detectors": [
        "make_alert", "make_metric", "alert_from_row", "TumblingWindows", "address_column",
        "int_column", "icmp_type_code_column", "sampling_column", "sampling_rate", "iso_ms", "ms_from_iso", "SEVERITY", "TECHNIQUES", "TACTICS", "TRANSPORT",
        "validate_technique", "event_errors", "validate_event", "BoundedMemo", "weakest_keys"],
    "Configuration": ["parse_duration", "DURATION_SCHEMA"],
    "Errors (one line for the user, exit code 2)": [
        "FlowcepError", "ConfigError", "InputError", "PluginError", "EPLError"],
    "Running and checking": ["run", "RunResult", "make_plugin_manager", "PluginInfo",
                             "check_detector", "ConformanceError"],
}

#: what the names that carry no docstring of their own are for
DATA_DOCS: dict[str, str] = {
    "hookimpl": "Marks a function or method as the implementation of a ``flowcep_*`` hook "
                "(pluggy's ``HookimplMarker(\"flowcep\")``); takes pluggy's options "
                "``tryfirst``, ``trylast``, ``wrapper``, ``hookwrapper``, ``optionalhook``.",
    "Event": "An alert or metric document: a ``dict`` with ECS field names, nested.",
    "SEVERITY": "Severity word -> Elastic Security's number (low 21, medium 47, high 73, critical 99).",
    "TECHNIQUES": "ATT&CK technique id -> (name, tactic ids) for the techniques FlowCEP names; "
                  "other well-formed ids are accepted and named by their id.",
    "TACTICS": "ATT&CK tactic id -> name.",
    "ALERT_STREAM": "``\"Alert\"``: the stream of gateway runs' alert documents in a level-2 monitor "
                    "(``FlowBatch.stream``; a detector whose ``streams`` names it gets these batches; "
                    "columns: inputs/ecs_events.py, docs/level2.md).",
    "METRIC_STREAM": "``\"Metric\"``: the same for metric documents (``trafficstats-top-talkers``, ...).",
    "TRANSPORT": "IANA protocol number -> ECS ``network.transport`` name (6 -> ``tcp``).",
    "DURATION_SCHEMA": "JSON Schema of a duration setting (``30``, ``'30s'``, ``'1 min'``); use it "
                       "in a ``config_schema`` and read the value with ``parse_duration``.",
}

__all__ = [  # the union of API_GROUPS, spelled out for type checkers (a test keeps them equal)
    "hookimpl", "Address", "InputSpec", "EnricherSpec", "DetectorSpec", "OutputSpec",
    "RuleSpec", "ElementSpec", "Source", "Enricher", "Detector", "Output", "Event", "FlowBatch",
    "Context", "Stats", "ALERT_STREAM", "METRIC_STREAM", "make_alert", "make_metric", "alert_from_row", "TumblingWindows",
    "address_column", "int_column", "icmp_type_code_column", "sampling_column", "sampling_rate", "iso_ms", "ms_from_iso", "SEVERITY", "TECHNIQUES",
    "TACTICS", "TRANSPORT", "validate_technique", "event_errors", "validate_event", "BoundedMemo",
    "weakest_keys",
    "parse_duration", "DURATION_SCHEMA", "FlowcepError", "ConfigError", "InputError",
    "PluginError", "EPLError", "run", "RunResult", "make_plugin_manager", "PluginInfo",
    "check_detector", "ConformanceError",
]
