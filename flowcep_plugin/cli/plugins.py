"""``flowcep plugins``: what is installed, where it came from, what it provides."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import add_plugin_options, load_registry

HELP = "list plugins: distribution, version, origin, status and the components they provide"
DESCRIPTION = """\
Lists every plugin of the 'flowcep' entry-point group, builtin or third-party, with its
distribution, version, where it came from, whether it loaded, and which hooks and components
(inputs, enrichers, detectors, outputs) it provides. A plugin that failed to load is shown
with its error. --describe lists each component with its summary and default settings.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("plugins", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--describe", action="store_true",
                   help="list every component with its summary and defaults")
    add_plugin_options(p)
    p.set_defaults(func=run)


def collect(args: argparse.Namespace) -> dict[str, Any]:
    registry = load_registry(args)
    plugins = [info.as_dict() for _, info in sorted(registry.pm.infos.items())]
    return {"plugins": plugins, "components": registry.describe()}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def run(args: argparse.Namespace) -> int:
    data = collect(args)
    if args.json:
        print(json.dumps(data if args.describe else {"plugins": data["plugins"]}, indent=2, default=str))
        return 0
    rows = [["NAME", "DISTRIBUTION", "VERSION", "ORIGIN", "STATUS", "PROVIDES"]]
    for p in data["plugins"]:
        provides = ", ".join(p["components"]) or ", ".join(p["hooks"]) or "-"
        if p["status"] == "failed":
            provides = f"error: {p['error']}"
        rows.append([p["name"], p["distribution"], p["version"], p["origin"], p["status"], provides])
    print(_table(rows))
    if args.describe:
        for kind, comps in data["components"].items():
            print(f"\n{kind}:")
            for c in comps:
                print(f"  {c['name']:<24} {c['summary']}  [{c['plugin']}]")
                for k, v in c["defaults"].items():
                    print(f"      {k} = {json.dumps(v, default=str)}")
    return 0
