"""``flowcep alerts search``: Kibana query syntax over alerts, in a cluster or a local file."""

from __future__ import annotations

import argparse
import shutil
import sys

import orjson

__all__ = ["add_parser", "run"]

DEFAULT_FILE = "flowcep-alerts.jsonl"

DESCRIPTION = f"""\
Search alerts with Kibana's query language (KQL).

Where: --es URL (or $FLOWCEP_ES_URL) searches the data streams logs-flowcep.alert-*;
otherwise the local alert file --file (default ./{DEFAULT_FILE}, what 'flowcep demo'
writes) is searched, keeping the newest revision of each alert.

Query syntax:
  rule.id:portscan-vertical                field:value (keyword fields match exactly)
  source.ip:10.0.0.0/8                     CIDR blocks on IP fields
  rule.name:*brute*                        wildcards * and ? in unquoted values
  message:"password guessing"              quoted phrase
  event.severity >= 73                     ranges: < <= > >= on numbers, dates, IPs
  @timestamp >= now-2h                     date math or ISO 8601 (quote values with ':')
  destination.port:(22 or 3389)            several values of one field
  not network.transport:udp and (a:b or c:d)
  threat.technique.id:*                    the field exists
  scan                                     free text, over every field
"""

EXAMPLES = """\
examples:
  flowcep alerts search 'event.severity >= 73'
  flowcep alerts search 'source.ip:192.0.2.0/24 and not rule.id:*metric*' --since 24h
  flowcep alerts search 'rule.id:multistage*' --es http://127.0.0.1:9200 --format json"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .es import add_connection_options

    p = sub.add_parser("alerts", help="search alerts with Kibana query syntax (cluster or local file)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="alerts_command", metavar="ACTION")
    s = verbs.add_parser("search", help="search alerts (KQL)", description=DESCRIPTION, epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("query", nargs="?", default="*", metavar="QUERY", help="KQL query (default: * = every alert)")
    s.add_argument("--since", metavar="DURATION",
                   help="only alerts newer than this (24h, '30 min', or an ISO time); default: every "
                        "alert, in a file or a cluster")
    s.add_argument("--file", metavar="JSONL", help=f"local alert file (default: ./{DEFAULT_FILE})")
    s.add_argument("--index", default=None, help="index pattern in the cluster (default: logs-flowcep.alert-*)")
    s.add_argument("--metrics", action="store_true", help="include metric documents (event.kind: metric)")
    s.add_argument("--limit", type=int, default=100, help="at most this many alerts (default: 100)")
    s.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or JSON lines (the ECS documents)")
    add_connection_options(s)
    s.set_defaults(func=run_search)
    p.set_defaults(func=run, alerts_parser=p)


def run(args: argparse.Namespace) -> int:
    args.alerts_parser.print_help()
    return 2


def run_search(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..es import search
    from .es import connect, connection_config

    kinds = ("alert", "metric") if args.metrics else ("alert",)
    url, _ = connection_config(args) if not args.file else (None, {})
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    since = search.since_bound(args.since)  # None: every alert, wherever they are
    if url:
        client = connect(args)
        try:
            docs = search.search_es(client, args.query, index=args.index or search.DEFAULT_INDEX,
                                    since=since, kinds=kinds, limit=args.limit)
        finally:
            client.close()
    else:
        docs = search.search_file(args.file or DEFAULT_FILE, args.query, since=since, kinds=kinds,
                                  limit=args.limit)
    out = sys.stdout
    if args.format == "json":
        for d in docs:
            out.write(orjson.dumps(d).decode() + "\n")
    else:
        if docs:
            width = shutil.get_terminal_size((160, 20)).columns if out.isatty() else 1000
            out.write(search.format_table(docs, width) + "\n")
        print(f"{len(docs)} alert{'s' if len(docs) != 1 else ''}"
              + (f" (limit {args.limit})" if len(docs) == args.limit else ""), file=sys.stderr)
    return 0
