"""The ``flowcep`` command: one module per verb, all sharing this entry point.

A verb module that is missing or fails to import is skipped (and named with ``--debug``),
so ``flowcep --help`` works whatever is installed or broken. A command line that names a
verb imports that verb's module alone: the other fourteen (and what they import, the
Elasticsearch client among them) cost 0.1 CPU s or more of every run's start-up.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any

from .. import __version__
from ..errors import FlowcepError

__all__ = ["main", "build_parser", "VERBS"]

VERBS = ("run", "demo", "plugins", "validate", "schema", "epl", "dump", "replay", "synth",
         "evaluate", "es", "kibana", "alerts", "report", "ingest")

DESCRIPTION = """\
FlowCEP turns network flow records (IPFIX, NetFlow, pcap) into security alerts with complex
event processing: detection methods are a few EPL statements or small Python plugins.

Input addresses (one syntax everywhere):
  ipfix-file:PATH  pcap:PATH  pcap+export:PATH  json:PATH  iface:NAME
  ipfix+udp://HOST:PORT  ipfix+tcp://HOST:PORT  netflow+udp://HOST:PORT
  a bare PATH is recognised by its first bytes.
  kafka://HOST:PORT/TOPIC?group=NAME&instance=ID: a run that is a worker fed by
  flowcep ingest. alerts:PATH, alerts+kafka://HOST:PORT/TOPIC[,TOPIC]: gateway
  runs' alerts and metrics as events, for a level-2 monitor. stream:PATH?type=NAME,
  stream+kafka://HOST:PORT/TOPIC[,TOPIC]?type=NAME: a gateway run's INSERT INTO
  stream (-o 'jsonl:PATH?stream=NAME', -o 'kafka://...?stream=NAME') as events of the
  EPL type NAME a level-2 module declares (create schema NAME (...)).
"""

EPILOG = """\
environment: FLOWCEP_LOAD_PLUGINS / FLOWCEP_DISABLE_PLUGINS (comma-separated plugin names),
FLOWCEP_TRACE_HOOKS=1 (log hook calls), FLOWCEP_DEBUG=1 (tracebacks on errors).
Run 'flowcep COMMAND --help' for each command's options."""


def build_parser(verbs: tuple[str, ...] = VERBS) -> tuple[argparse.ArgumentParser, dict[str, str]]:
    """The parser with the subcommands of ``verbs`` (default: every one)."""
    parser = argparse.ArgumentParser(
        prog="flowcep", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"flowcep {__version__}")
    parser.add_argument("--debug", action="store_true", default=bool(os.environ.get("FLOWCEP_DEBUG")),
                        help="show tracebacks and debug logs (also FLOWCEP_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    broken: dict[str, str] = {}
    for verb in verbs:
        try:
            module = importlib.import_module(f".{verb}", __name__)
            module.add_parser(sub)
        except Exception as exc:  # a broken verb must not break --help for the rest
            broken[verb] = f"{type(exc).__name__}: {exc}"
    return parser, broken


def named_verb(argv: list[str]) -> str | None:
    """The verb a command line names (its first word that is not an option), if it is one
    of :data:`VERBS`; None otherwise (``flowcep --help``, a misspelt verb: every verb is
    loaded, so help and the error list them all)."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in VERBS else None
    return None


def main(argv: list[str] | None = None) -> int:
    verb = named_verb(sys.argv[1:] if argv is None else argv)
    parser, broken = build_parser((verb,) if verb else VERBS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(message)s", stream=sys.stderr,
    )
    if args.debug:
        for verb, err in broken.items():
            logging.getLogger("flowcep").debug("flowcep: command %r unavailable: %s", verb, err)
    func: Any = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except FlowcepError as exc:
        if args.debug:
            raise
        print(f"flowcep: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("flowcep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (| head): not an error worth a traceback.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(f"flowcep: internal error: {type(exc).__name__}: {exc} "
              f"(rerun with --debug for the traceback and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
