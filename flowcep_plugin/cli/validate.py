"""``flowcep validate``: check a config file and every EPL module it names, without running."""

from __future__ import annotations

import argparse

from ..errors import ConfigError, EPLError
from ..pipeline import build_config, epl_module_spec
from .common import add_plugin_options, load_file_config, load_registry

HELP = "check a config file and every EPL module it names, without running"
DESCRIPTION = """\
Validates the config against the schema composed from the installed plugins, checks that
every named input scheme, output, detector and enricher exists, and compiles every EPL
detector (with its configured parameters) and every EPL module given in [epl] modules or
on the command line. Errors point at the file, key path or line:column. Exit code 0 when
everything is valid, 2 otherwise.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", metavar="FILE", help="TOML configuration file")
    p.add_argument("modules", nargs="*", metavar="MODULE.epl", help="EPL modules to check too")
    add_plugin_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.config and not args.modules:
        raise ConfigError("nothing to validate: give -c FILE and/or EPL modules")
    registry = load_registry(args)
    file_cfg, filename = load_file_config(args)
    cfg = build_config(registry, file_cfg, {}, filename)
    from ..addresses import parse_address

    for raw in cfg["run"].get("inputs", []):
        address = parse_address(raw)
        if address.scheme != "file":
            registry.resolve_input(address)
    for raw in cfg["run"].get("outputs", []):
        registry.resolve_output(raw)
    for name in cfg["run"].get("enrichers") or []:
        if name not in registry.enrichers:
            raise ConfigError(f"{filename}: run.enrichers: unknown enricher {name!r}")
    checked = 0
    names = cfg["run"].get("detectors")
    for name in (sorted(registry.detectors) if names is None else names):
        spec = registry.detectors.get(name)
        if spec is None:
            raise ConfigError(f"{filename}: run.detectors: unknown detector {name!r}; "
                              f"installed: {', '.join(sorted(registry.detectors))}")
        if spec.epl is not None or spec.epl_path is not None:
            from ..engine import compile_module

            params = registry.component_config("detectors", name, cfg)
            if spec.epl is not None:
                compile_module(spec.epl, f"{name} (EPL)", params)
            else:
                assert spec.epl_path is not None
                with open(spec.epl_path, encoding="utf-8") as fh:
                    compile_module(fh.read(), spec.epl_path, params)
            checked += 1
    for path in list((cfg.get("epl") or {}).get("modules", [])) + list(args.modules):
        try:
            epl_module_spec(path)
        except EPLError:
            raise
        checked += 1
    print(f"{filename}: valid ({checked} EPL module(s) compiled)")
    return 0
