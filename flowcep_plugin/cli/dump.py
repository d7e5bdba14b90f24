"""``flowcep dump ADDRESS``: print decoded flow records, like ipfixcol2's JSON output.

One JSON object per record with IPFIX element names as keys: addresses as text, timestamps
as integers in their element's unit, strings without padding, octet arrays as ``0x`` hex.
Records decoded from export messages end with their message's header
(``flowcep.export_version``, ``flowcep.export_time`` in epoch ms, NetFlow's
``flowcep.sys_uptime`` in ms).
Works on every input address (files, pcaps, live collectors), which makes it the first thing
to try when a detector sees nothing: what do the records actually hold?
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

import orjson

from ..context import Context
from ..errors import ConfigError
from ..records import FLOW_STREAM, OPTIONS_STREAM, FlowBatch
from .common import add_plugin_options, handle_signals, load_file_config, load_registry

__all__ = ["add_parser", "run", "dump_batches", "json_value"]

EXAMPLES = """\
examples:
  flowcep dump ipfix-file:data.ipfix --limit 5
  flowcep dump capture.pcap --format table
  flowcep dump ipfix+udp://0.0.0.0:4739          (live; Ctrl-C to stop)
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "dump", help="print decoded flow records (JSON lines or a table)",
        description="Decode an input and print its flow records: one JSON object per line with "
                    "IPFIX element names as keys (like ipfixcol2's JSON output), or a table.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("address", metavar="ADDRESS",
                   help="input address (ipfix-file:PATH, pcap:PATH, ipfix+udp://HOST:PORT, ...) or a file")
    p.add_argument("-n", "--limit", type=int, default=None, metavar="N",
                   help="stop after N records (default: all)")
    p.add_argument("-f", "--format", choices=("json", "table"), default="json",
                   help="json: one object per line (default); table: aligned columns")
    p.add_argument("-c", "--config", metavar="FILE",
                   help="TOML configuration ([[elements]], [inputs.<name>] options)")
    p.add_argument("--options", action="store_true",
                   help="print the exporters' options records (sampler, interface and statistics "
                        "tables; stream Options) instead of the flow records")
    p.add_argument("--stats", action="store_true", help="print input statistics to stderr at the end")
    add_plugin_options(p)
    p.set_defaults(func=run)


def json_value(v: Any) -> Any:
    """Octet arrays as 0x-prefixed hex (ipfixcol2's convention); everything else as is."""
    if isinstance(v, bytes | bytearray | memoryview):
        return "0x" + bytes(v).hex()
    return v


def _rows(batches: Iterator[FlowBatch], limit: int | None) -> Iterator[dict[str, Any]]:
    n = 0
    for b in batches:
        for i in range(b.length):
            if limit is not None and n >= limit:
                return
            yield {k: json_value(col[i]) for k, col in b.columns.items() if col[i] is not None}
            n += 1
        if limit is not None and n >= limit:
            return


def dump_batches(batches: Iterator[FlowBatch], out: TextIO, fmt: str = "json",
                 limit: int | None = None) -> int:
    """Write records; returns how many were written."""
    n = 0
    if fmt == "json":
        write = out.write
        for row in _rows(batches, limit):
            write(orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
            n += 1
            if n % 256 == 0:
                out.flush()
        out.flush()
        return n
    # table: columns of the first rows seen; a header is repeated when the shape changes
    header: list[str] | None = None
    for row in _rows(batches, limit):
        keys = list(row)
        if keys != header:
            header = keys
            out.write("  ".join(f"{k:>{_width(k)}}" for k in header) + "\n")
        out.write("  ".join(f"{_cell(row.get(k)):>{_width(k)}}" for k in header) + "\n")
        n += 1
    out.flush()
    return n


def _width(name: str) -> int:
    return max(len(name), 8)


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise ConfigError("--limit must be 0 or more")
    config, _name = load_file_config(args)
    registry = load_registry(args)
    ctx = Context(config=config, strict=bool(getattr(args, "strict", False)))
    ctx.elements = registry.element_registry(config.get("elements"))
    source = registry.open_input(args.address, config, ctx)
    stop = threading.Event()
    stats_now = threading.Event()
    wanted = OPTIONS_STREAM if args.options else FLOW_STREAM

    def batches() -> Iterator[FlowBatch]:
        # On a stop the source is closed and read to its end: a collector then decodes what
        # its socket still holds instead of losing it.
        for b in source.batches():
            if stop.is_set():
                source.close()
            if b.length and b.stream == wanted:
                yield b

    try:
        with handle_signals(stop, stats_now):
            dump_batches(batches(), sys.stdout, args.format, args.limit)
    except BrokenPipeError:  # `flowcep dump ... | head`
        try:
            sys.stdout.close()
        except BrokenPipeError:
            pass
    finally:
        source.close()
    if args.stats or ctx.stats.drops:
        print(ctx.stats.render(), file=sys.stderr)
    return 0
