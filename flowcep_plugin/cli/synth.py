"""``flowcep synth``: write a deterministic, labelled synthetic scenario (IPFIX, pcap, JSON lines)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from ..errors import ConfigError

__all__ = ["add_parser", "run", "parse_start"]


def parse_start(text: str) -> int:
    """ISO 8601 time (``2024-04-12T10:00:00Z``; no zone means UTC) -> epoch milliseconds."""
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--start {text!r} is not an ISO 8601 time (e.g. 2024-04-12T10:00:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    p = sub.add_parser(
        "synth", help="generate a labelled synthetic traffic scenario",
        description="Write a deterministic synthetic scenario (benign background plus attacks) as "
                    "IPFIX, pcap (real packets built with scapy) or JSON lines, and the ground truth "
                    "as FILE.labels.json. Same scenario, seed, duration and start: same bytes.",
        epilog="List the scenarios with 'flowcep synth --list'; docs/evaluation.md describes them.")
    p.add_argument("scenario", nargs="?", help="scenario name (see --list)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--out", "-o", metavar="FILE", help="output file: .ipfix, .pcap or .jsonl")
    p.add_argument("--format", choices=("ipfix", "pcap", "jsonl"),
                   help="output format (default: from the --out extension)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--duration", default=None,
                   help="scenario length, e.g. 10m, 600, '6 minutes' (default: 10m, or the "
                        "scenario's minimum if longer)")
    p.add_argument("--start", default="2024-04-12T10:00:00Z",
                   help="start time, ISO 8601 (default 2024-04-12T10:00:00Z)")
    p.add_argument("--clients", type=int, default=None,
                   help="number of ordinary browsing clients (default 16; 4 for pcap output, "
                        "which scapy builds at a few thousand packets a second)")
    p.add_argument("--no-busy-client", action="store_true", help="leave out the busy web client")
    p.add_argument("--http-elements", choices=("flowmon", "cesnet", "iana"), default="flowmon",
                   help="IPFIX elements carrying HTTP Host/URL: flowmon (PEN 39499 ids 1/2, as in the "
                        "FlowCEP sample; default), cesnet (PEN 8057 ids 800/801) or iana (460/461)")
    p.add_argument("--max-segments", type=int, default=64,
                   help="pcap only: data segments kept per direction of a big transfer (default 64)")
    p.set_defaults(func=run)


def _duration(text: str | None, minimum: int) -> float:
    if text is None:
        return float(max(600, minimum))
    from ..config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise ConfigError(f"--duration: {e}") from None


def run(args: argparse.Namespace) -> int:
    from ..synth.output import format_for, write_scenario
    from ..synth.scenarios import SCENARIOS, generate

    if args.list:
        width = max(len(n) for n in SCENARIOS)
        for name, sdef in SCENARIOS.items():
            print(f"{name:<{width}}  min {sdef.min_duration_s // 60}m  {sdef.summary}")
        return 0
    if not args.scenario:
        raise ConfigError("synth: give a SCENARIO (or --list)")
    if args.scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    if not args.out:
        raise ConfigError("synth: --out FILE is required (.ipfix, .pcap or .jsonl)")
    fmt = format_for(args.out, args.format)
    clients = args.clients if args.clients is not None else (4 if fmt == "pcap" else 16)
    if clients < 1:
        raise ConfigError("--clients must be at least 1")
    duration = _duration(args.duration, SCENARIOS[args.scenario].min_duration_s)
    scenario = generate(args.scenario, args.seed, duration, parse_start(args.start), clients=clients,
                        busy=not args.no_busy_client)
    n, labels = write_scenario(scenario, args.out, fmt, args.http_elements, args.max_segments)
    unit = "packets" if fmt == "pcap" else "flow records"
    print(f"{args.out}: {n} {unit}, {len(scenario.labels)} labels -> {labels}", file=sys.stderr)
    return 0
