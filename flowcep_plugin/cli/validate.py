"""``flowcep validate``: build the plan ``flowcep run`` would run, check it, and stop."""

from __future__ import annotations

import argparse

from ..context import Context
from ..errors import ConfigError
from .common import add_plugin_options
from .run import add_plan_options, plan_from

HELP = "check a config file and every EPL module it names, without running"
DESCRIPTION = """\
Builds the same plan 'flowcep run' builds from the config (and the same --input/--output/
--detector/--epl flags, if given), then stops: the config is validated against the schema
composed from the installed plugins, every input, output, detector and enricher is resolved,
every enricher and detector is built with its settings (so a bad CIDR or threshold fails here
as it would in run) and every EPL module is compiled. Inputs are not opened and outputs not
created. Relative paths in the config resolve against its folder. Errors point at the file,
key path or line:column. Exit code 0 when everything is valid, 2 otherwise.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("modules", nargs="*", metavar="MODULE.epl", help="EPL modules to check too")
    add_plan_options(p)
    add_plugin_options(p)
    p.set_defaults(func=run, flows=None, wait=None, stats_json=None, no_progress=False)


def run(args: argparse.Namespace) -> int:
    if not args.config and not args.modules and not args.inputs and not args.epl_modules:
        raise ConfigError("nothing to validate: give -c FILE, --input/--output flags and/or EPL modules")
    args.epl_modules = list(args.epl_modules or []) + list(args.modules)
    kafka = [i for i in args.inputs or () if i.startswith("kafka:")]
    if kafka:  # a Kafka worker's input: its address is checked here, the broker is not asked
        from ..kafka_worker import parse_worker_address

        if len(args.inputs) != 1:
            raise ConfigError("a Kafka worker reads one input: --input kafka://HOST:PORT/TOPIC?group=NAME&instance=ID "
                              "and nothing else")
        parse_worker_address(kafka[0])
        args.inputs = None
    plan = plan_from(args, require_inputs=False)
    checked = plan.check(Context(strict=bool(args.strict)))
    print(f"{plan.filename}: valid ({len(plan.inputs) + len(kafka)} input(s), {len(plan.detectors)} detector(s), "
          f"{len(plan.outputs)} output(s); {checked} EPL module(s) compiled)")
    return 0
