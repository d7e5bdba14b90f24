"""``flowcep kibana setup``: import FlowCEP's data view, saved searches and dashboard."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import ConfigError

__all__ = ["add_parser", "run"]

DESCRIPTION = """\
Kibana support (Kibana 8.8+ and 9.x).

  flowcep kibana setup --url http://127.0.0.1:5601
      imports, through Kibana's saved-objects import API (overwrite=true, so re-running
      updates them): the data view 'FlowCEP alerts' (logs-flowcep.alert-*), saved searches
      (all alerts, multi-stage attackers, one per detector family) and the dashboard
      'FlowCEP alerts' (alerts over time by rule, by severity, top attackers, top targets,
      alert table). --security-rule also imports the Elastic Security rule that turns
      FlowCEP alerts into Security alerts.

The same objects are in mappings/kibana/flowcep-alerts.ndjson and mappings/security-rule.ndjson
for importing by hand (Stack Management > Saved objects > Import; Security > Rules > Import).
Run 'flowcep es setup' first so the alert fields have their types."""

EPILOG = """\
URL from --url or $FLOWCEP_KIBANA_URL. Secrets: --api-key / $FLOWCEP_KIBANA_API_KEY, or --username
with $FLOWCEP_KIBANA_PASSWORD."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("kibana", help="import the Kibana data view, saved searches and dashboard",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="kibana_command", metavar="ACTION")
    s = verbs.add_parser("setup", help="import saved objects (and optionally the Security rule)",
                         description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--url", metavar="URL", help="Kibana base URL (default: $FLOWCEP_KIBANA_URL)")
    s.add_argument("--space", metavar="ID",
                   help="Kibana space id: lowercase letters, digits, '_' and '-' (default: the default space)")
    s.add_argument("--security-rule", action="store_true",
                   help="also import the Elastic Security rule (needs the Security app)")
    s.add_argument("--api-key", help="base64 API key (default: $FLOWCEP_KIBANA_API_KEY)")
    s.add_argument("--username", help="basic-auth user (password from $FLOWCEP_KIBANA_PASSWORD)")
    s.add_argument("--ca-file", metavar="PEM", help="CA certificate bundle for https")
    s.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: 60)")
    s.set_defaults(func=run_setup)
    p.set_defaults(func=run, kibana_parser=p)


def run(args: argparse.Namespace) -> int:
    args.kibana_parser.print_help()
    return 2


def run_setup(args: argparse.Namespace) -> int:
    from ..es.kibana import check_space_id, import_objects

    if args.space is not None:
        check_space_id(args.space)  # before any request: the id becomes part of the URL path
    url = args.url or os.environ.get("FLOWCEP_KIBANA_URL")
    if not url:
        raise ConfigError("no Kibana URL: give --url http://HOST:5601 or set FLOWCEP_KIBANA_URL")
    if "://" not in url:
        url = "http://" + url
    results = import_objects(
        url, space=args.space, security_rule=args.security_rule,
        api_key=args.api_key or os.environ.get("FLOWCEP_KIBANA_API_KEY"),
        username=args.username or os.environ.get("FLOWCEP_KIBANA_USERNAME"),
        password=os.environ.get("FLOWCEP_KIBANA_PASSWORD"),
        ca_file=args.ca_file, verify=not args.insecure, timeout=args.timeout,
    )
    ok = True
    for what, res in results:
        print(f"kibana: imported {res.count} {what}" + ("" if res.success else f", {len(res.errors)} failed"))
        for err in res.errors:
            print(f"  {err}", file=sys.stderr)
        ok = ok and res.success
    return 0 if ok else 1
