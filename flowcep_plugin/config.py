"""Configuration: one TOML file, validated against a schema composed from the plugins.

The host owns ``[run]``, ``[alerts]`` and ``[[elements]]``; every component contributes the
schema of its own section (``[detectors.portscan]``...). Validation happens once, before
anything is built, and an error is one line: file, key path, what was expected.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from .clock import time_schema
from .errors import ConfigError, PluginError

__all__ = ["parse_duration", "load_config", "compose_schema", "validate_config", "DURATION_SCHEMA",
           "HOST_DEFAULTS"]

_UNITS = {
    "ms": 0.001, "msec": 0.001, "msecs": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

DURATION_SCHEMA: dict[str, Any] = {
    "x-kind": "duration",
    "description": "a duration: seconds as a number, or text like '30s', '1 min', '2 minutes', '1h'",
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|"
                                      r"m|mins?|minutes?|h|hr|hours?|d|days?)?\s*$"},
    ],
}

HOST_DEFAULTS: dict[str, Any] = {
    "run": {"inputs": [], "outputs": [], "batch_size": 8192, "progress": True,
            "idle_advance": True, "max_plugin_failures": 10},
    "alerts": {"suppression": "1h"},
}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a time period ('30s', '1 min', '2 minutes', '500 msec')."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return float(value)
    m = _DURATION.match(str(value))
    if m is None or m.group(2).lower() not in _UNITS | {"": 1}:
        raise ValueError(f"not a duration: {value!r} (try '30s', '1 min', '2 minutes', '1h')")
    return float(m.group(1)) * _UNITS.get(m.group(2).lower(), 1)


def _section(kind: str, specs: Mapping[str, Any]) -> dict[str, Any]:
    props = {}
    for name, spec in specs.items():
        schema = dict(spec.config_schema) if spec.config_schema else {"type": "object"}
        schema.setdefault("type", "object")
        props[name] = schema
    return {"type": "object", "properties": props, "additionalProperties": False,
            "description": f"settings of each {kind[:-1]}, by name"}


def compose_schema(registry: Any | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole config schema: host sections plus every registered component's section."""
    def name_list(kind: str) -> dict[str, Any]:
        enum = {"enum": sorted(getattr(registry, kind))} if registry is not None else {}
        return {"type": "array", "items": {"type": "string", **enum}}

    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "FlowCEP configuration",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "run": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "inputs": {"type": "array", "items": {"type": "string"},
                               "description": "input addresses (ipfix-file:PATH, ipfix+udp://HOST:PORT, ...)"},
                    "outputs": {"type": "array", "items": {"type": "string"},
                                "description": "outputs (jsonl:PATH, stdout, elasticsearch:URL, ...)"},
                    "detectors": name_list("detectors") | {"description": "detectors to run; all installed when absent"},
                    "enrichers": name_list("enrichers") | {"description": "enrichers to run, in order; those enabled by default when absent"},
                    "lateness": DURATION_SCHEMA | {"description": "allowed lateness of out-of-order flows (watermark); default 30s with live inputs, 10 min when all inputs are files"},
                    "batch_size": {"type": "integer", "minimum": 1},
                    "progress": {"type": "boolean"},
                    "idle_advance": {"type": "boolean", "description": "advance the watermark by wall clock when live inputs are silent"},
                    "stats_json": {"type": "string"},
                    "flows": {"type": "boolean", "description": "also send enriched flows to outputs that accept them"},
                    "max_plugin_failures": {"type": "integer", "minimum": 1,
                                            "description": "disable a plugin for the rest of the run after this many failures (each counted in plugin_errors)"},
                    "shutdown_timeout": DURATION_SCHEMA | {"description": "after SIGINT/SIGTERM, how long inputs may take to stop before the run finishes without them (default 30s); outputs have their own flush_timeout"},
                    "wait": {"type": "boolean", "description": "start even when an output's server is unreachable, queueing until it answers"},
                    "observer": {"type": "string", "minLength": 1, "maxLength": 256,
                                 "description": "this run's gateway name: written as observer.name into every alert and metric, and mixed into flowcep.alert_id, so a level-2 monitor (and one Elasticsearch index) can tell gateways apart"},
                    "workers": {"type": "integer", "minimum": 1, "maximum": 256,
                                "description": "processes: N forked workers, each enriching and detecting the flows of the hosts it owns, with the alerts of one process (default 1: one process; not with flows = true)"},
                },
            },
            "time": time_schema(DURATION_SCHEMA),
            "alerts": {
                "type": "object", "additionalProperties": False,
                "properties": {"suppression": DURATION_SCHEMA | {"description": "merge repeats of one rule and attacker within this interval"}},
            },
            "epl": {
                "type": "object", "additionalProperties": False,
                "description": "your own EPL modules, each run as a detector",
                "properties": {"modules": {"type": "array", "items": {"type": "string"},
                                           "description": ".epl files; their output statements become alerts"}},
            },
            "elements": {
                "type": "array",
                "description": "user-defined information elements",
                "items": {"type": "object", "additionalProperties": False, "required": ["id", "name"],
                          "properties": {"pen": {"type": "integer", "minimum": 0},
                                         "id": {"type": "integer", "minimum": 0, "maximum": 32767},
                                         "name": {"type": "string", "minLength": 1},
                                         "type": {"type": "string"}}},
            },
        },
    }
    if registry is not None:
        for kind in ("inputs", "enrichers", "detectors", "outputs"):
            schema["properties"][kind] = _section(kind, getattr(registry, kind))
        # collected once by Registry.build (through the hook caller), so composing the schema
        # again (validate, then run, then ``flowcep schema``) never calls plugins again
        if registry.section_errors:
            raise PluginError(registry.section_errors[0])
        for key, (_plugin, sub) in registry.config_sections.items():
            schema["properties"][key] = dict(sub)
    for key, sub in (extra or {}).items():
        schema["properties"][key] = sub
    return schema


def _path(err: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in err.absolute_path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _explain(err: jsonschema.ValidationError) -> str:
    schema: dict[str, Any] = err.schema if isinstance(err.schema, dict) else {}
    if err.validator == "additionalProperties":
        allowed = sorted((schema.get("properties") or {}).keys())
        extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        return (f"unknown key {', '.join(map(repr, extra))}; expected one of: "
                f"{', '.join(allowed) or '(none)'}")
    if err.validator == "type":
        return f"expected {err.validator_value}, got {type(err.instance).__name__} {err.instance!r}"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of: {', '.join(map(str, err.validator_value))}"  # type: ignore[arg-type]
    if schema.get("x-kind") == "duration":
        return f"{err.instance!r} is not a duration (try '30s', '1 min', '2 minutes', '1h')"
    if err.validator == "required":
        return err.message
    return err.message


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any], filename: str = "<config>") -> None:
    """Raise ConfigError with one line for the most relevant error."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(config))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    # best_match prefers shallow errors; users want the deepest key that is wrong.
    while err.context and not (isinstance(err.schema, dict) and err.schema.get("x-kind") == "duration"):
        err = jsonschema.exceptions.best_match(err.context)
    up = err
    while up is not None:  # a bad duration reads better as one message than as its branches
        if isinstance(up.schema, dict) and up.schema.get("x-kind") == "duration":
            err = up
            break
        up = up.parent
    raise ConfigError(f"{filename}: {_clip(_path(err))}: {_clip(_explain(err))}")


#: the most of a key path or explanation a config error repeats (a value may be megabytes)
MAX_ERROR_TEXT = 300


def _clip(text: str) -> str:
    """``text`` cut in the middle to MAX_ERROR_TEXT characters: the error stays one readable
    line however large the offending value is."""
    if len(text) <= MAX_ERROR_TEXT:
        return text
    half = MAX_ERROR_TEXT // 2
    return f"{text[:half]}...({len(text) - 2 * half:,} characters)...{text[-half:]}"


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML file (or nothing) into a dict; missing file and bad TOML are one line."""
    if path is None:
        return {}
    p = Path(path)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found (create it, or run without -c)") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}") from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: config file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"{p}: invalid TOML: arrays or inline tables nested too deeply") from None
