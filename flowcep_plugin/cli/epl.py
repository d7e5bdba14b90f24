"""``flowcep epl MODULE.epl --input ADDRESS``: run one EPL module and print its rows (espercli).

Each output row is one JSON object: the select-clause names (alias, else the expression as
written), plus ``statement`` (the @Name), ``type`` (the INSERT INTO stream, else the @Name)
and ``timestamp`` (ISO 8601 UTC engine time when the row was produced).
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError, FlowcepError, InputError

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


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("epl", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("module", metavar="MODULE.epl", help="EPL module file")
    p.add_argument("-i", "--input", dest="inputs", action="append", required=True, metavar="ADDRESS",
                   help="input address (repeatable): a file path, ipfix-file:PATH, pcap:PATH, "
                        "json:PATH, ipfix+udp://HOST:PORT, ...")
    p.add_argument("--emit", action="append", metavar="NAME[,NAME...]",
                   help="statements whose rows are printed (default: every statement without "
                        "INSERT INTO, plus the last statement)")
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
    """Statement names to print: ``--emit`` (checked), else the non-INSERT ones and the last."""
    selects = [s for s in module.statements if s.kind != "schema"]
    names = {s.name for s in selects}
    if emit:
        wanted = {n.strip() for item in emit for n in item.split(",") if n.strip()}
        unknown = sorted(wanted - names)
        if unknown:
            raise ConfigError(f"--emit {', '.join(unknown)}: no such statement in the module "
                              f"(statements: {', '.join(s.name for s in selects)})")
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
    return json.dumps(doc, default=_default, separators=(",", ":"))


def _read(sources: list[Any], errors: list[str]) -> Iterator[Any]:
    """Batches from every source, each read by its own thread (live inputs never end);
    None when nothing came for 0.2 s."""
    q: queue.Queue[Any] = queue.Queue(maxsize=64)
    done = object()

    def pump(src: Any) -> None:
        try:
            for b in src.batches():
                q.put(b)
        except FlowcepError as exc:
            errors.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - one broken input must not stop the others
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            q.put(done)

    threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in sources]
    for t in threads:
        t.start()
    left = len(threads)
    while left:
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            yield None  # idle tick: live inputs let wall-clock time close windows
            continue
        if item is done:
            left -= 1
        else:
            yield item


def _close(sources: list[Any]) -> None:
    for s in sources:
        try:
            s.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from ..clock import Reorderer
    from ..config import parse_duration
    from ..context import Context
    from ..engine import compile_module
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
    ctx = Context()
    from ..addresses import parse_address
    from ..clock import NO_TIME, default_lateness_s

    live = any(registry.resolve_input(parse_address(raw)).live for raw in args.inputs)
    try:
        lateness_s = parse_duration(args.lateness) if args.lateness is not None else default_lateness_s(live)
    except ValueError as exc:
        raise ConfigError(f"--lateness: {exc}") from None
    lateness_ms = int(lateness_s * 1000)
    sources = [registry.open_input(raw, {}, ctx) for raw in args.inputs]
    clock = Reorderer(lateness_ms, ctx.stats)
    rt = module.runtime()
    errors: list[str] = []

    def emit(rows: list[Any]) -> None:
        for r in rows:
            if r.statement in wanted:
                out.write(format_row(r) + "\n")

    stop, print_stats = threading.Event(), threading.Event()
    closed = False
    last_data = time.monotonic()
    # SIGINT/SIGTERM close the inputs; their readers end, then every pending window is
    # released and printed (no row is cut in half by an interrupt)
    with handle_signals(stop, print_stats):
        try:
            for batch in _read(sources, errors):
                if stop.is_set() and not closed:
                    closed = True
                    _close(sources)
                if print_stats.is_set():
                    print_stats.clear()
                    print(ctx.stats.render(), file=sys.stderr)
                if batch is not None and len(batch):
                    last_data = time.monotonic()
                    for released in clock.push(batch):
                        emit(rt.on_batch(released))
                    emit(rt.on_watermark(clock.watermark))
                elif live and clock.max_seen > NO_TIME:
                    # silent live inputs: wall-clock time moves the watermark (as `flowcep run`)
                    target = clock.max_seen - lateness_ms + int((time.monotonic() - last_data) * 1000)
                    if target > clock.watermark:
                        for released in clock.advance(target):
                            emit(rt.on_batch(released))
                        emit(rt.on_watermark(target))
                        out.flush()
            for released in clock.flush():
                emit(rt.on_batch(released))
            emit(rt.flush())
        finally:
            _close(sources)
            out.flush()
    for e in errors:
        print(f"flowcep: error: {e}", file=sys.stderr)
    drops = dict(ctx.stats.drops)
    if drops:
        print("flowcep: dropped records: " + ", ".join(f"{k}={v}" for k, v in sorted(drops.items())),
              file=sys.stderr)
    return 1 if errors else 0
