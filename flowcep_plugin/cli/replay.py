"""``flowcep replay FILE --to ipfix+tcp://HOST:PORT``: send an IPFIX file to a collector.

The ipfixsend equivalent, for demos and for testing a collector (FlowCEP's own or another):
messages go out paced by their export times, optionally looped and retimed so the flows
look current to time-window detectors.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

from ..addresses import parse_address
from ..context import Context
from ..errors import ConfigError, InputError
from ..inputs.replay import Replayer
from .common import handle_signals

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  flowcep replay data.ipfix --to ipfix+tcp://127.0.0.1:4739
  flowcep replay data.ipfix --to ipfix+udp://collector:4739 --speed 10 --loop --retime
  flowcep replay data.ipfix --to ipfix+tcp://127.0.0.1:4739 --speed 0 --loop 3
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay", help="send an IPFIX file to a collector, paced by its export times",
        description="Send the IPFIX messages of FILE to a collector over TCP or UDP, paced by "
                    "their export times (like ipfixsend).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="IPFIX file (RFC 5655: messages back to back)")
    p.add_argument("--to", required=True, metavar="ADDRESS",
                   help="ipfix+tcp://HOST:PORT or ipfix+udp://HOST:PORT (default port 4739)")
    p.add_argument("--speed", type=float, default=1.0, metavar="R",
                   help="replay R times faster than recorded (default 1 = real time; 0 = no pacing)")
    p.add_argument("--loop", nargs="?", type=int, const=0, default=1, metavar="N",
                   help="repeat the file N times, or forever without N; sequence numbers continue")
    p.add_argument("--retime", action="store_true",
                   help="shift flow timestamps (and export times) so replayed flows look current")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.loop < 0:
        raise ConfigError("--loop N must be 1 or more (or --loop alone for forever)")
    to = parse_address(args.to)
    ctx = Context()
    if not os.path.isfile(args.file):
        raise InputError(f"replay: {args.file}: no such file")
    rep = Replayer(args.file, to, ctx, speed=args.speed, loops=args.loop, retime=args.retime)
    stop = threading.Event()
    with handle_signals(stop, threading.Event()):
        st = rep.run(stop)
    print(f"flowcep replay: {st.messages:,} messages, {st.records:,} records, {st.bytes:,} bytes, "
          f"{st.loops} pass(es) to {to.raw}" + (f"; {st.skipped} skipped" if st.skipped else ""),
          file=sys.stderr)
    if ctx.stats.drops:
        print(ctx.stats.render(), file=sys.stderr)
    return 0
