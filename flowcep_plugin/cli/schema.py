"""``flowcep schema``: print the composed config schema (or the alert document schema)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import compose_schema
from ..errors import ConfigError
from .common import add_plugin_options, load_registry

HELP = "print the JSON Schema of the config file (composed from the installed plugins)"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schema", help=HELP, description=HELP + "; --alert prints the alert schema")
    p.add_argument("--alert", action="store_true", help="print the ECS alert document schema instead")
    add_plugin_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.alert:
        path = Path(__file__).resolve().parents[1] / "schemas" / "alert.schema.json"
        if not path.exists():
            raise ConfigError(f"alert schema {path} is missing from this installation")
        print(path.read_text(encoding="utf-8"))
        return 0
    print(json.dumps(compose_schema(load_registry(args)), indent=2, default=str))
    return 0
