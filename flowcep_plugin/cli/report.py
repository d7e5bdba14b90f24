"""``flowcep report``: a self-contained HTML report of an alerts file (no cluster needed)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["add_parser", "run", "write_report"]

HELP = "write a self-contained HTML report of an alerts file (opens offline)"
DESCRIPTION = """\
Write one HTML file that opens offline (scripts and styles inline, no external URL): alerts
over time by rule, top sources and targets, severity breakdown, traffic categories and top
talkers (from the trafficstats metric documents in the file), the run's drops when --stats
names the file 'flowcep run --stats-json' wrote, and a table of every alert with search and
sort. Suppressed repeats count once (the newest revision of each alert).

examples:
  flowcep report flowcep-alerts.jsonl --html report.html
  flowcep run -i data.ipfix -o jsonl:alerts.jsonl --stats-json stats.json
  flowcep report alerts.jsonl --stats stats.json --html report.html
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("alerts", metavar="ALERTS.jsonl", help="alerts file written by the jsonl output")
    p.add_argument("--html", metavar="OUT.html", required=True, help="where to write the report")
    p.add_argument("--stats", metavar="STATS.json", help="the run's stats ('flowcep run --stats-json')")
    p.set_defaults(func=run)


def _read_stats(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--stats {path}: no such file; 'flowcep run --stats-json FILE' writes it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--stats {path}: cannot read: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--stats {path}: not JSON ({exc}); give the file --stats-json wrote") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--stats {path}: expected a JSON object of run statistics")
    return data


def write_report(alerts: str | Path, out: str | Path, stats: Mapping[str, Any] | None = None) -> int:
    """Build the report; returns the number of alerts it shows. Raises ConfigError on bad input."""
    from ..viewers.alertfile import read_alert_file
    from ..viewers.report import render_html, summarise

    af = read_alert_file(alerts)
    data = summarise(af, stats)
    page = render_html(data)
    try:
        Path(out).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--html {out}: cannot write: {exc.strerror}") from None
    return len(data.rows)


def run(args: argparse.Namespace) -> int:
    n = write_report(args.alerts, args.html, _read_stats(args.stats) if args.stats else None)
    print(f"flowcep report: {n} alerts -> {args.html}", file=sys.stderr)
    return 0
