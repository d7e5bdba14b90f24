"""``flowcep epl MODULE.epl --input ADDRESS``: run one EPL module and print its rows (espercli).

Each output row is one JSON object: the select-clause names (alias, else the expression as
written), plus ``statement`` (the @Name), ``type`` (the INSERT INTO stream, else the @Name)
and ``timestamp`` (ISO 8601 UTC engine time when the row was produced).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError, InputError

HELP = "run one EPL module over inputs and print its rows as JSON lines (like espercli)"
DESCRIPTION = """\
Compile MODULE (errors point at line and column, before any input is opened), read the
inputs through one event-time clock (out-of-order flows are reordered within --lateness;
later ones are counted as late and dropped), and print one JSON object per row of the
statements named with --emit. At the end of file inputs every pending window is released.

examples:
  flowcep epl 11-Multiphase_non_grouped.epl --input data.ipfix
  flowcep epl scan.epl --input ipfix-file:a.ipfix --input json:b.jsonl --emit TCPSYNscan,Output
  flowcep epl rules.epl --input ipfix+udp://0.0.0.0:4739 --param threshold=20
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("epl", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("module", metavar="MODULE.epl", help="EPL module file")
    p.add_argument("-i", "--input", dest="inputs", action="append", required=True, metavar="ADDRESS",
                   help="input address (repeatable): a file path, ipfix-file:PATH, pcap:PATH, "
                        "json:PATH, ipfix+udp://HOST:PORT, ...")
    p.add_argument("--emit", action="append", metavar="NAME[,NAME...]",
                   help="statements whose rows are printed (default: every statement without "
                        "INSERT INTO, plus the last statement; a create window statement, whose rows "
                        "are the window's insert and remove streams, only when named)")
    p.add_argument("--lateness", default=None, metavar="DURATION",
                   help="allowed lateness of out-of-order flows (default: 30s with live inputs, "
                        "10 min when every input is a file)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="value for a ${NAME} placeholder in the module (repeatable)")
    p.add_argument("--strict", action="store_true", help="fail when a plugin cannot load")
    p.set_defaults(func=run)


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default(o: Any) -> Any:
    if isinstance(o, bytes):
        return o.hex()
    return str(o)


def emitted_statements(module: Any, emit: list[str] | None) -> set[str]:
    """Statement names to print: ``--emit`` (checked), else the non-INSERT ones and the last.
    A create-window statement (its rows are the window's insert and remove streams) is printed
    only when ``--emit`` names it."""
    selects = [s for s in module.statements if s.kind != "schema"]
    windows = [w.statement for w in getattr(module, "named_windows", ())]
    names = {s.name for s in selects} | set(windows)
    if emit:
        wanted = {n.strip() for item in emit for n in item.split(",") if n.strip()}
        unknown = sorted(wanted - names)
        if unknown:
            raise ConfigError(f"--emit {', '.join(unknown)}: no such statement in the module "
                              f"(statements: {', '.join([s.name for s in selects] + windows)})")
        return wanted
    out = {s.name for s in selects if not s.insert_into}
    if selects:
        out.add(selects[-1].name)
    return out


def format_row(row: Any) -> str:
    doc = dict(row.values)
    doc["statement"] = row.statement
    doc["type"] = row.stream
    doc["timestamp"] = _iso(row.time_ms)
    if row.removed:  # select irstream/rstream: a row of the remove stream
        doc["removed"] = True
    try:
        return json.dumps(doc, default=_default, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a division by zero's Infinity or NaN: JSON has no such number
        return json.dumps({k: _non_finite(v) for k, v in doc.items()}, default=_default, separators=(",", ":"))


def _non_finite(v: Any) -> Any:
    """Infinity, -Infinity and NaN as Java prints them (Esper's values), since JSON has no
    such numbers; every other value unchanged."""
    if isinstance(v, float) and v != v:
        return "NaN"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    return v


class RowPrinter:
    """A detector (specs.Detector protocol) that prints the module's rows instead of raising
    alerts, so ``flowcep epl`` runs on the same pipeline (readers, clock, idle advance,
    signals, stats) as ``flowcep run``."""

    def __init__(self, module: Any, wanted: set[str], out: IO[str], stats: Any = None) -> None:
        self.runtime = module.runtime(stats=stats)  # drops of typed events are counted in the run's stats
        self.wanted = wanted
        self.out = out
        self.live = False  # live inputs: flush each step so a reader sees rows as windows close
        self._rejected_logged = 0

    def _print(self, rows: list[Any]) -> list[Any]:
        for r in rows:
            if r.statement in self.wanted:
                self.out.write(format_row(r) + "\n")
        if rows and self.live:
            self.out.flush()
        return []

    @property
    def streams(self) -> frozenset[str]:
        """Alert/Metric events (``--input alerts:PATH``) and events of a declared schema
        (``--input stream:PATH?type=NAME``) reach the module when it reads them."""
        return self.runtime.event_streams  # type: ignore[no-any-return]

    def on_batch(self, batch: Any) -> list[Any]:
        if batch.stream in self.runtime.event_streams:
            rows = self.runtime.on_events(batch)
            for msg in self.runtime.rejected[self._rejected_logged:]:  # the first few; all are counted
                print(f"flowcep: warning: {msg}", file=sys.stderr)
            self._rejected_logged = len(self.runtime.rejected)
            return self._print(rows)
        return self._print(self.runtime.on_batch(batch))

    def on_options(self, batch: Any) -> list[Any]:
        return self._print(self.runtime.on_options(batch))

    def on_watermark(self, watermark_ms: int) -> list[Any]:
        return self._print(self.runtime.on_watermark(watermark_ms))

    def flush(self) -> list[Any]:
        rows = self._print(self.runtime.flush())
        self.out.flush()
        return rows


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from ..context import Context
    from ..engine import compile_module
    from ..pipeline import Pipeline
    from ..plan import resolve
    from .common import handle_signals, load_registry

    out = out or sys.stdout
    path = Path(args.module)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the module: {exc.strerror}") from None
    module = compile_module(text, str(path), _params(args.param))
    wanted = emitted_statements(module, args.emit)
    registry = load_registry(args)
    # the module alone: no installed detector, no enricher (rows show the records as read)
    plan = resolve(registry, {}, {"inputs": args.inputs, "lateness": args.lateness,
                                  "progress": False, "detectors": [], "enrichers": []})
    ctx = Context(strict=bool(args.strict))
    printer = RowPrinter(module, wanted, out, ctx.stats)
    pipeline = Pipeline(plan, ctx, extra_detectors=[printer])
    printer.live = pipeline.live
    with handle_signals(pipeline.stop, pipeline.print_stats):
        stats = pipeline.run()
    drops = dict(ctx.stats.drops)
    if drops:
        print("flowcep: dropped records: " + ", ".join(f"{k}={v}" for k, v in sorted(drops.items())),
              file=sys.stderr)
    return 1 if stats["gauges"].get("input_errors") else 0
