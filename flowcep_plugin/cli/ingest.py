"""``flowcep ingest``: decode, enrich and order flows, then route them to a Kafka topic."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..context import Context
from ..errors import ConfigError
from ..kafka_client import parse_kafka
from .common import add_plugin_options, handle_signals, report_stats
from .run import _long_run_gc, add_plan_options, exit_code, plan_from

HELP = "decode, enrich and order flows, then route them by host to a Kafka topic for workers"
DESCRIPTION = """\
The first half of 'flowcep run' (decode, sanitize, enrich, order by event time), then each
step's released flows go to a Kafka topic: every flow to the partition that owns its source
address and to the one that owns its destination, and a watermark message to EVERY partition,
so a quiet partition still advances. At the end of a file input every partition gets an end
marker. Workers ('flowcep run --input kafka://HOST:PORT/TOPIC?group=NAME&instance=ID') read
the topic and run the detectors; together they give the alerts of one 'flowcep run'.

The topic is created when missing, with --partitions partitions and retention.ms=-1 (flows
carry old timestamps). An existing topic keeps its partition count. Run ONE ingest per topic:
workers line up the steps of one ingest run (give each ingest its own topic and workers).

exit codes: 0 done; 1 an input failed; 2 bad command line or configuration, or no broker
answers at start (unless --wait); 3 some messages were not acknowledged by the broker.

examples:
  flowcep ingest --input data.ipfix --to kafka://127.0.0.1:9092/flows --partitions 4
  flowcep ingest --input ipfix+udp://0.0.0.0:4739 --to kafka://broker:9092/flows --wait
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_plan_options(p)
    p.add_argument("--to", required=True, metavar="kafka://HOST:PORT/TOPIC",
                   help="the topic the routed flows go to")
    p.add_argument("--partitions", type=int, default=4, metavar="N",
                   help="partitions of the topic when ingest creates it (default 4; the most "
                        "workers that can share it)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long the end waits for the broker's acknowledgements (default 30)")
    p.add_argument("--wait", action="store_true", default=None,
                   help="wait for the broker at start instead of failing with exit code 2")
    p.add_argument("--stats-json", metavar="FILE", help="write the final stats as JSON to FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the stats at the end")
    add_plugin_options(p)
    p.set_defaults(func=run, outputs=None, detectors=None, epl_modules=None, flows=None)


def run(args: argparse.Namespace) -> int:
    from ..ingest import IngestPipeline, KafkaPublisher

    addr = parse_kafka(args.to, (), "ingest --to")
    if args.partitions < 1:
        raise ConfigError("ingest --partitions must be at least 1")
    if args.outputs or args.detectors or args.epl_modules:
        raise ConfigError("ingest runs no detector and writes no output: the workers do "
                          "(flowcep run --input kafka://...)")
    plan = plan_from(args, {"outputs": [], "detectors": [], "workers": None})
    ctx = Context(strict=bool(args.strict))
    progress = plan.config["run"].get("progress", True) and sys.stderr.isatty()
    pipeline = IngestPipeline(plan, ctx, progress_stream=sys.stderr if progress else None)
    with handle_signals(pipeline.stop, pipeline.print_stats), _long_run_gc():
        try:
            pipeline.publisher = KafkaPublisher(addr, args.partitions, ctx, wait=bool(args.wait),
                                                timeout_s=args.timeout, stop=pipeline.stop)
        except BaseException:
            pipeline._close_sources()
            pipeline.close()
            pipeline._shutdown()
            raise
        stats: dict[str, Any] = pipeline.run()
    report_stats(stats, args.stats_json, args.quiet, ctx.stats.render())
    return exit_code(stats)
