"""``flowcep es``: set up Elasticsearch for FlowCEP and re-send dead letters."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import ConfigError

__all__ = ["add_parser", "run", "add_connection_options", "connect"]

DESCRIPTION = """\
Elasticsearch support.

  flowcep es setup --url http://127.0.0.1:9200
      installs the ILM policies, component templates and index templates for the data
      streams logs-flowcep.alert-*, logs-flowcep.metric-* and logs-flowcep.flow-* (priority
      200, above the stack's logs-*-*). Idempotent: objects already at FlowCEP's template
      version are left alone. Checks the server is Elasticsearch 8.x or 9.x first.

  flowcep es replay-dead-letters flowcep-es-dead-letter.jsonl --url ...
      re-sends documents the cluster rejected (mapping conflicts, retries exhausted); what
      fails again stays in the file with its new error.
"""

EPILOG = """\
The cluster URL comes from --url, else FLOWCEP_ES_URL, else [outputs.elasticsearch] hosts in
--config. Secrets: --api-key / FLOWCEP_ES_API_KEY, --username with FLOWCEP_ES_PASSWORD."""


def add_connection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster connection")
    g.add_argument("--url", "--es", dest="url", metavar="URL",
                   help="Elasticsearch URL(s), comma-separated (default: $FLOWCEP_ES_URL)")
    g.add_argument("--api-key", help="base64 API key (default: $FLOWCEP_ES_API_KEY)")
    g.add_argument("--username", help="basic-auth user (password from $FLOWCEP_ES_PASSWORD)")
    g.add_argument("--ca-file", metavar="PEM", help="CA certificate bundle for https")
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    g.add_argument("--config", metavar="FILE", help="TOML config; [outputs.elasticsearch] supplies defaults")


def connection_config(args: argparse.Namespace) -> tuple[str | None, dict[str, Any]]:
    """(URL or None, client options) from the command line, environment and config file."""
    opts: dict[str, Any] = {}
    if getattr(args, "config", None):
        from ..config import load_config

        cfg = load_config(args.config)
        opts.update(cfg.get("outputs", {}).get("elasticsearch", {}) or {})
    url = getattr(args, "url", None) or os.environ.get("FLOWCEP_ES_URL")
    if not url and opts.get("hosts"):
        url = ",".join(opts["hosts"])
    if getattr(args, "api_key", None):
        opts["api_key"] = args.api_key
    if getattr(args, "username", None):
        opts["username"] = args.username
    if getattr(args, "ca_file", None):
        opts["ca_file"] = args.ca_file
    if getattr(args, "insecure", False):
        opts["verify_certs"] = False
    return url, opts


def connect(args: argparse.Namespace) -> Any:
    from ..es.client import make_client

    url, opts = connection_config(args)
    if not url:
        raise ConfigError("no Elasticsearch URL: give --url http://HOST:9200 or set FLOWCEP_ES_URL")
    return make_client(url, opts)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("es", help="set up Elasticsearch (templates, ILM) and replay dead letters",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="es_command", metavar="ACTION")
    s = verbs.add_parser("setup", help="install index templates and ILM policies (idempotent)",
                         description="Install FlowCEP's ILM policies, component and index templates.")
    add_connection_options(s)
    s.add_argument("--force", action="store_true", help="re-install objects even when their version matches")
    s.add_argument("--print", dest="print_only", action="store_true",
                   help="print the objects as JSON instead of installing them (no server needed)")
    s.set_defaults(func=run_setup)
    r = verbs.add_parser("replay-dead-letters", help="re-send documents from a dead-letter file",
                         description="Re-send documents the cluster rejected; rewrite FILE with what still fails.")
    r.add_argument("file", metavar="FILE", help="dead-letter JSONL written by the elasticsearch output")
    add_connection_options(r)
    r.set_defaults(func=run_replay)
    p.set_defaults(func=run, es_parser=p)


def run(args: argparse.Namespace) -> int:
    args.es_parser.print_help()
    return 2


def run_setup(args: argparse.Namespace) -> int:
    from ..es import templates
    from ..es.setup import install

    if args.print_only:
        print(json.dumps(templates.render(), indent=2, sort_keys=True))
        return 0
    client = connect(args)
    try:
        report = install(client, force=args.force)
    finally:
        client.close()
    print("\n".join(report.lines()))
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from ..es.deadletter import replay

    client = connect(args)
    try:
        report = replay(args.file, client)
    finally:
        client.close()
    for line in report.unreadable:
        print(f"flowcep: warning: {line}", file=sys.stderr)
    print(f"replayed {args.file}: {report.sent} indexed, {report.duplicates} already present, "
          f"{report.failed} failed again" + (" (kept in the file)" if report.failed else ""))
    return 1 if report.failed else 0
